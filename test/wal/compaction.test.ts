// Proves compaction by key record by record: after compacting, a topic replays exactly the
// newest record of every key, at its original offset, with tombstones kept until
// tombstoneRetentionMs and then removed; other logs sharing the segments are untouched; the
// segment being written is never rewritten; the result survives a restart.
import { describe, expect, it } from 'vitest';
import type { LogRecord } from '../../src/wal/actor-storage.js';
import { Wal } from '../../src/wal/wal.js';
import { collect, tempDir, text } from './helpers.js';

const show = (r: LogRecord) => `${r.offset}:${Buffer.from(r.key ?? []).toString()}=${r.value === null ? '<tombstone>' : Buffer.from(r.value).toString()}`;

describe('wal compaction', () => {
  it('wal compaction - keeps the newest record per key and removes expired tombstones', async () => {
    const dir = tempDir();
    let now = 1_000_000;
    const wal = await Wal.open(dir, { segmentBytesMax: 4096, retentionCheckIntervalMs: 0, nowMs: () => now });
    const topic = await wal.openLog('topic:kv/0', { kind: 'topic', compact: true, tombstoneRetentionMs: 10_000 });
    const plain = await wal.openLog('topic:plain/0', { kind: 'topic' });
    // A model of what the log must hold after compaction: key -> newest offset and value.
    const model = new Map<string, { offset: number; value: string | null }>();
    let step = 0;
    const put = async (key: string, value: string | null, batch = 1) => {
      const records = Array.from({ length: batch }, (_, i) => ({ key: Buffer.from(key), value: value === null ? null : Buffer.from(`${value}.${i}`.padEnd(60, '.')), timestampMs: now }));
      const { lastOffset } = await topic.append(records);
      model.set(key, { offset: lastOffset, value: value === null ? null : `${value}.${batch - 1}`.padEnd(60, '.') });
      await plain.append([text(`p${step++}`)]);
    };
    for (let round = 0; round < 12; round++) {
      for (let k = 0; k < 8; k++) await put(`k${k}`, `v${round}-${k}`, 1 + ((round + k) % 3));
    }
    await put('k3', null); // delete k3
    await put('k5', null);
    await put('k5', 'back'); // and k5 comes back
    for (let i = 0; i < 20; i++) await plain.append([text(`filler${i}`.padEnd(200, '.'))]); // seal the rest
    const plainBefore = (await collect(plain.replay())).map(show);
    const activeBefore = wal.segments()[wal.segments().length - 1]!;

    const result = await wal.compact();
    expect(result.segmentsRewritten).toBeGreaterThan(0);
    expect(result.recordsRemoved).toBeGreaterThan(100);
    expect(result.bytesAfter).toBeLessThan(result.bytesBefore);
    const expected = [...model.entries()].sort((a, b) => a[1].offset - b[1].offset).map(([key, m]) => `${m.offset}:${key}=${m.value ?? '<tombstone>'}`);
    expect((await collect(topic.replay())).map(show)).toEqual(expected);
    expect((await collect(plain.replay())).map(show)).toEqual(plainBefore);
    expect(wal.segments()[wal.segments().length - 1]).toBe(activeBefore);

    // Later, the tombstone has outlived tombstoneRetentionMs: it goes too.
    now += 20_000;
    await wal.compact();
    const withoutTombstones = expected.filter((line) => !line.endsWith('<tombstone>'));
    expect((await collect(topic.replay())).map(show)).toEqual(withoutTombstones);
    await wal.close();

    const reopened = await Wal.open(dir, { segmentBytesMax: 4096 });
    const again = await reopened.openLog('topic:kv/0', { kind: 'topic', compact: true, tombstoneRetentionMs: 10_000 });
    expect((await collect(again.replay())).map(show)).toEqual(withoutTombstones);
    expect((await collect((await reopened.openLog('topic:plain/0', { kind: 'topic' })).replay())).map(show)).toEqual(plainBefore);
    // Offsets go on after the highest ever handed out, gaps or not.
    expect((await again.append([{ key: Buffer.from('k0'), value: Buffer.from('new') }])).baseOffset).toBe(model.get('k5')!.offset + 1);
    await reopened.close();
  });

  it('wal compaction - the records of the segment being written are never removed', async () => {
    const dir = tempDir();
    const wal = await Wal.open(dir, { retentionCheckIntervalMs: 0 });
    const topic = await wal.openLog('topic:c/0', { kind: 'topic', compact: true });
    for (let i = 0; i < 10; i++) await topic.append([{ key: Buffer.from('same'), value: Buffer.from(`v${i}`) }]);
    const result = await wal.compact();
    expect(result.segmentsRewritten).toBe(0);
    expect((await collect(topic.replay())).length).toBe(10);
    await wal.close();
  });
});
