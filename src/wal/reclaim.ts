/**
 * Reclaiming dead batches from the middle of the WAL, so that disk use follows live data.
 *
 * Retention (retention.ts) deletes whole segments, oldest first, once every log in them has
 * released its records. In a WAL shared by every log that is not enough: one log that keeps a
 * record (a topic kept forever, an exchange's bindings, an old unacknowledged message) pins the
 * segment it is in, and with it every other log's dead batches there. Reclaiming is RabbitMQ's
 * message-store compaction applied to the WAL: a sealed segment whose dead batches make up at
 * least RECLAIM_DEAD_SHARE of its bytes is rewritten with its live batches only
 * (segment-rewrite.ts), and deleted when none is live. Every kept segment is then at least half
 * live, so the WAL holds at most about twice the live bytes, plus the segment being written.
 *
 * Which batches are dead, log by log (decided from the in-memory directories, before reading):
 * - queue, a message batch: every offset it spans is acknowledged;
 * - queue, a control batch (acknowledgements, delivery counts): no message batch between the
 *   lowest offset it names and its own offset is still on disk (the directory keeps that lowest
 *   offset per control batch). Once those batches are gone the ack protects nothing; while one
 *   stays, the ack stays too, or a restart would bring that message back;
 * - state log: its snapshot covers the batch;
 * - topic: the batch is past the log's retention (time or bytes, Kafka's rules) and every
 *   older batch of the log is gone or goes now: a topic loses a prefix, as with retention, and
 *   its start offset moves to the first batch kept;
 * - a log not opened in this process: nothing (its policy is unknown).
 *
 * Offsets outlive records: before the first rewrite of a pass, every log's next offset is written
 * to `log-offsets`, as retention does.
 */
import { BATCH_FLAG_CONTROL, type BatchLocation, type LogState } from './log-state.js';
import type { Segment } from './segment.js';
import { type RewriteContext, rewriteSegment } from './segment-rewrite.js';

/** A sealed segment is rewritten once at least this share of its bytes is dead. */
export const RECLAIM_DEAD_SHARE = 0.5;

export interface ReclaimResult {
  segmentsRewritten: number;
  /** Segments in which nothing was live: their files were deleted. */
  segmentsDeleted: number;
  batchesRemoved: number;
  bytesBefore: number;
  bytesAfter: number;
}

export interface ReclaimContext extends RewriteContext {
  /** All segments, oldest first; the last one is being written and is never rewritten. */
  segments: readonly Segment[];
  nowMs: number;
  /** Records every log's next offset (retention.ts writeLogOffsets). */
  writeLogOffsets: () => Promise<void>;
}

/** Rows [from, to) of `log` that lie in `segment`. */
function rowsIn(log: LogState, segment: Segment): { from: number; to: number } {
  return { from: log.batches.findByLsn(segment.baseLsn), to: log.batches.findByLsn(segment.endLsn) };
}

function isControl(row: BatchLocation): boolean {
  return (row.flags & BATCH_FLAG_CONTROL) !== 0;
}

/** The dead batches of `log` in `segment`, by LSN, with their bytes. */
function deadBatchesOf(log: LogState, segment: Segment, logBytes: number, nowMs: number, dead: Map<number, number>): void {
  const policy = log.policy;
  if (policy === null) return;
  const { from, to } = rowsIn(log, segment);
  switch (policy.kind) {
    case 'queue': {
      const messageDead = (row: BatchLocation) => !isControl(row) && log.acked.covers(row.logBaseOffset, row.logBaseOffset + row.span);
      for (let i = from; i < to; i++) {
        const row = log.batches.at(i);
        if (messageDead(row)) dead.set(row.lsn, row.length);
      }
      // A control batch stays while a message batch it may name (from the lowest offset it
      // names up to its own) stays on disk after this rewrite.
      const messageStays = (namesFrom: number, own: number): boolean => {
        for (let i = log.batches.findByOffset(namesFrom); i < log.batches.count; i++) {
          const row = log.batches.at(i);
          if (row.logBaseOffset >= own) return false;
          if (isControl(row) || (i >= from && i < to && messageDead(row))) continue;
          return true;
        }
        return false;
      };
      for (let i = from; i < to; i++) {
        const row = log.batches.at(i);
        if (isControl(row) && !messageStays(row.namesFrom ?? row.logBaseOffset, row.logBaseOffset)) dead.set(row.lsn, row.length);
      }
      return;
    }
    case 'state':
      if (log.snapshotOffset === null) return;
      for (let i = from; i < to; i++) {
        const row = log.batches.at(i);
        if (row.logBaseOffset + row.span <= log.snapshotOffset) dead.set(row.lsn, row.length);
      }
      return;
    case 'topic': {
      if (policy.retentionMs === null && policy.retentionBytes === null) return;
      // A prefix only: row i goes if rows 0..i-1 went (earlier segments were reclaimed first).
      if (from !== 0) return;
      let left = logBytes;
      for (let i = from; i < to; i++) {
        const row = log.batches.at(i);
        const expired = policy.retentionMs !== null && row.maxTimestampMs < nowMs - policy.retentionMs;
        const beyondSize = policy.retentionBytes !== null && left - row.length >= policy.retentionBytes;
        if (!expired && !beyondSize) return;
        dead.set(row.lsn, row.length);
        left -= row.length;
      }
      return;
    }
    default:
      throw new Error(`unknown log kind ${String(policy.kind)}`);
  }
}

export async function reclaimSegments(context: ReclaimContext): Promise<ReclaimResult> {
  const result: ReclaimResult = { segmentsRewritten: 0, segmentsDeleted: 0, batchesRemoved: 0, bytesBefore: 0, bytesAfter: 0 };
  const logBytes = new Map<string, number>();
  for (const segment of context.segments) {
    for (const [name, summary] of segment.logs) logBytes.set(name, (logBytes.get(name) ?? 0) + summary.bytes);
  }
  let offsetsWritten = false;
  // A copy: rewriting replaces and removes entries of the WAL's list.
  for (const segment of context.segments.slice(0, -1)) {
    const dead = new Map<number, number>();
    for (const [name] of segment.logs) {
      const log = context.logs.get(name);
      if (log !== undefined) deadBatchesOf(log, segment, logBytes.get(name) ?? 0, context.nowMs, dead);
    }
    let deadBytes = 0;
    for (const bytes of dead.values()) deadBytes += bytes;
    if (dead.size === 0 || deadBytes < segment.size * RECLAIM_DEAD_SHARE) continue;
    if (!offsetsWritten) {
      await context.writeLogOffsets();
      offsetsWritten = true;
    }
    const bytesBefore = segment.size;
    const outcome = await rewriteSegment(context, segment, (header) => {
      if (!dead.has(header.baseLsn)) return 'keep';
      logBytes.set(header.logName, (logBytes.get(header.logName) ?? 0) - header.batchLength);
      return null;
    });
    if (!outcome.rewritten) continue;
    for (const name of outcome.changedLogs) {
      const log = context.logs.get(name)!;
      log.removals += 1;
      // A prefix went (queues, state logs and topics lose the oldest first): the log starts later.
      const start = log.batches.count > 0 ? log.batches.at(0).logBaseOffset : log.nextOffset;
      if (start > log.startOffset) {
        log.startOffset = start;
        log.acked.dropBelow(start);
        log.deliveries.forget(0, start);
      }
    }
    if (outcome.bytesAfter === 0) result.segmentsDeleted += 1;
    else result.segmentsRewritten += 1;
    result.batchesRemoved += dead.size;
    result.bytesBefore += bytesBefore;
    result.bytesAfter += outcome.bytesAfter;
  }
  return result;
}
