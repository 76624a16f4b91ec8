/**
 * Compaction by key, for topic logs opened with `compact: true`: keep the newest record of
 * every key, as Kafka's log cleaner does, and drop a tombstone (null value) once it is older
 * than the log's `tombstoneRetentionMs`, so that readers who saw the value also see its delete.
 *
 * Only sealed segments are rewritten; the segment being written is read (its records may be
 * the newest of a key) but never changed. A segment is rewritten whole, in place:
 *
 *   scan `<base>.log` → `<base>.log.cleaned` (other logs' batches copied byte for byte;
 *   compacted logs' batches copied, dropped, or re-encoded with their survivors)
 *   → fdatasync → rename over `<base>.log` → fsync the directory
 *
 * A crash before the rename leaves the old segment and a `.cleaned` file that recovery deletes;
 * after it, the new segment, complete and synced. Survivors keep their offsets and LSNs (the
 * batch format stores each record's offset delta), so offsets have gaps where records went,
 * as in Kafka, and readers skip them.
 */
import path from 'node:path';
import type { RecordInput } from './actor-storage.js';
import { CorruptLogError } from '../errors.js';
import type { FileLayer } from './file-layer.js';
import { BATCH_FLAG_CONTROL, BATCH_FLAG_OPAQUE, batchFlags, type BatchLocation, type LogState } from './log-state.js';
import { BATCH_ATTR_CONTROL, BATCH_ATTR_OPAQUE, checkBatch, decodeRecords, encodeBatch, planBatch, readBatchHeader } from './record-batch.js';
import { scanSegmentFile } from './recovery.js';
import { CLEANED_SUFFIX, Segment } from './segment.js';
import { readSegmentRange } from './wal-log.js';

export interface CompactionResult {
  segmentsRewritten: number;
  recordsRemoved: number;
  bytesBefore: number;
  bytesAfter: number;
}

export interface CompactionContext {
  files: FileLayer;
  walDir: string;
  batchBytesMax: number;
  indexIntervalBytes: number;
  /** All segments, oldest first; the last one is being written. */
  segments: readonly Segment[];
  logs: ReadonlyMap<string, LogState>;
  compacted: readonly LogState[];
  nowMs: number;
  replace: (old: Segment, next: Segment) => void;
  writeIndexFiles: (segment: Segment) => Promise<void>;
}

function keyString(key: Uint8Array): string {
  return Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString('latin1');
}

/** The offset of the newest record of every key of a log, read from its segments. */
async function newestOffsets(context: CompactionContext, log: LogState): Promise<Map<string, number>> {
  const newest = new Map<string, number>();
  const byBase = new Map(context.segments.map((s) => [s.baseLsn, s]));
  let window: Parameters<typeof readSegmentRange>[4] = null;
  for (let i = 0; i < log.batches.count; i++) {
    const row = log.batches.at(i);
    // Control batches hold no keyed records; opaque ones no records at all (compacted logs refuse them).
    if ((row.flags & (BATCH_FLAG_CONTROL | BATCH_FLAG_OPAQUE)) !== 0) continue;
    const segment = byBase.get(row.segmentBaseLsn);
    if (segment === undefined) continue;
    const read = await readSegmentRange(context.files, segment, row.position, row.length, window);
    window = read.window;
    const check = checkBatch(read.buf, read.at, row.length, context.batchBytesMax);
    if (!check.ok) throw new CorruptLogError(`corrupt WAL segment ${segment.path} at byte offset ${row.position}: ${check.reason}`);
    for (const record of decodeRecords(read.buf, read.at, readBatchHeader(read.buf, read.at))) {
      if (record.key !== null) newest.set(keyString(record.key), record.offset);
    }
  }
  return newest;
}

export async function compactLogs(context: CompactionContext): Promise<CompactionResult> {
  const result: CompactionResult = { segmentsRewritten: 0, recordsRemoved: 0, bytesBefore: 0, bytesAfter: 0 };
  if (context.compacted.length === 0) return result;
  const newestByLog = new Map<string, { log: LogState; newest: Map<string, number> }>();
  for (const log of context.compacted) newestByLog.set(log.name, { log, newest: await newestOffsets(context, log) });
  const sealed = context.segments.slice(0, -1);
  for (const segment of sealed) {
    if (![...segment.logs.keys()].some((name) => newestByLog.has(name))) continue;
    await rewriteSegment(context, segment, newestByLog, result);
  }
  return result;
}

async function rewriteSegment(
  context: CompactionContext,
  segment: Segment,
  newestByLog: Map<string, { log: LogState; newest: Map<string, number> }>,
  result: CompactionResult,
): Promise<void> {
  const chunks: Buffer[] = [];
  let size = 0;
  let removed = 0;
  const removedFrom = new Set<string>();
  const next = new Segment(context.walDir, segment.baseLsn, context.indexIntervalBytes);
  const rows = new Map<string, BatchLocation[]>();
  const outcome = await scanSegmentFile(context.files, segment.path, context.batchBytesMax, ({ header, buf, bufPos }) => {
    const entry = newestByLog.get(header.logName);
    let out: Buffer;
    if (entry === undefined || (header.attributes & (BATCH_ATTR_CONTROL | BATCH_ATTR_OPAQUE)) !== 0) {
      out = Buffer.from(buf.subarray(bufPos, bufPos + header.batchLength));
    } else {
      const policy = entry.log.policy!;
      const records = decodeRecords(buf, bufPos, header);
      const keep = records.filter((record) => {
        if (record.key === null) return true;
        if (entry.newest.get(keyString(record.key)) !== record.offset) return false;
        return !(record.value === null && record.timestampMs < context.nowMs - policy.tombstoneRetentionMs);
      });
      removed += records.length - keep.length;
      if (keep.length < records.length) removedFrom.add(header.logName);
      if (keep.length === 0) return null;
      if (keep.length === records.length) {
        out = Buffer.from(buf.subarray(bufPos, bufPos + header.batchLength));
      } else {
        const inputs: RecordInput[] = keep.map((r) => ({ key: r.key, value: r.value, headers: r.headers, timestampMs: r.timestampMs, attributes: r.attributes }));
        const deltas = keep.map((r) => r.offset - header.logBaseOffset);
        const nameBytes = Buffer.from(header.logName, 'utf8');
        const plan = planBatch(nameBytes, inputs, header.firstTimestampMs, deltas, header.lastOffsetDelta, header.firstTimestampMs);
        out = Buffer.allocUnsafe(plan.batchLength);
        encodeBatch(out, 0, { attributes: header.attributes, baseLsn: header.baseLsn, logBaseOffset: header.logBaseOffset, writerEpoch: header.writerEpoch, logName: nameBytes }, plan, inputs, header.firstTimestampMs, deltas);
      }
    }
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
    });
    rows.set(header.logName, logRows);
    chunks.push(out);
    size += out.byteLength;
    return null;
  });
  if (outcome.failure !== null) throw new CorruptLogError(`corrupt WAL segment ${segment.path} at byte offset ${outcome.failure.position}: ${outcome.failure.reason}`);
  if (removed === 0) return;

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

  // Swap the in-memory view to the new file in one synchronous step.
  next.sealed = true;
  next.generation = segment.generation + 1;
  for (const [name] of segment.logs) {
    const log = context.logs.get(name);
    if (log === undefined) continue;
    const from = log.batches.findByLsn(segment.baseLsn);
    const to = log.batches.findByLsn(segment.endLsn);
    log.batches.replace(from, to, rows.get(name) ?? []);
  }
  for (const name of removedFrom) {
    const log = context.logs.get(name);
    if (log !== undefined) log.removals += 1;
  }
  context.replace(segment, next);
  await segment.closeReader();
  await context.writeIndexFiles(next);
  result.segmentsRewritten += 1;
  result.recordsRemoved += removed;
  result.bytesBefore += segment.size;
  result.bytesAfter += size;
}
