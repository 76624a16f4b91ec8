/**
 * Rewriting one sealed segment in place, keeping some of its batches: the mechanism under both
 * compaction by key (compaction.ts) and reclaiming dead batches (reclaim.ts).
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
import path from 'node:path';
import { CorruptLogError } from '../errors.js';
import type { FileLayer } from './file-layer.js';
import { batchFlags, type BatchLocation, type LogState } from './log-state.js';
import { type BatchHeader, readBatchHeader } from './record-batch.js';
import { scanSegmentFile } from './recovery.js';
import { CLEANED_SUFFIX, Segment } from './segment.js';

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
  const chunks: Uint8Array[] = [];
  let size = 0;
  const changedLogs = new Set<string>();
  const next = new Segment(context.walDir, segment.baseLsn, context.indexIntervalBytes);
  const rows = new Map<string, BatchLocation[]>();
  // What the directory knows beyond the batch header: the offsets a control batch names.
  const namesFrom = new Map<number, number>();
  for (const [name] of segment.logs) {
    const log = context.logs.get(name);
    if (log === undefined) continue;
    for (let i = log.batches.findByLsn(segment.baseLsn), to = log.batches.findByLsn(segment.endLsn); i < to; i++) {
      const row = log.batches.at(i);
      namesFrom.set(row.lsn, row.namesFrom ?? row.logBaseOffset);
    }
  }
  const outcome = await scanSegmentFile(context.files, segment.path, context.batchBytesMax, ({ header, buf, bufPos }) => {
    const decided = fate(header, buf, bufPos);
    if (decided !== 'keep') changedLogs.add(header.logName);
    if (decided === null) return null;
    // A copy: the scan reuses its buffer.
    const out = decided === 'keep' ? Buffer.from(buf.subarray(bufPos, bufPos + header.batchLength)) : decided;
    const maxTimestampMs = readBatchHeader(out, 0).maxTimestampMs;
    next.addBatch({ logName: header.logName, lsn: header.baseLsn, lsnSpan: header.lastOffsetDelta + 1, logBaseOffset: header.logBaseOffset, position: size, length: out.byteLength, maxTimestampMs });
    const logRows = rows.get(header.logName) ?? [];
    logRows.push({
      lsn: header.baseLsn,
      logBaseOffset: header.logBaseOffset,
      span: header.lastOffsetDelta + 1,
      segmentBaseLsn: segment.baseLsn,
      position: size,
      length: out.byteLength,
      maxTimestampMs,
      flags: batchFlags(header.attributes),
      namesFrom: namesFrom.get(header.baseLsn) ?? header.logBaseOffset,
    });
    rows.set(header.logName, logRows);
    chunks.push(out);
    size += out.byteLength;
    return null;
  });
  if (outcome.failure !== null) throw new CorruptLogError(`corrupt WAL segment ${segment.path} at byte offset ${outcome.failure.position}: ${outcome.failure.reason}`);
  if (changedLogs.size === 0) return { rewritten: false, bytesAfter: segment.size, changedLogs };
  // Readers that find the old rows until the swap below read the old file through this
  // descriptor, opened before its path is given to the new file (or removed).
  await segment.reader(context.files);

  if (chunks.length > 0) {
    const cleaned = `${segment.path}${CLEANED_SUFFIX}`;
    await context.files.remove(cleaned);
    const file = await context.files.open(cleaned, 'create-new');
    try {
      let position = 0;
      for (const chunk of chunks) {
        let done = 0;
        while (done < chunk.byteLength) done += await file.write(chunk, done, chunk.byteLength - done, position + done);
        position += chunk.byteLength;
      }
      await file.datasync();
    } finally {
      await file.close();
    }
    await context.files.rename(cleaned, segment.path);
    await context.files.syncDir(path.dirname(segment.path));
  } else {
    // Nothing kept: the segment goes. Its index files first, so no index outlives its segment.
    await context.files.remove(segment.offsetIndexPath);
    await context.files.remove(segment.timeIndexPath);
    await context.files.remove(segment.path);
    await context.files.syncDir(path.dirname(segment.path));
  }

  // Swap the in-memory view in one synchronous step. A read in flight through the old segment
  // sees it retired and looks its batch up again (wal-log.ts readSegmentRange).
  segment.retired = true;
  for (const [name] of segment.logs) {
    const log = context.logs.get(name);
    if (log === undefined) continue;
    const from = log.batches.findByLsn(segment.baseLsn);
    const to = log.batches.findByLsn(segment.endLsn);
    log.batches.replace(from, to, rows.get(name) ?? []);
  }
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
