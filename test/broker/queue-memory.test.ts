// Proves queues larger than their memory budget: past `memoryBytes`, bodies stay in the log and
// are read back as they come up for delivery — every message is delivered intact and in order,
// dead letters carry their payload, and a broker restart on a data directory serves them all.
import { describe, expect, it } from 'vitest';
import { brokerScope } from '../support/broker-scope.js';
import { Broker, type Queue } from 'baton';
import { until } from '../support/wait.js';

const scope = brokerScope();
let broker: Broker | null = null;
let dataDir: string | null = null;

const body = (n: number) => ({ n, pad: 'x'.repeat(100) });

async function consumeAll(queue: Queue, count: number): Promise<unknown[]> {
  const got: unknown[] = [];
  const consumer = queue.consume((m) => void got.push(m.body), { prefetch: 50 });
  await until(() => got.length >= count, `${count} messages`);
  await consumer.close();
  return got;
}

describe('queues larger than memory', () => {
  it('queue - bodies past memoryBytes stay on disk and come back intact, in order', async () => {
    broker = await scope.start({ workers: 1 });
    const q = await broker.queue('big', { memoryBytes: 2048 });
    for (let start = 0; start < 600; start += 100) await q.sendBatch(Array.from({ length: 100 }, (_, i) => body(start + i)));
    expect((await q.stats()).ready).toBe(600);
    expect(await consumeAll(q, 600)).toEqual(Array.from({ length: 600 }, (_, n) => body(n)));
    expect(await q.stats()).toMatchObject({ ready: 0, unacked: 0 });
  });

  it('queue - a dead letter whose body is on disk reaches the dead-letter queue with its payload', async () => {
    broker = await scope.start({ workers: 1 });
    const q = await broker.queue('cold', { memoryBytes: 0, maxDeliveries: 1, deadLetter: 'cold-dlq' });
    await q.sendBatch([body(1), body(2)]);
    const consumer = q.consume((m) => {
      if ((m.body as { n: number }).n === 2) throw new Error('reject 2');
    });
    const dlq = await broker.queue('cold-dlq');
    await until(async () => (await dlq.stats()).ready === 1, 'the dead letter');
    await consumer.close();
    expect(await consumeAll(dlq, 1)).toEqual([body(2)]);
  });

  it('queue - after a restart on a data directory, on-disk bodies are served', async () => {
    dataDir = await scope.tempDir('bigqueue');
    broker = await scope.start({ dataDir, workers: 1, fsync: 'never' });
    let q = await broker.queue('persisted', { memoryBytes: 1024 });
    await q.sendBatch(Array.from({ length: 300 }, (_, n) => body(n)));
    await broker.close();
    broker = await scope.start({ dataDir, workers: 1, fsync: 'never' });
    q = await broker.queue('persisted', { memoryBytes: 1024 });
    expect(await consumeAll(q, 300)).toEqual(Array.from({ length: 300 }, (_, n) => body(n)));
  });
});
