/**
 * The heap a queue's metadata takes per batch it knows (docs/queues.md, *Memory bounds*): a
 * durable queue's state restored from 100,000 one-message batch heads (as a start reads them from
 * its log), measured as the heap it keeps after a full GC. This is what `memoryBatches` bounds.
 *
 * `npm run build && node --expose-gc dist/bench/queue-heap.js [batches]`
 */
import assert from 'node:assert/strict';
import { QueueState, type DurableHead } from '../src/broker/queue/queue-state.js';
import { Arena, ARENA_GROW_BYTES } from '../src/log/arena.js';

const gc = (globalThis as { gc?: () => void }).gc;
assert.ok(gc !== undefined, 'run with node --expose-gc');
const batches = Number(process.argv[2] ?? 100_000);
const arena = Arena.create(ARENA_GROW_BYTES);
const effects = { grant() {}, deadLetter() {}, freeExtents() {}, removed() {}, redelivered() {}, fetch() {} };
const state = new QueueState({ name: 'heap', durable: true, maxPriority: 0, overflow: 'reject-publish', memoryBatches: batches }, arena, effects);
gc();
const before = process.memoryUsage().heapUsed;
let heads: DurableHead[] | null = Array.from({ length: batches }, (_, i) => ({ baseOffset: i * 2, count: 1, priority: 0, timestampMs: 1, expiresAtMs: 0, notBeforeMs: 0, length: 96, bodyBytes: 20, acked: [] }));
state.restoreDurable([], heads, null, [], batches * 2, Date.now());
heads = null;
gc();
const kept = process.memoryUsage().heapUsed - before;
assert.equal(state.stats().ready, batches, 'every batch is known and ready');
console.log(`${batches} batches known: ${(kept / 1048576).toFixed(1)} MiB of heap kept (${Math.round(kept / batches)} B per batch)`);
