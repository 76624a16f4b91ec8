/**
 * Compaction by key, for topic logs opened with `compact: true`: keep the newest record of
 * every key, as Kafka's log cleaner does, and drop a tombstone (null value) once it is older
 * than the log's `tombstoneRetentionMs`, so that readers who saw the value also see its delete.
 *
 * Only sealed segments are rewritten; the segment being written is read (its records may be
 * the newest of a key) but never changed. A segment is rewritten whole, in place
 * (segment-rewrite.ts): other logs' batches copied byte for byte, compacted logs' batches
 * copied, dropped, or re-encoded with their survivors. Survivors keep their offsets and LSNs (the
 * batch format stores each record's offset delta), so offsets have gaps where records went,
 * as in Kafka, and readers skip them.
 */
import type { RecordInput } from './actor-storage.js';
import { CorruptLogError } from '../errors.js';
import { BATCH_FLAG_CONTROL, BATCH_FLAG_OPAQUE, type LogState } from './log-state.js';
import { BATCH_ATTR_CONTROL, BATCH_ATTR_OPAQUE, checkBatch, decodeRecords, encodeBatch, planBatch, readBatchHeader } from './record-batch.js';
import type { Segment } from './segment.js';
import { type RewriteContext, rewriteSegment } from './segment-rewrite.js';
import { readSegmentRange } from './wal-log.js';

export interface CompactionResult {
  segmentsRewritten: number;
  recordsRemoved: number;
  bytesBefore: number;
  bytesAfter: number;
}

export interface CompactionContext extends RewriteContext {
  /** All segments, oldest first; the last one is being written. */
  segments: readonly Segment[];
  compacted: readonly LogState[];
  nowMs: number;
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
    // Maintenance runs one step at a time: nothing retires a segment under this read.
    const read = await readSegmentRange(context.files, segment, row.position, row.length, window);
    if (read === null) throw new Error(`segment ${segment.path} was retired during compaction`);
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
    await compactSegment(context, segment, newestByLog, result);
  }
  return result;
}

async function compactSegment(
  context: CompactionContext,
  segment: Segment,
  newestByLog: Map<string, { log: LogState; newest: Map<string, number> }>,
  result: CompactionResult,
): Promise<void> {
  let removed = 0;
  const outcome = await rewriteSegment(context, segment, (header, buf, bufPos) => {
    const entry = newestByLog.get(header.logName);
    if (entry === undefined || (header.attributes & (BATCH_ATTR_CONTROL | BATCH_ATTR_OPAQUE)) !== 0) return 'keep';
    const policy = entry.log.policy!;
    const records = decodeRecords(buf, bufPos, header);
    const keep = records.filter((record) => {
      if (record.key === null) return true;
      if (entry.newest.get(keyString(record.key)) !== record.offset) return false;
      return !(record.value === null && record.timestampMs < context.nowMs - policy.tombstoneRetentionMs);
    });
    removed += records.length - keep.length;
    if (keep.length === records.length) return 'keep';
    if (keep.length === 0) return null;
    const inputs: RecordInput[] = keep.map((r) => ({ key: r.key, value: r.value, headers: r.headers, timestampMs: r.timestampMs, attributes: r.attributes }));
    const deltas = keep.map((r) => r.offset - header.logBaseOffset);
    const nameBytes = Buffer.from(header.logName, 'utf8');
    const plan = planBatch(nameBytes, inputs, header.firstTimestampMs, deltas, header.lastOffsetDelta, header.firstTimestampMs);
    const out = Buffer.allocUnsafe(plan.batchLength);
    encodeBatch(out, 0, { attributes: header.attributes, baseLsn: header.baseLsn, logBaseOffset: header.logBaseOffset, writerEpoch: header.writerEpoch, logName: nameBytes }, plan, inputs, header.firstTimestampMs, deltas);
    return out;
  });
  if (!outcome.rewritten) return;
  for (const name of outcome.changedLogs) {
    const log = context.logs.get(name);
    if (log !== undefined) log.removals += 1;
  }
  result.segmentsRewritten += 1;
  result.recordsRemoved += removed;
  result.bytesBefore += segment.size;
  result.bytesAfter += outcome.bytesAfter;
}
