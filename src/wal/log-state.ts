/**
 * What the WAL knows about one log in memory: where each of its batches is, its offsets, its
 * acknowledgements, and the policy it was opened with. Rebuilt by the recovery scan; updated
 * when a round of appends is committed, and by retention and compaction.
 *
 * The batch directory is columnar (typed arrays, one row per batch, about 60 bytes a row) so a
 * log of millions of batches costs no per-batch object. Rows are in LSN order, which is also
 * log-offset order.
 */
import assert from 'node:assert/strict';
import { AckRanges } from './ack-ranges.js';
import { DeliveryCounts } from './delivery-counts.js';
import type { LogKind } from './actor-storage.js';
import { BATCH_ATTR_CONTROL, BATCH_ATTR_OPAQUE } from './record-batch.js';

/** Log names become snapshot file names (encoded) and batch headers: a safe charset. */
export const LOG_NAME_PATTERN = /^[A-Za-z0-9._:/-]+$/;

/** How a log is kept; known only for logs opened in this process. */
export interface LogPolicy {
  kind: LogKind;
  retentionMs: number | null;
  retentionBytes: number | null;
  compact: boolean;
  tombstoneRetentionMs: number;
}

/** Directory row flags (one byte per row). CONTROL: an ack or delivery-count batch, no data. */
export const BATCH_FLAG_CONTROL = 1;
/** OPAQUE: an opaque batch (record-batch.ts), read by `replayBatchHeads`/`readBodiesInto`, skipped by `replay`. */
export const BATCH_FLAG_OPAQUE = 2;

/** The directory flags of a batch with these attributes (record-batch.ts BATCH_ATTR_*). */
export function batchFlags(attributes: number): number {
  return ((attributes & BATCH_ATTR_CONTROL) !== 0 ? BATCH_FLAG_CONTROL : 0) | ((attributes & BATCH_ATTR_OPAQUE) !== 0 ? BATCH_FLAG_OPAQUE : 0);
}

/** One row of the directory, as a value (for reads; the rows themselves are columns). */
export interface BatchLocation {
  lsn: number;
  logBaseOffset: number;
  /** Offsets the batch spans: lastOffsetDelta + 1. */
  span: number;
  segmentBaseLsn: number;
  position: number;
  length: number;
  maxTimestampMs: number;
  flags: number;
  /**
   * A control batch: the lowest offset it names (an acknowledgement or a delivery count of it).
   * Reclaim keeps the batch while a message batch from there to its own offset is on disk.
   * Absent: the batch's own offset (a data batch, or a control batch that names nothing else).
   */
  namesFrom?: number;
}

export class BatchDirectory {
  #head = 0;
  #tail = 0;
  #lsn = new Float64Array(8);
  #logBase = new Float64Array(8);
  #span = new Uint32Array(8);
  #segment = new Float64Array(8);
  #position = new Float64Array(8);
  #length = new Uint32Array(8);
  #maxTs = new Float64Array(8);
  #flags = new Uint8Array(8);
  #namesFrom = new Float64Array(8);

  get count(): number {
    return this.#tail - this.#head;
  }

  #grow(): void {
    const live = this.#tail - this.#head;
    const capacity = Math.max(8, live * 2);
    const move = <T extends Float64Array | Uint32Array | Uint8Array>(old: T, make: (n: number) => T): T => {
      const next = make(capacity);
      next.set(old.subarray(this.#head, this.#tail));
      return next;
    };
    this.#lsn = move(this.#lsn, (n) => new Float64Array(n));
    this.#logBase = move(this.#logBase, (n) => new Float64Array(n));
    this.#span = move(this.#span, (n) => new Uint32Array(n));
    this.#segment = move(this.#segment, (n) => new Float64Array(n));
    this.#position = move(this.#position, (n) => new Float64Array(n));
    this.#length = move(this.#length, (n) => new Uint32Array(n));
    this.#maxTs = move(this.#maxTs, (n) => new Float64Array(n));
    this.#flags = move(this.#flags, (n) => new Uint8Array(n));
    this.#namesFrom = move(this.#namesFrom, (n) => new Float64Array(n));
    this.#tail = live;
    this.#head = 0;
  }

  push(row: BatchLocation): void {
    if (this.#tail > this.#head) {
      const last = this.#tail - 1;
      assert.ok(row.lsn > this.#lsn[last]! && row.logBaseOffset >= this.#logBase[last]! + this.#span[last]!, 'directory rows ascend');
    }
    if (this.#tail === this.#lsn.length) this.#grow();
    const i = this.#tail++;
    this.#lsn[i] = row.lsn;
    this.#logBase[i] = row.logBaseOffset;
    this.#span[i] = row.span;
    this.#segment[i] = row.segmentBaseLsn;
    this.#position[i] = row.position;
    this.#length[i] = row.length;
    this.#maxTs[i] = row.maxTimestampMs;
    this.#flags[i] = row.flags;
    this.#namesFrom[i] = row.namesFrom ?? row.logBaseOffset;
  }

  at(index: number): BatchLocation {
    assert.ok(index >= 0 && index < this.count, 'directory index out of range');
    const i = this.#head + index;
    return {
      lsn: this.#lsn[i]!,
      logBaseOffset: this.#logBase[i]!,
      span: this.#span[i]!,
      segmentBaseLsn: this.#segment[i]!,
      position: this.#position[i]!,
      length: this.#length[i]!,
      maxTimestampMs: this.#maxTs[i]!,
      flags: this.#flags[i]!,
      namesFrom: this.#namesFrom[i]!,
    };
  }

  /** Index of the first row whose span reaches `offset` (its last offset >= offset); count if none. */
  findByOffset(offset: number): number {
    let lo = this.#head;
    let hi = this.#tail;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.#logBase[mid]! + this.#span[mid]! - 1 < offset) lo = mid + 1;
      else hi = mid;
    }
    return lo - this.#head;
  }

  /** Index of the first row with LSN >= `lsn`. */
  findByLsn(lsn: number): number {
    let lo = this.#head;
    let hi = this.#tail;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.#lsn[mid]! < lsn) lo = mid + 1;
      else hi = mid;
    }
    return lo - this.#head;
  }

  /** Drops the first `n` rows (retention deleted their segments). */
  dropFirst(n: number): void {
    assert.ok(n >= 0 && n <= this.count);
    this.#head += n;
    if (this.#head === this.#tail) {
      this.#head = 0;
      this.#tail = 0;
    }
  }

  /** Replaces rows [from, to) with `rows` (compaction rewrote their segment). */
  replace(from: number, to: number, rows: readonly BatchLocation[]): void {
    const kept: BatchLocation[] = [];
    for (let i = 0; i < this.count; i++) {
      if (i === from) kept.push(...rows);
      if (i < from || i >= to) kept.push(this.at(i));
    }
    if (from === this.count) kept.push(...rows);
    this.#head = 0;
    this.#tail = 0;
    for (const row of kept) this.push(row);
  }
}

export class LogState {
  readonly name: string;
  readonly nameBytes: Uint8Array;
  readonly batches = new BatchDirectory();
  /** Acknowledged offsets (queue logs; ack control records of any log land here). */
  readonly acked = new AckRanges();
  /** Queue logs: the latest recorded delivery count of unacknowledged offsets (delivery-counts.ts). */
  readonly deliveries = new DeliveryCounts();
  /** The offset the next record appended gets. Reserved at append time, before the write. */
  nextOffset = 0;
  /** Offset of the first record still stored; earlier ones went with deleted segments. */
  startOffset = 0;
  /** Known once the log is opened in this process; null pins its segments against retention. */
  policy: LogPolicy | null = null;
  /** Offset the newest snapshot covers up to (exclusive), or null. */
  snapshotOffset: number | null = null;
  /** How many times retention or compaction removed records of this log (readers that cache records compare it). */
  removals = 0;

  constructor(name: string) {
    this.name = name;
    this.nameBytes = Buffer.from(name, 'utf8');
  }

  /**
   * Indexes a confirmed batch and applies what it says: acknowledgements (which also drop those
   * offsets' delivery counts), delivery counts, and a control batch's acknowledgement of its own
   * offset. The writer's commit and recovery both call it, in LSN order, so that a log's state
   * after a restart is the state it had before.
   */
  commitBatch(row: BatchLocation, ackRanges: ReadonlyArray<readonly [number, number]> | null, deliveries: readonly number[] | null): void {
    let namesFrom = row.logBaseOffset;
    if (ackRanges !== null) for (const [start] of ackRanges) namesFrom = Math.min(namesFrom, start);
    if (deliveries !== null) for (let i = 0; i < deliveries.length; i += 2) namesFrom = Math.min(namesFrom, deliveries[i]!);
    row.namesFrom = namesFrom;
    this.batches.push(row);
    if (deliveries !== null) this.deliveries.record(deliveries, (offset) => this.acked.has(offset));
    if (ackRanges !== null) {
      for (const [start, end] of ackRanges) {
        this.acked.add(start, end);
        this.deliveries.forget(start, end);
      }
    }
    if ((row.flags & BATCH_FLAG_CONTROL) !== 0) this.acked.add(row.logBaseOffset, row.logBaseOffset + row.span);
  }

  /** Lowest offset >= startOffset that is not acknowledged (queues: the first unacked message). */
  firstUnacked(): number {
    return this.acked.firstUnackedFrom(this.startOffset);
  }
}
