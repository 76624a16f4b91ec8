/**
 * One segment file of the WAL: `<baseLsn, 20 digits>.log`, a run of record batches, named
 * after the LSN of its first record as Kafka names its segments. Beside it, once sealed, its
 * sparse indexes `<base>.index` and `<base>.timeindex`.
 *
 * Lifecycle: active (the writer appends to it) → sealed (fdatasynced, then the next segment is
 * created; never written again except by compaction, which replaces it whole) → deleted
 * (retention). The invariant recovery builds on: a segment is followed by another one only
 * after it was fdatasynced, so every segment but the newest is complete and trusted.
 *
 * In memory a segment keeps its indexes and, per log, a summary (bytes, offsets, newest
 * timestamp) that retention decides on without reading the file.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import type { FileLayer, WalFile } from './file-layer.js';
import { OffsetIndex } from './offset-index.js';
import { TimeIndex } from './time-index.js';

export const SEGMENT_SUFFIX = '.log';
export const OFFSET_INDEX_SUFFIX = '.index';
export const TIME_INDEX_SUFFIX = '.timeindex';
/** Where compaction writes a segment's replacement before renaming it into place. */
export const CLEANED_SUFFIX = '.cleaned';
const NAME_DIGITS = 20;

export function segmentFileName(baseLsn: number): string {
  return `${String(baseLsn).padStart(NAME_DIGITS, '0')}${SEGMENT_SUFFIX}`;
}

/** The base LSN a segment file name encodes, or null for any other file. */
export function parseSegmentFileName(name: string): number | null {
  const match = /^(\d{20})\.log$/.exec(name);
  if (match === null) return null;
  const base = Number(match[1]);
  return Number.isSafeInteger(base) ? base : null;
}

/** What one log holds in one segment. */
export interface LogSegmentSummary {
  bytes: number;
  batches: number;
  firstOffset: number;
  /** Last offset the log's batches here span (control and compacted-away offsets included). */
  lastOffset: number;
  maxTimestampMs: number;
}

/** A batch as the segment saw it, for indexes and summaries. */
export interface SegmentBatch {
  logName: string;
  lsn: number;
  lsnSpan: number;
  logBaseOffset: number;
  position: number;
  length: number;
  maxTimestampMs: number;
}

export class Segment {
  readonly baseLsn: number;
  readonly dir: string;
  readonly offsetIndex: OffsetIndex;
  readonly timeIndex: TimeIndex;
  readonly logs = new Map<string, LogSegmentSummary>();
  /** Bytes of valid batches (the file is never longer once recovery truncated its tail). */
  size = 0;
  /** LSN after the last batch. */
  endLsn: number;
  batchCount = 0;
  sealed = false;
  /** Bumped when compaction replaces the file: cached reads of the old one are stale. */
  generation = 0;
  /**
   * Replaced (reclaim, compaction) or deleted (retention) by maintenance: the file at its path
   * is another one now, or none. A read through it that was in flight is not trusted: the reader
   * looks its batch up in the directory again (readSegmentRange returns null).
   */
  retired = false;
  #readFile: Promise<WalFile> | null = null;

  constructor(dir: string, baseLsn: number, indexIntervalBytes: number) {
    this.dir = dir;
    this.baseLsn = baseLsn;
    this.endLsn = baseLsn;
    this.offsetIndex = new OffsetIndex(baseLsn, indexIntervalBytes);
    this.timeIndex = new TimeIndex(baseLsn, indexIntervalBytes);
  }

  get fileName(): string {
    return segmentFileName(this.baseLsn);
  }

  get path(): string {
    return path.join(this.dir, this.fileName);
  }

  get offsetIndexPath(): string {
    return path.join(this.dir, `${String(this.baseLsn).padStart(NAME_DIGITS, '0')}${OFFSET_INDEX_SUFFIX}`);
  }

  get timeIndexPath(): string {
    return path.join(this.dir, `${String(this.baseLsn).padStart(NAME_DIGITS, '0')}${TIME_INDEX_SUFFIX}`);
  }

  /** Records a batch that now lives at `batch.position` (appended or found by recovery). */
  addBatch(batch: SegmentBatch): void {
    // The message is built only on failure: this runs once per batch.
    if (batch.lsn < this.endLsn) assert.fail(`batch LSN ${batch.lsn} precedes segment end ${this.endLsn}`);
    assert.equal(batch.position, this.size, 'batches are contiguous in their segment');
    this.offsetIndex.offer(batch.lsn, batch.position);
    this.timeIndex.offer(batch.maxTimestampMs, batch.lsn, batch.position);
    this.size = batch.position + batch.length;
    this.endLsn = batch.lsn + batch.lsnSpan;
    this.batchCount += 1;
    const summary = this.logs.get(batch.logName);
    const lastOffset = batch.logBaseOffset + batch.lsnSpan - 1;
    if (summary === undefined) {
      this.logs.set(batch.logName, { bytes: batch.length, batches: 1, firstOffset: batch.logBaseOffset, lastOffset, maxTimestampMs: batch.maxTimestampMs });
    } else {
      summary.bytes += batch.length;
      summary.batches += 1;
      summary.lastOffset = lastOffset;
      if (batch.maxTimestampMs > summary.maxTimestampMs) summary.maxTimestampMs = batch.maxTimestampMs;
    }
  }

  /** A cached read-only descriptor, opened on first use (idle segments hold none). */
  reader(files: FileLayer): Promise<WalFile> {
    if (this.#readFile === null) {
      const opening = files.open(this.path, 'read');
      this.#readFile = opening;
      // A failed open is not cached: the next read tries again.
      opening.catch(() => {
        if (this.#readFile === opening) this.#readFile = null;
      });
    }
    return this.#readFile;
  }

  async closeReader(): Promise<void> {
    const file = this.#readFile;
    this.#readFile = null;
    if (file !== null) await (await file).close().catch(() => {});
  }
}
