/**
 * `baton bench peers`: Baton's queues beside the brokers people would otherwise run, each on
 * 127.0.0.1 with its client library, 256 B messages, publish and consume measured in the same
 * run: NATS core and JetStream (`nats`), RabbitMQ with a durable queue, persistent messages and
 * publisher confirms (`amqplib`), Redis Streams with XADD / XREADGROUP / XACK (`ioredis`), and
 * BullMQ jobs. A server that does not answer is a skipped row, not a failure.
 *
 * Every peer is driven the way its documentation recommends for throughput (pipelined publishes
 * with a bounded window of unconfirmed messages, batched reads), as Baton is (sendBatch, a
 * consumer with prefetch). Publish: messages over the time until the last is confirmed (NATS
 * core has no confirms: until a flush round trip). Consume: messages over the time to receive
 * (and acknowledge) all of them, from a pre-filled queue.
 *
 * Bounds: MESSAGES (QUICK_MESSAGES with --quick) per row, each row cut at ROW_TIMEOUT_MS, a
 * connect timeout of CONNECT_TIMEOUT_MS. Every destination it creates it deletes.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Broker } from '../src/broker/broker.js';
import type { BenchResult, Suite, SuiteOptions } from './report.js';

const HOST = '127.0.0.1';
const SIZE = 256;
const MESSAGES = 50_000;
const QUICK_MESSAGES = 5_000;
/** BullMQ runs a Lua script per job: fewer jobs keep its rows within the row timeout. */
const BULLMQ_MESSAGES = 10_000;
const QUICK_BULLMQ_MESSAGES = 1_000;
const WINDOW = 256;
const ROW_TIMEOUT_MS = 20_000;
const CONNECT_TIMEOUT_MS = 1_000;
const payload = Buffer.alloc(SIZE, 0x61);

interface Measured {
  publishSeconds: number;
  consumeSeconds: number;
  messages: number;
}

interface Peer {
  /** Row label, and the key of the ratio on Baton's rows (`x<key>`). */
  label: string;
  key: string;
  port: number;
  run(messages: number, deadline: number): Promise<Measured>;
}

class TimeoutError extends Error {}

function checkDeadline(deadline: number, what: string): void {
  if (performance.now() > deadline) throw new TimeoutError(`${what}: over ${ROW_TIMEOUT_MS / 1000} s, cut`);
}

/** Resolves true when something accepts a TCP connection on 127.0.0.1:port within the timeout. */
function reachable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: HOST, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(CONNECT_TIMEOUT_MS, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

async function timed(fn: () => Promise<void>): Promise<number> {
  const started = performance.now();
  await fn();
  return (performance.now() - started) / 1000;
}

const natsCore: Peer = {
  label: 'NATS core',
  key: 'NatsCore',
  port: 4222,
  async run(messages, deadline) {
    const { connect } = await import('nats');
    const nc = await connect({ servers: `${HOST}:4222`, timeout: CONNECT_TIMEOUT_MS });
    try {
      const subject = `baton.bench.core.${process.pid}`;
      let received = 0;
      let allReceived!: () => void;
      const done = new Promise<void>((resolve) => (allReceived = resolve));
      const sub = nc.subscribe(subject, { callback: () => { if (++received === messages) allReceived(); } });
      await nc.flush();
      const started = performance.now();
      const publishSeconds = await timed(async () => {
        for (let i = 0; i < messages; i++) nc.publish(subject, payload);
        await nc.flush();
      });
      await Promise.race([done, new Promise((resolve) => setTimeout(resolve, Math.max(0, deadline - performance.now())))]);
      checkDeadline(deadline, 'NATS core consume');
      sub.unsubscribe();
      // Core NATS has no queue to pre-fill: consume is publish-to-last-delivery with a live subscriber.
      return { publishSeconds, consumeSeconds: (performance.now() - started) / 1000, messages };
    } finally {
      await nc.close();
    }
  },
};

const jetStream: Peer = {
  label: 'NATS JetStream (file, acked)',
  key: 'JetStream',
  port: 4222,
  async run(messages, deadline) {
    const { AckPolicy, connect, StorageType } = await import('nats');
    const nc = await connect({ servers: `${HOST}:4222`, timeout: CONNECT_TIMEOUT_MS });
    const stream = `BATON_BENCH_${process.pid}`;
    const subject = `baton.bench.js.${process.pid}`;
    const jsm = await nc.jetstreamManager();
    try {
      await jsm.streams.add({ name: stream, subjects: [subject], storage: StorageType.File });
      const js = nc.jetstream();
      const publishSeconds = await timed(async () => {
        for (let sent = 0; sent < messages; ) {
          checkDeadline(deadline, 'JetStream publish');
          const count = Math.min(WINDOW, messages - sent);
          await Promise.all(Array.from({ length: count }, () => js.publish(subject, payload)));
          sent += count;
        }
      });
      await jsm.consumers.add(stream, { durable_name: 'bench', ack_policy: AckPolicy.Explicit });
      const consumer = await js.consumers.get(stream, 'bench');
      const consumeSeconds = await timed(async () => {
        let received = 0;
        const iterator = await consumer.consume({ max_messages: 1_000 });
        for await (const message of iterator) {
          message.ack();
          if (++received === messages || performance.now() > deadline) break; // break stops the iterator
        }
        checkDeadline(deadline, 'JetStream consume');
      });
      return { publishSeconds, consumeSeconds, messages };
    } finally {
      await jsm.streams.delete(stream).catch(() => undefined);
      await nc.close();
    }
  },
};

const rabbitMq: Peer = {
  label: 'RabbitMQ (durable, confirms)',
  key: 'RabbitMQ',
  port: 5672,
  async run(messages, deadline) {
    const amqp = await import('amqplib');
    const connection = await amqp.connect(`amqp://${HOST}`, { timeout: CONNECT_TIMEOUT_MS });
    const queue = `baton-bench-${process.pid}`;
    try {
      const channel = await connection.createConfirmChannel();
      await channel.assertQueue(queue, { durable: true });
      const publishSeconds = await timed(async () => {
        for (let sent = 0; sent < messages; ) {
          checkDeadline(deadline, 'RabbitMQ publish');
          const count = Math.min(WINDOW, messages - sent);
          for (let i = 0; i < count; i++) channel.sendToQueue(queue, payload, { persistent: true });
          await channel.waitForConfirms();
          sent += count;
        }
      });
      await channel.prefetch(1_000);
      const consumeSeconds = await timed(async () => {
        let received = 0;
        await new Promise<void>((resolve, reject) => {
          const timer = setTimeout(() => reject(new TimeoutError('RabbitMQ consume: cut at the row timeout')), Math.max(0, deadline - performance.now()));
          void channel.consume(queue, (message) => {
            if (message === null) return;
            received += 1;
            // One ack for every 100 (multiple: true), as throughput guides recommend.
            if (received % 100 === 0 || received === messages) channel.ack(message, true);
            if (received === messages) {
              clearTimeout(timer);
              resolve();
            }
          });
        });
      });
      await channel.deleteQueue(queue);
      await channel.close();
      return { publishSeconds, consumeSeconds, messages };
    } finally {
      await connection.close().catch(() => undefined);
    }
  },
};

const redisStreams: Peer = {
  label: 'Redis Streams (XADD, XREADGROUP+XACK)',
  key: 'RedisStreams',
  port: 6379,
  async run(messages, deadline) {
    const { Redis } = await import('ioredis');
    const redis = new Redis({ host: HOST, port: 6379, connectTimeout: CONNECT_TIMEOUT_MS, maxRetriesPerRequest: 1, lazyConnect: true });
    const key = `baton-bench-${process.pid}`;
    try {
      await redis.connect();
      const publishSeconds = await timed(async () => {
        for (let sent = 0; sent < messages; ) {
          checkDeadline(deadline, 'Redis publish');
          const count = Math.min(WINDOW, messages - sent);
          const pipeline = redis.pipeline();
          for (let i = 0; i < count; i++) pipeline.xadd(key, '*', 'body', payload);
          await pipeline.exec();
          sent += count;
        }
      });
      await redis.xgroup('CREATE', key, 'bench', '0');
      const consumeSeconds = await timed(async () => {
        for (let received = 0; received < messages; ) {
          checkDeadline(deadline, 'Redis consume');
          const reply = (await redis.xreadgroup('GROUP', 'bench', 'c1', 'COUNT', 1_000, 'STREAMS', key, '>')) as [string, [string, string[]][]][] | null;
          const entries = reply?.[0]?.[1] ?? [];
          if (entries.length === 0) continue;
          await redis.xack(key, 'bench', ...entries.map(([id]) => id));
          received += entries.length;
        }
      });
      return { publishSeconds, consumeSeconds, messages };
    } finally {
      await redis.del(key).catch(() => undefined);
      redis.disconnect();
    }
  },
};

const bullMq: Peer = {
  label: 'BullMQ (addBulk, Worker)',
  key: 'BullMQ',
  port: 6379,
  async run(_messages, deadline) {
    const messages = bullMqMessages;
    const { Queue, Worker } = await import('bullmq');
    const connection = { host: HOST, port: 6379, connectTimeout: CONNECT_TIMEOUT_MS, maxRetriesPerRequest: null };
    const name = `baton-bench-${process.pid}`;
    const queue = new Queue(name, { connection });
    const body = payload.toString('latin1');
    try {
      const publishSeconds = await timed(async () => {
        for (let sent = 0; sent < messages; ) {
          checkDeadline(deadline, 'BullMQ publish');
          const count = Math.min(WINDOW, messages - sent);
          await queue.addBulk(Array.from({ length: count }, () => ({ name: 'm', data: body, opts: { removeOnComplete: true } })));
          sent += count;
        }
      });
      let completed = 0;
      const worker = new Worker(name, async () => 'done', { connection, concurrency: 64, autorun: false });
      try {
        const consumeSeconds = await timed(async () => {
          await new Promise<void>((resolve, reject) => {
            const timer = setTimeout(() => reject(new TimeoutError('BullMQ consume: cut at the row timeout')), Math.max(0, deadline - performance.now()));
            worker.on('completed', () => {
              if (++completed === messages) {
                clearTimeout(timer);
                resolve();
              }
            });
            void worker.run().catch(reject);
          });
        });
        return { publishSeconds, consumeSeconds, messages };
      } finally {
        await worker.close();
      }
    } finally {
      await queue.obliterate({ force: true }).catch(() => undefined);
      await queue.close();
    }
  },
};

let bullMqMessages = BULLMQ_MESSAGES;

/** Baton's queue, in memory and durable (a data dir, fsync 'always' like the confirms above). */
async function runBaton(durable: boolean, messages: number, deadline: number): Promise<Measured> {
  const dataDir = durable ? mkdtempSync(path.join(os.tmpdir(), 'baton-bench-peers-')) : undefined;
  const broker = await Broker.start({ workers: 2, ...(dataDir === undefined ? {} : { dataDir, fsync: 'always' as const }) });
  try {
    const queue = await broker.queue('bench', { codec: 'raw' });
    const batch = Array.from({ length: WINDOW }, () => payload);
    const publishSeconds = await timed(async () => {
      const inflight: Promise<unknown>[] = [];
      for (let sent = 0; sent < messages; ) {
        checkDeadline(deadline, 'Baton publish');
        const count = Math.min(WINDOW, messages - sent);
        inflight.push(queue.sendBatch(count === WINDOW ? batch : batch.slice(0, count)));
        sent += count;
        if (inflight.length >= 8) await inflight.shift();
      }
      await Promise.all(inflight);
    });
    const consumeSeconds = await timed(async () => {
      let received = 0;
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new TimeoutError('Baton consume: cut at the row timeout')), Math.max(0, deadline - performance.now()));
        queue.consume(() => {
          if (++received === messages) {
            clearTimeout(timer);
            resolve();
          }
        }, { ack: 'auto', prefetch: 1_000, concurrency: 1_000 });
      });
    });
    return { publishSeconds, consumeSeconds, messages };
  } finally {
    await broker.close();
    if (dataDir !== undefined) rmSync(dataDir, { recursive: true, force: true });
  }
}

function rows(label: string, measured: Measured): [BenchResult, BenchResult] {
  const row = (op: string, seconds: number): BenchResult => {
    const rate = measured.messages / seconds;
    return { name: `${label}: ${op} ${SIZE} B`, messages: measured.messages, msgsPerSec: rate, mbPerSec: (rate * SIZE) / 1e6, p50Us: null, p99Us: null };
  };
  return [row('publish', measured.publishSeconds), row('consume', measured.consumeSeconds)];
}

function skippedRows(label: string, reason: string): BenchResult[] {
  return ['publish', 'consume'].map((op) => ({ name: `${label}: ${op} ${SIZE} B`, messages: 0, msgsPerSec: null, mbPerSec: null, p50Us: null, p99Us: null, skipped: reason }));
}

export const peersSuite: Suite = async (options: SuiteOptions) => {
  const messages = options.quick ? QUICK_MESSAGES : MESSAGES;
  bullMqMessages = options.quick ? QUICK_BULLMQ_MESSAGES : BULLMQ_MESSAGES;
  const results: BenchResult[] = [];
  const baton: { durable: boolean; rows: [BenchResult, BenchResult] }[] = [];
  for (const durable of [false, true]) {
    const label = durable ? 'Baton queue (durable, fsync always)' : 'Baton queue (memory)';
    options.log(`  ${label} ...`);
    const measured = await runBaton(durable, messages, performance.now() + ROW_TIMEOUT_MS);
    const pair = rows(label, measured);
    baton.push({ durable, rows: pair });
    results.push(...pair);
  }
  for (const peer of [natsCore, jetStream, rabbitMq, redisStreams, bullMq]) {
    if (!(await reachable(peer.port))) {
      options.log(`  ${peer.label}: skipped (nothing on ${HOST}:${peer.port})`);
      results.push(...skippedRows(peer.label, `not reachable on ${HOST}:${peer.port}`));
      continue;
    }
    options.log(`  ${peer.label} ...`);
    try {
      // A hard stop too, for a client that hangs somewhere the row's own deadline checks miss.
      let timer: NodeJS.Timeout | undefined;
      const cut = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new TimeoutError(`no answer within ${(2 * ROW_TIMEOUT_MS) / 1000} s`)), 2 * ROW_TIMEOUT_MS)));
      const measured = await Promise.race([peer.run(messages, performance.now() + ROW_TIMEOUT_MS), cut]).finally(() => clearTimeout(timer));
      const pair = rows(peer.label, measured);
      results.push(...pair);
      // Ratios on Baton's rows (Baton / peer, same run): durable peers beside durable Baton.
      const durablePeer = peer.key !== 'NatsCore';
      const mine = baton.find((b) => b.durable === durablePeer)!.rows;
      for (let i = 0; i < 2; i++) mine[i]!.extra = { ...mine[i]!.extra, [`x${peer.key}`]: mine[i]!.msgsPerSec! / pair[i]!.msgsPerSec! };
    } catch (error) {
      const reason = error instanceof Error ? error.message.split('\n')[0]! : String(error);
      options.log(`  ${peer.label}: skipped (${reason})`);
      results.push(...skippedRows(peer.label, reason));
    }
  }
  return results;
};
