// Proves a queue's metadata is bounded: past `memoryBatches`, a durable queue keeps later batches
// in its log only (the paged tail) and reads their heads back a page at a time — every message is
// delivered once and in order, at once and after a restart, purge and drop-head reach the tail,
// and a memory-only queue refuses publishes instead of growing its host's heap.
import { describe, expect, it } from 'vitest';
import type { Queue } from 'baton';
import { brokerScope } from '../support/broker-scope.js';
import { until } from '../support/wait.js';

const scope = brokerScope();

async function consumeAll(queue: Queue, count: number, prefetch = 4): Promise<number[]> {
  const got: number[] = [];
  const consumer = queue.consume((m) => void got.push((m.body as { n: number }).n), { prefetch });
  await until(() => got.length >= count, `${count} messages`);
  await consumer.close();
  return got;
}

/** `count` messages, one batch each (each send awaited). */
async function sendOneByOne(queue: Queue, from: number, count: number): Promise<void> {
  for (let n = from; n < from + count; n++) await queue.send({ n });
}

const range = (from: number, count: number) => Array.from({ length: count }, (_, i) => from + i);

describe('queue paging (memoryBatches)', () => {
  it('queue - batches past memoryBatches stay in the log and are delivered once, in order', async () => {
    const broker = await scope.start({ dataDir: await scope.tempDir('paging'), workers: 1, fsync: 'never' });
    const q = await broker.queue('paged', { memoryBatches: 8 });
    await sendOneByOne(q, 0, 200);
    const stats = await q.stats();
    expect(stats.ready).toBe(200);
    expect(stats.paged).toBe(192);
    expect(await consumeAll(q, 200)).toEqual(range(0, 200));
    await until(async () => (await q.stats()).unacked === 0, 'the acks');
    expect(await q.stats()).toMatchObject({ ready: 0, paged: 0, unacked: 0 });
    // The queue takes batches into memory again once the tail is gone.
    await sendOneByOne(q, 200, 3);
    expect(await q.stats()).toMatchObject({ ready: 3, paged: 0 });
  });

  it('queue - a restart with more unacknowledged batches than memoryBatches pages the rest and serves them all', async () => {
    const dataDir = await scope.tempDir('paging');
    let broker = await scope.start({ dataDir, workers: 1, fsync: 'never' });
    let q = await broker.queue('long', { memoryBatches: 10 });
    await sendOneByOne(q, 0, 120);
    await q.sendBatch(range(120, 30).map((n) => ({ n })));
    // The consumer closing may have taken one more (prefetch 1): 40 or 41, in order.
    const first = await consumeAll(q, 40, 1);
    expect(first).toEqual(range(0, first.length));
    expect(first.length).toBeLessThanOrEqual(41);
    await broker.close();

    broker = await scope.start({ dataDir, workers: 1, fsync: 'never' });
    q = await broker.queue('long', { memoryBatches: 10 });
    const stats = await q.stats();
    // A consumer closing may have taken one more (handled, then acked or given back).
    expect(stats.ready).toBeGreaterThanOrEqual(109);
    expect(stats.ready).toBeLessThanOrEqual(110);
    expect(stats.paged).toBeGreaterThan(90);
    const rest = await consumeAll(q, stats.ready);
    expect(rest).toEqual(range(150 - stats.ready, stats.ready));
  });

  it('queue - purge removes the paged tail too, and a restart does not bring it back', async () => {
    const dataDir = await scope.tempDir('paging-purge');
    let broker = await scope.start({ dataDir, workers: 1, fsync: 'never' });
    let q = await broker.queue('purged', { memoryBatches: 4 });
    await sendOneByOne(q, 0, 50);
    expect(await q.purge()).toEqual({ purged: 50 });
    expect(await q.stats()).toMatchObject({ ready: 0, paged: 0 });
    await sendOneByOne(q, 50, 2);
    await broker.close();
    broker = await scope.start({ dataDir, workers: 1, fsync: 'never' });
    q = await broker.queue('purged', { memoryBatches: 4 });
    expect(await q.stats()).toMatchObject({ ready: 2, paged: 0 });
    expect(await consumeAll(q, 2)).toEqual([50, 51]);
  });

  it('queue - drop-head counts the paged tail and drops the oldest', async () => {
    const broker = await scope.start({ dataDir: await scope.tempDir('paging-bounded'), workers: 1, fsync: 'never' });
    const q = await broker.queue('bounded', { memoryBatches: 6, maxLength: 20, overflow: 'drop-head' });
    await sendOneByOne(q, 0, 60);
    expect((await q.stats()).ready).toBe(20);
    expect(await consumeAll(q, 20)).toEqual(range(40, 20));
  });

  it('queue - reject-publish counts the paged tail', async () => {
    const broker = await scope.start({ dataDir: await scope.tempDir('paging-full'), workers: 1, fsync: 'never' });
    const q = await broker.queue('full', { memoryBatches: 4, maxLength: 10 });
    await sendOneByOne(q, 0, 10);
    expect((await q.stats()).paged).toBe(6);
    await expect(q.send({ n: 10 })).rejects.toMatchObject({ code: 'BATON_QUEUE_FULL' });
  });

  it('queue - a memory-only queue refuses a publish past memoryBatches with BATON_QUEUE_FULL, and takes it once consumed', async () => {
    const broker = await scope.start({ workers: 1 });
    const q = await broker.queue('small', { memoryBatches: 5 });
    await sendOneByOne(q, 0, 5);
    const refused = await q.send({ n: 5 }).catch((error: unknown) => error);
    expect(refused).toMatchObject({ code: 'BATON_QUEUE_FULL' });
    expect(String((refused as Error).message)).toMatch(/memoryBatches/);
    expect(await consumeAll(q, 5)).toEqual(range(0, 5));
    await until(async () => (await q.stats()).unacked === 0, 'the acks');
    await q.send({ n: 5 });
    expect(await consumeAll(q, 1)).toEqual([5]);
  });

  it('queue - memoryBatches below 2 is BATON_INVALID_ARGUMENT', async () => {
    const broker = await scope.start({ workers: 1 });
    await expect(broker.queue('bad', { memoryBatches: 1 })).rejects.toMatchObject({ code: 'BATON_INVALID_ARGUMENT' });
  });
});
