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
import { type QueueMessage, readQueueMessage } from './queue-message.js';
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

export class QueueDelivery {
  readonly id: string;
  /** The raw payload. */
  readonly bytes: Uint8Array;
  readonly headers: Record<string, string>;
  readonly priority: number;
  readonly deliveryCount: number;
  readonly redelivered: boolean;
  readonly correlationId: string | undefined;
  readonly replyTo: string | undefined;
  readonly timestamp: number;
  readonly #codec: Codec;
  readonly #consumer: QueueConsumer;
  readonly tag: number;
  readonly incarnation: number;
  #body: unknown;
  #decoded = false;
  settled = false;

  constructor(tag: number, message: QueueMessage, codec: Codec, consumer: QueueConsumer, incarnation: number) {
    this.tag = tag;
    this.id = message.id;
    this.bytes = message.body;
    this.headers = message.headers;
    this.priority = message.priority;
    this.deliveryCount = message.deliveries;
    this.redelivered = message.deliveries > 1;
    this.correlationId = message.correlationId;
    this.replyTo = message.replyTo;
    this.timestamp = message.timestampMs;
    this.#codec = codec;
    this.#consumer = consumer;
    this.incarnation = incarnation;
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
  readonly #waiting: QueueDelivery[] = [];
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
    let offset = 4;
    for (let i = 0; i < count; i++) {
      const tag = view.getFloat64(offset, true);
      const { message, end } = readQueueMessage(payload, offset + 8, false);
      offset = end;
      this.#take(new QueueDelivery(tag, message, this.#codec, this, this.#incarnation));
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
    for (const delivery of this.#waiting.splice(0)) if (!delivery.settled) this.settleDelivery(delivery, Settle.REQUEUE, 0);
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
    while (this.#running < this.concurrency && this.#waiting.length > 0 && this.#state === 'consuming') {
      const delivery = this.#waiting.shift()!;
      this.#running++;
      void this.#run(delivery);
    }
  }

  async #run(delivery: QueueDelivery): Promise<void> {
    try {
      await this.#handler(delivery);
      if (this.ack === 'auto' && !delivery.settled) delivery.ack();
    } catch (error) {
      if (this.ack === 'auto' && !delivery.settled) delivery.nack({ requeue: true });
      this.#onError(error, delivery);
    } finally {
      this.#running--;
      if (this.#running === 0 && this.#idle) this.#idle();
      this.#pump();
    }
  }

  #queueSettle(how: number, tag: number, delayMs: number): void {
    const key = `${how}:${delayMs}`;
    const tags = this.#pendingSettles.get(key);
    if (tags) tags.push(tag);
    else this.#pendingSettles.set(key, [tag]);
    if (!this.#flushScheduled) {
      // After this turn of the event loop, not this microtask: every handler that finishes in
      // the turn adds its ack to the same SETTLE record.
      this.#flushScheduled = true;
      setImmediate(() => this.#flush());
    }
  }

  #flush(): void {
    this.#flushScheduled = false;
    for (const [key, tags] of this.#pendingSettles) {
      const [how, delayMs] = key.split(':').map(Number) as [number, number];
      this.#link.settle(this.id, how, tags, delayMs);
    }
    this.#pendingSettles.clear();
  }
}
