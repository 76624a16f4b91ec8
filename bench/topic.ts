/**
 * `baton bench topic`: partitioned topics end to end — sendBatch (1,000 records per batch, 4
 * batches in flight, keyless: round robin over the partitions) -> partition actors -> a consumer
 * group of 1 or 2 members (ack 'auto': positions committed through the group coordinator) — at
 * 64 and 256 B, in memory and durable (fsync 'always'). Each row: records/s from the first send
 * to the last record handled. Peer in the same run: the same records through a queue written by
 * hand over postMessage (one transferred message per batch; postmessage-queue.ts), the cheapest
 * in-process transport a Node user would write without a log, a group or offsets.
 */
import { performance } from 'node:perf_hooks';
import { BATCH, IN_FLIGHT, ReceiveCounter, runEndToEnd, sendInBatches, withBroker } from './batch-driver.js';
import type { Suite } from './report.js';

const PARTITIONS = 4;

async function measure(size: number, durable: boolean, members: number, records: number): Promise<number> {
  return withBroker(durable, 'topic', async (broker) => {
    const topic = await broker.topic('bench', { codec: 'raw', partitions: PARTITIONS });
    const counter = new ReceiveCounter(records);
    const subscriptions = Array.from({ length: members }, () => topic.subscribe({ group: 'bench', from: 'earliest' }, () => counter.add()));
    const batch = new Array<Uint8Array>(BATCH).fill(new Uint8Array(size).fill(120));
    const startedMs = performance.now();
    await sendInBatches(records, batch, IN_FLIGHT, (items) => topic.sendBatch(items));
    await counter.all;
    const rate = records / ((performance.now() - startedMs) / 1000);
    for (const subscription of subscriptions) await subscription.close();
    return rate;
  });
}

export const topicSuite: Suite = (options) =>
  runEndToEnd(
    {
      label: 'topic',
      peerName: (size) => `postMessage batches (peer) ${size} B, x${BATCH} per message`,
      readers: [1, 2],
      rowName: (durable, size, members) => `topic ${durable ? 'durable (fsync always)' : 'in memory'} ${size} B, ${PARTITIONS} partitions, sendBatch x${BATCH}, group of ${members}`,
      measure,
    },
    options,
  );
