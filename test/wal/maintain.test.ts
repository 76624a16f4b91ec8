// Proves one maintenance pass (Wal.maintain, MemoryStorage.maintain): retention, reclaiming dead
// batches, then compaction;
// and that a log's `removals` grows when a pass removed its records (what a topic partition's
// tail cache watches: once per segment rewritten or deletion), and stays put otherwise.
import { describe, expect, it } from 'vitest';
import { MemoryStorage } from '../../src/storage/memory-storage.js';
import { Wal } from '../../src/wal/wal.js';
import { collect, tempDir } from './helpers.js';

const record = (key: string, i: number) => ({ key: Buffer.from(key), value: Buffer.from(`${key}-${i}`.padEnd(100, '.')) });

describe('wal maintenance', () => {
  for (const kind of ['wal', 'memory'] as const) {
    it(`wal maintenance (${kind}) - maintain() runs retention, reclaim and compaction; a log's removals grows only when a pass removed its records`, async () => {
      const storage = kind === 'wal' ? await Wal.open(tempDir(), { segmentBytesMax: 4096, retentionCheckIntervalMs: 0 }) : await MemoryStorage.open({ segmentBytesMax: 4096 });
      const compacted = await storage.openLog('topic:kv/0', { kind: 'topic', compact: true });
      const trimmed = await storage.openLog('topic:old/0', { kind: 'topic', retentionBytes: 4096 });
      const untouched = await storage.openLog('topic:all/0', { kind: 'topic' });
      expect([compacted.removals, trimmed.removals, untouched.removals]).toEqual([0, 0, 0]);
      for (let i = 0; i < 120; i++) {
        await compacted.append([record(`k${i % 4}`, i)]);
        await trimmed.append([record('t', i)]);
        await untouched.append([record('u', i)]);
      }
      // Nothing of `all/0` may go, so every segment is pinned: retention deletes nothing. Reclaim
      // may take a prefix of `old/0` (past its 4 KiB) where enough of a segment is dead.
      const first = await storage.maintain();
      expect(first.retention.segmentsDeleted).toBe(0);
      expect(first.compaction.recordsRemoved).toBeGreaterThan(0);
      const afterFirst = compacted.removals!;
      expect(afterFirst).toBeGreaterThan(0);
      expect(untouched.removals).toBe(0);
      const trimmedAfterFirst = trimmed.removals!;
      expect(trimmedAfterFirst > 0).toBe(first.reclaim.batchesRemoved > 0);
      const trimmedLeft = await collect(trimmed.replay());
      expect(trimmedLeft.map((r) => r.offset)).toEqual(Array.from({ length: 120 - trimmed.startOffset }, (_, i) => trimmed.startOffset + i));
      expect(trimmedLeft.reduce((sum, r) => sum + r.value!.byteLength, 0)).toBeGreaterThanOrEqual(4096 - 100);
      const survivors = await collect(compacted.replay());
      const newest = new Map(survivors.map((r) => [Buffer.from(r.key!).toString(), r.offset]));
      expect([...newest.values()].sort((a, b) => a - b).slice(-4)).toEqual([116, 117, 118, 119]);
      // Compaction shrank segments after reclaim looked at them: a later pass may reclaim more of
      // `old/0`, until nothing is left to take.
      let passes = 0;
      while ((await storage.maintain()).reclaim.batchesRemoved > 0) expect(++passes).toBeLessThan(5);
      const trimmedSettled = trimmed.removals!;
      // A pass with nothing new to remove leaves the counts alone.
      const last = await storage.maintain();
      expect(last.compaction.recordsRemoved).toBe(0);
      expect(last.reclaim.batchesRemoved).toBe(0);
      expect([compacted.removals, trimmed.removals, untouched.removals]).toEqual([afterFirst, trimmedSettled, 0]);
      expect((await collect(untouched.replay())).map((r) => r.offset)).toEqual(Array.from({ length: 120 }, (_, i) => i));
      await storage.close();
    });
  }
});
