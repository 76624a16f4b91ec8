// Proves one maintenance pass (Wal.maintain, MemoryStorage.maintain): retention, then compaction;
// and that a log's `removals` grows when a pass removed its records (what a topic partition's
// tail cache watches: once per segment rewritten or deletion), and stays put otherwise.
import { describe, expect, it } from 'vitest';
import { MemoryStorage } from '../../src/actor/memory-storage.js';
import { Wal } from '../../src/wal/wal.js';
import { collect, tempDir } from './helpers.js';

const record = (key: string, i: number) => ({ key: Buffer.from(key), value: Buffer.from(`${key}-${i}`.padEnd(100, '.')) });

describe('wal maintenance', () => {
  for (const kind of ['wal', 'memory'] as const) {
    it(`wal maintenance (${kind}) - maintain() runs retention then compaction; a log's removals grows only when a pass removed its records`, async () => {
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
      // Nothing of `all/0` may go, so every segment is pinned: retention deletes nothing.
      const first = await storage.maintain();
      expect(first.retention.segmentsDeleted).toBe(0);
      expect(first.compaction.recordsRemoved).toBeGreaterThan(0);
      const afterFirst = compacted.removals!;
      expect(afterFirst).toBeGreaterThan(0);
      expect([trimmed.removals, untouched.removals]).toEqual([0, 0]);
      const survivors = await collect(compacted.replay());
      const newest = new Map(survivors.map((r) => [Buffer.from(r.key!).toString(), r.offset]));
      expect([...newest.values()].sort((a, b) => a - b).slice(-4)).toEqual([116, 117, 118, 119]);
      // A second pass with nothing new to remove leaves the counts alone.
      const second = await storage.maintain();
      expect(second.compaction.recordsRemoved).toBe(0);
      expect([compacted.removals, trimmed.removals, untouched.removals]).toEqual([afterFirst, 0, 0]);
      expect((await collect(untouched.replay())).map((r) => r.offset)).toEqual(Array.from({ length: 120 }, (_, i) => i));
      await storage.close();
    });
  }
});
