/**
 * A queue's state, as its actor keeps it: metadata about batches, never message bytes. Work is
 * per batch and per grant; per-message state exists only for exceptions.
 *
 * ```
 *            accept (PUBLISH)                      grant (dispatch, within credit)
 *  batch ─────────────────────► ready span ──────────────────────────────► grant ──ack──► removed
 *     │ notBefore > now             ▲   (batch, index..end) per priority       │ (bitmap over its messages)
 *     └──► delayed batch ───due─────┘                                          │
 *                          redelivery heap (by offset) ◄──nack/timeout/cancel──┤  counted toward maxDeliveries
 *                          delayed message ◄──────nack with delay──────────────┤
 *                          dead-lettering ──DEAD_LETTERED ok──► removed        └──reject──► dead-lettering
 *                               └──refused──► parked ──retry──┘
 * ```
 *
 * - A **batch** is what a producer published in one run (queue-batch.ts): its messages have
 *   offsets baseOffset .. baseOffset+count-1. It is done when every message is removed; an
 *   **extent** is freed (by the broker's thread, on FREE_EXTENT) when all its batches are done
 *   and the producer sealed it.
 * - **Ready** messages are runs of batches (`Span`: batch, next index, end, record position) in
 *   a deque per priority, plus a min-heap by offset of redelivered messages, served first: a
 *   requeued message goes back in place (RabbitMQ's order), ahead of the newer ones.
 * - A **grant** gives a consumer a run of one batch (or one redelivered message); it is settled
 *   by ranges of its messages and keeps a bitmap of what was settled, so that a timeout or a
 *   cancel requeues exactly the rest. Its deadline (`ackTimeoutMs`) is the grant's, not the
 *   message's: an old deadline never fires on a later delivery.
 * - **Delivery counts** live in a map only for messages delivered more than once.
 * - A removed message's bit is set in its batch's bitmap in the arena: after a host death the
 *   next incarnation reads the bitmaps (`restore`) and takes up every message not removed.
 *
 * The state is pure: effects (grants, dead letters, freed extents, what to log) go out through
 * `QueueEffects`; time is passed in. The actor (queue-actor.ts) wires it to rings and timers.
 */
import assert from 'node:assert/strict';
import type { Arena } from '../../log/arena.js';
import { EXTENT_SEALED, type ExtentEntry } from '../../log/extent-table.js';
import { NotFoundError, QueueFullError } from '../../errors.js';
import { DelayHeap } from '../delay-heap.js';
import {
  bitmapBytes,
  QB_BASE_OFFSET,
  QB_BITMAP_AT,
  QB_BODY_BYTES,
  QB_COUNT,
  QB_EXPIRES_AT,
  QB_EXTENT,
  QB_HEADER_BYTES,
  QB_LENGTH,
  QB_NOT_BEFORE,
  QB_PRIORITY,
  QB_TIMESTAMP,
  recordAt,
  recordBodyBytes,
  recordEnd,
} from './queue-batch.js';
import {
  type AckMode,
  type DeadLetterEntry,
  type DeadLetterReason,
  FREE_EXTENT_SEALED,
  type FreedExtent,
  type GrantEntry,
  type PublishedBatch,
  type QueueOptions,
  type QueueStats,
  Settle,
} from './queue-protocol.js';

/** Messages one grant gives at most: a consumer with a larger prefetch gets several grants. */
export const GRANT_MESSAGES_MAX = 256;
/** Entries in one GRANT record (32 bytes each): well under the runtime ring's record limit. */
export const GRANT_ENTRIES_MAX = 2048;
/** Dead letters in one DEAD_LETTER record. */
export const DEAD_LETTER_ENTRIES_MAX = 2048;
/** How long a dead letter the dead-letter queue refused waits before it is offered again. */
export const PARKED_RETRY_MS = 5_000;
/**
 * The producer's current extent, its batches all settled, is offered back only after this long
 * without a new batch: a queue sending one message at a time would otherwise free and take an
 * extent per message (and cost a FREE_EXTENT record each).
 */
export const IDLE_EXTENT_MS = 1000;
/** An expiry whose batch must first be read back from disk (for its dead letters) is looked at again this soon. */
const EXPIRY_RETRY_MS = 20;

export interface QueueEffects {
  /** Entries `[0, count)` of `entries` for `consumer` (the array and its objects are reused after the call). */
  grant(consumer: number, entries: readonly GrantEntry[], count: number): void;
  deadLetter(reason: DeadLetterReason, entries: DeadLetterEntry[]): void;
  freeExtents(extents: FreedExtent[]): void;
  /** Durable queues: a message left the queue (log it acknowledged). */
  removed?(offset: number): void;
  /** Durable queues: a message is delivered again, `count` times in all (log it). */
  redelivered?(offset: number, count: number): void;
  /**
   * Durable queues: messages are needed whose batch is on disk only (past `memoryBytes`, or
   * since a restart): read the batches from the one at `fromOffset` into an extent of at least
   * `bytes`, then call `fetched`.
   */
  fetch?(fromOffset: number, bytes: number): void;
  /** Durable queues: offsets [from, end) left the queue at once (a purge of the paged tail; log them acknowledged). */
  removedRange?(from: number, end: number): void;
  /**
   * Durable queues: the paged tail needs to come into memory: read the heads of at most
   * `maxBatches` batches of the log from `fromOffset` on, below `endOffset`, then call `pagedIn`.
   */
  pageIn?(fromOffset: number, endOffset: number, maxBatches: number): void;
}

/** Bytes of batches a durable queue keeps in memory by default; past it, new batches stay on disk until needed. */
export const MEMORY_BYTES_DEFAULT = 64 * 1024 * 1024;
/**
 * Batches a queue knows in memory by default (each costs ~400 B of its host's heap, whatever
 * its size). Past it a durable queue keeps later batches in its log only (the paged tail) and
 * reads their heads back in pages; a memory-only queue refuses publishes (BATON_QUEUE_FULL).
 * A long queue of small batches thus never runs its host out of heap, at start or after.
 */
export const MEMORY_BATCHES_DEFAULT = 100_000;
export const MEMORY_BATCHES_MEMORY_ONLY_DEFAULT = 250_000;

/**
 * A durable queue's paged tail: every batch of its log from `from` to `end` that holds a
 * message not yet removed, known only by counts. Batches arrive in offset order, so once a batch
 * goes to the tail every later one does too, until the tail is paged in whole.
 */
interface PagedTail {
  from: number;
  end: number;
  /** Messages and body bytes in it (counted as ready). */
  messages: number;
  bytes: number;
}

export interface QueueStateOptions extends QueueOptions {
  name: string;
}

class Extent {
  live = 0;
  sealed = false;
  /** When its last live batch went (an unsealed extent is offered back only after IDLE_EXTENT_MS of that). */
  idleSinceMs = Infinity;
  /** End of the last batch known in it, from its address. */
  fill = 0;
  /**
   * After a host death: batches in it whose PUBLISH was not accepted yet (it comes again from the
   * ring). The extent is not freed before they are in, even sealed and with nothing live: a
   * sealed extent of tail batches was freed at the first one's insert while the next PUBLISH
   * naming it was still in the ring (its header then read freed memory).
   */
  awaiting = 0;
  constructor(
    readonly address: number,
    readonly generation: number,
  ) {}
}

class Batch {
  /** Messages not yet removed. */
  remaining: number;
  /** Its ready run, while it has one. */
  span: Span | null = null;
  delayed = false;
  /** Where it is in the arena, and its extent; -1 and null while it is on disk only (durable queues). */
  address = -1;
  extent: Extent | null = null;
  /** Address of its settled bitmap (resident only). */
  bitmap = -1;
  /** On disk only: the messages removed meanwhile (made when the first one is), copied into its bitmap when it is read back. */
  removedBits: Uint32Array | null = null;
  constructor(
    readonly baseOffset: number,
    readonly count: number,
    readonly priority: number,
    readonly timestampMs: number,
    /** Effective expiry (its own, or the queue's TTL from its time): Infinity when none. */
    readonly expiresAtMs: number,
    readonly notBeforeMs: number,
    /** Its size in the arena (header, records, bitmap), and its messages' body bytes. */
    readonly length: number,
    readonly bodyBytes: number,
  ) {
    this.remaining = count;
  }

  get resident(): boolean {
    return this.address >= 0;
  }
}

/** Ready messages index .. end-1 of a batch; `record` is the position of message `index`. */
class Span {
  constructor(
    readonly batch: Batch,
    public index: number,
    public end: number,
    public record: number,
  ) {}
}

/** A message named by its batch and index (redelivery, delays, dead letters). */
interface MessageRef {
  batch: Batch;
  index: number;
}

/** Ready messages taken from a span: `count` of them from `index`, the first at `record`. */
/** A run of ready messages of one batch, as #takeReady hands it to dispatch: one object per queue, refilled each take. */
class Run {
  batch!: Batch;
  index = 0;
  count = 0;
  record = 0;
}

class Grant {
  /** Settled messages, bit per message: a number for grants of up to 32 (most of them), words beyond. */
  #word = 0;
  readonly #words: Uint32Array | null;
  outstanding: number;
  deadlineMs = Infinity;
  constructor(
    readonly id: number,
    readonly consumer: Consumer,
    readonly batch: Batch,
    readonly index: number,
    readonly count: number,
  ) {
    this.#words = count > 32 ? new Uint32Array((count + 31) >>> 5) : null;
    this.outstanding = count;
  }

  /** Marks message `i` of the grant settled: false if it already was. */
  markSettled(i: number): boolean {
    const bit = 1 << (i & 31);
    const words = this.#words;
    if (words === null) {
      if ((this.#word & bit) !== 0) return false;
      this.#word |= bit;
      return true;
    }
    const word = i >>> 5;
    if ((words[word]! & bit) !== 0) return false;
    words[word] = words[word]! | bit;
    return true;
  }

  isSettled(i: number): boolean {
    const bit = 1 << (i & 31);
    return ((this.#words === null ? this.#word : this.#words[i >>> 5]!) & bit) !== 0;
  }
}

class Consumer {
  inFlight = 0;
  /** No more grants (it is closing): what it holds it settles or gets back at cancel. */
  paused = false;
  readonly grants = new Map<number, Grant>();
  /** Grant entries dispatch gathered for it and not yet sent: `pending[0 .. pendingCount)`, objects reused. */
  readonly pending: GrantEntry[] = [];
  pendingCount = 0;
  constructor(
    readonly id: number,
    readonly prefetch: number,
    readonly ack: AckMode,
  ) {}
}

/** A deque of spans (head index, compacted as it empties). */
class SpanDeque {
  items: Span[] = [];
  head = 0;
  get empty(): boolean {
    return this.head === this.items.length;
  }
  peek(): Span | undefined {
    return this.items[this.head];
  }
  push(span: Span): void {
    this.items.push(span);
  }
  shift(): void {
    this.items[this.head++] = undefined as never;
    if (this.head === this.items.length) {
      this.items.length = 0;
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
  }
}

export class QueueState {
  readonly options: QueueStateOptions;
  readonly #arena: Arena;
  readonly #effects: QueueEffects;
  /** End of the last batch accepted: batches arrive in offset order. */
  #acceptedEnd = 0;
  readonly #extents = new Map<number, Extent>();
  readonly #spans: SpanDeque[];
  readonly #redeliver: DelayHeap<MessageRef>[];
  /** Priorities that hold ready messages, highest first is found by scanning down from the top. */
  #topPriority = -1;
  readonly #delayedBatches = new DelayHeap<Batch>();
  readonly #delayedMessages = new DelayHeap<MessageRef>();
  readonly #expiries = new DelayHeap<Batch>();
  readonly #deadlines = new DelayHeap<Grant>();
  readonly #deliveries = new Map<number, number>();
  readonly #deadLettering = new Map<number, MessageRef & { reason: DeadLetterReason }>();
  readonly #parked = new Map<number, MessageRef & { reason: DeadLetterReason }>();
  #parkedRetryMs = Infinity;
  readonly #consumers = new Map<number, Consumer>();
  #order: Consumer[] = [];
  #turn = 0;
  #nextGrant = 1;
  /** Consumers with entries gathered in the current dispatch (reused). */
  readonly #withPending: Consumer[] = [];
  readonly #run = new Run();
  nextOffset = 0;
  #ready = 0;
  #readyBytes = 0;
  #delayed = 0;
  #unacked = 0;
  /** Messages of publishes accepted but not yet inserted (a durable append in flight): reject-publish counts them. */
  #pending = 0;
  #pendingBytes = 0;
  #deleted = false;
  /** Unsealed extents with no live batch, waiting out IDLE_EXTENT_MS; the latest time the state was told. */
  readonly #idleExtents = new Set<Extent>();
  #clockMs = 0;
  /** Durable queues: batches on disk only, by base offset, and the bytes of the resident ones. */
  readonly #onDisk = new Map<number, Batch>();
  #residentBytes = 0;
  readonly #memoryBytes: number;
  /** A fetch asked for and not yet answered (`fetched`): one at a time. */
  #fetching = false;
  /** Batches known in memory (made, not done), and how many may be. */
  #batches = 0;
  readonly #memoryBatches: number;
  #tail: PagedTail | null = null;
  /** A page-in asked for and not yet answered (`pagedIn`): one at a time. */
  #paging = false;

  constructor(options: QueueStateOptions, arena: Arena, effects: QueueEffects) {
    this.options = options;
    this.#arena = arena;
    this.#effects = effects;
    this.#spans = Array.from({ length: options.maxPriority + 1 }, () => new SpanDeque());
    this.#redeliver = Array.from({ length: options.maxPriority + 1 }, () => new DelayHeap<MessageRef>());
    this.#memoryBytes = options.durable ? (options.memoryBytes ?? MEMORY_BYTES_DEFAULT) : Infinity;
    this.#memoryBatches = options.memoryBatches ?? (options.durable ? MEMORY_BATCHES_DEFAULT : MEMORY_BATCHES_MEMORY_ONLY_DEFAULT);
  }

  /** Batches a queue knows in memory at most: the rest of a durable queue's log is paged. */
  get memoryBatches(): number {
    return this.#memoryBatches;
  }

  get deleted(): boolean {
    return this.#deleted;
  }

  stats(): QueueStats {
    const tail = this.#tail;
    return {
      ready: this.#ready + (tail?.messages ?? 0),
      unacked: this.#unacked,
      consumers: this.#consumers.size,
      delayed: this.#delayed,
      readyBytes: this.#readyBytes + (tail?.bytes ?? 0),
      parked: this.#parked.size,
      paged: tail?.messages ?? 0,
    };
  }

  /** The earliest time something is due (a delay, an expiry, an ack deadline, a parked retry). */
  get nextDueMs(): number {
    let idleDue = Infinity;
    for (const extent of this.#idleExtents) idleDue = Math.min(idleDue, extent.idleSinceMs + IDLE_EXTENT_MS);
    return Math.min(this.#delayedBatches.nextDueMs, this.#delayedMessages.nextDueMs, this.#expiries.nextDueMs, this.#deadlines.nextDueMs, this.#parkedRetryMs, idleDue);
  }

  // --- publishing ------------------------------------------------------------------------------

  /**
   * Checks a publish against reject-publish before it is accepted (whole or not at all); counts
   * it as pending until `insert`. Throws QueueFullError or NotFoundError (deleted).
   */
  admit(batches: readonly PublishedBatch[]): { count: number; bytes: number } {
    if (this.#deleted) throw new NotFoundError(`queue "${this.options.name}" was deleted; declare it again`);
    const u32 = this.#arena.u32;
    let count = 0;
    let bytes = 0;
    for (const batch of batches) {
      this.#arena.ensure(batch.address + QB_HEADER_BYTES);
      count += u32[(batch.address + QB_COUNT) >>> 2]!;
      bytes += u32[(batch.address + QB_BODY_BYTES) >>> 2]!;
    }
    if (!this.options.durable && this.#batches + batches.length > this.#memoryBatches) {
      throw new QueueFullError(
        `queue "${this.options.name}" holds ${this.#batches} batches, its memoryBatches limit (each takes its host's heap): consume, send in batches (sendBatch), or declare it durable (a durable queue pages its batches)`,
      );
    }
    const { maxLength, maxBytes, overflow } = this.options;
    if (overflow === 'reject-publish' && (maxLength !== undefined || maxBytes !== undefined)) {
      const queued = this.#ready + (this.#tail?.messages ?? 0) + this.#pending;
      const queuedBytes = this.#readyBytes + (this.#tail?.bytes ?? 0) + this.#pendingBytes;
      if ((maxLength !== undefined && queued + count > maxLength) || (maxBytes !== undefined && queuedBytes + bytes > maxBytes)) {
        throw new QueueFullError(
          `queue "${this.options.name}" is full (maxLength ${maxLength ?? '-'}, maxBytes ${maxBytes ?? '-'}): the publish was rejected whole; consume, or raise the limit`,
        );
      }
    }
    this.#pending += count;
    this.#pendingBytes += bytes;
    return { count, bytes };
  }

  /** A publish admitted earlier failed (storage): it is not in the queue; its batches are done. */
  abandon(batches: readonly PublishedBatch[], admitted: { count: number; bytes: number }): void {
    this.#pending -= admitted.count;
    this.#pendingBytes -= admitted.bytes;
    this.refuse(batches);
  }

  /** Batches that will never be in the queue (refused, or their storage failed): their extents can go. */
  refuse(batches: readonly PublishedBatch[]): void {
    const freed: FreedExtent[] = [];
    for (const published of batches) {
      const extent = this.#extent(published.extent, published.generation);
      this.#arrived(published.address, extent);
      this.#arena.f64[(published.address + QB_BASE_OFFSET) >>> 3] = -1;
      extent.fill = Math.max(extent.fill, published.address + this.#arena.u32[(published.address + QB_LENGTH) >>> 2]! - extent.address);
      this.#maybeFree(extent, freed);
    }
    if (freed.length > 0) this.#effects.freeExtents(freed);
  }

  /**
   * Puts admitted batches into the queue with their base offsets (assigned here from
   * `nextOffset`, or by the log for durable queues: `baseOffsets`).
   */
  insert(batches: readonly PublishedBatch[], admitted: { count: number; bytes: number }, nowMs: number, baseOffsets?: readonly number[]): void {
    this.#clockMs = nowMs;
    this.#pending -= admitted.count;
    this.#pendingBytes -= admitted.bytes;
    for (let i = 0; i < batches.length; i++) {
      const published = batches[i]!;
      const baseOffset = baseOffsets?.[i] ?? this.nextOffset;
      const extent = this.#extent(published.extent, published.generation);
      if (this.options.durable && (this.#tail !== null || this.#batches >= this.#memoryBatches)) {
        this.nextOffset = Math.max(this.nextOffset, this.#toTail(published.address, extent, baseOffset));
        continue;
      }
      const batch = this.#accept(published.address, extent, baseOffset);
      this.nextOffset = Math.max(this.nextOffset, baseOffset + batch.count);
      // Past the memory budget, a durable queue keeps new batches on disk only (they are in the
      // log already) and reads them back as they come up for delivery: larger than memory.
      if (this.#residentBytes > this.#memoryBytes) this.#evict(batch);
      this.#place(batch, nowMs);
    }
    this.#trimHead(nowMs);
  }

  /**
   * Past `memoryBatches`, a durable queue's new batch goes to the paged tail: counted, not known
   * (it is in the log already); its copy in the arena goes, and a host death does not take it
   * up from there (its offset is -1, as a refused batch's: the log has it). Returns its end.
   */
  #toTail(address: number, extent: Extent, baseOffset: number): number {
    const arena = this.#arena;
    arena.ensure(address + QB_HEADER_BYTES);
    const count = arena.u32[(address + QB_COUNT) >>> 2]!;
    const length = arena.u32[(address + QB_LENGTH) >>> 2]!;
    assert.ok(baseOffset >= this.#acceptedEnd, 'batches arrive in offset order');
    const end = baseOffset + count;
    this.#acceptedEnd = end;
    this.#arrived(address, extent);
    arena.f64[(address + QB_BASE_OFFSET) >>> 3] = -1;
    extent.fill = Math.max(extent.fill, address + length - extent.address);
    // Its idle time starts again: the producer may still be writing into it.
    this.#idleExtents.delete(extent);
    const tail = (this.#tail ??= { from: baseOffset, end, messages: 0, bytes: 0 });
    tail.end = end;
    tail.messages += count;
    tail.bytes += arena.u32[(address + QB_BODY_BYTES) >>> 2]!;
    const freed: FreedExtent[] = [];
    this.#maybeFree(extent, freed);
    if (freed.length > 0) this.#effects.freeExtents(freed);
    return end;
  }

  /**
   * The tail comes into memory a page at a time: when at most half of `memoryBatches` are known,
   * or none of them is ready (they wait for acks or delays), as many as fit.
   */
  #maybePageIn(): void {
    const tail = this.#tail;
    if (tail === null || this.#paging || this.#effects.pageIn === undefined) return;
    if (this.#batches > this.#memoryBatches / 2 && (this.#ready > 0 || this.#batches >= this.#memoryBatches)) return;
    this.#paging = true;
    this.#effects.pageIn(tail.from, tail.end, this.#memoryBatches - this.#batches);
  }

  /**
   * The heads `pageIn` read, in offset order, from the tail's start; `complete`: the log had no
   * other batch with a message not removed below the `endOffset` asked for.
   */
  pagedIn(heads: readonly DurableHead[], endOffset: number, complete: boolean, nowMs: number): void {
    this.#paging = false;
    const tail = this.#tail;
    if (tail === null) return; // purged meanwhile
    for (const head of heads) {
      if (head.baseOffset < tail.from) continue;
      if (head.baseOffset >= endOffset) break;
      tail.from = head.baseOffset + head.count;
      const batch = this.#batchFromHead(head);
      tail.messages = Math.max(0, tail.messages - unacknowledged(head));
      tail.bytes = Math.max(0, tail.bytes - head.bodyBytes);
      this.#takeUp(batch, nowMs);
    }
    if (complete) tail.from = Math.max(tail.from, endOffset);
    if (tail.from >= tail.end) this.#tail = null;
    this.dispatch(nowMs);
  }

  /** A batch's PUBLISH is handled (accepted or refused): if its extent awaited it, one fewer. */
  #arrived(address: number, extent: Extent): void {
    if (extent.awaiting > 0 && Number.isNaN(this.#arena.f64[(address + QB_BASE_OFFSET) >>> 3]!)) extent.awaiting--;
  }

  /** A resident batch is dropped from memory (kept on disk): its extent may go. */
  #evict(batch: Batch): void {
    assert.ok(batch.resident && this.options.durable, 'only a resident batch of a durable queue is evicted');
    const extent = batch.extent!;
    this.#residentBytes -= batch.length;
    batch.address = -1;
    batch.extent = null;
    batch.bitmap = -1;
    this.#onDisk.set(batch.baseOffset, batch);
    extent.live--;
    const freed: FreedExtent[] = [];
    this.#maybeFree(extent, freed);
    if (freed.length > 0) this.#effects.freeExtents(freed);
  }

  /** The producer sealed these extents: no batch will be added; free the ones already done. */
  seal(extents: readonly { address: number; generation: number }[]): void {
    const freed: FreedExtent[] = [];
    for (const { address, generation } of extents) {
      const extent = this.#extents.get(address);
      if (extent === undefined || extent.generation !== generation) {
        // Offered back while unsealed (idle), and refused: its producer had sealed it already. No
        // batch of it is live here (the generation guards a stale free).
        if (extent === undefined) freed.push({ address, generation, fill: FREE_EXTENT_SEALED });
        continue;
      }
      extent.sealed = true;
      this.#maybeFree(extent, freed);
    }
    if (freed.length > 0) this.#effects.freeExtents(freed);
  }

  #extent(address: number, generation: number): Extent {
    let extent = this.#extents.get(address);
    if (extent === undefined || extent.generation !== generation) {
      extent = new Extent(address, generation);
      this.#extents.set(address, extent);
    }
    return extent;
  }

  /**
   * The priority a batch is queued at: its own, at most the queue's `maxPriority`. A publish never
   * exceeds it (checked at send), but a log written under a higher one can: a data directory
   * from before declarations were recorded (declaration-store.ts) lets a lower `maxPriority` be
   * declared over it. Its batches then come at the top priority rather than leave the queue
   * unable to start.
   */
  #priorityOf(stored: number): number {
    return Math.min(stored, this.options.maxPriority);
  }

  /** Reads a batch header and makes its Batch (counted in its extent), offsets from `baseOffset`. */
  #accept(address: number, extent: Extent, baseOffset: number): Batch {
    const arena = this.#arena;
    const u32 = arena.u32;
    const f64 = arena.f64;
    const count = u32[(address + QB_COUNT) >>> 2]!;
    const length = u32[(address + QB_LENGTH) >>> 2]!;
    arena.ensure(address + length);
    const timestampMs = f64[(address + QB_TIMESTAMP) >>> 3]!;
    const expiresAtMs = this.#expiresAt(f64[(address + QB_EXPIRES_AT) >>> 3]!, timestampMs);
    const batch = new Batch(baseOffset, count, this.#priorityOf(arena.bytes[address + QB_PRIORITY]!), timestampMs, expiresAtMs, f64[(address + QB_NOT_BEFORE) >>> 3]!, length, u32[(address + QB_BODY_BYTES) >>> 2]!);
    assert.ok(baseOffset >= this.#acceptedEnd, 'batches arrive in offset order');
    this.#acceptedEnd = baseOffset + count;
    this.#batches++;
    this.#arrived(address, extent);
    this.#makeResident(batch, address, extent, false);
    extent.fill = Math.max(extent.fill, address + length - extent.address);
    return batch;
  }

  /**
   * The batch is at `address` of `extent`: its header gets its offset; read back from disk
   * (`fromDisk`), its bitmap gets what was removed meanwhile (on disk it holds what it held when
   * it was appended: nothing).
   */
  #makeResident(batch: Batch, address: number, extent: Extent, fromDisk: boolean): void {
    const arena = this.#arena;
    arena.ensure(address + batch.length);
    batch.address = address;
    batch.extent = extent;
    batch.bitmap = address + arena.u32[(address + QB_BITMAP_AT) >>> 2]!;
    arena.f64[(address + QB_BASE_OFFSET) >>> 3] = batch.baseOffset;
    arena.u32[(address + QB_EXTENT) >>> 2] = extent.address;
    if (fromDisk) {
      const words = bitmapBytes(batch.count) >>> 2;
      const bits = batch.removedBits;
      for (let w = 0; w < words; w++) arena.u32[(batch.bitmap >>> 2) + w] = bits === null ? 0 : bits[w]!;
    }
    batch.removedBits = null;
    extent.live++;
    this.#idleExtents.delete(extent);
    this.#residentBytes += batch.length;
    if (batch.span !== null && batch.span.record < 0) batch.span.record = recordAt(arena.u32, address, batch.span.index);
  }

  /** A batch's effective expiry: its own (0: none), or the queue's TTL from its time, the earlier. */
  #expiresAt(own: number, timestampMs: number): number {
    const ttl = this.options.messageTtlMs;
    return Math.min(own === 0 ? Infinity : own, ttl === undefined ? Infinity : timestampMs + ttl);
  }

  /** A durable queue's batch known from its log only (at a start, or paged in): on disk until needed; what the log acknowledged is removed. */
  #batchFromHead(head: DurableHead): Batch {
    const expiresAtMs = this.#expiresAt(head.expiresAtMs, head.timestampMs);
    const batch = new Batch(head.baseOffset, head.count, this.#priorityOf(head.priority), head.timestampMs, expiresAtMs, head.notBeforeMs, head.length, head.bodyBytes);
    this.#batches++;
    this.#onDisk.set(head.baseOffset, batch);
    this.#markAcknowledged(batch, head);
    return batch;
  }

  /** What the log acknowledged of a batch is removed (the bitmap of a resident batch may know more). */
  #markAcknowledged(batch: Batch, head: DurableHead): void {
    for (let r = 0; r < head.acked.length; r += 2) {
      for (let offset = head.acked[r]!; offset < head.acked[r + 1]!; offset++) this.#markRemoved(batch, offset - head.baseOffset);
    }
  }

  /** Asks for the batch to be read back (once at a time); false meanwhile. */
  #needResident(batch: Batch): boolean {
    if (batch.resident) return true;
    if (!this.#fetching && this.#effects.fetch !== undefined) {
      this.#fetching = true;
      this.#effects.fetch(batch.baseOffset, batch.length);
    }
    return false;
  }

  /**
   * Batches were read back from the log into `extent` (sealed: this queue's alone): those still
   * on disk here become resident. Messages can flow again.
   */
  fetched(copied: readonly { baseOffset: number; at: number }[], extentAddress: number, generation: number, nowMs: number): void {
    this.#fetching = false;
    const extent = this.#extent(extentAddress, generation);
    extent.sealed = true;
    for (const { baseOffset, at } of copied) {
      const batch = this.#onDisk.get(baseOffset);
      if (batch === undefined) continue;
      this.#onDisk.delete(baseOffset);
      this.#makeResident(batch, at, extent, true);
      extent.fill = Math.max(extent.fill, at + batch.length - extent.address);
    }
    const freed: FreedExtent[] = [];
    this.#maybeFree(extent, freed);
    if (freed.length > 0) this.#effects.freeExtents(freed);
    this.dispatch(nowMs);
  }

  /** A fetch could not be made now (no memory): let it be asked again. */
  fetchFailed(): void {
    this.#fetching = false;
  }

  /** A new batch: delayed, or ready at the tail of its priority; its expiry watched. */
  #place(batch: Batch, nowMs: number): void {
    if (batch.expiresAtMs !== Infinity) this.#expiries.push(batch.expiresAtMs, batch);
    if (batch.notBeforeMs > nowMs) {
      batch.delayed = true;
      this.#delayed += batch.remaining;
      this.#delayedBatches.push(batch.notBeforeMs, batch);
      return;
    }
    this.#makeSpanReady(batch, 0, batch.count, batch.resident ? batch.address + QB_HEADER_BYTES : -1, batch.bodyBytes);
  }

  #makeSpanReady(batch: Batch, index: number, end: number, record: number, bytes: number): void {
    const span = new Span(batch, index, end, record);
    batch.span = span;
    this.#spans[batch.priority]!.push(span);
    this.#ready += end - index;
    this.#readyBytes += bytes;
    if (batch.priority > this.#topPriority) this.#topPriority = batch.priority;
  }

  /** Under drop-head, dead-letters the oldest ready messages while the queue is past its bounds. */
  #trimHead(nowMs: number): void {
    const { maxLength, maxBytes, overflow } = this.options;
    if (overflow !== 'drop-head' || (maxLength === undefined && maxBytes === undefined)) return;
    const dropped: MessageRef[] = [];
    // The paged tail counts: the oldest ready messages are in memory, and the next page follows.
    const paged = this.#tail?.messages ?? 0;
    const pagedBytes = this.#tail?.bytes ?? 0;
    while ((maxLength !== undefined && this.#ready + paged > maxLength) || (maxBytes !== undefined && this.#readyBytes + pagedBytes > maxBytes)) {
      const excess = maxLength !== undefined && this.#ready + paged > maxLength ? this.#ready + paged - maxLength : 1;
      const taken = this.#takeReady(Math.min(excess, GRANT_MESSAGES_MAX), nowMs);
      if (taken === null) break;
      if (taken instanceof Run) for (let i = 0; i < taken.count; i++) dropped.push({ batch: taken.batch, index: taken.index + i });
      else dropped.push(taken);
    }
    this.#deadLetter('maxlen', dropped);
  }

  // --- consumers ------------------------------------------------------------------------------

  subscribe(id: number, prefetch: number, ack: AckMode, nowMs: number): void {
    if (this.#deleted) throw new NotFoundError(`queue "${this.options.name}" was deleted`);
    const existing = this.#consumers.get(id);
    if (existing !== undefined) this.cancel(id, nowMs);
    const consumer = new Consumer(id, prefetch, ack);
    this.#consumers.set(id, consumer);
    this.#order.push(consumer);
    this.dispatch(nowMs);
  }

  /**
   * The consumer is closing: nothing more is granted to it. Its reply comes after every grant
   * made before it (one ring, in order), so the consumer knows it has seen them all.
   */
  pause(id: number): { paused: boolean } {
    const consumer = this.#consumers.get(id);
    if (consumer === undefined) return { paused: false };
    consumer.paused = true;
    return { paused: true };
  }

  /** The consumer is gone: its unsettled messages go back (counted as delivered). */
  cancel(id: number, nowMs: number): { requeued: number } {
    const consumer = this.#consumers.get(id);
    if (consumer === undefined) return { requeued: 0 };
    this.#consumers.delete(id);
    this.#order = this.#order.filter((c) => c !== consumer);
    let requeued = 0;
    for (const grant of consumer.grants.values()) requeued += this.#returnGrant(grant, nowMs);
    consumer.grants.clear();
    this.dispatch(nowMs);
    return { requeued };
  }

  /** Settles messages of a grant: index from .. from+count-1 of it. Stale grants (timed out, cancelled, another incarnation's) are ignored. */
  settle(consumerId: number, grantId: number, from: number, count: number, kind: number, delayMs: number, nowMs: number): void {
    this.#clockMs = nowMs;
    const consumer = this.#consumers.get(consumerId);
    const grant = consumer?.grants.get(grantId);
    if (consumer === undefined || grant === undefined) return;
    if (from >= grant.count) return;
    const end = Math.min(grant.count, from + count);
    let settled = 0;
    for (let i = from; i < end; i++) {
      if (!grant.markSettled(i)) continue;
      settled++;
      // At most once: whatever the consumer says, the message is gone (it was handed out once).
      if (consumer.ack === 'none') {
        this.#remove(grant.batch, grant.index + i);
        continue;
      }
      switch (kind) {
        case Settle.ACK:
          this.#remove(grant.batch, grant.index + i);
          break;
        case Settle.REQUEUE:
          this.#requeue({ batch: grant.batch, index: grant.index + i }, nowMs, 0);
          break;
        case Settle.REJECT:
          this.#deadLetter('rejected', [{ batch: grant.batch, index: grant.index + i }]);
          break;
        case Settle.REQUEUE_LATER:
          this.#requeue({ batch: grant.batch, index: grant.index + i }, nowMs, delayMs);
          break;
        case Settle.RELEASE:
          this.#release({ batch: grant.batch, index: grant.index + i });
          break;
        default:
          assert.fail(`queue ${this.options.name}: unknown settle kind ${kind}`);
      }
    }
    grant.outstanding -= settled;
    consumer.inFlight -= settled;
    if (consumer.ack !== 'none') this.#unacked -= settled;
    if (grant.outstanding === 0) consumer.grants.delete(grant.id);
  }

  /** Delivers ready messages round robin to consumers with credit (a prefetch is never exceeded). */
  dispatch(nowMs: number): void {
    this.#clockMs = nowMs;
    this.#trimHead(nowMs);
    this.#maybePageIn();
    const order = this.#order;
    if (order.length === 0 || this.#ready === 0) return;
    // Entries gather per consumer (objects and arrays reused) and go out as one GRANT each.
    const withPending = this.#withPending;
    let pendingConsumers = 0;
    let withoutCredit = 0;
    while (this.#ready > 0 && withoutCredit < order.length) {
      const consumer = order[this.#turn++ % order.length]!;
      const credit = consumer.paused ? 0 : consumer.prefetch - consumer.inFlight;
      if (credit <= 0) {
        withoutCredit++;
        continue;
      }
      withoutCredit = 0;
      const taken = this.#takeReady(Math.min(credit, GRANT_MESSAGES_MAX), nowMs);
      if (taken === null) break;
      const run = taken instanceof Run;
      const grant = new Grant(this.#nextGrant++, consumer, taken.batch, taken.index, run ? taken.count : 1);
      const deliveries = run ? 1 : this.#deliveredAgain(taken);
      if (consumer.pendingCount === 0) withPending[pendingConsumers++] = consumer;
      const entry = (consumer.pending[consumer.pendingCount++] ??= { grant: 0, batch: 0, index: 0, count: 0, record: 0, deliveries: 0, baseOffset: 0 });
      entry.grant = grant.id;
      entry.batch = grant.batch.address;
      entry.index = grant.index;
      entry.count = grant.count;
      entry.record = run ? taken.record : recordAt(this.#arena.u32, taken.batch.address, taken.index);
      entry.deliveries = deliveries;
      entry.baseOffset = grant.batch.baseOffset;
      consumer.inFlight += grant.count;
      // At most once ('none'): not counted as unacknowledged, never redelivered; removed when the
      // consumer gives the credit back (its memory is read until then).
      if (consumer.ack !== 'none') {
        this.#unacked += grant.count;
        if (this.options.ackTimeoutMs !== undefined) {
          grant.deadlineMs = nowMs + this.options.ackTimeoutMs;
          this.#deadlines.push(grant.deadlineMs, grant);
        }
      }
      consumer.grants.set(grant.id, grant);
      if (consumer.pendingCount === GRANT_ENTRIES_MAX) {
        this.#effects.grant(consumer.id, consumer.pending, consumer.pendingCount);
        consumer.pendingCount = 0;
      }
    }
    for (let c = 0; c < pendingConsumers; c++) {
      const consumer = withPending[c]!;
      withPending[c] = undefined as never;
      if (consumer.pendingCount === 0) continue;
      this.#effects.grant(consumer.id, consumer.pending, consumer.pendingCount);
      consumer.pendingCount = 0;
    }
  }

  /** A redelivered message's count goes up by one: the map holds counts of messages delivered more than once. */
  #deliveredAgain(ref: MessageRef): number {
    const offset = ref.batch.baseOffset + ref.index;
    const count = (this.#deliveries.get(offset) ?? 1) + 1;
    this.#deliveries.set(offset, count);
    this.#effects.redelivered?.(offset, count);
    return count;
  }

  /**
   * Takes up to `max` ready messages in delivery order: the highest priority first; within it,
   * redelivered messages (by offset) before the spans. Expired ones met on the way are
   * dead-lettered. Returns a run of a batch, one redelivered message, or null when none is ready.
   */
  #takeReady(max: number, nowMs: number): Run | MessageRef | null {
    while (this.#topPriority >= 0) {
      const priority = this.#topPriority;
      const redeliver = this.#redeliver[priority]!;
      if (redeliver.size > 0) {
        if (!this.#needResident(redeliver.peek()!.batch)) return null;
        const ref = redeliver.pop()!;
        this.#ready--;
        this.#readyBytes -= this.#messageBytes(ref.batch, ref.index);
        if (ref.batch.expiresAtMs <= nowMs) {
          this.#deadLetter('expired', [ref]);
          continue;
        }
        return ref;
      }
      const spans = this.#spans[priority]!;
      const span = spans.peek();
      if (span === undefined) {
        this.#topPriority--;
        continue;
      }
      if (span.index === span.end) {
        spans.shift();
        continue;
      }
      const batch = span.batch;
      if (!this.#needResident(batch)) return null;
      let count = Math.min(max, span.end - span.index);
      const index = span.index;
      // Messages delivered before (known from the log after a restart) go out one by one, with
      // their count: a run is cut before the first of them.
      let again = false;
      if (this.#deliveries.size > 0) {
        for (let i = 0; i < count; i++) {
          if (!this.#deliveries.has(batch.baseOffset + index + i)) continue;
          again = i === 0;
          count = again ? 1 : i;
          break;
        }
      }
      const record = span.record;
      const u32 = this.#arena.u32;
      let pos = record;
      let bytes = 0;
      for (let i = 0; i < count; i++) {
        bytes += recordBodyBytes(u32, pos);
        pos = recordEnd(u32, pos);
      }
      span.index += count;
      span.record = pos;
      this.#ready -= count;
      this.#readyBytes -= bytes;
      if (span.index === span.end) {
        spans.shift();
        batch.span = null;
      }
      if (batch.expiresAtMs <= nowMs) {
        const expired: MessageRef[] = [];
        for (let i = 0; i < count; i++) expired.push({ batch, index: index + i });
        this.#deadLetter('expired', expired);
        continue;
      }
      if (again) return { batch, index };
      const run = this.#run;
      run.batch = batch;
      run.index = index;
      run.count = count;
      run.record = record;
      return run;
    }
    return null;
  }

  /** A grant whose consumer is gone or whose deadline passed: its unsettled messages go back. Returns how many. */
  #returnGrant(grant: Grant, nowMs: number): number {
    const consumer = grant.consumer;
    consumer.inFlight -= grant.outstanding;
    const atMostOnce = consumer.ack === 'none';
    if (!atMostOnce) this.#unacked -= grant.outstanding;
    let requeued = 0;
    for (let i = 0; i < grant.count; i++) {
      if (!grant.markSettled(i)) continue;
      if (atMostOnce) this.#remove(grant.batch, grant.index + i);
      else {
        this.#requeue({ batch: grant.batch, index: grant.index + i }, nowMs, 0);
        requeued++;
      }
    }
    grant.outstanding = 0;
    return requeued;
  }

  /** Back to the queue (in place, or after `delayMs`) unless it was delivered maxDeliveries times: then dead-lettered. */
  #requeue(ref: MessageRef, nowMs: number, delayMs: number): void {
    const limit = this.options.maxDeliveries;
    if (limit !== undefined && (this.#deliveries.get(ref.batch.baseOffset + ref.index) ?? 1) >= limit) {
      this.#deadLetter('delivery-limit', [ref]);
      return;
    }
    if (delayMs > 0) {
      this.#delayed++;
      this.#delayedMessages.push(nowMs + delayMs, ref);
      return;
    }
    this.#makeMessageReady(ref);
  }

  /** Body bytes of one message: exact when its batch is in memory, its batch's average when on disk. */
  #messageBytes(batch: Batch, index: number): number {
    if (!batch.resident) return Math.round(batch.bodyBytes / batch.count);
    return recordBodyBytes(this.#arena.u32, recordAt(this.#arena.u32, batch.address, index));
  }

  /** A granted message that no handler saw goes back as it was: its delivery is taken back (the next one counts as this one). */
  #release(ref: MessageRef): void {
    const offset = ref.batch.baseOffset + ref.index;
    this.#deliveries.set(offset, (this.#deliveries.get(offset) ?? 1) - 1);
    this.#makeMessageReady(ref);
  }

  #makeMessageReady(ref: MessageRef): void {
    const priority = ref.batch.priority;
    this.#redeliver[priority]!.push(ref.batch.baseOffset + ref.index, ref);
    this.#ready++;
    this.#readyBytes += this.#messageBytes(ref.batch, ref.index);
    if (priority > this.#topPriority) this.#topPriority = priority;
  }

  // --- removal and dead letters ---------------------------------------------------------------

  /** A message leaves the queue: its bit is set in its batch's bitmap; the batch may be done. */
  #remove(batch: Batch, index: number): void {
    if (batch.resident) {
      const word = (batch.bitmap + ((index >>> 5) << 2)) >>> 2;
      const u32 = this.#arena.u32;
      u32[word] = u32[word]! | (1 << (index & 31));
    } else {
      const bits = (batch.removedBits ??= new Uint32Array((batch.count + 31) >>> 5));
      bits[index >>> 5] = bits[index >>> 5]! | (1 << (index & 31));
    }
    const offset = batch.baseOffset + index;
    this.#deliveries.delete(offset);
    this.#effects.removed?.(offset);
    if (--batch.remaining === 0) this.#batchDone(batch);
  }

  #batchDone(batch: Batch): void {
    this.#batches--;
    if (!batch.resident) {
      this.#onDisk.delete(batch.baseOffset);
      return;
    }
    this.#residentBytes -= batch.length;
    const extent = batch.extent!;
    extent.live--;
    const freed: FreedExtent[] = [];
    this.#maybeFree(extent, freed);
    if (freed.length > 0) this.#effects.freeExtents(freed);
  }

  /** An extent with no live batch is offered back: sealed ones are freed; the current one only if nothing was added since. */
  #maybeFree(extent: Extent, freed: FreedExtent[]): void {
    if (extent.live !== 0 || extent.awaiting > 0) return;
    if (!extent.sealed) {
      // The producer may still write into it: let it wait a while before it is offered back.
      if (!this.#idleExtents.has(extent)) {
        extent.idleSinceMs = this.#clockMs;
        this.#idleExtents.add(extent);
      }
      return;
    }
    this.#idleExtents.delete(extent);
    if (this.#extents.get(extent.address) === extent) this.#extents.delete(extent.address);
    freed.push({ address: extent.address, generation: extent.generation, fill: FREE_EXTENT_SEALED });
  }

  /** Idle unsealed extents past IDLE_EXTENT_MS: offered back (the producer keeps one it wrote into since). */
  #freeIdleExtents(nowMs: number): void {
    if (this.#idleExtents.size === 0) return;
    const freed: FreedExtent[] = [];
    for (const extent of this.#idleExtents) {
      if (extent.live !== 0 || extent.awaiting > 0) {
        this.#idleExtents.delete(extent);
        continue;
      }
      if (extent.idleSinceMs + IDLE_EXTENT_MS > nowMs) continue;
      this.#idleExtents.delete(extent);
      if (this.#extents.get(extent.address) === extent) this.#extents.delete(extent.address);
      freed.push({ address: extent.address, generation: extent.generation, fill: extent.fill });
    }
    if (freed.length > 0) this.#effects.freeExtents(freed);
  }

  #hasDeadLetterQueue(): boolean {
    return this.options.deadLetter !== undefined && this.options.deadLetter !== this.options.name;
  }

  /** To the dead-letter queue when the queue has one (removed once it confirms); removed otherwise. */
  #deadLetter(reason: DeadLetterReason, refs: readonly MessageRef[]): void {
    if (refs.length === 0) return;
    if (!this.#hasDeadLetterQueue()) {
      for (const ref of refs) this.#remove(ref.batch, ref.index);
      return;
    }
    const u32 = this.#arena.u32;
    let entries: DeadLetterEntry[] = [];
    for (const ref of refs) {
      const offset = ref.batch.baseOffset + ref.index;
      this.#deadLettering.set(offset, { ...ref, reason });
      entries.push({ batch: ref.batch.address, index: ref.index, record: recordAt(u32, ref.batch.address, ref.index), deliveries: this.#deliveries.get(offset) ?? 1, offset });
      if (entries.length === DEAD_LETTER_ENTRIES_MAX) {
        this.#effects.deadLetter(reason, entries);
        entries = [];
      }
    }
    if (entries.length > 0) this.#effects.deadLetter(reason, entries);
  }

  /** The broker's answer to DEAD_LETTER: in the dead-letter queue (removed here), or refused (parked, offered again later). */
  deadLettered(ok: boolean, offsets: readonly number[], nowMs: number): void {
    for (const offset of offsets) {
      const ref = this.#deadLettering.get(offset);
      if (ref === undefined) continue;
      this.#deadLettering.delete(offset);
      if (ok) this.#remove(ref.batch, ref.index);
      else {
        this.#parked.set(offset, ref);
        if (this.#parkedRetryMs === Infinity) this.#parkedRetryMs = nowMs + PARKED_RETRY_MS;
      }
    }
  }

  // --- time ------------------------------------------------------------------------------------

  /** Everything due at `nowMs`: delays end, expiries, ack deadlines, parked retries; then dispatch. */
  tick(nowMs: number): void {
    this.#clockMs = nowMs;
    this.#freeIdleExtents(nowMs);
    while (this.#delayedBatches.nextDueMs <= nowMs) {
      const batch = this.#delayedBatches.pop()!;
      if (!batch.delayed) continue;
      batch.delayed = false;
      this.#delayed -= batch.remaining;
      this.#makeSpanReady(batch, 0, batch.count, batch.resident ? batch.address + QB_HEADER_BYTES : -1, batch.bodyBytes);
    }
    while (this.#delayedMessages.nextDueMs <= nowMs) {
      const ref = this.#delayedMessages.pop()!;
      this.#delayed--;
      this.#makeMessageReady(ref);
    }
    while (this.#expiries.nextDueMs <= nowMs) this.#expire(this.#expiries.pop()!, nowMs);
    while (this.#deadlines.nextDueMs <= nowMs) {
      const grant = this.#deadlines.pop()!;
      if (grant.outstanding === 0 || grant.consumer.grants.get(grant.id) !== grant) continue;
      grant.consumer.grants.delete(grant.id);
      this.#returnGrant(grant, nowMs);
    }
    if (this.#parkedRetryMs <= nowMs) {
      this.#parkedRetryMs = Infinity;
      const byReason = new Map<DeadLetterReason, MessageRef[]>();
      for (const [offset, ref] of this.#parked) {
        this.#parked.delete(offset);
        let refs = byReason.get(ref.reason);
        if (refs === undefined) byReason.set(ref.reason, (refs = []));
        refs.push(ref);
      }
      for (const [reason, refs] of byReason) this.#deadLetter(reason, refs);
    }
    this.dispatch(nowMs);
  }

  /** A batch's expiry came: its messages still waiting (ready in its span, or delayed with it) are dead-lettered. */
  #expire(batch: Batch, nowMs: number): void {
    if (batch.remaining === 0) return;
    if (this.#hasDeadLetterQueue() && !this.#needResident(batch)) {
      // Its dead letters need their bodies: expire it once it is read back.
      this.#expiries.push(nowMs + EXPIRY_RETRY_MS, batch);
      return;
    }
    const expired: MessageRef[] = [];
    if (batch.delayed) {
      batch.delayed = false;
      this.#delayed -= batch.remaining;
      for (let i = 0; i < batch.count; i++) if (!this.#isRemoved(batch, i)) expired.push({ batch, index: i });
    } else if (batch.span !== null) {
      const span = batch.span;
      const u32 = this.#arena.u32;
      let pos = span.record;
      let bytes = 0;
      for (let i = span.index; i < span.end; i++) {
        expired.push({ batch, index: i });
        if (!batch.resident) continue;
        bytes += recordBodyBytes(u32, pos);
        pos = recordEnd(u32, pos);
      }
      // On disk (no dead-letter queue): its bytes are counted whole.
      if (!batch.resident) bytes = span.index === 0 ? batch.bodyBytes : Math.round((batch.bodyBytes * (span.end - span.index)) / batch.count);
      this.#ready -= span.end - span.index;
      this.#readyBytes -= bytes;
      span.index = span.end;
      batch.span = null;
    }
    this.#deadLetter('expired', expired);
  }

  #isRemoved(batch: Batch, index: number): boolean {
    if (!batch.resident) return batch.removedBits !== null && (batch.removedBits[index >>> 5]! & (1 << (index & 31))) !== 0;
    return (this.#arena.u32[(batch.bitmap + ((index >>> 5) << 2)) >>> 2]! & (1 << (index & 31))) !== 0;
  }

  // --- purge, delete ---------------------------------------------------------------------------

  /** Removes every ready and delayed message (not the unacknowledged ones). */
  purge(): number {
    let purged = 0;
    for (let p = 0; p < this.#spans.length; p++) {
      const spans = this.#spans[p]!;
      for (let span = spans.peek(); span !== undefined; span = spans.peek()) {
        for (let i = span.index; i < span.end; i++) this.#remove(span.batch, i);
        purged += span.end - span.index;
        span.batch.span = null;
        spans.shift();
      }
      const redeliver = this.#redeliver[p]!;
      for (let ref = redeliver.pop(); ref !== undefined; ref = redeliver.pop()) {
        this.#remove(ref.batch, ref.index);
        purged++;
      }
    }
    for (let batch = this.#delayedBatches.pop(); batch !== undefined; batch = this.#delayedBatches.pop()) {
      if (!batch.delayed) continue;
      batch.delayed = false;
      for (let i = 0; i < batch.count; i++) {
        if (this.#isRemoved(batch, i)) continue;
        this.#remove(batch, i);
        purged++;
      }
    }
    for (let ref = this.#delayedMessages.pop(); ref !== undefined; ref = this.#delayedMessages.pop()) {
      this.#remove(ref.batch, ref.index);
      purged++;
    }
    const tail = this.#tail;
    if (tail !== null) {
      // Its batches are not known here: the log acknowledges the whole range (offsets it holds
      // that are not this queue's messages, or removed already, are acknowledged by then).
      this.#effects.removedRange?.(tail.from, tail.end);
      purged += tail.messages;
      for (const offset of this.#deliveries.keys()) if (offset >= tail.from && offset < tail.end) this.#deliveries.delete(offset);
      this.#tail = null;
    }
    this.#ready = 0;
    this.#readyBytes = 0;
    this.#delayed = 0;
    this.#topPriority = -1;
    return purged;
  }

  /** Removes everything; further publishes and subscriptions are refused. */
  delete(): number {
    let removed = this.purge();
    for (const consumer of this.#consumers.values()) {
      for (const grant of consumer.grants.values()) {
        for (let i = 0; i < grant.count; i++) {
          if (grant.isSettled(i)) continue;
          this.#remove(grant.batch, grant.index + i);
          removed++;
        }
      }
    }
    for (const ref of [...this.#parked.values(), ...this.#deadLettering.values()]) {
      this.#remove(ref.batch, ref.index);
      removed++;
    }
    this.#parked.clear();
    this.#deadLettering.clear();
    this.#consumers.clear();
    this.#order = [];
    this.#unacked = 0;
    this.#deleted = true;
    return removed;
  }

  // --- restart ---------------------------------------------------------------------------------

  /**
   * After a host death: takes up the batches the extent table lists, in offset order; a message
   * not removed in its batch's bitmap is ready again (delivered again: at least once). Batches
   * never accepted (their PUBLISH is still in the ring and comes again) are skipped.
   */
  restore(entries: readonly ExtentEntry[], nextOffset: number, nowMs: number): void {
    const { found, awaited } = this.#walk(entries);
    found.sort((a, b) => a.baseOffset - b.baseOffset);
    let next = nextOffset;
    for (const f of found) next = Math.max(next, f.baseOffset + this.#arena.u32[(f.address + QB_COUNT) >>> 2]!);
    this.nextOffset = next;
    for (const { address, extent, baseOffset } of found) this.#takeUp(this.#accept(address, extent, baseOffset), nowMs);
    this.#freeIdle(awaited);
  }

  /**
   * A durable queue's start: its log says which batches hold messages not acknowledged
   * (`heads`, with their acknowledged parts; at most `memoryBatches` of them, the rest counted in
   * `tail`) and how often some were delivered; the batches still in the arena (after a host
   * death) are used where they are, the others stay on disk until they are needed.
   */
  restoreDurable(entries: readonly ExtentEntry[], heads: readonly DurableHead[], tail: PagedTail | null, deliveries: readonly number[], nextOffset: number, nowMs: number): void {
    const { found, awaited } = this.#walk(entries);
    const resident = new Map(found.map((f) => [f.baseOffset, f]));
    for (let i = 0; i < deliveries.length; i += 2) this.#deliveries.set(deliveries[i]!, deliveries[i + 1]!);
    let next = nextOffset;
    for (const head of heads) {
      assert.ok(head.baseOffset >= this.#acceptedEnd, 'batches arrive in offset order');
      next = Math.max(next, head.baseOffset + head.count);
      const here = resident.get(head.baseOffset);
      let batch: Batch;
      if (here !== undefined && this.#arena.u32[(here.address + QB_COUNT) >>> 2] === head.count) {
        batch = this.#accept(here.address, here.extent, head.baseOffset);
        this.#markAcknowledged(batch, head);
      } else {
        batch = this.#batchFromHead(head);
        this.#acceptedEnd = head.baseOffset + head.count;
      }
      this.#takeUp(batch, nowMs);
    }
    if (tail !== null) {
      assert.ok(tail.from >= this.#acceptedEnd && tail.end > tail.from, 'the paged tail follows the batches known');
      this.#tail = { ...tail };
      this.#acceptedEnd = tail.end;
      next = Math.max(next, tail.end);
    }
    this.nextOffset = next;
    this.#freeIdle(awaited);
  }

  /** The resident batches an extent table lists, and the extents whose batches are not all accepted yet. */
  #walk(entries: readonly ExtentEntry[]): { found: { address: number; extent: Extent; baseOffset: number }[]; awaited: Set<Extent> } {
    const arena = this.#arena;
    const found: { address: number; extent: Extent; baseOffset: number }[] = [];
    /** Extents holding a batch not accepted yet: its PUBLISH comes again, so they are not free. */
    const awaited = new Set<Extent>();
    for (const entry of entries) {
      const extent = this.#extent(entry.address, entry.generation);
      extent.sealed = (entry.flags & EXTENT_SEALED) !== 0;
      arena.ensure(entry.address + entry.fill);
      const end = entry.address + entry.fill;
      for (let at = entry.address; at + QB_HEADER_BYTES <= end; ) {
        const length = arena.u32[(at + QB_LENGTH) >>> 2]!;
        assert.ok(length >= QB_HEADER_BYTES && at + length <= end, `queue ${this.options.name}: a batch at ${at} runs past its extent's fill`);
        const baseOffset = arena.f64[(at + QB_BASE_OFFSET) >>> 3]!;
        if (Number.isNaN(baseOffset)) {
          awaited.add(extent);
          extent.awaiting++;
        }
        else if (baseOffset >= 0) found.push({ address: at, extent, baseOffset });
        at += length;
      }
    }
    return { found, awaited };
  }

  /** Sets a message's removed bit without the effects of a removal (it was removed before). */
  #markRemoved(batch: Batch, index: number): void {
    if (batch.resident) {
      const word = (batch.bitmap + ((index >>> 5) << 2)) >>> 2;
      this.#arena.u32[word] = this.#arena.u32[word]! | (1 << (index & 31));
    } else {
      const bits = (batch.removedBits ??= new Uint32Array((batch.count + 31) >>> 5));
      bits[index >>> 5] = bits[index >>> 5]! | (1 << (index & 31));
    }
  }

  /** A batch found at a start: what is not removed is ready again (or delayed, if untouched and not yet due). */
  #takeUp(batch: Batch, nowMs: number): void {
    let remaining = 0;
    for (let i = 0; i < batch.count; i++) if (!this.#isRemoved(batch, i)) remaining++;
    batch.remaining = remaining;
    if (remaining === 0) {
      // Done already: not freed here but by `#freeIdle`, which knows the extents still awaited.
      this.#batches--;
      if (batch.resident) {
        this.#residentBytes -= batch.length;
        batch.extent!.live--;
      } else {
        this.#onDisk.delete(batch.baseOffset);
      }
      return;
    }
    if (remaining === batch.count) {
      this.#place(batch, nowMs);
      return;
    }
    if (batch.expiresAtMs !== Infinity) this.#expiries.push(batch.expiresAtMs, batch);
    for (let i = 0; i < batch.count; i++) if (!this.#isRemoved(batch, i)) this.#makeMessageReady({ batch, index: i });
  }

  /** Extents with no live batch left after a start are offered back (not those awaiting a PUBLISH). */
  #freeIdle(awaited: Set<Extent>): void {
    const freed: FreedExtent[] = [];
    for (const extent of [...this.#extents.values()]) if (!awaited.has(extent)) this.#maybeFree(extent, freed);
    if (freed.length > 0) this.#effects.freeExtents(freed);
  }
}

/** Messages of a batch its log has not acknowledged. */
export function unacknowledged(head: DurableHead): number {
  let acked = 0;
  for (let r = 0; r < head.acked.length; r += 2) acked += head.acked[r + 1]! - head.acked[r]!;
  return head.count - acked;
}

export type { PagedTail };

/** What a durable queue's start needs of a batch in its log (its header fields, from `replayBatchHeads`). */
export interface DurableHead {
  baseOffset: number;
  count: number;
  priority: number;
  timestampMs: number;
  /** Its own expiry (0: none). */
  expiresAtMs: number;
  notBeforeMs: number;
  length: number;
  bodyBytes: number;
  /** Acknowledged parts, flat [start, end, ...]. */
  acked: readonly number[];
}

export { bitmapBytes };
