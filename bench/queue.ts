/**
 * `baton bench queue`: queues end to end — sendBatch (1,000 per batch, 4 batches in flight) ->
 * queue actor -> consumers (ack 'auto', prefetch 2,000) — at 64 and 256 B, in memory and durable
 * (a data directory with fsync 'always': a batch is confirmed after the fdatasync that covers
 * it), with 1 and 4 consumers. Each row: messages/s from the first send to the last message
 * consumed. Peer in the same run: a queue written by hand over postMessage
 * (postmessage-queue.ts), each Baton row carrying its ratio to it (`xPostMessage`).
 */
import { performance } from 'node:perf_hooks';
import { BATCH, IN_FLIGHT, ReceiveCounter, runEndToEnd, sendInBatches, withBroker } from './batch-driver.js';
import type { Suite } from './report.js';

async function measure(size: number, durable: boolean, consumers: number, messages: number): Promise<number> {
  return withBroker(durable, 'queue', async (broker) => {
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
  });
}

export const queueSuite: Suite = (options) =>
  runEndToEnd(
    {
      label: 'queue',
      peerName: (size) => `postMessage queue (peer) ${size} B, batches of ${BATCH}`,
      readers: [1, 4],
      rowName: (durable, size, consumers) => `queue ${durable ? 'durable (fsync always)' : 'in memory'} ${size} B, sendBatch x${BATCH}, ${consumers} consumer(s)`,
      measure,
    },
    options,
  );
