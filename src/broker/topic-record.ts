/**
 * A topic record as it travels (runtime thread <-> partition actor, through the rings, in PRODUCE
 * and RECORDS payloads). Little-endian:
 *
 * ```
 *  0             8             16      17      18           20          24          28
 * +-------------+-------------+-------+-------+------------+-----------+-----------+
 * |   offset    | timestampMs | attrs | flags | headerCount| keyLength | bodyLength|
 * |    f64      |    f64      |  u8   |  u8   |    u16     |    u32    |    u32    |
 * +-------------+-------------+-------+-------+------------+-----------+-----------+
 * | key bytes | body bytes | headers: per header u16 name len + utf8, u32 value len + utf8  |
 * +------------------------------------------------------------------------------------------+
 * ```
 * `offset` is -1 in a PRODUCE (the log assigns it). `flags`: KEY_PRESENT, KEY_STRING (the key was
 * given as a string: it is handed back as one). In the log a record is stored as the WAL's own
 * record (key, value = body, headers, timestamp), with `attributes` = these flags, so the WAL's
 * compaction sees the key.
 */
import type { LogRecord, RecordInput } from '../actor/actor-storage.js';
import { CodecError } from '../errors.js';

export const TOPIC_RECORD_FIXED_BYTES = 28;
export const KEY_PRESENT = 1;
export const KEY_STRING = 2;
/** No body: the record deletes its key from a compacted topic (the log stores a null value). */
export const TOMBSTONE = 4;

export interface TopicRecordData {
  offset: number;
  timestampMs: number;
  flags: number;
  key: Uint8Array | null;
  body: Uint8Array;
  headers: ReadonlyArray<readonly [string, Uint8Array]>;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function encodedTopicRecordBytes(record: TopicRecordData): number {
  let bytes = TOPIC_RECORD_FIXED_BYTES + (record.key?.byteLength ?? 0) + record.body.byteLength;
  for (const [name, value] of record.headers) bytes += 2 + Buffer.byteLength(name) + 4 + value.byteLength;
  return bytes;
}

/** Records with no headers share this one (no array per record). */
const NO_HEADERS: ReadonlyArray<readonly [string, Uint8Array]> = Object.freeze([]);

/**
 * Encodes into `target` at `offset` (room: `encodedTopicRecordBytes`); returns the end offset.
 * `view` spans the whole of `target` (made once per payload, not per record).
 */
export function writeTopicRecord(record: TopicRecordData, target: Uint8Array, offset: number, view = new DataView(target.buffer, target.byteOffset, target.byteLength)): number {
  view.setFloat64(offset, record.offset, true);
  view.setFloat64(offset + 8, record.timestampMs, true);
  target[offset + 16] = 0;
  target[offset + 17] = record.flags;
  view.setUint16(offset + 18, record.headers.length, true);
  view.setUint32(offset + 20, record.key?.byteLength ?? 0, true);
  view.setUint32(offset + 24, record.body.byteLength, true);
  let p = offset + TOPIC_RECORD_FIXED_BYTES;
  if (record.key !== null) {
    target.set(record.key, p);
    p += record.key.byteLength;
  }
  target.set(record.body, p);
  p += record.body.byteLength;
  for (const [name, value] of record.headers) {
    const written = encoder.encodeInto(name, target.subarray(p + 2)).written;
    view.setUint16(p, written, true);
    p += 2 + written;
    view.setUint32(p, value.byteLength, true);
    target.set(value, p + 4);
    p += 4 + value.byteLength;
  }
  return p;
}

/**
 * Decodes the record at `offset`; its byte arrays are views into `bytes` (copy `bytes` first
 * to keep them past a ring release). Sets `cursor.end` to the offset after it.
 */
export function readTopicRecord(bytes: Uint8Array, view: DataView, offset: number, cursor: { end: number }): TopicRecordData {
  try {
    const flags = bytes[offset + 17]!;
    const headerCount = view.getUint16(offset + 18, true);
    const keyLength = view.getUint32(offset + 20, true);
    const bodyLength = view.getUint32(offset + 24, true);
    let p = offset + TOPIC_RECORD_FIXED_BYTES;
    if (p + keyLength + bodyLength > bytes.byteLength) throw new Error('key or body runs past the payload');
    const key = (flags & KEY_PRESENT) !== 0 ? bytes.subarray(p, p + keyLength) : null;
    p += keyLength;
    const body = bytes.subarray(p, p + bodyLength);
    p += bodyLength;
    let headers = NO_HEADERS;
    if (headerCount > 0) {
      const list: Array<[string, Uint8Array]> = [];
      for (let i = 0; i < headerCount; i++) {
        const nameLength = view.getUint16(p, true);
        const name = decoder.decode(bytes.subarray(p + 2, p + 2 + nameLength));
        p += 2 + nameLength;
        const valueLength = view.getUint32(p, true);
        p += 4;
        if (p + valueLength > bytes.byteLength) throw new Error('a header runs past the payload');
        list.push([name, bytes.subarray(p, p + valueLength)]);
        p += valueLength;
      }
      headers = list;
    }
    cursor.end = p;
    return { offset: view.getFloat64(offset, true), timestampMs: view.getFloat64(offset + 8, true), flags, key, body, headers };
  } catch (error) {
    throw new CodecError(`a topic record could not be decoded: ${(error as Error).message}`, { cause: error });
  }
}

/** `[u32 count][record]...` */
export function encodeTopicRecords(records: readonly TopicRecordData[], prefixBytes = 0): Uint8Array {
  let bytes = prefixBytes + 4;
  for (const record of records) bytes += encodedTopicRecordBytes(record);
  const payload = new Uint8Array(bytes);
  const view = new DataView(payload.buffer);
  view.setUint32(prefixBytes, records.length, true);
  let p = prefixBytes + 4;
  for (const record of records) p = writeTopicRecord(record, payload, p, view);
  return payload;
}

/** The records of a `[u32 count][record]...` payload at `offset`, as views into `payload`. */
export function decodeTopicRecords(payload: Uint8Array, offset: number): TopicRecordData[] {
  const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  const count = view.getUint32(offset, true);
  const records = new Array<TopicRecordData>(count);
  const cursor = { end: offset + 4 };
  for (let i = 0; i < count; i++) records[i] = readTopicRecord(payload, view, cursor.end, cursor);
  return records;
}

export function toRecordInput(record: TopicRecordData): RecordInput {
  return { key: record.key, value: (record.flags & TOMBSTONE) !== 0 ? null : record.body, headers: record.headers, timestampMs: record.timestampMs, attributes: record.flags };
}

/** A record read back from the log; its byte arrays stay views into what the log read (buffers of their own, never reused). */
export function fromLogRecord(record: LogRecord): TopicRecordData {
  return {
    offset: record.offset,
    timestampMs: record.timestampMs,
    flags: record.value === null ? record.attributes | TOMBSTONE : record.attributes,
    key: record.key,
    body: record.value ?? EMPTY,
    headers: record.headers.length === 0 ? NO_HEADERS : record.headers,
  };
}

const EMPTY = new Uint8Array(0);
