/**
 * `baton bench topic`: partitioned topics end to end — sendBatch (1,000 records per batch, 4
 * batches in flight, keyless: round robin over the partitions) -> partition actors -> a consumer
 * group of 1 or 2 members (ack 'auto': positions committed through the group coordinator) — at
 * 64 and 256 B, in memory and durable (fsync 'always'). Each row: records/s from the first send
 * to the last record handled. Peer in the same run: the same records through one postMessage per
 * batch to a worker and back (`postMessage batches`), the cheapest in-process transport a Node
 * user would write by hand without a log, a group or offsets.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Broker } from '../src/broker/broker.js';
import { ReceiveCounter, sendInBatches } from './batch-driver.js';
import { measurePostMessageQueue } from './postmessage-queue.js';
import { type BenchResult, median, type Suite } from './report.js';

const BATCH = 1_000;
const IN_FLIGHT = 4;
const PARTITIONS = 4;

async function measure(size: number, durable: boolean, members: number, records: number): Promise<number> {
  const dataDir = durable ? await mkdtemp(path.join(os.tmpdir(), 'baton-bench-topic-')) : undefined;
  const broker = await Broker.start({ workers: 2, ...(dataDir ? { dataDir } : {}) });
  try {
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
  } finally {
    await broker.close();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  }
}

export const topicSuite: Suite = async (options) => {
  const runs = options.quick ? 1 : 3;
  const records = options.quick ? 20_000 : 200_000;
  const results: BenchResult[] = [];
  const peerRates = new Map<number, number>();
  for (const size of [64, 256]) {
    const rates: number[] = [];
    for (let run = 0; run < runs; run++) rates.push(await measurePostMessageQueue(size, records, BATCH));
    const rate = median(rates);
    peerRates.set(size, rate);
    options.log(`  postMessage batches ${size} B: ${(rate / 1e3).toFixed(1)} k msgs/s`);
    results.push({ name: `postMessage batches (peer) ${size} B, x${BATCH} per message`, messages: records, msgsPerSec: rate, mbPerSec: (rate * size) / 1e6, p50Us: null, p99Us: null });
  }
  for (const durable of [false, true]) {
    for (const size of [64, 256]) {
      for (const members of [1, 2]) {
        const rates: number[] = [];
        for (let run = 0; run < runs; run++) {
          rates.push(await measure(size, durable, members, records));
          options.log(`  topic ${durable ? 'durable' : 'memory'} ${size} B, group of ${members}, run ${run + 1}/${runs}: ${(rates.at(-1)! / 1e3).toFixed(1)} k records/s`);
        }
        const rate = median(rates);
        results.push({
          name: `topic ${durable ? 'durable (fsync always)' : 'in memory'} ${size} B, ${PARTITIONS} partitions, sendBatch x${BATCH}, group of ${members}`,
          messages: records,
          msgsPerSec: rate,
          mbPerSec: (rate * size) / 1e6,
          p50Us: null,
          p99Us: null,
          extra: { min: Math.min(...rates), max: Math.max(...rates), xPostMessage: rate / peerRates.get(size)! },
        });
      }
    }
  }
  return results;
};
