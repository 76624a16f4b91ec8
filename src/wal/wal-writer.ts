/**
 * The WAL writer: one per data directory, shared by every log (actor) in it. It turns appends
 * into group commits, and pipelines them: round N+1 is encoded and written while round N's
 * fdatasync runs.
 *
 * ```
 *  appends (any log)         staging          write lane                 sync lane
 *  ─────────────────► encode ─► [b9 b10 ..] ─swap─► write [b5..b8] ─┐
 *                                                                   └─► written [b5..b8] ─► fdatasync ─► confirm b5..b8
 *                                            (meanwhile: fdatasync of [b1..b4] ─► confirm b1..b4)
 * ```
 *
 * Appends are encoded straight into a staging buffer (no copy later). Two lanes then run side
 * by side, each one call at a time:
 *
 * - the write lane swaps the staging buffer out and writes everything staged with ONE
 *   positional write (a round), as soon as the previous write has ended;
 * - under `always`, the sync lane runs ONE fdatasync for every batch whose write had ENDED when
 *   the fdatasync started, then confirms those batches, from every log, in LSN order. A batch
 *   written while an fdatasync runs is not covered by it: it waits for the next one.
 *
 * Under `interval` and `never` a batch is confirmed when its write ends; `interval`'s timer
 * runs an fdatasync in the sync lane. Either way the batch grows with the disk's latency, as in
 * Ra's WAL: under load, one fdatasync covers thousands of appends; idle, an append waits for
 * one write and one sync. A round starts early, in the middle of a burst of appends, once
 * `ROUND_EARLY_START_BYTES` are staged, so the kernel's copy overlaps the encoding of the rest.
 *
 * A round that crosses `segmentBytesMax` rolls the segment: it writes the old segment's part,
 * waits for the fdatasync in flight, fdatasyncs the old segment (under every policy: the next
 * segment's existence tells recovery that this one is complete; the batches written before it
 * are confirmed by it), creates the next segment and fsyncs the directory, then writes the
 * rest. Index files of a sealed segment and the checkpoint are
 * written beside the two lanes, one task at a time.
 *
 * Failure is final (fsyncgate): after a write or fdatasync error the kernel may have dropped
 * the dirty pages while a later fsync "succeeds", so no later confirm could be trusted. Every
 * batch not yet confirmed fails with `StorageFailedError` (being synced, written, being
 * written, staged or waiting; even a batch whose own fdatasync then succeeds), every later
 * append too; the owner closes the WAL and opens it again, and recovery reads what is really
 * on disk.
 *
 * Bounds: at most `stagingBytesMax` bytes are staged; appends beyond it wait, in order. At most
 * one round is being written and one fdatasync runs.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { ClosedError, StorageFailedError } from '../errors.js';
import type { FileLayer, WalFile } from './file-layer.js';
import type { LogState } from './log-state.js';
import { Segment } from './segment.js';

export type FsyncPolicy = 'always' | 'interval' | 'never';

/** A batch as it was placed: its log, LSN, offsets and where it lives. */
export interface PlacedBatch {
  log: LogState;
  segment: Segment;
  lsn: number;
  span: number;
  logBaseOffset: number;
  position: number;
  length: number;
  maxTimestampMs: number;
  /** Set for ack control batches: the offsets they acknowledge. */
  ackRanges: Array<[number, number]> | null;
  /** Set for delivery-count control batches: flat [offset, count, ...] (delivery-counts.ts). */
  deliveries: readonly number[] | null;
  /** The directory row's flags (log-state.ts BATCH_FLAG_*). */
  flags: number;
}

export interface BatchRequest {
  log: LogState;
  length: number;
  span: number;
  maxTimestampMs: number;
  ackRanges: Array<[number, number]> | null;
  deliveries: readonly number[] | null;
  flags: number;
  /**
   * Under `always`: the batch does not start an fdatasync of its own; it is confirmed by the next
   * one that covers it (another batch's, or at most LAZY_SYNC_MS later). For acknowledgements: an
   * ack-only round's fdatasync used to hold up the publishes that came during it by a whole sync.
   */
  lazy?: boolean;
  /** Writes the batch's bytes at `buf[pos]`, now that its LSN and log offset are known. */
  encode: (buf: Buffer, pos: number, lsn: number, logBaseOffset: number) => void;
}

export interface WriterHooks {
  /** The round's batches are written (and synced, under `always`): index them. Synchronous. */
  committed(batches: readonly PlacedBatch[]): void;
  /** A segment was sealed (synced, successor created): write its index files. */
  sealed(segment: Segment): Promise<void>;
  /** Bytes [0, position) of `segment` are synced: record it in the checkpoint. */
  checkpoint(segment: Segment, position: number): Promise<void>;
}

export interface WriterOptions {
  files: FileLayer;
  walDir: string;
  fsync: FsyncPolicy;
  fsyncIntervalMs: number;
  segmentBytesMax: number;
  stagingBytesMax: number;
  checkpointIntervalBytes: number;
  indexIntervalBytes: number;
}

interface Entry {
  request: BatchRequest;
  resolve: (batch: PlacedBatch) => void;
  reject: (error: Error) => void;
  placed: PlacedBatch | null;
}

interface Part {
  segment: Segment;
  start: number;
  end: number;
}

/** A sealed segment whose index files are written once its last batch is confirmed. */
interface PendingSeal {
  segment: Segment;
  /** The segment's size when it was sealed: every byte of it is confirmed once `segment.size` reaches it. */
  bytes: number;
}

const STAGING_BYTES_INITIAL = 1 << 20;
/** A written lazy batch waits at most this long for an fdatasync to cover it. */
export const LAZY_SYNC_MS = 20;
/**
 * A round starts as soon as this much is staged and no write is in flight, without waiting for
 * the end of the event loop's turn: the kernel copies the first part while the rest of a burst
 * of appends is still being encoded, and the fdatasync covering it can start sooner. Large
 * enough to amortise a write call; small against the 4 MiB the raw synced-bandwidth loop uses.
 */
const ROUND_EARLY_START_BYTES = 256 * 1024;

/** Counters for tests and `stats()`: rounds (writes of what was staged), syncs and the batches they covered. */
export interface WriterCounters {
  rounds: number;
  writes: number;
  datasyncs: number;
  batches: number;
  bytes: number;
}

export class WalWriter {
  readonly #options: WriterOptions;
  readonly #hooks: WriterHooks;
  #active: Segment;
  #activeFile: WalFile;
  /** Bytes of the active segment written to the file (the file's length). */
  #writtenBytes: number;
  /** Bytes of the active segment known synced. */
  #syncedBytes: number;
  #checkpointedBytes: number;
  /** The segment that receives the next staged batch, and its size once everything staged is written. */
  #tail: Segment;
  #tailBytes: number;
  #nextLsn: number;
  #staging: Buffer = Buffer.allocUnsafe(STAGING_BYTES_INITIAL);
  #spare: Buffer | null = Buffer.allocUnsafe(STAGING_BYTES_INITIAL);
  #stagedBytes = 0;
  #stagedEntries: Entry[] = [];
  #stagedParts: Part[] = [];
  #waiting: Entry[] = [];
  /** The round being written (a write, or a roll and writes), and its batches. */
  #writing = false;
  #writingEntries: Entry[] = [];
  /** Under `always`: batches written and waiting for the next fdatasync, in LSN order. */
  #written: Entry[] = [];
  /** How many of #written are not lazy (any one of them starts an fdatasync). */
  #writtenEager = 0;
  /** Only lazy batches are written: a timer makes their fdatasync due after LAZY_SYNC_MS. */
  #lazyTimer: NodeJS.Timeout | null = null;
  #lazyDue = false;
  /** An fdatasync in flight, and the batches it confirms. */
  #syncing = false;
  #syncingEntries: Entry[] = [];
  #syncWaiters: Array<() => void> = [];
  /** A roll is draining the sync lane: no new fdatasync of the old segment may start. */
  #rolling = false;
  #pendingSeals: PendingSeal[] = [];
  /** Index files and checkpoints, written beside the data path, one at a time. */
  #housekeeping: Promise<void> | null = null;
  #scheduled = false;
  #syncRequested = false;
  #failure: StorageFailedError | null = null;
  #closed = false;
  #idleWaiters: Array<() => void> = [];
  #timer: NodeJS.Timeout | null = null;
  readonly counters: WriterCounters = { rounds: 0, writes: 0, datasyncs: 0, batches: 0, bytes: 0 };

  constructor(options: WriterOptions, hooks: WriterHooks, active: Segment, activeFile: WalFile, nextLsn: number, syncedBytes: number) {
    this.#options = options;
    this.#hooks = hooks;
    this.#active = active;
    this.#activeFile = activeFile;
    this.#writtenBytes = active.size;
    this.#syncedBytes = syncedBytes;
    this.#checkpointedBytes = syncedBytes;
    this.#tail = active;
    this.#tailBytes = active.size;
    this.#nextLsn = nextLsn;
    this.#stagedParts = [{ segment: active, start: 0, end: 0 }];
    if (options.fsync === 'interval') {
      this.#timer = setInterval(() => {
        this.#syncRequested = true;
        this.#schedule();
      }, options.fsyncIntervalMs);
      this.#timer.unref();
    }
  }

  get nextLsn(): number {
    return this.#nextLsn;
  }

  get activeSegment(): Segment {
    return this.#active;
  }

  get failure(): StorageFailedError | null {
    return this.#failure;
  }

  /** Queues a batch. Resolves once it is confirmed under the policy; rejects if the writer fails. */
  submit(request: BatchRequest): Promise<PlacedBatch> {
    if (this.#failure !== null) return Promise.reject(this.#failedError());
    if (this.#closed) return Promise.reject(new ClosedError('the WAL is closed'));
    return new Promise<PlacedBatch>((resolve, reject) => {
      const entry: Entry = { request, resolve, reject, placed: null };
      // Waiters keep their order: a later small append never overtakes an earlier large one.
      if (this.#waiting.length === 0 && this.#hasRoom(request.length)) this.#place(entry);
      else this.#waiting.push(entry);
    });
  }

  #hasRoom(length: number): boolean {
    return this.#stagedBytes === 0 || this.#stagedBytes + length <= this.#options.stagingBytesMax;
  }

  /** Assigns LSN and log offset, picks the segment, encodes into the staging buffer. */
  #place(entry: Entry): void {
    const { request } = entry;
    const lsn = this.#nextLsn;
    if (this.#tailBytes > 0 && this.#tailBytes + request.length > this.#options.segmentBytesMax) {
      const next = new Segment(this.#options.walDir, lsn, this.#options.indexIntervalBytes);
      this.#stagedParts.push({ segment: next, start: this.#stagedBytes, end: this.#stagedBytes });
      this.#tail = next;
      this.#tailBytes = 0;
    }
    if (this.#stagedBytes + request.length > this.#staging.byteLength) {
      const grown = Buffer.allocUnsafe(Math.max(this.#staging.byteLength * 2, this.#stagedBytes + request.length));
      this.#staging.copy(grown, 0, 0, this.#stagedBytes);
      this.#staging = grown;
    }
    const logBaseOffset = request.log.nextOffset;
    request.encode(this.#staging, this.#stagedBytes, lsn, logBaseOffset);
    this.#nextLsn = lsn + request.span;
    request.log.nextOffset = logBaseOffset + request.span;
    entry.placed = {
      log: request.log,
      segment: this.#tail,
      lsn,
      span: request.span,
      logBaseOffset,
      position: this.#tailBytes,
      length: request.length,
      maxTimestampMs: request.maxTimestampMs,
      ackRanges: request.ackRanges,
      deliveries: request.deliveries,
      flags: request.flags,
    };
    this.#tailBytes += request.length;
    this.#stagedBytes += request.length;
    this.#stagedParts[this.#stagedParts.length - 1]!.end = this.#stagedBytes;
    this.#stagedEntries.push(entry);
    if (!this.#writing && this.#failure === null && this.#stagedBytes >= ROUND_EARLY_START_BYTES) this.#startRound();
    else this.#schedule();
  }

  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    // setImmediate, not a microtask: every append made in this turn of the event loop (all the
    // continuations that the last confirms released) joins the same round.
    setImmediate(() => {
      this.#scheduled = false;
      this.#kick();
    });
  }

  /**
   * Starts whatever can start: the next round's write when no write is in flight, an fdatasync
   * when batches are written and no fdatasync is in flight. The two overlap: round N+1 is
   * written while round N's fdatasync runs.
   */
  #kick(): void {
    if (this.#failure !== null) return;
    if (!this.#writing && this.#stagedEntries.length > 0) this.#startRound();
    this.#startSync();
    this.#wakeIdle();
  }

  #startRound(): void {
    const entries = this.#stagedEntries;
    const parts = this.#stagedParts;
    const buf = this.#staging;
    this.#staging = this.#spare ?? Buffer.allocUnsafe(STAGING_BYTES_INITIAL);
    this.#spare = null;
    this.#stagedEntries = [];
    this.#stagedBytes = 0;
    this.#stagedParts = [{ segment: this.#tail, start: 0, end: 0 }];
    this.#writing = true;
    this.#writingEntries = entries;
    this.counters.rounds += 1;
    // Let waiting appends in, in order, now that the staging buffer has room again.
    while (this.#waiting.length > 0 && this.#hasRoom(this.#waiting[0]!.request.length)) this.#place(this.#waiting.shift()!);
    this.#writeRound(buf, parts).then(
      () => {
        this.#writing = false;
        this.#writingEntries = [];
        if (this.#failure !== null) return;
        this.#spare = buf.byteLength <= this.#options.stagingBytesMax * 2 ? buf : null;
        if (this.#options.fsync === 'always') {
          // Written, not yet durable: the confirm waits for an fdatasync that starts after this write ended.
          for (const entry of entries) {
            this.#written.push(entry);
            if (entry.request.lazy !== true) this.#writtenEager++;
          }
        } else {
          this.#confirm(entries);
        }
        this.#kick();
      },
      (error: unknown) => {
        this.#writing = false;
        this.#fail(error);
      },
    );
  }

  async #writeRound(buf: Buffer, parts: readonly Part[]): Promise<void> {
    for (const part of parts) {
      if (part.segment !== this.#active) await this.#roll(part.segment);
      if (part.end > part.start) await this.#writeFully(buf, part.start, part.end - part.start);
    }
  }

  /**
   * Under `always`: one fdatasync for every batch whose write has completed. Under `interval`:
   * the timer's fdatasync. It covers only writes that ended before it started, so a batch
   * written meanwhile waits for the next one.
   */
  #startSync(): void {
    if (this.#syncing || this.#rolling || this.#failure !== null) return;
    let entries: Entry[];
    if (this.#options.fsync === 'always') {
      if (this.#written.length === 0) return;
      if (this.#writtenEager === 0 && !this.#lazyDue && !this.#closed) {
        // Lazy batches only: the next eager batch's fdatasync covers them, or this timer's.
        this.#lazyTimer ??= setTimeout(() => {
          this.#lazyTimer = null;
          this.#lazyDue = true;
          this.#kick();
        }, LAZY_SYNC_MS);
        return;
      }
      entries = this.#written;
      this.#written = [];
      this.#writtenEager = 0;
      this.#lazyDue = false;
      if (this.#lazyTimer !== null) clearTimeout(this.#lazyTimer);
      this.#lazyTimer = null;
    } else if (this.#options.fsync === 'interval' && this.#syncRequested) {
      entries = [];
    } else {
      return;
    }
    this.#syncRequested = false;
    const target = this.#writtenBytes;
    if (this.#syncedBytes >= target) {
      // Nothing unsynced (a roll's fdatasync covered it): no call needed.
      this.#confirm(entries);
      return;
    }
    this.#syncing = true;
    this.#syncingEntries = entries;
    this.#activeFile.datasync().then(
      () => {
        this.#syncing = false;
        this.#syncingEntries = [];
        for (const wake of this.#syncWaiters.splice(0)) wake();
        if (this.#failure !== null) return;
        this.counters.datasyncs += 1;
        this.#syncedBytes = Math.max(this.#syncedBytes, target);
        this.#confirm(entries);
        this.#kick();
      },
      (error: unknown) => {
        this.#syncing = false;
        for (const wake of this.#syncWaiters.splice(0)) wake();
        this.#fail(error);
      },
    );
  }

  /** The batches are durable under the policy: index them and resolve their appends, in order. */
  #confirm(entries: readonly Entry[]): void {
    if (entries.length > 0) {
      const placed = entries.map((entry) => entry.placed!);
      this.#hooks.committed(placed);
      this.counters.batches += placed.length;
      for (const entry of entries) entry.resolve(entry.placed!);
    }
    this.#startHousekeeping();
  }

  /**
   * Writes the index files of sealed segments whose batches are all confirmed, and the
   * checkpoint when a segment was sealed or enough was synced since the last one. Runs beside
   * the writes and syncs, one task at a time; a failure stops the writer like any other.
   */
  #startHousekeeping(): void {
    if (this.#housekeeping !== null || this.#failure !== null) return;
    const seals: Segment[] = [];
    while (this.#pendingSeals.length > 0 && this.#pendingSeals[0]!.segment.size >= this.#pendingSeals[0]!.bytes) seals.push(this.#pendingSeals.shift()!.segment);
    if (seals.length === 0 && this.#syncedBytes - this.#checkpointedBytes < this.#options.checkpointIntervalBytes) return;
    this.#housekeeping = (async () => {
      for (const segment of seals) await this.#hooks.sealed(segment);
      // Read synchronously with the call: the hook records the committed end of what is synced.
      const position = this.#syncedBytes;
      this.#checkpointedBytes = position;
      await this.#hooks.checkpoint(this.#active, position);
    })().then(
      () => {
        this.#housekeeping = null;
        this.#startHousekeeping();
        this.#wakeIdle();
      },
      (error: unknown) => {
        this.#housekeeping = null;
        this.#fail(error);
      },
    );
  }

  async #writeFully(buf: Buffer, start: number, length: number): Promise<void> {
    let done = 0;
    while (done < length) {
      const n = await this.#activeFile.write(buf, start + done, length - done, this.#writtenBytes + done);
      assert.ok(n > 0, 'write made no progress');
      done += n;
    }
    this.counters.writes += 1;
    this.counters.bytes += length;
    this.#writtenBytes += length;
  }

  async #roll(next: Segment): Promise<void> {
    this.#rolling = true;
    try {
      // No fdatasync may run on the file being closed: wait for the one in flight.
      while (this.#syncing) await new Promise<void>((resolve) => this.#syncWaiters.push(resolve));
      if (this.#failure !== null) throw this.#failure;
      // The old segment must be complete on disk before its successor exists (recovery trusts it).
      if (this.#syncedBytes < this.#writtenBytes) {
        await this.#activeFile.datasync();
        this.counters.datasyncs += 1;
        this.#syncedBytes = this.#writtenBytes;
      }
      // Earlier rounds' batches waiting for a sync are covered by this one.
      const covered = this.#written;
      this.#written = [];
      this.#confirm(covered);
      await this.#activeFile.close();
      this.#active.sealed = true;
      this.#pendingSeals.push({ segment: this.#active, bytes: this.#writtenBytes });
      this.#activeFile = await this.#options.files.open(next.path, 'create-new');
      await this.#options.files.syncDir(path.dirname(next.path));
      this.#active = next;
      this.#writtenBytes = 0;
      this.#syncedBytes = 0;
      this.#checkpointedBytes = 0;
    } finally {
      this.#rolling = false;
    }
  }

  #failedError(): StorageFailedError {
    return new StorageFailedError(`the WAL writer stopped after a storage failure (${this.#failure!.message}); close and reopen the log to recover what is on disk`, {
      cause: this.#failure,
    });
  }

  /** Stops the writer: every batch not yet confirmed fails, whatever stage it is in. */
  #fail(error: unknown): void {
    if (this.#failure === null) {
      const code = (error as NodeJS.ErrnoException).code ?? 'unknown';
      this.#failure = new StorageFailedError(
        `WAL write or sync of ${this.#active.path} failed (${code}): ${(error as Error).message}. Nothing from this round or after it is confirmed`,
        { cause: error },
      );
      if (this.#timer !== null) clearInterval(this.#timer);
    }
    const pending = [...this.#syncingEntries, ...this.#written, ...this.#writingEntries, ...this.#stagedEntries, ...this.#waiting.splice(0)];
    this.#syncingEntries = [];
    this.#written = [];
    this.#writingEntries = [];
    this.#stagedEntries = [];
    for (const entry of pending) entry.reject(this.#failure);
    this.#wakeIdle();
  }

  #busy(): boolean {
    return (
      this.#scheduled ||
      this.#writing ||
      this.#syncing ||
      this.#housekeeping !== null ||
      this.#written.length > 0 ||
      this.#stagedEntries.length > 0 ||
      this.#waiting.length > 0
    );
  }

  #wakeIdle(): void {
    if (this.#idleWaiters.length > 0 && (this.#failure !== null || !this.#busy())) for (const wake of this.#idleWaiters.splice(0)) wake();
  }

  /** Resolves when nothing is staged, written but unconfirmed, or in flight (or the writer failed). */
  idle(): Promise<void> {
    if (this.#failure !== null || !this.#busy()) return Promise.resolve();
    // Someone waits for everything: lazy batches are not kept waiting for their timer.
    this.#lazyDue = true;
    this.#schedule();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  /**
   * Stops intake, lets everything staged finish, syncs, and closes the segment file. Resolves
   * the synced size of the active segment (for the clean checkpoint), or null after a failure.
   */
  async close(): Promise<number | null> {
    this.#closed = true;
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#schedule();
    while (this.#failure === null && this.#busy()) await this.idle();
    // After a failure, what is still in flight must settle before the file is closed.
    while (this.#writing || this.#syncing || this.#housekeeping !== null) {
      await Promise.all([this.#housekeeping, new Promise<void>((resolve) => setTimeout(resolve, 1))]).catch(() => {});
    }
    try {
      if (this.#failure === null && this.#syncedBytes < this.#writtenBytes) {
        await this.#activeFile.datasync();
        this.#syncedBytes = this.#writtenBytes;
      }
    } finally {
      if (this.#lazyTimer !== null) clearTimeout(this.#lazyTimer);
      this.#lazyTimer = null;
      await this.#activeFile.close().catch(() => {});
    }
    return this.#failure === null ? this.#syncedBytes : null;
  }
}
