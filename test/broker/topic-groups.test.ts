// Proves consumer groups and durability from the public entry, against real threads and files:
// members of a group share the partitions and get each record once; a member joining triggers a
// cooperative rebalance (the old member keeps what it still owns, only moved partitions are
// revoked); a member leaving hands its partitions over; a group resumes from its committed offsets
// after a broker restart on the same dataDir; a partition actor crash loses no confirmed record.
import { describe, expect, it } from 'vitest';
import { brokerScope } from '../support/broker-scope.js';
import { Broker, type TopicSubscription } from 'baton';
import { sleep, until } from '../support/wait.js';

const scope = brokerScope();
let broker: Broker | null = null;
let dataDir: string | null = null;


/** Records the partitions a subscription was assigned and revoked, in order. */
function track(sub: TopicSubscription): { assigned: number[]; revoked: number[] } {
  const log = { assigned: [] as number[], revoked: [] as number[] };
  sub.on('assigned', (ps: number[]) => log.assigned.push(...ps));
  sub.on('revoked', (ps: number[]) => log.revoked.push(...ps));
  return log;
}

describe('topic consumer groups', () => {
  it('group - two members share the partitions, each record is handled once', async () => {
    broker = await scope.start({ workers: 2 });
    const t = await broker.topic('shared', { partitions: 4 });
    const byMember: number[][] = [[], []];
    const a = t.subscribe({ group: 'g' }, (m) => void byMember[0]!.push((m.body as { n: number }).n));
    const b = t.subscribe({ group: 'g' }, (m) => void byMember[1]!.push((m.body as { n: number }).n));
    await Promise.all([a.ready, b.ready]);
    expect(a.assignment.length).toBe(2);
    expect(b.assignment.length).toBe(2);
    expect([...a.assignment, ...b.assignment].sort()).toEqual([0, 1, 2, 3]);
    await t.sendBatch(Array.from({ length: 400 }, (_, n) => ({ body: { n }, key: `k${n}` })));
    await until(() => byMember[0]!.length + byMember[1]!.length === 400, '400 records');
    await sleep(50);
    const all = [...byMember[0]!, ...byMember[1]!];
    expect(all.length).toBe(400);
    expect(new Set(all).size).toBe(400);
    expect(byMember[0]!.length).toBeGreaterThan(0);
    expect(byMember[1]!.length).toBeGreaterThan(0);
  });

  it('group - a member joining triggers a cooperative rebalance: the first keeps what it still owns, only moved partitions are revoked; nothing is handled twice', async () => {
    broker = await scope.start({ workers: 2 });
    const t = await broker.topic('coop', { partitions: 4 });
    const seen: number[] = [];
    const handler = async (m: { body: unknown }) => {
      seen.push((m.body as { n: number }).n);
      await sleep(0);
    };
    const a = t.subscribe({ group: 'g' }, handler);
    const aLog = track(a);
    await a.ready;
    expect(a.assignment).toEqual([0, 1, 2, 3]);
    const first = t.sendBatch(Array.from({ length: 300 }, (_, n) => ({ body: { n }, key: `k${n}` })));
    const b = t.subscribe({ group: 'g' }, handler);
    const bLog = track(b);
    await Promise.all([b.ready, first]);
    // Balanced: two each; A kept two of its four and was never re-assigned any.
    expect(a.assignment.length).toBe(2);
    expect(b.assignment.length).toBe(2);
    expect(aLog.assigned).toEqual([0, 1, 2, 3]);
    expect(aLog.revoked.sort()).toEqual(b.assignment);
    expect(bLog.assigned.sort()).toEqual(b.assignment);
    for (const p of a.assignment) expect(aLog.revoked).not.toContain(p);
    await t.sendBatch(Array.from({ length: 300 }, (_, i) => ({ body: { n: 300 + i }, key: `k${i}` })));
    await until(() => seen.length >= 600, '600 records');
    await sleep(100);
    // Revocation committed where A stopped, and B started there: each record exactly once.
    expect(seen.length).toBe(600);
    expect(new Set(seen).size).toBe(600);
  });

  it('group - a member leaving hands its partitions over; the rest of the records reach the remaining member once', async () => {
    broker = await scope.start({ workers: 2 });
    const t = await broker.topic('handover', { partitions: 4 });
    const seen: Array<{ n: number; member: string }> = [];
    const a = t.subscribe({ group: 'g' }, (m) => void seen.push({ n: (m.body as { n: number }).n, member: 'a' }));
    const b = t.subscribe({ group: 'g' }, (m) => void seen.push({ n: (m.body as { n: number }).n, member: 'b' }));
    await Promise.all([a.ready, b.ready]);
    const bHad = b.assignment;
    await t.sendBatch(Array.from({ length: 200 }, (_, n) => ({ body: { n }, key: `k${n}` })));
    await until(() => seen.length === 200, 'the first 200');
    await b.close();
    expect(b.state).toBe('closed');
    expect(a.assignment).toEqual([0, 1, 2, 3]);
    await t.sendBatch(Array.from({ length: 200 }, (_, i) => ({ body: { n: 200 + i }, key: `k${i}` })));
    await until(() => seen.length >= 400, 'the next 200');
    await sleep(100);
    expect(seen.length).toBe(400);
    expect(new Set(seen.map((s) => s.n)).size).toBe(400);
    expect(seen.filter((s) => s.n >= 200).every((s) => s.member === 'a')).toBe(true);
    expect(bHad.length).toBe(2);
  });

  it('group - resumes from its committed offsets after a broker restart on the same dataDir', async () => {
    dataDir = await scope.tempDir('topic');
    broker = await scope.start({ dataDir, workers: 2 });
    let t = await broker.topic('durable', { partitions: 3 });
    await t.sendBatch(Array.from({ length: 300 }, (_, n) => ({ body: { n }, key: `k${n}` })));
    const firstRun: number[] = [];
    const sub = t.subscribe({ group: 'resume' }, async (m) => {
      firstRun.push((m.body as { n: number }).n);
      await sleep(1);
    });
    await until(() => firstRun.length >= 60, '60 records');
    await sub.close();
    const handledBeforeClose = firstRun.length;
    expect(handledBeforeClose).toBeLessThan(300);
    await broker.close();

    broker = await scope.start({ dataDir, workers: 2 });
    t = await broker.topic('durable', { partitions: 3 });
    await t.sendBatch(Array.from({ length: 30 }, (_, i) => ({ body: { n: 300 + i }, key: `k${i}` })));
    const secondRun: number[] = [];
    const again = t.subscribe({ group: 'resume', from: 'earliest' }, (m) => void secondRun.push((m.body as { n: number }).n));
    await until(() => firstRun.length + secondRun.length >= 330, 'the rest');
    await sleep(100);
    // Nothing handled twice (the first run committed where it stopped), nothing missed.
    expect(firstRun.length).toBe(handledBeforeClose);
    expect(secondRun.filter((n) => firstRun.includes(n))).toEqual([]);
    expect(new Set([...firstRun, ...secondRun]).size).toBe(330);
    // A group that never committed starts where `from` says.
    const fresh: number[] = [];
    const other = t.subscribe({ group: 'other', from: 'latest' }, (m) => void fresh.push((m.body as { n: number }).n));
    await other.ready;
    await t.send({ n: 999 }, { key: 'z' });
    await until(() => fresh.length === 1, 'the one new record');
    expect(fresh).toEqual([999]);
    await again.close();
  });

  it('topic - a partition actor crash under a stream of sends loses no confirmed record', async () => {
    broker = await scope.start({ workers: 2, supervisor: { backoffMs: [1, 10] } });
    const restarts: unknown[] = [];
    broker.on('restart', (e) => restarts.push(e));
    const t = await broker.topic('events', { partitions: 2 });
    const received = new Set<number>();
    const sub = t.subscribe({ from: 'earliest' }, (m) => void received.add((m.body as { n: number }).n));
    const confirmed: number[] = [];
    for (let n = 0; n < 2000; n++) {
      try {
        await t.send({ n }, { partition: n % 2 });
        confirmed.push(n);
      } catch {
        // A send in flight when the partition failed may be refused: not confirmed.
      }
      if (n === 700) await broker.faults.crashActor('topic:events/0', 'throw');
    }
    await until(() => restarts.length > 0, 'the restart');
    await until(() => confirmed.every((n) => received.has(n)), 'every confirmed record');
    expect(confirmed.length).toBeGreaterThan(1990);
    await sub.close();
    // A reader from earliest after the crash finds every confirmed record too.
    const again = new Set<number>();
    const late = t.subscribe({ from: 'earliest' }, (m) => void again.add((m.body as { n: number }).n));
    await until(() => confirmed.every((n) => again.has(n)), 'every confirmed record, read again');
    await late.close();
  });
});
