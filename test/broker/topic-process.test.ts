// Proves topic.process(): a consumer group whose members run their handler on threads of their
// own. Every record is handled on a member thread (not the broker's); when a member's thread
// dies with a record in hand, its partitions are rebalanced to the other member, the record it
// had in hand is handled again there (at least once), a replacement thread joins and takes its
// share back, and the group's committed offsets reach the end of every partition.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { threadId } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { brokerScope } from '../support/broker-scope.js';
import { until } from '../support/wait.js';

const scope = brokerScope();

const handler = new URL('../../dist/workers/fixtures/topic-member-handler.js', import.meta.url);

async function handled(log: string): Promise<Array<{ partition: number; offset: number; thread: number }>> {
  const text = await readFile(log, 'utf8').catch(() => '');
  return text
    .trim()
    .split('\n')
    .filter((line) => line.length > 0)
    .map((line) => {
      const [partition, offset, thread] = line.split(' ').map(Number) as [number, number, number];
      return { partition, offset, thread };
    });
}

describe('topic process', () => {
  it('process - a member thread that dies hands its partitions over; the record in hand is handled again; a replacement joins', async () => {
    const dir = await scope.tempDir('topic-process');
    const log = path.join(dir, 'handled.log');
    const marker = path.join(dir, 'crashed');
    const broker = await scope.start({ workers: 2 });
    const t = await broker.topic('jobs', { partitions: 4 });
    for (let p = 0; p < 4; p++) await t.sendBatch(Array.from({ length: 10 }, (_, n) => ({ body: { n }, partition: p, headers: { log } })));
    const crash = await t.send({ n: 99, crash: marker }, { partition: 2, headers: { log } });

    const group = t.process(handler, { group: 'workers', threads: 2 });
    const lost: Array<{ threadId: number; partitions: number[]; error: Error }> = [];
    const started: number[] = [];
    group.on('member-lost', (e: { threadId: number; partitions: number[]; error: Error }) => lost.push(e));
    group.on('member-started', (e: { threadId: number }) => started.push(e.threadId));
    await group.ready;
    const firstThreads = group.members.map((m) => m.threadId);
    expect(group.members.flatMap((m) => m.partitions).sort()).toEqual([0, 1, 2, 3]);

    await until(async () => (await handled(log)).length >= 41 && started.length === 1, 'every record handled and a replacement started', 20_000);
    const records = await handled(log);
    // Each record handled at least once, all on member threads.
    const seen = new Set(records.map((r) => `${r.partition}/${r.offset}`));
    for (let p = 0; p < 4; p++) for (let o = 0; o < 10; o++) expect(seen.has(`${p}/${o}`)).toBe(true);
    expect(records.every((r) => r.thread !== threadId)).toBe(true);
    // The thread that crashed lost partition 2 with the crash record in hand; another thread handled it.
    const crashedThread = Number(await readFile(marker, 'utf8'));
    expect(lost).toHaveLength(1);
    expect(lost[0]!.threadId).toBe(crashedThread);
    expect(lost[0]!.partitions).toContain(2);
    expect(lost[0]!.error).toMatchObject({ code: 'BATON_HANDLER_THREAD_LOST' });
    const again = records.filter((r) => r.partition === 2 && r.offset === crash.offset);
    expect(again).toHaveLength(1);
    expect(again[0]!.thread).not.toBe(crashedThread);
    // The replacement joined and took its share: two live members, four partitions between them.
    await until(() => group.members.length === 2 && group.members.every((m) => m.partitions.length === 2), 'the replacement has its share', 10_000);
    expect(group.members.map((m) => m.threadId)).toContain(started[0]);
    expect(group.members.map((m) => m.threadId)).not.toContain(crashedThread);
    expect(firstThreads).toContain(crashedThread);
    await group.close();

    // Committed: a new member of the group starts at the end of every partition.
    const late: number[] = [];
    const sub = t.subscribe({ group: 'workers' }, (m) => void late.push(m.offset));
    await sub.ready;
    await t.send({ n: 100 }, { partition: 0, headers: { log } });
    await until(() => late.length === 1, 'only the new record reaches the new member');
    expect(late).toEqual([10]);
    await sub.close();
  });

  it('process - bad options are typed errors', async () => {
    const broker = await scope.start({ workers: 1 });
    const t = await broker.topic('opts', { partitions: 1 });
    expect(() => t.process(handler, {} as never)).toThrow(expect.objectContaining({ code: 'BATON_INVALID_ARGUMENT' }));
    expect(() => t.process(handler, { group: 'g', threads: 0 })).toThrow(expect.objectContaining({ code: 'BATON_INVALID_ARGUMENT' }));
  });
});
