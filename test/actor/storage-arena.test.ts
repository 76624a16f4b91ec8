// Proves a queue's opaque batches through the storage thread's rings: appendArena sends only an
// address and the storage side copies the batch out of the shared arena (a later change to the
// arena does not reach the log); readInto copies bodies back into an arena region, 8-aligned;
// many appends in flight, more than the request ring holds, are confirmed in the order they were
// made; acknowledgeRanges and recordDeliveries travel through the ring (split when long) and heads
// and delivery counts come back through comlink; an address outside the arena, or a service
// without an arena, is a FAILED answer that leaves the service serving. The last test runs the
// real storage thread (dist/workers/storage.js, so `npm run build` first) with the arena in its
// workerData, grows the arena after the thread started, and reopens the WAL to check the bytes.
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { type Remote, transfer, wrap } from 'comlink';
import { afterEach, describe, expect, it } from 'vitest';
import type { ActorLog, ActorStorage, BatchHead } from '../../src/wal/actor-storage.js';
import { MemoryStorage } from '../../src/storage/memory-storage.js';
import { RemoteActorStorage } from '../../src/storage/remote-storage.js';
import { StorageService } from '../../src/storage/storage-service.js';
import { CONTROL_PAIRS_PER_REQUEST, type StorageServiceApi } from '../../src/storage/storage-protocol.js';
import { Arena, ARENA_GROW_BYTES } from '../../src/log/arena.js';
import { allocateRing } from '../../src/ring/index.js';
import { portEndpoint } from '../../src/threads/comlink-port.js';
import { startThread } from '../../src/threads/start-thread.js';
import { Wal } from '../../src/wal/wal.js';
import { tempDir } from '../wal/helpers.js';

const GENERATION = 5;
const cleanups: Array<() => Promise<void>> = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function rings(requestBytes: number) {
  return {
    requests: allocateRing({ capacity: requestBytes, kind: 'single-producer' }),
    responses: allocateRing({ capacity: 1 << 20, kind: 'single-producer' }),
  };
}

/** A StorageService and a host's RemoteActorStorage on this thread, over real rings and a port pair. */
async function wire(options: { arena: Arena | null; requestBytes?: number; storage?: ActorStorage }): Promise<RemoteActorStorage> {
  const storage = options.storage ?? (await MemoryStorage.open());
  const { requests, responses } = rings(options.requestBytes ?? 1 << 16);
  const channel = new MessageChannel();
  const service = new StorageService(storage, { compactionIntervalMs: 0, ...(options.arena === null ? {} : { arena: options.arena.sab }) });
  service.attachHost(0, { requests, responses, port: channel.port2, generation: GENERATION });
  const remote = new RemoteActorStorage({ requests, responses, port: channel.port1, generation: GENERATION }, storage.durable);
  cleanups.push(async () => {
    await remote.close();
    await service.close();
    channel.port1.close();
    channel.port2.close();
  });
  return remote;
}

function newArena(maxBytes = ARENA_GROW_BYTES): Arena {
  const arena = Arena.create(maxBytes);
  arena.grow();
  return arena;
}

/** Writes deterministic bytes (seeded) at arena[address], as a producer would write a queue batch. */
function put(arena: Arena, address: number, length: number, seed: number): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) bytes[i] = (seed * 31 + i * 7) & 0xff;
  arena.ensure(address + length);
  arena.bytes.set(bytes, address);
  return bytes;
}

async function allHeads(log: ActorLog, headBytes: number): Promise<BatchHead[]> {
  const out: BatchHead[] = [];
  for await (const head of log.replayBatchHeads!({ headBytes })) out.push(head);
  return out;
}

describe('storage arena requests', () => {
  it('storage arena - appendArena copies from the arena, readInto copies back, and appends in flight keep their order', async () => {
    const arena = newArena();
    // A small request ring: most of the appends below wait in the host's backlog.
    const storage = await wire({ arena, requestBytes: 4096 });
    const queue = await storage.openLog('queue:a', { kind: 'queue' });
    const sizes = Array.from({ length: 1100 }, (_, i) => 8 + ((i * 37) % 300));
    const counts = sizes.map((_, i) => 1 + (i % 4));
    const bodies: Uint8Array[] = [];
    let address = 0;
    const addresses: number[] = [];
    sizes.forEach((size, i) => {
      addresses.push(address);
      bodies.push(put(arena, address, size, i));
      address += Math.ceil(size / 8) * 8;
    });
    const appended = await Promise.all(sizes.map((size, i) => queue.appendArena!(addresses[i]!, size, counts[i]!, 1_000 + i)));
    let offset = 0;
    appended.forEach((result, i) => {
      expect(result, `append ${i}`).toEqual({ baseOffset: offset, lastOffset: offset + counts[i]! - 1 });
      offset += counts[i]!;
    });
    expect(queue.nextOffset).toBe(offset);
    // The log holds copies: the producer's bytes may change once the append is confirmed.
    arena.bytes.fill(0, 0, address);

    const heads = await allHeads(queue, 4); // more than one comlink chunk
    expect(heads.length).toBe(1100);
    heads.forEach((head, i) => {
      expect(head).toMatchObject({ baseOffset: appended[i]!.baseOffset, count: counts[i], bodyBytes: sizes[i], timestampMs: 1_000 + i, acked: [] });
      expect(head.head).toEqual(bodies[i]!.slice(0, 4));
    });

    // Back into the arena, region by region, until the log's end.
    const region = 1 << 20;
    const regionBytes = 16 * 1024;
    let from = 0;
    let copied = 0;
    for (;;) {
      const read = await queue.readInto!(from, region + 3, regionBytes);
      expect(read.batches.length).toBeGreaterThan(0);
      for (const batch of read.batches) {
        expect(batch.at % 8).toBe(0);
        expect(batch.at + batch.length).toBeLessThanOrEqual(region + 3 + regionBytes);
        expect(batch).toMatchObject({ baseOffset: appended[copied]!.baseOffset, count: counts[copied], length: sizes[copied] });
        expect(arena.bytes.subarray(batch.at, batch.at + batch.length)).toEqual(bodies[copied]);
        copied += 1;
      }
      if (read.next < 0) break;
      from = read.next;
    }
    expect(copied).toBe(1100);
  });

  it('storage arena - acknowledgeRanges and recordDeliveries go through the ring, heads and counts come back', async () => {
    const arena = newArena();
    const storage = await wire({ arena });
    const queue = await storage.openLog('queue:d', { kind: 'queue' });
    const messages = 3 * CONTROL_PAIRS_PER_REQUEST;
    put(arena, 0, 512, 1);
    const { baseOffset } = await queue.appendArena!(0, 512, messages, 7);
    expect(baseOffset).toBe(0);
    // More pairs than one request carries: split in ring order, so the later count still wins.
    const pairs: number[] = [];
    for (let i = 0; i < messages; i++) pairs.push(i, 1);
    pairs.push(5, 9);
    await queue.recordDeliveries!(pairs);
    const counts = await queue.deliveryCounts!();
    expect(counts.length).toBe(messages * 2);
    expect(counts.slice(10, 12)).toEqual([5, 9]);
    await queue.acknowledgeRanges!([0, 10, 20, 30]);
    expect((await queue.deliveryCounts!()).slice(0, 4)).toEqual([10, 1, 11, 1]);
    expect((await allHeads(queue, 0)).map((h) => h.acked)).toEqual([[0, 10, 20, 30]]);
    await queue.acknowledgeRanges!([0, messages]);
    expect(await allHeads(queue, 0)).toEqual([]);
    expect(await queue.deliveryCounts!()).toEqual([]);
    await expect(queue.acknowledgeRanges!([3, 2])).rejects.toMatchObject({ code: 'BATON_INVALID_ARGUMENT' });
  });

  it('storage arena - an address outside the arena, a region too small, or no arena at all is a FAILED answer, and the service goes on', async () => {
    const arena = newArena();
    const storage = await wire({ arena });
    const queue = await storage.openLog('queue:f', { kind: 'queue' });
    await expect(queue.appendArena!(arena.length - 10, 100, 1, 0)).rejects.toMatchObject({ code: 'BATON_INVALID_ARGUMENT', message: expect.stringContaining('outside the arena') });
    await expect(queue.readInto!(0, arena.length - 8, 64)).rejects.toMatchObject({ code: 'BATON_INVALID_ARGUMENT', message: expect.stringContaining('outside the arena') });
    await expect(queue.appendArena!(-1, 100, 1, 0)).rejects.toMatchObject({ code: 'BATON_INVALID_ARGUMENT' });
    put(arena, 4096, 200, 3);
    expect(await queue.appendArena!(4096, 200, 2, 0)).toEqual({ baseOffset: 0, lastOffset: 1 });
    await expect(queue.readInto!(0, 8192, 100)).rejects.toMatchObject({ code: 'BATON_MESSAGE_TOO_LARGE' });
    expect((await queue.readInto!(0, 8192, 200)).batches).toEqual([{ baseOffset: 0, count: 2, at: 8192, length: 200 }]);

    const bare = await wire({ arena: null });
    const other = await bare.openLog('queue:g', { kind: 'queue' });
    await expect(other.appendArena!(0, 8, 1, 0)).rejects.toMatchObject({ code: 'BATON_INVALID_ARGUMENT', message: expect.stringContaining('no arena') });
    await expect(other.readInto!(0, 0, 8)).rejects.toMatchObject({ code: 'BATON_INVALID_ARGUMENT', message: expect.stringContaining('no arena') });
  });

  it('storage arena - the storage thread takes the arena from its workerData, sees it grow, and its copies are durable', async () => {
    const dataDir = tempDir('arena');
    const arena = newArena(2 * ARENA_GROW_BYTES);
    const thread = await startThread('storage', { dataDir, compactionIntervalMs: 0, arena: arena.sab });
    const api: Remote<StorageServiceApi> = wrap<StorageServiceApi>(portEndpoint(thread));
    const { requests, responses } = rings(1 << 16);
    const channel = new MessageChannel();
    await api.attachHost(0, transfer({ requests, responses, port: channel.port1 as MessagePort, generation: GENERATION }, [channel.port1]));
    const storage = new RemoteActorStorage({ requests, responses, port: channel.port2, generation: GENERATION }, true);
    let stopped = false;
    const stop = async () => {
      if (stopped) return;
      stopped = true;
      await storage.close();
      await api.close();
      await thread.terminate();
      channel.port2.close();
    };
    cleanups.push(stop);
    const queue = await storage.openLog('queue:t', { kind: 'queue' });
    const low = put(arena, 64, 1000, 1);
    expect(await queue.appendArena!(64, 1000, 10, 11)).toEqual({ baseOffset: 0, lastOffset: 9 });
    // Grown after the thread started: its views catch up when an address beyond them shows up.
    expect(arena.grow()).toBe(true);
    const highAddress = ARENA_GROW_BYTES + 4096;
    const high = put(arena, highAddress, 3000, 2);
    expect(await queue.appendArena!(highAddress, 3000, 30, 12)).toEqual({ baseOffset: 10, lastOffset: 39 });
    const read = await queue.readInto!(0, ARENA_GROW_BYTES + (1 << 20), 1 << 20);
    expect(read.next).toBe(-1);
    expect(read.batches.map((b) => arena.bytes.slice(b.at, b.at + b.length))).toEqual([low, high]);
    await stop();

    const wal = await Wal.open(dataDir);
    const log = await wal.openLog('queue:t', { kind: 'queue' });
    const target = new Uint8Array(8192);
    const back = await log.readBodiesInto(0, target, 0, target.byteLength);
    expect(back.batches.map((b) => target.slice(b.at, b.at + b.length))).toEqual([low, high]);
    await wal.close();
  });
});
