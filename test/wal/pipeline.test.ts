// Proves that the writer overlaps round N+1's write with round N's fdatasync without giving up
// anything: a batch written while an fdatasync runs is confirmed only after the NEXT fdatasync
// (the first one that started after its write ended); confirms keep their order; and a failure
// in either lane fails everything not yet confirmed, including a round whose own fdatasync then
// succeeds. The fdatasyncs are held open by a gate, so every interleaving here is forced.
import { describe, expect, it } from 'vitest';
import { NodeFileLayer, type OpenMode, type WalFile } from '../../src/wal/file-layer.js';
import { Wal } from '../../src/wal/wal.js';
import { tempDir, text, values } from './helpers.js';

interface HeldSync {
  release: () => void;
  fail: (error: Error) => void;
}

/** Holds every fdatasync of a segment until the test releases it; fails writes on command. */
class GatedFileLayer extends NodeFileLayer {
  readonly events: string[] = [];
  readonly held: HeldSync[] = [];
  hold = false;
  failNextWrite = false;

  override async open(file: string, mode: OpenMode): Promise<WalFile> {
    const inner = await super.open(file, mode);
    if (!file.endsWith('.log')) return inner;
    const layer = this;
    return {
      path: inner.path,
      async write(buf, offset, length, position) {
        if (layer.failNextWrite) {
          layer.failNextWrite = false;
          layer.events.push('write-failed');
          throw Object.assign(new Error('EIO: i/o error, write'), { code: 'EIO' });
        }
        const n = await inner.write(buf, offset, length, position);
        layer.events.push('write');
        return n;
      },
      read: (...args) => inner.read(...args),
      async datasync() {
        layer.events.push('sync-start');
        if (layer.hold) {
          await new Promise<void>((resolve, reject) => layer.held.push({ release: resolve, fail: reject }));
        }
        await inner.datasync();
        layer.events.push('sync-end');
      },
      sync: () => inner.sync(),
      truncate: (n) => inner.truncate(n),
      size: () => inner.size(),
      close: () => inner.close(),
    };
  }
}

async function until(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 2000 && !condition(); i++) await new Promise((resolve) => setTimeout(resolve, 1));
  expect(condition()).toBe(true);
}

function track<T>(promise: Promise<T>): { settled: 'pending' | 'confirmed' | 'failed'; error?: { code?: string }; promise: Promise<void> } {
  const state: { settled: 'pending' | 'confirmed' | 'failed'; error?: { code?: string }; promise: Promise<void> } = { settled: 'pending', promise: Promise.resolve() };
  state.promise = promise.then(
    () => {
      state.settled = 'confirmed';
    },
    (error: { code?: string }) => {
      state.settled = 'failed';
      state.error = error;
    },
  );
  return state;
}

async function openGated(): Promise<{ dir: string; layer: GatedFileLayer; wal: Wal }> {
  const dir = tempDir();
  const layer = new GatedFileLayer();
  const wal = await Wal.open(dir, { files: layer });
  layer.events.length = 0;
  layer.hold = true;
  return { dir, layer, wal };
}

describe('wal pipeline', () => {
  it('wal pipeline - round N+1 is written during round N fdatasync and confirmed only after the next one', async () => {
    const { dir, layer, wal } = await openGated();
    const a = await wal.openLog('a');
    const b = await wal.openLog('b');
    const first = track(a.append([text('a0')]));
    await until(() => layer.held.length === 1);
    // Round 2 arrives while round 1's fdatasync runs: it is written now, not after.
    const second = track(b.append([text('b0')]));
    const third = track(a.append([text('a1')]));
    await until(() => layer.events.filter((e) => e === 'write').length === 2);
    expect(layer.events).toEqual(['write', 'sync-start', 'write']);
    expect([first.settled, second.settled, third.settled]).toEqual(['pending', 'pending', 'pending']);
    layer.held.shift()!.release();
    await first.promise;
    // Round 2 was written before round 1's fdatasync ended, but after it started: not covered.
    await until(() => layer.held.length === 1);
    expect([second.settled, third.settled]).toEqual(['pending', 'pending']);
    layer.held.shift()!.release();
    await Promise.all([second.promise, third.promise]);
    expect([first.settled, second.settled, third.settled]).toEqual(['confirmed', 'confirmed', 'confirmed']);
    expect(layer.events).toEqual(['write', 'sync-start', 'write', 'sync-end', 'sync-start', 'sync-end']);
    layer.hold = false;
    await wal.close();
    const reopened = await Wal.open(dir);
    expect(await values((await reopened.openLog('a')).replay())).toEqual(['a0', 'a1']);
    expect(await values((await reopened.openLog('b')).replay())).toEqual(['b0']);
    await reopened.close();
  });

  it('wal pipeline - confirms of one log keep their order across overlapping rounds', async () => {
    const dir = tempDir();
    const wal = await Wal.open(dir);
    const log = await wal.openLog('ordered');
    const order: number[] = [];
    // Large appends start rounds early; many of them overlap an fdatasync.
    const big = Buffer.alloc(64 * 1024, 0x62);
    await Promise.all(Array.from({ length: 64 }, (_, i) => log.append([{ value: big }, text(`m${i}`)]).then((r) => order.push(r.baseOffset))));
    expect(order).toEqual(Array.from({ length: 64 }, (_, i) => i * 2));
    const stats = wal.stats().writer;
    expect(stats.rounds).toBeGreaterThan(1);
    expect(stats.datasyncs).toBeLessThanOrEqual(stats.rounds);
    await wal.close();
  });

  it('wal pipeline - an fdatasync failure fails the round written behind it too', async () => {
    const { layer, wal } = await openGated();
    const log = await wal.openLog('f');
    const first = track(log.append([text('x0')]));
    await until(() => layer.held.length === 1);
    const second = track(log.append([text('x1')]));
    await until(() => layer.events.filter((e) => e === 'write').length === 2);
    layer.held.shift()!.fail(Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' }));
    await Promise.all([first.promise, second.promise]);
    expect([first.settled, second.settled]).toEqual(['failed', 'failed']);
    expect(first.error?.code).toBe('BATON_STORAGE_FAILED');
    expect(second.error?.code).toBe('BATON_STORAGE_FAILED');
    // No fdatasync ever started for round 2: nothing after the failure is confirmed.
    expect(layer.events.filter((e) => e === 'sync-start').length).toBe(1);
    const late = track(log.append([text('x2')]));
    await late.promise;
    expect(late.error?.code).toBe('BATON_STORAGE_FAILED');
    layer.hold = false;
    await wal.close();
  });

  it('wal pipeline - a write failure during an fdatasync fails that fdatasync round as well', async () => {
    const { dir, layer, wal } = await openGated();
    const log = await wal.openLog('w');
    const first = track(log.append([text('y0')]));
    await until(() => layer.held.length === 1);
    layer.failNextWrite = true;
    const second = track(log.append([text('y1')]));
    await second.promise;
    expect(second.error?.code).toBe('BATON_STORAGE_FAILED');
    // Round 1's fdatasync now succeeds, but the writer has failed: it is not confirmed.
    layer.held.shift()!.release();
    await first.promise;
    expect(first.settled).toBe('failed');
    expect(first.error?.code).toBe('BATON_STORAGE_FAILED');
    layer.hold = false;
    await wal.close();
    // Recovery reads what is really there: the unconfirmed y0 may survive (at-least-once).
    const reopened = await Wal.open(dir);
    expect(await values((await reopened.openLog('w')).replay())).toEqual(['y0']);
    await reopened.close();
  });
});
