/**
 * The conversation between a queue (the broker's thread: producer and consumers) and its queue
 * actor (a host thread), through the rings. Messages never travel in it: they lie in the arena
 * (queue-batch.ts) and records name them by address, so a record is per batch or per grant,
 * never per message. This module owns both ends of every record: its layout, its encoder, its
 * decoder; a dispatch ends in an assertion on an unknown kind.
 *
 * To the actor (destination: the actor's address):
 * ```
 * PUBLISH        meta: request id -> CONFIRMED or RESULT (an error)
 *   [u32 batches][u32 sealed] batches x [u32 address][u32 extent][u32 generation][u32 0]
 *                             sealed  x [u32 extent][u32 generation]      (extents now full)
 * SETTLE         meta 0, no answer
 *   [u32 consumer][u32 entries] entries x [u32 grant][u32 from][u32 count][u32 kind][f64 delayMs]
 *                 (from, count: messages of the grant, by their index in it)
 * DEAD_LETTERED  meta 0: the broker's answer to DEAD_LETTER
 *   [u32 ok (1: in the dead-letter queue, 0: it refused them)][u32 count] count x [f64 offset]
 * EXTENT         meta: the EXTENT_REQUEST's id  [u32 address (0xffffffff: none free)][u32 generation]
 * SUBSCRIBE | PAUSE | CANCEL  meta: request id, JSON { consumer, prefetch?, ack? } -> RESULT
 *   (PAUSE: no more grants; its RESULT follows every grant made before it)
 * PURGE | STATS | DELETE   meta: request id, empty -> RESULT
 * ```
 * From the actor (to the broker's thread):
 * ```
 * CONFIRMED      meta: request id  [u32 messages]            a publish is in the queue
 * RESULT         meta: request id  JSON { ok: true, value } | { ok: false, error }
 * GRANT          meta: consumer id [u32 entries] entries x
 *                [u32 grant][u32 batch][u32 index][u32 count][u32 record][u32 deliveries][f64 baseOffset]
 *                (messages index .. index+count-1 of the batch at `batch`, the first at `record`;
 *                 deliveries: 1 for a first delivery, more for a redelivery (then count is 1))
 * DEAD_LETTER    meta 0  [u32 reason][u32 count] count x [u32 batch][u32 index][u32 record][u32 deliveries][f64 offset]
 * FREE_EXTENT    meta 0  [u32 count] count x [u32 address][u32 generation][u32 fill (0xffffffff: sealed)]
 * EXTENT_REQUEST meta: request id [u32 bytes]   a durable queue wants an extent to read batches back into -> EXTENT
 * ```
 */
import assert from 'node:assert/strict';

export const QueueRecord = Object.freeze({
  PUBLISH: 100,
  SUBSCRIBE: 101,
  CANCEL: 102,
  SETTLE: 103,
  PURGE: 104,
  STATS: 105,
  DELETE: 106,
  DEAD_LETTERED: 107,
  EXTENT: 108,
  PAUSE: 109,
  RESULT: 200,
  GRANT: 201,
  DEAD_LETTER: 202,
  CONFIRMED: 203,
  FREE_EXTENT: 204,
  EXTENT_REQUEST: 205,
});

export const Settle = Object.freeze({
  ACK: 1,
  /** Back to the queue, delivered again (redelivered = true). */
  REQUEUE: 2,
  /** Not requeued: dead-lettered (reason 'rejected') when the queue has a dead-letter queue, else dropped. */
  REJECT: 3,
  /** Back to the queue after `delayMs`. */
  REQUEUE_LATER: 4,
  /**
   * Back to the queue, never handed to a handler (a closing consumer's prefetched messages, what a
   * dead handler thread had not started): the delivery does not count toward `maxDeliveries`.
   */
  RELEASE: 5,
});

export type DeadLetterReason = 'rejected' | 'expired' | 'maxlen' | 'delivery-limit';
export const DEAD_LETTER_REASONS: readonly DeadLetterReason[] = ['rejected', 'expired', 'maxlen', 'delivery-limit'];

export type AckMode = 'auto' | 'manual' | 'none';

export interface QueueOptions {
  durable: boolean;
  maxPriority: number;
  deadLetter?: string;
  maxDeliveries?: number;
  messageTtlMs?: number;
  maxLength?: number;
  maxBytes?: number;
  overflow: 'reject-publish' | 'drop-head';
  ackTimeoutMs?: number;
  /** Bytes of message bodies a durable queue keeps in memory; beyond, bodies stay on disk until delivered. */
  memoryBytes?: number;
  /** Batches a queue knows in memory (heap); beyond, a durable queue pages them from its log, a memory-only one refuses publishes. */
  memoryBatches?: number;
}

export interface QueueStats {
  ready: number;
  unacked: number;
  consumers: number;
  delayed: number;
  readyBytes: number;
  /** Dead letters the dead-letter queue refused: kept here, retried (event 'dead-letter-failed'). */
  parked: number;
  /** Durable queues: ready messages (counted in `ready`) in the log only, past `memoryBatches`: paged in as the queue drains. */
  paged: number;
}

// --- PUBLISH -----------------------------------------------------------------------------------

export const PUBLISH_HEADER_BYTES = 8;
export const PUBLISH_BATCH_BYTES = 16;
export const PUBLISH_SEALED_BYTES = 8;

export interface PublishedBatch {
  address: number;
  extent: number;
  generation: number;
}

export function publishBytes(batches: number, sealed: number): number {
  return PUBLISH_HEADER_BYTES + batches * PUBLISH_BATCH_BYTES + sealed * PUBLISH_SEALED_BYTES;
}

export function writePublish(bytes: Uint8Array, at: number, batches: readonly PublishedBatch[], sealed: readonly { address: number; generation: number }[]): void {
  const view = viewOf(bytes);
  view.setUint32(at, batches.length, true);
  view.setUint32(at + 4, sealed.length, true);
  let p = at + PUBLISH_HEADER_BYTES;
  for (const batch of batches) {
    view.setUint32(p, batch.address, true);
    view.setUint32(p + 4, batch.extent, true);
    view.setUint32(p + 8, batch.generation, true);
    view.setUint32(p + 12, 0, true);
    p += PUBLISH_BATCH_BYTES;
  }
  for (const extent of sealed) {
    view.setUint32(p, extent.address, true);
    view.setUint32(p + 4, extent.generation, true);
    p += PUBLISH_SEALED_BYTES;
  }
}

export function readPublish(payload: Uint8Array): { batches: PublishedBatch[]; sealed: { address: number; generation: number }[] } {
  const view = viewOf(payload);
  const count = view.getUint32(0, true);
  const sealedCount = view.getUint32(4, true);
  assert.equal(payload.byteLength, publishBytes(count, sealedCount), 'a PUBLISH record has the size its counts say');
  const batches: PublishedBatch[] = new Array(count);
  let p = PUBLISH_HEADER_BYTES;
  for (let i = 0; i < count; i++) {
    batches[i] = { address: view.getUint32(p, true), extent: view.getUint32(p + 4, true), generation: view.getUint32(p + 8, true) };
    p += PUBLISH_BATCH_BYTES;
  }
  const sealed = new Array<{ address: number; generation: number }>(sealedCount);
  for (let i = 0; i < sealedCount; i++) {
    sealed[i] = { address: view.getUint32(p, true), generation: view.getUint32(p + 4, true) };
    p += PUBLISH_SEALED_BYTES;
  }
  return { batches, sealed };
}

// --- SETTLE ------------------------------------------------------------------------------------

export const SETTLE_HEADER_BYTES = 8;
export const SETTLE_ENTRY_BYTES = 24;

/**
 * Settles a consumer accumulates between flushes: parallel arrays, no object per entry. Cleared
 * by its count, not by truncating the arrays: they keep their capacity from flush to flush (a
 * truncated array gives its storage back, and the next settle would allocate it again).
 */
export class SettleBuffer {
  readonly grants: number[] = [];
  readonly froms: number[] = [];
  readonly counts: number[] = [];
  readonly kinds: number[] = [];
  readonly delays: number[] = [];
  #length = 0;

  get length(): number {
    return this.#length;
  }

  /** One message settled: extends the last entry when it continues it (an in-order run of acks is one entry). */
  add(grant: number, index: number, kind: number, delayMs: number): void {
    const last = this.#length - 1;
    if (last >= 0 && this.grants[last] === grant && this.kinds[last] === kind && this.delays[last] === delayMs && this.froms[last]! + this.counts[last]! === index) {
      this.counts[last]!++;
    } else {
      this.push(grant, index, 1, kind, delayMs);
    }
  }

  push(grant: number, from: number, count: number, kind: number, delayMs: number): void {
    const i = this.#length++;
    this.grants[i] = grant;
    this.froms[i] = from;
    this.counts[i] = count;
    this.kinds[i] = kind;
    this.delays[i] = delayMs;
  }

  clear(): void {
    this.#length = 0;
  }
}

export function settleBytes(entries: number): number {
  return SETTLE_HEADER_BYTES + entries * SETTLE_ENTRY_BYTES;
}

/** Writes entries [first, first + n) of `buffer`. */
export function writeSettle(bytes: Uint8Array, at: number, consumer: number, buffer: SettleBuffer, first: number, n: number): void {
  const view = viewOf(bytes);
  view.setUint32(at, consumer, true);
  view.setUint32(at + 4, n, true);
  let p = at + SETTLE_HEADER_BYTES;
  for (let i = first; i < first + n; i++) {
    view.setUint32(p, buffer.grants[i]!, true);
    view.setUint32(p + 4, buffer.froms[i]!, true);
    view.setUint32(p + 8, buffer.counts[i]!, true);
    view.setUint32(p + 12, buffer.kinds[i]!, true);
    view.setFloat64(p + 16, buffer.delays[i]!, true);
    p += SETTLE_ENTRY_BYTES;
  }
}

/** Reads a SETTLE record entry by entry (the actor's side): no object per entry. */
export class SettleReader {
  consumer = 0;
  entries = 0;
  #view: DataView = new DataView(new ArrayBuffer(0));

  reset(payload: Uint8Array): void {
    this.#view = viewOf(payload);
    this.consumer = this.#view.getUint32(0, true);
    this.entries = this.#view.getUint32(4, true);
    assert.equal(payload.byteLength, settleBytes(this.entries), 'a SETTLE record has the size its count says');
  }

  grant(i: number): number {
    return this.#view.getUint32(SETTLE_HEADER_BYTES + i * SETTLE_ENTRY_BYTES, true);
  }

  from(i: number): number {
    return this.#view.getUint32(SETTLE_HEADER_BYTES + i * SETTLE_ENTRY_BYTES + 4, true);
  }

  count(i: number): number {
    return this.#view.getUint32(SETTLE_HEADER_BYTES + i * SETTLE_ENTRY_BYTES + 8, true);
  }

  kind(i: number): number {
    return this.#view.getUint32(SETTLE_HEADER_BYTES + i * SETTLE_ENTRY_BYTES + 12, true);
  }

  delayMs(i: number): number {
    return this.#view.getFloat64(SETTLE_HEADER_BYTES + i * SETTLE_ENTRY_BYTES + 16, true);
  }
}

// --- GRANT -------------------------------------------------------------------------------------

export const GRANT_HEADER_BYTES = 8;
export const GRANT_ENTRY_BYTES = 32;

export interface GrantEntry {
  grant: number;
  batch: number;
  index: number;
  count: number;
  record: number;
  deliveries: number;
  baseOffset: number;
}

export function grantBytes(entries: number): number {
  return GRANT_HEADER_BYTES + entries * GRANT_ENTRY_BYTES;
}

/** Writes entries `[first, first + count)` of `entries`. */
export function writeGrant(bytes: Uint8Array, at: number, entries: readonly GrantEntry[], count: number, first = 0): void {
  const view = viewOf(bytes);
  view.setUint32(at, count, true);
  view.setUint32(at + 4, 0, true);
  let p = at + GRANT_HEADER_BYTES;
  for (let i = first; i < first + count; i++) {
    const entry = entries[i]!;
    view.setUint32(p, entry.grant, true);
    view.setUint32(p + 4, entry.batch, true);
    view.setUint32(p + 8, entry.index, true);
    view.setUint32(p + 12, entry.count, true);
    view.setUint32(p + 16, entry.record, true);
    view.setUint32(p + 20, entry.deliveries, true);
    view.setFloat64(p + 24, entry.baseOffset, true);
    p += GRANT_ENTRY_BYTES;
  }
}

/** Reads a GRANT record into `into` (reused by the caller) and returns how many entries it has. */
export function readGrant(payload: Uint8Array, into: GrantEntry[]): number {
  const view = viewOf(payload);
  const count = view.getUint32(0, true);
  assert.equal(payload.byteLength, grantBytes(count), 'a GRANT record has the size its count says');
  let p = GRANT_HEADER_BYTES;
  for (let i = 0; i < count; i++) {
    const entry = (into[i] ??= { grant: 0, batch: 0, index: 0, count: 0, record: 0, deliveries: 0, baseOffset: 0 });
    entry.grant = view.getUint32(p, true);
    entry.batch = view.getUint32(p + 4, true);
    entry.index = view.getUint32(p + 8, true);
    entry.count = view.getUint32(p + 12, true);
    entry.record = view.getUint32(p + 16, true);
    entry.deliveries = view.getUint32(p + 20, true);
    entry.baseOffset = view.getFloat64(p + 24, true);
    p += GRANT_ENTRY_BYTES;
  }
  return count;
}

// --- DEAD_LETTER / DEAD_LETTERED ---------------------------------------------------------------

export const DEAD_LETTER_HEADER_BYTES = 8;
export const DEAD_LETTER_ENTRY_BYTES = 24;

export interface DeadLetterEntry {
  batch: number;
  index: number;
  record: number;
  deliveries: number;
  offset: number;
}

export function deadLetterBytes(entries: number): number {
  return DEAD_LETTER_HEADER_BYTES + entries * DEAD_LETTER_ENTRY_BYTES;
}

export function writeDeadLetter(bytes: Uint8Array, at: number, reason: DeadLetterReason, entries: readonly DeadLetterEntry[]): void {
  const view = viewOf(bytes);
  view.setUint32(at, DEAD_LETTER_REASONS.indexOf(reason), true);
  view.setUint32(at + 4, entries.length, true);
  let p = at + DEAD_LETTER_HEADER_BYTES;
  for (const entry of entries) {
    view.setUint32(p, entry.batch, true);
    view.setUint32(p + 4, entry.index, true);
    view.setUint32(p + 8, entry.record, true);
    view.setUint32(p + 12, entry.deliveries, true);
    view.setFloat64(p + 16, entry.offset, true);
    p += DEAD_LETTER_ENTRY_BYTES;
  }
}

export function readDeadLetter(payload: Uint8Array): { reason: DeadLetterReason; entries: DeadLetterEntry[] } {
  const view = viewOf(payload);
  const reason = DEAD_LETTER_REASONS[view.getUint32(0, true)];
  assert.ok(reason !== undefined, `unknown dead-letter reason ${view.getUint32(0, true)}`);
  const count = view.getUint32(4, true);
  assert.equal(payload.byteLength, deadLetterBytes(count), 'a DEAD_LETTER record has the size its count says');
  const entries: DeadLetterEntry[] = new Array(count);
  let p = DEAD_LETTER_HEADER_BYTES;
  for (let i = 0; i < count; i++) {
    entries[i] = { batch: view.getUint32(p, true), index: view.getUint32(p + 4, true), record: view.getUint32(p + 8, true), deliveries: view.getUint32(p + 12, true), offset: view.getFloat64(p + 16, true) };
    p += DEAD_LETTER_ENTRY_BYTES;
  }
  return { reason, entries };
}

export function deadLetteredBytes(count: number): number {
  return 8 + 8 * count;
}

export function writeDeadLettered(bytes: Uint8Array, at: number, ok: boolean, offsets: readonly number[]): void {
  const view = viewOf(bytes);
  view.setUint32(at, ok ? 1 : 0, true);
  view.setUint32(at + 4, offsets.length, true);
  for (let i = 0; i < offsets.length; i++) view.setFloat64(at + 8 + 8 * i, offsets[i]!, true);
}

export function readDeadLettered(payload: Uint8Array): { ok: boolean; offsets: number[] } {
  const view = viewOf(payload);
  const count = view.getUint32(4, true);
  assert.equal(payload.byteLength, deadLetteredBytes(count), 'a DEAD_LETTERED record has the size its count says');
  const offsets: number[] = new Array(count);
  for (let i = 0; i < count; i++) offsets[i] = view.getFloat64(8 + 8 * i, true);
  return { ok: view.getUint32(0, true) === 1, offsets };
}

// --- CONFIRMED / FREE_EXTENT -------------------------------------------------------------------

export function writeConfirmed(bytes: Uint8Array, at: number, messages: number): void {
  viewOf(bytes).setUint32(at, messages, true);
}

export function readConfirmed(payload: Uint8Array): number {
  assert.equal(payload.byteLength, 4, 'a CONFIRMED record is one u32');
  return viewOf(payload).getUint32(0, true);
}

export const FREE_EXTENT_SEALED = 0xffff_ffff;
export const FREE_EXTENT_ENTRY_BYTES = 12;

export interface FreedExtent {
  address: number;
  generation: number;
  /** Bytes the actor saw written in it; FREE_EXTENT_SEALED for a sealed extent. */
  fill: number;
}

export function freeExtentBytes(count: number): number {
  return 4 + count * FREE_EXTENT_ENTRY_BYTES;
}

export function writeFreeExtent(bytes: Uint8Array, at: number, extents: readonly FreedExtent[]): void {
  const view = viewOf(bytes);
  view.setUint32(at, extents.length, true);
  let p = at + 4;
  for (const extent of extents) {
    view.setUint32(p, extent.address, true);
    view.setUint32(p + 4, extent.generation, true);
    view.setUint32(p + 8, extent.fill, true);
    p += FREE_EXTENT_ENTRY_BYTES;
  }
}

export function readFreeExtent(payload: Uint8Array): FreedExtent[] {
  const view = viewOf(payload);
  const count = view.getUint32(0, true);
  assert.equal(payload.byteLength, freeExtentBytes(count), 'a FREE_EXTENT record has the size its count says');
  const extents: FreedExtent[] = new Array(count);
  for (let i = 0; i < count; i++) {
    const p = 4 + i * FREE_EXTENT_ENTRY_BYTES;
    extents[i] = { address: view.getUint32(p, true), generation: view.getUint32(p + 4, true), fill: view.getUint32(p + 8, true) };
  }
  return extents;
}

// --- EXTENT_REQUEST / EXTENT -------------------------------------------------------------------

/** EXTENT's address when the arena has no room. */
export const EXTENT_NONE = 0xffff_ffff;

export function writeExtentRequest(bytes: Uint8Array, at: number, size: number): void {
  viewOf(bytes).setUint32(at, size, true);
}

export function readExtentRequest(payload: Uint8Array): number {
  assert.equal(payload.byteLength, 4, 'an EXTENT_REQUEST record is one u32');
  return viewOf(payload).getUint32(0, true);
}

export function writeExtent(bytes: Uint8Array, at: number, address: number, generation: number): void {
  const view = viewOf(bytes);
  view.setUint32(at, address, true);
  view.setUint32(at + 4, generation, true);
}

export function readExtent(payload: Uint8Array): { address: number; generation: number } {
  assert.equal(payload.byteLength, 8, 'an EXTENT record is two u32');
  const view = viewOf(payload);
  return { address: view.getUint32(0, true), generation: view.getUint32(4, true) };
}

// --- control requests (rare: JSON) -------------------------------------------------------------

export interface SubscribeRequest {
  consumer: number;
  prefetch: number;
  ack: AckMode;
}

const encoder = new TextEncoder();

export function jsonBytes(value: unknown): Uint8Array {
  return encoder.encode(JSON.stringify(value));
}

export function readJson<T>(payload: Uint8Array): T {
  return JSON.parse(Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength).toString('utf8')) as T;
}

function viewOf(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
