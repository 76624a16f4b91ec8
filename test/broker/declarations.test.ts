// Proves that a data directory keeps the options its queues and topics were declared with: after
// a broker restart, a declaration with other options fails with BATON_QUEUE_MISMATCH /
// BATON_TOPIC_MISMATCH naming the option, both values and what to do, and leaves the queue or
// topic as it was (a queue written with priorities up to 9 still replays, every message in
// priority order); the same options, spelled out or left to their defaults, declare it again; a
// deleted queue forgets its options.
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Broker, Queue } from 'baton';
import { brokerScope } from '../support/broker-scope.js';
import { until } from '../support/wait.js';

const scope = brokerScope();

async function restart(broker: Broker, dataDir: string): Promise<Broker> {
  await broker.close();
  return scope.start({ dataDir, workers: 1 });
}

async function drain(queue: Queue, count: number): Promise<{ n: number; priority: number }[]> {
  const got: { n: number; priority: number }[] = [];
  if (count === 0) return got;
  for await (const m of queue.messages({ prefetch: 1 })) {
    got.push({ n: (m.body as { n: number }).n, priority: m.priority });
    m.ack();
    if (got.length === count) break;
  }
  return got;
}

describe('declarations across restarts', () => {
  it('queue - redeclared with another maxPriority after a restart: BATON_QUEUE_MISMATCH naming it; declared as recorded, every message comes in priority order', async () => {
    const dataDir = await scope.tempDir('declarations');
    let broker = await scope.start({ dataDir, workers: 1 });
    const q = await broker.queue('jobs', { maxPriority: 9 });
    await q.sendBatch(Array.from({ length: 40 }, (_, n) => ({ body: { n }, priority: n % 10 })));
    broker = await restart(broker, dataDir);

    const refused = broker.queue('jobs', { maxPriority: 2 });
    await expect(refused).rejects.toMatchObject({ code: 'BATON_QUEUE_MISMATCH' });
    await expect(refused).rejects.toThrow(/queue "jobs" exists with other options recorded in the data directory: maxPriority is 9, declared 2; declare it with maxPriority 9, or delete it first/);

    const again = await broker.queue('jobs', { maxPriority: 9 });
    expect(await again.stats()).toMatchObject({ ready: 40 });
    const got = await drain(again, 40);
    expect(got.map((m) => m.priority)).toEqual([...got.map((m) => m.priority)].sort((a, b) => b - a));
    expect(got.map((m) => m.priority)).toEqual(got.map((m) => m.n % 10));
    expect(new Set(got.map((m) => m.n)).size).toBe(40);
  });

  it('topic - redeclared with another partition count after a restart: BATON_TOPIC_MISMATCH naming it; declared as recorded, its records are there', async () => {
    const dataDir = await scope.tempDir('declarations');
    let broker = await scope.start({ dataDir, workers: 1 });
    const t = await broker.topic('events', { partitions: 3 });
    await t.sendBatch(Array.from({ length: 9 }, (_, i) => ({ body: i, partition: i % 3 })));
    broker = await restart(broker, dataDir);

    const refused = broker.topic('events', { partitions: 2 });
    await expect(refused).rejects.toMatchObject({ code: 'BATON_TOPIC_MISMATCH' });
    await expect(refused).rejects.toThrow(/topic "events" exists with other options recorded in the data directory: partitions is 3, declared 2.*declare it with partitions 3/);
    // Another option differing is named the same way; the default of one left out counts as given.
    await expect(broker.topic('events', { partitions: 3, retentionMs: 60_000 })).rejects.toThrow(/retentionMs is unset, declared 60000.*declare it without retentionMs/);

    const again = await broker.topic('events', { partitions: 3, compact: false, codec: 'json' });
    expect(again.partitions).toBe(3);
    const seen: number[] = [];
    const sub = again.subscribe({ from: 'earliest' }, (m) => void seen.push(m.body as number));
    await until(() => seen.length === 9, 'the 9 records');
    await sub.close();
    expect([...seen].sort()).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8]);
  });

  it('topic - declared without partitions, it keeps the count it was created with when the broker restarts with other workers; in one broker too', async () => {
    const dataDir = await scope.tempDir('declarations');
    let broker = await scope.start({ dataDir, workers: 2 });
    const t = await broker.topic('clicks');
    expect(t.partitions).toBe(2);
    await t.sendBatch(Array.from({ length: 6 }, (_, i) => ({ body: i, partition: i % 2 })));
    await broker.close();
    broker = await scope.start({ dataDir, workers: 3 });

    const again = await broker.topic('clicks');
    expect(again.partitions).toBe(2);
    // Given explicitly, another count is still a mismatch.
    await expect(broker.topic('clicks', { partitions: 3 })).rejects.toThrow(/partitions is 2, declared 3/);
    const fresh = await broker.topic('fresh', { partitions: 1 });
    expect((await broker.topic('fresh')).partitions).toBe(fresh.partitions);
    const seen: number[] = [];
    const sub = again.subscribe({ from: 'earliest' }, (m) => void seen.push(m.body as number));
    await until(() => seen.length === 6, 'the 6 records');
    await sub.close();
    expect([...seen].sort()).toEqual([0, 1, 2, 3, 4, 5]);
  });

  it('queue and topic - the same options after a restart, spelled out or left to their defaults, declare them as before', async () => {
    const dataDir = await scope.tempDir('declarations');
    let broker = await scope.start({ dataDir, workers: 1 });
    await (await broker.queue('plain')).send({ n: 1 });
    await broker.queue('tuned', { maxPriority: 3, maxLength: 100, overflow: 'drop-head', codec: 'msgpack' });
    await broker.topic('log');
    broker = await restart(broker, dataDir);

    const plain = await broker.queue('plain', { durable: true, maxPriority: 0, overflow: 'reject-publish', codec: 'json' });
    expect(await drain(plain, 1)).toEqual([{ n: 1, priority: 0 }]);
    await broker.queue('tuned', { codec: 'msgpack', maxLength: 100, overflow: 'drop-head', maxPriority: 3 });
    // The in-process check names the option too.
    await expect(broker.queue('tuned', { codec: 'msgpack', maxLength: 100, overflow: 'drop-head', maxPriority: 3, maxBytes: 5 })).rejects.toThrow(/exists with other options in this broker: maxBytes is unset, declared 5; declare it without maxBytes/);
    expect((await broker.topic('log', { partitions: 1 })).partitions).toBe(1);
  });

  it('queue - deleted, it forgets its options: declared anew with others, they are what a restart keeps', async () => {
    const dataDir = await scope.tempDir('declarations');
    let broker = await scope.start({ dataDir, workers: 1 });
    await (await broker.queue('jobs', { maxPriority: 9 })).send({ n: 1 }, { priority: 9 });
    broker = await restart(broker, dataDir);

    await (await broker.queue('jobs', { maxPriority: 9 })).delete();
    await (await broker.queue('jobs', { maxPriority: 2 })).send({ n: 2 }, { priority: 2 });
    broker = await restart(broker, dataDir);

    await expect(broker.queue('jobs', { maxPriority: 9 })).rejects.toThrow(/maxPriority is 2, declared 9/);
    expect(await drain(await broker.queue('jobs', { maxPriority: 2 }), 1)).toEqual([{ n: 2, priority: 2 }]);
  });

  it('queue - a data directory from before declarations were recorded: a lower maxPriority still starts the queue, every message comes, the higher priorities first', async () => {
    const dataDir = await scope.tempDir('declarations');
    let broker = await scope.start({ dataDir, workers: 1 });
    const q = await broker.queue('old', { maxPriority: 9 });
    await q.sendBatch(Array.from({ length: 20 }, (_, n) => ({ body: { n }, priority: n % 10 })));
    await broker.close();
    await rm(path.join(dataDir, 'declarations', `${encodeURIComponent('queue:old')}.json`));
    broker = await scope.start({ dataDir, workers: 1 });

    const got = await drain(await broker.queue('old', { maxPriority: 2 }), 20);
    expect(new Set(got.map((m) => m.n)).size).toBe(20);
    // Priorities 2..9 come first (as 2), then 1, then 0.
    expect(got.map((m) => Math.min(m.n % 10, 2))).toEqual([...Array(16).fill(2), 1, 1, 0, 0]);
  });

  it('queue - a dead-letter queue declared for its source after a restart takes its recorded options', async () => {
    const dataDir = await scope.tempDir('declarations');
    let broker = await scope.start({ dataDir, workers: 1 });
    await broker.queue('dead', { maxPriority: 5 });
    await broker.queue('work', { deadLetter: 'dead' });
    broker = await restart(broker, dataDir);

    await broker.queue('work', { deadLetter: 'dead' });
    expect((await broker.queue('dead', { maxPriority: 5 })).maxPriority).toBe(5);
  });
});
