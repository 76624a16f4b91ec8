// Proves memory-only mode: MemoryStorage says it is not durable, runs the WAL's code path
// (offsets, acknowledgements, snapshots, typed errors) with no file on disk, and keeps nothing
// across instances (a process restart).
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { MemoryStorage } from '../../src/storage/memory-storage.js';

describe('memory storage', () => {
  it('memory storage - behaves like the WAL in memory and says it is not durable', async () => {
    const storage = await MemoryStorage.open({ segmentBytesMax: 4096 });
    expect(storage.durable).toBe(false);
    const queue = await storage.openLog('queue:m', { kind: 'queue' });
    for (let i = 0; i < 50; i++) await queue.append([{ value: Buffer.from(`m${i}`.padEnd(200, '.')) }]);
    await queue.acknowledge(Array.from({ length: 40 }, (_, i) => i));
    const left: string[] = [];
    for await (const r of queue.replay()) left.push(Buffer.from(r.value!).toString().replace(/\.+$/, ''));
    expect(left).toEqual(Array.from({ length: 10 }, (_, i) => `m${40 + i}`));
    expect(storage.wal.segments().length).toBeGreaterThan(1);
    expect((await storage.wal.enforceRetention()).segmentsDeleted).toBeGreaterThan(0);
    await queue.writeSnapshot({ offset: 3, state: Buffer.from('s') });
    expect((await queue.readSnapshot())?.offset).toBe(3);
    await expect(queue.append([{ value: 'x' as never }])).rejects.toMatchObject({ code: 'BATON_INVALID_ARGUMENT' });
    expect(existsSync(storage.wal.dataDir)).toBe(false);
    await storage.close();
    await expect(queue.append([{ value: null }])).rejects.toMatchObject({ code: 'BATON_CLOSED' });

    const restarted = await MemoryStorage.open();
    const fresh = await restarted.openLog('queue:m', { kind: 'queue' });
    expect(fresh.nextOffset).toBe(0);
    await restarted.close();
  });

  it('memory storage - two storages in one process are independent (no shared lock or files)', async () => {
    const a = await MemoryStorage.open();
    const b = await MemoryStorage.open();
    await (await a.openLog('x')).append([{ value: Buffer.from('a') }]);
    expect((await b.openLog('x')).nextOffset).toBe(0);
    await a.close();
    await b.close();
  });
});
