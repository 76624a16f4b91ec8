/**
 * `inspectDataDir`: a read-only look at a data directory, for `baton inspect`. It takes no lock
 * and changes nothing (it may run beside a live broker): it lists segments and logs with their
 * offsets and sizes (opaque batches counted as their messages and body bytes, never decoded),
 * verifies every batch's CRC, checks the index files against the data, and
 * classifies what it finds by the recovery rules: a bad batch in a trusted region is corruption;
 * one past the checkpoint in the newest segment is a torn tail that recovery would cut.
 */
import path from 'node:path';
import { CorruptLogError } from '../errors.js';
import { type Checkpoint, readCheckpoint } from './checkpoint.js';
import type { FileLayer } from './file-layer.js';
import { BATCH_ATTR_CONTROL, BATCH_ATTR_DELIVERIES, BATCH_ATTR_OPAQUE, batchBodyStart } from './record-batch.js';
import { scanSegmentFile } from './recovery.js';
import { OffsetIndex } from './offset-index.js';
import { parseSegmentFileName, Segment } from './segment.js';
import { TimeIndex } from './time-index.js';
import { WAL_DEFAULTS, WAL_DIR } from './wal.js';

export interface InspectedLog {
  name: string;
  batches: number;
  /** Records, with the messages of opaque batches (one per offset they span). */
  records: number;
  firstOffset: number;
  lastOffset: number;
  bytes: number;
  ackBatches: number;
  /** Opaque batches (record-batch.ts), their messages and their body bytes. */
  opaqueBatches: number;
  opaqueMessages: number;
  opaqueBytes: number;
  /** Delivery-count control batches (delivery-counts.ts). */
  deliveryBatches: number;
  segments: number;
}

export interface InspectedSegment {
  file: string;
  baseLsn: number;
  endLsn: number;
  bytes: number;
  validBytes: number;
  batches: number;
  records: number;
  logs: string[];
  /** 'ok', or why the index files disagree with the data (never trusted: recovery rewrites them). */
  indexes: string;
}

export interface InspectProblem {
  kind: 'corruption' | 'torn-tail';
  file: string;
  position: number;
  reason: string;
}

export interface InspectReport {
  dataDir: string;
  checkpoint: Checkpoint | null;
  segments: InspectedSegment[];
  logs: InspectedLog[];
  problems: InspectProblem[];
  bytesScanned: number;
  mbPerSec: number;
}

async function indexState(files: FileLayer, segment: Segment, sealed: boolean): Promise<string> {
  if (!sealed) return 'none (segment being written)';
  const offset = await files.readFile(segment.offsetIndexPath);
  const time = await files.readFile(segment.timeIndexPath);
  if (offset === null || time === null) return 'missing (rebuilt at next open)';
  const sameOffsets = Buffer.compare(Buffer.from(offset), Buffer.from(segment.offsetIndex.toBytes())) === 0;
  const sameTimes = Buffer.compare(Buffer.from(time), Buffer.from(segment.timeIndex.toBytes())) === 0;
  if (sameOffsets && sameTimes) return 'ok';
  return `differs from the data (${OffsetIndex.entriesOf(offset).length} offset / ${TimeIndex.entriesOf(time).length} time entries on disk; rebuilt at next open)`;
}

export async function inspectDataDir(files: FileLayer, dataDir: string, onlyLog?: string): Promise<InspectReport> {
  const started = performance.now();
  let checkpoint: Checkpoint | null = null;
  const problems: InspectProblem[] = [];
  try {
    checkpoint = await readCheckpoint(files, dataDir);
  } catch (error) {
    if (!(error instanceof CorruptLogError)) throw error;
    problems.push({ kind: 'corruption', file: path.join(dataDir, 'checkpoint'), position: 0, reason: error.message });
  }
  const walDir = path.join(dataDir, WAL_DIR);
  const bases = (await files.readdir(walDir)).map(parseSegmentFileName).filter((b): b is number => b !== null).sort((a, b) => a - b);
  const logs = new Map<string, InspectedLog>();
  const segments: InspectedSegment[] = [];
  let bytesScanned = 0;
  for (let i = 0; i < bases.length; i++) {
    const newest = i === bases.length - 1;
    const segment = new Segment(walDir, bases[i]!, WAL_DEFAULTS.indexIntervalBytes);
    let records = 0;
    const seen = new Set<string>();
    const outcome = await scanSegmentFile(
      files,
      segment.path,
      WAL_DEFAULTS.batchBytesMax * 16,
      ({ header, position }) => {
        const span = header.lastOffsetDelta + 1;
        segment.addBatch({ logName: header.logName, lsn: header.baseLsn, lsnSpan: span, logBaseOffset: header.logBaseOffset, position, length: header.batchLength, maxTimestampMs: header.maxTimestampMs });
        records += header.recordCount;
        seen.add(header.logName);
        let log = logs.get(header.logName);
        if (log === undefined) {
          log = {
            name: header.logName,
            batches: 0,
            records: 0,
            firstOffset: header.logBaseOffset,
            lastOffset: header.logBaseOffset,
            bytes: 0,
            ackBatches: 0,
            opaqueBatches: 0,
            opaqueMessages: 0,
            opaqueBytes: 0,
            deliveryBatches: 0,
            segments: 0,
          };
          logs.set(header.logName, log);
        }
        log.batches += 1;
        log.records += header.recordCount;
        log.lastOffset = header.logBaseOffset + span - 1;
        log.bytes += header.batchLength;
        if ((header.attributes & BATCH_ATTR_OPAQUE) !== 0) {
          log.opaqueBatches += 1;
          log.opaqueMessages += header.recordCount;
          log.opaqueBytes += header.batchLength - batchBodyStart(Buffer.byteLength(header.logName, 'utf8'));
        } else if ((header.attributes & BATCH_ATTR_CONTROL) !== 0) {
          if ((header.attributes & BATCH_ATTR_DELIVERIES) !== 0) log.deliveryBatches += 1;
          else log.ackBatches += 1;
        }
        return null;
      },
      (n) => {
        bytesScanned += n;
      },
    );
    for (const name of seen) logs.get(name)!.segments += 1;
    if (outcome.failure !== null) {
      const trustedEnd = !newest ? Infinity : checkpoint !== null && checkpoint.segmentBaseLsn === segment.baseLsn ? checkpoint.position : 0;
      problems.push({
        kind: outcome.failure.position < trustedEnd ? 'corruption' : 'torn-tail',
        file: segment.path,
        position: outcome.failure.position,
        reason: outcome.failure.reason,
      });
    } else if (newest && checkpoint !== null && checkpoint.segmentBaseLsn === segment.baseLsn && outcome.validEnd < checkpoint.position) {
      problems.push({ kind: 'corruption', file: segment.path, position: outcome.validEnd, reason: `file ends before its recovery point ${checkpoint.position}: truncated` });
    }
    segments.push({
      file: segment.fileName,
      baseLsn: segment.baseLsn,
      endLsn: segment.endLsn,
      bytes: outcome.fileSize,
      validBytes: outcome.validEnd,
      batches: segment.batchCount,
      records,
      logs: [...seen].sort(),
      indexes: await indexState(files, segment, !newest),
    });
  }
  const seconds = (performance.now() - started) / 1000;
  const selectedLogs = [...logs.values()].filter((l) => onlyLog === undefined || l.name === onlyLog).sort((a, b) => a.name.localeCompare(b.name));
  return {
    dataDir,
    checkpoint,
    segments: onlyLog === undefined ? segments : segments.filter((s) => s.logs.includes(onlyLog)),
    logs: selectedLogs,
    problems,
    bytesScanned,
    mbPerSec: seconds > 0 ? bytesScanned / 1e6 / seconds : 0,
  };
}
