/**
 * Rewriting sealed segments in place: one, keeping some of its batches (the mechanism under
 * compaction by key, compaction.ts, and reclaiming dead batches, reclaim.ts), or several adjacent
 * ones merged into one (`mergeSegments`, planned by merge.ts).
 *
 *   scan `<base>.log` → `<base>.log.cleaned` (each batch kept as it is, dropped, or replaced by
 *   the bytes the caller gives) → fdatasync → rename over `<base>.log` → fsync the directory
 *
 * A crash before the rename leaves the old segment and a `.cleaned` file that recovery deletes;
 * after it, the new segment, complete and synced. When nothing is kept the segment's files are
 * deleted instead (recovery accepts a gap in the LSNs between segments). Kept batches keep their
 * LSNs and offsets; only their positions change. The in-memory view (the segment, the rows of
 * every log's directory) is swapped in one synchronous step after the files are in place.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { CorruptLogError } from '../errors.js';
import type { FileLayer } from './file-layer.js';
import { batchFlags, type BatchLocation, type LogState } from './log-state.js';
import { type BatchHeader, readBatchHeader } from './record-batch.js';
import { scanSegmentFile } from './recovery.js';
import { CLEANED_SUFFIX, Segment } from './segment.js';
import { mergeFileName, removeSegmentFiles } from './segment-files.js';

export interface RewriteContext {
  files: FileLayer;
  walDir: string;
  batchBytesMax: number;
  indexIntervalBytes: number;
  logs: ReadonlyMap<string, LogState>;
  /** Puts `next` where `old` was in the WAL's segment list. */
  replace: (old: Segment, next: Segment) => void;
  /** Takes `old` out of the WAL's segment list: nothing of it was kept. */
  remove: (old: Segment) => void;
  writeIndexFiles: (segment: Segment) => Promise<void>;
}

/** The batch as it is (`'keep'`), nothing (`null`), or the bytes of a replacement batch. */
export type BatchFate = 'keep' | null | Uint8Array;

export interface RewriteOutcome {
  /** False when every batch was kept as it is: nothing was written. */
  rewritten: boolean;
  bytesAfter: number;
  /** Logs that lost at least one batch or record here. */
  changedLogs: Set<string>;
}

export async function rewriteSegment(
  context: RewriteContext,
  segment: Segment,
  fate: (header: BatchHeader, buf: Uint8Array, bufPos: number) => BatchFate,
): Promise<RewriteOutcome> {
  const changedLogs = new Set<string>();
  const built = new RewrittenSegment(context, segment);
  await built.scan(segment, (header, buf, bufPos) => {
    const decided = fate(header, buf, bufPos);
    if (decided !== 'keep') changedLogs.add(header.logName);
    return decided;
  });
  const { chunks, size, next, rows } = built;
  if (changedLogs.size === 0) return { rewritten: false, bytesAfter: segment.size, changedLogs };
  // Readers that find the old rows until the swap below read the old file through this
  // descriptor, opened before its path is given to the new file (or removed).
  await segment.reader(context.files);

  if (chunks.length > 0) {
    const cleaned = `${segment.path}${CLEANED_SUFFIX}`;
    await writeChunks(context.files, cleaned, chunks);
    await context.files.rename(cleaned, segment.path);
    await context.files.syncDir(path.dirname(segment.path));
  } else {
    // Nothing kept: the segment goes.
    await removeSegmentFiles(context.files, segment);
    await context.files.syncDir(path.dirname(segment.path));
  }

  swapRows(context, [segment], rows);
  if (chunks.length > 0) {
    next.sealed = true;
    next.generation = segment.generation + 1;
    context.replace(segment, next);
  } else {
    context.remove(segment);
  }
  await segment.closeReader();
  if (chunks.length > 0) await context.writeIndexFiles(next);
  return { rewritten: true, bytesAfter: size, changedLogs };
}

/**
 * Merges adjacent sealed segments into one file named after the first: the same batches, LSNs
 * and offsets, fewer files (reclaim leaves segments small; a store of many small files starts
 * slowly and holds an index pair each). Crash-safe in three steps:
 *
 *   write `<first>.log.tmp` → fdatasync → rename to `<first>.log.merge-<last base>` (the commit)
 *   → fsync the directory → delete the other segments (index files first) → rename over
 *   `<first>.log` → fsync the directory
 *
 * Recovery deletes a `.tmp` (not committed) and completes a `.merge-` file (`completeMerges`).
 */
export async function mergeSegments(context: RewriteContext, segments: readonly Segment[]): Promise<number> {
  assert.ok(segments.length >= 2 && segments.every((segment) => segment.sealed), 'merge two or more sealed segments');
  for (let i = 1; i < segments.length; i++) assert.ok(segments[i]!.baseLsn >= segments[i - 1]!.endLsn, 'merged segments are adjacent, in LSN order');
  const first = segments[0]!;
  const last = segments[segments.length - 1]!;
  const built = new RewrittenSegment(context, first);
  for (const segment of segments) await built.scan(segment, () => 'keep');
  const { chunks, size, next, rows } = built;
  for (const segment of segments) await segment.reader(context.files);

  const dir = path.dirname(first.path);
  const tmp = `${first.path}.tmp`;
  const committed = mergeFileName(first.path, last.baseLsn);
  await writeChunks(context.files, tmp, chunks);
  await context.files.rename(tmp, committed);
  await context.files.syncDir(dir);
  for (const segment of segments.slice(1)) await removeSegmentFiles(context.files, segment);
  await context.files.rename(committed, first.path);
  await context.files.syncDir(dir);

  swapRows(context, segments, rows);
  next.sealed = true;
  next.generation = first.generation + 1;
  context.replace(first, next);
  for (const segment of segments.slice(1)) context.remove(segment);
  for (const segment of segments) await segment.closeReader();
  await context.writeIndexFiles(next);
  return size;
}

async function writeChunks(files: FileLayer, file: string, chunks: readonly Uint8Array[]): Promise<void> {
  await files.remove(file);
  const handle = await files.open(file, 'create-new');
  try {
    let position = 0;
    for (const chunk of chunks) {
      let done = 0;
      while (done < chunk.byteLength) done += await handle.write(chunk, done, chunk.byteLength - done, position + done);
      position += chunk.byteLength;
    }
    await handle.datasync();
  } finally {
    await handle.close();
  }
}

/**
 * Swaps the in-memory view in one synchronous step: every log's rows in the old segments give way
 * to `rows`. A read in flight through an old segment sees it retired and looks its batch up
 * again (wal-log.ts readSegmentRange).
 */
function swapRows(context: RewriteContext, old: readonly Segment[], rows: ReadonlyMap<string, BatchLocation[]>): void {
  const names = new Set<string>();
  for (const segment of old) {
    segment.retired = true;
    for (const [name] of segment.logs) names.add(name);
  }
  const from = old[0]!.baseLsn;
  const to = old[old.length - 1]!.endLsn;
  for (const name of names) {
    const log = context.logs.get(name);
    if (log === undefined) continue;
    log.batches.replace(log.batches.findByLsn(from), log.batches.findByLsn(to), rows.get(name) ?? []);
  }
}

/** The batches a rewrite or a merge keeps, as the new segment (named after `first`), its bytes and every log's rows. */
class RewrittenSegment {
  readonly chunks: Uint8Array[] = [];
  size = 0;
  readonly next: Segment;
  readonly rows = new Map<string, BatchLocation[]>();
  readonly #context: RewriteContext;

  constructor(context: RewriteContext, first: Segment) {
    this.#context = context;
    this.next = new Segment(context.walDir, first.baseLsn, context.indexIntervalBytes);
  }

  /** Scans one old segment, keeping each batch as `fate` says. */
  async scan(segment: Segment, fate: (header: BatchHeader, buf: Uint8Array, bufPos: number) => BatchFate): Promise<void> {
    // What the directory knows beyond the batch header: the offsets a control batch names.
    const namesFrom = new Map<number, number>();
    for (const [name] of segment.logs) {
      const log = this.#context.logs.get(name);
      if (log === undefined) continue;
      for (let i = log.batches.findByLsn(segment.baseLsn), to = log.batches.findByLsn(segment.endLsn); i < to; i++) {
        const row = log.batches.at(i);
        namesFrom.set(row.lsn, row.namesFrom ?? row.logBaseOffset);
      }
    }
    const outcome = await scanSegmentFile(this.#context.files, segment.path, this.#context.batchBytesMax, ({ header, buf, bufPos }) => {
      const decided = fate(header, buf, bufPos);
      if (decided === null) return null;
      // A copy: the scan reuses its buffer.
      const out = decided === 'keep' ? Buffer.from(buf.subarray(bufPos, bufPos + header.batchLength)) : decided;
      const maxTimestampMs = readBatchHeader(out, 0).maxTimestampMs;
      const position = this.size;
      this.next.addBatch({ logName: header.logName, lsn: header.baseLsn, lsnSpan: header.lastOffsetDelta + 1, logBaseOffset: header.logBaseOffset, position, length: out.byteLength, maxTimestampMs });
      let logRows = this.rows.get(header.logName);
      if (logRows === undefined) this.rows.set(header.logName, (logRows = []));
      logRows.push({
        lsn: header.baseLsn,
        logBaseOffset: header.logBaseOffset,
        span: header.lastOffsetDelta + 1,
        segmentBaseLsn: this.next.baseLsn,
        position,
        length: out.byteLength,
        maxTimestampMs,
        flags: batchFlags(header.attributes),
        namesFrom: namesFrom.get(header.baseLsn) ?? header.logBaseOffset,
      });
      this.chunks.push(out);
      this.size += out.byteLength;
      return null;
    });
    if (outcome.failure !== null) throw new CorruptLogError(`corrupt WAL segment ${segment.path} at byte offset ${outcome.failure.position}: ${outcome.failure.reason}`);
  }
}
