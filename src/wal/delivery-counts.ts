/**
 * Delivery counts of a queue log: how many times each unacknowledged message was delivered, so
 * that a queue restarted after a crash still knows which messages were delivered before (and
 * how often: for redelivery limits and dead-lettering).
 *
 * The queue records them with `recordDeliveries([offset, count, ...])`, which the WAL writes as a
 * control batch (attributes CONTROL | DELIVERIES, record-batch.ts) whose one record's value is:
 *
 * ```
 *   varint n                         pairs in the record
 *   n x ( varint offsetDelta,        offset - previous pair's offset (the first: from 0);
 *         varint count )             offsets strictly rise, so every delta after the first is > 0
 * ```
 *
 * Like an ack batch, the control batch acknowledges its own offset. In memory, per log, the WAL
 * keeps the latest count of every offset not yet acknowledged (`DeliveryCounts`), updated when
 * a batch is confirmed and rebuilt by recovery in the same LSN order, so both build the same
 * state. An acknowledgement drops the offsets it covers; a delivery record naming an offset
 * already acknowledged is ignored (an ack and a delivery record of the same message may be in
 * flight together). A count of 0 forgets the offset.
 */
import assert from 'node:assert/strict';
import { InvalidArgumentError } from '../errors.js';
import { ByteReader, MalformedError, varintBytes, writeVarint } from './byte-codec.js';

/** A recorded count is at most this (a u32: a count beyond is a caller's bug, not a delivery). */
export const DELIVERY_COUNT_MAX = 0xffff_ffff;

/**
 * Checks flat [offset, count, ...] pairs against a log's offsets (0..nextOffset-1) and returns
 * them sorted by offset, one pair per offset: of repeats, the last given wins (it is the latest).
 */
export function normalizeDeliveryPairs(logName: string, pairs: readonly number[], nextOffset: number): number[] {
  if (!Array.isArray(pairs) || pairs.length === 0 || pairs.length % 2 !== 0) {
    throw new InvalidArgumentError(`recordDeliveries on "${logName}" needs a non-empty flat array of [offset, count] pairs`);
  }
  let sorted = true;
  for (let i = 0; i < pairs.length; i += 2) {
    const offset = pairs[i]!;
    const count = pairs[i + 1]!;
    if (!Number.isSafeInteger(offset) || offset < 0 || offset >= nextOffset) {
      throw new InvalidArgumentError(`cannot record deliveries of offset ${String(offset)} of "${logName}": its offsets are 0..${nextOffset - 1}`);
    }
    if (!Number.isSafeInteger(count) || count < 0 || count > DELIVERY_COUNT_MAX) {
      throw new InvalidArgumentError(`delivery count of offset ${offset} of "${logName}" must be an integer 0..${DELIVERY_COUNT_MAX}, got ${String(count)}`);
    }
    if (i > 0 && offset <= pairs[i - 2]!) sorted = false;
  }
  if (sorted) return pairs.slice();
  // Out of order or repeated: the latest count per offset, then by offset.
  const latest = new Map<number, number>();
  for (let i = 0; i < pairs.length; i += 2) latest.set(pairs[i]!, pairs[i + 1]!);
  const out: number[] = [];
  for (const offset of [...latest.keys()].sort((a, b) => a - b)) out.push(offset, latest.get(offset)!);
  return out;
}

/** The record value of normalized pairs (`normalizeDeliveryPairs`). */
export function encodeDeliveryValue(pairs: readonly number[]): Uint8Array {
  assert.ok(pairs.length % 2 === 0, 'delivery pairs come in twos');
  let bytes = varintBytes(pairs.length / 2);
  let previous = 0;
  for (let i = 0; i < pairs.length; i += 2) {
    assert.ok(i === 0 || pairs[i]! > previous, 'delivery offsets rise');
    bytes += varintBytes(pairs[i]! - previous) + varintBytes(pairs[i + 1]!);
    previous = pairs[i]!;
  }
  const out = Buffer.allocUnsafe(bytes);
  let p = writeVarint(out, 0, pairs.length / 2);
  previous = 0;
  for (let i = 0; i < pairs.length; i += 2) {
    p = writeVarint(out, p, pairs[i]! - previous);
    p = writeVarint(out, p, pairs[i + 1]!);
    previous = pairs[i]!;
  }
  assert.equal(p, bytes, 'delivery value length differs from its size');
  return out;
}

/** Decodes `encodeDeliveryValue`; MalformedError when offsets do not rise or bytes are left over. */
export function decodeDeliveryValue(value: Uint8Array): number[] {
  const reader = new ByteReader(value, 0, value.byteLength);
  const n = reader.varint();
  const pairs: number[] = [];
  let offset = 0;
  for (let i = 0; i < n; i++) {
    const delta = reader.varint();
    if (i > 0 && delta === 0) throw new MalformedError('delivery offsets do not rise');
    offset += delta;
    pairs.push(offset, reader.varint());
  }
  if (reader.pos !== reader.end) throw new MalformedError('bytes left after the delivery pairs');
  return pairs;
}

/** The latest delivery count of every unacknowledged offset of one log that has one. */
export class DeliveryCounts {
  readonly #counts = new Map<number, number>();

  get size(): number {
    return this.#counts.size;
  }

  /** Applies flat [offset, count, ...] pairs; `isAcked` offsets are skipped, a count of 0 forgets. */
  record(pairs: readonly number[], isAcked: (offset: number) => boolean): void {
    for (let i = 0; i < pairs.length; i += 2) {
      const offset = pairs[i]!;
      if (isAcked(offset)) continue;
      const count = pairs[i + 1]!;
      if (count === 0) this.#counts.delete(offset);
      else this.#counts.set(offset, count);
    }
  }

  /** Forgets [start, end): acknowledged. Walks the range or the map, whichever is smaller. */
  forget(start: number, end: number): void {
    if (this.#counts.size === 0) return;
    if (end - start <= this.#counts.size) {
      for (let offset = start; offset < end; offset++) this.#counts.delete(offset);
      return;
    }
    for (const offset of this.#counts.keys()) if (offset >= start && offset < end) this.#counts.delete(offset);
  }

  get(offset: number): number | undefined {
    return this.#counts.get(offset);
  }

  /** Flat [offset, count, ...], by offset. */
  toPairs(): number[] {
    const out: number[] = [];
    for (const offset of [...this.#counts.keys()].sort((a, b) => a - b)) out.push(offset, this.#counts.get(offset)!);
    return out;
  }
}
