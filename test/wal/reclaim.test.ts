// Proves that disk use follows live data in a shared WAL: logs that keep a little (a topic kept
// forever, a state log, one old unacknowledged message) no longer pin every later segment. Dead
// batches are reclaimed from the middle of the WAL; what is live replays exactly, before and after
// a restart; an acknowledgement is never dropped while the message it settles is on disk; offsets
// go on after the highest ever handed out.
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { NodeFileLayer, type OpenMode } from '../../src/wal/file-layer.js';
import { Wal } from '../../src/wal/wal.js';
import { collect, tempDir, text, values } from './helpers.js';

const SEGMENT = 8192;
const pad = (s: string) => s.padEnd(200, '.');

function walBytes(dir: string): number {
  return readdirSync(path.join(dir, 'wal')).reduce((sum, name) => sum + statSync(path.join(dir, 'wal', name)).size, 0);
}

describe('wal reclaim', () => {
  it('wal reclaim - a consumed queue beside a forever topic, a state log and an old unacked message stays flat on disk', async () => {
    const dir = tempDir();
    const open = () => Wal.open(dir, { segmentBytesMax: SEGMENT, retentionCheckIntervalMs: 0 });
    const wal = await open();
    const queue = await wal.openLog('queue:work', { kind: 'queue' });
    const topic = await wal.openLog('topic:forever/0', { kind: 'topic' });
    const state = await wal.openLog('exchange:x', { kind: 'state' });
    // A little data kept forever, a state log with a snapshot, and one message never acknowledged.
    await topic.append([text('kept-0'), text('kept-1')]);
    const old = await queue.append([text(pad('old unacked'))]);
    for (let i = 0; i < 5; i++) await state.append([text(`bind ${i}`)]);
    await state.writeSnapshot({ offset: 5, state: Buffer.from('table of 5') });
    await state.append([text('bind 5')]);

    // Churn: 4,000 messages of 200 B (~100 segments) consumed in order, maintenance every 200.
    const sizes: number[] = [];
    let unacked: number[] = [];
    for (let i = 0; i < 4000; i++) {
      const { baseOffset } = await queue.append([text(pad(`m${i}`))]);
      unacked.push(baseOffset);
      if (unacked.length === 10) {
        await queue.acknowledge(unacked);
        unacked = [];
      }
      if (i % 200 === 199) {
        await wal.maintain();
        sizes.push(walBytes(dir));
      }
    }
    const written = wal.stats().nextLsn;
    expect(written).toBeGreaterThan(4000);
    // Flat: after the first passes, never more than a few segments, while ~100 were written.
    const steady = sizes.slice(2);
    expect(Math.max(...steady)).toBeLessThan(6 * SEGMENT);
    expect(Math.max(...steady) - Math.min(...steady)).toBeLessThan(4 * SEGMENT);

    // An old unacknowledged message pins nothing but itself: the acks of later messages went
    // with them. Sealed segments hold the old message and the few logs' live batches only.
    await wal.maintain();
    const sealed = wal.segments().slice(0, -1);
    expect(sealed.reduce((n, segment) => n + (segment.logs.get('queue:work')?.batches ?? 0), 0)).toBeLessThanOrEqual(2);

    const expectLive = async (w: Wal) => {
      const q = await w.openLog('queue:work', { kind: 'queue' });
      const t = await w.openLog('topic:forever/0', { kind: 'topic' });
      const s = await w.openLog('exchange:x', { kind: 'state' });
      // The queue replays exactly its unacknowledged messages: the old one, then the last few.
      expect(await values(q.replay())).toEqual([pad('old unacked'), ...Array.from({ length: 4000 % 10 }, (_, i) => pad(`m${4000 - (4000 % 10) + i}`))]);
      expect((await collect(q.replay()))[0]!.offset).toBe(old.baseOffset);
      expect(await values(t.replay())).toEqual(['kept-0', 'kept-1']);
      expect(await values(s.replay({ fromOffset: 5 }))).toEqual(['bind 5']);
      return q;
    };
    await expectLive(wal);
    await wal.close();

    const reopened = await open();
    const q = await expectLive(reopened);
    // Offsets go on after the highest ever handed out.
    const next = await q.append([text('after restart')]);
    expect(next.baseOffset).toBeGreaterThan(old.baseOffset + 4000);
    await reopened.close();
  });

  it('wal reclaim - an acknowledgement stays while the message it settles is still on disk', async () => {
    const dir = tempDir();
    const wal = await Wal.open(dir, { segmentBytesMax: SEGMENT, retentionCheckIntervalMs: 0 });
    const queue = await wal.openLog('queue:q', { kind: 'queue' });
    const topic = await wal.openLog('topic:t/0', { kind: 'topic' });
    // Segment 0: mostly a topic kept forever (live), a few queue messages (acked later).
    const early: number[] = [];
    for (let i = 0; i < 30; i++) {
      await topic.append([text(pad(`t${i}`))]);
      if (i % 10 === 0) early.push((await queue.append([text(pad(`early${i}`))])).baseOffset);
    }
    // Later segments: queue traffic; the ack of the early messages lands among messages
    // consumed at once, so its segment is mostly dead and is rewritten, while segment 0 (mostly
    // the topic) is not.
    for (let i = 0; i < 200; i++) await queue.append([text(pad(`late${i}`))]);
    for (let i = 0; i < 100; i++) {
      if (i === 40) await queue.acknowledge(early);
      const { baseOffset } = await queue.append([text(pad(`gone${i}`))]);
      await queue.acknowledge([baseOffset]);
    }
    const late = (await collect(queue.replay())).map((r) => r.offset);
    await queue.acknowledge(late.slice(0, 150));
    for (let i = 0; i < 60; i++) await topic.append([text(pad(`fill${i}`))]);
    const firstSegment = wal.segments()[0]!;

    const result = await wal.maintain();
    expect(result.reclaim.segmentsRewritten + result.reclaim.segmentsDeleted).toBeGreaterThan(0);
    // Segment 0 was not rewritten: the early messages are still on disk, settled by their ack.
    expect(wal.segments()[0]).toBe(firstSegment);
    const live = await values(queue.replay());
    expect(live).toEqual(Array.from({ length: 50 }, (_, i) => pad(`late${150 + i}`)));
    await wal.close();

    // The early messages stay settled after a restart: their ack was kept with them, or both went.
    const reopened = await Wal.open(dir, { segmentBytesMax: SEGMENT, retentionCheckIntervalMs: 0 });
    const again = await reopened.openLog('queue:q', { kind: 'queue' });
    expect(await values(again.replay())).toEqual(live);
    const t = await reopened.openLog('topic:t/0', { kind: 'topic' });
    expect((await values(t.replay())).length).toBe(90);
    await reopened.close();
  });

  it('wal reclaim - a topic past its retention loses a prefix from a segment another log pins, and starts later', async () => {
    const dir = tempDir();
    let now = 1_000_000;
    const wal = await Wal.open(dir, { segmentBytesMax: SEGMENT, retentionCheckIntervalMs: 0, nowMs: () => now });
    const queue = await wal.openLog('queue:pin', { kind: 'queue' });
    const topic = await wal.openLog('topic:short/0', { kind: 'topic', retentionMs: 60_000 });
    await queue.append([text('pins segment 0')]);
    for (let i = 0; i < 100; i++) await topic.append([{ value: Buffer.from(pad(`old${i}`)), timestampMs: now }]);
    now += 120_000;
    for (let i = 0; i < 20; i++) await topic.append([{ value: Buffer.from(pad(`new${i}`)), timestampMs: now }]);
    // Retention alone keeps segment 0 (the queue's message) and so everything after it.
    const result = await wal.maintain();
    expect(result.retention.segmentsDeleted).toBe(0);
    expect(result.reclaim.batchesRemoved).toBeGreaterThan(0);
    const kept = await collect(topic.replay());
    expect(kept.every((r) => Buffer.from(r.value!).toString().startsWith('new') || r.offset >= topic.startOffset)).toBe(true);
    expect(topic.startOffset).toBe(kept[0]!.offset);
    expect(topic.startOffset).toBeGreaterThan(0);
    expect(await values(queue.replay())).toEqual(['pins segment 0']);
    await wal.close();
    const reopened = await Wal.open(dir, { segmentBytesMax: SEGMENT, retentionCheckIntervalMs: 0, nowMs: () => now });
    const again = await reopened.openLog('topic:short/0', { kind: 'topic', retentionMs: 60_000 });
    expect(again.startOffset).toBe(kept[0]!.offset);
    expect((await collect(again.replay())).map((r) => r.offset)).toEqual(kept.map((r) => r.offset));
    expect(await values((await reopened.openLog('queue:pin', { kind: 'queue' })).replay())).toEqual(['pins segment 0']);
    await reopened.close();
  });
});

describe('wal reclaim under concurrent reads', () => {
  it('wal reclaim - replays running while segments are rewritten read exactly the live records, never a moved batch', async () => {
    const dir = tempDir();
    // Opening a segment for reading takes a few ms, as on a busy disk: a reader's open that starts
    // before a rewrite renames the new file over the segment ends after it.
    const inner = new NodeFileLayer();
    const slowOpens = new Proxy(inner, {
      get(target, property: keyof NodeFileLayer) {
        if (property === 'open') {
          return async (file: string, mode: OpenMode) => {
            if (mode === 'read' && file.endsWith('.log')) await new Promise((resolve) => setTimeout(resolve, 3));
            return target.open(file, mode);
          };
        }
        const value = target[property];
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const open = () => Wal.open(dir, { segmentBytesMax: SEGMENT, retentionCheckIntervalMs: 0, files: slowOpens });
    const expected: string[] = [];
    for (let round = 0; round < 4; round++) {
      const wal = await open();
      const queue = await wal.openLog('queue:busy', { kind: 'queue' });
      const offsets: number[] = [];
      for (let i = 0; i < 300; i++) offsets.push((await queue.append([text(pad(`r${round}-${i}`))])).baseOffset);
      // Most of each segment dies; one message in five stays, so segments are rewritten, not deleted.
      await queue.acknowledge(offsets.filter((_, i) => i % 5 !== 0));
      for (let i = 0; i < 300; i += 5) expected.push(pad(`r${round}-${i}`));
      await wal.close();
      // A fresh open has no segment open for reading yet: the readers open them while they are
      // being replaced, as an actor replaying its log at start does.
      const again = await open();
      const log = await again.openLog('queue:busy', { kind: 'queue' });
      const readers = Array.from({ length: 4 }, (_, k) => new Promise<string[]>((resolve, reject) => setTimeout(() => values(log.replay()).then(resolve, reject), k)));
      const [reclaimed, ...read] = await Promise.all([again.reclaim(), ...readers]);
      expect(reclaimed.segmentsRewritten).toBeGreaterThan(0);
      for (const r of read) expect(r).toEqual(expected);
      await again.close();
    }
  });
});
