/**
 * The WAL writer: one per data directory, shared by every log (actor) in it. It turns appends
 * into group commits.
 *
 * ```
 *   appends (any log)          staging buffer             in flight
 *   ─────────────────► encode ─► [b7 b8 b9 ...] ──swap──► [b1 .. b6] ─► write ─► fdatasync ─► confirm b1..b6
 *                                   ▲                                                  │
 *                                   └──────── next round starts when this one ends ────┘
 * ```
 *
 * Appends are encoded straight into a staging buffer (no copy later). When no round is in
 * flight, the writer swaps the staging buffer out and runs a round: ONE positional write of
 * everything staged, then (policy `always`) ONE fdatasync, then it confirms every batch the
 * round held, from every log. Whatever arrives meanwhile is staged for the next round, so the
 * batch grows with the disk's latency, as in Ra's WAL: under load, one fdatasync covers
 * thousands of appends; idle, an append waits for one write and one sync.
 *
 * A round that crosses `segmentBytesMax` rolls the segment: it writes the old segment's part,
 * fdatasyncs it (under every policy: the next segment's existence tells recovery that this one
 * is complete), creates the next segment and fsyncs the directory, then writes the rest.
 *
 * Failure is final (fsyncgate): after a write or fdatasync error the kernel may have dropped
 * the dirty pages while a later fsync "succeeds", so no later confirm could be trusted. Every
 * batch in flight, staged or waiting fails with `StorageFailedError`, every later append too;
 * the owner closes the WAL and opens it again, and recovery reads what is really on disk.
 *
 * Bounds: at most `stagingBytesMax` bytes are staged; appends beyond it wait, in order.
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
}

export interface BatchRequest {
  log: LogState;
  length: number;
  span: number;
  maxTimestampMs: number;
  ackRanges: Array<[number, number]> | null;
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

const STAGING_BYTES_INITIAL = 1 << 20;

/** Counters for tests and `stats()`: rounds, syncs and the batches they covered. */
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
  #running = false;
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
    };
    this.#tailBytes += request.length;
    this.#stagedBytes += request.length;
    this.#stagedParts[this.#stagedParts.length - 1]!.end = this.#stagedBytes;
    this.#stagedEntries.push(entry);
    this.#schedule();
  }

  #schedule(): void {
    if (this.#running || this.#scheduled) return;
    this.#scheduled = true;
    // setImmediate, not a microtask: every append made in this turn of the event loop (all the
    // continuations that the last round's confirms released) joins the round.
    setImmediate(() => {
      this.#scheduled = false;
      void this.#pump();
    });
  }

  async #pump(): Promise<void> {
    if (this.#running || this.#failure !== null) return;
    this.#running = true;
    try {
      while (this.#failure === null && (this.#stagedEntries.length > 0 || this.#syncRequested)) {
        const entries = this.#stagedEntries;
        const parts = this.#stagedParts;
        const buf = this.#staging;
        this.#staging = this.#spare ?? Buffer.allocUnsafe(STAGING_BYTES_INITIAL);
        this.#spare = null;
        this.#stagedEntries = [];
        this.#stagedBytes = 0;
        this.#stagedParts = [{ segment: this.#tail, start: 0, end: 0 }];
        const syncRequested = this.#syncRequested;
        this.#syncRequested = false;
        try {
          await this.#round(buf, parts, entries, syncRequested);
        } catch (error) {
          this.#fail(error, entries);
          return;
        }
        this.#spare = buf.byteLength <= this.#options.stagingBytesMax * 2 ? buf : null;
        // Let waiting appends in, in order, now that the staging buffer has room again.
        while (this.#waiting.length > 0 && this.#hasRoom(this.#waiting[0]!.request.length)) this.#place(this.#waiting.shift()!);
      }
    } finally {
      this.#running = false;
      if (this.#stagedEntries.length === 0) for (const wake of this.#idleWaiters.splice(0)) wake();
    }
  }

  async #round(buf: Buffer, parts: readonly Part[], entries: readonly Entry[], syncRequested: boolean): Promise<void> {
    const sealed: Segment[] = [];
    this.counters.rounds += 1;
    for (const part of parts) {
      if (part.segment !== this.#active) {
        sealed.push(this.#active);
        await this.#roll(part.segment);
      }
      if (part.end > part.start) {
        await this.#writeFully(buf, part.start, part.end - part.start);
      }
    }
    const sync = this.#options.fsync === 'always' || (this.#options.fsync === 'interval' && syncRequested);
    if (sync && this.#syncedBytes < this.#writtenBytes) {
      await this.#activeFile.datasync();
      this.counters.datasyncs += 1;
      this.#syncedBytes = this.#writtenBytes;
    }
    const placed = entries.map((entry) => entry.placed!);
    this.#hooks.committed(placed);
    this.counters.batches += placed.length;
    for (const entry of entries) entry.resolve(entry.placed!);
    for (const segment of sealed) await this.#hooks.sealed(segment);
    if (sealed.length > 0 || this.#syncedBytes - this.#checkpointedBytes >= this.#options.checkpointIntervalBytes) {
      await this.#hooks.checkpoint(this.#active, this.#syncedBytes);
      this.#checkpointedBytes = this.#syncedBytes;
    }
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
    // The old segment must be complete on disk before its successor exists (recovery trusts it).
    if (this.#syncedBytes < this.#writtenBytes) {
      await this.#activeFile.datasync();
      this.counters.datasyncs += 1;
    }
    await this.#activeFile.close();
    this.#active.sealed = true;
    this.#activeFile = await this.#options.files.open(next.path, 'create-new');
    await this.#options.files.syncDir(path.dirname(next.path));
    this.#active = next;
    this.#writtenBytes = 0;
    this.#syncedBytes = 0;
    this.#checkpointedBytes = 0;
  }

  #failedError(): StorageFailedError {
    return new StorageFailedError(`the WAL writer stopped after a storage failure (${this.#failure!.message}); close and reopen the log to recover what is on disk`, {
      cause: this.#failure,
    });
  }

  #fail(error: unknown, inFlight: readonly Entry[]): void {
    const code = (error as NodeJS.ErrnoException).code ?? 'unknown';
    this.#failure = new StorageFailedError(
      `WAL write or sync of ${this.#active.path} failed (${code}): ${(error as Error).message}. Nothing from this round or after it is confirmed`,
      { cause: error },
    );
    if (this.#timer !== null) clearInterval(this.#timer);
    for (const entry of [...inFlight, ...this.#stagedEntries, ...this.#waiting.splice(0)]) entry.reject(this.#failure);
    this.#stagedEntries = [];
    for (const wake of this.#idleWaiters.splice(0)) wake();
  }

  /** Resolves when nothing is staged or in flight. */
  idle(): Promise<void> {
    if (!this.#running && !this.#scheduled && this.#stagedEntries.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  /**
   * Stops intake, lets everything staged finish, syncs, and closes the segment file. Resolves
   * the synced size of the active segment (for the clean checkpoint), or null after a failure.
   */
  async close(): Promise<number | null> {
    this.#closed = true;
    if (this.#timer !== null) clearInterval(this.#timer);
    while (this.#waiting.length > 0 || this.#stagedEntries.length > 0 || this.#running || this.#scheduled) {
      await this.idle();
      if (this.#failure !== null) break;
    }
    try {
      if (this.#failure === null && this.#syncedBytes < this.#writtenBytes) {
        await this.#activeFile.datasync();
        this.#syncedBytes = this.#writtenBytes;
      }
    } finally {
      await this.#activeFile.close().catch(() => {});
    }
    return this.#failure === null ? this.#syncedBytes : null;
  }
}
