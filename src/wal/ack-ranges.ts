/**
 * The set of acknowledged offsets of a queue log, as sorted, disjoint, half-open ranges.
 *
 * Queues are mostly acknowledged in order, so the set stays a handful of ranges: an in-order ack
 * extends the last range in O(1). Out-of-order acks insert by binary search and merge with
 * their neighbours. An ack control record acknowledges its own offset too, so a queue acked in
 * order collapses to the single range [start, next).
 */
import assert from 'node:assert/strict';
import { InvalidArgumentError } from '../errors.js';
import { ByteReader, varintBytes, writeVarint } from './byte-codec.js';

export class AckRanges {
  /** [start0, end0, start1, end1, ...], ascending, disjoint, never adjacent (adjacent ones merge). */
  #bounds: number[] = [];

  get rangeCount(): number {
    return this.#bounds.length / 2;
  }

  /** Adds [start, end). */
  add(start: number, end: number): void {
    assert.ok(Number.isSafeInteger(start) && Number.isSafeInteger(end) && start >= 0 && end > start, `bad ack range [${start}, ${end})`);
    const b = this.#bounds;
    const n = b.length;
    // Fast path: in-order acknowledgement extends or follows the last range.
    if (n === 0 || start > b[n - 1]!) {
      b.push(start, end);
      return;
    }
    if (start >= b[n - 2]! && start <= b[n - 1]!) {
      if (end > b[n - 1]!) b[n - 1] = end;
      return;
    }
    // General case: find the first range whose end >= start, merge everything it overlaps.
    let lo = 0;
    let hi = n / 2;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (b[mid * 2 + 1]! < start) lo = mid + 1;
      else hi = mid;
    }
    let first = lo;
    let last = lo;
    let newStart = start;
    let newEnd = end;
    while (last < n / 2 && b[last * 2]! <= end) {
      newStart = Math.min(newStart, b[last * 2]!);
      newEnd = Math.max(newEnd, b[last * 2 + 1]!);
      last++;
    }
    b.splice(first * 2, (last - first) * 2, newStart, newEnd);
  }

  /** Index of the first range ending after `offset` (the one holding it, if any); rangeCount if none. */
  #rangeFrom(offset: number): number {
    const b = this.#bounds;
    let lo = 0;
    let hi = b.length / 2;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (b[mid * 2 + 1]! <= offset) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  has(offset: number): boolean {
    const i = this.#rangeFrom(offset);
    return i < this.#bounds.length / 2 && this.#bounds[i * 2]! <= offset;
  }

  /** Every offset of [start, end) is acknowledged. One range must hold them all: ranges never touch. */
  covers(start: number, end: number): boolean {
    const i = this.#rangeFrom(start);
    return i < this.#bounds.length / 2 && this.#bounds[i * 2]! <= start && this.#bounds[i * 2 + 1]! >= end;
  }

  /** The lowest offset >= `offset` that is not acknowledged, by binary search (`firstUnackedFrom` walks). */
  firstUnackedAt(offset: number): number {
    const i = this.#rangeFrom(offset);
    return i < this.#bounds.length / 2 && this.#bounds[i * 2]! <= offset ? this.#bounds[i * 2 + 1]! : offset;
  }

  /** The acknowledged parts of [start, end), clipped to it: flat [start0, end0, ...]; empty when none. */
  within(start: number, end: number): number[] {
    const b = this.#bounds;
    const out: number[] = [];
    for (let i = this.#rangeFrom(start) * 2; i < b.length && b[i]! < end; i += 2) out.push(Math.max(b[i]!, start), Math.min(b[i + 1]!, end));
    return out;
  }

  /** The lowest offset >= `from` that is not acknowledged. */
  firstUnackedFrom(from: number): number {
    const b = this.#bounds;
    for (let i = 0; i < b.length; i += 2) {
      if (b[i + 1]! <= from) continue;
      if (b[i]! > from) return from;
      return b[i + 1]!;
    }
    return from;
  }

  /** Forgets ranges below `offset` (their records were deleted by retention). */
  dropBelow(offset: number): void {
    const b = this.#bounds;
    let i = 0;
    while (i < b.length && b[i + 1]! <= offset) i += 2;
    b.splice(0, i);
    if (b.length > 0 && b[0]! < offset) b[0] = offset;
  }

  ranges(): Array<[number, number]> {
    const out: Array<[number, number]> = [];
    for (let i = 0; i < this.#bounds.length; i += 2) out.push([this.#bounds[i]!, this.#bounds[i + 1]!]);
    return out;
  }
}

/**
 * Flat half-open ranges [start0, end0, start1, end1, ...] (`acknowledgeRanges`) checked against a
 * log's offsets (0..nextOffset-1), as sorted, merged ranges.
 */
export function toAckRangesFromFlat(logName: string, flat: readonly number[], nextOffset: number): Array<[number, number]> {
  if (!Array.isArray(flat) || flat.length === 0 || flat.length % 2 !== 0) {
    throw new InvalidArgumentError(`acknowledgeRanges on "${logName}" needs a non-empty flat array of [start, end) pairs`);
  }
  const ranges: Array<[number, number]> = [];
  let sorted = true;
  for (let i = 0; i < flat.length; i += 2) {
    const start = flat[i]!;
    const end = flat[i + 1]!;
    if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start < 0 || end <= start || end > nextOffset) {
      throw new InvalidArgumentError(`cannot acknowledge [${String(start)}, ${String(end)}) of "${logName}": a range is [start, end) with start < end, within its offsets 0..${nextOffset - 1}`);
    }
    if (ranges.length > 0 && start < ranges[ranges.length - 1]![0]) sorted = false;
    ranges.push([start, end]);
  }
  if (!sorted) ranges.sort((a, b) => a[0] - b[0]);
  const merged: Array<[number, number]> = [];
  for (const range of ranges) {
    const last = merged[merged.length - 1];
    if (last !== undefined && range[0] <= last[1]) last[1] = Math.max(last[1], range[1]);
    else merged.push(range);
  }
  return merged;
}

/** Offsets as sorted, merged, half-open ranges (one pass when they come in order, as they mostly do). */
export function toAckRanges(offsets: readonly number[]): Array<[number, number]> {
  let sorted = offsets;
  for (let i = 1; i < offsets.length; i++) {
    if (offsets[i]! < offsets[i - 1]!) {
      sorted = [...offsets].sort((a, b) => a - b);
      break;
    }
  }
  const ranges: Array<[number, number]> = [];
  let last: [number, number] | undefined;
  for (const offset of sorted) {
    if (last !== undefined && offset <= last[1]) {
      if (offset === last[1]) last[1] = offset + 1;
    } else {
      last = [offset, offset + 1];
      ranges.push(last);
    }
  }
  return ranges;
}

/**
 * The value of an ack control record: `varint count`, then per range `varint start, varint
 * length`. Offsets a single `acknowledge` call lists are sorted and merged into ranges first.
 */
export function encodeAckValue(offsets: readonly number[]): Uint8Array {
  return encodeAckRanges(toAckRanges(offsets));
}

/** `encodeAckValue` of ranges that are already sorted and merged (`toAckRanges`). */
export function encodeAckRanges(ranges: ReadonlyArray<readonly [number, number]>): Uint8Array {
  let bytes = varintBytes(ranges.length);
  for (const [start, end] of ranges) bytes += varintBytes(start) + varintBytes(end - start);
  const out = Buffer.allocUnsafe(bytes);
  let p = writeVarint(out, 0, ranges.length);
  for (const [start, end] of ranges) {
    p = writeVarint(out, p, start);
    p = writeVarint(out, p, end - start);
  }
  assert.equal(p, bytes);
  return out;
}

export function decodeAckValue(value: Uint8Array): Array<[number, number]> {
  const reader = new ByteReader(value, 0, value.byteLength);
  const count = reader.varint();
  const ranges: Array<[number, number]> = [];
  for (let i = 0; i < count; i++) {
    const start = reader.varint();
    const length = reader.varint();
    ranges.push([start, start + length]);
  }
  return ranges;
}
