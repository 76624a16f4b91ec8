/**
 * The queue batch: how a queue's messages lie in the arena, written once by their producer and
 * read in place by the queue actor (the header only), the consumers and the storage thread, which
 * writes the batch, byte for byte, as the body of one WAL batch. Little-endian; a batch starts
 * 8-aligned; addresses are arena byte offsets.
 *
 * ```
 *  0        4        8    9    10   11   12          16          20          24
 * +--------+--------+----+----+----+----+-----------+-----------+-----------+
 * | length | count  |ver |flag|prio|kind| bitmapAt  | bodyBytes | extent    |
 * |  u32   |  u32   | u8 | u8 | u8 | u8 |   u32     |   u32     |   u32     |
 * +--------+--------+----+----+----+----+-----------+-----------+-----------+
 * 24               32               40               48               56               64               72
 * +----------------+----------------+----------------+----------------+----------------+----------------+
 * | timestampMs    | expiresAtMs    | notBeforeMs    | idPrefix [8]   | idBaseSequence | baseOffset     |
 * |   f64          |  f64 (0: none) |  f64 (0: none) |   u8 x 8       |   f64          | f64 (actor's)  |
 * +----------------+----------------+----------------+----------------+----------------+----------------+
 * 72: count records, each 4-aligned:
 *   [u32 bodyBytes | EXT << 31] [ext block, when EXT] [body] [pad to 4]
 *   ext block: [u32 extBytes (this block, 4-aligned)] [u8 fields] [u8 0] [u16 headerCount]
 *              then per field present: ID, CORRELATION, REPLY_TO as u16 length + utf8,
 *              then headerCount x (u16 name length + utf8 name, u32 value length + utf8 value)
 * bitmapAt: ceil(count / 32) u32 words, bit i set once message i is settled (the queue actor's
 *           record, read back by its next incarnation after a host death; zero when written)
 * length: header + records + bitmap, padded to 8
 * ```
 *
 * What is the same for every message of a batch is stored once: the time, priority, expiry and
 * delay (a publish whose messages differ is split into runs), and the id: message i of a batch
 * with GENERATED_IDS is `prefix + (idBaseSequence + i)` in base 36 (message-ids.ts), made into
 * text only when someone reads it. A 64-byte body costs 68 bytes. `baseOffset` is written by the
 * queue actor when it accepts the batch (NaN before: a batch found so after a host death was
 * never accepted; -1: refused); message i has log offset baseOffset + i.
 */
import assert from 'node:assert/strict';
import type { Arena, ArenaView } from '../../log/arena.js';
import { EXTENT_BYTES_MAX } from '../../log/extent-allocator.js';
import type { LogWriter } from '../../log/log-writer.js';
import { InvalidArgumentError, MessageTooLargeError, QueueFullError } from '../../errors.js';
import type { Codec } from '../codec.js';
import { generatedId, ID_PREFIX_BYTES, takeMessageSequences } from '../message-ids.js';

export const QB_LENGTH = 0;
export const QB_COUNT = 4;
export const QB_VERSION = 8;
export const QB_FLAGS = 9;
export const QB_PRIORITY = 10;
export const QB_KIND = 11;
export const QB_BITMAP_AT = 12;
export const QB_BODY_BYTES = 16;
export const QB_EXTENT = 20;
export const QB_TIMESTAMP = 24;
export const QB_EXPIRES_AT = 32;
export const QB_NOT_BEFORE = 40;
export const QB_ID_PREFIX = 48;
export const QB_ID_BASE = 56;
export const QB_BASE_OFFSET = 64;
export const QB_HEADER_BYTES = 72;

export const QUEUE_BATCH_VERSION = 1;
export const BATCH_KIND_QUEUE = 1;
export const FLAG_GENERATED_IDS = 1;
export const FLAG_EXTENDED = 2;

/** Record word: body bytes in the low 31 bits, the ext flag in the top bit. */
const RECORD_EXT = 0x8000_0000;
const BODY_MASK = 0x7fff_ffff;
const EXT_ID = 1;
const EXT_CORRELATION = 2;
const EXT_REPLY_TO = 4;
const EXT_FIXED_BYTES = 8;

/** Messages per batch: bounds the bitmap and a notice's arithmetic. */
export const BATCH_MESSAGES_MAX = 65_536;
/** The largest message (record with its extensions): one extent with a batch header and bitmap word. */
export const MESSAGE_BYTES_MAX = EXTENT_BYTES_MAX - QB_HEADER_BYTES - 64;
/** Strings of the ext block carry a u16 length. */
const EXT_STRING_BYTES_MAX = 0xffff;
const HEADERS_MAX = 0xffff;

export function bitmapBytes(count: number): number {
  return ((count + 31) >>> 5) << 2;
}

/** A batch as its producer reports it. */
export interface QueueBatchRef {
  address: number;
  extent: number;
  generation: number;
  count: number;
  length: number;
  /** The generated id counter of its first message (QB_ID_BASE): ids are made into text from it only when read. */
  idBase: number;
}

export interface SendOptions {
  priority?: number;
  delayMs?: number;
  ttlMs?: number;
  headers?: Record<string, string>;
  id?: string;
  correlationId?: string;
  replyTo?: string;
}

export interface BatchItem extends SendOptions {
  body: unknown;
}

export function isBatchItem(item: unknown): item is BatchItem {
  return item !== null && typeof item === 'object' && !ArrayBuffer.isView(item) && Object.hasOwn(item, 'body');
}

// ---------------------------------------------------------------------------------------------
// Writing (the broker's thread)
// ---------------------------------------------------------------------------------------------

interface Extensions {
  id: string | undefined;
  correlationId: string | undefined;
  replyTo: string | undefined;
  headers: Record<string, string> | undefined;
  bytes: number;
}

/** What a publish encodes into: the arena, the queue's writer, its codec and limits. */
export interface QueueBatchTarget {
  readonly name: string;
  readonly arena: Arena;
  readonly writer: LogWriter;
  readonly codec: Codec;
  readonly maxPriority: number;
}

/**
 * Encodes `items` (bodies, or `{ body, ...options }`) as batches at the queue's write position.
 * All or nothing: a bad item is a typed error and nothing stays written. Returns the batches.
 */
export function encodeQueueItems(target: QueueBatchTarget, items: readonly unknown[], nowMs: number): QueueBatchRef[] {
  const { arena, writer, codec } = target;
  const batches: QueueBatchRef[] = [];
  writer.mark();
  try {
    // The writer's position and end, and the arena's views, live in locals on the hot path:
    // written back before anything that moves them (closing a batch, taking an extent).
    let pos = writer.pos;
    let end = writer.end;
    let u32 = arena.u32;
    let bytes = arena.bytes;
    let buffer = arena.buffer;
    let start = -1;
    let count = 0;
    let bodyBytes = 0;
    let flags = 0;
    let priority = 0;
    let expiresAtMs = 0;
    let notBeforeMs = 0;
    for (let i = 0; i < items.length; i++) {
      const item = items[i];
      let body: unknown = item;
      let itemPriority = 0;
      let itemExpiresAt = 0;
      let itemNotBefore = 0;
      let ext: Extensions | null = null;
      if (item !== null && typeof item === 'object') {
        if (!ArrayBuffer.isView(item) && Object.hasOwn(item, 'body')) {
          const given = item as BatchItem;
          body = given.body;
          itemPriority = validPriority(target, given.priority);
          const delayMs = given.delayMs ?? 0;
          if (typeof delayMs !== 'number' || !(Number.isFinite(delayMs) && delayMs >= 0)) throw new InvalidArgumentError(`delayMs must be a finite number >= 0, got ${String(delayMs)}`);
          if (delayMs > 0) itemNotBefore = nowMs + delayMs;
          const ttlMs = given.ttlMs;
          if (ttlMs !== undefined && (typeof ttlMs !== 'number' || !(Number.isFinite(ttlMs) && ttlMs > 0))) throw new InvalidArgumentError(`ttlMs must be a finite number > 0, got ${String(ttlMs)}`);
          if (ttlMs !== undefined) itemExpiresAt = nowMs + ttlMs;
          ext = extensionsOf(given);
          checkSize(body);
        } else if (item instanceof Uint8Array && item.byteLength > MESSAGE_BYTES_MAX) {
          checkSize(item);
        }
      } else if (typeof item === 'string' && item.length > MESSAGE_BYTES_MAX) {
        checkSize(item);
      }
      const payload = codec.toPayload(body);
      if (start >= 0 && (itemPriority !== priority || itemExpiresAt !== expiresAtMs || itemNotBefore !== notBeforeMs || count === BATCH_MESSAGES_MAX)) {
        pos = closeBatch(arena, writer, batches, start, pos, count, bodyBytes, flags, priority, expiresAtMs, notBeforeMs, nowMs);
        start = -1;
      }
      const extBytes = ext === null ? 0 : ext.bytes;
      const isText = typeof payload === 'string';
      let payloadBytes = isText ? payload.length * 3 : payload.byteLength;
      let need = 4 + extBytes + payloadBytes;
      // Room beyond the record: the bitmap as it will be with one more message, and padding.
      if (start >= 0 && pos + need + (((count + 32) >>> 5) << 2) + 8 > end) {
        if (isText) {
          payloadBytes = Buffer.byteLength(payload, 'utf8');
          need = 4 + extBytes + payloadBytes;
        }
        if (pos + need + (((count + 32) >>> 5) << 2) + 8 > end) {
          pos = closeBatch(arena, writer, batches, start, pos, count, bodyBytes, flags, priority, expiresAtMs, notBeforeMs, nowMs);
          start = -1;
        }
      }
      if (need > MESSAGE_BYTES_MAX && isText) {
        payloadBytes = Buffer.byteLength(payload, 'utf8');
        need = 4 + extBytes + payloadBytes;
      }
      if (need > MESSAGE_BYTES_MAX) {
        throw new MessageTooLargeError(`a message of ${need} bytes is larger than a queue takes (${MESSAGE_BYTES_MAX} bytes): send a smaller body`);
      }
      if (start < 0) {
        writer.pos = pos;
        if (!writer.reserve(QB_HEADER_BYTES + need + 16)) {
          // Strings were sized at 3 bytes per character: ask again with their exact size.
          if (isText) {
            payloadBytes = Buffer.byteLength(payload, 'utf8');
            need = 4 + extBytes + payloadBytes;
          }
          if (!writer.reserve(QB_HEADER_BYTES + need + 16)) {
            throw new QueueFullError(`queue "${target.name}": the broker's message memory is full (memoryLimitBytes): consume, or raise the limit`);
          }
        }
        // A new extent may have grown the arena: fresh views.
        u32 = arena.u32;
        bytes = arena.bytes;
        buffer = arena.buffer;
        end = writer.end;
        start = writer.pos;
        count = 0;
        bodyBytes = 0;
        flags = 0;
        priority = itemPriority;
        expiresAtMs = itemExpiresAt;
        notBeforeMs = itemNotBefore;
        pos = start + QB_HEADER_BYTES;
      }
      let at = pos + 4;
      if (ext !== null) {
        writeExtensions(arena, at, ext);
        at += extBytes;
        flags |= FLAG_EXTENDED;
      }
      let written: number;
      if (isText) {
        written = buffer.utf8Write(payload, at, end - at);
        assert.ok(written <= payloadBytes, 'a string is never longer than its bound');
      } else {
        written = payload.byteLength;
        bytes.set(payload, at);
      }
      u32[pos >>> 2] = ext === null ? written : (written | RECORD_EXT) >>> 0;
      pos = at + ((written + 3) & ~3);
      bodyBytes += written;
      count++;
    }
    if (start >= 0) pos = closeBatch(arena, writer, batches, start, pos, count, bodyBytes, flags, priority, expiresAtMs, notBeforeMs, nowMs);
    writer.pos = pos;
    writer.commit();
  } catch (error) {
    writer.rollback();
    throw error;
  }
  return batches;
}

/**
 * Writes the header and the (cleared) bitmap of the batch at `start` whose records end at `pos`,
 * and lists it in `batches`; returns where the next batch starts. A function of its own, not a
 * closure: the encoder's position and counters stay in registers instead of a heap context.
 */
function closeBatch(
  arena: Arena,
  writer: LogWriter,
  batches: QueueBatchRef[],
  start: number,
  pos: number,
  count: number,
  bodyBytes: number,
  flags: number,
  priority: number,
  expiresAtMs: number,
  notBeforeMs: number,
  nowMs: number,
): number {
  const u32 = arena.u32;
  const bytes = arena.bytes;
  const bitmapAt = pos;
  const words = bitmapBytes(count) >>> 2;
  for (let w = 0; w < words; w++) u32[(bitmapAt >>> 2) + w] = 0;
  const length = (bitmapAt + (words << 2) - start + 7) & ~7;
  const base = takeMessageSequences(count);
  const f64 = arena.f64;
  const s = start >>> 2;
  u32[s] = length;
  u32[s + 1] = count;
  bytes[start + QB_VERSION] = QUEUE_BATCH_VERSION;
  bytes[start + QB_FLAGS] = flags | FLAG_GENERATED_IDS;
  bytes[start + QB_PRIORITY] = priority;
  bytes[start + QB_KIND] = BATCH_KIND_QUEUE;
  u32[s + 3] = bitmapAt - start;
  u32[s + 4] = bodyBytes;
  u32[s + 5] = writer.extent;
  const d = start >>> 3;
  f64[d + 3] = nowMs;
  f64[d + 4] = expiresAtMs;
  f64[d + 5] = notBeforeMs;
  bytes.set(ID_PREFIX_BYTES, start + QB_ID_PREFIX);
  f64[d + 7] = base;
  f64[d + 8] = Number.NaN;
  batches.push({ address: start, extent: writer.extent, generation: writer.generation, count, length, idBase: base });
  return start + length;
}

function validPriority(target: QueueBatchTarget, value: unknown): number {
  if (value === undefined) return 0;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > target.maxPriority) {
    throw new InvalidArgumentError(
      target.maxPriority === 0
        ? `queue "${target.name}" has no priorities (maxPriority 0): send without priority, or declare it with maxPriority`
        : `priority must be an integer 0 .. ${target.maxPriority} on queue "${target.name}", got ${String(value)}`,
    );
  }
  return value;
}

/** Refuses a body that is too large before the codec reads it (a 512 MiB Uint8Array sent to a json queue is not parsed first). */
function checkSize(body: unknown): void {
  const bytes = body instanceof Uint8Array ? body.byteLength : typeof body === 'string' ? body.length : 0;
  if (bytes > MESSAGE_BYTES_MAX) {
    throw new MessageTooLargeError(`a body of ${bytes}${body instanceof Uint8Array ? ' bytes' : ' characters'} is larger than a queue takes (${MESSAGE_BYTES_MAX} bytes): send a smaller body`);
  }
}

function stringField(name: string, value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value.length === 0 || value.length > 1024) throw new InvalidArgumentError(`${name} must be a non-empty string of at most 1024 characters`);
  return value;
}

function extensionsOf(item: BatchItem): Extensions | null {
  const id = stringField('id', item.id);
  const correlationId = stringField('correlationId', item.correlationId);
  const replyTo = stringField('replyTo', item.replyTo);
  const headers = item.headers === undefined ? undefined : validHeaders(item.headers);
  if (id === undefined && correlationId === undefined && replyTo === undefined && headers === undefined) return null;
  let bytes = EXT_FIXED_BYTES;
  for (const text of [id, correlationId, replyTo]) if (text !== undefined) bytes += 2 + Buffer.byteLength(text, 'utf8');
  if (headers !== undefined) {
    for (const name in headers) bytes += 2 + Buffer.byteLength(name, 'utf8') + 4 + Buffer.byteLength(headers[name]!, 'utf8');
  }
  return { id, correlationId, replyTo, headers, bytes: (bytes + 3) & ~3 };
}

/** Header names are u16-length strings in the ext block; at most 65,535 headers. */
function validHeaders(headers: unknown): Record<string, string> {
  if (headers === null || typeof headers !== 'object' || Array.isArray(headers)) throw new InvalidArgumentError('headers must be an object of string values');
  let count = 0;
  for (const [name, value] of Object.entries(headers)) {
    if (typeof value !== 'string') throw new InvalidArgumentError(`header ${JSON.stringify(name)} must be a string, got ${typeof value}`);
    if (name.length > 1024) throw new InvalidArgumentError(`header names must be at most 1024 characters, got ${name.length}`);
    if (++count > HEADERS_MAX) throw new InvalidArgumentError(`a message has at most ${HEADERS_MAX} headers`);
  }
  return headers as Record<string, string>;
}

function writeExtensions(arena: Arena, at: number, ext: Extensions): void {
  const buffer = arena.buffer;
  const bytes = arena.bytes;
  let count = 0;
  if (ext.headers !== undefined) for (const _ in ext.headers) count++;
  arena.u32[at >>> 2] = ext.bytes;
  bytes[at + 4] = (ext.id === undefined ? 0 : EXT_ID) | (ext.correlationId === undefined ? 0 : EXT_CORRELATION) | (ext.replyTo === undefined ? 0 : EXT_REPLY_TO);
  bytes[at + 5] = 0;
  bytes[at + 6] = count & 0xff;
  bytes[at + 7] = count >>> 8;
  let p = at + EXT_FIXED_BYTES;
  const string16 = (text: string) => {
    const written = buffer.utf8Write(text, p + 2, EXT_STRING_BYTES_MAX);
    bytes[p] = written & 0xff;
    bytes[p + 1] = written >>> 8;
    p += 2 + written;
  };
  if (ext.id !== undefined) string16(ext.id);
  if (ext.correlationId !== undefined) string16(ext.correlationId);
  if (ext.replyTo !== undefined) string16(ext.replyTo);
  if (ext.headers !== undefined) {
    for (const name in ext.headers) {
      string16(name);
      const written = buffer.utf8Write(ext.headers[name]!, p + 4, MESSAGE_BYTES_MAX);
      buffer.writeUInt32LE(written, p);
      p += 4 + written;
    }
  }
  assert.ok(p <= at + ext.bytes, 'the ext block fits its size');
}

// ---------------------------------------------------------------------------------------------
// Reading (any thread)
// ---------------------------------------------------------------------------------------------

/** The address just past the record at `pos`. */
export function recordEnd(u32: Uint32Array, pos: number): number {
  const word = u32[pos >>> 2]!;
  const body = word & BODY_MASK;
  const ext = word >= RECORD_EXT ? u32[(pos + 4) >>> 2]! : 0;
  return pos + 4 + ext + ((body + 3) & ~3);
}

/** Body bytes of the record at `pos`. */
export function recordBodyBytes(u32: Uint32Array, pos: number): number {
  return u32[pos >>> 2]! & BODY_MASK;
}

/** Where the body of the record at `pos` starts. */
export function recordBodyStart(u32: Uint32Array, pos: number): number {
  return u32[pos >>> 2]! >= RECORD_EXT ? pos + 4 + u32[(pos + 4) >>> 2]! : pos + 4;
}

/** The record position of message `index` of the batch at `batch` (walks from the first record: for the rare lookups out of order). */
export function recordAt(u32: Uint32Array, batch: number, index: number): number {
  let pos = batch + QB_HEADER_BYTES;
  for (let i = 0; i < index; i++) pos = recordEnd(u32, pos);
  return pos;
}

/** The extensions of a record, decoded (only where a message's id, headers or reply fields are read). */
export interface RecordExtensions {
  id: string | undefined;
  correlationId: string | undefined;
  replyTo: string | undefined;
  headers: Record<string, string>;
}

const NO_HEADERS: Record<string, string> = Object.freeze({}) as Record<string, string>;
const NO_EXTENSIONS: RecordExtensions = Object.freeze({ id: undefined, correlationId: undefined, replyTo: undefined, headers: NO_HEADERS });

export function readExtensions(arena: ArenaView, pos: number): RecordExtensions {
  const u32 = arena.u32;
  if (u32[pos >>> 2]! < RECORD_EXT) return NO_EXTENSIONS;
  const bytes = arena.bytes;
  const buffer = arena.buffer;
  const at = pos + 4;
  const fields = bytes[at + 4]!;
  const headerCount = bytes[at + 6]! | (bytes[at + 7]! << 8);
  let p = at + EXT_FIXED_BYTES;
  const string16 = () => {
    const length = bytes[p]! | (bytes[p + 1]! << 8);
    const text = buffer.utf8Slice(p + 2, p + 2 + length);
    p += 2 + length;
    return text;
  };
  const id = fields & EXT_ID ? string16() : undefined;
  const correlationId = fields & EXT_CORRELATION ? string16() : undefined;
  const replyTo = fields & EXT_REPLY_TO ? string16() : undefined;
  let headers = NO_HEADERS;
  if (headerCount > 0) {
    headers = {};
    for (let i = 0; i < headerCount; i++) {
      const name = string16();
      const length = buffer.readUInt32LE(p);
      const value = buffer.utf8Slice(p + 4, p + 4 + length);
      // A header named "__proto__" is an own property like any other (an assignment would set the prototype).
      if (name === '__proto__') Object.defineProperty(headers, name, { value, enumerable: true, writable: true, configurable: true });
      else headers[name] = value;
      p += 4 + length;
    }
  }
  return { id, correlationId, replyTo, headers };
}

/** The id of message `index` of the batch: its own, or the generated one (made into text here). */
export function messageId(arena: ArenaView & { readonly f64: Float64Array }, batch: number, index: number, pos: number): string {
  const own = arena.u32[pos >>> 2]! >= RECORD_EXT ? readExtensions(arena, pos).id : undefined;
  if (own !== undefined) return own;
  return generatedId(arena.bytes.subarray(batch + QB_ID_PREFIX, batch + QB_ID_PREFIX + 8), arena.f64[(batch + QB_ID_BASE) >>> 3]! + index);
}

/** Fixed fields of a batch header. */
export function batchCount(arena: Arena, batch: number): number {
  return arena.u32[(batch + QB_COUNT) >>> 2]!;
}

export function batchBaseOffset(arena: Arena, batch: number): number {
  return arena.f64[(batch + QB_BASE_OFFSET) >>> 3]!;
}

export function setBatchBaseOffset(arena: Arena, batch: number, offset: number): void {
  arena.f64[(batch + QB_BASE_OFFSET) >>> 3] = offset;
}
