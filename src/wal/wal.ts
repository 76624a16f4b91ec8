/**
 * `Wal`: the write-ahead log of one data directory, and the durable `ActorStorage`.
 *
 * ```
 * dataDir/                      0700
 *   LOCK                        0600  owner pid, start time, host (data-dir-lock.ts)
 *   checkpoint                  0600  recovery point of the newest segment (checkpoint.ts)
 *   log-offsets                 0600  next offset of every log, kept across retention (retention.ts)
 *   placement.log               0600  which host thread runs each actor (src/actor/placement-log.ts)
 *   wal/                        0700
 *     00000000000000000000.log        segments named by base LSN (segment.ts, record-batch.ts)
 *     00000000000000000000.index      sparse offset index, written when sealed (offset-index.ts)
 *     00000000000000000000.timeindex  sparse time index, written when sealed (time-index.ts)
 *   snapshots/                  0700
 *     queue%3Aorders.snap             one actor's newest snapshot (snapshot-file.ts)
 *   declarations/               0700  written by the broker, not the WAL (src/broker/declaration-store.ts)
 *     queue%3Aorders.json             the options a queue or topic was first declared with
 * ```
 *
 * Every log (actor) of the directory appends to ONE segmented WAL through ONE writer, so that a
 * single write and a single fdatasync confirm everything every actor appended meanwhile (Ra's
 * design for RabbitMQ's quorum queues, "to avoid parallel calls to fsync"). Each batch names its
 * log; an in-memory directory per log, rebuilt at recovery, finds that log's batches.
 *
 * Opening runs recovery (recovery.ts); closing confirms everything staged, syncs, and writes a
 * clean checkpoint. After a storage failure the WAL refuses appends: close it and open it again.
 */
import path from 'node:path';
import type { ActorLogOptions, ActorStorage, MaintenanceResult } from './actor-storage.js';
import { BatonError, ClosedError, InvalidArgumentError, InvalidNameError, StorageFailedError } from '../errors.js';
import { type Checkpoint, readCheckpoint, writeCheckpoint } from './checkpoint.js';
import { compactLogs, type CompactionResult } from './compaction.js';
import { mergeSmallSegments, type MergeResult } from './merge.js';
import { reclaimSegments, type ReclaimResult } from './reclaim.js';
import type { RewriteContext } from './segment-rewrite.js';
import { DataDirLock } from './data-dir-lock.js';
import { type FileLayer, NodeFileLayer } from './file-layer.js';
import { LOG_NAME_PATTERN, type LogPolicy, LogState } from './log-state.js';
import { LOG_NAME_BYTES_MAX } from './record-batch.js';
import { recover, type RecoveryProgress, type RecoveryStats, writeWholeFile } from './recovery.js';
import { deleteSegmentFiles, planRetention, readLogOffsets, type RetentionResult, writeLogOffsets } from './retention.js';
import { Segment } from './segment.js';
import { readSnapshotFile, SNAPSHOT_DIR } from './snapshot-file.js';
import { WalLog, type WalCore } from './wal-log.js';
import { type FsyncPolicy, type PlacedBatch, WalWriter, type WriterCounters } from './wal-writer.js';

export const WAL_DIR = 'wal';

export interface WalOptions {
  /** `always` (default): confirm after an fdatasync covering the append (group commit). */
  fsync?: FsyncPolicy;
  /** With `interval`: fdatasync at most this long after a write. Default 200. */
  fsyncIntervalMs?: number;
  /** Roll to a new segment before one grows past this. Default 64 MiB. */
  segmentBytesMax?: number;
  /** Largest batch (one append). Default 16 MiB. */
  batchBytesMax?: number;
  /** Bytes staged for the next round before appends wait. Default 32 MiB. */
  stagingBytesMax?: number;
  /** Bytes between sparse index entries. Default 4096. */
  indexIntervalBytes?: number;
  /** Synced bytes between checkpoints of the newest segment. Default 16 MiB. */
  checkpointIntervalBytes?: number;
  /** How often retention runs by itself; 0: only when `enforceRetention()` is called. Default 300000 (Kafka's 5 min). */
  retentionCheckIntervalMs?: number;
  /** The file system seam. Default: node:fs. */
  files?: FileLayer;
  /** Lock the directory against a second broker. Default true. */
  lock?: boolean;
  /** Take over a lock this process holds (a storage thread restarted after it died holding it). */
  adoptOwnLock?: boolean;
  /** Called every 64 MiB during recovery and once at its end. */
  onRecoveryProgress?: (progress: RecoveryProgress) => void;
  /** Clock for retention and tombstone expiry. Default Date.now. */
  nowMs?: () => number;
}

export interface ResolvedWalOptions {
  fsync: FsyncPolicy;
  fsyncIntervalMs: number;
  segmentBytesMax: number;
  batchBytesMax: number;
  stagingBytesMax: number;
  indexIntervalBytes: number;
  checkpointIntervalBytes: number;
  retentionCheckIntervalMs: number;
}

const MiB = 1024 * 1024;
export const WAL_DEFAULTS: ResolvedWalOptions = {
  fsync: 'always',
  fsyncIntervalMs: 200,
  segmentBytesMax: 64 * MiB,
  batchBytesMax: 16 * MiB,
  stagingBytesMax: 32 * MiB,
  indexIntervalBytes: 4096,
  checkpointIntervalBytes: 16 * MiB,
  retentionCheckIntervalMs: 300_000,
};

function integerOption(options: WalOptions, name: keyof ResolvedWalOptions, min: number, max: number): number {
  const value = options[name as keyof WalOptions] ?? WAL_DEFAULTS[name];
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    throw new InvalidArgumentError(`WAL option ${name} must be an integer in [${min}, ${max}], got ${String(value)}`);
  }
  return value;
}

export function resolveWalOptions(options: WalOptions): ResolvedWalOptions {
  if (options === null || typeof options !== 'object') throw new InvalidArgumentError('WAL options must be an object');
  const fsync = options.fsync ?? WAL_DEFAULTS.fsync;
  if (fsync !== 'always' && fsync !== 'interval' && fsync !== 'never') {
    throw new InvalidArgumentError(`fsync must be 'always', 'interval' or 'never', got ${JSON.stringify(fsync)}`);
  }
  const batchBytesMax = integerOption(options, 'batchBytesMax', 1024, 256 * MiB);
  const resolved: ResolvedWalOptions = {
    fsync,
    fsyncIntervalMs: integerOption(options, 'fsyncIntervalMs', 1, 3_600_000),
    // Positions are u32 in the indexes: segments stay below 4 GiB.
    segmentBytesMax: integerOption(options, 'segmentBytesMax', 4096, 0xffff_ffff),
    batchBytesMax,
    stagingBytesMax: integerOption(options, 'stagingBytesMax', 64 * 1024, 1024 * MiB),
    indexIntervalBytes: integerOption(options, 'indexIntervalBytes', 64, 64 * MiB),
    checkpointIntervalBytes: integerOption(options, 'checkpointIntervalBytes', 4096, 0xffff_ffff),
    retentionCheckIntervalMs: integerOption(options, 'retentionCheckIntervalMs', 0, 86_400_000),
  };
  return resolved;
}

export function validateLogName(name: unknown): string {
  // No leading dot and no '..': names turn up in file names and in tools' output.
  if (typeof name !== 'string' || !LOG_NAME_PATTERN.test(name) || Buffer.byteLength(name) > LOG_NAME_BYTES_MAX || name.startsWith('.') || name.includes('..')) {
    throw new InvalidNameError(`log name ${JSON.stringify(name)} is not allowed: use 1..${LOG_NAME_BYTES_MAX} characters of [A-Za-z0-9._:/-], not starting with '.' and without '..'`);
  }
  return name;
}

function resolvePolicy(name: string, options: ActorLogOptions): LogPolicy {
  if (options === null || typeof options !== 'object') throw new InvalidArgumentError(`options of log "${name}" must be an object`);
  const kind = options.kind ?? 'state';
  if (kind !== 'queue' && kind !== 'topic' && kind !== 'state') throw new InvalidArgumentError(`log kind must be 'queue', 'topic' or 'state', got ${JSON.stringify(kind)}`);
  const positive = (key: 'retentionMs' | 'retentionBytes' | 'tombstoneRetentionMs', allowZero: boolean): number | null => {
    const value = options[key];
    if (value === undefined) return null;
    if (!Number.isSafeInteger(value) || value < (allowZero ? 0 : 1)) throw new InvalidArgumentError(`log "${name}": ${key} must be a ${allowZero ? 'non-negative' : 'positive'} integer, got ${String(value)}`);
    return value;
  };
  const retentionMs = positive('retentionMs', false);
  const retentionBytes = positive('retentionBytes', false);
  if (options.compact !== undefined && typeof options.compact !== 'boolean') throw new InvalidArgumentError(`log "${name}": compact must be a boolean`);
  const compact = options.compact ?? false;
  if ((compact || retentionMs !== null || retentionBytes !== null) && kind !== 'topic') {
    throw new InvalidArgumentError(`log "${name}": retention and compaction apply to topic logs; a ${kind} log is trimmed by its ${kind === 'queue' ? 'acknowledgements' : 'snapshots'}`);
  }
  return { kind, retentionMs, retentionBytes, compact, tombstoneRetentionMs: positive('tombstoneRetentionMs', true) ?? 86_400_000 };
}

function samePolicy(a: LogPolicy, b: LogPolicy): boolean {
  return a.kind === b.kind && a.retentionMs === b.retentionMs && a.retentionBytes === b.retentionBytes && a.compact === b.compact && a.tombstoneRetentionMs === b.tombstoneRetentionMs;
}

function asStorageError(error: unknown, what: string): Error {
  if (error instanceof BatonError) return error;
  return new StorageFailedError(`${what}: ${(error as Error).message}`, { cause: error });
}

/** What `checkWritable` writes: a few pages, more than a small append needs. */
const PROBE_BYTES = 64 * 1024;

export interface WalMaintenanceResult extends MaintenanceResult {
  retention: RetentionResult;
  reclaim: ReclaimResult;
  compaction: CompactionResult;
  merge: MergeResult;
}

export interface WalStats {
  fsync: FsyncPolicy;
  segments: number;
  bytes: number;
  logs: number;
  nextLsn: number;
  writer: WriterCounters;
  recovery: RecoveryStats;
}

export class Wal implements ActorStorage, WalCore {
  readonly dataDir: string;
  readonly files: FileLayer;
  readonly options: ResolvedWalOptions;
  readonly recovery: RecoveryStats;
  readonly writerEpoch: number;
  readonly #walDir: string;
  readonly #lock: DataDirLock | null;
  readonly #segments: Segment[];
  readonly #segmentByBase = new Map<number, Segment>();
  readonly #logs: Map<string, LogState>;
  readonly #openLogs = new Map<string, Promise<WalLog>>();
  readonly #writer: WalWriter;
  readonly #nowMs: () => number;
  #state: 'open' | 'closing' | 'closed' = 'open';
  #maintenance: Promise<unknown> = Promise.resolve();
  #retentionTimer: NodeJS.Timeout | null = null;

  get durable(): boolean {
    return true;
  }

  get batchBytesMax(): number {
    return this.options.batchBytesMax;
  }

  private constructor(init: {
    dataDir: string;
    files: FileLayer;
    options: ResolvedWalOptions;
    recovery: RecoveryStats;
    writerEpoch: number;
    lock: DataDirLock | null;
    segments: Segment[];
    logs: Map<string, LogState>;
    activeFile: Awaited<ReturnType<FileLayer['open']>>;
    nextLsn: number;
    nowMs: () => number;
  }) {
    this.dataDir = init.dataDir;
    this.files = init.files;
    this.options = init.options;
    this.recovery = init.recovery;
    this.writerEpoch = init.writerEpoch;
    this.#walDir = path.join(init.dataDir, WAL_DIR);
    this.#lock = init.lock;
    this.#segments = init.segments;
    for (const segment of init.segments) this.#segmentByBase.set(segment.baseLsn, segment);
    this.#logs = init.logs;
    this.#nowMs = init.nowMs;
    const active = init.segments[init.segments.length - 1]!;
    this.#writer = new WalWriter(
      {
        files: init.files,
        walDir: this.#walDir,
        fsync: init.options.fsync,
        fsyncIntervalMs: init.options.fsyncIntervalMs,
        segmentBytesMax: init.options.segmentBytesMax,
        stagingBytesMax: init.options.stagingBytesMax,
        checkpointIntervalBytes: init.options.checkpointIntervalBytes,
        indexIntervalBytes: init.options.indexIntervalBytes,
      },
      {
        committed: (batches) => this.#committed(batches),
        sealed: (segment) => this.#writeIndexFiles(segment),
        checkpoint: (segment, position) => this.#checkpoint(segment, position, false),
      },
      active,
      init.activeFile,
      init.nextLsn,
      active.size,
    );
    if (init.options.retentionCheckIntervalMs > 0) {
      this.#retentionTimer = setInterval(() => {
        this.enforceRetention().catch(() => {
          // A failed deletion is retried on the next tick; the segments stay, nothing is lost.
        });
      }, init.options.retentionCheckIntervalMs);
      this.#retentionTimer.unref();
    }
  }

  /** Locks `dataDir`, recovers its log, and opens it for appends. */
  static async open(dataDir: string, options: WalOptions = {}): Promise<Wal> {
    if (typeof dataDir !== 'string' || dataDir.length === 0) throw new InvalidArgumentError('dataDir must be a non-empty path');
    const resolved = resolveWalOptions(options);
    const files = options.files ?? new NodeFileLayer();
    const lock = options.lock === false ? null : DataDirLock.acquire(dataDir, { adoptOwn: options.adoptOwnLock === true });
    try {
      const walDir = path.join(dataDir, WAL_DIR);
      await files.mkdir(dataDir);
      await files.mkdir(walDir);
      await files.mkdir(path.join(dataDir, SNAPSHOT_DIR));
      const checkpoint = await readCheckpoint(files, dataDir);
      const result = await recover({
        files,
        walDir,
        checkpoint,
        batchBytesMax: resolved.batchBytesMax,
        indexIntervalBytes: resolved.indexIntervalBytes,
        onProgress: options.onRecoveryProgress,
      });
      // Logs whose every segment retention deleted still own their offsets.
      for (const [name, nextOffset] of await readLogOffsets(files, dataDir)) {
        let log = result.logs.get(name);
        if (log === undefined) {
          log = new LogState(name);
          log.startOffset = nextOffset;
          result.logs.set(name, log);
        }
        if (log.nextOffset < nextOffset) {
          log.nextOffset = nextOffset;
          if (log.batches.count === 0) log.startOffset = nextOffset;
        }
      }
      if (result.segments.length === 0) {
        const first = new Segment(walDir, result.nextLsn, resolved.indexIntervalBytes);
        const created = await files.open(first.path, 'create-new');
        await created.close();
        await files.syncDir(walDir);
        result.segments.push(first);
      }
      const active = result.segments[result.segments.length - 1]!;
      const activeFile = await files.open(active.path, 'read-write');
      // What recovery accepted past the old checkpoint may not be synced yet (its writer died
      // before its fdatasync): sync it before the new checkpoint vouches for it.
      await activeFile.datasync();
      const writerEpoch = ((checkpoint?.writerEpoch ?? 0) + 1) >>> 0;
      const newCheckpoint: Checkpoint = { segmentBaseLsn: active.baseLsn, position: active.size, nextLsn: result.nextLsn, writerEpoch, clean: false };
      await writeCheckpoint(files, dataDir, newCheckpoint);
      return new Wal({
        dataDir,
        files,
        options: resolved,
        recovery: result.stats,
        writerEpoch,
        lock,
        segments: result.segments,
        logs: result.logs,
        activeFile,
        nextLsn: result.nextLsn,
        nowMs: options.nowMs ?? Date.now,
      });
    } catch (error) {
      lock?.release();
      throw asStorageError(error, `cannot open the WAL in ${dataDir}`);
    }
  }

  // ------------------------------------------------------------------------------------------
  // WalCore (for WalLog)
  // ------------------------------------------------------------------------------------------

  writer(): WalWriter {
    return this.#writer;
  }

  segment(baseLsn: number): Segment | undefined {
    return this.#segmentByBase.get(baseLsn);
  }

  assertOpen(): void {
    if (this.#state !== 'open') throw new ClosedError(`the WAL in ${this.dataDir} is closed`);
  }

  serialize<T>(task: () => Promise<T>): Promise<T> {
    const run = this.#maintenance.then(task, task);
    this.#maintenance = run.catch(() => {});
    return run;
  }

  // ------------------------------------------------------------------------------------------
  // ActorStorage
  // ------------------------------------------------------------------------------------------

  /** Opens (or creates) a log. Opening it again with other options fails with BATON_INVALID_ARGUMENT. */
  async openLog(name: string, options: ActorLogOptions = {}): Promise<WalLog> {
    this.assertOpen();
    validateLogName(name);
    const policy = resolvePolicy(name, options);
    const opening = this.#openLogs.get(name);
    if (opening !== undefined) {
      const log = await opening;
      const state = this.#logs.get(name)!;
      if (state.policy !== null && !samePolicy(state.policy, policy)) {
        throw new InvalidArgumentError(`log "${name}" is already open with other options (${JSON.stringify(state.policy)})`);
      }
      return log;
    }
    const open = (async () => {
      let state = this.#logs.get(name);
      if (state === undefined) {
        state = new LogState(name);
        this.#logs.set(name, state);
      }
      state.policy = policy;
      const snapshot = await readSnapshotFile(this.files, this.dataDir, name);
      state.snapshotOffset = snapshot?.offset ?? null;
      return new WalLog(this, state);
    })();
    this.#openLogs.set(name, open);
    try {
      return await open;
    } catch (error) {
      this.#openLogs.delete(name);
      throw error;
    }
  }

  /** Names of every log in the directory, opened or not. */
  logNames(): string[] {
    return [...this.#logs.keys()].sort();
  }

  /** Deletes the oldest segments every log in them has released (retention.ts). */
  enforceRetention(): Promise<RetentionResult> {
    this.assertOpen();
    return this.serialize(async () => {
      const plan = planRetention(this.#segments, this.#segments.length - 1, this.#logs, this.#nowMs());
      if (plan.deleteCount === 0) return { segmentsDeleted: 0, bytesDeleted: 0, reasons: plan.reasons };
      const doomed = this.#segments.slice(0, plan.deleteCount);
      const firstKept = this.#segments[plan.deleteCount]!;
      // Offsets survive their records: record every log's next offset before deleting.
      await writeLogOffsets(this.files, this.dataDir, this.#logs);
      // Forget the segments before deleting their files, so no replay starts reading them.
      for (const log of this.#logs.values()) {
        const dropped = log.batches.findByLsn(firstKept.baseLsn);
        if (dropped > 0) log.removals += 1;
        log.batches.dropFirst(dropped);
        log.startOffset = log.batches.count > 0 ? log.batches.at(0).logBaseOffset : log.nextOffset;
        log.acked.dropBelow(log.startOffset);
        log.deliveries.forget(0, log.startOffset);
      }
      this.#segments.splice(0, plan.deleteCount);
      for (const segment of doomed) {
        segment.retired = true;
        this.#segmentByBase.delete(segment.baseLsn);
      }
      const bytesDeleted = await deleteSegmentFiles(this.files, this.#walDir, doomed);
      return { segmentsDeleted: doomed.length, bytesDeleted, reasons: plan.reasons };
    });
  }

  /** Rewrites sealed segments that are mostly dead batches, and deletes those wholly dead (reclaim.ts). */
  reclaim(): Promise<ReclaimResult> {
    this.assertOpen();
    return this.serialize(() =>
      reclaimSegments({
        ...this.#rewriteContext(),
        segments: this.#segments,
        nowMs: this.#nowMs(),
        writeLogOffsets: () => writeLogOffsets(this.files, this.dataDir, this.#logs),
      }),
    );
  }

  /** Compacts the sealed segments of every open log with `compact: true` (compaction.ts). */
  compact(): Promise<CompactionResult> {
    this.assertOpen();
    return this.serialize(async () => {
      const compacted = [...this.#logs.values()].filter((log) => log.policy?.compact === true);
      return compactLogs({ ...this.#rewriteContext(), segments: this.#segments, compacted, nowMs: this.#nowMs() });
    });
  }

  /** Merges runs of adjacent small sealed segments into one file each (merge.ts). */
  mergeSegments(): Promise<MergeResult> {
    this.assertOpen();
    return this.serialize(() => mergeSmallSegments({ ...this.#rewriteContext(), segments: this.#segments, segmentBytesMax: this.options.segmentBytesMax }));
  }

  /** What rewriting a segment in place needs of the WAL (segment-rewrite.ts). */
  #rewriteContext(): RewriteContext {
    return {
      files: this.files,
      walDir: this.#walDir,
      batchBytesMax: this.options.batchBytesMax,
      indexIntervalBytes: this.options.indexIntervalBytes,
      logs: this.#logs,
      replace: (old: Segment, next: Segment) => {
        const i = this.#segments.indexOf(old);
        this.#segments[i] = next;
        this.#segmentByBase.set(next.baseLsn, next);
      },
      remove: (old: Segment) => {
        this.#segments.splice(this.#segments.indexOf(old), 1);
        this.#segmentByBase.delete(old.baseLsn);
      },
      writeIndexFiles: (segment: Segment) => this.#writeIndexFiles(segment),
    };
  }

  /**
   * One maintenance pass, as the storage thread runs it on its timer: retention first (segments it
   * deletes need no other work), then reclaiming dead batches, then compaction by key, then
   * merging the small segments those left. Each step runs after the maintenance before it.
   */
  async maintain(): Promise<WalMaintenanceResult> {
    const retention = await this.enforceRetention();
    const reclaim = await this.reclaim();
    const compaction = await this.compact();
    const merge = await this.mergeSegments();
    return { retention, reclaim, compaction, merge };
  }

  /**
   * Writes and fdatasyncs PROBE_BYTES in a scratch file of the data directory, then removes it:
   * whether the disk takes writes again (after ENOSPC, say) before appends are let in.
   */
  async checkWritable(): Promise<void> {
    const probe = path.join(this.dataDir, 'write-probe.tmp');
    await this.files.remove(probe);
    const file = await this.files.open(probe, 'create-new');
    try {
      const bytes = Buffer.alloc(PROBE_BYTES);
      let done = 0;
      while (done < bytes.byteLength) done += await file.write(bytes, done, bytes.byteLength - done, done);
      await file.datasync();
    } finally {
      await file.close();
      await this.files.remove(probe);
    }
  }

  stats(): WalStats {
    return {
      fsync: this.options.fsync,
      segments: this.#segments.length,
      bytes: this.#segments.reduce((sum, s) => sum + s.size, 0),
      logs: this.#logs.size,
      nextLsn: this.#writer.nextLsn,
      writer: { ...this.#writer.counters },
      recovery: this.recovery,
    };
  }

  /** The in-memory segments, oldest first (for inspect and tests). */
  segments(): readonly Segment[] {
    return this.#segments;
  }

  /** Confirms what is staged, syncs, writes a clean checkpoint, releases the lock. Idempotent. */
  async close(): Promise<void> {
    if (this.#state !== 'open') return;
    this.#state = 'closing';
    if (this.#retentionTimer !== null) clearInterval(this.#retentionTimer);
    try {
      await this.#maintenance;
      const syncedBytes = await this.#writer.close();
      if (syncedBytes !== null) {
        const active = this.#writer.activeSegment;
        await this.#writeIndexFiles(active);
        await this.#checkpoint(active, syncedBytes, true);
      }
    } finally {
      for (const segment of this.#segments) await segment.closeReader();
      this.#state = 'closed';
      this.#lock?.release();
    }
  }

  // ------------------------------------------------------------------------------------------
  // Writer hooks
  // ------------------------------------------------------------------------------------------

  #committed(batches: readonly PlacedBatch[]): void {
    for (const batch of batches) {
      const segment = batch.segment;
      if (!this.#segmentByBase.has(segment.baseLsn)) {
        this.#segments.push(segment);
        this.#segmentByBase.set(segment.baseLsn, segment);
      }
      segment.addBatch({
        logName: batch.log.name,
        lsn: batch.lsn,
        lsnSpan: batch.span,
        logBaseOffset: batch.logBaseOffset,
        position: batch.position,
        length: batch.length,
        maxTimestampMs: batch.maxTimestampMs,
      });
      batch.log.commitBatch(
        {
          lsn: batch.lsn,
          logBaseOffset: batch.logBaseOffset,
          span: batch.span,
          segmentBaseLsn: segment.baseLsn,
          position: batch.position,
          length: batch.length,
          maxTimestampMs: batch.maxTimestampMs,
          flags: batch.flags,
        },
        batch.ackRanges,
        batch.deliveries,
      );
    }
  }

  async #writeIndexFiles(segment: Segment): Promise<void> {
    await writeWholeFile(this.files, segment.offsetIndexPath, segment.offsetIndex.toBytes());
    await writeWholeFile(this.files, segment.timeIndexPath, segment.timeIndex.toBytes());
  }

  async #checkpoint(segment: Segment, position: number, clean: boolean): Promise<void> {
    await writeCheckpoint(this.files, this.dataDir, {
      segmentBaseLsn: segment.baseLsn,
      position,
      // The segment's committed end, not the writer's next LSN: staged batches are not on disk.
      nextLsn: segment.endLsn,
      writerEpoch: this.writerEpoch,
      clean,
    });
  }
}
