// Proves that the WAL's file count follows live data too: the small segments reclaim leaves (a
// topic kept forever beside a busy queue) are merged into few files, every record still reads
// back exactly, before and after a restart; a merge a crash interrupted after its commit is
// finished by recovery (no record lost, none twice), and one interrupted before it leaves nothing.
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { planMerges } from '../../src/wal/merge.js';
import { Wal } from '../../src/wal/wal.js';
import { collect, tempDir, text, values } from './helpers.js';

const SEGMENT = 8192;
const pad = (s: string) => s.padEnd(200, '.');
const open = (dir: string) => Wal.open(dir, { segmentBytesMax: SEGMENT, retentionCheckIntervalMs: 0 });
const segmentFiles = (dir: string) => readdirSync(path.join(dir, 'wal')).filter((name) => /^\d{20}\.log$/.test(name)).sort();

/** A forever topic gets one record per ~segment of consumed queue traffic: reclaim leaves one small segment each. */
async function churn(wal: Wal, topicRecords: number): Promise<string[]> {
  const queue = await wal.openLog('queue:busy', { kind: 'queue' });
  const topic = await wal.openLog('topic:forever/0', { kind: 'topic' });
  const kept: string[] = [];
  for (let t = 0; t < topicRecords; t++) {
    kept.push(`kept-${t}`);
    await topic.append([text(`kept-${t}`)]);
    const offsets: number[] = [];
    for (let i = 0; i < 40; i++) offsets.push((await queue.append([text(pad(`m${t}-${i}`))])).baseOffset);
    await queue.acknowledge(offsets);
  }
  return kept;
}

describe('wal segment merge', () => {
  it('wal merge - the small segments reclaim leaves become few files; every record reads back, after a restart too', async () => {
    const dir = tempDir();
    const wal = await open(dir);
    const kept = await churn(wal, 60);
    const reclaimed = await wal.reclaim();
    expect(reclaimed.segmentsRewritten + reclaimed.segmentsDeleted).toBeGreaterThan(30);
    const before = wal.segments().length;
    expect(before).toBeGreaterThan(30);
    const merged = await wal.mergeSegments();
    expect(merged.segmentsMerged).toBeGreaterThan(30);
    const after = wal.segments().length;
    expect(after).toBeLessThanOrEqual(4);
    expect(segmentFiles(dir)).toHaveLength(after);
    const topic = await wal.openLog('topic:forever/0', { kind: 'topic' });
    expect(await values(topic.replay())).toEqual(kept);
    expect(await values((await wal.openLog('queue:busy', { kind: 'queue' })).replay())).toEqual([]);
    // Reads by offset find the moved batches (the directory's rows follow them).
    expect(await values(topic.replay({ fromOffset: 41 }))).toEqual(kept.slice(41));
    // Nothing left to merge: a second pass does nothing.
    expect((await wal.mergeSegments()).segmentsMerged).toBe(0);
    await wal.close();

    const reopened = await open(dir);
    const again = await reopened.openLog('topic:forever/0', { kind: 'topic' });
    expect((await collect(again.replay())).map((r) => r.offset)).toEqual(kept.map((_, i) => i));
    expect(await values(again.replay())).toEqual(kept);
    // Offsets and LSNs go on after the merged ones.
    expect((await again.append([text('after')])).baseOffset).toBe(kept.length);
    await reopened.close();
  });

  it('wal merge - a merge committed before a crash is finished by recovery: no record lost, none twice', async () => {
    const dir = tempDir();
    const wal = await open(dir);
    const kept = await churn(wal, 30);
    await wal.reclaim();
    const runs = planMerges(wal.segments(), SEGMENT);
    expect(runs.length).toBeGreaterThan(0);
    const run = runs[0]!;
    expect(run.length).toBeGreaterThanOrEqual(3);
    const paths = run.map((segment) => segment.path);
    const last = run[run.length - 1]!.baseLsn;
    await wal.close();
    // The state a crash leaves between the commit and the end: the merged file under its commit
    // name, the first segment and the last one still there, the ones between already deleted.
    const merged = Buffer.concat(paths.map((file) => readFileSync(file)));
    writeFileSync(`${paths[0]}.merge-${String(last).padStart(20, '0')}`, merged);
    for (const file of paths.slice(1, -1)) rmSync(file);

    const reopened = await open(dir);
    expect(reopened.stats().recovery.mergesCompleted).toBe(1);
    expect(segmentFiles(dir)).not.toContain(path.basename(paths[paths.length - 1]!));
    const topic = await reopened.openLog('topic:forever/0', { kind: 'topic' });
    expect(await values(topic.replay())).toEqual(kept);
    expect(readdirSync(path.join(dir, 'wal')).filter((name) => name.includes('.merge-'))).toEqual([]);
    await reopened.close();
  });

  it('wal merge - a merge interrupted before its commit leaves the segments as they were', async () => {
    const dir = tempDir();
    const wal = await open(dir);
    const kept = await churn(wal, 20);
    await wal.reclaim();
    const run = planMerges(wal.segments(), SEGMENT)[0]!;
    const files = segmentFiles(dir);
    await wal.close();
    // A half-written merge: its temporary file only.
    writeFileSync(`${run[0]!.path}.tmp`, Buffer.from('half a merged segment'));
    const reopened = await open(dir);
    expect(reopened.stats().recovery.mergesCompleted).toBe(0);
    expect(segmentFiles(dir)).toEqual(files);
    expect(readdirSync(path.join(dir, 'wal')).filter((name) => name.endsWith('.tmp'))).toEqual([]);
    expect(await values((await reopened.openLog('topic:forever/0', { kind: 'topic' })).replay())).toEqual(kept);
    await reopened.close();
  });

  it('wal merge - runs are adjacent sealed segments under half the segment size, within one segment size together', () => {
    const seg = (size: number, sealed = true) => ({ size, sealed }) as never;
    const sizes = (runs: { size: number }[][]) => runs.map((run) => run.map((s) => s.size));
    // The newest segment (last) is never merged; a large one breaks a run.
    expect(sizes(planMerges([seg(1000), seg(1000), seg(5000), seg(1000), seg(1000), seg(1000), seg(10, false)], 8192))).toEqual([
      [1000, 1000],
      [1000, 1000, 1000],
    ]);
    // A run closes before it would pass the segment size.
    expect(sizes(planMerges([seg(3000), seg(3000), seg(3000), seg(3000), seg(1)], 8192))).toEqual([
      [3000, 3000],
      [3000, 3000],
    ]);
    expect(planMerges([seg(1000), seg(1)], 8192)).toEqual([]);
  });
});
