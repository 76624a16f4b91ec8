/**
 * The record batch: the unit the WAL writes, checksums and recovers.
 *
 * One `append` of one log becomes one batch. Every batch in the data directory's shared WAL
 * names its log, so the segment files need no catalogue to be read back, and a torn write can
 * cut at most the batches it touched. All integers are little-endian.
 *
 * ```
 *  0               4               8       9       10              12
 * +---------------+---------------+-------+-------+---------------+
 * | batchLength   | crc           |version| attrs | logNameBytes  |   batchLength: whole batch,
 * +---------------+---------------+-------+-------+---------------+   header included
 * 12              16                              24
 * +---------------+-------------------------------+
 * | recordCount   | baseLsn (u64)                 |   baseLsn: WAL-wide offset of record 0
 * +---------------+-------------------------------+
 * 24                              32                              40
 * +-------------------------------+-------------------------------+
 * | logBaseOffset (u64)           | firstTimestampMs (u64)        |
 * +-------------------------------+-------------------------------+
 * 40                              48              52              56
 * +-------------------------------+---------------+---------------+
 * | maxTimestampMs (u64)          |lastOffsetDelta| writerEpoch   |
 * +-------------------------------+---------------+---------------+
 * 56
 * +-- logName (utf8, logNameBytes) --+-- record 0 --+-- record 1 --+ ...
 *
 * crc = zlib.crc32 (IEEE) of bytes [8, batchLength): everything after the crc field.
 *
 * record:
 *   varint  bodyBytes            bytes after this varint
 *   u8      attributes           the caller's byte, stored as given
 *   varint  offsetDelta          record offset = base + delta (the LSN and the log offset alike)
 *   varint  zigzag(timestampMs - firstTimestampMs)
 *   varint  keyBytes + 1         0: null key
 *   bytes   key
 *   varint  headerCount
 *     varint nameBytes, utf8 name, varint valueBytes, bytes value   (headerCount times)
 *   varint  valueBytes + 1       0: null value (a tombstone)
 *   bytes   value
 * ```
 *
 * Offset deltas are explicit (not the record's index) so compaction can drop records from a
 * batch and keep every survivor's offset. `lastOffsetDelta` keeps the batch's span even when its
 * last records were compacted away, so the next batch's `baseLsn` still follows it.
 *
 * Opaque batch (attribute bit 1): the same header, then the log name, then a body the WAL does not
 * look into (a queue batch of the arena, src/broker/queue/queue-batch.ts, stored byte for byte):
 *
 * ```
 * 0                          56                    56 + logNameBytes                batchLength
 * +--------------------------+---------------------+--------------------------------+
 * | header (as above)        | logName (utf8)      | body (opaque, no record framing)|
 * +--------------------------+---------------------+--------------------------------+
 *   recordCount = the body's message count, lastOffsetDelta = recordCount - 1 (exactly),
 *   firstTimestampMs = maxTimestampMs = the batch's timestamp
 * ```
 *
 * It spans `recordCount` offsets and LSNs as a record batch of that many records does, so
 * offsets, acknowledgements and retention treat both alike; only `decodeRecords` refuses it
 * (there are no records to decode). Opaque batches are never compacted (compacted logs refuse them).
 *
 * Batch attributes (a reader rejects unknown bits and impossible combinations):
 *   bit 0  CONTROL     the batch is the log's bookkeeping, not data; it acknowledges its own offset.
 *                      Its one record is an acknowledgement (ack-ranges.ts: `varint count`, then
 *                      `varint start, varint length` per range), or with bit 2 a delivery record.
 *   bit 1  OPAQUE      an opaque body, as drawn above (never with CONTROL)
 *   bit 2  DELIVERIES  with CONTROL: the record's value holds queue delivery counts
 *                      (delivery-counts.ts: `varint n`, then n x `varint offsetDelta, varint count`,
 *                      offsets rising, the first delta from 0)
 */
import assert from 'node:assert/strict';
import { crc32 } from 'node:zlib';
import type { LogRecord, RecordInput } from './actor-storage.js';
import { InvalidArgumentError } from '../errors.js';
import {
  ByteReader,
  MalformedError,
  readU16,
  readU32,
  readU64,
  unzigzag,
  varintBytes,
  writeU16,
  writeU32,
  writeU64,
  writeVarint,
  zigzag,
} from './byte-codec.js';

export type { LogRecord, RecordInput } from './actor-storage.js';

export const BATCH_VERSION = 1;

export const BATCH_LENGTH_OFFSET = 0;
export const BATCH_CRC_OFFSET = 4;
export const BATCH_VERSION_OFFSET = 8;
export const BATCH_ATTRIBUTES_OFFSET = 9;
export const BATCH_LOG_NAME_BYTES_OFFSET = 10;
export const BATCH_RECORD_COUNT_OFFSET = 12;
export const BATCH_BASE_LSN_OFFSET = 16;
export const BATCH_LOG_BASE_OFFSET_OFFSET = 24;
export const BATCH_FIRST_TIMESTAMP_OFFSET = 32;
export const BATCH_MAX_TIMESTAMP_OFFSET = 40;
export const BATCH_LAST_OFFSET_DELTA_OFFSET = 48;
export const BATCH_WRITER_EPOCH_OFFSET = 52;
export const BATCH_HEADER_BYTES = 56;
/** The CRC starts after the crc field: the length is checked by bounds, the rest by the CRC. */
export const BATCH_CRC_START = 8;

export const BATCH_ATTR_CONTROL = 0x01;
/** An opaque body instead of records (see the layout above). */
export const BATCH_ATTR_OPAQUE = 0x02;
/** With CONTROL: a delivery-count record instead of an acknowledgement. */
export const BATCH_ATTR_DELIVERIES = 0x04;
const BATCH_ATTR_KNOWN = BATCH_ATTR_CONTROL | BATCH_ATTR_OPAQUE | BATCH_ATTR_DELIVERIES;

/** Log names are file- and header-safe: they name snapshot files and fit the u16 length field. */
export const LOG_NAME_BYTES_MAX = 200;
/** Bound on records per batch (TigerStyle: a limit on everything). */
export const BATCH_RECORDS_MAX = 1 << 20;

/** The fixed fields of a batch header. */
export interface BatchHeader {
  batchLength: number;
  crc: number;
  version: number;
  attributes: number;
  recordCount: number;
  baseLsn: number;
  logBaseOffset: number;
  firstTimestampMs: number;
  maxTimestampMs: number;
  lastOffsetDelta: number;
  writerEpoch: number;
  logName: string;
}

export interface BatchFields {
  attributes: number;
  baseLsn: number;
  logBaseOffset: number;
  writerEpoch: number;
  /** utf8 of the log name (cached by the caller: one encode per log, not per batch). */
  logName: Uint8Array;
  /** false: leave the CRC field 0 (a batch on its way to the writer, which stamps and checksums it: `restampBatch`). */
  checksum?: boolean;
}

function recordBodyBytes(record: RecordInput, offsetDelta: number, timestampDelta: number): number {
  const key = record.key;
  const value = record.value;
  const headers = record.headers;
  // attributes byte, offset delta, timestamp delta; then the key, header and value fields
  let bytes = 1 + varintBytes(offsetDelta) + varintBytes(zigzag(timestampDelta));
  bytes += key == null ? 1 : varintBytes(key.byteLength + 1) + key.byteLength;
  if (headers === undefined || headers.length === 0) {
    bytes += 1;
  } else {
    bytes += varintBytes(headers.length);
    for (const [name, headerValue] of headers) {
      const nameBytes = Buffer.byteLength(name, 'utf8');
      bytes += varintBytes(nameBytes) + nameBytes + varintBytes(headerValue.byteLength) + headerValue.byteLength;
    }
  }
  bytes += value === null ? 1 : varintBytes(value.byteLength + 1) + value.byteLength;
  return bytes;
}

/** The layout of a batch before it is written: its size and timestamps. */
export interface BatchPlan {
  batchLength: number;
  firstTimestampMs: number;
  maxTimestampMs: number;
  lastOffsetDelta: number;
  /** Each record's body size as planned, so that encoding does not size every record again. */
  recordBodyBytes?: number[];
}

/**
 * Sizes a batch. `offsetDeltas` defaults to 0..n-1 (an append); compaction passes the
 * survivors' original deltas and the batch's original `lastOffsetDelta`.
 */
export function planBatch(
  logName: Uint8Array,
  records: readonly RecordInput[],
  defaultTimestampMs: number,
  offsetDeltas?: readonly number[],
  lastOffsetDelta?: number,
  firstTimestampMs?: number,
): BatchPlan {
  assert.ok(records.length > 0 && records.length <= BATCH_RECORDS_MAX, 'a batch holds 1..BATCH_RECORDS_MAX records');
  let first = firstTimestampMs ?? records[0]!.timestampMs ?? defaultTimestampMs;
  let max = first;
  if (firstTimestampMs === undefined) {
    for (const record of records) {
      const ts = record.timestampMs ?? defaultTimestampMs;
      if (ts < first) first = ts;
    }
  }
  let bytes = BATCH_HEADER_BYTES + logName.byteLength;
  // One array per batch (not per record): the encoder reads the sizes back.
  const bodies = new Array<number>(records.length);
  for (let i = 0; i < records.length; i++) {
    const record = records[i]!;
    const ts = record.timestampMs ?? defaultTimestampMs;
    if (ts > max) max = ts;
    const body = recordBodyBytes(record, offsetDeltas === undefined ? i : offsetDeltas[i]!, ts - first);
    bodies[i] = body;
    bytes += varintBytes(body) + body;
  }
  return {
    recordBodyBytes: bodies,
    batchLength: bytes,
    firstTimestampMs: first,
    maxTimestampMs: max,
    lastOffsetDelta: lastOffsetDelta ?? (offsetDeltas === undefined ? records.length - 1 : offsetDeltas[offsetDeltas.length - 1]!),
  };
}

/** Encodes a planned batch at `target[pos]` and returns the CRC it computed. */
export function encodeBatch(
  target: Buffer,
  pos: number,
  fields: BatchFields,
  plan: BatchPlan,
  records: readonly RecordInput[],
  defaultTimestampMs: number,
  offsetDeltas?: readonly number[],
): number {
  assert.ok(pos + plan.batchLength <= target.byteLength, 'batch does not fit its target buffer');
  writeU32(target, pos + BATCH_LENGTH_OFFSET, plan.batchLength);
  target[pos + BATCH_VERSION_OFFSET] = BATCH_VERSION;
  target[pos + BATCH_ATTRIBUTES_OFFSET] = fields.attributes;
  writeU16(target, pos + BATCH_LOG_NAME_BYTES_OFFSET, fields.logName.byteLength);
  writeU32(target, pos + BATCH_RECORD_COUNT_OFFSET, records.length);
  writeU64(target, pos + BATCH_BASE_LSN_OFFSET, fields.baseLsn);
  writeU64(target, pos + BATCH_LOG_BASE_OFFSET_OFFSET, fields.logBaseOffset);
  writeU64(target, pos + BATCH_FIRST_TIMESTAMP_OFFSET, plan.firstTimestampMs);
  writeU64(target, pos + BATCH_MAX_TIMESTAMP_OFFSET, plan.maxTimestampMs);
  writeU32(target, pos + BATCH_LAST_OFFSET_DELTA_OFFSET, plan.lastOffsetDelta);
  writeU32(target, pos + BATCH_WRITER_EPOCH_OFFSET, fields.writerEpoch);
  target.set(fields.logName, pos + BATCH_HEADER_BYTES);
  let p = pos + BATCH_HEADER_BYTES + fields.logName.byteLength;
  const bodies = plan.recordBodyBytes !== undefined && plan.recordBodyBytes.length === records.length ? plan.recordBodyBytes : null;
  for (let i = 0; i < records.length; i++) {
    const record = records[i]!;
    const ts = record.timestampMs ?? defaultTimestampMs;
    const offsetDelta = offsetDeltas === undefined ? i : offsetDeltas[i]!;
    const timestampDelta = ts - plan.firstTimestampMs;
    const body = bodies === null ? recordBodyBytes(record, offsetDelta, timestampDelta) : bodies[i]!;
    p = writeVarint(target, p, body);
    const bodyEnd = p + body;
    target[p++] = record.attributes ?? 0;
    p = writeVarint(target, p, offsetDelta);
    p = writeVarint(target, p, zigzag(timestampDelta));
    if (record.key == null) {
      target[p++] = 0;
    } else {
      p = writeVarint(target, p, record.key.byteLength + 1);
      target.set(record.key, p);
      p += record.key.byteLength;
    }
    const headers = record.headers;
    if (headers === undefined) {
      target[p++] = 0;
    } else {
      p = writeVarint(target, p, headers.length);
      for (const [name, value] of headers) {
        const nameBytes = Buffer.byteLength(name, 'utf8');
        p = writeVarint(target, p, nameBytes);
        p += target.write(name, p, nameBytes, 'utf8');
        p = writeVarint(target, p, value.byteLength);
        target.set(value, p);
        p += value.byteLength;
      }
    }
    if (record.value === null) {
      target[p++] = 0;
    } else {
      p = writeVarint(target, p, record.value.byteLength + 1);
      target.set(record.value, p);
      p += record.value.byteLength;
    }
    // The plan and the record must agree, or the body length field would lie (a record changed
    // between planning and encoding). A comparison, not an assert call: this runs per record.
    if (p !== bodyEnd) assert.fail(`record ${i} encoded to ${p - bodyEnd + body} bytes, planned ${body}`);
  }
  // The encoder and the planner must agree to the byte, or the next batch would start inside this one.
  assert.equal(p - pos, plan.batchLength, 'encoded batch length differs from its plan');
  if (fields.checksum === false) {
    writeU32(target, pos + BATCH_CRC_OFFSET, 0);
    return 0;
  }
  const crc = crc32(target.subarray(pos + BATCH_CRC_START, pos + plan.batchLength));
  writeU32(target, pos + BATCH_CRC_OFFSET, crc);
  return crc;
}

/** The encoded size of a value batch (`writeValueBatch`). */
export function valueBatchBytes(logName: Uint8Array, values: readonly Uint8Array[]): number {
  assert.ok(values.length > 0 && values.length <= BATCH_RECORDS_MAX, 'a batch holds 1..BATCH_RECORDS_MAX records');
  let bytes = BATCH_HEADER_BYTES + logName.byteLength;
  for (let i = 0; i < values.length; i++) {
    const length = values[i]!.byteLength;
    // attributes, offset delta, timestamp delta (0), null key, no headers, value length + 1, value
    const body = 1 + varintBytes(i) + 1 + 1 + 1 + varintBytes(length + 1) + length;
    bytes += varintBytes(body) + body;
  }
  return bytes;
}

/**
 * `encodeBatch` for the commonest append, values only (no key, no headers, attributes 0, every
 * record stamped `timestampMs`), written in place (into a ring, say) without a plan or a record
 * object per value: the same bytes, the CRC left 0 (`checksum: false`), the LSN, log offset and
 * epoch 0 — a batch on its way to the writer, which stamps them (`restampBatch`). `batchBytes` is
 * what `valueBatchBytes` measured, and the writer checks it to the byte.
 */
export function writeValueBatch(target: Uint8Array, pos: number, logName: Uint8Array, values: readonly Uint8Array[], timestampMs: number, batchBytes: number): void {
  writeU32(target, pos + BATCH_LENGTH_OFFSET, batchBytes);
  writeU32(target, pos + BATCH_CRC_OFFSET, 0);
  target[pos + BATCH_VERSION_OFFSET] = BATCH_VERSION;
  target[pos + BATCH_ATTRIBUTES_OFFSET] = 0;
  writeU16(target, pos + BATCH_LOG_NAME_BYTES_OFFSET, logName.byteLength);
  writeU32(target, pos + BATCH_RECORD_COUNT_OFFSET, values.length);
  writeU64(target, pos + BATCH_BASE_LSN_OFFSET, 0);
  writeU64(target, pos + BATCH_LOG_BASE_OFFSET_OFFSET, 0);
  writeU64(target, pos + BATCH_FIRST_TIMESTAMP_OFFSET, timestampMs);
  writeU64(target, pos + BATCH_MAX_TIMESTAMP_OFFSET, timestampMs);
  writeU32(target, pos + BATCH_LAST_OFFSET_DELTA_OFFSET, values.length - 1);
  writeU32(target, pos + BATCH_WRITER_EPOCH_OFFSET, 0);
  target.set(logName, pos + BATCH_HEADER_BYTES);
  let p = pos + BATCH_HEADER_BYTES + logName.byteLength;
  for (let i = 0; i < values.length; i++) {
    const value = values[i]!;
    const length = value.byteLength;
    p = writeVarint(target, p, 1 + varintBytes(i) + 3 + varintBytes(length + 1) + length);
    target[p++] = 0;
    p = writeVarint(target, p, i);
    target[p++] = 0;
    target[p++] = 0;
    target[p++] = 0;
    p = writeVarint(target, p, length + 1);
    target.set(value, p);
    p += length;
  }
  // Measure and write must agree to the byte, or the next batch would start inside this one.
  assert.equal(p - pos, batchBytes, 'value batch length differs from its size');
}

/**
 * Writes an already encoded batch (one that came from an actor host in this very format) at
 * `target[pos]` with the fields only the writer knows — its LSN, its log offset, the writer's
 * epoch — and its CRC. The records are copied as they are, never decoded and encoded again.
 */
export function restampBatch(target: Buffer, pos: number, batch: Uint8Array, baseLsn: number, logBaseOffset: number, writerEpoch: number): void {
  target.set(batch, pos);
  writeU64(target, pos + BATCH_BASE_LSN_OFFSET, baseLsn);
  writeU64(target, pos + BATCH_LOG_BASE_OFFSET_OFFSET, logBaseOffset);
  writeU32(target, pos + BATCH_WRITER_EPOCH_OFFSET, writerEpoch);
  writeU32(target, pos + BATCH_CRC_OFFSET, crc32(target.subarray(pos + BATCH_CRC_START, pos + batch.byteLength)));
}

/** Checks one record of an append: every bad field is an InvalidArgumentError naming the record. */
export function validateRecord(record: RecordInput, index: number, compact: boolean): void {
  const where = `record ${index}`;
  if (record === null || typeof record !== 'object') throw new InvalidArgumentError(`${where} must be an object { value, key?, headers?, timestampMs?, attributes? }`);
  if (record.value !== null && !(record.value instanceof Uint8Array)) throw new InvalidArgumentError(`${where}: value must be a Uint8Array or null`);
  if (record.key != null && !(record.key instanceof Uint8Array)) throw new InvalidArgumentError(`${where}: key must be a Uint8Array, null or absent`);
  if (compact && record.key == null) throw new InvalidArgumentError(`${where}: a compacted log needs a key on every record`);
  if (record.attributes !== undefined && !(Number.isInteger(record.attributes) && record.attributes >= 0 && record.attributes <= 255)) {
    throw new InvalidArgumentError(`${where}: attributes must be an integer 0..255, got ${String(record.attributes)}`);
  }
  if (record.timestampMs !== undefined && !(Number.isSafeInteger(record.timestampMs) && record.timestampMs >= 0)) {
    throw new InvalidArgumentError(`${where}: timestampMs must be a non-negative integer, got ${String(record.timestampMs)}`);
  }
  if (record.headers !== undefined) {
    if (!Array.isArray(record.headers)) throw new InvalidArgumentError(`${where}: headers must be an array of [name, bytes] pairs`);
    for (const header of record.headers) {
      if (!Array.isArray(header) || typeof header[0] !== 'string' || !(header[1] instanceof Uint8Array)) {
        throw new InvalidArgumentError(`${where}: each header must be a [string, Uint8Array] pair`);
      }
    }
  }
}

/** Why a batch at a position is not a valid batch; null when it is. */
export type BatchCheck = { ok: true; batchLength: number } | { ok: false; reason: string; zero: boolean };

/**
 * Validates the batch at `buf[pos]`, of which `available` bytes are readable (the rest of the
 * file). Checks the length's bounds, the version, unknown attribute bits and the CRC. `zero` is
 * set when the length field is 0, the signature of a preallocated or zeroed region.
 */
export function checkBatch(buf: Uint8Array, pos: number, available: number, batchBytesMax: number): BatchCheck {
  if (available < BATCH_HEADER_BYTES) {
    const zero = buf.subarray(pos, pos + Math.min(available, 4)).every((b) => b === 0);
    return { ok: false, reason: `${available} bytes left, fewer than a batch header (${BATCH_HEADER_BYTES})`, zero };
  }
  const batchLength = readU32(buf, pos + BATCH_LENGTH_OFFSET);
  if (batchLength === 0) return { ok: false, reason: 'batch length 0 (zeroed region)', zero: true };
  if (batchLength < BATCH_HEADER_BYTES || batchLength > batchBytesMax) {
    return { ok: false, reason: `batch length ${batchLength} outside [${BATCH_HEADER_BYTES}, ${batchBytesMax}]`, zero: false };
  }
  if (batchLength > available) {
    return { ok: false, reason: `batch length ${batchLength} runs past the end of the file (${available} bytes left)`, zero: false };
  }
  const version = buf[pos + BATCH_VERSION_OFFSET]!;
  const attributes = buf[pos + BATCH_ATTRIBUTES_OFFSET]!;
  const expected = readU32(buf, pos + BATCH_CRC_OFFSET);
  const actual = crc32(buf.subarray(pos + BATCH_CRC_START, pos + batchLength));
  if (actual !== expected) {
    return { ok: false, reason: `CRC mismatch (stored ${hex(expected)}, computed ${hex(actual)})`, zero: false };
  }
  if (version !== BATCH_VERSION) return { ok: false, reason: `unknown batch version ${version}`, zero: false };
  if ((attributes & ~BATCH_ATTR_KNOWN) !== 0) return { ok: false, reason: `unknown batch attributes ${hex(attributes)}`, zero: false };
  return { ok: true, batchLength };
}

function hex(n: number): string {
  return `0x${n.toString(16).padStart(8, '0')}`;
}

/**
 * Reads the header of a batch that passed `checkBatch`. Throws `MalformedError` when fields
 * that the CRC cannot vouch for as meaningful are impossible (a name running past the batch,
 * offsets beyond 2^53, zero records).
 */
export function readBatchHeader(buf: Uint8Array, pos: number): BatchHeader {
  const batchLength = readU32(buf, pos + BATCH_LENGTH_OFFSET);
  const logNameBytes = readU16(buf, pos + BATCH_LOG_NAME_BYTES_OFFSET);
  if (BATCH_HEADER_BYTES + logNameBytes > batchLength) throw new MalformedError('log name runs past the batch');
  const header: BatchHeader = {
    batchLength,
    crc: readU32(buf, pos + BATCH_CRC_OFFSET),
    version: buf[pos + BATCH_VERSION_OFFSET]!,
    attributes: buf[pos + BATCH_ATTRIBUTES_OFFSET]!,
    recordCount: readU32(buf, pos + BATCH_RECORD_COUNT_OFFSET),
    baseLsn: readU64(buf, pos + BATCH_BASE_LSN_OFFSET),
    logBaseOffset: readU64(buf, pos + BATCH_LOG_BASE_OFFSET_OFFSET),
    firstTimestampMs: readU64(buf, pos + BATCH_FIRST_TIMESTAMP_OFFSET),
    maxTimestampMs: readU64(buf, pos + BATCH_MAX_TIMESTAMP_OFFSET),
    lastOffsetDelta: readU32(buf, pos + BATCH_LAST_OFFSET_DELTA_OFFSET),
    writerEpoch: readU32(buf, pos + BATCH_WRITER_EPOCH_OFFSET),
    logName: Buffer.from(buf.buffer, buf.byteOffset + pos + BATCH_HEADER_BYTES, logNameBytes).toString('utf8'),
  };
  if (Number.isNaN(header.baseLsn) || Number.isNaN(header.logBaseOffset) || Number.isNaN(header.firstTimestampMs) || Number.isNaN(header.maxTimestampMs)) {
    throw new MalformedError('a 64-bit field is above 2^53');
  }
  if (header.recordCount === 0 || header.recordCount > BATCH_RECORDS_MAX) throw new MalformedError(`record count ${header.recordCount}`);
  if (header.lastOffsetDelta < header.recordCount - 1) throw new MalformedError('lastOffsetDelta smaller than the record count');
  if (logNameBytes === 0) throw new MalformedError('empty log name');
  const attributes = header.attributes;
  if ((attributes & BATCH_ATTR_OPAQUE) !== 0) {
    if ((attributes & (BATCH_ATTR_CONTROL | BATCH_ATTR_DELIVERIES)) !== 0) throw new MalformedError(`opaque batch with control attributes 0x${attributes.toString(16)}`);
    // An opaque batch is never compacted: its span is its message count, exactly.
    if (header.lastOffsetDelta !== header.recordCount - 1) throw new MalformedError(`opaque batch of ${header.recordCount} messages spans ${header.lastOffsetDelta + 1} offsets`);
  } else if ((attributes & BATCH_ATTR_DELIVERIES) !== 0 && (attributes & BATCH_ATTR_CONTROL) === 0) {
    throw new MalformedError('delivery attribute without the control attribute');
  }
  return header;
}

/** Where the body of a batch starts, from the batch's start: after the header and the log name. */
export function batchBodyStart(logNameBytes: number): number {
  return BATCH_HEADER_BYTES + logNameBytes;
}

/** The encoded size of an opaque batch of `bodyBytes` for the log named `logName`. */
export function opaqueBatchBytes(logName: Uint8Array, bodyBytes: number): number {
  return BATCH_HEADER_BYTES + logName.byteLength + bodyBytes;
}

/**
 * Encodes an opaque batch at `target[pos]`: the header (attributes from `fields`, which must
 * include BATCH_ATTR_OPAQUE), the log name, and `body` copied as it is. Returns the CRC (0 with
 * `checksum: false`).
 */
export function encodeOpaqueBatch(target: Buffer, pos: number, fields: BatchFields, body: Uint8Array, count: number, timestampMs: number): number {
  assert.ok((fields.attributes & BATCH_ATTR_OPAQUE) !== 0 && (fields.attributes & BATCH_ATTR_CONTROL) === 0, 'an opaque batch has the opaque attribute and no control one');
  assert.ok(Number.isInteger(count) && count > 0 && count <= BATCH_RECORDS_MAX, 'an opaque batch holds 1..BATCH_RECORDS_MAX messages');
  const batchLength = opaqueBatchBytes(fields.logName, body.byteLength);
  assert.ok(pos + batchLength <= target.byteLength, 'batch does not fit its target buffer');
  writeU32(target, pos + BATCH_LENGTH_OFFSET, batchLength);
  target[pos + BATCH_VERSION_OFFSET] = BATCH_VERSION;
  target[pos + BATCH_ATTRIBUTES_OFFSET] = fields.attributes;
  writeU16(target, pos + BATCH_LOG_NAME_BYTES_OFFSET, fields.logName.byteLength);
  writeU32(target, pos + BATCH_RECORD_COUNT_OFFSET, count);
  writeU64(target, pos + BATCH_BASE_LSN_OFFSET, fields.baseLsn);
  writeU64(target, pos + BATCH_LOG_BASE_OFFSET_OFFSET, fields.logBaseOffset);
  writeU64(target, pos + BATCH_FIRST_TIMESTAMP_OFFSET, timestampMs);
  writeU64(target, pos + BATCH_MAX_TIMESTAMP_OFFSET, timestampMs);
  writeU32(target, pos + BATCH_LAST_OFFSET_DELTA_OFFSET, count - 1);
  writeU32(target, pos + BATCH_WRITER_EPOCH_OFFSET, fields.writerEpoch);
  target.set(fields.logName, pos + BATCH_HEADER_BYTES);
  target.set(body, pos + BATCH_HEADER_BYTES + fields.logName.byteLength);
  if (fields.checksum === false) {
    writeU32(target, pos + BATCH_CRC_OFFSET, 0);
    return 0;
  }
  const crc = crc32(target.subarray(pos + BATCH_CRC_START, pos + batchLength));
  writeU32(target, pos + BATCH_CRC_OFFSET, crc);
  return crc;
}

/** Decodes the records of a checked batch. The records' bytes are views into `buf`. */
export function decodeRecords(buf: Uint8Array, pos: number, header: BatchHeader): LogRecord[] {
  if ((header.attributes & BATCH_ATTR_OPAQUE) !== 0) throw new MalformedError(`the batch at offset ${header.logBaseOffset} of "${header.logName}" is opaque: it has no records to decode`);
  const reader = new ByteReader(buf, pos + BATCH_HEADER_BYTES + Buffer.byteLength(header.logName, 'utf8'), pos + header.batchLength);
  const records: LogRecord[] = [];
  let previousDelta = -1;
  for (let i = 0; i < header.recordCount; i++) {
    const bodyBytes = reader.varint();
    const bodyEnd = reader.pos + bodyBytes;
    if (bodyEnd > reader.end) throw new MalformedError('record runs past the batch');
    const attributes = reader.u8();
    const offsetDelta = reader.varint();
    // Deltas rise strictly: an offset appears once per batch, in order.
    if (offsetDelta <= previousDelta || offsetDelta > header.lastOffsetDelta) throw new MalformedError(`offset delta ${offsetDelta} out of order`);
    previousDelta = offsetDelta;
    const timestampMs = header.firstTimestampMs + unzigzag(reader.varint());
    const keyField = reader.varint();
    const key = keyField === 0 ? null : reader.bytes(keyField - 1);
    const headerCount = reader.varint();
    const headers: Array<[string, Uint8Array]> = [];
    for (let h = 0; h < headerCount; h++) {
      const name = reader.bytes(reader.varint());
      const value = reader.bytes(reader.varint());
      headers.push([Buffer.from(name.buffer, name.byteOffset, name.byteLength).toString('utf8'), value]);
    }
    const valueField = reader.varint();
    const value = valueField === 0 ? null : reader.bytes(valueField - 1);
    if (reader.pos !== bodyEnd) throw new MalformedError('record body length disagrees with its fields');
    records.push({ offset: header.logBaseOffset + offsetDelta, timestampMs, key, value, headers, attributes });
  }
  if (reader.pos !== reader.end) throw new MalformedError('bytes left after the last record');
  return records;
}

/** The offset delta of each record, for compaction (which must keep them). */
export function recordOffsetDelta(record: LogRecord, header: BatchHeader): number {
  return record.offset - header.logBaseOffset;
}
