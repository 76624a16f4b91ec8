// Proves group commit and the fsync policies: under 'always', appends from many logs that
// arrive while a sync runs share ONE write and ONE fdatasync, and each confirm comes only after
// the fdatasync covering it; under 'interval' and 'never', confirms come after the write, and
// 'interval' syncs on its timer; per-log order and offsets hold under concurrency.
import { describe, expect, it } from 'vitest';
import { FaultyFileLayer } from '../../src/wal/faulty-file-layer.js';
import { NodeFileLayer, type OpenMode, type WalFile } from '../../src/wal/file-layer.js';
import { Wal } from '../../src/wal/wal.js';
import { LAZY_SYNC_MS } from '../../src/wal/wal-writer.js';
import { collect, tempDir, text, values } from './helpers.js';

/** A file layer that records the order of writes, syncs and the confirms the test observes. */
class TracingFileLayer extends NodeFileLayer {
  readonly events: string[] = [];
  override async open(file: string, mode: OpenMode): Promise<WalFile> {
    const inner = await super.open(file, mode);
    const events = this.events;
    const segment = file.endsWith('.log');
    return {
      path: inner.path,
      async write(buf, offset, length, position) {
        const n = await inner.write(buf, offset, length, position);
        if (segment) events.push('write');
        return n;
      },
      read: (...args) => inner.read(...args),
      async datasync() {
        await inner.datasync();
        if (segment) events.push('datasync');
      },
      sync: () => inner.sync(),
      truncate: (n) => inner.truncate(n),
      size: () => inner.size(),
      close: () => inner.close(),
    };
  }
}

describe('wal group commit', () => {
  it("wal group commit - 'always' covers many appends of many logs with one write and one fdatasync", async () => {
    const dir = tempDir();
    const layer = new TracingFileLayer();
    const wal = await Wal.open(dir, { files: layer });
    const logs = await Promise.all(Array.from({ length: 8 }, (_, i) => wal.openLog(`actor-${i}`)));
    layer.events.length = 0;
    const confirms: Promise<unknown>[] = [];
    // 8 actors x 50 appends issued in the same turn: they arrive together.
    for (let n = 0; n < 50; n++) {
      for (const [i, log] of logs.entries()) {
        confirms.push(log.append([text(`${i}-${n}`)]).then(() => layer.events.push('confirm')));
      }
    }
    await Promise.all(confirms);
    const stats = wal.stats().writer;
    expect(stats.batches).toBe(400);
    // Far fewer syncs than appends; every round is one write then one fdatasync.
    expect(stats.datasyncs).toBe(stats.rounds);
    expect(stats.writes).toBe(stats.rounds);
    expect(stats.rounds).toBeLessThanOrEqual(2);
    // No confirm before the first fdatasync.
    expect(layer.events.indexOf('confirm')).toBeGreaterThan(layer.events.indexOf('datasync'));
    expect(layer.events.indexOf('datasync')).toBeGreaterThan(layer.events.indexOf('write'));
    for (const [i, log] of logs.entries()) {
      expect(await values(log.replay())).toEqual(Array.from({ length: 50 }, (_, n) => `${i}-${n}`));
    }
    await wal.close();
  });

  it('wal group commit - appends arriving during a sync form the next round, in order', async () => {
    const dir = tempDir();
    const wal = await Wal.open(dir);
    const log = await wal.openLog('stream');
    const results: Array<{ baseOffset: number; lastOffset: number }> = [];
    // Four producers, each awaiting its confirm before the next append: a closed loop.
    await Promise.all(
      Array.from({ length: 4 }, async (_, p) => {
        for (let n = 0; n < 30; n++) results.push(await log.append([text(`${p}:${n}`), text(`${p}:${n}b`)]));
      }),
    );
    const stats = wal.stats().writer;
    expect(stats.batches).toBe(120);
    expect(stats.datasyncs).toBeLessThan(120);
    const records = await collect(log.replay());
    expect(records.map((r) => r.offset)).toEqual(Array.from({ length: 240 }, (_, i) => i));
    // Each producer's records appear in its own order, and each append's two records together.
    for (let p = 0; p < 4; p++) {
      const mine = records.map((r) => Buffer.from(r.value!).toString()).filter((v) => v.startsWith(`${p}:`));
      expect(mine).toEqual(Array.from({ length: 30 }, (_, n) => [`${p}:${n}`, `${p}:${n}b`]).flat());
    }
    expect(new Set(results.map((r) => r.baseOffset)).size).toBe(120);
    await wal.close();
  });

  it("wal group commit - 'never' confirms after the write without any fdatasync", async () => {
    const dir = tempDir();
    const layer = new FaultyFileLayer(new NodeFileLayer());
    const wal = await Wal.open(dir, { fsync: 'never', files: layer });
    const log = await wal.openLog('n');
    const before = layer.calls.get('datasync') ?? 0;
    for (let i = 0; i < 20; i++) await log.append([text(`v${i}`)]);
    expect(layer.calls.get('datasync') ?? 0).toBe(before);
    expect(wal.stats().writer.writes).toBe(20);
    await wal.close();
    // A clean close syncs once, so that the clean checkpoint is true.
    expect(layer.calls.get('datasync')).toBe(before + 1);
  });

  it("wal group commit - 'interval' confirms after the write and syncs on its timer", async () => {
    const dir = tempDir();
    const layer = new FaultyFileLayer(new NodeFileLayer());
    const wal = await Wal.open(dir, { fsync: 'interval', fsyncIntervalMs: 20, files: layer });
    const log = await wal.openLog('i');
    const before = layer.calls.get('datasync') ?? 0;
    await log.append([text('a')]);
    expect(layer.calls.get('datasync') ?? 0).toBe(before);
    // The timer's sync happens without further appends.
    await new Promise<void>((resolve) => {
      const poll = setInterval(() => {
        if ((layer.calls.get('datasync') ?? 0) > before) {
          clearInterval(poll);
          resolve();
        }
      }, 5);
    });
    expect(layer.calls.get('datasync')).toBe(before + 1);
    await wal.close();
  });

  it("wal group commit - an acknowledgement does not start an fdatasync of its own under 'always': the next append's covers it, or one LAZY_SYNC_MS later", async () => {
    const dir = tempDir();
    const layer = new TracingFileLayer();
    const wal = await Wal.open(dir, { files: layer });
    const log = await wal.openLog('queue:lazy', { kind: 'queue' });
    await log.append([text('a'), text('b'), text('c')]);
    layer.events.length = 0;
    // Alone, an ack is written at once and confirmed by an fdatasync after LAZY_SYNC_MS.
    const startedAt = performance.now();
    await log.acknowledgeRanges([0, 1]);
    expect(performance.now() - startedAt).toBeGreaterThanOrEqual(LAZY_SYNC_MS - 2);
    expect(layer.events).toEqual(['write', 'datasync']);
    // An ack and then an append: one fdatasync confirms both, and the ack is not held back.
    layer.events.length = 0;
    let ackedAt = 0;
    const acked = log.acknowledgeRanges([1, 2]).then(() => (ackedAt = performance.now()));
    await new Promise((resolve) => setTimeout(resolve, 2));
    const appendAt = performance.now();
    await log.append([text('d')]);
    await acked;
    expect(ackedAt - appendAt).toBeLessThan(LAZY_SYNC_MS);
    expect(layer.events.filter((e) => e === 'datasync')).toEqual(['datasync']);
    // Closing syncs a lazy batch at once (nothing confirmed is lost, nothing waits for the timer).
    layer.events.length = 0;
    const last = log.acknowledgeRanges([2, 3]);
    await wal.close();
    await last;
    const reopened = await Wal.open(dir, { files: layer });
    const again = await reopened.openLog('queue:lazy', { kind: 'queue' });
    expect((await values(again.replay())).map((v) => Buffer.from(v).toString())).toEqual(['d']);
    await reopened.close();
  });

  it('wal group commit - segments roll at segmentBytesMax, each sealed one synced before the next exists', async () => {
    const dir = tempDir();
    const layer = new TracingFileLayer();
    const wal = await Wal.open(dir, { fsync: 'never', segmentBytesMax: 4096, files: layer });
    const log = await wal.openLog('roll');
    layer.events.length = 0; // opening syncs the recovered tail once
    for (let i = 0; i < 100; i++) await log.append([text(`r${i}`.padEnd(100, '.'))]);
    const segments = wal.segments();
    expect(segments.length).toBeGreaterThan(3);
    for (const segment of segments) expect(segment.size).toBeLessThanOrEqual(4096);
    expect(segments.slice(0, -1).every((s) => s.sealed)).toBe(true);
    // Under 'never' the only fdatasyncs are the seals.
    expect(layer.events.filter((e) => e === 'datasync').length).toBe(segments.length - 1);
    expect((await values(log.replay())).length).toBe(100);
    await wal.close();
  });
});
