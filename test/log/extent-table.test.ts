// Proves a destination's extent table and its writer: a reader (here and on another thread,
// while the writer changes the table under it) always gets a consistent copy — every listed
// extent with the fill and flags the writer gave it, never a torn entry; extents start small and
// double; a publish rolled back frees what it took and leaves the table as it was; an extent is
// freed only with its current generation, and the current one only when nothing was written
// since the actor looked.
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { Arena, ARENA_GROW_BYTES } from '../../src/log/arena.js';
import { ExtentAllocator } from '../../src/log/extent-allocator.js';
import { EXTENT_SEALED, ExtentTableWriter, readExtentTable, readNextOffset } from '../../src/log/extent-table.js';
import { EXTENT_BYTES_FIRST, LogWriter } from '../../src/log/log-writer.js';

function setup() {
  const arena = Arena.create(4 * ARENA_GROW_BYTES);
  const allocator = new ExtentAllocator(arena);
  const table = new ExtentTableWriter(arena, allocator);
  return { arena, allocator, table };
}

describe('extent table', () => {
  it('extent table - lists, fills, seals and removes extents; grows past its first capacity', () => {
    const { arena, allocator, table } = setup();
    expect(readExtentTable(arena, table.header)).toEqual([]);
    expect(readNextOffset(arena, table.header)).toBe(0);
    const addresses: number[] = [];
    for (let i = 0; i < 600; i++) {
      const address = allocator.allocate(4096);
      addresses.push(address);
      expect(table.add(address)).toBe(i + 1);
      table.setFill(address, i);
    }
    table.seal(addresses[5]!);
    table.remove(addresses[0]!);
    const entries = readExtentTable(arena, table.header);
    expect(entries.length).toBe(599);
    const byAddress = new Map(entries.map((e) => [e.address, e]));
    expect(byAddress.has(addresses[0]!)).toBe(false);
    expect(byAddress.get(addresses[5]!)).toEqual({ address: addresses[5], fill: 5, generation: 6, flags: EXTENT_SEALED });
    expect(byAddress.get(addresses[599]!)).toEqual({ address: addresses[599], fill: 599, generation: 600, flags: 0 });
  });

  it('extent table - a reader on another thread never sees a torn table while the writer changes it', async () => {
    const { arena, allocator, table } = setup();
    const stop = new Int32Array(new SharedArrayBuffer(4));
    const worker = new Worker(
      `
      const { workerData, parentPort } = require('node:worker_threads');
      Promise.all([import(workerData.tableModule), import(workerData.arenaModule)]).then(([{ readExtentTable }, { Arena }]) => {
        const arena = new Arena(workerData.sab);
        const stop = new Int32Array(workerData.stop);
        let reads = 0, entries = 0, bad = 0;
        while (Atomics.load(stop, 0) === 0) {
          for (const e of readExtentTable(arena, workerData.header)) {
            // Each change is one locked step: an entry is new (fill 0), filled (fill == its
            // generation), then sealed if its generation is even. A torn read mixes two entries.
            const fillOk = e.fill === 0 || e.fill === e.generation;
            const flagsOk = e.flags === 0 || (e.flags === 1 && e.generation % 2 === 0 && e.fill === e.generation);
            if (!fillOk || !flagsOk || e.address % 4096 !== 0) bad++;
            entries++;
          }
          reads++;
        }
        parentPort.postMessage({ reads, entries, bad });
      });`,
      {
        eval: true,
        workerData: {
          tableModule: new URL('../../dist/src/log/extent-table.js', import.meta.url).href,
          arenaModule: new URL('../../dist/src/log/arena.js', import.meta.url).href,
          sab: arena.sab,
          header: table.header,
          stop: stop.buffer,
        },
      },
    );
    const result = new Promise<{ reads: number; entries: number; bad: number }>((resolve) => worker.once('message', resolve));
    const live: number[] = [];
    const deadline = Date.now() + 500;
    while (Date.now() < deadline) {
      for (let i = 0; i < 50; i++) {
        const address = allocator.allocate(4096);
        const generation = table.add(address);
        table.setFill(address, generation);
        if (generation % 2 === 0) table.seal(address);
        live.push(address);
      }
      while (live.length > 300) {
        const address = live.splice(live.length % 7, 1)[0]!;
        table.remove(address);
        allocator.free(address);
      }
      await new Promise((resolve) => setImmediate(resolve));
    }
    Atomics.store(stop, 0, 1);
    const { reads, entries, bad } = await result;
    await worker.terminate();
    expect(reads).toBeGreaterThan(10);
    expect(entries).toBeGreaterThan(0);
    expect(bad).toBe(0);
    expect(readExtentTable(arena, table.header).length).toBe(live.length);
  });

  it('log writer - extents double from 4 KiB; a rollback frees what the publish took and unseals the extent it started in', () => {
    const { arena, allocator, table } = setup();
    const writer = new LogWriter(arena, allocator, table);
    writer.mark();
    expect(writer.reserve(100)).toBe(true);
    expect(allocator.sizeOf(writer.extent)).toBe(EXTENT_BYTES_FIRST);
    writer.pos += 4000;
    writer.commit();
    const first = writer.extent;
    writer.mark();
    expect(writer.reserve(200)).toBe(true);
    expect(writer.extent).not.toBe(first);
    expect(allocator.sizeOf(writer.extent)).toBe(2 * EXTENT_BYTES_FIRST);
    writer.pos += 100;
    const before = allocator.allocatedBytes;
    writer.rollback();
    expect(writer.extent).toBe(first);
    expect(writer.pos).toBe(first + 4000);
    expect(allocator.allocatedBytes).toBe(before - 2 * EXTENT_BYTES_FIRST);
    expect(writer.takeSealed()).toEqual([]);
    expect(readExtentTable(arena, table.header)).toEqual([{ address: first, fill: 4000, generation: 1, flags: 0 }]);
  });

  it('log writer - frees an extent only with its generation; the current one only when nothing was written since', () => {
    const { arena, allocator, table } = setup();
    const writer = new LogWriter(arena, allocator, table);
    writer.mark();
    writer.reserve(100);
    writer.pos += 3000;
    writer.reserve(2000);
    writer.pos += 100;
    writer.commit();
    const sealed = writer.takeSealed();
    expect(sealed.length).toBe(1);
    const current = writer.extent;
    expect(writer.freeExtent(sealed[0]!.address, sealed[0]!.generation + 1, -1)).toBe(false);
    expect(writer.freeExtent(sealed[0]!.address, sealed[0]!.generation, -1)).toBe(true);
    expect(writer.freeExtent(current, writer.generation, 50)).toBe(false);
    expect(writer.freeExtent(current, writer.generation, 100)).toBe(true);
    expect(writer.extent).toBe(-1);
    expect(allocator.allocatedBytes).toBe(2 * 4096);
    expect(readExtentTable(arena, table.header)).toEqual([]);
  });
});
