// Proves topics from the public entry, against real threads: keys land on Kafka's murmur2
// partition, explicit partitions and round robin for keyless records; order within a partition;
// subscriptions from earliest, latest, an offset and a timestamp; every bad input is a typed
// error after which the broker still works and has lost nothing.
import { describe, expect, it } from 'vitest';
import { brokerScope } from '../support/broker-scope.js';
import { Broker, type TopicMessage } from 'baton';
import { partitionForKey } from '../../src/broker/murmur2.js';
import { sleep, until } from '../support/wait.js';

const scope = brokerScope();
let broker: Broker | null = null;


describe('topics', () => {
  it('topic - a key lands on the partition murmur2 gives it; explicit partitions; keyless sends round robin; offsets per partition', async () => {
    broker = await scope.start({ workers: 2 });
    const t = await broker.topic('events', { partitions: 6 });
    expect(t.partitions).toBe(6);
    for (const key of ['a', 'b', 'user-42', 'ünïcode', '']) {
      const { partition } = await t.send({ key }, { key });
      expect(partition).toBe(partitionForKey(key, 6));
    }
    const bytesKey = new Uint8Array([1, 2, 3, 4]);
    expect((await t.send('x', { key: bytesKey })).partition).toBe(partitionForKey(bytesKey, 6));
    expect(await t.send('pinned', { partition: 5, key: 'a' })).toMatchObject({ partition: 5 });
    const keyless = await Promise.all(Array.from({ length: 12 }, (_, i) => t.send(i)));
    const counts = new Array(6).fill(0);
    for (const { partition } of keyless) counts[partition]++;
    expect(counts).toEqual([2, 2, 2, 2, 2, 2]);
    // Offsets rise by one per record within a partition.
    const pinned = await t.sendBatch(Array.from({ length: 5 }, (_, i) => ({ body: i, partition: 3 })));
    expect(pinned.map((r) => r.offset)).toEqual([0, 1, 2, 3, 4].map((i) => pinned[0]!.offset + i));
    // Keyless records of one batch stick to one partition.
    const sticky = await t.sendBatch(['a', 'b', 'c', 'd']);
    expect(new Set(sticky.map((r) => r.partition)).size).toBe(1);
    // The default partition count is the number of workers.
    expect((await broker.topic('defaults')).partitions).toBe(2);
  });

  it('topic - a subscriber from earliest sees every record once, in offset order per partition, with key, headers, timestamp and body', async () => {
    broker = await scope.start({ workers: 2 });
    const t = await broker.topic('ordered', { partitions: 3 });
    const sent = await t.sendBatch(Array.from({ length: 600 }, (_, i) => ({ body: { i }, key: `k${i % 17}`, headers: { n: String(i) } })));
    const seen: TopicMessage[] = [];
    const sub = t.subscribe({ from: 'earliest' }, (m) => void seen.push(m));
    await until(() => seen.length === 600, '600 records');
    await sub.close();
    for (let p = 0; p < 3; p++) {
      const offsets = seen.filter((m) => m.partition === p).map((m) => m.offset);
      expect(offsets).toEqual(sent.filter((r) => r.partition === p).map((r) => r.offset));
      // Order within a partition: the keys' send order is kept.
      const bodies = seen.filter((m) => m.partition === p).map((m) => (m.body as { i: number }).i);
      expect(bodies).toEqual([...bodies].sort((a, b) => a - b));
    }
    const m = seen.find((x) => (x.body as { i: number }).i === 42)!;
    expect(m.key).toBe('k8');
    expect(m.headers).toEqual({ n: '42' });
    expect(m.partition).toBe(partitionForKey('k8', 3));
    expect(typeof m.timestamp).toBe('number');
    expect(new TextDecoder().decode(m.bytes)).toBe('{"i":42}');
  });

  it('topic - from latest sees only what is sent after the subscription is ready; from an offset starts there', async () => {
    broker = await scope.start({ workers: 2 });
    const t = await broker.topic('tail', { partitions: 1 });
    await t.sendBatch([0, 1, 2, 3, 4]);
    const latest: unknown[] = [];
    const fromOffset: number[] = [];
    const a = t.subscribe({ from: 'latest' }, (m) => void latest.push(m.body));
    const b = t.subscribe({ from: { offset: 3 } }, (m) => void fromOffset.push(m.offset));
    await Promise.all([a.ready, b.ready]);
    await t.sendBatch([5, 6]);
    await until(() => latest.length === 2 && fromOffset.length === 4, 'tail deliveries');
    expect(latest).toEqual([5, 6]);
    expect(fromOffset).toEqual([3, 4, 5, 6]);
    await Promise.all([a.close(), b.close()]);
  });

  it('topic - from a timestamp starts at the first record at or after it', async () => {
    broker = await scope.start({ workers: 1 });
    const t = await broker.topic('timed', { partitions: 1 });
    await t.sendBatch(['old-1', 'old-2']);
    // Timestamps are the producer's Date.now(): wait for the clock to move past them.
    const before = Date.now();
    await until(() => Date.now() > before + 1, 'the clock to move');
    const cut = Date.now();
    await until(() => Date.now() > cut, 'the clock to move');
    await t.sendBatch(['new-1', 'new-2']);
    const seen: unknown[] = [];
    const sub = t.subscribe({ from: { timestamp: cut } }, (m) => void seen.push(m.body));
    await until(() => seen.length === 2, 'records from the timestamp');
    await sleep(50);
    expect(seen).toEqual(['new-1', 'new-2']);
    await sub.close();
  });

  it('topic - bad input is a typed error; the broker keeps working and has lost nothing', async () => {
    broker = await scope.start({ workers: 2 });
    await expect(broker.topic('bad/name')).rejects.toMatchObject({ code: 'BATON_INVALID_NAME' });
    await expect(broker.topic('..')).rejects.toMatchObject({ code: 'BATON_INVALID_NAME' });
    await expect(broker.topic('x', { partitions: 0 })).rejects.toMatchObject({ code: 'BATON_INVALID_ARGUMENT' });
    await expect(broker.topic('x', { nope: 1 } as never)).rejects.toMatchObject({ code: 'BATON_INVALID_ARGUMENT' });
    await expect(broker.topic('x', { codec: 'xml' as never })).rejects.toMatchObject({ code: 'BATON_INVALID_ARGUMENT' });
    const t = await broker.topic('good', { partitions: 2 });
    await expect(broker.topic('good', { partitions: 3 })).rejects.toMatchObject({ code: 'BATON_TOPIC_MISMATCH' });
    await expect(broker.topic('good', { partitions: 2, compact: true })).rejects.toMatchObject({ code: 'BATON_TOPIC_MISMATCH' });
    expect(await broker.topic('good', { partitions: 2 })).toBe(t);
    await expect(t.send('x', { partition: 2 })).rejects.toMatchObject({ code: 'BATON_INVALID_ARGUMENT' });
    await expect(t.send('x', { partition: -1 })).rejects.toMatchObject({ code: 'BATON_INVALID_ARGUMENT' });
    await expect(t.send('x', { partition: 0.5 })).rejects.toMatchObject({ code: 'BATON_INVALID_ARGUMENT' });
    await expect(t.send('x', { key: 42 as never })).rejects.toMatchObject({ code: 'BATON_INVALID_ARGUMENT' });
    await expect(t.send('x', { headers: { a: 1 as never } })).rejects.toMatchObject({ code: 'BATON_INVALID_ARGUMENT' });
    await expect(t.send(10n)).rejects.toMatchObject({ code: 'BATON_CODEC' });
    await expect(t.sendBatch([{ body: 1, partition: 0 }, { body: 2, partition: 9 }])).rejects.toMatchObject({ code: 'BATON_INVALID_ARGUMENT' });
    const handler = () => undefined;
    expect(() => t.subscribe({ from: 'middle' as never }, handler)).toThrow(expect.objectContaining({ code: 'BATON_INVALID_ARGUMENT' }));
    expect(() => t.subscribe({ from: { offset: -1 } }, handler)).toThrow(expect.objectContaining({ code: 'BATON_INVALID_ARGUMENT' }));
    expect(() => t.subscribe({ from: { offset: 1, timestamp: 2 } as never }, handler)).toThrow(expect.objectContaining({ code: 'BATON_INVALID_ARGUMENT' }));
    expect(() => t.subscribe({ ack: 'manual' as never }, handler)).toThrow(expect.objectContaining({ code: 'BATON_INVALID_ARGUMENT' }));
    expect(() => t.subscribe({ group: 'a/b' }, handler)).toThrow(expect.objectContaining({ code: 'BATON_INVALID_NAME' }));
    expect(() => t.subscribe({}, undefined as never)).toThrow(expect.objectContaining({ code: 'BATON_INVALID_ARGUMENT' }));
    const raw = await broker.topic('raw', { partitions: 1, codec: 'raw' });
    await expect(raw.send({ not: 'bytes' })).rejects.toMatchObject({ code: 'BATON_CODEC' });
    const compacted = await broker.topic('compacted', { partitions: 1, compact: true });
    await expect(compacted.send('no key')).rejects.toMatchObject({ code: 'BATON_INVALID_ARGUMENT' });
    // A closed subscription refuses use; closing again is harmless.
    const sub = t.subscribe({}, handler);
    await sub.close();
    await sub.close();
    await expect(sub.commit()).rejects.toMatchObject({ code: 'BATON_CLOSED' });

    // Nothing was appended by the failures; the topic still works.
    const ok = await t.sendBatch([{ body: 'a', partition: 0 }, { body: 'b', partition: 1 }]);
    expect(ok.map((r) => r.offset)).toEqual([0, 0]);
    const seen: unknown[] = [];
    const after = t.subscribe({ from: 'earliest' }, (m) => void seen.push(m.body));
    await until(() => seen.length === 2, 'the two records');
    expect(seen.sort()).toEqual(['a', 'b']);
    await after.close();
    await broker.close();
    await expect(t.send('late')).rejects.toMatchObject({ code: 'BATON_CLOSED' });
    await expect(broker.topic('later')).rejects.toMatchObject({ code: 'BATON_CLOSED' });
    expect(() => t.subscribe({}, handler)).toThrow(expect.objectContaining({ code: 'BATON_CLOSED' }));
    broker = null;
  });
});
