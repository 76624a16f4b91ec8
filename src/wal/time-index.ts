/**
 * The sparse time index of one segment: pairs (timestamp, LSN) where the largest timestamp seen
 * so far rose, at most one every `indexIntervalBytes`, after Kafka's `.timeindex`. It answers
 * "the first record at or after time T" (a subscription `from: { timestamp }`) and gives
 * retention by time the segment's largest timestamp without reading it.
 *
 * Like the offset index it is rebuilt by every recovery scan and never trusted from disk.
 *
 * ```
 * .timeindex file: entries of 12 bytes, ascending in both fields
 *  0                               8               12
 * +-------------------------------+---------------+
 * | timestampMs (u64)             | relativeLsn   |
 * +-------------------------------+---------------+
 * ```
 */
import { readU32, readU64, writeU32, writeU64 } from './byte-codec.js';

export const TIME_INDEX_ENTRY_BYTES = 12;

export class TimeIndex {
  readonly baseLsn: number;
  readonly intervalBytes: number;
  #timestamps: number[] = [];
  #relativeLsns: number[] = [];
  #lastIndexedPosition = -Infinity;
  /** Largest timestamp of any batch in the segment (-1 when empty). */
  maxTimestampMs = -1;

  constructor(baseLsn: number, intervalBytes: number) {
    this.baseLsn = baseLsn;
    this.intervalBytes = intervalBytes;
  }

  get count(): number {
    return this.#timestamps.length;
  }

  offer(maxTimestampMs: number, lsn: number, position: number): void {
    if (maxTimestampMs <= this.maxTimestampMs) return;
    this.maxTimestampMs = maxTimestampMs;
    if (position - this.#lastIndexedPosition < this.intervalBytes && this.#timestamps.length > 0) {
      // Too close to the last entry: raise its timestamp instead, keeping the index sparse and
      // its answer conservative (an entry's LSN is at or before the first record with that time).
      this.#timestamps[this.#timestamps.length - 1] = maxTimestampMs;
      return;
    }
    this.#timestamps.push(maxTimestampMs);
    this.#relativeLsns.push(lsn - this.baseLsn);
    this.#lastIndexedPosition = position;
  }

  /**
   * An LSN at or before the first record whose timestamp is >= `timestampMs`, or null if the
   * segment holds none that late.
   */
  lookup(timestampMs: number): number | null {
    if (timestampMs > this.maxTimestampMs) return null;
    // Entry i covers batches up to the next entry with max timestamps <= timestamps[i]; the
    // first entry reaching timestampMs is the one to start from: its LSN precedes them.
    for (let i = 0; i < this.#timestamps.length; i++) {
      if (this.#timestamps[i]! >= timestampMs) return this.baseLsn + this.#relativeLsns[i]!;
    }
    return null;
  }

  toBytes(): Uint8Array {
    const out = Buffer.alloc(this.#timestamps.length * TIME_INDEX_ENTRY_BYTES);
    for (let i = 0; i < this.#timestamps.length; i++) {
      writeU64(out, i * 12, this.#timestamps[i]!);
      writeU32(out, i * 12 + 8, this.#relativeLsns[i]!);
    }
    return out;
  }

  static entriesOf(bytes: Uint8Array): Array<{ timestampMs: number; relativeLsn: number }> {
    const out: Array<{ timestampMs: number; relativeLsn: number }> = [];
    for (let p = 0; p + 12 <= bytes.byteLength; p += 12) out.push({ timestampMs: readU64(bytes, p), relativeLsn: readU32(bytes, p + 8) });
    return out;
  }
}
