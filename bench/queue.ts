/**
 * `baton bench queue`: queues end to end — sendBatch (1,000 per batch, 4 batches in flight) ->
 * queue actor -> consumers (ack 'auto') — at 64 and 256 B, in memory and durable (a data
 * directory with fsync 'always': a batch is confirmed after the fdatasync that covers it), with
 * 1 and 4 consumers. Each row: messages/s from the first send to the last message consumed.
 * Peer in the same run: a queue written by hand over postMessage (postmessage-queue.ts), each
 * Baton row carrying its ratio to it (`xPostMessage`).
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

async function measure(size: number, durable: boolean, consumers: number, messages: number): Promise<number> {
  const dataDir = durable ? await mkdtemp(path.join(os.tmpdir(), 'baton-bench-queue-')) : undefined;
  const broker = await Broker.start({ workers: 2, ...(dataDir ? { dataDir } : {}) });
  try {
    const queue = await broker.queue('bench', { codec: 'raw' });
    const counter = new ReceiveCounter(messages);
    const handles = Array.from({ length: consumers }, () => queue.consume(() => counter.add(), { prefetch: 2_000 }));
    const batch = new Array<Uint8Array>(BATCH).fill(new Uint8Array(size).fill(120));
    const startedMs = performance.now();
    await sendInBatches(messages, batch, IN_FLIGHT, (items) => queue.sendBatch(items));
    await counter.all;
    const rate = messages / ((performance.now() - startedMs) / 1000);
    for (const handle of handles) await handle.close();
    return rate;
  } finally {
    await broker.close();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  }
}

export const queueSuite: Suite = async (options) => {
  const runs = options.quick ? 1 : 3;
  const messages = options.quick ? 20_000 : 200_000;
  const results: BenchResult[] = [];
  const peerRates = new Map<number, number>();
  for (const size of [64, 256]) {
    const rates: number[] = [];
    for (let run = 0; run < runs; run++) rates.push(await measurePostMessageQueue(size, messages, BATCH));
    const rate = median(rates);
    peerRates.set(size, rate);
    options.log(`  postMessage queue ${size} B: ${(rate / 1e3).toFixed(1)} k msgs/s`);
    results.push({ name: `postMessage queue (peer) ${size} B, batches of ${BATCH}`, messages, msgsPerSec: rate, mbPerSec: (rate * size) / 1e6, p50Us: null, p99Us: null });
  }
  for (const durable of [false, true]) {
    for (const size of [64, 256]) {
      for (const consumers of [1, 4]) {
        const rates: number[] = [];
        for (let run = 0; run < runs; run++) {
          rates.push(await measure(size, durable, consumers, messages));
          options.log(`  queue ${durable ? 'durable' : 'memory'} ${size} B, ${consumers} consumer(s), run ${run + 1}/${runs}: ${(rates.at(-1)! / 1e3).toFixed(1)} k msgs/s`);
        }
        const rate = median(rates);
        results.push({
          name: `queue ${durable ? 'durable (fsync always)' : 'in memory'} ${size} B, sendBatch x${BATCH}, ${consumers} consumer(s)`,
          messages,
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
