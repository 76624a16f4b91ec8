/**
 * The conversations of a topic through the rings: the broker's thread (producer and readers of
 * every partition) with each partition actor, and with each group actor. Records never carry
 * topic records: those lie in the arena (topic-batch.ts) and a record names them by address, so
 * a record is per batch or per read chunk, never per topic record. This module owns both ends of
 * every record: layout, encoder, decoder (asserting its size); the numbers (400..499) sit apart
 * from the queue's (100..299) so that a late reply is never taken for one of the other's.
 *
 * To a partition actor `topic:<name>/<p>` (meta: request id):
 * ```
 * PRODUCE   [u32 count][u32 0] count x [u32 address][u32 0]      -> CONFIRMED, or RESULT (an error)
 *           topic batches in the arena, in offset order, consecutive offsets: appended to the log
 *           (from the arena, by the storage thread), answered once confirmed
 * FETCH     [f64 fromOffset][u32 address][u32 maxBytes]          -> FETCHED, or RESULT (an error)
 *           the batches from the one holding fromOffset, read back from the log into the arena
 *           region the broker's thread gave: [address, address + maxBytes)
 * OFFSETS   JSON { timestampMs? }                                -> RESULT { start, next, forTimestamp }
 * ```
 * From a partition actor:
 * ```
 * RESULT    JSON { ok: true, value } | { ok: false, error: SerializedError }
 * CONFIRMED [f64 baseOffset][f64 endOffset]                      offsets [baseOffset, endOffset) are in the log
 * FETCHED   [f64 next][f64 startOffset][u32 count][u32 0] count x [u32 address]
 *           next: the offset to read on from (-1: nothing after the last batch yet);
 *           startOffset: the log's first retained offset
 * ```
 * To a group actor `group:<topic>/<group>` (meta: request id, answered RESULT):
 * ```
 * GROUP_LOAD    (empty)                                      -> { offsets: { [partition]: nextOffset } }
 * GROUP_COMMIT  JSON { offsets: { [partition]: nextOffset } } -> {} once appended (durable)
 * ```
 */
import assert from 'node:assert/strict';

export const TopicRecord = Object.freeze({
  PRODUCE: 400,
  FETCH: 401,
  OFFSETS: 402,
  GROUP_LOAD: 410,
  GROUP_COMMIT: 411,
  RESULT: 450,
  CONFIRMED: 452,
  FETCHED: 453,
});

export type TopicAckMode = 'auto' | 'none';

export type FromSpec = 'earliest' | 'latest' | { offset: number } | { timestamp: number };

export interface TopicOptions {
  partitions: number;
  retentionMs?: number;
  retentionBytes?: number;
  compact: boolean;
  /** With `compact`: how long a tombstone is kept after compaction removed its key's values. */
  tombstoneRetentionMs?: number;
}

export interface PartitionActorOptions {
  topic: string;
  partition: number;
  /**
   * 'logged': the partition is its log (a dataDir, or a compacted topic): PRODUCE appends,
   * FETCH reads back. 'memory': the records live in the arena only and the actor is off the data
   * path (it answers nothing but OFFSETS, from an empty log).
   */
  mode: 'logged' | 'memory';
  /** A compacted log takes records (keys), not opaque batches; FETCH re-encodes what replay gives. */
  compact: boolean;
}

export interface GroupActorOptions {
  topic: string;
  group: string;
}

export interface PartitionOffsets {
  start: number;
  next: number;
  forTimestamp: number | null;
}

// --- PRODUCE -----------------------------------------------------------------------------------

const PRODUCE_HEADER_BYTES = 8;
const PRODUCE_BATCH_BYTES = 8;

export function produceBytes(batches: number): number {
  return PRODUCE_HEADER_BYTES + batches * PRODUCE_BATCH_BYTES;
}

export function writeProduce(bytes: Uint8Array, at: number, addresses: readonly number[]): void {
  const view = viewOf(bytes);
  view.setUint32(at, addresses.length, true);
  view.setUint32(at + 4, 0, true);
  for (let i = 0; i < addresses.length; i++) {
    view.setUint32(at + PRODUCE_HEADER_BYTES + i * PRODUCE_BATCH_BYTES, addresses[i]!, true);
    view.setUint32(at + PRODUCE_HEADER_BYTES + i * PRODUCE_BATCH_BYTES + 4, 0, true);
  }
}

export function readProduce(payload: Uint8Array): number[] {
  const view = viewOf(payload);
  const count = view.getUint32(0, true);
  assert.equal(payload.byteLength, produceBytes(count), 'a PRODUCE record has the size its count says');
  assert.ok(count > 0, 'a PRODUCE names at least one batch');
  const addresses = new Array<number>(count);
  for (let i = 0; i < count; i++) addresses[i] = view.getUint32(PRODUCE_HEADER_BYTES + i * PRODUCE_BATCH_BYTES, true);
  return addresses;
}

// --- CONFIRMED ---------------------------------------------------------------------------------

export const CONFIRMED_BYTES = 16;

export function writeConfirmed(bytes: Uint8Array, at: number, baseOffset: number, endOffset: number): void {
  const view = viewOf(bytes);
  view.setFloat64(at, baseOffset, true);
  view.setFloat64(at + 8, endOffset, true);
}

export function readConfirmed(payload: Uint8Array): { baseOffset: number; endOffset: number } {
  assert.equal(payload.byteLength, CONFIRMED_BYTES, 'a CONFIRMED record is two f64');
  const view = viewOf(payload);
  return { baseOffset: view.getFloat64(0, true), endOffset: view.getFloat64(8, true) };
}

// --- FETCH / FETCHED ---------------------------------------------------------------------------

export const FETCH_BYTES = 16;

export function writeFetch(bytes: Uint8Array, at: number, fromOffset: number, address: number, maxBytes: number): void {
  const view = viewOf(bytes);
  view.setFloat64(at, fromOffset, true);
  view.setUint32(at + 8, address, true);
  view.setUint32(at + 12, maxBytes, true);
}

export function readFetch(payload: Uint8Array): { fromOffset: number; address: number; maxBytes: number } {
  assert.equal(payload.byteLength, FETCH_BYTES, 'a FETCH record is 16 bytes');
  const view = viewOf(payload);
  return { fromOffset: view.getFloat64(0, true), address: view.getUint32(8, true), maxBytes: view.getUint32(12, true) };
}

const FETCHED_HEADER_BYTES = 24;

export function fetchedBytes(batches: number): number {
  return FETCHED_HEADER_BYTES + 4 * batches;
}

export interface Fetched {
  /** The offset to read on from; -1: the log has nothing after these batches (yet). */
  next: number;
  /** The log's first retained offset. */
  startOffset: number;
  /** Addresses of the batches read back, in offset order. */
  batches: number[];
}

export function writeFetched(bytes: Uint8Array, at: number, fetched: Fetched): void {
  const view = viewOf(bytes);
  view.setFloat64(at, fetched.next, true);
  view.setFloat64(at + 8, fetched.startOffset, true);
  view.setUint32(at + 16, fetched.batches.length, true);
  view.setUint32(at + 20, 0, true);
  for (let i = 0; i < fetched.batches.length; i++) view.setUint32(at + FETCHED_HEADER_BYTES + 4 * i, fetched.batches[i]!, true);
}

export function readFetched(payload: Uint8Array): Fetched {
  const view = viewOf(payload);
  const count = view.getUint32(16, true);
  assert.equal(payload.byteLength, fetchedBytes(count), 'a FETCHED record has the size its count says');
  const batches = new Array<number>(count);
  for (let i = 0; i < count; i++) batches[i] = view.getUint32(FETCHED_HEADER_BYTES + 4 * i, true);
  return { next: view.getFloat64(0, true), startOffset: view.getFloat64(8, true), batches };
}

// --- RESULT and the JSON requests (rare) -------------------------------------------------------

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
