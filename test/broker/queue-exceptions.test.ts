// Proves the queue behaviours around exceptions that the batch data path had to get right (each
// failed on the queue actor before it): a nack with a delay counts toward maxDeliveries; a dead
// letter the dead-letter queue refuses stays in its queue, parked and visible in stats, with a
// 'dead-letter-failed' event, and reaches the dead-letter queue once it has room; an ack timeout
// runs from each delivery, not from the first; delivery counts survive a broker restart; and the
// batch paths: a sendBatch far past the old ring-sized cap, a 5 MiB message, consumeBatch acking
// a whole batch when its handler resolves and requeueing it when it throws.
import { describe, expect, it } from 'vitest';
import type { QueueDelivery } from 'baton';
import { brokerScope } from '../support/broker-scope.js';
import { sleep, until } from '../support/wait.js';

const scope = brokerScope();

describe('queue exceptions', () => {
  it('queue - nack with a delay counts toward maxDeliveries: the message is dead-lettered after the limit', async () => {
    const broker = await scope.start({ workers: 2 });
    const q = await broker.queue('poison', { maxDeliveries: 3, deadLetter: 'poison-dlq' });
    const dlq = await broker.queue('poison-dlq');
    await q.send({ bad: true });
    const counts: number[] = [];
    const c = q.consume((m) => {
      counts.push(m.deliveryCount);
      m.nack({ delayMs: 20 });
    }, { ack: 'manual' });
    const dead: QueueDelivery[] = [];
    const d = dlq.consume((m) => void dead.push(m));
    await until(() => dead.length === 1, 'the dead letter');
    await sleep(150);
    expect(counts).toEqual([1, 2, 3]);
    expect(dead[0]!.headers).toMatchObject({ 'x-death-reason': 'delivery-limit', 'x-death-count': '3' });
    await c.close();
    await d.close();
  });

  it('queue - a closing consumer gives back the messages it prefetched but never handed to its handler without counting them as delivered', async () => {
    const broker = await scope.start({ workers: 2 });
    const q = await broker.queue('handback', { maxDeliveries: 2, deadLetter: 'handback-dlq' });
    await q.sendBatch(['held', 'a', 'b', 'c', 'd']);
    // Twice: a consumer takes all five, holds 'held' in its handler (not acked) and closes with
    // the other four still waiting for the handler. 'held' was delivered twice: dead-lettered.
    for (let round = 1; round <= 2; round++) {
      const inHandler: QueueDelivery[] = [];
      let finish!: () => void;
      const blocked = new Promise<void>((resolve) => (finish = resolve));
      const consumer = q.consume(async (m) => {
        inHandler.push(m);
        await blocked;
      }, { ack: 'manual', prefetch: 10 });
      await until(() => inHandler.length === 1, `round ${round}: 'held' in the handler`);
      expect(inHandler[0]!.body).toBe('held');
      expect(inHandler[0]!.deliveryCount).toBe(round);
      const closed = consumer.close();
      finish();
      await closed;
    }
    const last: { body: unknown; count: number; redelivered: boolean }[] = [];
    const c = q.consume((m) => void last.push({ body: m.body, count: m.deliveryCount, redelivered: m.redelivered }));
    await until(() => last.length === 4, 'the four never handed out');
    // Never handed to a handler before: first deliveries, not dead-lettered by the two closes.
    expect(last).toEqual(['a', 'b', 'c', 'd'].map((body) => ({ body, count: 1, redelivered: false })));
    await until(async () => (await (await broker.queue('handback-dlq')).stats()).ready === 1, "'held' in the dead-letter queue");
    await c.close();
  });

  it('queue - a dead letter the dead-letter queue refuses stays parked in its queue, then moves once there is room', async () => {
    const broker = await scope.start({ workers: 2 });
    const failed: { queue: string; ids: string[]; reason: string; error: unknown }[] = [];
    broker.on('dead-letter-failed', (event) => failed.push(event));
    const dlq = await broker.queue('full-dlq', { maxLength: 1 });
    await dlq.send('filler');
    const q = await broker.queue('src', { deadLetter: 'full-dlq' });
    const { id } = await q.send('rejected one');
    const c = q.consume((m) => m.nack({ requeue: false }), { ack: 'manual' });
    await until(() => failed.length === 1, 'the refusal');
    expect(failed[0]).toMatchObject({ queue: 'src', ids: [id], reason: 'rejected', error: expect.objectContaining({ code: 'BATON_QUEUE_FULL' }) });
    expect(await q.stats()).toMatchObject({ ready: 0, unacked: 0, parked: 1 });
    expect(await dlq.stats()).toMatchObject({ ready: 1 });
    await c.close();
    // Room in the dead-letter queue: the parked message is offered again and gets there.
    const seen: unknown[] = [];
    const drain = dlq.consume((m) => void seen.push(m.body));
    await until(() => seen.length === 2, 'the filler, then the parked dead letter', 15_000);
    expect(seen).toEqual(['filler', 'rejected one']);
    expect(await q.stats()).toMatchObject({ parked: 0, ready: 0, unacked: 0 });
    await drain.close();
  }, 30_000);

  it('queue - an ack timeout runs from each delivery: a redelivered message gets the whole timeout again', async () => {
    const broker = await scope.start({ workers: 2 });
    const q = await broker.queue('slow', { ackTimeoutMs: 400 });
    await q.send('x');
    const times: number[] = [];
    const c = q.consume((m) => {
      times.push(Date.now());
      // The first delivery is nacked after 250 ms; the second is held until its own timeout.
      if (times.length === 1) setTimeout(() => m.nack(), 250);
    }, { ack: 'manual' });
    await until(() => times.length === 3, 'the timeout of the second delivery', 10_000);
    await c.close();
    expect(times[1]! - times[0]!).toBeGreaterThanOrEqual(240);
    // A deadline kept per message (from the first delivery) would fire 150 ms after the second.
    expect(times[2]! - times[1]!).toBeGreaterThanOrEqual(380);
  });

  it('queue - delivery counts survive a broker restart: maxDeliveries holds across it', async () => {
    const dataDir = await scope.tempDir('deliveries');
    let broker = await scope.start({ workers: 2, dataDir });
    let q = await broker.queue('counted', { maxDeliveries: 3, deadLetter: 'counted-dlq' });
    await q.send('m');
    const before: number[] = [];
    // Nacked once, then held: closing the consumer gives the second delivery back unsettled.
    let c = q.consume((m) => {
      before.push(m.deliveryCount);
      if (before.length === 1) m.nack();
    }, { ack: 'manual', prefetch: 1 });
    await until(() => before.length === 2, 'two deliveries');
    await c.close();
    await broker.close();

    broker = await scope.start({ workers: 2, dataDir });
    const dlq = await broker.queue('counted-dlq');
    q = await broker.queue('counted', { maxDeliveries: 3, deadLetter: 'counted-dlq' });
    const after: number[] = [];
    c = q.consume((m) => {
      after.push(m.deliveryCount);
      m.nack();
    }, { ack: 'manual', prefetch: 1 });
    const dead: unknown[] = [];
    const d = dlq.consume((m) => void dead.push(m.body));
    await until(() => dead.length === 1, 'the dead letter after the restart');
    // Delivered 3 times in all; the counts go on from where they were.
    expect({ before, after }).toEqual({ before: [1, 2], after: [3] });
    await c.close();
    await d.close();
  });

  it('queue - one sendBatch of 100,000 messages, and a 5 MiB message, go through whole', async () => {
    const broker = await scope.start({ workers: 2 });
    const q = await broker.queue('bulk', { codec: 'raw' });
    const items = Array.from({ length: 100_000 }, (_, i) => new Uint8Array([i & 255, (i >> 8) & 255, (i >> 16) & 255]));
    const { ids } = await q.sendBatch(items);
    expect(ids.length).toBe(100_000);
    expect(new Set(ids).size).toBe(100_000);
    const big = new Uint8Array(5 * 1024 * 1024).map((_, i) => i % 251);
    await q.send(big);
    let n = 0;
    let bigSeen: Uint8Array | null = null;
    const c = q.consumeBatch((messages) => {
      for (const m of messages) {
        const b = m.bytes;
        if (b.length === big.length) bigSeen = b;
        else if (b[0]! + (b[1]! << 8) + (b[2]! << 16) !== n++) throw new Error(`out of order at ${n - 1}`);
      }
    }, { maxBatch: 1000 });
    await until(() => n === 100_000 && bigSeen !== null, 'every message');
    expect(Buffer.compare(bigSeen!, big)).toBe(0);
    await c.close();
    expect(await q.stats()).toMatchObject({ ready: 0, unacked: 0 });
  });

  it('queue - consumeBatch: batches of at most maxBatch, acked when the handler resolves, requeued when it throws', async () => {
    const broker = await scope.start({ workers: 2 });
    const q = await broker.queue('batches');
    await q.sendBatch(Array.from({ length: 250 }, (_, i) => ({ n: i })));
    const sizes: number[] = [];
    const seen = new Map<number, number>();
    let failedOnce = false;
    const c = q.consumeBatch(async (messages) => {
      sizes.push(messages.length);
      for (const m of messages) {
        const { n } = m.body as { n: number };
        seen.set(n, (seen.get(n) ?? 0) + 1);
      }
      await sleep(1);
      if (!failedOnce) {
        failedOnce = true;
        throw new Error('the first batch fails once');
      }
    }, { maxBatch: 100 });
    await until(() => seen.size === 250 && [...seen.values()].reduce((a, b) => a + b, 0) >= 250 + sizes[0]!, 'every message, the failed batch twice');
    await until(async () => (await q.stats()).ready === 0 && (await q.stats()).unacked === 0, 'all acked');
    expect(Math.max(...sizes)).toBeLessThanOrEqual(100);
    expect([...seen.values()].filter((count) => count === 2).length).toBe(sizes[0]);
    await c.close();
  });
});
