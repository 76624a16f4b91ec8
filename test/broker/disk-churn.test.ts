// Proves, from the public entry with real threads on a data directory, that disk use follows live
// data: a queue consumed steadily beside a fanout exchange bound to it and a topic kept forever
// with a little data keeps its data directory flat after the first segments, whatever the traffic;
// after a restart the queue is empty, the topic still holds its records, the binding still routes.
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { brokerScope } from '../support/broker-scope.js';
import { until } from '../support/wait.js';

const SEGMENT_BYTES = 16 * 1024;
const INTERVAL_MS = 50;
const scope = brokerScope();

function walBytes(dir: string): number {
  const wal = path.join(dir, 'wal');
  return readdirSync(wal).reduce((sum, name) => sum + statSync(path.join(wal, name)).size, 0);
}

describe('disk use under churn', () => {
  it('disk churn - a consumed queue beside an exchange and a forever topic keeps the data directory flat', async () => {
    const dataDir = await scope.tempDir('churn');
    const start = () => scope.start({ workers: 1, dataDir, segmentBytesMax: SEGMENT_BYTES, compactionIntervalMs: INTERVAL_MS });
    let broker = await start();
    const queue = await broker.queue('work');
    const events = await broker.topic('events', { partitions: 1 });
    const fan = await broker.exchange('fan', { type: 'fanout' });
    await fan.bind('work');
    await events.sendBatch([{ key: 'a', body: { kept: 0 } }, { key: 'b', body: { kept: 1 } }]);

    let received = 0;
    const consumer = queue.consume(() => {
      received++;
    });
    const pad = 'x'.repeat(180);
    const sizes: number[] = [];
    let sent = 0;
    for (let round = 0; round < 12; round++) {
      // ~2,000 messages of ~200 B a round (~25 segments), half through the exchange.
      for (let i = 0; i < 10; i++) {
        await queue.sendBatch(Array.from({ length: 100 }, (_, j) => ({ body: { n: sent + j, pad } })));
        sent += 100;
        for (let j = 0; j < 100; j++) await fan.publish('', { n: sent + j, pad });
        sent += 100;
      }
      await until(() => received === sent, 'the round consumed');
      await until(async () => {
        const stats = await queue.stats();
        return stats.ready === 0 && stats.unacked === 0;
      }, 'the round settled');
      // Two maintenance passes after the last ack: everything dead by then is reclaimed.
      const passes = (await broker.stats()).storage.maintenance.passes;
      await until(async () => (await broker.stats()).storage.maintenance.passes >= passes + 2, 'two maintenance passes');
      sizes.push(walBytes(dataDir));
    }
    // ~24,000 messages (~5 MB) went through; the directory holds a few segments, flat.
    expect(sent).toBe(24_000);
    const steady = sizes.slice(2);
    expect(Math.max(...steady)).toBeLessThan(8 * SEGMENT_BYTES);
    expect(Math.max(...steady) - Math.min(...steady)).toBeLessThan(4 * SEGMENT_BYTES);
    await consumer.close();
    await broker.close();

    broker = await start();
    const again = await broker.queue('work');
    expect((await again.stats()).ready).toBe(0);
    const records: unknown[] = [];
    const sub = (await broker.topic('events', { partitions: 1 })).subscribe({ from: 'earliest' }, (record) => {
      records.push(record.body);
    });
    await until(() => records.length === 2, 'the topic records');
    expect(records).toEqual([{ kept: 0 }, { kept: 1 }]);
    await sub.close();
    expect(await (await broker.exchange('fan', { type: 'fanout' })).publish('', { after: 'restart' })).toBe(1);
    const got: unknown[] = [];
    const c2 = again.consume((message) => {
      got.push(message.body);
    });
    await until(() => got.length === 1, 'the routed message');
    expect(got).toEqual([{ after: 'restart' }]);
    await c2.close();
  }, 120_000);

  it('disk churn - an exchange snapshots its bindings every 100 changes and restarts from the snapshot with the same table', async () => {
    const dataDir = await scope.tempDir('churn');
    const start = () => scope.start({ workers: 1, dataDir, segmentBytesMax: SEGMENT_BYTES, compactionIntervalMs: INTERVAL_MS });
    let broker = await start();
    for (const name of ['qa', 'qb', 'qc']) await broker.queue(name);
    const direct = await broker.exchange('routes', { type: 'direct' });
    const headers = await broker.exchange('by-headers', { type: 'headers' });
    // 250 changes: bindings come and go; the model is what must be left.
    const model = new Set<string>();
    for (let i = 0; i < 250; i++) {
      const queue = ['qa', 'qb', 'qc'][i % 3]!;
      const routingKey = `k${i % 17}`;
      const id = `${queue} ${routingKey}`;
      if (model.has(id) && i % 2 === 0) {
        await direct.unbind(queue, { routingKey });
        model.delete(id);
      } else if (!model.has(id)) {
        await direct.bind(queue, { routingKey });
        model.add(id);
      }
    }
    await headers.bind('qa', { headers: { kind: 'a' }, match: 'all' });
    const before = direct.bindings();
    expect(new Set(before.map((b) => `${b.destination} ${b.routingKey}`))).toEqual(model);
    await broker.close();
    // The table was written as a snapshot (the restart below reads it, then the changes after it).
    expect(readdirSync(path.join(dataDir, 'snapshots'))).toContain(`${encodeURIComponent('exchange:routes')}.snap`);

    broker = await start();
    for (const name of ['qa', 'qb', 'qc']) await broker.queue(name);
    const again = await broker.exchange('routes', { type: 'direct' });
    expect(again.bindings()).toEqual(before);
    expect((await broker.exchange('by-headers', { type: 'headers' })).bindings()).toEqual(headers.bindings());
    // The table routes as before.
    const [id] = [...model];
    const [queue, routingKey] = id!.split(' ');
    const expected = [...model].filter((b) => b.endsWith(` ${routingKey}`)).length;
    expect(await again.publish(routingKey!, { to: queue })).toBe(expected);
  });
});
