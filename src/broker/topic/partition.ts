/**
 * A topic partition on the broker's thread: the producer's end (its `LogWriter` in the arena,
 * the offsets it assigns), the partition's resident batches (the tail readers read in place),
 * and, for a logged partition, the conversation with its partition actor.
 *
 * ```
 *   offsets:  startOffset(log) ... tailStart ............ readableEnd ......... nextOffset
 *             |  log only      |  resident, readable   |  resident, appended,  |
 *             |  (FETCH)       |  (read in place)      |  not yet confirmed    |
 * ```
 *
 * - **Memory mode** (no dataDir, not compacted): the arena is the partition. An encoded batch is
 *   readable at once (`readableEnd` = `nextOffset`) and readers are woken on this thread: no ring,
 *   no actor. What retention lets go (`retentionMs`, `retentionBytes`; whole extents, oldest
 *   first) is freed; without retention, everything stays until the arena is full
 *   (BATON_TOPIC_FULL). A reader behind `tailStart` lost those records to retention and skips on.
 * - **Logged** (a dataDir, or a compacted topic): batches go to the partition actor in one
 *   PRODUCE per send; `readableEnd` moves when it confirms them (after the covering fdatasync
 *   under fsync 'always'), in offset order, so a reader never sees a record the log has not
 *   confirmed. The arena keeps a bounded tail (`TAIL_BYTES`, plus retention); a reader behind it
 *   reads from the log (FETCH: the actor reads batches back into an extent the reader gives).
 *   Compacted partitions keep no tail at all: their readers always read what the log has now, so
 *   that a key compaction removed is never served from memory.
 *
 * An extent is freed only when every batch in it is confirmed (the storage thread copies appends
 * from it) and no reader holds a run of it (`pin`): a record in a handler's hands is never freed.
 */
import assert from 'node:assert/strict';
import type { ActorRuntime } from '../../actor/actor-runtime.js';
import { deserializeError, NotFoundError, type SerializedError } from '../../errors.js';
import type { Arena } from '../../log/arena.js';
import type { ExtentAllocator } from '../../log/extent-allocator.js';
import { ExtentTableWriter } from '../../log/extent-table.js';
import { LogWriter } from '../../log/log-writer.js';
import type { Codec } from '../codec.js';
import type { TopicBatchRef } from './topic-batch.js';
import {
  FETCH_BYTES,
  type Fetched,
  jsonBytes,
  type PartitionOffsets,
  produceBytes,
  readConfirmed,
  readFetched,
  readJson,
  TopicRecord,
  type TopicOptions,
  writeFetch,
  writeProduce,
} from './topic-protocol.js';

/** Bytes of confirmed batches a logged partition keeps in the arena for its readers (beyond it, they read from the log). */
export const TAIL_BYTES = 4 * 1024 * 1024;
/** A produce waits this long for its confirm before it fails (the partition actor is restarting, or stuck). */
const PRODUCE_TIMEOUT_MS = 60_000;
/** A fetch or an offsets request waits this long. */
const REQUEST_TIMEOUT_MS = 30_000;
/** Pause between attempts to learn a restarted partition's offsets. */
const RESYNC_RETRY_MS = 20;

/** What a partition needs from its topic and broker. */
export interface PartitionHost {
  readonly runtime: ActorRuntime;
  readonly arena: Arena;
  readonly allocator: ExtentAllocator;
  readonly codec: Codec;
  readonly options: Readonly<TopicOptions>;
  /** Logged: the partition is its actor's log (a dataDir, or a compacted topic). */
  readonly logged: boolean;
}

/** What a partition wakes when records become readable. */
export interface Wakeable {
  wake(): void;
}

/** An extent of the partition's writer that holds resident batches. */
export class TailExtent {
  /** Offsets of its batches: [firstOffset, endOffset). */
  firstOffset = -1;
  endOffset = -1;
  /** Bytes of its batches (from its start: batches are written back to back). */
  fill = 0;
  maxTimestampMs = 0;
  /** Runs of it in readers' hands. */
  pins = 0;
  sealed = false;
  constructor(
    readonly address: number,
    readonly generation: number,
  ) {}
}

/** A batch in the arena, in offset order. */
export class ResidentBatch {
  constructor(
    readonly address: number,
    readonly baseOffset: number,
    readonly count: number,
    readonly timestampMs: number,
    readonly extent: TailExtent,
  ) {}

  get end(): number {
    return this.baseOffset + this.count;
  }
}

/** A produce in flight to the partition actor (logged). */
interface Produce {
  baseOffset: number;
  endOffset: number;
  done: boolean;
  failed: boolean;
}

export class Partition {
  readonly topic: string;
  readonly index: number;
  readonly actorId: string;
  readonly arena: Arena;
  readonly writer: LogWriter;
  readonly codec: Codec;
  readonly logged: boolean;
  /** Readers read resident batches in place (all but compacted partitions). */
  readonly readsTail: boolean;
  /** The next offset the producer assigns. */
  nextOffset = 0;
  /** Readers read below this: encoded (memory) or confirmed by the log (logged). */
  readableEnd = 0;
  readonly #host: PartitionHost;
  readonly #table: ExtentTableWriter;
  readonly #tailBytes: number;
  /** Resident batches, oldest first: `#batches[#batchHead..]`. */
  #batches: ResidentBatch[] = [];
  #batchHead = 0;
  /** Extents holding them, oldest first. */
  #extents: TailExtent[] = [];
  #extentHead = 0;
  #residentBytes = 0;
  readonly #readers = new Set<Wakeable>();
  /** Logged: produces in flight, in offset order. */
  #inflight: Produce[] = [];
  #inflightHead = 0;
  /** A produce failed: offsets are re-learned from the log once the others settled. */
  #broken = false;
  #resync: Promise<void> | null = null;
  /** Rejects the fetches and offsets requests in flight when the actor restarts (their answers would never come). */
  #restart = restartSignal();
  #closed = false;

  constructor(topic: string, index: number, host: PartitionHost) {
    this.topic = topic;
    this.index = index;
    this.actorId = `topic:${topic}/${index}`;
    this.arena = host.arena;
    this.codec = host.codec;
    this.logged = host.logged;
    this.readsTail = !(host.logged && host.options.compact);
    this.#host = host;
    this.#tailBytes = host.logged ? (host.options.compact ? 0 : TAIL_BYTES) : Infinity;
    this.#table = new ExtentTableWriter(host.arena, host.allocator);
    // A topic with a small retentionBytes gets extents to match: retention frees whole extents.
    const retentionBytes = host.options.retentionBytes;
    const extentMax = retentionBytes === undefined ? undefined : Math.max(4096, Math.min(1024 * 1024, 2 ** Math.floor(Math.log2(Math.max(1, retentionBytes / 4)))));
    this.writer = new LogWriter(host.arena, host.allocator, this.#table, extentMax);
  }

  /** Logged: learns where the log ends (nothing is replayed: the log knows its offsets). */
  async start(): Promise<void> {
    if (!this.logged) return;
    const offsets = await this.offsets();
    this.nextOffset = offsets.next;
    this.readableEnd = offsets.next;
  }

  /** The first resident offset (memory: the partition's start, what retention kept). */
  get tailStart(): number {
    return this.#batchHead < this.#batches.length ? this.#batches[this.#batchHead]!.baseOffset : this.readableEnd;
  }

  /** Bytes of batches resident in the arena. */
  get residentBytes(): number {
    return this.#residentBytes;
  }

  /** Resolves when produces may be encoded (a resync after a failed produce is over). */
  get ready(): Promise<void> | null {
    return this.#resync;
  }

  addReader(reader: Wakeable): void {
    this.#readers.add(reader);
  }

  removeReader(reader: Wakeable): void {
    this.#readers.delete(reader);
  }

  /**
   * Batches the producer encoded and committed (`refs`, in offset order, `nextOffset` already
   * past them). Memory: readable now. Logged: sent to the actor; resolves once confirmed.
   */
  appended(refs: readonly TopicBatchRef[], nowMs: number): Promise<void> | null {
    for (const ref of refs) {
      let extent = this.#extents.length > this.#extentHead ? this.#extents[this.#extents.length - 1]! : null;
      if (extent === null || extent.address !== ref.extent || extent.generation !== ref.generation) {
        extent = new TailExtent(ref.extent, ref.generation);
        this.#extents.push(extent);
      }
      if (extent.firstOffset < 0) extent.firstOffset = ref.baseOffset;
      extent.endOffset = ref.baseOffset + ref.count;
      extent.fill += ref.length;
      extent.maxTimestampMs = nowMs;
      this.#residentBytes += ref.length;
      this.#batches.push(new ResidentBatch(ref.address, ref.baseOffset, ref.count, nowMs, extent));
    }
    for (const sealed of this.writer.takeSealed()) {
      for (let i = this.#extents.length - 1; i >= this.#extentHead; i--) {
        const extent = this.#extents[i]!;
        if (extent.address === sealed.address && extent.generation === sealed.generation) {
          extent.sealed = true;
          break;
        }
      }
    }
    if (!this.logged) {
      this.readableEnd = this.nextOffset;
      this.trim(nowMs);
      this.#wake();
      return null;
    }
    return this.#produce(refs);
  }

  /** The resident, readable batch holding `offset`, or null (not resident, or not readable yet). */
  batchFor(offset: number): ResidentBatch | null {
    if (offset >= this.readableEnd) return null;
    const batches = this.#batches;
    let lo = this.#batchHead;
    let hi = batches.length - 1;
    if (lo > hi || offset < batches[lo]!.baseOffset) return null;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (batches[mid]!.baseOffset <= offset) lo = mid;
      else hi = mid - 1;
    }
    const batch = batches[lo]!;
    return offset < batch.end ? batch : null;
  }

  /** The first resident batch whose records reach `timestampMs`'s time, or null. */
  firstAtOrAfter(timestampMs: number): number | null {
    for (let i = this.#batchHead; i < this.#batches.length; i++) {
      const batch = this.#batches[i]!;
      if (batch.baseOffset >= this.readableEnd) break;
      if (batch.timestampMs >= timestampMs) return batch.baseOffset;
    }
    return null;
  }

  pin(extent: TailExtent): void {
    extent.pins++;
  }

  unpin(extent: TailExtent): void {
    assert.ok(extent.pins > 0, 'an unpin follows its pin');
    if (--extent.pins === 0 && this.#extentHead < this.#extents.length && this.#extents[this.#extentHead] === extent) this.trim(Date.now());
  }

  /**
   * Frees the oldest extents that retention (or a logged partition's tail bound) lets go, oldest
   * first, stopping at the first one a reader holds or whose batches the log has not confirmed.
   */
  trim(nowMs: number): void {
    const { retentionMs, retentionBytes } = this.#host.options;
    let freed = false;
    while (this.#extentHead < this.#extents.length) {
      const extent = this.#extents[this.#extentHead]!;
      if (extent.pins > 0 || extent.endOffset > this.readableEnd) break;
      const expired = retentionMs !== undefined && extent.maxTimestampMs < nowMs - retentionMs;
      const oversize = (retentionBytes !== undefined && this.#residentBytes - extent.fill >= retentionBytes) || this.#residentBytes > this.#tailBytes;
      if (!expired && !oversize) break;
      // The current extent goes only if nothing was written since (the writer checks).
      if (!this.writer.freeExtent(extent.address, extent.generation, extent.sealed ? -1 : extent.fill)) break;
      this.#extentHead++;
      this.#residentBytes -= extent.fill;
      while (this.#batchHead < this.#batches.length && this.#batches[this.#batchHead]!.extent === extent) this.#batches[this.#batchHead++] = undefined as never;
      freed = true;
    }
    if (freed) this.#compact();
  }

  /** Start and next offset, and the first offset at or after `timestampMs`. */
  async offsets(timestampMs?: number): Promise<PartitionOffsets> {
    if (!this.logged) {
      return { start: this.tailStart, next: this.readableEnd, forTimestamp: timestampMs === undefined ? null : this.firstAtOrAfter(timestampMs) };
    }
    const reply = await this.#request(TopicRecord.OFFSETS, jsonBytes(timestampMs === undefined ? {} : { timestampMs }));
    return resultValue(reply.payload) as PartitionOffsets;
  }

  /** Logged: the batches from the one holding `fromOffset`, read back into arena [address, address + maxBytes). */
  async fetch(fromOffset: number, address: number, maxBytes: number): Promise<Fetched> {
    assert.ok(this.logged, 'a memory partition has no log to read from');
    const reply = await this.#requestWith(TopicRecord.FETCH, FETCH_BYTES, (bytes, at) => writeFetch(bytes, at, fromOffset, address, maxBytes));
    if (reply.type !== TopicRecord.FETCHED) throw resultError(reply.payload);
    const fetched = readFetched(reply.payload);
    this.arena.ensure(address + maxBytes);
    return fetched;
  }

  /** An extent of at least `bytes` for a reader's reads from the log; -1 when the arena is full. */
  allocateFetch(bytes: number): number {
    const address = this.#host.allocator.allocate(bytes);
    if (address >= 0) this.arena.ensure(address + this.#host.allocator.sizeOf(address));
    return address;
  }

  extentSize(address: number): number {
    return this.#host.allocator.sizeOf(address);
  }

  freeFetch(address: number): void {
    if (!this.#closed) this.#host.allocator.free(address);
  }

  /** The partition actor restarted: fetches and offsets requests in flight fail (readers ask again); produces are answered by its next incarnation. */
  restarted(): void {
    const signal = this.#restart;
    this.#restart = restartSignal();
    signal.reject(new NotFoundError(`partition actor ${this.actorId} restarted before answering; ask again`));
  }

  /** The broker closes: nothing is freed any more (the arena goes with the runtime). */
  close(): void {
    this.#closed = true;
  }

  #wake(): void {
    for (const reader of this.#readers) reader.wake();
  }

  async #produce(refs: readonly TopicBatchRef[]): Promise<void> {
    const produce: Produce = { baseOffset: refs[0]!.baseOffset, endOffset: refs[refs.length - 1]!.baseOffset + refs[refs.length - 1]!.count, done: false, failed: false };
    this.#inflight.push(produce);
    const addresses = refs.map((ref) => ref.address);
    let failure: unknown = null;
    try {
      const reply = await this.#host.runtime.requestWith(this.actorId, TopicRecord.PRODUCE, produceBytes(addresses.length), (bytes, at) => writeProduce(bytes, at, addresses), {
        timeoutMs: PRODUCE_TIMEOUT_MS,
        // The producer waits for this confirm: wake a napping host rather than wait out its nap.
        urgent: true,
      });
      if (reply.type === TopicRecord.CONFIRMED) {
        const confirmed = readConfirmed(reply.payload);
        assert.ok(confirmed.baseOffset === produce.baseOffset && confirmed.endOffset === produce.endOffset, `partition ${this.actorId} confirmed [${confirmed.baseOffset}, ${confirmed.endOffset}) for a produce of [${produce.baseOffset}, ${produce.endOffset})`);
      } else {
        failure = resultError(reply.payload);
      }
    } catch (error) {
      failure = error;
    }
    produce.done = true;
    produce.failed = failure !== null;
    this.#settle();
    if (failure !== null) throw failure;
  }

  /** Moves `readableEnd` over the confirmed produces at the head, in order; a failed one stops it until a resync. */
  #settle(): void {
    const before = this.readableEnd;
    const inflight = this.#inflight;
    while (this.#inflightHead < inflight.length && inflight[this.#inflightHead]!.done) {
      const produce = inflight[this.#inflightHead]!;
      if (produce.failed) this.#broken = true;
      else if (!this.#broken) this.readableEnd = produce.endOffset;
      inflight[this.#inflightHead++] = undefined as never;
    }
    if (this.#inflightHead === inflight.length) {
      this.#inflight = [];
      this.#inflightHead = 0;
    }
    if (this.readableEnd !== before) {
      this.trim(Date.now());
      this.#wake();
    }
    if (this.#broken && this.#inflightHead === this.#inflight.length && this.#resync === null && !this.#closed) {
      this.#resync = this.#resynchronize().finally(() => (this.#resync = null));
    }
  }

  /**
   * After a failed produce: what the log really holds decides. Batches not confirmed are dropped
   * from the tail (those that did reach the log are read from it), and offsets go on from the
   * log's next offset.
   */
  async #resynchronize(): Promise<void> {
    let offsets: PartitionOffsets | null = null;
    while (offsets === null && !this.#closed) {
      try {
        offsets = await this.offsets();
      } catch {
        await new Promise((resolve) => setTimeout(resolve, RESYNC_RETRY_MS));
      }
    }
    if (offsets === null) return;
    const keep = this.readableEnd;
    while (this.#batches.length > this.#batchHead && this.#batches[this.#batches.length - 1]!.baseOffset >= keep) this.#batches.pop();
    // Every produce has settled: nothing of the dropped batches is still being appended, so
    // their extents may go as soon as the rest of them may.
    for (let i = this.#extentHead; i < this.#extents.length; i++) {
      const extent = this.#extents[i]!;
      if (extent.endOffset > keep) extent.endOffset = keep;
    }
    assert.ok(offsets.next >= keep, `partition ${this.actorId}: the log ends at ${offsets.next}, before what it confirmed (${keep})`);
    this.nextOffset = offsets.next;
    this.readableEnd = offsets.next;
    this.#broken = false;
    this.#wake();
  }

  #compact(): void {
    if (this.#batchHead > 1024 && this.#batchHead * 2 > this.#batches.length) {
      this.#batches = this.#batches.slice(this.#batchHead);
      this.#batchHead = 0;
    }
    if (this.#extentHead > 64 && this.#extentHead * 2 > this.#extents.length) {
      this.#extents = this.#extents.slice(this.#extentHead);
      this.#extentHead = 0;
    }
  }

  #request(type: number, payload: Uint8Array): Promise<{ type: number; payload: Uint8Array }> {
    return this.#requestWith(type, payload.byteLength, (bytes, at) => bytes.set(payload, at));
  }

  async #requestWith(type: number, payloadBytes: number, fill: (bytes: Uint8Array, at: number) => void): Promise<{ type: number; payload: Uint8Array }> {
    const restarted = this.#restart.promise;
    return Promise.race([this.#host.runtime.requestWith(this.actorId, type, payloadBytes, fill, { timeoutMs: REQUEST_TIMEOUT_MS }), restarted]);
  }
}

function restartSignal(): { promise: Promise<never>; reject: (error: Error) => void } {
  let reject!: (error: Error) => void;
  const promise = new Promise<never>((_, r) => (reject = r));
  promise.catch(() => undefined);
  return { promise, reject };
}

function resultValue(payload: Uint8Array): unknown {
  const result = readJson<{ ok: true; value: unknown } | { ok: false; error: SerializedError }>(payload);
  if (!result.ok) throw deserializeError(result.error);
  return result.value;
}

function resultError(payload: Uint8Array): Error {
  try {
    const result = readJson<{ ok: boolean; error?: SerializedError }>(payload);
    return result.error === undefined ? new Error('the partition answered with no confirm') : deserializeError(result.error);
  } catch (error) {
    return new Error(`the partition answered with a record that is not a result (${(error as Error).message})`);
  }
}
