import type { Suite } from './report.js';

/**
 * The benchmark suites `baton bench` knows, loaded on demand. `needsServer` suites talk to
 * outside brokers on 127.0.0.1 and run only when named or with `--peers`.
 */
export const suites: Record<string, { load: () => Promise<Suite>; needsServer: boolean; about: string }> = {
  ring: {
    load: async () => (await import('./ring.js')).ringSuite,
    needsServer: false,
    about: 'thread-to-thread ring throughput and latency, against postMessage and ringbuf.js',
  },
  wal: {
    load: async () => (await import('./wal.js')).walSuite,
    needsServer: false,
    about: 'write-ahead log append (3 sizes x 3 fsync policies, group commit) and recovery, against raw disk ceilings',
  },
  actor: {
    load: async () => (await import('./actor.js')).actorSuite,
    needsServer: false,
    about: 'actor dispatch rate through host scheduling, restart time from crash to serving again, cost of 10,000 idle actors',
  },
  queue: {
    load: async () => (await import('./queue.js')).queueSuite,
    needsServer: false,
    about: 'queues end to end, JSON and raw 64/256 B, in memory and durable, checked bodies; beside fastq, postMessage, SQLite, piscina; latency, 64 queues, RSS per message',
  },
  topic: {
    load: async () => (await import('./topic.js')).topicSuite,
    needsServer: false,
    about: 'topics end to end (4 partitions -> a consumer group; topic.process groups of 1 and 2 on threads), JSON and raw, checked bodies; beside postMessage, fastq, SQLite',
  },
  peers: {
    load: async () => (await import('./peers.js')).peersSuite,
    needsServer: true,
    about: 'Baton queues beside NATS core/JetStream, RabbitMQ, Redis Streams, BullMQ on 127.0.0.1 (256 B publish, consume); unreachable: skipped',
  },
};
