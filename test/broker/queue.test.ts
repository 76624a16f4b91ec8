// Proves queues from the public entry, with real threads: FIFO order and competing consumers;
// prefetch never exceeded; auto, manual and none acks; nack requeue, delay and reject; ack
// timeouts and consumer close redeliver; the delivery limit, TTLs and drop-head dead-letter with
// the original payload and headers plus the reason; reject-publish refuses whole; priorities
// highest first and FIFO within; delays; purge, delete and stats; bad input as typed errors,
// after which the broker still works and has lost nothing.
import { describe, expect, it } from 'vitest';
import { brokerScope } from '../support/broker-scope.js';
import { Broker, type QueueDelivery } from 'baton';
import { sleep, until } from '../support/wait.js';

const scope = brokerScope();
let broker: Broker | null = null;

async function start(): Promise<Broker> {
  broker = await scope.start({ workers: 2 });
  return broker;
}

describe('queues', () => {
  it('queue - FIFO order to one consumer; competing consumers share the work, each message once', async () => {
    const b = await start();
    const q = await b.queue('fifo');
    await q.sendBatch(Array.from({ length: 200 }, (_, i) => ({ n: i })));
    const seen: number[] = [];
    const one = q.consume((m) => {
      seen.push((m.body as { n: number }).n);
    });
    await until(() => seen.length === 200, 'all messages');
    expect(seen).toEqual(Array.from({ length: 200 }, (_, i) => i));
    await one.close();

    const shared = await b.queue('shared');
    const byConsumer = [new Set<number>(), new Set<number>()];
    const consumers = byConsumer.map((set) =>
      shared.consume(async (m) => {
        set.add((m.body as { n: number }).n);
        await sleep(1);
      }, { prefetch: 4 }),
    );
    await shared.sendBatch(Array.from({ length: 300 }, (_, i) => ({ n: i })));
    await until(() => byConsumer[0]!.size + byConsumer[1]!.size === 300, 'shared messages');
    expect(byConsumer[0]!.size).toBeGreaterThan(0);
    expect(byConsumer[1]!.size).toBeGreaterThan(0);
    expect(new Set([...byConsumer[0]!, ...byConsumer[1]!]).size).toBe(300);
    for (const c of consumers) await c.close();
    expect(await shared.stats()).toMatchObject({ ready: 0, unacked: 0, consumers: 0 });
  });

  it('queue - the queue never pushes more unacknowledged deliveries than the prefetch', async () => {
    const b = await start();
    const q = await b.queue('prefetch');
    await q.sendBatch(Array.from({ length: 100 }, (_, i) => i));
    const held: QueueDelivery[] = [];
    const c = q.consume((m) => void held.push(m), { ack: 'manual', prefetch: 7, concurrency: 100 });
    await until(() => held.length === 7, 'the first window');
    await sleep(100);
    expect(held.length).toBe(7);
    expect(await q.stats()).toMatchObject({ unacked: 7, ready: 93 });
    for (let round = 0; round < 5; round++) {
      const before = held.length;
      for (const m of held.slice(before - 7)) m.ack();
      await until(() => held.length === before + 7, 'the next window');
      await sleep(20);
      expect(held.length).toBe(before + 7);
    }
    expect(() => held[0]!.ack()).toThrow(expect.objectContaining({ code: 'BATON_ALREADY_ACKED' }));
    await c.close();
  });

  it('queue - auto acks on success and requeues on a throw; none never redelivers', async () => {
    const b = await start();
    const q = await b.queue('modes');
    await q.send('first');
    const deliveries: { body: unknown; redelivered: boolean; count: number }[] = [];
    const auto = q.consume((m) => {
      deliveries.push({ body: m.body, redelivered: m.redelivered, count: m.deliveryCount });
      if (deliveries.length === 1) throw new Error('fail once');
    });
    await until(() => deliveries.length === 2, 'the redelivery');
    expect(deliveries).toEqual([
      { body: 'first', redelivered: false, count: 1 },
      { body: 'first', redelivered: true, count: 2 },
    ]);
    await auto.close();
    expect(await q.stats()).toMatchObject({ ready: 0, unacked: 0 });

    const atMostOnce = await b.queue('at-most-once');
    await atMostOnce.sendBatch(['a', 'b', 'c']);
    const got: unknown[] = [];
    const none = atMostOnce.consume((m) => {
      got.push(m.body);
      throw new Error('ignored: at most once');
    }, { ack: 'none' });
    await until(() => got.length === 3, 'three deliveries');
    await sleep(100);
    expect(got).toEqual(['a', 'b', 'c']);
    await none.close();
    expect(await atMostOnce.stats()).toMatchObject({ ready: 0, unacked: 0 });
  });

  it('queue - nack: requeue, requeue after a delay, and reject to the dead-letter queue', async () => {
    const b = await start();
    const deadLetters: unknown[] = [];
    b.on('dead-letter', (e) => deadLetters.push(e));
    const q = await b.queue('nacks', { deadLetter: 'nacks-dlq' });
    await q.send('m', { headers: { origin: 'test' }, id: 'msg-1' });
    const times: number[] = [];
    const c = q.consume((m) => {
      times.push(Date.now());
      if (times.length === 1) m.nack();
      else if (times.length === 2) m.nack({ delayMs: 150 });
      else m.nack({ requeue: false });
    }, { ack: 'manual' });
    await until(() => deadLetters.length === 1, 'the reject');
    expect(times.length).toBe(3);
    expect(times[2]! - times[1]!).toBeGreaterThanOrEqual(140);
    await c.close();
    const dlq = await b.queue('nacks-dlq');
    for await (const m of dlq.messages()) {
      expect(m.body).toBe('m');
      expect(m.id).toBe('msg-1');
      expect(m.headers).toMatchObject({ origin: 'test', 'x-death-reason': 'rejected', 'x-death-queue': 'nacks' });
      m.ack();
      break;
    }
    expect(deadLetters).toEqual([{ queue: 'nacks', id: 'msg-1', reason: 'rejected' }]);
  });

  it('queue - unacknowledged past ackTimeoutMs, or held by a closed consumer, is delivered again', async () => {
    const b = await start();
    const q = await b.queue('timeouts', { ackTimeoutMs: 100 });
    await q.send('slow');
    const seen: boolean[] = [];
    const c = q.consume((m) => void seen.push(m.redelivered), { ack: 'manual' });
    await until(() => seen.length === 2, 'the redelivery after the ack timeout');
    expect(seen).toEqual([false, true]);
    await c.close();

    const q2 = await b.queue('handover');
    await q2.send('x');
    let first: QueueDelivery | null = null;
    const c1 = q2.consume((m) => void (first = m), { ack: 'manual' });
    await until(() => first !== null, 'the first delivery');
    await c1.close();
    const again: QueueDelivery[] = [];
    const c2 = q2.consume((m) => void again.push(m), { ack: 'manual' });
    await until(() => again.length === 1, 'the handover');
    expect(again[0]!.redelivered).toBe(true);
    again[0]!.ack();
    await c2.close();
  });

  it('queue - maxDeliveries, TTL (per message and per queue) and drop-head dead-letter with their reasons', async () => {
    const b = await start();
    const reasons: string[] = [];
    b.on('dead-letter', (e: { reason: string }) => reasons.push(e.reason));
    const limited = await b.queue('limited', { maxDeliveries: 2, deadLetter: 'graveyard' });
    await limited.send({ poison: true });
    const c = limited.consume(() => {
      throw new Error('always');
    });
    await until(() => reasons.includes('delivery-limit'), 'the delivery limit');
    await c.close();

    const ttl = await b.queue('ttl', { messageTtlMs: 60_000, deadLetter: 'graveyard' });
    await ttl.send('short', { ttlMs: 50 });
    await until(() => reasons.includes('expired'), 'the expiry');
    const queueTtl = await b.queue('queue-ttl', { messageTtlMs: 50, deadLetter: 'graveyard' });
    await queueTtl.send('also short');
    await until(() => reasons.filter((r) => r === 'expired').length === 2, 'the queue TTL');

    const bounded = await b.queue('bounded', { maxLength: 3, overflow: 'drop-head', deadLetter: 'graveyard' });
    await bounded.sendBatch([1, 2, 3, 4, 5]);
    await until(() => reasons.filter((r) => r === 'maxlen').length === 2, 'the drops');
    const kept: unknown[] = [];
    for await (const m of bounded.messages()) {
      kept.push(m.body);
      m.ack();
      if (kept.length === 3) break;
    }
    expect(kept).toEqual([3, 4, 5]);
    const graveyard = await b.queue('graveyard');
    expect((await graveyard.stats()).ready).toBe(5);
  });

  it('queue - reject-publish refuses the whole publish with BATON_QUEUE_FULL and loses nothing', async () => {
    const b = await start();
    const q = await b.queue('full', { maxLength: 2 });
    await q.sendBatch(['a', 'b']);
    await expect(q.send('c')).rejects.toMatchObject({ code: 'BATON_QUEUE_FULL' });
    const small = await b.queue('small', { maxLength: 3 });
    await small.send('x');
    await expect(small.sendBatch(['y', 'z', 'w'])).rejects.toMatchObject({ code: 'BATON_QUEUE_FULL' });
    expect(await small.stats()).toMatchObject({ ready: 1 });
    const got: unknown[] = [];
    for await (const m of q.messages()) {
      got.push(m.body);
      m.ack();
      if (got.length === 2) break;
    }
    expect(got).toEqual(['a', 'b']);
    await q.send('c');
    expect(await q.stats()).toMatchObject({ ready: 1 });
  });

  it('queue - priorities are delivered highest first, FIFO within a priority; delays hold messages back', async () => {
    const b = await start();
    const q = await b.queue('prio', { maxPriority: 9 });
    const sent = [[1, 'a'], [5, 'b'], [9, 'c'], [5, 'd'], [0, 'e'], [9, 'f']] as const;
    for (const [priority, body] of sent) await q.send(body, { priority });
    const got: unknown[] = [];
    for await (const m of q.messages({ prefetch: 1 })) {
      got.push(m.body);
      m.ack();
      if (got.length === 6) break;
    }
    expect(got).toEqual(['c', 'f', 'b', 'd', 'a', 'e']);

    const delayed = await b.queue('delayed');
    const sentAt = Date.now();
    await delayed.send('later', { delayMs: 200 });
    await delayed.send('now');
    expect(await delayed.stats()).toMatchObject({ ready: 1, delayed: 1 });
    const arrivals: [unknown, number][] = [];
    const c = delayed.consume((m) => void arrivals.push([m.body, Date.now() - sentAt]));
    await until(() => arrivals.length === 2, 'both');
    expect(arrivals[0]![0]).toBe('now');
    expect(arrivals[1]![0]).toBe('later');
    expect(arrivals[1]![1]).toBeGreaterThanOrEqual(190);
    await c.close();
  });

  it('queue - purge, stats and delete', async () => {
    const b = await start();
    const q = await b.queue('trash');
    await q.sendBatch([1, 2, 3]);
    expect(await q.stats()).toEqual({ ready: 3, unacked: 0, consumers: 0, delayed: 0, readyBytes: 3, parked: 0, paged: 0 });
    expect(await q.purge()).toEqual({ purged: 3 });
    await q.sendBatch([4, 5]);
    expect(await q.delete()).toEqual({ deleted: 2 });
    await expect(q.send(6)).rejects.toMatchObject({ code: 'BATON_NOT_FOUND' });
    const again = await b.queue('trash');
    await again.send(7);
    expect(await again.stats()).toMatchObject({ ready: 1 });
  });

  it('queue - bad input is a typed error and the broker keeps working with nothing lost', async () => {
    const b = await start();
    for (const name of ['', '..', 'a/b', 'nul\u0000', 'x'.repeat(201), 'queue:colon']) {
      await expect(b.queue(name)).rejects.toMatchObject({ code: 'BATON_INVALID_NAME' });
    }
    const q = await b.queue('strict', { maxPriority: 3 });
    await q.send('kept');
    await expect(q.send('x', { priority: 4 })).rejects.toMatchObject({ code: 'BATON_INVALID_ARGUMENT' });
    await expect(q.send('x', { delayMs: -1 })).rejects.toMatchObject({ code: 'BATON_INVALID_ARGUMENT' });
    await expect(q.send(() => 1)).rejects.toMatchObject({ code: 'BATON_CODEC' });
    await expect(q.send(10n)).rejects.toMatchObject({ code: 'BATON_CODEC' });
    await expect(q.send('x'.repeat(65 * 1024 * 1024))).rejects.toMatchObject({ code: 'BATON_MESSAGE_TOO_LARGE' });
    // The size is checked before the codec reads the bytes: 512 MiB of zeros are not parsed as JSON first.
    await expect(q.send(new Uint8Array(512 * 1024 * 1024))).rejects.toMatchObject({ code: 'BATON_MESSAGE_TOO_LARGE' });
    await expect(b.queue('strict', { maxPriority: 4 })).rejects.toMatchObject({ code: 'BATON_QUEUE_MISMATCH' });
    await expect(b.queue('opts', { maxLength: -1 })).rejects.toMatchObject({ code: 'BATON_INVALID_ARGUMENT' });
    await expect(b.queue('opts', { colour: 'red' } as never)).rejects.toMatchObject({ code: 'BATON_INVALID_ARGUMENT' });
    expect(() => q.consume((() => {}) as never, { prefetch: 0 })).toThrow(expect.objectContaining({ code: 'BATON_INVALID_ARGUMENT' }));
    const raw = await b.queue('raw', { codec: 'raw' });
    await expect(raw.send(42)).rejects.toMatchObject({ code: 'BATON_CODEC' });
    expect(await q.stats()).toMatchObject({ ready: 1 });
    const got: unknown[] = [];
    for await (const m of q.messages()) {
      got.push(m.body);
      m.ack();
      break;
    }
    expect(got).toEqual(['kept']);
    await b.close();
    await expect(q.send('late')).rejects.toMatchObject({ code: 'BATON_CLOSED' });
    await expect(b.queue('late')).rejects.toMatchObject({ code: 'BATON_CLOSED' });
    broker = null;
  });
});
