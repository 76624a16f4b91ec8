// Proves the queue actor's state machine against a model, with no threads: under random
// publishes (priorities, delays, TTLs), consumers with prefetch, acks, nacks (requeue, delay,
// reject), cancels, ack timeouts, dead-letter answers and time passing, every message is in
// exactly one place (ready, delayed, granted, being dead-lettered, parked, or removed) and the
// stats count them; no consumer holds more than its prefetch; a message is never granted twice at
// once nor after it was removed; maxDeliveries dead-letters, also through nack-with-delay; an
// extent is freed only once every message in it is removed; and a restore from the arena (what a
// host death leaves) takes up exactly the messages not removed.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { getCodec } from '../../src/broker/codec.js';
import { encodeQueueItems, QB_BITMAP_AT } from '../../src/broker/queue/queue-batch.js';
import { type DeadLetterEntry, FREE_EXTENT_SEALED, type FreedExtent, type GrantEntry, Settle } from '../../src/broker/queue/queue-protocol.js';
import { QueueState, type QueueStateOptions } from '../../src/broker/queue/queue-state.js';
import { Arena, ARENA_GROW_BYTES } from '../../src/log/arena.js';
import { ExtentAllocator } from '../../src/log/extent-allocator.js';
import { ExtentTableWriter, readExtentTable } from '../../src/log/extent-table.js';
import { LogWriter } from '../../src/log/log-writer.js';

type Op =
  | { op: 'publish'; count: number; priority: number; delayMs: number; ttlMs: number }
  | { op: 'subscribe'; prefetch: number }
  | { op: 'settle'; pick: number; kind: number; delayMs: number }
  | { op: 'cancel'; pick: number }
  | { op: 'tick'; ms: number }
  | { op: 'answer'; ok: boolean }
  | { op: 'ackAll' };

const ops = fc.array(
  fc.oneof(
    { weight: 4, arbitrary: fc.record({ op: fc.constant('publish' as const), count: fc.integer({ min: 1, max: 80 }), priority: fc.integer({ min: 0, max: 2 }), delayMs: fc.constantFrom(0, 0, 50), ttlMs: fc.constantFrom(0, 0, 0, 80) }) },
    { weight: 2, arbitrary: fc.record({ op: fc.constant('subscribe' as const), prefetch: fc.integer({ min: 1, max: 30 }) }) },
    { weight: 6, arbitrary: fc.record({ op: fc.constant('settle' as const), pick: fc.nat(), kind: fc.constantFrom(Settle.ACK, Settle.ACK, Settle.ACK, Settle.REQUEUE, Settle.REJECT, Settle.REQUEUE_LATER, Settle.RELEASE), delayMs: fc.constantFrom(10, 60) }) },
    { weight: 1, arbitrary: fc.record({ op: fc.constant('cancel' as const), pick: fc.nat() }) },
    { weight: 2, arbitrary: fc.record({ op: fc.constant('tick' as const), ms: fc.oneof(fc.integer({ min: 1, max: 120 }), fc.constant(6000)) }) },
    { weight: 2, arbitrary: fc.record({ op: fc.constant('answer' as const), ok: fc.constantFrom(true, true, true, false) }) },
    { weight: 3, arbitrary: fc.record({ op: fc.constant('ackAll' as const) }) },
  ),
  { minLength: 60, maxLength: 150 },
);

interface Held {
  consumer: number;
  grant: number;
  index: number;
  offset: number;
  deadlineMs: number;
}

const ACK_TIMEOUT_MS = 200;
/** What the runs exercised, summed: a run that never frees an extent or dead-letters proves little. */
const totals = { grantedMessages: 0, freedExtents: 0, deadLetters: 0 };
const MAX_DELIVERIES = 4;

function run(operations: Op[], options: Partial<QueueStateOptions>): void {
  const arena = Arena.create(4 * ARENA_GROW_BYTES);
  const allocator = new ExtentAllocator(arena);
  const table = new ExtentTableWriter(arena, allocator);
  const writer = new LogWriter(arena, allocator, table);
  const codec = getCodec('raw');
  const freed: FreedExtent[] = [];
  const deadLetters: DeadLetterEntry[] = [];
  const granted: { consumer: number; entries: GrantEntry[] }[] = [];
  const state = new QueueState(
    { name: 'model', durable: false, maxPriority: 2, overflow: 'reject-publish', deadLetter: 'dlq', ackTimeoutMs: ACK_TIMEOUT_MS, maxDeliveries: MAX_DELIVERIES, ...options },
    arena,
    {
      grant: (consumer, entries, count) => granted.push({ consumer, entries: entries.slice(0, count).map((e) => ({ ...e })) }),
      deadLetter: (_reason, entries) => deadLetters.push(...entries),
      freeExtents: (extents) => freed.push(...extents),
    },
  );
  let nowMs = 1_000_000;
  // Where each published offset lies: its batch and index (the bitmap there says whether it is removed).
  const where = new Map<number, { batch: number; index: number; extent: number }>();
  const isRemoved = (offset: number) => {
    const { batch, index } = where.get(offset)!;
    const bitmap = batch + arena.u32[(batch + QB_BITMAP_AT) >>> 2]!;
    return (arena.u32[(bitmap >>> 2) + (index >>> 5)]! & (1 << (index & 31))) !== 0;
  };
  const byExtent = new Map<number, number[]>();
  const acked = new Set<number>();
  let held: Held[] = [];
  /** Offsets in `held`, rebuilt whenever entries leave it. */
  let heldOffsets = new Set<number>();
  const dropHeld = (keep: (h: Held) => boolean) => {
    held = held.filter(keep);
    heldOffsets = new Set(held.map((h) => h.offset));
  };
  const prefetch = new Map<number, number>();
  let nextConsumer = 1;
  const deliveries = new Map<number, number>();
  let pendingDead: number[] = [];

  let checks = 0;
  const check = () => {
    for (const { consumer, entries } of granted.splice(0)) {
      for (const entry of entries) {
        for (let i = 0; i < entry.count; i++) {
          const offset = entry.baseOffset + entry.index + i;
          expect(isRemoved(offset), `offset ${offset} granted after it was removed`).toBe(false);
          expect(heldOffsets.has(offset), `offset ${offset} granted twice at once`).toBe(false);
          held.push({ consumer, grant: entry.grant, index: i, offset, deadlineMs: nowMs + ACK_TIMEOUT_MS });
          heldOffsets.add(offset);
          const count = (deliveries.get(offset) ?? 0) + 1;
          deliveries.set(offset, count);
          expect(count, `offset ${offset} delivered more than maxDeliveries times`).toBeLessThanOrEqual(MAX_DELIVERIES);
          totals.grantedMessages++;
          expect(entry.deliveries, `offset ${offset}: the delivery count it is granted with`).toBe(entry.count === 1 ? count : 1);
        }
      }
    }
    const perConsumer = new Map<number, number>();
    for (const h of held) perConsumer.set(h.consumer, (perConsumer.get(h.consumer) ?? 0) + 1);
    for (const [consumer, count] of perConsumer) expect(count, `consumer ${consumer} holds more than its prefetch`).toBeLessThanOrEqual(prefetch.get(consumer)!);
    for (const entry of deadLetters.splice(0)) {
      totals.deadLetters++;
      expect(isRemoved(entry.offset)).toBe(false);
      pendingDead.push(entry.offset);
    }
    for (const extent of freed.splice(0)) {
      totals.freedExtents++;
      const offsets = byExtent.get(extent.address) ?? [];
      for (const offset of offsets) expect(isRemoved(offset), `extent ${extent.address} freed with offset ${offset} in it`).toBe(true);
      if (writer.freeExtent(extent.address, extent.generation, extent.fill === FREE_EXTENT_SEALED ? -1 : extent.fill)) {
        for (const offset of offsets) where.delete(offset);
        byExtent.delete(extent.address);
      }
    }
    for (const h of held) expect(isRemoved(h.offset), `held offset ${h.offset} is not removed`).toBe(false);
    // The whole-queue checks walk every offset: every few operations, and at the end.
    if (++checks % 25 !== 0) return;
    for (const offset of acked) if (where.has(offset)) expect(isRemoved(offset), `acked offset ${offset} is removed`).toBe(true);
    const stats = state.stats();
    let live = 0;
    for (const offset of where.keys()) if (!isRemoved(offset)) live++;
    expect(stats.ready + stats.delayed + stats.unacked + stats.parked + pendingDead.length, 'every message not removed is somewhere, once').toBe(live);
    for (const [offset, count] of deliveries) if (where.has(offset) && isRemoved(offset)) expect(count).toBeLessThanOrEqual(MAX_DELIVERIES);
  };

  for (const op of operations) {
    switch (op.op) {
      case 'publish': {
        const items = Array.from({ length: op.count }, (_, i) => ({ body: new Uint8Array([i]), priority: op.priority, ...(op.delayMs ? { delayMs: op.delayMs } : {}), ...(op.ttlMs ? { ttlMs: op.ttlMs } : {}) }));
        const batches = encodeQueueItems({ name: 'model', arena, writer, codec, maxPriority: 2 }, items, nowMs);
        const published = batches.map((b) => ({ address: b.address, extent: b.extent, generation: b.generation }));
        const admitted = state.admit(published);
        let offset = state.nextOffset;
        state.insert(published, admitted, nowMs);
        for (const batch of batches) {
          let list = byExtent.get(batch.extent);
          if (list === undefined) byExtent.set(batch.extent, (list = []));
          for (let i = 0; i < batch.count; i++) {
            list.push(offset);
            where.set(offset++, { batch: batch.address, index: i, extent: batch.extent });
          }
        }
        state.seal(writer.takeSealed());
        state.dispatch(nowMs);
        break;
      }
      case 'subscribe': {
        const id = nextConsumer++;
        prefetch.set(id, op.prefetch);
        state.subscribe(id, op.prefetch, 'manual', nowMs);
        break;
      }
      case 'settle': {
        const current = held.filter((h) => h.deadlineMs > nowMs);
        if (current.length === 0) break;
        const h = current[op.pick % current.length]!;
        dropHeld((other) => other !== h);
        state.settle(h.consumer, h.grant, h.index, 1, op.kind, op.delayMs, nowMs);
        if (op.kind === Settle.ACK) acked.add(h.offset);
        // Released: it never reached a handler, so that delivery does not count.
        if (op.kind === Settle.RELEASE) deliveries.set(h.offset, deliveries.get(h.offset)! - 1);
        state.dispatch(nowMs);
        break;
      }
      case 'cancel': {
        const consumers = [...prefetch.keys()];
        if (consumers.length === 0) break;
        const id = consumers[op.pick % consumers.length]!;
        prefetch.delete(id);
        state.cancel(id, nowMs);
        dropHeld((h) => h.consumer !== id);
        break;
      }
      case 'tick': {
        nowMs += op.ms;
        state.tick(nowMs);
        // Grants past their deadline went back to the queue: their late settles are ignored.
        dropHeld((h) => h.deadlineMs > nowMs);
        break;
      }
      case 'ackAll': {
        const all = held;
        dropHeld(() => false);
        for (const h of all) {
          if (h.deadlineMs <= nowMs) continue;
          state.settle(h.consumer, h.grant, h.index, 1, Settle.ACK, 0, nowMs);
          acked.add(h.offset);
        }
        state.dispatch(nowMs);
        break;
      }
      case 'answer': {
        if (pendingDead.length === 0) break;
        state.deadLettered(op.ok, pendingDead, nowMs);
        pendingDead = [];
        state.dispatch(nowMs);
        break;
      }
    }
    check();
  }
  checks = 24;
  check();
  // A restore from the arena (what a host death leaves) takes up exactly the messages not removed.
  const restored = new QueueState({ name: 'model', durable: false, maxPriority: 2, overflow: 'reject-publish' }, arena, { grant: () => {}, deadLetter: () => {}, freeExtents: () => {} });
  restored.restore(readExtentTable(arena, table.header), state.nextOffset, nowMs);
  const stats = restored.stats();
  let live = 0;
  for (const offset of where.keys()) if (!isRemoved(offset)) live++;
  expect(stats.ready + stats.delayed).toBe(live);
}

describe('queue state', () => {
  it('queue state - messages are conserved, prefetch holds, nothing is granted twice or after removal, extents free only when done (fast-check)', () => {
    fc.assert(
      fc.property(ops, (operations) => run(operations, {})),
      { numRuns: 150 },
    );
    expect(totals.grantedMessages).toBeGreaterThan(10_000);
    expect(totals.freedExtents).toBeGreaterThan(50);
    expect(totals.deadLetters).toBeGreaterThan(100);
  });

  it('queue state - without a dead-letter queue, dead letters are dropped and the rest holds', () => {
    fc.assert(
      fc.property(ops, (operations) => run(operations, { deadLetter: undefined as never })),
      { numRuns: 60 },
    );
  });
});
