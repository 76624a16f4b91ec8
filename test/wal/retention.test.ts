// Proves retention record by record: whole sealed segments go, oldest first, only when every log
// in them has released them (topics by bytes or time, queues by acknowledgements, state logs by
// snapshots; logs not opened pin everything); what remains replays exactly, offsets survive the
// deletion of every record of a log, and the segment being written is never deleted.
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Wal } from '../../src/wal/wal.js';
import { collect, tempDir, text } from './helpers.js';

const SEGMENT = 4096;
const pad = (s: string) => s.padEnd(300, '.');

function segmentCount(dir: string): number {
  return readdirSync(path.join(dir, 'wal')).filter((n) => n.endsWith('.log')).length;
}

describe('wal retention', () => {
  it('wal retention - by bytes: oldest segments go while the topic keeps at least retentionBytes', async () => {
    const dir = tempDir();
    const wal = await Wal.open(dir, { segmentBytesMax: SEGMENT, retentionCheckIntervalMs: 0 });
    const topic = await wal.openLog('topic:b/0', { kind: 'topic', retentionBytes: 10_000 });
    for (let i = 0; i < 200; i++) await topic.append([text(pad(`r${i}`))]);
    const before = wal.segments().length;
    const result = await wal.enforceRetention();
    expect(result.segmentsDeleted).toBeGreaterThan(0);
    expect(wal.segments().length).toBe(before - result.segmentsDeleted);
    expect(segmentCount(dir)).toBe(wal.segments().length);
    const kept = wal.segments().reduce((sum, s) => sum + (s.logs.get('topic:b/0')?.bytes ?? 0), 0);
    expect(kept).toBeGreaterThanOrEqual(10_000);
    // One more deletion would have gone below the limit.
    expect(kept - wal.segments()[0]!.logs.get('topic:b/0')!.bytes).toBeLessThan(10_000);
    // Record by record: the survivors are exactly offsets startOffset..199, with their values.
    const records = await collect(topic.replay());
    expect(topic.startOffset).toBe(records[0]!.offset);
    expect(records.map((r) => r.offset)).toEqual(Array.from({ length: 200 - topic.startOffset }, (_, i) => topic.startOffset + i));
    for (const r of records) expect(Buffer.from(r.value!).toString()).toBe(pad(`r${r.offset}`));
    await wal.close();
    const reopened = await Wal.open(dir, { segmentBytesMax: SEGMENT });
    const again = await reopened.openLog('topic:b/0', { kind: 'topic', retentionBytes: 10_000 });
    expect((await collect(again.replay())).map((r) => r.offset)).toEqual(records.map((r) => r.offset));
    await reopened.close();
  });

  it('wal retention - by time: segments whose newest record is older than retentionMs go', async () => {
    const dir = tempDir();
    let now = 1_000_000;
    const wal = await Wal.open(dir, { segmentBytesMax: SEGMENT, retentionCheckIntervalMs: 0, nowMs: () => now });
    const topic = await wal.openLog('topic:t/0', { kind: 'topic', retentionMs: 60_000 });
    // Records 0..49 are old (t = 1 000), 50..99 recent (t = 990 000); the cut-off is 940 000.
    for (let i = 0; i < 100; i++) await topic.append([{ value: Buffer.from(pad(`r${i}`)), timestampMs: i < 50 ? 1_000 : 990_000 }]);
    const result = await wal.enforceRetention();
    expect(result.segmentsDeleted).toBeGreaterThan(0);
    const records = await collect(topic.replay());
    // Every recent record stays; old ones stay only in the segment they share with recent ones.
    expect(records.map((r) => r.offset)).toEqual(Array.from({ length: 100 - topic.startOffset }, (_, i) => topic.startOffset + i));
    expect(topic.startOffset).toBeLessThanOrEqual(50);
    const firstKept = wal.segments()[0]!.logs.get('topic:t/0')!;
    expect(firstKept.maxTimestampMs).toBe(990_000);
    for (const r of records) expect(r.timestampMs).toBe(r.offset < 50 ? 1_000 : 990_000);
    now = 2_000_000; // everything is old now: all sealed segments go
    await wal.enforceRetention();
    expect(wal.segments().length).toBe(1);
    expect(segmentCount(dir)).toBe(1);
    await wal.close();
  });

  it('wal retention - a queue frees exactly its fully acknowledged prefix of segments', async () => {
    const dir = tempDir();
    const wal = await Wal.open(dir, { segmentBytesMax: SEGMENT, retentionCheckIntervalMs: 0 });
    const queue = await wal.openLog('queue:q', { kind: 'queue' });
    const offsets: number[] = [];
    for (let i = 0; i < 120; i++) offsets.push((await queue.append([text(pad(`m${i}`))])).baseOffset);
    const first = wal.segments().length;
    // Acknowledge the first 60 out of order, except message 45.
    const acked = offsets.slice(0, 60).filter((o) => o !== offsets[45]).reverse();
    await queue.acknowledge(acked);
    const result = await wal.enforceRetention();
    expect(result.segmentsDeleted).toBeGreaterThan(0);
    expect(result.reasons.join(' ')).toContain(`offset ${offsets[45]} unacknowledged`);
    // Message 45 pins its segment: the first segment left holds it.
    const firstLeft = wal.segments()[0]!.logs.get('queue:q')!;
    expect(firstLeft.firstOffset).toBeLessThanOrEqual(offsets[45]!);
    expect(firstLeft.lastOffset).toBeGreaterThanOrEqual(offsets[45]!);
    expect(wal.segments().length).toBe(first - result.segmentsDeleted);
    const unacked = (await collect(queue.replay())).map((r) => Buffer.from(r.value!).toString());
    expect(unacked).toEqual([pad('m45'), ...Array.from({ length: 60 }, (_, i) => pad(`m${60 + i}`))]);
    await queue.acknowledge([offsets[45]!]);
    expect((await wal.enforceRetention()).segmentsDeleted).toBeGreaterThan(0);
    await wal.close();
    const reopened = await Wal.open(dir, { segmentBytesMax: SEGMENT });
    const again = await reopened.openLog('queue:q', { kind: 'queue' });
    expect((await collect(again.replay())).map((r) => Buffer.from(r.value!).toString())).toEqual(unacked.slice(1));
    await reopened.close();
  });

  it('wal retention - a segment goes only when every log in it releases it', async () => {
    const dir = tempDir();
    const wal = await Wal.open(dir, { segmentBytesMax: SEGMENT, retentionCheckIntervalMs: 0 });
    const topic = await wal.openLog('topic:x/0', { kind: 'topic', retentionBytes: 1 });
    const state = await wal.openLog('state:s');
    for (let i = 0; i < 60; i++) {
      await topic.append([text(pad(`t${i}`))]);
      if (i % 10 === 0 && i < 30) await state.append([text(`s${i}`)]);
    }
    // The state log has no snapshot: it pins the segments it has records in (the first ones).
    const pinned = await wal.enforceRetention();
    expect(pinned.segmentsDeleted).toBe(0);
    expect(pinned.reasons[0]).toContain('"state:s" has no snapshot');
    await state.writeSnapshot({ offset: state.nextOffset, state: Buffer.from('s') });
    const freed = await wal.enforceRetention();
    expect(freed.segmentsDeleted).toBeGreaterThan(0);
    expect(wal.segments().length).toBe(1); // only the segment being written is left
    expect(freed.reasons.join(' ')).toContain('being written');
    expect(await collect(state.replay())).toEqual([]);
    expect(state.startOffset).toBe(state.nextOffset);
    await wal.close();
    // Offsets outlive the records: the state log continues at 3 after a restart.
    const reopened = await Wal.open(dir, { segmentBytesMax: SEGMENT });
    const again = await reopened.openLog('state:s');
    expect(again.nextOffset).toBe(3);
    expect((await again.append([text('next')])).baseOffset).toBe(3);
    await reopened.close();
  });

  it('wal retention - a log not opened in this process pins its segments', async () => {
    const dir = tempDir();
    const wal = await Wal.open(dir, { segmentBytesMax: SEGMENT, retentionCheckIntervalMs: 0 });
    const topic = await wal.openLog('topic:a/0', { kind: 'topic', retentionBytes: 1 });
    const other = await wal.openLog('topic:other/0', { kind: 'topic', retentionBytes: 1 });
    await other.append([text('one')]);
    for (let i = 0; i < 40; i++) await topic.append([text(pad(`a${i}`))]);
    await wal.close();
    const reopened = await Wal.open(dir, { segmentBytesMax: SEGMENT, retentionCheckIntervalMs: 0 });
    await reopened.openLog('topic:a/0', { kind: 'topic', retentionBytes: 1 });
    const result = await reopened.enforceRetention();
    expect(result.segmentsDeleted).toBe(0);
    expect(result.reasons[0]).toContain('"topic:other/0" has not been opened');
    await reopened.close();
  });
});
