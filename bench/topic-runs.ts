/**
 * One measured run of each kind of Baton topic row (topic.ts composes them into the suite): a
 * fresh broker, a topic of PARTITIONS partitions, the load of batch-driver.ts (keyless batches:
 * each batch sticks to one partition, the next moves on), every record decoded and checked
 * (order per producer within a partition, loss, duplicates), a consumer group that joined before
 * the first send (no rebalance in the window).
 */
import { performance } from 'node:perf_hooks';
import { setEnvironmentData } from 'node:worker_threads';
import { compiledFileUrl } from '../src/threads/worker-file.js';
import { IN_FLIGHT, type LoadLimits, produceBatches, sum } from './batch-driver.js';
import { type BodyShape, makeBatch } from './bodies.js';
import { withBroker } from './broker-fixture.js';
import type { RunResult } from './rounds.js';
import { RowCost, rolesOf } from './row-cost.js';
import { CHECK_ENV_KEY, createSharedCheck, SequenceCheck, SharedSequenceCheck } from './sequence-check.js';

export const PARTITIONS = 4;
const GROUP = 'bench';

/**
 * A group of one subscription on the broker's thread. The clock stops when, after the last record
 * was handled, `subscription.commit()` resolved: the group's committed positions cover every
 * record (checked after: each partition's position is its end).
 */
/**
 * Raw bodies: 'in-place' reads them where they lie (`msg.buffer`, `msg.bodyOffset`,
 * `msg.bodyLength`: valid while the handler has the record), 'copy' takes `msg.body` (a view of a
 * copy of the run). JSON bodies are always `msg.body`.
 */
export type TopicRead = 'copy' | 'in-place';

export function runTopicSubscribe(label: string, shape: BodyShape, durable: boolean, limits: LoadLimits, read: TopicRead = 'in-place'): Promise<RunResult> {
  return withBroker(durable, 'topic', async (broker, errors) => {
    const topic = await broker.topic('bench', { codec: shape.codec, partitions: PARTITIONS });
    const check = new SequenceCheck(label, IN_FLIGHT);
    errors.onError = (error) => {
      try {
        check.fail(error);
      } catch {
        // Recorded: whenHandled and verify throw it.
      }
    };
    const subscription =
      shape.codec === 'raw' && read === 'in-place'
        ? topic.subscribe({ group: GROUP, from: 'earliest' }, (message) => check.handleRawAt(message.buffer, message.bodyOffset, message.bodyLength, shape.size, message.partition))
        : topic.subscribe({ group: GROUP, from: 'earliest' }, (message) => void check.handleBody(message.body, shape.size, message.partition));
    await subscription.ready;
    const cost = await RowCost.start(broker, durable);
    const startedAt = performance.now();
    const sent = await produceBatches(limits, (p, first, count) => topic.sendBatch(makeBatch(shape, p, first, count)));
    const records = sum(sent);
    await check.whenHandled(records);
    await subscription.commit();
    const endedAt = performance.now();
    const extra = await cost.stop(records, endedAt);
    check.verify(sent);
    for (let p = 0; p < PARTITIONS; p++) {
      const { next } = await topic.offsets(p);
      if (subscription.position(p) !== next) throw new Error(`${label}: partition ${p} ends at ${next}, the group's position is ${subscription.position(p)}`);
    }
    await subscription.close();
    return { messages: records, seconds: (endedAt - startedAt) / 1000, extra };
  });
}

/**
 * `topic.process(handler, { group, threads })`: members on threads of their own, the handler
 * (bench/workers/check-handler.ts) decoding and checking there. TopicProcess has no commit(), so
 * the clock stops when the last record was handled on a member thread (said in `extra.clock`).
 */
export function runTopicProcess(label: string, shape: BodyShape, threads: number, limits: LoadLimits, hashRounds = 0): Promise<RunResult> {
  return withBroker(false, 'topic-process', async (broker, errors) => {
    const topic = await broker.topic('bench', { codec: shape.codec, partitions: PARTITIONS });
    const data = { ...createSharedCheck(IN_FLIGHT, limits.maxMessages, shape.size, true), hashRounds };
    setEnvironmentData(CHECK_ENV_KEY, data);
    const check = new SharedSequenceCheck(data);
    const group = topic.process(compiledFileUrl('bench/workers/check-handler'), { group: GROUP, threads, from: 'earliest' });
    await group.ready;
    const cost = await RowCost.start(broker, false);
    const startedAt = performance.now();
    const sent = await produceBatches(limits, (p, first, count) => topic.sendBatch(makeBatch(shape, p, first, count)));
    const records = sum(sent);
    await check.whenHandled(label, records, () => errors.first);
    const endedAt = performance.now();
    const extra = await cost.stop(records, endedAt, rolesOf(check.threadIds, 'handlers'));
    check.verify(label, sent);
    await group.close();
    return { messages: records, seconds: (endedAt - startedAt) / 1000, extra: { ...extra, clock: 'last record handled (TopicProcess has no commit())' } };
  });
}
