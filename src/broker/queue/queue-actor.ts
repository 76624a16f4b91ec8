/**
 * The queue actor: one per queue, on an actor host. It wires the queue's state (queue-state.ts)
 * to its records (queue-protocol.ts), its timer and, for a durable queue, its log.
 *
 * Messages never pass through it: a PUBLISH names batches in the arena, a GRANT tells a
 * consumer which of them to read, a SETTLE says which it is done with.
 *
 * - A memory-only queue never touches the storage thread: its messages are in the arena and its
 *   settled bits in their batches, so after a host death the next incarnation takes them up
 *   from the extent table (`restore`).
 * - A durable queue appends each published batch to its log straight from the arena (the
 *   storage thread copies it) and confirms once the append is (synced under fsync 'always');
 *   removals become acknowledged ranges in the log and redeliveries logged delivery counts, a
 *   background flush at a time, so that a restart replays exactly the messages not settled and
 *   `maxDeliveries` holds across it. Past `memoryBytes`, batches stay on disk only and are read
 *   back into an extent (asked of the broker's thread) as they come up.
 */
import assert from 'node:assert/strict';
import type { ActorBehavior, ActorContext, ActorRecord } from '../../actor/actor-behavior.js';
import type { ActorLog } from '../../wal/actor-storage.js';
import { serializeError } from '../../errors.js';
import type { Arena } from '../../log/arena.js';
import { readExtentTable, readNextOffset, writeNextOffset } from '../../log/extent-table.js';
import { QB_BODY_BYTES, QB_COUNT, QB_EXPIRES_AT, QB_HEADER_BYTES, QB_LENGTH, QB_NOT_BEFORE, QB_PRIORITY, QB_TIMESTAMP } from './queue-batch.js';
import { type DurableHead, type PagedTail, QueueState, unacknowledged } from './queue-state.js';
import {
  type AckMode,
  deadLetterBytes,
  EXTENT_NONE,
  freeExtentBytes,
  grantBytes,
  jsonBytes,
  type PublishedBatch,
  QueueRecord,
  type QueueOptions,
  readDeadLettered,
  readExtent,
  readJson,
  readPublish,
  SettleReader,
  type SubscribeRequest,
  writeConfirmed,
  writeDeadLetter,
  writeExtentRequest,
  writeFreeExtent,
  writeGrant,
} from './queue-protocol.js';

export interface QueueActorDeclaration extends QueueOptions {
  name: string;
  /** Arena address of the queue's extent table (the broker's thread made it). */
  tableHeader: number;
}

/** An extent asked for to read batches back into: at least this large (a few hundred batches of small messages). */
const FETCH_EXTENT_BYTES = 1024 * 1024;
/** When the arena had no extent to give, the fetch is asked again after this long. */
const FETCH_RETRY_MS = 50;

export function createActor(options: unknown): ActorBehavior {
  return new QueueActor(options as QueueActorDeclaration);
}

class QueueActor implements ActorBehavior {
  readonly #declaration: QueueActorDeclaration;
  #context: ActorContext | null = null;
  #arena: Arena | null = null;
  #state: QueueState | null = null;
  #log: ActorLog | null = null;
  readonly #settle = new SettleReader();
  #timerAtMs = Infinity;
  #cancelTimer: (() => void) | null = null;
  /** Durable: publishes in flight, in order (each one's insert waits for the one before). */
  #chain: Promise<void> = Promise.resolve();
  /** Durable: acknowledged ranges (flat, [start, end)) and delivery counts (flat pairs) not yet logged. */
  #acks: number[] = [];
  #deliveries: number[] = [];
  #logging = false;
  /** Durable: the fetch waiting for its extent. */
  #fetch: { requestId: number; fromOffset: number; bytes: number } | null = null;
  #nextRequest = 1;

  constructor(declaration: QueueActorDeclaration) {
    this.#declaration = declaration;
  }

  async start(context: ActorContext): Promise<void> {
    assert.ok(context.arena !== null, 'a queue actor runs on a host with the arena');
    this.#context = context;
    this.#arena = context.arena;
    const durable = this.#declaration.durable;
    if (durable) {
      assert.ok(context.log.appendArena !== undefined && context.log.replayBatchHeads !== undefined, 'a durable queue needs a log of the storage thread');
      this.#log = context.log;
    }
    const state = new QueueState(this.#declaration, context.arena, {
      grant: (consumer, entries, count) => context.replyWith(QueueRecord.GRANT, grantBytes(count), (bytes, at) => writeGrant(bytes, at, entries, count), consumer),
      deadLetter: (reason, entries) => context.replyWith(QueueRecord.DEAD_LETTER, deadLetterBytes(entries.length), (bytes, at) => writeDeadLetter(bytes, at, reason, entries)),
      freeExtents: (extents) => context.replyWith(QueueRecord.FREE_EXTENT, freeExtentBytes(extents.length), (bytes, at) => writeFreeExtent(bytes, at, extents)),
      ...(durable
        ? {
            removed: (offset: number) => this.#removed(offset),
            redelivered: (offset: number, count: number) => this.#deliveries.push(offset, count),
            fetch: (fromOffset: number, bytes: number) => this.#askExtent(fromOffset, bytes),
            removedRange: (from: number, end: number) => this.#acks.push(from, end),
            pageIn: (fromOffset: number, endOffset: number, maxBatches: number) => this.#pageIn(fromOffset, endOffset, maxBatches),
          }
        : {}),
    });
    this.#state = state;
    const header = this.#declaration.tableHeader;
    const table = readExtentTable(context.arena, header);
    if (durable) {
      // At most memoryBatches heads are kept; the rest of the log is only counted (the paged
      // tail): a queue longer than its host's heap starts, and never replays itself out of memory.
      const log = this.#log!;
      const heads: DurableHead[] = [];
      let tail: PagedTail | null = null;
      for await (const { baseOffset, head, acked } of log.replayBatchHeads!({ headBytes: QB_HEADER_BYTES })) {
        const read = durableHead(baseOffset, head, acked);
        if (tail === null && heads.length < state.memoryBatches) {
          heads.push(read);
          continue;
        }
        tail ??= { from: baseOffset, end: 0, messages: 0, bytes: 0 };
        tail.end = baseOffset + read.count;
        tail.messages += unacknowledged(read);
        tail.bytes += read.bodyBytes;
      }
      state.restoreDurable(table, heads, tail, await log.deliveryCounts!(), log.nextOffset, Date.now());
    } else {
      // A first start finds an empty table; a restart after a host death finds the queue as it was.
      state.restore(table, readNextOffset(context.arena, header), Date.now());
    }
    this.#arm();
  }

  receive(record: ActorRecord): void {
    const state = this.#state!;
    const nowMs = Date.now();
    switch (record.type) {
      case QueueRecord.PUBLISH:
        this.#publish(record.payload, record.meta, nowMs);
        break;
      case QueueRecord.SETTLE: {
        const settle = this.#settle;
        settle.reset(record.payload);
        for (let i = 0; i < settle.entries; i++) state.settle(settle.consumer, settle.grant(i), settle.from(i), settle.count(i), settle.kind(i), settle.delayMs(i), nowMs);
        state.dispatch(nowMs);
        break;
      }
      case QueueRecord.DEAD_LETTERED: {
        const { ok, offsets } = readDeadLettered(record.payload);
        state.deadLettered(ok, offsets, nowMs);
        state.dispatch(nowMs);
        break;
      }
      case QueueRecord.EXTENT:
        this.#extentGiven(record.meta, readExtent(record.payload));
        break;
      case QueueRecord.SUBSCRIBE:
        this.#answer(record.meta, () => {
          const request = readJson<SubscribeRequest>(record.payload);
          state.subscribe(request.consumer, request.prefetch, request.ack as AckMode, nowMs);
          return { ok: true };
        });
        break;
      case QueueRecord.PAUSE:
        this.#answer(record.meta, () => state.pause(readJson<{ consumer: number }>(record.payload).consumer));
        break;
      case QueueRecord.CANCEL:
        this.#answer(record.meta, () => state.cancel(readJson<{ consumer: number }>(record.payload).consumer, nowMs));
        break;
      case QueueRecord.PURGE:
        this.#answer(record.meta, () => ({ purged: state.purge() }));
        break;
      case QueueRecord.STATS:
        this.#answer(record.meta, () => state.stats());
        break;
      case QueueRecord.DELETE:
        this.#answer(record.meta, () => ({ deleted: state.delete() }));
        break;
      default:
        assert.fail(`queue ${this.#declaration.name}: unknown record type ${record.type}`);
    }
    this.#arm();
    this.#flushLog();
  }

  async stop(): Promise<void> {
    this.#cancelTimer?.();
    await this.#chain;
    this.#flushLog();
    while (this.#logging) await new Promise((resolve) => setTimeout(resolve, 1));
  }

  /** Admits the batches whole (reject-publish) or refuses them whole; then confirms and delivers. */
  #publish(payload: Uint8Array, meta: number, nowMs: number): void {
    const state = this.#state!;
    const { batches, sealed } = readPublish(payload);
    if (this.#log === null) {
      let admitted: { count: number; bytes: number };
      try {
        admitted = state.admit(batches);
      } catch (error) {
        state.refuse(batches);
        state.seal(sealed);
        this.#reply(meta, { ok: false, error: serializeError(error) });
        return;
      }
      state.insert(batches, admitted, nowMs);
      writeNextOffset(this.#arena!, this.#declaration.tableHeader, state.nextOffset);
      state.seal(sealed);
      this.#confirm(meta, admitted.count);
      state.dispatch(nowMs);
      return;
    }
    this.#publishDurable(batches, sealed, meta);
  }

  /**
   * A durable publish: appended (each batch one WAL batch, copied from the arena by the storage
   * thread), then inserted with the log's offsets and confirmed. The PUBLISH stays in the ring
   * until then (`hold`): if the host dies first, the next incarnation gets it again. Publishes
   * settle in order, so extents they seal are only let go after the batches before them are in.
   */
  #publishDurable(batches: PublishedBatch[], sealed: { address: number; generation: number }[], meta: number): void {
    const state = this.#state!;
    const context = this.#context!;
    let admitted: { count: number; bytes: number };
    try {
      admitted = state.admit(batches);
    } catch (error) {
      this.#reply(meta, { ok: false, error: serializeError(error) });
      this.#chain = this.#chain.then(() => {
        state.refuse(batches);
        state.seal(sealed);
      });
      return;
    }
    const release = context.hold();
    const arena = this.#arena!;
    const log = this.#log!;
    const appends = batches.map((batch) =>
      log.appendArena!(batch.address, arena.u32[(batch.address + QB_LENGTH) >>> 2]!, arena.u32[(batch.address + QB_COUNT) >>> 2]!, arena.f64[(batch.address + QB_TIMESTAMP) >>> 3]!),
    );
    const stored = Promise.all(appends);
    this.#chain = this.#chain.then(() =>
      stored.then(
        (results) => {
          const nowMs = Date.now();
          state.insert(
            batches,
            admitted,
            nowMs,
            results.map((result) => result.baseOffset),
          );
          state.seal(sealed);
          this.#confirm(meta, admitted.count);
          release();
          state.dispatch(nowMs);
          this.#arm();
          this.#flushLog();
        },
        (error: unknown) => {
          // Storage failed: this publish is refused (BATON_STORAGE_FAILED), and the actor restarts
          // to take up what is really in its log (at once, or once the storage is reopened).
          state.abandon(batches, admitted);
          state.seal(sealed);
          this.#reply(meta, { ok: false, error: serializeError(error) });
          release();
          this.#failUnlessStorageDown(error);
        },
      ),
    );
  }

  #confirm(meta: number, count: number): void {
    this.#context!.replyWith(QueueRecord.CONFIRMED, 4, (bytes, at) => writeConfirmed(bytes, at, count), meta);
  }

  /** A removed offset extends the last acknowledged range, or starts one. */
  #removed(offset: number): void {
    const acks = this.#acks;
    const last = acks.length - 1;
    if (last > 0 && acks[last] === offset) acks[last] = offset + 1;
    else acks.push(offset, offset + 1);
  }

  /**
   * Logs acknowledgements and delivery counts in the background: one flush in flight, the next
   * carrying everything since. Nobody waits for it; a restart before it lands delivers those
   * messages again (at least once). A failed flush fails the actor.
   */
  #flushLog(): void {
    if (this.#log === null || this.#logging || (this.#acks.length === 0 && this.#deliveries.length === 0)) {
      if (this.#log === null) this.#acks.length = 0;
      return;
    }
    const acks = this.#acks;
    const deliveries = this.#deliveries;
    this.#acks = [];
    this.#deliveries = [];
    this.#logging = true;
    const log = this.#log;
    Promise.all([deliveries.length > 0 ? log.recordDeliveries!(deliveries) : null, acks.length > 0 ? log.acknowledgeRanges!(acks) : null]).then(
      () => {
        this.#logging = false;
        this.#flushLog();
      },
      (error: unknown) => {
        this.#logging = false;
        this.#failUnlessStorageDown(error);
      },
    );
  }

  /** Reads a page of the tail's batch heads from the log (not their bodies: those are fetched as they come up). */
  #pageIn(fromOffset: number, endOffset: number, maxBatches: number): void {
    const read = async (): Promise<{ heads: DurableHead[]; complete: boolean }> => {
      const heads: DurableHead[] = [];
      for await (const { baseOffset, head, acked } of this.#log!.replayBatchHeads!({ fromOffset, headBytes: QB_HEADER_BYTES })) {
        if (baseOffset >= endOffset) return { heads, complete: true };
        heads.push(durableHead(baseOffset, head, acked));
        if (heads.length === maxBatches) return { heads, complete: false };
      }
      return { heads, complete: true };
    };
    read().then(
      ({ heads, complete }) => {
        this.#state!.pagedIn(heads, endOffset, complete, Date.now());
        this.#arm();
        this.#flushLog();
      },
      (error: unknown) => this.#failUnlessStorageDown(error),
    );
  }

  /** Asks the broker's thread for an extent to read batches back into (EXTENT answers). */
  #askExtent(fromOffset: number, bytes: number): void {
    const requestId = this.#nextRequest++;
    const size = Math.max(FETCH_EXTENT_BYTES, bytes + 64);
    this.#fetch = { requestId, fromOffset, bytes: size };
    this.#context!.replyWith(QueueRecord.EXTENT_REQUEST, 4, (out, at) => writeExtentRequest(out, at, size), requestId);
  }

  /** The extent came: the batches are read into it from the log, then the queue flows on. */
  #extentGiven(requestId: number, extent: { address: number; generation: number }): void {
    const fetch = this.#fetch;
    if (fetch === null || fetch.requestId !== requestId) return;
    this.#fetch = null;
    const state = this.#state!;
    if (extent.address === EXTENT_NONE) {
      // No memory now: try again a little later (consumers settling free some).
      state.fetchFailed();
      this.#context!.setTimer(FETCH_RETRY_MS, () => {
        state.dispatch(Date.now());
        this.#arm();
      });
      return;
    }
    this.#log!.readInto!(fetch.fromOffset, extent.address, fetch.bytes).then(
      (result) => {
        state.fetched(result.batches, extent.address, extent.generation, Date.now());
        this.#arm();
        this.#flushLog();
      },
      (error: unknown) => this.#failUnlessStorageDown(error),
    );
  }

  /**
   * A storage failure does not fail the actor: the storage thread reopens the log and the
   * supervisor then restarts every actor with a log, which replays what is on disk. Meanwhile
   * the actor stays up and refuses what needs the log with BATON_STORAGE_FAILED.
   */
  #failUnlessStorageDown(error: unknown): void {
    if ((error as { code?: unknown } | null)?.code !== 'BATON_STORAGE_FAILED') this.#fail(error);
  }

  /** Fails the actor from outside a receive: it restarts and takes up what its log and the arena hold. */
  #fail(error: unknown): void {
    this.#context!.setTimer(0, () => {
      throw error;
    });
  }

  #answer(meta: number, work: () => unknown): void {
    try {
      this.#reply(meta, { ok: true, value: work() });
    } catch (error) {
      this.#reply(meta, { ok: false, error: serializeError(error) });
    }
  }

  #reply(meta: number, result: unknown): void {
    if (meta !== 0) this.#context!.reply(QueueRecord.RESULT, jsonBytes(result), meta);
  }

  /** One actor timer, at the earliest time something is due. */
  #arm(): void {
    const next = this.#state!.nextDueMs;
    // A timer armed for earlier than needed may fire: tick does what is due and arms again. Only
    // an earlier deadline re-arms (an idle extent's deadline moves with every publish: re-arming
    // for later would cost a timer per record).
    if (next >= this.#timerAtMs) return;
    this.#cancelTimer?.();
    this.#cancelTimer = null;
    this.#timerAtMs = next;
    if (next === Infinity) return;
    this.#cancelTimer = this.#context!.setTimer(next - Date.now(), () => {
      this.#timerAtMs = Infinity;
      this.#cancelTimer = null;
      this.#state!.tick(Date.now());
      this.#arm();
      this.#flushLog();
    });
  }
}

/** The header fields of a queue batch from the first bytes of its body, as the log gives them back. */
function durableHead(baseOffset: number, head: Uint8Array, acked: readonly number[]): DurableHead {
  const view = new DataView(head.buffer, head.byteOffset, head.byteLength);
  assert.ok(head.byteLength >= QB_HEADER_BYTES, 'a queue batch in the log starts with its whole header');
  return {
    baseOffset,
    count: view.getUint32(QB_COUNT, true),
    priority: head[QB_PRIORITY]!,
    timestampMs: view.getFloat64(QB_TIMESTAMP, true),
    expiresAtMs: view.getFloat64(QB_EXPIRES_AT, true),
    notBeforeMs: view.getFloat64(QB_NOT_BEFORE, true),
    length: view.getUint32(QB_LENGTH, true),
    bodyBytes: view.getUint32(QB_BODY_BYTES, true),
    acked,
  };
}
