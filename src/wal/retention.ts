/**
 * Retention: which of the oldest segments may go. Whole segments only, oldest first, and only
 * sealed ones (never the segment being written).
 *
 * The WAL is shared by every log of the directory, so a segment goes only when EVERY log with
 * records in it has released them:
 * - a queue log, when every offset of it up to its last one in the segment is acknowledged
 *   (oldest first: an ack record in a later segment may refer to this one, so a queue releases
 *   a prefix of its segments, never one in the middle);
 * - a topic log, when its records there are older than `retentionMs`, or when it keeps at least
 *   `retentionBytes` without this segment and all older ones (Kafka's rule); a topic with
 *   neither keeps everything (compaction may still shrink it);
 * - a state log, when its snapshot covers its records there;
 * - a log not opened since the directory was opened: never (its policy is unknown here).
 *
 * The result says why the first segment kept was kept, for `baton inspect` and for tests.
 *
 * Offsets outlive deleted records: before deleting, every log's next offset is written to the
 * `log-offsets` file (atomically), so that a log whose every segment is gone does not restart
 * at offset 0 and hand out offsets a consumer has already seen.
 */
import path from 'node:path';
import { CorruptLogError } from '../errors.js';
import { writeFileAtomic } from './atomic-file.js';
import type { FileLayer } from './file-layer.js';
import type { LogState } from './log-state.js';
import type { LogSegmentSummary, Segment } from './segment.js';
import { removeSegmentFiles } from './segment-files.js';

export const LOG_OFFSETS_FILE = 'log-offsets';

export interface RetentionPlan {
  /** How many of the oldest segments to delete. */
  deleteCount: number;
  /** Why segments were kept (the first blocker), or why none was a candidate. */
  reasons: string[];
}

export interface RetentionResult {
  segmentsDeleted: number;
  bytesDeleted: number;
  reasons: string[];
}

function releaseBlocker(log: LogState | undefined, name: string, summary: LogSegmentSummary, bytesLeft: number, nowMs: number): string | null {
  if (log === undefined || log.policy === null) return `log "${name}" has not been opened, so its retention is unknown`;
  const policy = log.policy;
  switch (policy.kind) {
    case 'queue': {
      const firstUnacked = log.firstUnacked();
      return firstUnacked > summary.lastOffset ? null : `queue "${name}" has offset ${firstUnacked} unacknowledged`;
    }
    case 'state':
      return log.snapshotOffset !== null && log.snapshotOffset > summary.lastOffset ? null : `log "${name}" has no snapshot past offset ${summary.lastOffset}`;
    case 'topic': {
      if (policy.retentionMs !== null && summary.maxTimestampMs < nowMs - policy.retentionMs) return null;
      if (policy.retentionBytes !== null && bytesLeft - summary.bytes >= policy.retentionBytes) return null;
      if (policy.retentionMs === null && policy.retentionBytes === null) return `topic "${name}" has no time or size retention`;
      return `topic "${name}" is within its retention (newest record ${summary.maxTimestampMs}, ${bytesLeft} bytes kept)`;
    }
    default:
      throw new Error(`unknown log kind ${String(policy.kind)}`);
  }
}

/**
 * Plans deletion among `segments` (oldest first); only the first `sealedCount` are candidates.
 * Pure: it reads the summaries and log states, and changes nothing.
 */
export function planRetention(segments: readonly Segment[], sealedCount: number, logs: ReadonlyMap<string, LogState>, nowMs: number): RetentionPlan {
  const bytesLeft = new Map<string, number>();
  for (const segment of segments) {
    for (const [name, summary] of segment.logs) bytesLeft.set(name, (bytesLeft.get(name) ?? 0) + summary.bytes);
  }
  let deleteCount = 0;
  const reasons: string[] = [];
  for (; deleteCount < sealedCount; deleteCount++) {
    const segment = segments[deleteCount]!;
    let blocker: string | null = null;
    for (const [name, summary] of segment.logs) {
      blocker = releaseBlocker(logs.get(name), name, summary, bytesLeft.get(name) ?? 0, nowMs);
      if (blocker !== null) break;
    }
    if (blocker !== null) {
      reasons.push(`segment ${segment.fileName} kept: ${blocker}`);
      break;
    }
    for (const [name, summary] of segment.logs) bytesLeft.set(name, (bytesLeft.get(name) ?? 0) - summary.bytes);
  }
  if (deleteCount === sealedCount && sealedCount < segments.length) reasons.push(`segment ${segments[sealedCount]!.fileName} kept: it is being written`);
  return { deleteCount, reasons };
}

/** Writes every log's next offset (atomically) so that offsets survive their segments. */
export async function writeLogOffsets(files: FileLayer, dataDir: string, logs: ReadonlyMap<string, LogState>): Promise<void> {
  const entries: Record<string, number> = {};
  for (const [name, log] of logs) entries[name] = log.nextOffset;
  await writeFileAtomic(files, path.join(dataDir, LOG_OFFSETS_FILE), Buffer.from(JSON.stringify({ version: 1, logs: entries })));
}

export async function readLogOffsets(files: FileLayer, dataDir: string): Promise<Map<string, number>> {
  const file = path.join(dataDir, LOG_OFFSETS_FILE);
  const bytes = await files.readFile(file);
  const out = new Map<string, number>();
  if (bytes === null) return out;
  let parsed: { version?: unknown; logs?: unknown };
  try {
    parsed = JSON.parse(Buffer.from(bytes).toString('utf8')) as typeof parsed;
  } catch {
    throw new CorruptLogError(`${file} is damaged at byte offset 0 (not JSON); it is written atomically, so the disk changed it`);
  }
  if (parsed.version !== 1 || parsed.logs === null || typeof parsed.logs !== 'object') throw new CorruptLogError(`${file} is damaged at byte offset 0 (unknown layout)`);
  for (const [name, offset] of Object.entries(parsed.logs as Record<string, unknown>)) {
    if (typeof offset !== 'number' || !Number.isSafeInteger(offset) || offset < 0) throw new CorruptLogError(`${file}: bad offset for log "${name}"`);
    out.set(name, offset);
  }
  return out;
}

/** Deletes segment files oldest first (a crash leaves a suffix, which recovery accepts). */
export async function deleteSegmentFiles(files: FileLayer, walDir: string, doomed: readonly Segment[]): Promise<number> {
  let bytes = 0;
  for (const segment of doomed) {
    await segment.closeReader();
    await removeSegmentFiles(files, segment);
    bytes += segment.size;
  }
  await files.syncDir(walDir);
  return bytes;
}
