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
 * | id: u16 len + utf8 | correlationId (flag 1) | replyTo (flag 2)                         |
 * | headers: u16 count, then per header u16 name len + utf8, u32 value len + utf8           |
 * | body: u32 len + bytes                                                                    |
 * +------------------------------------------------------------------------------------------+
 * ```
 * `expiresAtMs` 0: never expires; `notBeforeMs` 0: not delayed. Times are ms since the epoch (f64).
 */
import { CodecError } from '../errors.js';

export const QUEUE_MESSAGE_VERSION = 1;
const FLAG_CORRELATION = 1;
const FLAG_REPLY_TO = 2;
const FIXED_BYTES = 32;

export interface QueueMessage {
  id: string;
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

export function encodedQueueMessageBytes(message: QueueMessage): number {
  let bytes = FIXED_BYTES + 2 + Buffer.byteLength(message.id);
  if (message.correlationId !== undefined) bytes += 2 + Buffer.byteLength(message.correlationId);
  if (message.replyTo !== undefined) bytes += 2 + Buffer.byteLength(message.replyTo);
  bytes += 2;
  for (const [name, value] of Object.entries(message.headers)) bytes += 2 + Buffer.byteLength(name) + 4 + Buffer.byteLength(value);
  return bytes + 4 + message.body.byteLength;
}

/** Encodes into `target` at `offset` (it must have room: `encodedQueueMessageBytes`); returns the end offset. */
export function writeQueueMessage(message: QueueMessage, target: Uint8Array, offset: number): number {
  const view = new DataView(target.buffer, target.byteOffset, target.byteLength);
  target[offset] = QUEUE_MESSAGE_VERSION;
  target[offset + 1] = (message.correlationId === undefined ? 0 : FLAG_CORRELATION) | (message.replyTo === undefined ? 0 : FLAG_REPLY_TO);
  target[offset + 2] = message.priority;
  target[offset + 3] = 0;
  view.setFloat64(offset + 4, message.timestampMs, true);
  view.setFloat64(offset + 12, message.expiresAtMs, true);
  view.setFloat64(offset + 20, message.notBeforeMs, true);
  view.setUint32(offset + 28, message.deliveries, true);
  let p = offset + FIXED_BYTES;
  const string16 = (text: string) => {
    const written = encoder.encodeInto(text, target.subarray(p + 2)).written;
    view.setUint16(p, written, true);
    p += 2 + written;
  };
  string16(message.id);
  if (message.correlationId !== undefined) string16(message.correlationId);
  if (message.replyTo !== undefined) string16(message.replyTo);
  const headers = Object.entries(message.headers);
  view.setUint16(p, headers.length, true);
  p += 2;
  for (const [name, value] of headers) {
    string16(name);
    const written = encoder.encodeInto(value, target.subarray(p + 4)).written;
    view.setUint32(p, written, true);
    p += 4 + written;
  }
  view.setUint32(p, message.body.byteLength, true);
  target.set(message.body, p + 4);
  return p + 4 + message.body.byteLength;
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
    const message: QueueMessage = {
      priority: bytes[offset + 2]!,
      timestampMs: view.getFloat64(offset + 4, true),
      expiresAtMs: view.getFloat64(offset + 12, true),
      notBeforeMs: view.getFloat64(offset + 20, true),
      deliveries: view.getUint32(offset + 28, true),
      id: string16(),
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
