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
    about: 'queues end to end (sendBatch -> queue actor -> consumers), 64/256 B, in memory and durable, 1 and 4 consumers',
  },
  topic: {
    load: async () => (await import('./topic.js')).topicSuite,
    needsServer: false,
    about: 'topics end to end (sendBatch -> 4 partitions -> a consumer group of 1 or 2), 64/256 B, in memory and durable, beside postMessage batches',
  },
  peers: {
    load: async () => (await import('./peers.js')).peersSuite,
    needsServer: true,
    about: 'Baton queues beside NATS core/JetStream, RabbitMQ, Redis Streams, BullMQ on 127.0.0.1 (256 B publish, consume); unreachable: skipped',
  },
};
