/**
 * One measured run of each kind of Baton queue throughput row (queue.ts composes them into the
 * suite). Every run: a fresh broker, the load of batch-driver.ts with bodies.ts bodies, every
 * body decoded and checked (sequence-check.ts), and the clock stopped when, after the last message
 * was handled, `stats()` shows the broker holds its ack (nothing ready, nothing unacked).
 */
import { performance } from 'node:perf_hooks';
import { setEnvironmentData } from 'node:worker_threads';
import { type Queue } from '../src/index.js';
import { compiledFileUrl } from '../src/threads/worker-file.js';
import { IN_FLIGHT, type LoadLimits, produceBatches, sum } from './batch-driver.js';
import { type BodyShape, makeBatch } from './bodies.js';
import { whenDrained, withBroker } from './broker-fixture.js';
import type { RunResult } from './rounds.js';
import { RowCost, rolesOf } from './row-cost.js';
import { CHECK_ENV_KEY, createSharedCheck, SequenceCheck, SharedSequenceCheck } from './sequence-check.js';

export const PREFETCH = 2_000;

/** A closable consumer, whatever API made it. */
interface Closable {
  close(): Promise<void>;
}

/** The batch consumer API announced for queues; used when a Queue has it. */
type ConsumeBatch = (handler: (messages: ReadonlyArray<{ body: unknown }>) => unknown, options: { maxBatch: number; prefetch: number }) => Closable;

export function consumeBatchOf(queue: Queue): ConsumeBatch | undefined {
  const method = (queue as unknown as { consumeBatch?: ConsumeBatch }).consumeBatch;
  return typeof method === 'function' ? method.bind(queue) : undefined;
}

export interface QueueRunOptions {
  shape: BodyShape;
  durable: boolean;
  /** Queues, each with `consumers` consumers; batches go round robin over the queues. */
  queues: number;
  consumers: number;
  /** 'consume' (one handler call a message), 'consumeBatch' (one call a batch). */
  api: 'consume' | 'consumeBatch';
  /**
   * Raw bodies: 'in-place' reads them where they lie (`msg.buffer`, `msg.bodyOffset`,
   * `msg.bodyLength`: valid until the message is settled), 'copy' takes `msg.body` (a copy).
   */
  read?: 'copy' | 'in-place';
}

type InPlace = { buffer: Uint8Array; bodyOffset: number; bodyLength: number; body: unknown };

/** Consumers on the broker's thread: `consume` or `consumeBatch`, lanes = consumer index across queues. */
export function runQueue(label: string, options: QueueRunOptions, limits: LoadLimits): Promise<RunResult> {
  const { shape, durable } = options;
  return withBroker(durable, 'queue', async (broker, errors) => {
    const queues = await Promise.all(Array.from({ length: options.queues }, (_, i) => broker.queue(`bench-${i}`, { codec: shape.codec })));
    const check = new SequenceCheck(label, IN_FLIGHT);
    errors.onError = (error) => recordFailure(check, error);
    const handles: Closable[] = [];
    const inPlace = shape.codec === 'raw' && options.read === 'in-place';
    const handle = inPlace
      ? (message: InPlace, lane: number) => check.handleRawAt(message.buffer, message.bodyOffset, message.bodyLength, shape.size, lane)
      : (message: InPlace, lane: number) => void check.handleBody(message.body, shape.size, lane);
    queues.forEach((queue, q) => {
      for (let c = 0; c < options.consumers; c++) {
        const lane = q * options.consumers + c;
        if (options.api === 'consumeBatch') {
          handles.push(consumeBatchOf(queue)!((messages) => {
            for (const message of messages) handle(message as unknown as InPlace, lane);
          }, { maxBatch: 1_000, prefetch: PREFETCH }));
        } else {
          handles.push(queue.consume((message) => handle(message as unknown as InPlace, lane), { prefetch: PREFETCH }));
        }
      }
    });
    let nextQueue = 0;
    const cost = await RowCost.start(broker, durable);
    const startedAt = performance.now();
    const sent = await produceBatches(limits, (p, first, count) => queues[nextQueue++ % queues.length]!.sendBatch(makeBatch(shape, p, first, count)));
    const messages = sum(sent);
    await check.whenHandled(messages);
    const endedAt = await whenDrained(queues);
    const extra = await cost.stop(messages, endedAt);
    check.verify(sent);
    for (const handle of handles) await handle.close();
    return { messages, seconds: (endedAt - startedAt) / 1000, extra };
  });
}

/**
 * `queue.process(handler, { threads })`: the handler (bench/workers/check-handler.ts) decodes and
 * checks on pool threads — loss and duplicates; its piscina pool runs tasks in no promised order.
 */
export function runQueueProcess(label: string, shape: BodyShape, threads: number, limits: LoadLimits): Promise<RunResult> {
  return withBroker(false, 'queue-process', async (broker, errors) => {
    const queue = await broker.queue('bench', { codec: shape.codec });
    const data = createSharedCheck(IN_FLIGHT, limits.maxMessages, shape.size, false);
    setEnvironmentData(CHECK_ENV_KEY, data);
    const check = new SharedSequenceCheck(data);
    const consumer = queue.process(compiledFileUrl('bench/workers/check-handler'), { threads });
    const cost = await RowCost.start(broker, false);
    const startedAt = performance.now();
    const sent = await produceBatches(limits, (p, first, count) => queue.sendBatch(makeBatch(shape, p, first, count)));
    const messages = sum(sent);
    await check.whenHandled(label, messages, () => errors.first);
    const endedAt = await whenDrained([queue]);
    const extra = await cost.stop(messages, endedAt, rolesOf(check.threadIds, 'handlers'));
    if (errors.first !== null) throw errors.first;
    check.verify(label, sent);
    await consumer.close();
    return { messages, seconds: (endedAt - startedAt) / 1000, extra };
  });
}

/** A consumer error the broker reported fails the check (and so the row). */
function recordFailure(check: SequenceCheck, error: Error): void {
  try {
    check.fail(error);
  } catch {
    // Recorded: whenHandled and verify throw it.
  }
}
