/**
 * Recovery: rebuild the WAL's memory from its files, and decide what on disk is the log.
 *
 * Rules (docs/wal.md states them for users):
 * 1. Every segment but the newest is trusted: it was fdatasynced before its successor was
 *    created. So is the newest one up to the checkpoint's `position`.
 * 2. Every batch is verified (bounds, CRC, version, header sanity, LSN and per-log offsets that
 *    only rise). A failure inside the trusted region is corruption: `CorruptLogError` naming the
 *    file and byte offset. It is never skipped and never truncated away: that would silently
 *    drop records that were confirmed.
 * 3. A failure past the trusted region is a torn or garbage tail (a crash mid-write, or a file
 *    whose size grew before its data was written, as Kafka warns): the segment is truncated
 *    there and fdatasynced.
 * 4. The indexes are rebuilt from the bytes, never read from disk; a sealed segment's index
 *    files are compared with the rebuilt ones and rewritten when they differ.
 * 5. Leftovers of interrupted operations (compaction's `.cleaned`, atomic writes' `.tmp`) are
 *    removed: neither was ever renamed into place, so neither holds anything confirmed.
 */
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { CorruptLogError } from '../errors.js';
import { decodeAckValue } from './ack-ranges.js';
import { MalformedError, readU32 } from './byte-codec.js';
import type { Checkpoint } from './checkpoint.js';
import type { FileLayer } from './file-layer.js';
import { decodeDeliveryValue } from './delivery-counts.js';
import { batchFlags, LogState } from './log-state.js';
import { BATCH_ATTR_CONTROL, BATCH_ATTR_DELIVERIES, BATCH_HEADER_BYTES, type BatchHeader, checkBatch, decodeRecords, readBatchHeader } from './record-batch.js';
import { CLEANED_SUFFIX, parseSegmentFileName, Segment } from './segment.js';
import { completeMerges } from './segment-files.js';

export interface RecoveryProgress {
  bytesScanned: number;
  bytesTotal: number;
  segment: string;
}

export interface RecoveryStats {
  segments: number;
  batches: number;
  bytesScanned: number;
  durationMs: number;
  mbPerSec: number;
  /** Bytes cut from the newest segment's tail (0 after a clean stop). */
  truncatedBytes: number;
  truncatedAt: { file: string; position: number; reason: string } | null;
  indexFilesRewritten: number;
  /** Segment merges a crash interrupted after their commit, finished here. */
  mergesCompleted: number;
}

export interface RecoveryResult {
  segments: Segment[];
  logs: Map<string, LogState>;
  nextLsn: number;
  stats: RecoveryStats;
}

const SCAN_CHUNK_BYTES = 8 * 1024 * 1024;
const PROGRESS_EVERY_BYTES = 64 * 1024 * 1024;

/** A valid batch the scan found, with its decoded header. */
export interface ScannedBatch {
  header: BatchHeader;
  position: number;
  buf: Uint8Array;
  /** Where the batch starts in `buf`. */
  bufPos: number;
}

export interface ScanOutcome {
  /** Bytes of valid batches from the start of the file. */
  validEnd: number;
  fileSize: number;
  /** The first invalid batch, or null when the valid batches fill the file. */
  failure: { position: number; reason: string; zero: boolean } | null;
}

/**
 * Reads a segment file batch by batch, calling `onBatch` for each valid one, until the end or
 * the first invalid batch. `onBatch` may return a reason to reject a batch that is valid on its
 * own but not in context (an LSN or log offset going backwards).
 */
export async function scanSegmentFile(
  files: FileLayer,
  file: string,
  batchBytesMax: number,
  onBatch: (batch: ScannedBatch) => string | null,
  onBytes?: (bytes: number) => void,
): Promise<ScanOutcome> {
  const handle = await files.open(file, 'read');
  try {
    const fileSize = await handle.size();
    let buf = Buffer.allocUnsafe(Math.min(SCAN_CHUNK_BYTES, Math.max(fileSize, 64)));
    let bufStart = 0; // file position of buf[0]
    let bufEnd = 0; // file position after the last byte in buf
    let pos = 0;
    const fill = async (from: number, need: number): Promise<void> => {
      if (need > buf.byteLength) buf = Buffer.allocUnsafe(need);
      let got = 0;
      const want = Math.min(buf.byteLength, fileSize - from);
      while (got < want) {
        const n = await handle.read(buf, got, want - got, from + got);
        if (n === 0) break;
        got += n;
      }
      bufStart = from;
      bufEnd = from + got;
      onBytes?.(got);
    };
    while (pos < fileSize) {
      const available = fileSize - pos;
      const headerNeed = Math.min(available, BATCH_HEADER_BYTES);
      if (pos + headerNeed > bufEnd) await fill(pos, headerNeed);
      // Buffer the whole batch its length field claims (bounded: garbage lengths are capped).
      const claimed = headerNeed >= 4 ? readU32(buf, pos - bufStart) : 0;
      const need = Math.min(available, claimed > batchBytesMax ? BATCH_HEADER_BYTES : Math.max(claimed, BATCH_HEADER_BYTES));
      if (pos + need > bufEnd) await fill(pos, need);
      const check = checkBatch(buf, pos - bufStart, Math.min(available, bufEnd - pos), batchBytesMax);
      if (!check.ok) return { validEnd: pos, fileSize, failure: { position: pos, reason: check.reason, zero: check.zero } };
      let header: BatchHeader;
      try {
        header = readBatchHeader(buf, pos - bufStart);
      } catch (error) {
        if (!(error instanceof MalformedError)) throw error;
        return { validEnd: pos, fileSize, failure: { position: pos, reason: `malformed batch header: ${error.message}`, zero: false } };
      }
      const rejection = onBatch({ header, position: pos, buf, bufPos: pos - bufStart });
      if (rejection !== null) return { validEnd: pos, fileSize, failure: { position: pos, reason: rejection, zero: false } };
      pos += check.batchLength;
    }
    return { validEnd: pos, fileSize, failure: null };
  } finally {
    await handle.close();
  }
}

export interface RecoveryOptions {
  files: FileLayer;
  walDir: string;
  checkpoint: Checkpoint | null;
  batchBytesMax: number;
  indexIntervalBytes: number;
  onProgress?: ((progress: RecoveryProgress) => void) | undefined;
}

function corrupt(file: string, position: number, reason: string): CorruptLogError {
  return new CorruptLogError(
    `corrupt WAL segment ${file} at byte offset ${position}: ${reason}. This part of the log was synced before, so the disk changed it; ` +
      'its records are neither served nor skipped. Restore the data directory from a backup, or truncate the segment there knowingly',
  );
}

async function sameBytes(files: FileLayer, file: string, expected: Uint8Array): Promise<boolean> {
  const actual = await files.readFile(file);
  return actual !== null && Buffer.compare(Buffer.from(actual), Buffer.from(expected)) === 0;
}

/** Scans every segment, truncates a torn tail, and rebuilds segments and log states. */
export async function recover(options: RecoveryOptions): Promise<RecoveryResult> {
  const { files, walDir, checkpoint, batchBytesMax, indexIntervalBytes } = options;
  const started = performance.now();
  // A merge committed before a crash is finished first (segment-rewrite.ts mergeSegments).
  const merged = await completeMerges(files, walDir, await files.readdir(walDir), indexIntervalBytes);
  const names = await files.readdir(walDir);
  const bases: number[] = [];
  for (const name of names) {
    const base = parseSegmentFileName(name);
    if (base !== null) bases.push(base);
    else if (name.endsWith(CLEANED_SUFFIX) || name.endsWith('.tmp')) await files.remove(path.join(walDir, name));
  }
  bases.sort((a, b) => a - b);
  const baseSet = new Set(bases.map((b) => String(b).padStart(20, '0')));
  for (const name of names) {
    // Index files of a segment that retention already deleted.
    const stem = name.replace(/\.(index|timeindex)$/, '');
    if (stem !== name && !baseSet.has(stem)) await files.remove(path.join(walDir, name));
  }

  const newestBase = bases[bases.length - 1];
  if (checkpoint !== null && newestBase !== undefined && checkpoint.segmentBaseLsn > newestBase) {
    throw new CorruptLogError(
      `the checkpoint names segment ${checkpoint.segmentBaseLsn} but the newest segment in ${walDir} is ${newestBase}: segment files were removed. Restore the data directory from a backup`,
    );
  }
  if (checkpoint !== null && newestBase === undefined && checkpoint.nextLsn > 0) {
    throw new CorruptLogError(`the checkpoint records ${checkpoint.nextLsn} records but ${walDir} holds no segment files: they were removed. Restore the data directory from a backup`);
  }

  const stats: RecoveryStats = {
    segments: bases.length,
    batches: 0,
    bytesScanned: 0,
    durationMs: 0,
    mbPerSec: 0,
    truncatedBytes: 0,
    truncatedAt: null,
    indexFilesRewritten: 0,
    mergesCompleted: merged,
  };
  let bytesTotal = 0;
  if (options.onProgress !== undefined) {
    for (const base of bases) {
      const handle = await files.open(path.join(walDir, String(base).padStart(20, '0') + '.log'), 'read');
      bytesTotal += await handle.size();
      await handle.close();
    }
  }
  let lastProgress = 0;

  const logs = new Map<string, LogState>();
  const segments: Segment[] = [];
  let nextLsn = checkpoint?.nextLsn ?? 0;
  let expectedLsn = bases[0] ?? nextLsn;
  for (let i = 0; i < bases.length; i++) {
    const base = bases[i]!;
    const newest = i === bases.length - 1;
    const segment = new Segment(walDir, base, indexIntervalBytes);
    const file = segment.path;
    if (base < expectedLsn) throw corrupt(file, 0, `segment base LSN ${base} overlaps the previous segment, which ends at LSN ${expectedLsn}`);
    expectedLsn = base;
    const trustedEnd = !newest ? Infinity : checkpoint !== null && checkpoint.segmentBaseLsn === base ? checkpoint.position : 0;
    const outcome = await scanSegmentFile(
      files,
      file,
      batchBytesMax,
      ({ header, position, buf, bufPos }) => {
        if (header.baseLsn < expectedLsn) return `batch LSN ${header.baseLsn} below the expected ${expectedLsn}`;
        let log = logs.get(header.logName);
        if (log !== undefined && header.logBaseOffset < log.nextOffset) {
          return `log "${header.logName}" offset ${header.logBaseOffset} below its next offset ${log.nextOffset}`;
        }
        let ackRanges: Array<[number, number]> | null = null;
        let deliveries: number[] | null = null;
        const control = (header.attributes & BATCH_ATTR_CONTROL) !== 0;
        if (control) {
          const what = (header.attributes & BATCH_ATTR_DELIVERIES) !== 0 ? 'delivery' : 'ack';
          try {
            const values = decodeRecords(buf, bufPos, header).flatMap((record) => (record.value === null ? [] : [record.value]));
            if (what === 'delivery') deliveries = values.flatMap((value) => decodeDeliveryValue(value));
            else ackRanges = values.flatMap((value) => decodeAckValue(value));
          } catch (error) {
            if (error instanceof MalformedError) return `malformed ${what} record: ${error.message}`;
            throw error;
          }
        }
        if (log === undefined) {
          log = new LogState(header.logName);
          log.startOffset = header.logBaseOffset;
          log.nextOffset = header.logBaseOffset;
          logs.set(header.logName, log);
        }
        const span = header.lastOffsetDelta + 1;
        segment.addBatch({
          logName: header.logName,
          lsn: header.baseLsn,
          lsnSpan: span,
          logBaseOffset: header.logBaseOffset,
          position,
          length: header.batchLength,
          maxTimestampMs: header.maxTimestampMs,
        });
        log.commitBatch(
          {
            lsn: header.baseLsn,
            logBaseOffset: header.logBaseOffset,
            span,
            segmentBaseLsn: base,
            position,
            length: header.batchLength,
            maxTimestampMs: header.maxTimestampMs,
            flags: batchFlags(header.attributes),
          },
          ackRanges,
          deliveries,
        );
        log.nextOffset = header.logBaseOffset + span;
        expectedLsn = header.baseLsn + span;
        stats.batches += 1;
        return null;
      },
      (bytes) => {
        stats.bytesScanned += bytes;
        if (options.onProgress !== undefined && stats.bytesScanned - lastProgress >= PROGRESS_EVERY_BYTES) {
          lastProgress = stats.bytesScanned;
          options.onProgress({ bytesScanned: stats.bytesScanned, bytesTotal, segment: file });
        }
      },
    );
    if (outcome.failure !== null) {
      if (outcome.failure.position < trustedEnd) throw corrupt(file, outcome.failure.position, outcome.failure.reason);
      if (!newest) throw corrupt(file, outcome.failure.position, outcome.failure.reason);
      // A torn tail: cut it, and make the cut durable before anything new is written after it.
      const handle = await files.open(file, 'read-write');
      try {
        await handle.truncate(outcome.validEnd);
        await handle.datasync();
      } finally {
        await handle.close();
      }
      stats.truncatedBytes = outcome.fileSize - outcome.validEnd;
      stats.truncatedAt = { file, position: outcome.validEnd, reason: outcome.failure.reason };
    } else if (Number.isFinite(trustedEnd) && outcome.validEnd < trustedEnd) {
      throw corrupt(file, outcome.validEnd, `the file ends at byte ${outcome.validEnd}, before its recovery point ${trustedEnd}: it was truncated`);
    }
    if (!newest) {
      segment.sealed = true;
      const offsetBytes = segment.offsetIndex.toBytes();
      const timeBytes = segment.timeIndex.toBytes();
      if (!(await sameBytes(files, segment.offsetIndexPath, offsetBytes))) {
        await writeWholeFile(files, segment.offsetIndexPath, offsetBytes);
        stats.indexFilesRewritten += 1;
      }
      if (!(await sameBytes(files, segment.timeIndexPath, timeBytes))) {
        await writeWholeFile(files, segment.timeIndexPath, timeBytes);
        stats.indexFilesRewritten += 1;
      }
    } else {
      // The active segment's index files (from a clean close) go stale with its next append.
      await files.remove(segment.offsetIndexPath);
      await files.remove(segment.timeIndexPath);
    }
    segments.push(segment);
    nextLsn = Math.max(nextLsn, expectedLsn);
  }
  for (const log of logs.values()) {
    // A delivery record may name an offset whose acknowledgement went with a segment retention
    // deleted (it was recorded after the ack, and ignored then): every offset below the log's
    // first retained one was acknowledged, so no count below it is real.
    log.deliveries.forget(0, log.startOffset);
  }
  stats.durationMs = performance.now() - started;
  stats.mbPerSec = stats.durationMs > 0 ? stats.bytesScanned / 1e6 / (stats.durationMs / 1000) : 0;
  options.onProgress?.({ bytesScanned: stats.bytesScanned, bytesTotal: Math.max(bytesTotal, stats.bytesScanned), segment: segments[segments.length - 1]?.path ?? walDir });
  return { segments, logs, nextLsn, stats };
}

/** Writes a derived file (an index). Not atomic and not synced: it is never trusted. */
export async function writeWholeFile(files: FileLayer, file: string, bytes: Uint8Array): Promise<void> {
  await files.remove(file);
  const handle = await files.open(file, 'create-new');
  try {
    let written = 0;
    while (written < bytes.byteLength) written += await handle.write(bytes, written, bytes.byteLength - written, written);
  } finally {
    await handle.close();
  }
}
