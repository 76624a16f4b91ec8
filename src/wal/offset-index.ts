/**
 * The sparse offset index of one segment: every `indexIntervalBytes` of data, the LSN of the
 * batch that starts there and its byte position, after Kafka's `.index`. A lookup finds the
 * last indexed batch at or before an LSN; the reader scans forward from there.
 *
 * The index lives in memory and is rebuilt from the segment's bytes by every recovery scan: it
 * is never trusted from disk. The `.index` file written when a segment is sealed is for
 * `baton inspect` and outside tools; recovery compares it with the rebuilt one and rewrites it
 * when they differ.
 *
 * ```
 * .index file: entries of 8 bytes, ascending
 *  0               4               8
 * +---------------+---------------+
 * | relativeLsn   | position      |   relativeLsn = lsn - segment base LSN
 * +---------------+---------------+
 * ```
 */
import assert from 'node:assert/strict';
import { readU32, writeU32 } from './byte-codec.js';

export const OFFSET_INDEX_ENTRY_BYTES = 8;

export class OffsetIndex {
  readonly baseLsn: number;
  readonly intervalBytes: number;
  #relativeLsns = new Uint32Array(16);
  #positions = new Uint32Array(16);
  #count = 0;
  #lastIndexedPosition = -Infinity;

  constructor(baseLsn: number, intervalBytes: number) {
    this.baseLsn = baseLsn;
    this.intervalBytes = intervalBytes;
  }

  get count(): number {
    return this.#count;
  }

  /** Offers a batch that starts at `position`; it is indexed if it is far enough from the last entry. */
  offer(lsn: number, position: number): void {
    if (position - this.#lastIndexedPosition < this.intervalBytes) return;
    const relative = lsn - this.baseLsn;
    assert.ok(relative >= 0 && relative <= 0xffff_ffff, 'LSN outside its segment');
    assert.ok(this.#count === 0 || (relative > this.#relativeLsns[this.#count - 1]! && position > this.#positions[this.#count - 1]!), 'offset index entries must ascend');
    if (this.#count === this.#relativeLsns.length) {
      const lsns = new Uint32Array(this.#count * 2);
      lsns.set(this.#relativeLsns);
      this.#relativeLsns = lsns;
      const positions = new Uint32Array(this.#count * 2);
      positions.set(this.#positions);
      this.#positions = positions;
    }
    this.#relativeLsns[this.#count] = relative;
    this.#positions[this.#count] = position;
    this.#count += 1;
    this.#lastIndexedPosition = position;
  }

  /** Byte position of the last indexed batch whose LSN is <= `lsn` (0 if none). */
  lookup(lsn: number): number {
    const relative = lsn - this.baseLsn;
    let lo = 0;
    let hi = this.#count;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.#relativeLsns[mid]! <= relative) lo = mid + 1;
      else hi = mid;
    }
    return lo === 0 ? 0 : this.#positions[lo - 1]!;
  }

  toBytes(): Uint8Array {
    const out = Buffer.alloc(this.#count * OFFSET_INDEX_ENTRY_BYTES);
    for (let i = 0; i < this.#count; i++) {
      writeU32(out, i * 8, this.#relativeLsns[i]!);
      writeU32(out, i * 8 + 4, this.#positions[i]!);
    }
    return out;
  }

  static entriesOf(bytes: Uint8Array): Array<{ relativeLsn: number; position: number }> {
    const out: Array<{ relativeLsn: number; position: number }> = [];
    for (let p = 0; p + 8 <= bytes.byteLength; p += 8) out.push({ relativeLsn: readU32(bytes, p), position: readU32(bytes, p + 4) });
    return out;
  }
}
