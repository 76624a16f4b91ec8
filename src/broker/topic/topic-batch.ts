/**
 * The topic batch: how a partition's records lie in the arena, encoded once by their producer
 * (the broker's thread) and read in place by everyone else — subscribers on the broker's thread,
 * `topic.process` member threads, the partition actor (which appends the batch to its log) and
 * the storage thread (which copies it, byte for byte, as the body of one opaque WAL batch).
 * Little-endian; a batch starts 8-aligned; addresses are arena byte offsets.
 *
 * ```
 *  0        4        8    9    10   11   12          16               24               32
 * +--------+--------+----+----+----+----+-----------+----------------+----------------+
 * | length | count  |ver |flag| 0  |kind| bodyBytes | timestampMs    | baseOffset     |
 * |  u32   |  u32   | u8 | u8 | u8 | u8 |   u32     |   f64          |   f64          |
 * +--------+--------+----+----+----+----+-----------+----------------+----------------+
 * 32: count records, each 4-aligned, record i has offset baseOffset + i:
 *   [u32 word]  body bytes in the low 27 bits; the top bits say what follows:
 *               bit 31 KEY, bit 30 HEADERS, bit 29 TOMBSTONE, bit 28 KEY_STRING
 *   KEY:        [u32 keyBytes][key][pad to 4]
 *   HEADERS:    [u32 blockBytes (4-aligned, this word included)][u16 count][u16 0]
 *               count x ([u16 nameBytes][name utf8][u32 valueBytes][value utf8]), [pad to 4]
 *   [body][pad to 4]
 * length: 32 + records, padded to 8 (the next batch starts there)
 * ```
 *
 * Byte 11 is the kind, as in a queue batch (queue-batch.ts, kind 1): a reader of a log (`baton
 * inspect --dump`) tells them apart by it. What is the same for every record of a batch is stored
 * once: the time (the producer's clock when it encoded the batch) and the first offset, which the
 * producer assigns (it is the partition's only producer; the log's offsets follow it, checked by
 * the partition actor on every append). A 64-byte body without key or headers costs 68 bytes.
 *
 * Readers decode lazily: nothing is read until a field is (topic-message.ts); `recordEnd` walks
 * from one record to the next without decoding anything.
 */
import assert from 'node:assert/strict';
import type { Arena, ArenaView } from '../../log/arena.js';
import type { LogWriter } from '../../log/log-writer.js';
import { InvalidArgumentError, MessageTooLargeError, TopicFullError } from '../../errors.js';
import type { Codec } from '../codec.js';

export const TB_LENGTH = 0;
export const TB_COUNT = 4;
export const TB_VERSION = 8;
export const TB_FLAGS = 9;
export const TB_KIND = 11;
export const TB_BODY_BYTES = 12;
export const TB_TIMESTAMP = 16;
export const TB_BASE_OFFSET = 24;
export const TB_HEADER_BYTES = 32;

export const TOPIC_BATCH_VERSION = 1;
/** Byte 11 of a batch: 1 is a queue batch (queue-batch.ts), 2 a topic batch. */
export const BATCH_KIND_TOPIC = 2;

/** Record word flags (the word's top bits). */
export const RECORD_KEY = 0x8000_0000;
export const RECORD_HEADERS = 0x4000_0000;
export const RECORD_TOMBSTONE = 0x2000_0000;
export const RECORD_KEY_STRING = 0x1000_0000;
export const RECORD_FLAGS = 0xf000_0000;
const BODY_MASK = 0x07ff_ffff;

/** Records per batch at most: a batch is one WAL append (and one opaque batch in the log). */
export const BATCH_RECORDS_MAX = 65_536;
/**
 * The largest record (key, headers and body, encoded): a batch holding it must be one opaque WAL
 * batch (16 MiB at most by default) and fit an arena extent.
 */
export const TOPIC_RECORD_BYTES_MAX = 8 * 1024 * 1024;
const HEADERS_MAX = 0xffff;
const HEADER_NAME_CHARS_MAX = 1024;

/** A batch as its producer reports it. */
export interface TopicBatchRef {
  address: number;
  count: number;
  length: number;
  baseOffset: number;
  /** The extent it lies in (and its generation), to know when the extent may go. */
  extent: number;
  generation: number;
}

export interface TopicBatchItem {
  body: unknown;
  key?: string | Uint8Array;
  headers?: Record<string, string>;
  partition?: number;
  /** No body: deletes `key` from a compacted topic (`topic.tombstone(key)`). */
  tombstone?: boolean;
}

/** An item of sendBatch given as `{ body, ...options }` (an object with an own `body`). */
export function isTopicBatchItem(item: unknown): item is TopicBatchItem {
  return item !== null && typeof item === 'object' && !ArrayBuffer.isView(item) && Object.hasOwn(item, 'body');
}

// ---------------------------------------------------------------------------------------------
// Writing: the producer (the broker's thread)
// ---------------------------------------------------------------------------------------------

/** What a produce encodes into: the arena, the partition's writer, the topic's codec. */
export interface TopicBatchTarget {
  readonly topic: string;
  readonly arena: Arena;
  readonly writer: LogWriter;
  readonly codec: Codec;
}

/** A record's key and headers, checked and measured before anything is written. */
interface RecordExtras {
  key: Uint8Array | string | null;
  keyBytes: number;
  headers: Record<string, string> | null;
  headerCount: number;
  /** The headers block, 4-aligned (0: none). */
  headersBytes: number;
  tombstone: boolean;
}

const NO_EXTRAS: RecordExtras = Object.freeze({ key: null, keyBytes: 0, headers: null, headerCount: 0, headersBytes: 0, tombstone: false }) as RecordExtras;

/**
 * Encodes items `items[order[i]]` (i < count; `order` null: items 0 .. count-1) as batches at the
 * partition's write position, the first record taking offset `firstOffset`. An item is a body,
 * or `{ body, key?, headers?, tombstone? }` whose key the caller checked (string or bytes).
 * Throws a typed error on a bad item (the caller rolls the writer back to its mark). Pushes the
 * batches onto `out` and returns it.
 */
export function encodeTopicRecords(
  target: TopicBatchTarget,
  items: readonly unknown[],
  order: readonly number[] | null,
  count: number,
  firstOffset: number,
  nowMs: number,
  out: TopicBatchRef[],
): TopicBatchRef[] {
  const { arena, writer, codec } = target;
  // Position, end and views in locals on the hot path: written back before anything moves them.
  let pos = writer.pos;
  let end = writer.end;
  let u32 = arena.u32;
  let bytes = arena.bytes;
  let buffer = arena.buffer;
  let start = -1;
  let records = 0;
  let bodyBytes = 0;
  let offset = firstOffset;
  const close = () => {
    const length = (pos - start + 7) & ~7;
    const s = start >>> 2;
    u32[s] = length;
    u32[s + 1] = records;
    bytes[start + TB_VERSION] = TOPIC_BATCH_VERSION;
    bytes[start + TB_FLAGS] = 0;
    bytes[start + 10] = 0;
    bytes[start + TB_KIND] = BATCH_KIND_TOPIC;
    u32[s + 3] = bodyBytes;
    const f64 = arena.f64;
    const d = start >>> 3;
    f64[d + 2] = nowMs;
    f64[d + 3] = offset;
    out.push({ address: start, count: records, length, baseOffset: offset, extent: writer.extent, generation: writer.generation });
    offset += records;
    pos = start + length;
    start = -1;
  };
  for (let i = 0; i < count; i++) {
    const item = items[order === null ? i : order[i]!];
    let body: unknown = item;
    let extras = NO_EXTRAS;
    if (item !== null && typeof item === 'object' && !ArrayBuffer.isView(item) && Object.hasOwn(item, 'body')) {
      const given = item as TopicBatchItem;
      body = given.body;
      extras = extrasOf(given);
    } else if ((typeof item === 'string' && item.length > TOPIC_RECORD_BYTES_MAX) || (item instanceof Uint8Array && item.byteLength > TOPIC_RECORD_BYTES_MAX)) {
      tooLarge(typeof item === 'string' ? item.length : (item as Uint8Array).byteLength);
    }
    const payload: string | Uint8Array = extras.tombstone ? EMPTY : codec.toPayload(body);
    const isText = typeof payload === 'string';
    const fixed = 4 + (extras.key === null ? 0 : 4 + ((extras.keyBytes + 3) & ~3)) + extras.headersBytes;
    let payloadBytes = isText ? payload.length * 3 : payload.byteLength;
    let need = fixed + ((payloadBytes + 3) & ~3);
    if (need > TOPIC_RECORD_BYTES_MAX || (start >= 0 && pos + need + 8 > end)) {
      // Strings were sized at 3 bytes a character: measure them before deciding.
      if (isText) {
        payloadBytes = Buffer.byteLength(payload, 'utf8');
        need = fixed + ((payloadBytes + 3) & ~3);
      }
      if (need > TOPIC_RECORD_BYTES_MAX) tooLarge(need);
    }
    if (start >= 0 && (pos + need + 8 > end || records === BATCH_RECORDS_MAX)) close();
    if (start < 0) {
      writer.pos = pos;
      if (!writer.reserve(TB_HEADER_BYTES + need + 8)) {
        if (isText) {
          payloadBytes = Buffer.byteLength(payload, 'utf8');
          need = fixed + ((payloadBytes + 3) & ~3);
        }
        if (!writer.reserve(TB_HEADER_BYTES + need + 8)) {
          throw new TopicFullError(`topic "${target.topic}": the broker's message memory is full (memoryLimitBytes): set retentionMs/retentionBytes, consume, or raise the limit`);
        }
      }
      // A new extent may have grown the arena: fresh views.
      u32 = arena.u32;
      bytes = arena.bytes;
      buffer = arena.buffer;
      end = writer.end;
      start = writer.pos;
      records = 0;
      bodyBytes = 0;
      pos = start + TB_HEADER_BYTES;
    }
    let at = pos + 4;
    let flags = 0;
    if (extras !== NO_EXTRAS) {
      if (extras.tombstone) flags |= RECORD_TOMBSTONE;
      if (extras.key !== null) {
        flags |= RECORD_KEY;
        if (typeof extras.key === 'string') {
          flags |= RECORD_KEY_STRING;
          buffer.utf8Write(extras.key, at + 4, extras.keyBytes);
        } else {
          bytes.set(extras.key, at + 4);
        }
        u32[at >>> 2] = extras.keyBytes;
        at += 4 + ((extras.keyBytes + 3) & ~3);
      }
      if (extras.headers !== null) {
        flags |= RECORD_HEADERS;
        writeHeaders(arena, at, extras);
        at += extras.headersBytes;
      }
    }
    let written: number;
    if (isText) {
      written = buffer.utf8Write(payload, at, end - at);
      assert.ok(written <= payloadBytes, 'a string is never longer than its bound');
    } else {
      written = payload.byteLength;
      bytes.set(payload, at);
    }
    u32[pos >>> 2] = (written | flags) >>> 0;
    pos = at + ((written + 3) & ~3);
    bodyBytes += written;
    records++;
  }
  if (start >= 0) close();
  writer.pos = pos;
  return out;
}

const EMPTY = new Uint8Array(0);

function tooLarge(bytes: number): never {
  throw new MessageTooLargeError(`a topic record of ${bytes} bytes is larger than a topic takes (${TOPIC_RECORD_BYTES_MAX} bytes with key and headers): send a smaller body`);
}

/** A key as its bytes are written: a string is written as UTF-8 (and read back a string). */
export function checkKey(key: unknown): string | Uint8Array {
  if (typeof key !== 'string' && !(key instanceof Uint8Array)) throw new InvalidArgumentError(`key must be a string or a Uint8Array, got ${key === null ? 'null' : typeof key}`);
  return key;
}

function extrasOf(item: TopicBatchItem): RecordExtras {
  const key = item.key === undefined ? null : checkKey(item.key);
  const tombstone = item.tombstone === true;
  let headers: Record<string, string> | null = null;
  let headerCount = 0;
  let headersBytes = 0;
  if (item.headers !== undefined) {
    if (item.headers === null || typeof item.headers !== 'object' || Array.isArray(item.headers)) throw new InvalidArgumentError('headers must be an object of strings');
    let block = 8;
    for (const [name, value] of Object.entries(item.headers)) {
      if (typeof value !== 'string') throw new InvalidArgumentError(`header ${JSON.stringify(name)} must be a string, got ${typeof value}`);
      if (name.length > HEADER_NAME_CHARS_MAX) throw new InvalidArgumentError(`header names must be at most ${HEADER_NAME_CHARS_MAX} characters, got ${name.length}`);
      if (++headerCount > HEADERS_MAX) throw new InvalidArgumentError(`a record has at most ${HEADERS_MAX} headers`);
      block += 2 + Buffer.byteLength(name, 'utf8') + 4 + Buffer.byteLength(value, 'utf8');
    }
    if (headerCount > 0) {
      headers = item.headers;
      headersBytes = (block + 3) & ~3;
    }
  }
  if (key === null && headers === null && !tombstone) return NO_EXTRAS;
  const keyBytes = key === null ? 0 : typeof key === 'string' ? Buffer.byteLength(key, 'utf8') : key.byteLength;
  return { key, keyBytes, headers, headerCount, headersBytes, tombstone };
}

function writeHeaders(arena: ArenaView, at: number, extras: RecordExtras): void {
  const { buffer, bytes, u32 } = arena;
  u32[at >>> 2] = extras.headersBytes;
  bytes[at + 4] = extras.headerCount & 0xff;
  bytes[at + 5] = extras.headerCount >>> 8;
  bytes[at + 6] = 0;
  bytes[at + 7] = 0;
  let p = at + 8;
  const headers = extras.headers!;
  for (const name in headers) {
    if (!Object.hasOwn(headers, name)) continue;
    const nameBytes = buffer.utf8Write(name, p + 2, 0xffff);
    bytes[p] = nameBytes & 0xff;
    bytes[p + 1] = nameBytes >>> 8;
    p += 2 + nameBytes;
    const valueBytes = buffer.utf8Write(headers[name]!, p + 4, TOPIC_RECORD_BYTES_MAX);
    buffer.writeUInt32LE(valueBytes, p);
    p += 4 + valueBytes;
  }
  assert.ok(p <= at + extras.headersBytes, 'the headers block fits its size');
}

// ---------------------------------------------------------------------------------------------
// Writing records read back from a log (the partition actor, compacted topics)
// ---------------------------------------------------------------------------------------------

/** A record as a log gives it back (the WAL's record: key, value, headers, time, attributes). */
export interface LoggedRecord {
  offset: number;
  timestampMs: number;
  key: Uint8Array | null;
  /** null: a tombstone. */
  value: Uint8Array | null;
  headers: ReadonlyArray<readonly [string, Uint8Array]>;
  /** The record word's flags as the producer wrote them (KEY_STRING), stored as the WAL record's attributes. */
  attributes: number;
}

/** The WAL record attributes byte that stands for a record word's KEY_STRING. */
export const ATTRIBUTE_KEY_STRING = 1;

/**
 * Encodes records read back from a log as topic batches in [at, end) of `view`: a batch holds
 * records of consecutive offsets and one timestamp (a gap, compaction's, or a new time starts
 * the next batch). Returns how many of `records` (from `from`) it wrote, and the batches'
 * addresses in `batches`; stops at the first record that does not fit (0 when the first does not:
 * the caller needs a larger region).
 */
export function writeLoggedRecords(view: ArenaView & { readonly f64: Float64Array }, at: number, end: number, records: readonly LoggedRecord[], from: number, batches: number[]): { written: number; end: number } {
  const { u32, bytes } = view;
  let pos = at;
  let start = -1;
  let count = 0;
  let bodyBytes = 0;
  let next = -1;
  let timestampMs = 0;
  let baseOffset = 0;
  let written = 0;
  const close = () => {
    const length = (pos - start + 7) & ~7;
    u32[start >>> 2] = length;
    u32[(start >>> 2) + 1] = count;
    bytes[start + TB_VERSION] = TOPIC_BATCH_VERSION;
    bytes[start + TB_FLAGS] = 0;
    bytes[start + 10] = 0;
    bytes[start + TB_KIND] = BATCH_KIND_TOPIC;
    u32[(start >>> 2) + 3] = bodyBytes;
    view.f64[(start >>> 3) + 2] = timestampMs;
    view.f64[(start >>> 3) + 3] = baseOffset;
    batches.push(start);
    pos = start + length;
    start = -1;
  };
  for (let r = from; r < records.length; r++) {
    const record = records[r]!;
    let headersBytes = 0;
    if (record.headers.length > 0) {
      headersBytes = 8;
      for (const [name, value] of record.headers) headersBytes += 2 + Buffer.byteLength(name, 'utf8') + 4 + value.byteLength;
      headersBytes = (headersBytes + 3) & ~3;
    }
    const keyBytes = record.key === null ? 0 : record.key.byteLength;
    const valueBytes = record.value === null ? 0 : record.value.byteLength;
    const need = 4 + (record.key === null ? 0 : 4 + ((keyBytes + 3) & ~3)) + headersBytes + ((valueBytes + 3) & ~3);
    if (start >= 0 && (record.offset !== next || record.timestampMs !== timestampMs || count === BATCH_RECORDS_MAX || pos + need + 8 > end)) close();
    if (start < 0) {
      if (pos + TB_HEADER_BYTES + need + 8 > end) break;
      start = pos;
      pos = start + TB_HEADER_BYTES;
      count = 0;
      bodyBytes = 0;
      timestampMs = record.timestampMs;
      baseOffset = record.offset;
    }
    let p = pos + 4;
    let flags = 0;
    if (record.value === null) flags |= RECORD_TOMBSTONE;
    if (record.key !== null) {
      flags |= RECORD_KEY;
      if ((record.attributes & ATTRIBUTE_KEY_STRING) !== 0) flags |= RECORD_KEY_STRING;
      u32[p >>> 2] = keyBytes;
      bytes.set(record.key, p + 4);
      p += 4 + ((keyBytes + 3) & ~3);
    }
    if (headersBytes > 0) {
      flags |= RECORD_HEADERS;
      u32[p >>> 2] = headersBytes;
      bytes[p + 4] = record.headers.length & 0xff;
      bytes[p + 5] = record.headers.length >>> 8;
      bytes[p + 6] = 0;
      bytes[p + 7] = 0;
      let h = p + 8;
      for (const [name, value] of record.headers) {
        const nameBytes = view.buffer.utf8Write(name, h + 2, 0xffff);
        bytes[h] = nameBytes & 0xff;
        bytes[h + 1] = nameBytes >>> 8;
        h += 2 + nameBytes;
        view.buffer.writeUInt32LE(value.byteLength, h);
        bytes.set(value, h + 4);
        h += 4 + value.byteLength;
      }
      p += headersBytes;
    }
    if (record.value !== null) bytes.set(record.value, p);
    u32[pos >>> 2] = (valueBytes | flags) >>> 0;
    pos = p + ((valueBytes + 3) & ~3);
    bodyBytes += valueBytes;
    count++;
    written++;
    next = record.offset + 1;
  }
  if (start >= 0) close();
  return { written, end: pos };
}

// ---------------------------------------------------------------------------------------------
// Reading (any thread)
// ---------------------------------------------------------------------------------------------

/** The record word at `pos`: body bytes and flags. */
export function recordWord(u32: Uint32Array, pos: number): number {
  return u32[pos >>> 2]!;
}

export function wordBodyBytes(word: number): number {
  return word & BODY_MASK;
}

/** Where the body of the record at `pos` (with word `word`) starts. */
export function recordBodyStart(u32: Uint32Array, pos: number, word: number): number {
  let at = pos + 4;
  if ((word & RECORD_KEY) !== 0) at += 4 + ((u32[at >>> 2]! + 3) & ~3);
  if ((word & RECORD_HEADERS) !== 0) at += u32[at >>> 2]!;
  return at;
}

/** The address just past the record at `pos`. */
export function recordEnd(u32: Uint32Array, pos: number): number {
  const word = u32[pos >>> 2]!;
  const body = word & BODY_MASK;
  if (word < RECORD_TOMBSTONE) return pos + 4 + ((body + 3) & ~3);
  return recordBodyStart(u32, pos, word) + ((body + 3) & ~3);
}

/** The position of record `index` of the batch at `batch` (walks from the first record). */
export function recordAt(u32: Uint32Array, batch: number, index: number): number {
  let pos = batch + TB_HEADER_BYTES;
  for (let i = 0; i < index; i++) pos = recordEnd(u32, pos);
  return pos;
}

/** The record's key: a string if it was given as one, else a copy of its bytes; null without a key. */
export function readKey(view: ArenaView, pos: number, word: number): string | Uint8Array | null {
  if ((word & RECORD_KEY) === 0) return null;
  const length = view.u32[(pos + 4) >>> 2]!;
  const at = pos + 8;
  return (word & RECORD_KEY_STRING) !== 0 ? view.buffer.utf8Slice(at, at + length) : view.bytes.slice(at, at + length);
}

/** The record's key bytes as a view of `view` (the partition actor appends them to its log as they are). */
export function keyBytesView(view: ArenaView, pos: number, word: number): Uint8Array | null {
  if ((word & RECORD_KEY) === 0) return null;
  const length = view.u32[(pos + 4) >>> 2]!;
  return view.bytes.subarray(pos + 8, pos + 8 + length);
}

const NO_HEADERS: Record<string, string> = Object.freeze({}) as Record<string, string>;

/** The record's headers (a shared frozen empty object when it has none). */
export function readHeaders(view: ArenaView, pos: number, word: number): Record<string, string> {
  if ((word & RECORD_HEADERS) === 0) return NO_HEADERS;
  const headers: Record<string, string> = {};
  forEachHeader(view, pos, word, (name, start, end) => {
    const value = view.buffer.utf8Slice(start, end);
    // A header named "__proto__" is an own property like any other (an assignment would set the prototype).
    if (name === '__proto__') Object.defineProperty(headers, name, { value, enumerable: true, writable: true, configurable: true });
    else headers[name] = value;
  });
  return headers;
}

/** Calls `each(name, valueStart, valueEnd)` for every header of the record, in order. */
export function forEachHeader(view: ArenaView, pos: number, word: number, each: (name: string, valueStart: number, valueEnd: number) => void): void {
  if ((word & RECORD_HEADERS) === 0) return;
  const { bytes, buffer, u32 } = view;
  let at = pos + 4;
  if ((word & RECORD_KEY) !== 0) at += 4 + ((u32[at >>> 2]! + 3) & ~3);
  const count = bytes[at + 4]! | (bytes[at + 5]! << 8);
  let p = at + 8;
  for (let i = 0; i < count; i++) {
    const nameBytes = bytes[p]! | (bytes[p + 1]! << 8);
    const name = buffer.utf8Slice(p + 2, p + 2 + nameBytes);
    p += 2 + nameBytes;
    const valueBytes = buffer.readUInt32LE(p);
    each(name, p + 4, p + 4 + valueBytes);
    p += 4 + valueBytes;
  }
}

/** The fixed fields of a batch header. */
export function batchCount(u32: Uint32Array, batch: number): number {
  return u32[(batch + TB_COUNT) >>> 2]!;
}

export function batchLength(u32: Uint32Array, batch: number): number {
  return u32[(batch + TB_LENGTH) >>> 2]!;
}

export function batchTimestamp(f64: Float64Array, batch: number): number {
  return f64[(batch + TB_TIMESTAMP) >>> 3]!;
}

export function batchBaseOffset(f64: Float64Array, batch: number): number {
  return f64[(batch + TB_BASE_OFFSET) >>> 3]!;
}

/** Whether the bytes at `batch` start a topic batch this build reads (version and kind), and fit `limit`. */
export function isTopicBatch(bytes: Uint8Array, u32: Uint32Array, batch: number, limit: number): boolean {
  if (batch + TB_HEADER_BYTES > limit) return false;
  const length = u32[(batch + TB_LENGTH) >>> 2]!;
  return bytes[batch + TB_KIND] === BATCH_KIND_TOPIC && bytes[batch + TB_VERSION] === TOPIC_BATCH_VERSION && length >= TB_HEADER_BYTES && batch + length <= limit;
}
