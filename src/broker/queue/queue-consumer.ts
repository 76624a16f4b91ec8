/**
 * A queue's consumer, on the thread that called `consume`: it takes GRANTs from the queue actor,
 * reads the granted messages in place in the arena, calls the handler, and settles them by
 * ranges. Per message: one small delivery object and the handler call; no promise unless the
 * handler returns one, no copy unless the handler reads the bytes.
 *
 * A consumer holds at most `prefetch` unsettled deliveries (the actor never grants more), runs at
 * most `concurrency` handler calls at once (or one batch at a time with `consumeBatch`), and
 * sends its settles once per turn of the event loop, merged into ranges per grant: an in-order
 * run of acks is one 24-byte entry, whatever its length.
 *
 *   ack 'auto'   : acked when the handler resolves (or returns); nacked (requeued) when it throws
 *   ack 'manual' : the handler calls msg.ack() / msg.nack()
 *   ack 'none'   : at most once: never redelivered (a consumer that dies loses what it held)
 *
 * Lifecycle: 'consuming' -> 'closing' (deliveries not yet handed out go back; handlers in
 * progress finish and settle; then the actor is told, and it requeues whatever is unsettled)
 * -> 'closed'.
 */
import type { Arena } from '../../log/arena.js';
import { ClosedError, InvalidArgumentError } from '../../errors.js';
import type { Codec } from '../codec.js';
import { QB_HEADER_BYTES, QB_LENGTH, recordEnd } from './queue-batch.js';
import { ConsumerGrant, type DeliverySource, QueueDelivery } from './queue-delivery.js';
import { type AckMode, type GrantEntry, readGrant, Settle, SettleBuffer } from './queue-protocol.js';

export interface ConsumeOptions {
  /** Unsettled deliveries in flight, default 256. */
  prefetch?: number;
  ack?: AckMode;
  /** Handler calls at once, default 1. */
  concurrency?: number;
}

export interface ConsumeBatchOptions {
  /** Messages per handler call at most, default 500. */
  maxBatch?: number;
  /** Unsettled deliveries in flight, default 2 x maxBatch. */
  prefetch?: number;
}

export type MessageHandler = (message: QueueDelivery) => unknown;
export type BatchHandler = (messages: QueueDelivery[]) => unknown;

/** What the broker's thread hands GRANTs to: a consumer here (QueueConsumer), or one with handler threads (QueueProcess). */
export interface GrantReceiver {
  readonly id: number;
  readonly prefetch: number;
  readonly ack: AckMode;
  readonly closed: Promise<void>;
  /** A GRANT record for it, valid during the call only. */
  deliver(payload: Uint8Array): void;
  queueRestarted(): Promise<void>;
  close(): Promise<void>;
}

/** What a consumer needs from its queue. */
export interface ConsumerLink {
  readonly arena: Arena;
  subscribe(consumer: GrantReceiver): Promise<void>;
  /** No more grants for it; resolves once every grant made before has reached this thread. */
  pause(consumerId: number): Promise<void>;
  cancel(consumerId: number): Promise<void>;
  settle(consumerId: number, settles: SettleBuffer): void;
}

export class QueueConsumer implements DeliverySource, GrantReceiver {
  readonly id: number;
  readonly prefetch: number;
  readonly ack: AckMode;
  readonly concurrency: number;
  readonly codec: Codec;
  /** Resolves once the consumer is closed. Never rejects. */
  readonly closed: Promise<void>;
  #state: 'consuming' | 'closing' | 'closed' = 'consuming';
  readonly #handler: MessageHandler | null;
  readonly #batchHandler: BatchHandler | null;
  readonly #maxBatch: number;
  readonly #link: ConsumerLink;
  readonly #arena: Arena;
  /** Deliveries not yet handed to the handler: `#waiting[#waitingHead..]`. */
  #waiting: QueueDelivery[] = [];
  #waitingHead = 0;
  #pumping = false;
  #running = 0;
  #incarnation = 0;
  readonly #settles = new SettleBuffer();
  #flushScheduled = false;
  /** Inside `deliver`, which flushes before it returns: a settle then needs no flush of its own. */
  #delivering = false;
  readonly #entries: GrantEntry[] = [];
  #resolveClosed!: () => void;
  #idle: (() => void) | null = null;
  readonly #onError: (error: unknown, message: QueueDelivery | undefined) => void;

  constructor(
    id: number,
    handlers: { each: MessageHandler } | { batch: BatchHandler; maxBatch: number },
    options: ConsumeOptions,
    codec: Codec,
    link: ConsumerLink,
    onError: (error: unknown, message: QueueDelivery | undefined) => void,
  ) {
    const prefetch = options.prefetch ?? 256;
    const concurrency = options.concurrency ?? 1;
    const ack = options.ack ?? 'auto';
    if (!Number.isInteger(prefetch) || prefetch < 1 || prefetch > 65_535) throw new InvalidArgumentError(`prefetch must be an integer 1 .. 65535, got ${prefetch}`);
    if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 65_535) throw new InvalidArgumentError(`concurrency must be an integer 1 .. 65535, got ${concurrency}`);
    if (ack !== 'auto' && ack !== 'manual' && ack !== 'none') throw new InvalidArgumentError(`ack must be 'auto', 'manual' or 'none', got ${JSON.stringify(ack)}`);
    if ('each' in handlers) {
      if (typeof handlers.each !== 'function') throw new InvalidArgumentError('consume needs a handler function');
      this.#handler = handlers.each;
      this.#batchHandler = null;
      this.#maxBatch = 1;
    } else {
      if (typeof handlers.batch !== 'function') throw new InvalidArgumentError('consumeBatch needs a handler function');
      this.#handler = null;
      this.#batchHandler = handlers.batch;
      this.#maxBatch = handlers.maxBatch;
    }
    this.id = id;
    this.prefetch = prefetch;
    this.ack = ack;
    this.concurrency = concurrency;
    this.codec = codec;
    this.#link = link;
    this.#arena = link.arena;
    this.#onError = onError;
    this.closed = new Promise((resolve) => {
      this.#resolveClosed = resolve;
    });
  }

  get state(): 'consuming' | 'closing' | 'closed' {
    return this.#state;
  }

  arenaBytes(): Arena {
    return this.#arena;
  }

  /** A GRANT for this consumer (`payload` is valid during the call only). */
  deliver(payload: Uint8Array): void {
    const entries = this.#entries;
    const count = readGrant(payload, entries);
    // One message handler at a time, nothing waiting: each delivery goes straight to the handler
    // (no queueing); otherwise they wait their turn in #waiting.
    const direct = this.#batchHandler === null && this.concurrency === 1 && this.#state === 'consuming';
    this.#delivering = true;
    try {
      this.#deliverEntries(entries, count, direct);
    } finally {
      this.#delivering = false;
    }
    // What the handlers settled right away goes back now, not after the rest of this turn: the
    // actor can grant the next messages while this thread does other work (a producer's turn).
    this.#flush();
  }

  #deliverEntries(entries: GrantEntry[], count: number, direct: boolean): void {
    const arena = this.#arena;
    for (let e = 0; e < count; e++) {
      const entry = entries[e]!;
      const grant = new ConsumerGrant(this, entry.grant, entry.batch, entry.index, entry.count, entry.deliveries, this.#incarnation);
      arena.ensure(entry.batch + QB_HEADER_BYTES);
      arena.ensure(entry.batch + arena.u32[(entry.batch + QB_LENGTH) >>> 2]!);
      const u32 = arena.u32;
      let record = entry.record;
      for (let i = 0; i < entry.count; i++) {
        const delivery = new QueueDelivery(grant, i, record);
        record = recordEnd(u32, record);
        if (this.#state !== 'consuming') this.settle(delivery, Settle.RELEASE, 0);
        else if (direct && this.#running === 0 && this.#waitingHead === this.#waiting.length && !this.#pumping) {
          this.#running++;
          this.#pumping = true;
          this.#run(delivery);
          this.#pumping = false;
        } else this.#waiting.push(delivery);
      }
      // Settled as they came: the credit goes back grant by grant, so the actor refills while
      // the rest of the record is handled.
      if (direct && this.#settles.length > 0) this.#flush();
    }
    this.#pump();
  }

  /** The queue restarted: its deliveries in flight come again, under new grants; those not yet handed out are dropped. */
  async queueRestarted(): Promise<void> {
    this.#incarnation++;
    this.#waiting = this.#waiting.slice(this.#waitingHead).filter((delivery) => delivery.grant.incarnation === this.#incarnation);
    this.#waitingHead = 0;
    if (this.#state === 'consuming') await this.#link.subscribe(this);
  }

  /** Settles a delivery (once): merged with the previous settle when it continues it. */
  settle(delivery: QueueDelivery, how: number, delayMs: number): void {
    delivery.markSettled();
    const grant = delivery.grant;
    // A delivery from before the queue restarted is coming again anyway: nothing to send.
    if (grant.incarnation !== this.#incarnation) return;
    this.#settles.add(grant.id, delivery.index, how, delayMs);
    if (!this.#flushScheduled && !this.#delivering) {
      // After this turn of the event loop: every handler that finishes in the turn adds to the same record.
      this.#flushScheduled = true;
      setImmediate(this.#flush);
    }
  }

  /** Stops consuming: deliveries not yet handed out go back to the queue; handlers in progress finish. */
  async close(): Promise<void> {
    if (this.#state !== 'consuming') return this.closed;
    this.#state = 'closing';
    const waiting = this.#waiting.slice(this.#waitingHead);
    this.#waiting = [];
    this.#waitingHead = 0;
    // Never handed to the handler: back without counting as a delivery. So are grants still on
    // their way (released as they arrive): the pause's answer comes after the last of them.
    for (const delivery of waiting) if (!delivery.settled) this.settle(delivery, Settle.RELEASE, 0);
    try {
      await this.#link.pause(this.id);
    } catch (error) {
      if (!(error instanceof ClosedError)) throw error;
    }
    // Handlers in progress finish and settle first: cancelling before would requeue (and so
    // deliver again) messages they are about to acknowledge.
    if (this.#running > 0) await new Promise<void>((resolve) => (this.#idle = resolve));
    this.#flush();
    try {
      await this.#link.cancel(this.id);
    } catch (error) {
      if (!(error instanceof ClosedError)) throw error;
    }
    this.#state = 'closed';
    this.#resolveClosed();
    return this.closed;
  }

  #pump(): void {
    // Not re-entered: a handler that returns at once finishes inside this loop.
    if (this.#pumping) return;
    this.#pumping = true;
    const limit = this.#batchHandler === null ? this.concurrency : 1;
    while (this.#running < limit && this.#waiting.length > this.#waitingHead && this.#state === 'consuming') {
      this.#running++;
      if (this.#batchHandler === null) {
        const delivery = this.#waiting[this.#waitingHead]!;
        this.#waiting[this.#waitingHead++] = undefined as never;
        this.#run(delivery);
      } else {
        const end = Math.min(this.#waiting.length, this.#waitingHead + this.#maxBatch);
        const batch = this.#waiting.slice(this.#waitingHead, end);
        this.#waitingHead = end;
        this.#runBatch(batch);
      }
    }
    if (this.#waitingHead === this.#waiting.length) {
      this.#waiting.length = 0;
      this.#waitingHead = 0;
    } else if (this.#waitingHead > 1024 && this.#waitingHead * 2 > this.#waiting.length) {
      this.#waiting = this.#waiting.slice(this.#waitingHead);
      this.#waitingHead = 0;
    }
    this.#pumping = false;
  }

  /** Calls the handler; a handler that returns a value (not a promise) is settled at once, without a microtask. */
  #run(delivery: QueueDelivery): void {
    let result: unknown;
    try {
      result = this.#handler!(delivery);
    } catch (error) {
      this.#finish(delivery, error, true);
      return;
    }
    if (result !== null && typeof result === 'object' && typeof (result as PromiseLike<unknown>).then === 'function') {
      (result as PromiseLike<unknown>).then(
        () => this.#finish(delivery, undefined, false),
        (error: unknown) => this.#finish(delivery, error, true),
      );
    } else {
      this.#finish(delivery, undefined, false);
    }
  }

  #finish(delivery: QueueDelivery, error: unknown, failed: boolean): void {
    if (this.ack !== 'manual' && !delivery.settled) {
      // 'none': the settle only gives the credit back.
      if (failed && this.ack === 'auto') delivery.nack({ requeue: true });
      else delivery.ack();
    }
    if (failed) this.#onError(error, delivery);
    this.#done();
  }

  #runBatch(batch: QueueDelivery[]): void {
    let result: unknown;
    try {
      result = this.#batchHandler!(batch);
    } catch (error) {
      this.#finishBatch(batch, error, true);
      return;
    }
    if (result !== null && typeof result === 'object' && typeof (result as PromiseLike<unknown>).then === 'function') {
      (result as PromiseLike<unknown>).then(
        () => this.#finishBatch(batch, undefined, false),
        (error: unknown) => this.#finishBatch(batch, error, true),
      );
    } else {
      this.#finishBatch(batch, undefined, false);
    }
  }

  #finishBatch(batch: QueueDelivery[], error: unknown, failed: boolean): void {
    if (this.ack !== 'manual') {
      for (const delivery of batch) {
        if (delivery.settled) continue;
        if (failed && this.ack === 'auto') delivery.nack({ requeue: true });
        else delivery.ack();
      }
    }
    if (failed) this.#onError(error, batch[0]);
    this.#done();
  }

  #done(): void {
    this.#running--;
    if (this.#running === 0 && this.#idle !== null) this.#idle();
    this.#pump();
  }

  readonly #flush = (): void => {
    this.#flushScheduled = false;
    if (this.#settles.length === 0) return;
    this.#link.settle(this.id, this.#settles);
    this.#settles.clear();
  };
}
