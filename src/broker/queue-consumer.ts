/**
 * Deliveries and consumers of a queue, on the broker's thread.
 *
 * A consumer holds at most `prefetch` unsettled deliveries (the queue never pushes more), runs at
 * most `concurrency` handler calls at once, and settles deliveries in batches: one SETTLE record
 * per turn of the event loop (setImmediate), whatever the number of acks in it.
 *
 *   ack 'auto'   : acked when the handler resolves; nacked (requeued) when it throws
 *   ack 'manual' : the handler calls msg.ack() / msg.nack()
 *   ack 'none'   : at most once, settled as it is delivered; never redelivered
 *
 * Lifecycle: 'consuming' -> 'closing' (cancel sent: unsettled deliveries go back to the queue,
 * handlers in progress finish) -> 'closed'.
 */
import { AlreadyAckedError, ClosedError, InvalidArgumentError } from '../errors.js';
import type { Codec } from './codec.js';
import { emptyQueueMessageFields, type QueueMessage, type QueueMessageFields, readQueueMessage, scanQueueMessage } from './queue-message.js';
import { type AckMode, Settle } from './queue-protocol.js';

export interface ConsumeOptions {
  /** Unsettled deliveries in flight, default 256. */
  prefetch?: number;
  ack?: AckMode;
  /** Handler calls at once, default 1. */
  concurrency?: number;
}

/** What a consumer needs from its queue: sending settles and cancelling. */
export interface ConsumerLink {
  settle(consumerId: number, how: number, tags: readonly number[], delayMs: number): void;
  cancel(consumerId: number): Promise<void>;
  resubscribe(consumer: QueueConsumer): Promise<void>;
}

export type MessageHandler = (message: QueueDelivery) => unknown;

/**
 * One delivery. The fixed fields are read as it arrives; the id, headers and payload are decoded
 * from the DELIVER record the first time one of them is used (a handler that only acks, or
 * only reads `body` of a raw queue, never pays for strings it does not read).
 */
export class QueueDelivery {
  readonly priority: number;
  readonly deliveryCount: number;
  readonly redelivered: boolean;
  readonly timestamp: number;
  readonly tag: number;
  readonly incarnation: number;
  readonly #codec: Codec;
  readonly #consumer: QueueConsumer;
  readonly #record: Uint8Array;
  readonly #offset: number;
  #message: QueueMessage | undefined;
  #body: unknown;
  #decoded = false;
  settled = false;

  constructor(tag: number, record: Uint8Array, offset: number, fields: QueueMessageFields, codec: Codec, consumer: QueueConsumer, incarnation: number) {
    this.tag = tag;
    this.#record = record;
    this.#offset = offset;
    this.priority = fields.priority;
    this.deliveryCount = fields.deliveries;
    this.redelivered = fields.deliveries > 1;
    this.timestamp = fields.timestampMs;
    this.#codec = codec;
    this.#consumer = consumer;
    this.incarnation = incarnation;
  }

  #decodedMessage(): QueueMessage {
    return (this.#message ??= readQueueMessage(this.#record, this.#offset, false).message);
  }

  get id(): string {
    return this.#decodedMessage().id;
  }

  /** The raw payload. */
  get bytes(): Uint8Array {
    return this.#decodedMessage().body;
  }

  get headers(): Record<string, string> {
    return this.#decodedMessage().headers;
  }

  get correlationId(): string | undefined {
    return this.#decodedMessage().correlationId;
  }

  get replyTo(): string | undefined {
    return this.#decodedMessage().replyTo;
  }

  /** The payload decoded by the queue's codec (decoded on first use). */
  get body(): unknown {
    if (!this.#decoded) {
      this.#body = this.#codec.decode(this.bytes);
      this.#decoded = true;
    }
    return this.#body;
  }

  ack(): void {
    this.#consumer.settleDelivery(this, Settle.ACK, 0);
  }

  /** Requeue (default) to be delivered again, maybe after `delayMs`; or not: dead-lettered (or dropped without a dead-letter queue). */
  nack(options: { requeue?: boolean; delayMs?: number } = {}): void {
    const delayMs = options.delayMs ?? 0;
    if (!(Number.isFinite(delayMs) && delayMs >= 0)) throw new InvalidArgumentError(`nack delayMs must be a finite number >= 0, got ${delayMs}`);
    const requeue = options.requeue ?? true;
    this.#consumer.settleDelivery(this, !requeue ? Settle.REJECT : delayMs > 0 ? Settle.REQUEUE_LATER : Settle.REQUEUE, delayMs);
  }
}

export class QueueConsumer {
  readonly id: number;
  readonly prefetch: number;
  readonly ack: AckMode;
  readonly concurrency: number;
  /** Resolves once the consumer is closed. Never rejects. */
  readonly closed: Promise<void>;
  #state: 'consuming' | 'closing' | 'closed' = 'consuming';
  readonly #handler: MessageHandler;
  readonly #codec: Codec;
  readonly #link: ConsumerLink;
  /** Deliveries not yet handed to the handler: `#waiting[#waitingHead..]`. */
  readonly #waiting: QueueDelivery[] = [];
  #waitingHead = 0;
  #pumping = false;
  readonly #fields = emptyQueueMessageFields();
  #pendingAcks: number[] = [];
  #running = 0;
  #incarnation = 0;
  readonly #pendingSettles = new Map<string, number[]>();
  #flushScheduled = false;
  #resolveClosed!: () => void;
  #idle: (() => void) | null = null;
  readonly #onError: (error: unknown, message: QueueDelivery) => void;

  constructor(id: number, handler: MessageHandler, options: ConsumeOptions, codec: Codec, link: ConsumerLink, onError: (error: unknown, message: QueueDelivery) => void) {
    const prefetch = options.prefetch ?? 256;
    const concurrency = options.concurrency ?? 1;
    const ack = options.ack ?? 'auto';
    if (!Number.isInteger(prefetch) || prefetch < 1 || prefetch > 65_535) throw new InvalidArgumentError(`prefetch must be an integer 1 .. 65535, got ${prefetch}`);
    if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 65_535) throw new InvalidArgumentError(`concurrency must be an integer 1 .. 65535, got ${concurrency}`);
    if (ack !== 'auto' && ack !== 'manual' && ack !== 'none') throw new InvalidArgumentError(`ack must be 'auto', 'manual' or 'none', got ${JSON.stringify(ack)}`);
    if (typeof handler !== 'function') throw new InvalidArgumentError('consume needs a handler function');
    this.id = id;
    this.prefetch = prefetch;
    this.ack = ack;
    this.concurrency = concurrency;
    this.#handler = handler;
    this.#codec = codec;
    this.#link = link;
    this.#onError = onError;
    this.closed = new Promise((resolve) => {
      this.#resolveClosed = resolve;
    });
  }

  get state(): 'consuming' | 'closing' | 'closed' {
    return this.#state;
  }

  /** A DELIVER record for this consumer: [u32 count] then per message [f64 tag][message]. */
  deliver(payload: Uint8Array): void {
    const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
    const count = view.getUint32(0, true);
    const fields = this.#fields;
    let offset = 4;
    for (let i = 0; i < count; i++) {
      const tag = view.getFloat64(offset, true);
      scanQueueMessage(payload, view, offset + 8, fields);
      this.#take(new QueueDelivery(tag, payload, offset + 8, fields, this.#codec, this, this.#incarnation));
      offset = fields.end;
    }
    this.#pump();
  }

  #take(delivery: QueueDelivery): void {
    if (this.ack === 'none') {
      // Settled on arrival (the queue already forgot it): only the credit goes back.
      delivery.settled = true;
      this.#queueSettle(Settle.ACK, delivery.tag, 0);
    }
    if (this.#state !== 'consuming') {
      if (this.ack !== 'none') this.settleDelivery(delivery, Settle.REQUEUE, 0);
      return;
    }
    this.#waiting.push(delivery);
  }

  get #waitingCount(): number {
    return this.#waiting.length - this.#waitingHead;
  }

  /** Takes every waiting delivery out (for requeueing them). */
  #takeAllWaiting(): QueueDelivery[] {
    const all = this.#waiting.slice(this.#waitingHead);
    this.#waiting.length = 0;
    this.#waitingHead = 0;
    return all;
  }

  /** The queue restarted: its deliveries in flight will come again under new tags. */
  async queueRestarted(): Promise<void> {
    this.#incarnation++;
    if (this.#state === 'consuming') await this.#link.resubscribe(this);
  }

  settleDelivery(delivery: QueueDelivery, how: number, delayMs: number): void {
    if (delivery.settled) throw new AlreadyAckedError(`message ${delivery.id} was already acknowledged or rejected; settle each delivery once`);
    delivery.settled = true;
    // A delivery from before the queue restarted is coming again anyway: nothing to send.
    if (delivery.incarnation !== this.#incarnation) return;
    this.#queueSettle(how, delivery.tag, delayMs);
  }

  /** Stops consuming: deliveries not yet settled go back to the queue; handlers in progress finish. */
  async close(): Promise<void> {
    if (this.#state !== 'consuming') return this.closed;
    this.#state = 'closing';
    for (const delivery of this.#takeAllWaiting()) if (!delivery.settled) this.settleDelivery(delivery, Settle.REQUEUE, 0);
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
    while (this.#running < this.concurrency && this.#waitingCount > 0 && this.#state === 'consuming') {
      const delivery = this.#waiting[this.#waitingHead]!;
      this.#waiting[this.#waitingHead++] = undefined as never;
      this.#running++;
      this.#run(delivery);
    }
    if (this.#waitingHead > 1024 && this.#waitingHead * 2 > this.#waiting.length) {
      this.#waiting.splice(0, this.#waitingHead);
      this.#waitingHead = 0;
    }
    this.#pumping = false;
  }

  /** Calls the handler; a handler that returns a value (not a promise) is settled at once, without a microtask. */
  #run(delivery: QueueDelivery): void {
    let result: unknown;
    try {
      result = this.#handler(delivery);
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
    if (failed) {
      if (this.ack === 'auto' && !delivery.settled) delivery.nack({ requeue: true });
      this.#onError(error, delivery);
    } else if (this.ack === 'auto' && !delivery.settled) {
      delivery.ack();
    }
    this.#running--;
    if (this.#running === 0 && this.#idle) this.#idle();
    this.#pump();
  }

  #queueSettle(how: number, tag: number, delayMs: number): void {
    if (how === Settle.ACK) this.#pendingAcks.push(tag);
    else {
      const key = `${how}:${delayMs}`;
      const tags = this.#pendingSettles.get(key);
      if (tags) tags.push(tag);
      else this.#pendingSettles.set(key, [tag]);
    }
    if (!this.#flushScheduled) {
      // After this turn of the event loop, not this microtask: every handler that finishes in
      // the turn adds its ack to the same SETTLE record.
      this.#flushScheduled = true;
      setImmediate(() => this.#flush());
    }
  }

  #flush(): void {
    this.#flushScheduled = false;
    if (this.#pendingAcks.length > 0) {
      this.#link.settle(this.id, Settle.ACK, this.#pendingAcks, 0);
      this.#pendingAcks = [];
    }
    for (const [key, tags] of this.#pendingSettles) {
      const [how, delayMs] = key.split(':').map(Number) as [number, number];
      this.#link.settle(this.id, how, tags, delayMs);
    }
    this.#pendingSettles.clear();
  }
}
