/**
 * One subscriber's reader of one partition, on the broker's thread: it keeps the subscriber's
 * position and hands the records after it to a sink (a handler on this thread, or a member
 * thread of `topic.process`) a run at a time — a run is the rest of one batch, read in place.
 *
 * Where a run comes from:
 * - the partition's resident batches (the tail), when the position is in it: nothing is copied
 *   and no other thread is involved; the run's extent is pinned while the sink has it;
 * - a memory partition's records retention deleted are skipped (the reader goes on at the
 *   partition's start);
 * - a logged partition's reader behind the tail (or any reader of a compacted partition) reads
 *   from the log: it gives an extent of its own to the partition actor (FETCH), which reads
 *   batches back into it, and reads those in place; the extent is reused for the next chunk and
 *   freed when the reader stops. Gaps in the log's offsets (compaction, retention) are skipped.
 *
 * A reader is woken when its partition has new readable records (memory: when they are encoded;
 * logged: when the log confirmed them) and pumps on a microtask: sync handlers run in a loop,
 * with no promise per record. Positions reach the group coordinator once per run.
 */
import { ClosedError, MessageTooLargeError } from '../../errors.js';
import type { Partition, TailExtent, Wakeable } from './partition.js';
import { batchBaseOffset, batchCount, batchTimestamp, recordAt, TB_HEADER_BYTES } from './topic-batch.js';
import type { FromSpec } from './topic-protocol.js';

/** Records of one batch from `index` on, as a sink gets them. */
export interface Run {
  /** Arena address of the batch. */
  readonly batch: number;
  /** The first record's index in the batch, and its position. */
  readonly index: number;
  readonly record: number;
  /** Records in the run (to the batch's end). */
  readonly count: number;
  /** The batch's first offset (record i has baseOffset + i) and time. */
  readonly baseOffset: number;
  readonly timestampMs: number;
  /** The tail extent it lies in (pinned while in flight); null for a chunk read back from the log. */
  readonly extent: TailExtent | null;
}

/** Thrown (or rejected) by a sink that cannot go on (its thread died): the reader stops where it is, without moving past the run. */
export class ReaderStopped extends Error {}

export interface ReaderSink {
  /** Runs in flight at once: 1 for a handler on this thread; more to keep a member thread busy. */
  readonly window: number;
  /**
   * Hands `run` to the handler. The sink advances the reader (`advance`) as records are done; it
   * stops early once `reader.stopping` (the record in hand finished). A promise: the run is in
   * flight until it settles.
   */
  deliver(reader: PartitionReader, run: Run): void | Promise<void>;
  /** The reader stops with runs in flight: they should end after the record in hand (a member thread is told). */
  stop?(reader: PartitionReader): void;
}

export interface ReaderCallbacks {
  /** The position moved (once per run at most). */
  positioned(partition: number, nextOffset: number): void;
  error(error: unknown, where: { partition: number; offset?: number }): void;
}

/** Records one pump hands out before it lets other work run (a fast producer must not starve the rest). */
const RECORDS_PER_PUMP = 16_384;
/** The extent a reader reads log chunks into, at first (a batch larger than it doubles it). */
const FETCH_EXTENT_BYTES = 1024 * 1024;
const FETCH_EXTENT_BYTES_MAX = 64 * 1024 * 1024;
/** Pause before reading again after a failed read (the partition actor restarting, most often) or a full arena. */
const RETRY_MS = 20;

interface Chunk {
  extent: number;
  size: number;
  /** Batch addresses, in offset order, and the next one to hand out. */
  batches: number[];
  next: number;
  /** Where the log reads on after this chunk (-1: nothing more yet). */
  after: number;
}

export class PartitionReader implements Wakeable {
  readonly partition: Partition;
  /** The next offset not yet handled (what a group commits); -1 until resolved. */
  position = -1;
  /** Resolves once the position is resolved (the reader then reads). */
  readonly started: Promise<void>;
  readonly #sink: ReaderSink;
  readonly #callbacks: ReaderCallbacks;
  /** The next offset not yet handed to the sink. */
  #handed = -1;
  #inFlight = 0;
  /** Runs from the current chunk still in flight (the chunk's extent is not reused before). */
  #chunkRuns = 0;
  #state: 'starting' | 'reading' | 'stopping' | 'stopped' = 'starting';
  #scheduled = false;
  #pumping = false;
  #chunk: Chunk | null = null;
  #fetching = false;
  #fetchBytes = FETCH_EXTENT_BYTES;
  #retryTimer: NodeJS.Timeout | null = null;
  #reported = -1;
  #stopped: (() => void) | null = null;
  readonly #done: Promise<void>;

  constructor(partition: Partition, offset: number | null, from: FromSpec, sink: ReaderSink, callbacks: ReaderCallbacks) {
    this.partition = partition;
    this.#sink = sink;
    this.#callbacks = callbacks;
    this.#done = new Promise((resolve) => (this.#stopped = resolve));
    this.started = this.#start(offset, from);
  }

  /** True once the reader was asked to stop: a sink finishes the record in hand and hands no more. */
  get stopping(): boolean {
    return this.#state !== 'reading';
  }

  /** Records before `next` are handled. */
  advance(next: number): void {
    if (next > this.position) this.position = next;
  }

  wake(): void {
    if (this.#scheduled || this.#state !== 'reading') return;
    this.#scheduled = true;
    queueMicrotask(this.#pump);
  }

  /** Stops after the records in hand; resolves once the position is final (and reported). */
  async stop(): Promise<void> {
    if (this.#state === 'starting' || this.#state === 'reading') {
      this.#state = 'stopping';
      if (this.#inFlight > 0) this.#sink.stop?.(this);
      this.#maybeFinish();
    }
    await this.started.catch(() => undefined);
    return this.#done;
  }

  async #start(offset: number | null, from: FromSpec): Promise<void> {
    let position = offset;
    while (position === null && this.#state === 'starting') {
      try {
        position = await this.#resolve(from);
      } catch (error) {
        if (error instanceof ClosedError) break;
        if ((error as { code?: string }).code !== 'BATON_NOT_FOUND') this.#callbacks.error(error, { partition: this.partition.index });
        await new Promise((resolve) => setTimeout(resolve, RETRY_MS));
      }
    }
    if (this.#state !== 'starting' || position === null) {
      // Stopped (or the broker closed) before the position was known.
      if (this.#state === 'starting') this.#state = 'stopping';
      this.#maybeFinish();
      return;
    }
    this.position = position;
    this.#handed = position;
    this.#reported = position;
    this.#state = 'reading';
    this.partition.addReader(this);
    this.wake();
  }

  async #resolve(from: FromSpec): Promise<number> {
    const p = this.partition;
    if (from === 'latest') return p.readableEnd;
    if (typeof from === 'object' && 'offset' in from) {
      // A memory partition's start is known here; a log's is found by the first read.
      return p.logged ? from.offset : Math.max(from.offset, p.tailStart);
    }
    if (!p.logged) return from === 'earliest' ? p.tailStart : (p.firstAtOrAfter(from.timestamp) ?? p.readableEnd);
    if (from === 'earliest') return (await p.offsets()).start;
    const offsets = await p.offsets(from.timestamp);
    return offsets.forTimestamp ?? offsets.next;
  }

  readonly #pump = (): void => {
    this.#scheduled = false;
    if (this.#pumping || this.#state !== 'reading') return;
    this.#pumping = true;
    let budget = RECORDS_PER_PUMP;
    try {
      while (this.#state === 'reading' && this.#inFlight < this.#sink.window) {
        if (budget <= 0) {
          this.#scheduled = true;
          setImmediate(this.#pump);
          break;
        }
        const run = this.#nextRun();
        if (run === null) break;
        budget -= run.count;
        this.#handed = run.baseOffset + run.index + run.count;
        this.#inFlight++;
        if (run.extent !== null) this.partition.pin(run.extent);
        else this.#chunkRuns++;
        let result: void | Promise<void>;
        try {
          result = this.#sink.deliver(this, run);
        } catch (error) {
          this.#runEnded(run, error);
          continue;
        }
        if (result === undefined) this.#runEnded(run, null);
        else
          result.then(
            () => this.#runEnded(run, null),
            (error: unknown) => this.#runEnded(run, error ?? new Error('a sink failed')),
          );
      }
    } finally {
      this.#pumping = false;
    }
  };

  #runEnded(run: Run, error: unknown): void {
    this.#inFlight--;
    if (run.extent !== null) this.partition.unpin(run.extent);
    else this.#chunkRuns--;
    if (error !== null) {
      if (error instanceof ReaderStopped) {
        // Not handled: the position stays where the sink left it, and this reader reads no further.
        if (this.#state === 'reading') this.#state = 'stopping';
      } else {
        this.#callbacks.error(error, { partition: this.partition.index, offset: run.baseOffset + run.index });
      }
    }
    this.#report();
    if (this.#state === 'stopping') this.#maybeFinish();
    else if (!this.#pumping) this.wake();
  }

  /** The next run after `#handed`, or null (nothing readable yet, a read from the log in flight, or a skip waiting for runs in flight). */
  #nextRun(): Run | null {
    const p = this.partition;
    for (;;) {
      const next = this.#handed;
      if (next >= p.readableEnd) return null;
      if (p.readsTail && next >= p.tailStart) {
        const batch = p.batchFor(next);
        if (batch !== null) {
          if (this.#chunk !== null && this.#chunkRuns === 0) this.#dropChunk();
          const index = next - batch.baseOffset;
          const record = index === 0 ? batch.address + TB_HEADER_BYTES : recordAt(p.arena.u32, batch.address, index);
          return { batch: batch.address, index, record, count: batch.count - index, baseOffset: batch.baseOffset, timestampMs: batch.timestampMs, extent: batch.extent };
        }
      }
      if (!p.logged) {
        // Retention deleted records before the partition's start: go on from there.
        if (next < p.tailStart) {
          if (!this.#skipTo(p.tailStart)) return null;
          continue;
        }
        return null;
      }
      const chunk = this.#chunk;
      if (chunk !== null && chunk.next < chunk.batches.length) {
        const arena = p.arena;
        const address = chunk.batches[chunk.next]!;
        const base = batchBaseOffset(arena.f64, address);
        const count = batchCount(arena.u32, address);
        if (base + count <= next) {
          chunk.next++;
          continue;
        }
        if (base > next) {
          // Offsets the log no longer has (compaction, retention): skipped.
          if (!this.#skipTo(base)) return null;
          continue;
        }
        chunk.next++;
        const index = next - base;
        return { batch: address, index, record: recordAt(arena.u32, address, index), count: count - index, baseOffset: base, timestampMs: batchTimestamp(arena.f64, address), extent: null };
      }
      this.#readLog(next);
      return null;
    }
  }

  /** Moves past offsets that are gone; only with nothing in flight (positions move in order). */
  #skipTo(offset: number): boolean {
    if (this.#inFlight > 0) return false;
    this.#handed = Math.max(this.#handed, offset);
    this.advance(this.#handed);
    return true;
  }

  /** Reads the next chunk from the log into this reader's extent (once the runs of the last one are done). */
  #readLog(from: number): void {
    if (this.#fetching || this.#chunkRuns > 0 || this.#retryTimer !== null) return;
    const p = this.partition;
    let chunk = this.#chunk;
    if (chunk !== null && chunk.size < this.#fetchBytes) {
      this.#dropChunk();
      chunk = null;
    }
    if (chunk === null) {
      const extent = p.allocateFetch(this.#fetchBytes);
      if (extent < 0) {
        // The arena is full: try again a little later (readers moving on free some).
        this.#retry();
        return;
      }
      chunk = { extent, size: p.extentSize(extent), batches: [], next: 0, after: -1 };
      this.#chunk = chunk;
    }
    const target = chunk;
    target.batches = [];
    target.next = 0;
    this.#fetching = true;
    p.fetch(from, target.extent, target.size).then(
      (fetched) => {
        this.#fetching = false;
        target.batches = fetched.batches;
        target.after = fetched.next;
        if (fetched.batches.length === 0 && this.#state === 'reading' && this.#inFlight === 0) {
          // Nothing there from `from`: before the log's start (retention), or past what it has.
          const to = from < fetched.startOffset ? fetched.startOffset : Math.max(from, fetched.next >= 0 ? fetched.next : p.readableEnd);
          if (to > from) this.#skipTo(to);
          else {
            this.#retry();
            return;
          }
        }
        if (this.#state === 'stopping') this.#maybeFinish();
        else this.wake();
      },
      (error: unknown) => {
        this.#fetching = false;
        if (error instanceof MessageTooLargeError && this.#fetchBytes < FETCH_EXTENT_BYTES_MAX) this.#fetchBytes *= 2;
        else if (!(error instanceof ClosedError) && (error as { code?: string }).code !== 'BATON_NOT_FOUND') this.#callbacks.error(error, { partition: p.index, offset: from });
        if (this.#state === 'stopping') this.#maybeFinish();
        else if (!(error instanceof ClosedError)) this.#retry();
      },
    );
  }

  #retry(): void {
    if (this.#retryTimer !== null) return;
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = null;
      this.wake();
    }, RETRY_MS);
  }

  #dropChunk(): void {
    const chunk = this.#chunk;
    if (chunk === null) return;
    this.#chunk = null;
    this.partition.freeFetch(chunk.extent);
  }

  #report(): void {
    if (this.position === this.#reported) return;
    this.#reported = this.position;
    this.#callbacks.positioned(this.partition.index, this.position);
  }

  #maybeFinish(): void {
    if (this.#state !== 'stopping' || this.#inFlight > 0 || this.#fetching) return;
    this.#state = 'stopped';
    if (this.#retryTimer !== null) clearTimeout(this.#retryTimer);
    this.#retryTimer = null;
    this.partition.removeReader(this);
    this.#dropChunk();
    if (this.position >= 0) this.#report();
    this.#stopped?.();
  }
}
