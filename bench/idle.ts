/**
 * Idle rows: what a broker costs when nothing flows. A queue with a consumer and a topic with a
 * consumer group take a burst (20 batches of 1,000 raw 64 B messages each), everything is
 * handled, the broker is left alone for 1.5 s (hosts stop napping, idle extents go back), then
 * the process's CPU time (every thread: `process.cpuUsage()`) is measured over a window: cores
 * used = CPU time / wall time. No thread may spin while idle.
 */
import { performance } from 'node:perf_hooks';
import { withBroker } from './broker-fixture.js';

const BURST_BATCHES = 20;
const BATCH = 1_000;
const SETTLE_MS = 1_500;

export async function idleCores(durable: boolean, windowMs: number): Promise<{ cores: number; windowMs: number }> {
  return withBroker(durable, 'idle', async (broker) => {
    const queue = await broker.queue('idle', { codec: 'raw' });
    const topic = await broker.topic('idle-topic', { codec: 'raw', partitions: 4 });
    let handled = 0;
    const consumer = queue.consume(() => {
      handled++;
    });
    let records = 0;
    const subscription = topic.subscribe({ group: 'idle' }, () => {
      records++;
    });
    for (let b = 0; b < BURST_BATCHES; b++) {
      const bodies = Array.from({ length: BATCH }, () => new Uint8Array(64));
      await queue.sendBatch(bodies);
      await topic.sendBatch(bodies);
    }
    const total = BURST_BATCHES * BATCH;
    while (handled < total || records < total) await new Promise((resolve) => setTimeout(resolve, 10));
    await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
    const before = process.cpuUsage();
    const startedAt = performance.now();
    await new Promise((resolve) => setTimeout(resolve, windowMs));
    const used = process.cpuUsage(before);
    const wallUs = (performance.now() - startedAt) * 1000;
    await consumer.close();
    await subscription.close();
    return { cores: (used.user + used.system) / wallUs, windowMs };
  });
}
