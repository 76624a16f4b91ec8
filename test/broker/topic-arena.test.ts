// Proves the topic data path on the arena, from the public entry with real threads:
// - in memory, a send is readable at once and subscribers read in place: no actor is on the
//   path (every host thread stalled, records still flow); time retention frees what expired and
//   a reader from earliest starts after it;
// - durable, a subscriber never sees a record before the log confirmed it (the partition's host
//   stalled: nothing delivered, the send pending; then both);
// - durable, a subscriber behind the arena's tail reads from the log (through the partition
//   actor: stalled, it gets nothing, while a subscriber in the tail reads on), in order, whole;
// - durable, partition actor crashes and a host death under a stream lose no confirmed record
//   and append none twice (a produce is idempotent: offsets are the producer's);
// - batch subscriptions: arrays of one partition in offset order, at most maxBatch, positions
//   committed when the handler resolves, a throwing batch reported and passed.
import { afterEach, describe, expect, it } from 'vitest';
import { Broker, type TopicMessage } from 'baton';
import { TAIL_BYTES } from '../../src/broker/topic/partition.js';
import { brokerScope } from '../support/broker-scope.js';
import { sleep, until } from '../support/wait.js';

const scope = brokerScope();

let errors: unknown[] = [];
afterEach(() => {
  errors = [];
});

function watch(broker: Broker): Broker {
  broker.on('consumer-error', (event: unknown) => errors.push(event));
  return broker;
}

describe('topics on the arena', () => {
  it('memory - records flow from send to subscribers with every actor host stalled: no actor on the path', async () => {
    const broker = watch(await scope.start({ workers: 2 }));
    const t = await broker.topic('direct', { partitions: 4, codec: 'raw' });
    const seen: number[][] = [[], [], [], []];
    const sub = t.subscribe({ from: 'earliest' }, (m) => void seen[m.partition]!.push(m.offset));
    await sub.ready;
    await broker.faults.stallWorker(0, 900);
    await broker.faults.stallWorker(1, 900);
    await sleep(50);
    const startedAt = Date.now();
    for (let i = 0; i < 20; i++) await t.sendBatch(Array.from({ length: 1000 }, (_, n) => Buffer.from(`r${i}-${n}`)));
    await until(() => seen.reduce((n, s) => n + s.length, 0) === 20_000, 'every record delivered');
    // All of it while the hosts were stalled (they answer nothing for 900 ms).
    expect(Date.now() - startedAt).toBeLessThan(800);
    for (const offsets of seen) expect(offsets).toEqual(offsets.map((_, i) => i));
    await sub.close();
    expect(errors).toEqual([]);
  });

  it('memory - time retention frees what expired; a reader from earliest starts after it', async () => {
    const broker = watch(await scope.start({ workers: 1 }));
    const t = await broker.topic('expiring', { partitions: 1, retentionMs: 100 });
    await t.sendBatch(Array.from({ length: 100 }, (_, n) => ({ n })));
    await until(async () => (await t.offsets(0)).start === 100, 'the expired records to go', 5_000);
    await t.sendBatch(Array.from({ length: 10 }, (_, n) => ({ n: 100 + n })));
    expect(await t.offsets(0)).toMatchObject({ start: 100, next: 110 });
    const seen: number[] = [];
    const sub = t.subscribe({ from: 'earliest' }, (m) => void seen.push((m.body as { n: number }).n));
    await until(() => seen.length === 10, 'the records kept');
    expect(seen).toEqual(Array.from({ length: 10 }, (_, i) => 100 + i));
    await sub.close();
  });

  it('memory - records kept after their handler read back as sent once retention reused their memory', async () => {
    // Freed extents are filled with 0xDB (extent-allocator.ts): a read of freed memory shows.
    const poison = process.env['BATON_POISON_FREED'];
    process.env['BATON_POISON_FREED'] = '1';
    let started: Broker;
    try {
      started = await scope.start({ workers: 1 });
    } finally {
      if (poison === undefined) delete process.env['BATON_POISON_FREED'];
      else process.env['BATON_POISON_FREED'] = poison;
    }
    const broker = watch(started);
    const t = await broker.topic('reused', { partitions: 1, retentionBytes: 16 * 1024 });
    const kept: TopicMessage[] = [];
    const bodies: unknown[] = [];
    // Some records are kept unread, some with only the body read, some read whole in the handler.
    const sub = t.subscribe({ from: 'earliest' }, (m) => {
      if (m.offset % 3 === 1) bodies.push(m.body);
      else if (m.offset % 3 === 2) void m.key;
      kept.push(m);
    });
    for (let i = 0; i < 40; i++) {
      await t.sendBatch(Array.from({ length: 100 }, (_, n) => ({ body: { n: i * 100 + n, pad: 'p'.repeat(n % 50) }, key: `k${i * 100 + n}`, headers: { h: String(n) } })));
      await sleep(1);
    }
    await until(() => kept.length === 4000, 'every record');
    // Retention let the early extents go, and later sends reused them.
    expect((await t.offsets(0)).start).toBeGreaterThan(0);
    kept.forEach((m, i) => {
      expect(m.offset).toBe(i);
      expect(m.body).toEqual({ n: i, pad: 'p'.repeat((i % 100) % 50) });
      expect(m.key).toBe(`k${i}`);
      expect(m.headers).toEqual({ h: String(i % 100) });
      expect(JSON.parse(Buffer.from(m.bytes).toString('utf8'))).toEqual({ n: i, pad: 'p'.repeat((i % 100) % 50) });
    });
    await sub.close();
    expect(errors).toEqual([]);
  });

  it('in place - msg.buffer / bodyOffset / bodyLength name the payload while the handler has it; afterwards a read is BATON_ALREADY_ACKED, never reused memory', async () => {
    const broker = watch(await scope.start({ workers: 1 }));
    const t = await broker.topic('zero-copy', { partitions: 1, codec: 'raw' });
    const inHandler: string[] = [];
    const kept: TopicMessage[] = [];
    const copies: Uint8Array[] = [];
    const sub = t.subscribe({ from: 'earliest' }, (m) => {
      inHandler.push(Buffer.from(m.buffer.subarray(m.bodyOffset, m.bodyOffset + m.bodyLength)).toString('utf8'));
      if (m.offset === 1) copies.push(m.bytes);
      kept.push(m);
    });
    await t.sendBatch([Buffer.from('zero'), Buffer.from('copy'), { body: Buffer.from('keyed'), key: 'k' }]);
    await until(() => kept.length === 3, 'the records');
    await sub.close();
    expect(inHandler).toEqual(['zero', 'copy', 'keyed']);
    // Read in place only: not kept, so a later read fails (typed) instead of reading reused memory.
    expect(() => kept[0]!.buffer).toThrow(expect.objectContaining({ code: 'BATON_ALREADY_ACKED' }));
    expect(() => kept[0]!.bytes).toThrow(expect.objectContaining({ code: 'BATON_ALREADY_ACKED' }));
    expect(kept[0]!.offset).toBe(0);
    // A copy taken in the handler is the record's own.
    expect(Buffer.from(copies[0]!).toString('utf8')).toBe('copy');
    expect(Buffer.from(kept[1]!.body as Uint8Array).toString('utf8')).toBe('copy');
    // A record whose key was not read moved to its run's copy: the key and the bytes still read.
    expect(kept[2]!.key).toBe('k');
    expect(Buffer.from(kept[2]!.bytes).toString('utf8')).toBe('keyed');
  });

  it('durable - a subscriber never sees a record the log has not confirmed', async () => {
    const dataDir = await scope.tempDir('topic-confirm');
    const broker = watch(await scope.start({ workers: 1, dataDir }));
    const t = await broker.topic('confirmed', { partitions: 1 });
    await t.send({ n: 0 });
    const seen: number[] = [];
    const sub = t.subscribe({ from: 'earliest' }, (m) => void seen.push((m.body as { n: number }).n));
    await until(() => seen.length === 1, 'the first record');
    // The partition actor cannot confirm while its host is stalled.
    await broker.faults.stallWorker(0, 700);
    await sleep(50);
    let confirmed = false;
    const pending = t.sendBatch(Array.from({ length: 500 }, (_, i) => ({ n: 1 + i }))).then((results) => {
      confirmed = true;
      // Resolved: the log has them, so a reader may have them from now on, not before.
      return results;
    });
    await sleep(300);
    expect(confirmed).toBe(false);
    expect(seen).toEqual([0]);
    const results = await pending;
    expect(results.map((r) => r.offset)).toEqual(Array.from({ length: 500 }, (_, i) => 1 + i));
    await until(() => seen.length === 501, 'the confirmed records');
    expect(seen).toEqual(Array.from({ length: 501 }, (_, i) => i));
    await sub.close();
    expect(errors).toEqual([]);
  });

  it('durable - a subscriber behind the arena tail reads from the log, in order and whole; one in the tail reads on without the actor', async () => {
    const dataDir = await scope.tempDir('topic-tail');
    const broker = watch(await scope.start({ workers: 1, dataDir }));
    const t = await broker.topic('long', { partitions: 1, codec: 'raw' });
    const body = (n: number) => {
      const bytes = Buffer.alloc(1024, n & 0xff);
      bytes.writeUInt32LE(n, 0);
      return bytes;
    };
    // Half as much again as the tail the arena keeps: the first records are in the log only.
    const total = Math.ceil((TAIL_BYTES * 1.5) / 1024);
    for (let first = 0; first < total; first += 500) await t.sendBatch(Array.from({ length: Math.min(500, total - first) }, (_, i) => body(first + i)));
    await broker.faults.stallWorker(0, 800);
    await sleep(50);
    const behind: number[] = [];
    const inTail: number[] = [];
    const a = t.subscribe({ from: 'earliest' }, (m) => {
      const bytes = m.bytes;
      expect(bytes.byteLength).toBe(1024);
      expect(bytes[1023]).toBe(m.offset & 0xff);
      behind.push(Buffer.from(bytes).readUInt32LE(0));
    });
    const b = t.subscribe({ from: { offset: total - 100 } }, (m) => void inTail.push(m.offset));
    await until(() => inTail.length === 100, 'the tail, read in place');
    // The reader behind the tail needs the partition actor (stalled) to read the log.
    expect(behind).toEqual([]);
    await until(() => behind.length === total, 'every record, read back from the log and then the tail', 20_000);
    expect(behind).toEqual(Array.from({ length: total }, (_, i) => i));
    await Promise.all([a.close(), b.close()]);
    expect(errors).toEqual([]);
  });

  it('durable - partition actor crashes and a host death under a stream lose no confirmed record and append none twice', async () => {
    const dataDir = await scope.tempDir('topic-crash');
    const broker = watch(await scope.start({ workers: 2, dataDir, supervisor: { backoffMs: [1, 10] } }));
    const restarts: unknown[] = [];
    broker.on('restart', (e) => restarts.push(e));
    const t = await broker.topic('events', { partitions: 2 });
    const received = new Set<number>();
    const sub = t.subscribe({ from: 'earliest' }, (m) => void received.add((m.body as { n: number }).n));
    const confirmed: number[] = [];
    const stream = async (from: number, to: number) => {
      for (let n = from; n < to; n++) {
        try {
          await t.sendBatch([{ body: { n }, partition: n % 2 }, { body: { n: -n - 1 }, partition: n % 2 }]);
          confirmed.push(n);
        } catch {
          // A send in flight when its partition failed may be refused: not confirmed.
        }
      }
    };
    const streaming = stream(0, 1500);
    await until(() => confirmed.length >= 300, 'the stream to run');
    await broker.faults.crashActor('topic:events/0', 'throw');
    await until(() => confirmed.length >= 700, 'the stream to go on');
    await broker.faults.crashActor('topic:events/1', 'exit');
    await streaming;
    await until(() => restarts.length >= 2, 'the restarts');
    await until(() => confirmed.every((n) => received.has(n) && received.has(-n - 1)), 'every confirmed record', 20_000);
    expect(confirmed.length).toBeGreaterThan(1450);
    await sub.close();
    // From the log, in offset order: each record once, no offset twice, and the pair of each send together.
    for (let p = 0; p < 2; p++) {
      const { start, next } = await t.offsets(p);
      expect(start).toBe(0);
      const seen: TopicMessage[] = [];
      const reader = t.subscribe({ from: 'earliest' }, (m) => void (m.partition === p && seen.push(m)));
      await until(() => seen.length === next, `partition ${p} read back`, 20_000);
      await reader.close();
      const bodies = seen.map((m) => (m.body as { n: number }).n);
      expect(seen.map((m) => m.offset)).toEqual(Array.from({ length: next }, (_, i) => i));
      expect(new Set(bodies).size).toBe(bodies.length);
      for (let i = 0; i < bodies.length; i += 2) expect(bodies[i + 1]).toBe(-bodies[i]! - 1);
    }
  });

  it('batch - arrays of one partition in offset order, at most maxBatch; committed when the handler resolves; a throwing batch is reported and passed', async () => {
    const broker = watch(await scope.start({ workers: 2 }));
    const t = await broker.topic('batched', { partitions: 2 });
    const calls: Array<{ partition: number; offsets: number[] }> = [];
    let failOnce = true;
    const sub = t.subscribe({ group: 'b', batch: true, maxBatch: 50 }, async (records) => {
      await sleep(1);
      calls.push({ partition: records[0]!.partition, offsets: records.map((r) => r.offset) });
      if (failOnce && records[0]!.partition === 1) {
        failOnce = false;
        throw new Error('a bad batch');
      }
    });
    await sub.ready;
    await t.sendBatch(Array.from({ length: 1000 }, (_, n) => ({ body: { n }, key: `k${n}` })));
    await until(() => calls.reduce((n, c) => n + c.offsets.length, 0) === 1000, 'every record');
    for (const call of calls) {
      expect(call.offsets.length).toBeLessThanOrEqual(50);
      expect(call.offsets).toEqual(call.offsets.map((_, i) => call.offsets[0]! + i));
    }
    for (let p = 0; p < 2; p++) {
      const offsets = calls.filter((c) => c.partition === p).flatMap((c) => c.offsets);
      expect(offsets).toEqual(offsets.map((_, i) => i));
    }
    await until(() => errors.length === 1, 'the failed batch reported');
    expect(errors[0]).toMatchObject({ topic: 'batched', group: 'b', partition: 1 });
    await sub.close();
    // Committed where it stopped: the next member of the group gets only what comes later.
    const later: number[] = [];
    const next = t.subscribe({ group: 'b', batch: true }, (records) => void later.push(...records.map((r) => (r.body as { n: number }).n)));
    await next.ready;
    await t.send({ n: 1000 }, { key: 'z' });
    await until(() => later.length === 1, 'the one new record');
    await sleep(50);
    expect(later).toEqual([1000]);
    await next.close();
    expect(() => t.subscribe({ maxBatch: 10 }, () => undefined)).toThrow(expect.objectContaining({ code: 'BATON_INVALID_ARGUMENT' }));
    expect(() => t.subscribe({ batch: true, maxBatch: 0 }, () => undefined)).toThrow(expect.objectContaining({ code: 'BATON_INVALID_ARGUMENT' }));
  });
});
