/**
 * A queue message as it travels (runtime thread <-> queue actor, through the rings) and as it is
 * stored (one log record per message). Little-endian, one layout for both:
 *
 * ```
 *  0        1       2         3       4              12             20             28          32
 * +--------+-------+---------+-------+--------------+--------------+--------------+-----------+
 * | version| flags | priority|   0   | timestampMs  | expiresAtMs  | notBeforeMs  | deliveries|
 * |   u8   |  u8   |   u8    |       |     f64      |     f64      |     f64      |    u32    |
 * +--------+-------+---------+-------+--------------+--------------+--------------+-----------+
 * | id: u16 len + utf8, or (flag 4) prefix [8 bytes] + sequence f64 | correlationId (flag 1)  |
 * | replyTo (flag 2)                                                                         |
 * | headers: u16 count, then per header u16 name len + utf8, u32 value len + utf8           |
 * | body: u32 len + bytes                                                                    |
 * +------------------------------------------------------------------------------------------+
 * ```
 * `expiresAtMs` 0: never expires; `notBeforeMs` 0: not delayed. Times are ms since the epoch (f64).
 * Flag 4 (GENERATED_ID): the broker made the id (message-ids.ts) and it travels as its parts;
 * it reads back as the same text.
 */
import { CodecError } from '../errors.js';
import { generatedId, ID_PREFIX_BYTES } from './message-ids.js';

export const QUEUE_MESSAGE_VERSION = 1;
const FLAG_CORRELATION = 1;
const FLAG_REPLY_TO = 2;
const FLAG_GENERATED_ID = 4;
const FIXED_BYTES = 32;
const GENERATED_ID_BYTES = 16;

export interface QueueMessage {
  id: string;
  /**
   * Set when the broker generated `id` in this process (`nextMessageSequence`): `id` is then
   * `localMessageId(idSequence)`, and the message travels with the compact id.
   */
  idSequence?: number;
  body: Uint8Array;
  headers: Record<string, string>;
  priority: number;
  timestampMs: number;
  expiresAtMs: number;
  /** Delayed until then (`delayMs`); 0: deliverable at once. */
  notBeforeMs: number;
  deliveries: number;
  correlationId?: string;
  replyTo?: string;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Exact encoded size of `message`. */
export function encodedQueueMessageBytes(message: QueueMessage): number {
  let bytes = FIXED_BYTES + (message.idSequence !== undefined ? GENERATED_ID_BYTES : 2 + utf8Length(message.id));
  if (message.correlationId !== undefined) bytes += 2 + utf8Length(message.correlationId);
  if (message.replyTo !== undefined) bytes += 2 + utf8Length(message.replyTo);
  bytes += 2;
  const headers = message.headers;
  for (const name in headers) bytes += 2 + utf8Length(name) + 4 + utf8Length(headers[name]!);
  return bytes + 4 + message.body.byteLength;
}

/** UTF-8 length of `text`: counted in JS for ASCII (ids, header names), Buffer.byteLength otherwise. */
function utf8Length(text: string): number {
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) >= 0x80) return Buffer.byteLength(text, 'utf8');
  return text.length;
}

/** Writes `text` as UTF-8 at `at` (room checked by the caller's size); returns the bytes written. */
function writeUtf8(target: Uint8Array, at: number, text: string): number {
  const length = text.length;
  for (let i = 0; i < length; i++) {
    const code = text.charCodeAt(i);
    if (code >= 0x80) return i + encoder.encodeInto(text.slice(i), target.subarray(at + i)).written;
    target[at + i] = code;
  }
  return length;
}

function writeString16(target: Uint8Array, view: DataView, at: number, text: string): number {
  const written = writeUtf8(target, at + 2, text);
  view.setUint16(at, written, true);
  return at + 2 + written;
}

/**
 * Encodes into `target` at `offset` (it must have room: `encodedQueueMessageBytes`); returns the
 * end offset. `view` is a DataView over the whole of `target` (made once per batch, not per message).
 */
export function writeQueueMessage(message: QueueMessage, target: Uint8Array, offset: number, view = new DataView(target.buffer, target.byteOffset, target.byteLength)): number {
  target[offset] = QUEUE_MESSAGE_VERSION;
  const idSequence = message.idSequence;
  target[offset + 1] =
    (message.correlationId === undefined ? 0 : FLAG_CORRELATION) | (message.replyTo === undefined ? 0 : FLAG_REPLY_TO) | (idSequence === undefined ? 0 : FLAG_GENERATED_ID);
  target[offset + 2] = message.priority;
  target[offset + 3] = 0;
  view.setFloat64(offset + 4, message.timestampMs, true);
  view.setFloat64(offset + 12, message.expiresAtMs, true);
  view.setFloat64(offset + 20, message.notBeforeMs, true);
  view.setUint32(offset + 28, message.deliveries, true);
  let p: number;
  if (idSequence === undefined) p = writeString16(target, view, offset + FIXED_BYTES, message.id);
  else {
    target.set(ID_PREFIX_BYTES, offset + FIXED_BYTES);
    view.setFloat64(offset + FIXED_BYTES + 8, idSequence, true);
    p = offset + FIXED_BYTES + GENERATED_ID_BYTES;
  }
  if (message.correlationId !== undefined) p = writeString16(target, view, p, message.correlationId);
  if (message.replyTo !== undefined) p = writeString16(target, view, p, message.replyTo);
  const countAt = p;
  let count = 0;
  p += 2;
  const headers = message.headers;
  for (const name in headers) {
    p = writeString16(target, view, p, name);
    const written = writeUtf8(target, p + 4, headers[name]!);
    view.setUint32(p, written, true);
    p += 4 + written;
    count++;
  }
  view.setUint16(countAt, count, true);
  view.setUint32(p, message.body.byteLength, true);
  target.set(message.body, p + 4);
  return p + 4 + message.body.byteLength;
}

/** What the queue needs of an encoded message without decoding its strings (`scanQueueMessage`). */
export interface QueueMessageFields {
  priority: number;
  timestampMs: number;
  expiresAtMs: number;
  notBeforeMs: number;
  deliveries: number;
  bodyBytes: number;
  /** Offset just past the message. */
  end: number;
}

/**
 * Reads the fixed fields of the message at `offset` and finds where it ends, skipping its
 * strings by their lengths: the queue's hot path handles messages as opaque bytes and never
 * decodes an id or a header. Fills and returns `into` (reused by the caller: no allocation).
 */
export function scanQueueMessage(bytes: Uint8Array, view: DataView, offset: number, into: QueueMessageFields): QueueMessageFields {
  try {
    return scan(bytes, view, offset, into);
  } catch (error) {
    throw error instanceof CodecError ? error : new CodecError(`a queue message could not be decoded: ${(error as Error).message}`, { cause: error });
  }
}

function scan(bytes: Uint8Array, view: DataView, offset: number, into: QueueMessageFields): QueueMessageFields {
  if (bytes[offset] !== QUEUE_MESSAGE_VERSION) throw new CodecError(`a queue message could not be decoded: unknown message version ${bytes[offset]}`);
  const flags = bytes[offset + 1]!;
  into.priority = bytes[offset + 2]!;
  into.timestampMs = view.getFloat64(offset + 4, true);
  into.expiresAtMs = view.getFloat64(offset + 12, true);
  into.notBeforeMs = view.getFloat64(offset + 20, true);
  into.deliveries = view.getUint32(offset + 28, true);
  let p = offset + FIXED_BYTES;
  p += flags & FLAG_GENERATED_ID ? GENERATED_ID_BYTES : 2 + view.getUint16(p, true);
  if (flags & FLAG_CORRELATION) p += 2 + view.getUint16(p, true);
  if (flags & FLAG_REPLY_TO) p += 2 + view.getUint16(p, true);
  const headerCount = view.getUint16(p, true);
  p += 2;
  for (let i = 0; i < headerCount; i++) {
    p += 2 + view.getUint16(p, true);
    p += 4 + view.getUint32(p, true);
  }
  into.bodyBytes = view.getUint32(p, true);
  into.end = p + 4 + into.bodyBytes;
  if (into.end > bytes.byteLength) throw new CodecError('a queue message could not be decoded: body runs past the record');
  return into;
}

/** Offset of the `deliveries` field within an encoded message (patched as a message goes out). */
export const DELIVERIES_FIELD = 28;

export function emptyQueueMessageFields(): QueueMessageFields {
  return { priority: 0, timestampMs: 0, expiresAtMs: 0, notBeforeMs: 0, deliveries: 0, bodyBytes: 0, end: 0 };
}

/** Rewrites the `expiresAtMs` field of an encoded message in place. */
export function setExpiresAt(encoded: Uint8Array, expiresAtMs: number): void {
  new DataView(encoded.buffer, encoded.byteOffset, encoded.byteLength).setFloat64(12, expiresAtMs, true);
}

export function encodeQueueMessage(message: QueueMessage): Uint8Array {
  const bytes = new Uint8Array(encodedQueueMessageBytes(message));
  writeQueueMessage(message, bytes, 0);
  return bytes;
}

/** Decodes a message; its body is a copy when `copyBody`, else a view into `bytes`. Returns the end offset too. */
export function readQueueMessage(bytes: Uint8Array, offset: number, copyBody: boolean): { message: QueueMessage; end: number } {
  try {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (bytes[offset] !== QUEUE_MESSAGE_VERSION) throw new Error(`unknown message version ${bytes[offset]}`);
    const flags = bytes[offset + 1]!;
    let p = offset + FIXED_BYTES;
    const string16 = () => {
      const length = view.getUint16(p, true);
      const text = decoder.decode(bytes.subarray(p + 2, p + 2 + length));
      p += 2 + length;
      return text;
    };
    const generatedIdAt = () => {
      const id = generatedId(bytes.subarray(p, p + 8), view.getFloat64(p + 8, true));
      p += GENERATED_ID_BYTES;
      return id;
    };
    const message: QueueMessage = {
      priority: bytes[offset + 2]!,
      timestampMs: view.getFloat64(offset + 4, true),
      expiresAtMs: view.getFloat64(offset + 12, true),
      notBeforeMs: view.getFloat64(offset + 20, true),
      deliveries: view.getUint32(offset + 28, true),
      id: flags & FLAG_GENERATED_ID ? generatedIdAt() : string16(),
      headers: {},
      body: new Uint8Array(0),
    };
    if (flags & FLAG_CORRELATION) message.correlationId = string16();
    if (flags & FLAG_REPLY_TO) message.replyTo = string16();
    const headerCount = view.getUint16(p, true);
    p += 2;
    for (let i = 0; i < headerCount; i++) {
      const name = string16();
      const length = view.getUint32(p, true);
      message.headers[name] = decoder.decode(bytes.subarray(p + 4, p + 4 + length));
      p += 4 + length;
    }
    const bodyLength = view.getUint32(p, true);
    if (p + 4 + bodyLength > bytes.byteLength) throw new Error('body runs past the record');
    message.body = copyBody ? bytes.slice(p + 4, p + 4 + bodyLength) : bytes.subarray(p + 4, p + 4 + bodyLength);
    return { message, end: p + 4 + bodyLength };
  } catch (error) {
    throw new CodecError(`a queue message could not be decoded: ${(error as Error).message}`, { cause: error });
  }
}
