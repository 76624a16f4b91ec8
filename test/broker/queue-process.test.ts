// Proves queue.process(): deliveries run on handler threads of their own, each message is
// acked when its task resolves (the queue ends empty), and a task that throws is nacked and
// redelivered until the delivery limit sends it to the dead-letter queue; a handler thread that dies
// with a delivery in hand has that delivery redelivered and handled on another thread.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { threadId } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { brokerScope } from '../support/broker-scope.js';
import { Broker } from 'baton';
import { until } from '../support/wait.js';

const scope = brokerScope();
let broker: Broker | null = null;
let dir: string | null = null;

const handler = new URL('../../dist/workers/fixtures/process-handler.js', import.meta.url);

describe('queue process', () => {
  it('process - tasks run in pool threads and are acked when they resolve; failures go to the dead-letter queue', async () => {
    dir = await scope.tempDir('process');
    const log = path.join(dir, 'done.log');
    broker = await scope.start({ workers: 1 });
    const deadLetters: string[] = [];
    broker.on('dead-letter', (e: { reason: string }) => deadLetters.push(e.reason));
    const q = await broker.queue('cpu', { maxDeliveries: 2, deadLetter: 'cpu-dlq' });
    const { ids } = await q.sendBatch(Array.from({ length: 40 }, (_, n) => ({ body: { n }, headers: { log } })));
    await q.send({ n: -1, fail: true }, { headers: { log }, id: 'poison' });
    const consumer = q.process(handler, { threads: 2 });
    await until(async () => (await q.stats()).ready === 0 && (await q.stats()).unacked === 0 && deadLetters.length === 1, 'every task settled');
    await consumer.close();
    const lines = (await readFile(log, 'utf8')).trim().split('\n').map((line) => line.split(' '));
    expect(new Set(lines.map(([id]) => id))).toEqual(new Set(ids));
    expect(lines.every(([, thread]) => Number(thread) !== threadId)).toBe(true);
    expect(deadLetters).toEqual(['delivery-limit']);
    const dlq = await broker.queue('cpu-dlq');
    expect((await dlq.stats()).ready).toBe(1);
    expect(() => q.process(handler, { threads: 0 })).toThrow(expect.objectContaining({ code: 'BATON_INVALID_ARGUMENT' }));
  });

  it('process - a pool thread that dies with a delivery in hand: the delivery is redelivered and handled on another thread', async () => {
    dir = await scope.tempDir('process');
    const log = path.join(dir, 'done.log');
    const marker = path.join(dir, 'exited');
    broker = await scope.start({ workers: 1 });
    const q = await broker.queue('cpu-exit');
    await q.send({ n: 1, exit: marker }, { headers: { log }, id: 'exits-once' });
    const consumer = q.process(handler, { threads: 2 });
    const lost: Array<{ error: Error; requeued: number }> = [];
    consumer.on('thread-lost', (e: { error: Error; requeued: number }) => lost.push(e));
    await until(async () => (await readFile(log, 'utf8').catch(() => '')).includes('exits-once') && (await q.stats()).unacked === 0, 'the delivery handled after the thread died');
    await consumer.close();
    const [, thread] = (await readFile(log, 'utf8')).trim().split(' ');
    expect(Number(thread)).not.toBe(Number(await readFile(marker, 'utf8')));
    expect((await q.stats()).ready).toBe(0);
    expect(lost).toHaveLength(1);
    expect(lost[0]!.error).toMatchObject({ code: 'BATON_HANDLER_THREAD_LOST' });
    expect(lost[0]!.requeued).toBeGreaterThanOrEqual(1);
  });

  it('process - a poison message that kills its thread every time ends in the dead-letter queue; the messages the thread held but never started are not counted as delivered', async () => {
    dir = await scope.tempDir('process');
    const log = path.join(dir, 'done.log');
    broker = await scope.start({ workers: 1 });
    const deadLetters: string[] = [];
    broker.on('dead-letter', (e: { reason: string }) => deadLetters.push(e.reason));
    const q = await broker.queue('cpu-poison', { maxDeliveries: 2, deadLetter: 'cpu-poison-dlq' });
    // The poison first: one thread takes it with all the others prefetched behind it, and dies twice.
    await q.send({ n: -1, exitAlways: true }, { headers: { log }, id: 'poison' });
    const { ids } = await q.sendBatch(Array.from({ length: 200 }, (_, n) => ({ body: { n }, headers: { log } })));
    const consumer = q.process(handler, { threads: 1 });
    await until(async () => deadLetters.length === 1 && (await q.stats()).ready === 0 && (await q.stats()).unacked === 0, 'the poison dead-lettered and the rest handled');
    await consumer.close();
    expect(deadLetters).toEqual(['delivery-limit']);
    const lines = (await readFile(log, 'utf8')).trim().split('\n').map((line) => line.split(' '));
    expect(new Set(lines.map(([id]) => id))).toEqual(new Set(ids));
    // Released twice, never handed to the handler before: each is handled on its first delivery.
    expect(lines.filter(([, , count]) => count !== '1')).toEqual([]);
    expect((await (await broker.queue('cpu-poison-dlq')).stats()).ready).toBe(1);
  });
});
