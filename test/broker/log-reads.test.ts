// Proves reads from the log through the storage ring (a partition serving a subscriber from
// its log, a queue replaying after a restart): after a broker restart on the same dataDir every
// record comes back in order and byte for byte — across many read chunks, and including records
// too large for one ring response (read through the fallback path).
import { describe, expect, it } from 'vitest';
import { brokerScope } from '../support/broker-scope.js';
import { until } from '../support/wait.js';

const scope = brokerScope();

const large = (seed: number) => Buffer.alloc(150 * 1024, seed);

describe('log reads', () => {
  it('log reads - a topic read from its log after a restart: many chunks and records too large for one response', async () => {
    const dataDir = await scope.tempDir('log-reads');
    let broker = await scope.start({ dataDir, workers: 1 });
    let t = await broker.topic('reads', { partitions: 1, codec: 'raw' });
    const sent: Buffer[] = [];
    for (let round = 0; round < 3; round++) {
      const small = Array.from({ length: 700 }, (_, i) => Buffer.from(`r${round}-${i}-${'x'.repeat(200)}`));
      await t.sendBatch(small);
      await t.send(large(round + 1));
      sent.push(...small, large(round + 1));
    }
    await broker.close();

    broker = await scope.start({ dataDir, workers: 1 });
    t = await broker.topic('reads', { partitions: 1, codec: 'raw' });
    const got: Array<{ offset: number; bytes: Buffer }> = [];
    const sub = t.subscribe({ from: 'earliest' }, (m) => void got.push({ offset: m.offset, bytes: Buffer.from(m.bytes) }));
    await until(() => got.length === sent.length, 'every record read back');
    await sub.close();
    expect(got.map((g) => g.offset)).toEqual(sent.map((_, i) => i));
    got.forEach((g, i) => expect(g.bytes.equals(sent[i]!)).toBe(true));
  });

  it('log reads - a durable queue with large messages replays them after a restart', async () => {
    const dataDir = await scope.tempDir('log-reads');
    let broker = await scope.start({ dataDir, workers: 1 });
    let q = await broker.queue('big', { codec: 'raw' });
    await q.sendBatch([Buffer.from('a'), large(7), Buffer.from('b')]);
    await q.send(large(8));
    await broker.close();

    broker = await scope.start({ dataDir, workers: 1 });
    q = await broker.queue('big', { codec: 'raw' });
    const got: Buffer[] = [];
    const consumer = q.consume((m) => void got.push(Buffer.from(m.bytes)));
    await until(() => got.length === 4, 'four messages replayed');
    await consumer.close();
    expect(got.map((b) => b.byteLength)).toEqual([1, 150 * 1024, 1, 150 * 1024]);
    expect(got[1]!.equals(large(7))).toBe(true);
    expect(got[3]!.equals(large(8))).toBe(true);
  });
});
