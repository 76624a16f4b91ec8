/**
 * Little-endian integer and varint helpers for the WAL's on-disk formats.
 *
 * Offsets and timestamps are JavaScript numbers, exact up to 2^53: a log would need 285 years
 * at a million records per second to pass that. They are stored as 64-bit fields (two u32
 * halves) so the format has room, and a reader rejects a value above 2^53 instead of
 * rounding it. BigInt is avoided on purpose: it allocates on every read and write.
 */
import assert from 'node:assert/strict';

const TWO_POW_32 = 0x1_0000_0000;

export function writeU32(buf: Uint8Array, pos: number, value: number): void {
  buf[pos] = value & 0xff;
  buf[pos + 1] = (value >>> 8) & 0xff;
  buf[pos + 2] = (value >>> 16) & 0xff;
  buf[pos + 3] = (value >>> 24) & 0xff;
}

export function readU32(buf: Uint8Array, pos: number): number {
  return (buf[pos]! | (buf[pos + 1]! << 8) | (buf[pos + 2]! << 16)) + buf[pos + 3]! * 0x100_0000;
}

export function writeU16(buf: Uint8Array, pos: number, value: number): void {
  buf[pos] = value & 0xff;
  buf[pos + 1] = (value >>> 8) & 0xff;
}

export function readU16(buf: Uint8Array, pos: number): number {
  return buf[pos]! | (buf[pos + 1]! << 8);
}

/** A non-negative safe integer as u64 (the high half is at most 2^21 - 1). */
export function writeU64(buf: Uint8Array, pos: number, value: number): void {
  // The message is built only on failure: this runs several times per batch.
  if (!(Number.isSafeInteger(value) && value >= 0)) assert.fail(`u64 field out of range: ${value}`);
  writeU32(buf, pos, value % TWO_POW_32);
  writeU32(buf, pos + 4, Math.floor(value / TWO_POW_32));
}

/** Reads a u64; NaN when it is above 2^53, so callers' range checks reject it. */
export function readU64(buf: Uint8Array, pos: number): number {
  const high = readU32(buf, pos + 4);
  if (high >= 0x20_0000) return Number.NaN;
  return high * TWO_POW_32 + readU32(buf, pos);
}

/** Bytes a LEB128 varint of `value` (a non-negative safe integer) takes. */
export function varintBytes(value: number): number {
  // Lengths and deltas are nearly always below 2^14: answer those without a loop.
  if (value < 0x80) return 1;
  if (value < 0x4000) return 2;
  let bytes = 1;
  while (value >= 0x80) {
    value = Math.floor(value / 0x80);
    bytes += 1;
  }
  return bytes;
}

/** Writes an unsigned LEB128 varint and returns the position after it. */
export function writeVarint(buf: Uint8Array, pos: number, value: number): number {
  if (value < 0x80) {
    buf[pos] = value;
    return pos + 1;
  }
  if (value < 0x4000) {
    buf[pos] = (value & 0x7f) | 0x80;
    buf[pos + 1] = value >>> 7;
    return pos + 2;
  }
  while (value >= 0x80) {
    buf[pos++] = (value % 0x80) | 0x80;
    value = Math.floor(value / 0x80);
  }
  buf[pos++] = value;
  return pos;
}

/**
 * A cursor over bytes whose structure was already vouched for by a CRC. A read past `end` or a
 * varint longer than a safe integer throws `MalformedError`: a CRC collision or an encoder bug,
 * which the caller reports as corruption.
 */
export class MalformedError extends Error {}

export class ByteReader {
  pos: number;
  readonly end: number;
  readonly buf: Uint8Array;

  constructor(buf: Uint8Array, pos: number, end: number) {
    this.buf = buf;
    this.pos = pos;
    this.end = end;
  }

  varint(): number {
    let result = 0;
    let scale = 1;
    for (let i = 0; i < 8; i++) {
      if (this.pos >= this.end) throw new MalformedError('varint runs past the end');
      const byte = this.buf[this.pos++]!;
      result += (byte & 0x7f) * scale;
      if (byte < 0x80) return result;
      scale *= 0x80;
    }
    throw new MalformedError('varint longer than 8 bytes');
  }

  u8(): number {
    if (this.pos >= this.end) throw new MalformedError('byte runs past the end');
    return this.buf[this.pos++]!;
  }

  bytes(length: number): Uint8Array {
    if (length > this.end - this.pos) throw new MalformedError(`field of ${length} bytes runs past the end`);
    const out = this.buf.subarray(this.pos, this.pos + length);
    this.pos += length;
    return out;
  }
}

/** ZigZag, so that small negative deltas stay small varints. */
export function zigzag(value: number): number {
  return value >= 0 ? value * 2 : -value * 2 - 1;
}

export function unzigzag(value: number): number {
  return value % 2 === 0 ? value / 2 : -(value + 1) / 2;
}
