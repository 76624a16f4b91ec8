/**
 * The bodies every end-to-end row sends: each distinct, carrying its producer id and sequence
 * number (and, for latency rows, the time it was meant to be sent), so that consumers can check
 * order, loss and duplicates (sequence-check.ts) and nothing can be answered from a cache.
 *
 *   raw  : a Uint8Array of exactly `size` bytes: u32 producer, u32 sequence, f64 time (LE), then
 *          filler whose bytes are the sequence's low byte (the last one is checked).
 *   json : `{ p, s, pad }` (or `{ p, s, t, pad }`), the pad sized so that the JSON text is exactly
 *          `size` bytes; the codec (or the peer) turns it into text.
 */
export type BodyCodec = 'json' | 'raw';

export interface BodyShape {
  codec: BodyCodec;
  size: number;
}

export interface JsonBody {
  p: number;
  s: number;
  t?: number;
  pad: string;
}

/** The smallest raw body: the header. */
export const RAW_HEADER_BYTES = 16;

/** What readBody last read; one object reused, so that checking a message allocates nothing. */
export const decoded = { p: 0, s: 0, t: 0 };

const pads: string[] = [];

function digits(n: number): number {
  return n < 10 ? 1 : Math.floor(Math.log10(n)) + 1;
}

function pad(length: number): string {
  return (pads[length] ??= 'x'.repeat(Math.max(0, length)));
}

/** JSON text length of `{"p":P,"s":S,"pad":""}` (and `"t":T` when given): 20 + the digits. */
function jsonOverhead(p: number, s: number, tText: string | null): number {
  return 20 + digits(p) + digits(s) + (tText === null ? 0 : 5 + tText.length);
}

export function jsonBody(size: number, p: number, s: number, t?: number): JsonBody {
  if (t === undefined) return { p, s, pad: pad(size - jsonOverhead(p, s, null)) };
  return { p, s, t, pad: pad(size - jsonOverhead(p, s, JSON.stringify(t))) };
}

/** Writes a raw body into `bytes` (exactly `size` long). */
export function writeRawBody(bytes: Uint8Array, p: number, s: number, t = 0): void {
  // Byte by byte, as readRawBody reads: a DataView per body costs more than the rest of a send.
  bytes[0] = p & 0xff;
  bytes[1] = (p >>> 8) & 0xff;
  bytes[2] = (p >>> 16) & 0xff;
  bytes[3] = p >>> 24;
  bytes[4] = s & 0xff;
  bytes[5] = (s >>> 8) & 0xff;
  bytes[6] = (s >>> 16) & 0xff;
  bytes[7] = s >>> 24;
  f64[0] = t;
  for (let i = 0; i < 8; i++) bytes[8 + i] = f64Bytes[i]!;
  bytes.fill(s & 0xff, RAW_HEADER_BYTES);
}

export function rawBody(size: number, p: number, s: number, t = 0): Uint8Array {
  const bytes = new Uint8Array(size);
  writeRawBody(bytes, p, s, t);
  return bytes;
}

export function makeBody(shape: BodyShape, p: number, s: number, t?: number): Uint8Array | JsonBody {
  return shape.codec === 'raw' ? rawBody(shape.size, p, s, t) : jsonBody(shape.size, p, s, t);
}

/**
 * `count` bodies of producer `p` from sequence `first`. Raw bodies are views into one fresh
 * buffer per batch (nothing is reused across batches: a transport that kept a body would see it
 * unchanged).
 */
export function makeBatch(shape: BodyShape, p: number, first: number, count: number): Array<Uint8Array | JsonBody> {
  const out = new Array<Uint8Array | JsonBody>(count);
  if (shape.codec === 'json') {
    for (let i = 0; i < count; i++) out[i] = jsonBody(shape.size, p, first + i);
    return out;
  }
  const buffer = new ArrayBuffer(shape.size * count);
  for (let i = 0; i < count; i++) {
    const bytes = new Uint8Array(buffer, i * shape.size, shape.size);
    writeRawBody(bytes, p, first + i);
    out[i] = bytes;
  }
  return out;
}

/**
 * Reads a body as any transport hands it over (raw bytes, the object the json codec decoded, or
 * JSON text) into `decoded`, checking its size and filler; throws on anything damaged.
 */
export function readBody(body: unknown, size: number): typeof decoded {
  if (body instanceof Uint8Array) return readRawBody(body, size);
  const value = (typeof body === 'string' ? JSON.parse(body) : body) as JsonBody;
  if (value === null || typeof value !== 'object' || typeof value.p !== 'number' || typeof value.s !== 'number' || typeof value.pad !== 'string') {
    throw new Error(`bench body damaged: not { p, s, pad }: ${String(JSON.stringify(body)).slice(0, 80)}`);
  }
  const tText = value.t === undefined ? null : JSON.stringify(value.t);
  if (jsonOverhead(value.p, value.s, tText) + value.pad.length !== size) {
    throw new Error(`bench body damaged: JSON of producer ${value.p} seq ${value.s} is not ${size} B`);
  }
  decoded.p = value.p;
  decoded.s = value.s;
  decoded.t = value.t ?? 0;
  return decoded;
}

/** readRawBody of a body read in place: `length` bytes of `bytes` from `at` (queue consumers' `msg.buffer`). */
export function readRawBodyAt(bytes: Uint8Array, at: number, length: number, size: number): typeof decoded {
  if (length !== size) throw new Error(`bench body damaged: ${length} B where ${size} B were sent`);
  const p = (bytes[at]! | (bytes[at + 1]! << 8) | (bytes[at + 2]! << 16) | (bytes[at + 3]! << 24)) >>> 0;
  const s = (bytes[at + 4]! | (bytes[at + 5]! << 8) | (bytes[at + 6]! << 16) | (bytes[at + 7]! << 24)) >>> 0;
  if (size > RAW_HEADER_BYTES && bytes[at + size - 1] !== (s & 0xff)) throw new Error(`bench body damaged: producer ${p} seq ${s} has a wrong last byte`);
  decoded.p = p;
  decoded.s = s;
  decoded.t = size >= RAW_HEADER_BYTES ? readF64(bytes, at + 8) : 0;
  return decoded;
}

export function readRawBody(bytes: Uint8Array, size: number): typeof decoded {
  if (bytes.byteLength !== size) throw new Error(`bench body damaged: ${bytes.byteLength} B where ${size} B were sent`);
  // Byte by byte: no DataView per message.
  const p = (bytes[0]! | (bytes[1]! << 8) | (bytes[2]! << 16) | (bytes[3]! << 24)) >>> 0;
  const s = (bytes[4]! | (bytes[5]! << 8) | (bytes[6]! << 16) | (bytes[7]! << 24)) >>> 0;
  if (size > RAW_HEADER_BYTES && bytes[size - 1] !== (s & 0xff)) throw new Error(`bench body damaged: producer ${p} seq ${s} has a wrong last byte`);
  decoded.p = p;
  decoded.s = s;
  decoded.t = size >= RAW_HEADER_BYTES ? readF64(bytes, 8) : 0;
  return decoded;
}

// Platform byte order, little-endian on every machine Node ships for (x64, arm64).
const f64 = new Float64Array(1);
const f64Bytes = new Uint8Array(f64.buffer);

function readF64(bytes: Uint8Array, at: number): number {
  for (let i = 0; i < 8; i++) f64Bytes[i] = bytes[at + i]!;
  return f64[0]!;
}
