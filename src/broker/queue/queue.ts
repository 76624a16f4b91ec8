/**
 * `Queue`: point-to-point with competing consumers, on the broker's thread. Each queue is an
 * actor (`queue:<name>`, queue-actor.ts); this class is its producer and the home of its
 * consumers on this thread.
 *
 * A publish encodes its messages once, into the queue's extents of the arena (queue-batch.ts),
 * and sends the actor one PUBLISH naming the batches; the actor answers once they are in the
 * queue (durable: appended to its log and synced under `fsync: 'always'`). A `sendBatch` of any
 * length is one publish and one confirm.
 */
import type { ActorRuntime } from '../../actor/actor-runtime.js';
import { deserializeError, InvalidArgumentError, NotFoundError, type SerializedError } from '../../errors.js';
import type { Arena } from '../../log/arena.js';
import type { ExtentAllocator } from '../../log/extent-allocator.js';
import { ExtentTableWriter } from '../../log/extent-table.js';
import { LogWriter } from '../../log/log-writer.js';
import type { Codec } from '../codec.js';
import { localMessageId } from '../message-ids.js';
import { encodeQueueItems, isBatchItem, type QueueBatchRef, type QueueBatchTarget, type SendOptions } from './queue-batch.js';
import { type BatchHandler, type ConsumeBatchOptions, type ConsumeOptions, type ConsumerLink, type GrantReceiver, type MessageHandler, QueueConsumer } from './queue-consumer.js';
import { type ProcessOptions, QueueProcess } from './queue-process.js';
import type { QueueDelivery } from './queue-delivery.js';
import {
  FREE_EXTENT_SEALED,
  type FreedExtent,
  jsonBytes,
  publishBytes,
  QueueRecord,
  type QueueOptions,
  type QueueStats,
  readConfirmed,
  settleBytes,
  type SettleBuffer,
  EXTENT_NONE,
  writeExtent,
  writePublish,
  writeSettle,
} from './queue-protocol.js';
import { EXTENT_BYTES_MAX } from '../../log/extent-allocator.js';

export type { BatchItem, SendOptions } from './queue-batch.js';

/** What a queue needs from its broker. */
export interface QueueHost {
  readonly runtime: ActorRuntime;
  readonly arena: Arena;
  readonly allocator: ExtentAllocator;
  nextConsumerId(): number;
  registerConsumer(queue: Queue, consumer: GrantReceiver): void;
  unregisterConsumer(consumer: GrantReceiver): void;
  assertOpen(): void;
  /** The queue is gone; resolves once its recorded options (a data directory's) are forgotten too. */
  deleted(queue: Queue): Promise<void> | undefined;
  consumerError(queue: Queue, error: unknown, message: QueueDelivery | undefined): void;
}

/** Publishes wait this long for their confirm before failing (the actor is restarting, or stuck). */
const PUBLISH_TIMEOUT_MS = 60_000;
/** Settle entries per SETTLE record (24 bytes each). */
const SETTLE_ENTRIES_PER_RECORD = 4096;

/** The ids of a `sendBatch`, made into text only when read. */
class SentIds {
  readonly #items: readonly unknown[];
  readonly #batches: readonly QueueBatchRef[];
  #ids: string[] | null = null;

  constructor(items: readonly unknown[], batches: readonly QueueBatchRef[]) {
    this.#items = items;
    this.#batches = batches;
  }

  get ids(): string[] {
    if (this.#ids === null) {
      const ids = new Array<string>(this.#items.length);
      let item = 0;
      for (const batch of this.#batches) {
        for (let i = 0; i < batch.count; i++, item++) {
          const given = this.#items[item];
          ids[item] = isBatchItem(given) && typeof given.id === 'string' ? given.id : localMessageId(batch.idBase + i);
        }
      }
      this.#ids = ids;
    }
    return this.#ids;
  }

  toJSON(): { ids: string[] } {
    return { ids: this.ids };
  }
}

function sentIds(items: readonly unknown[], batches: readonly QueueBatchRef[]): SentIds {
  return new SentIds(items, batches);
}

/** The id of a `send`: its own, or the generated one. A plain object (it prints and spreads as one). */
function sentId(items: readonly unknown[], batches: readonly QueueBatchRef[]): { id: string } {
  const item = items[0] as { id?: unknown };
  return { id: typeof item.id === 'string' ? item.id : localMessageId(batches[0]!.idBase) };
}

const NO_OPTIONS: SendOptions = Object.freeze({});

export class Queue implements QueueBatchTarget {
  readonly name: string;
  readonly actorId: string;
  readonly options: Readonly<QueueOptions>;
  readonly codec: Codec;
  readonly arena: Arena;
  readonly writer: LogWriter;
  readonly #table: ExtentTableWriter;
  readonly #host: QueueHost;
  readonly #consumers = new Set<GrantReceiver>();
  readonly #link: ConsumerLink;
  #deleted = false;

  constructor(name: string, options: QueueOptions, codec: Codec, host: QueueHost) {
    this.name = name;
    this.actorId = `queue:${name}`;
    this.options = Object.freeze({ ...options });
    this.codec = codec;
    this.arena = host.arena;
    this.#host = host;
    this.#table = new ExtentTableWriter(host.arena, host.allocator);
    this.writer = new LogWriter(host.arena, host.allocator, this.#table);
    this.#link = {
      arena: host.arena,
      subscribe: async (consumer) => {
        await this.#request(QueueRecord.SUBSCRIBE, { consumer: consumer.id, prefetch: consumer.prefetch, ack: consumer.ack });
      },
      pause: async (consumerId) => {
        await this.#request(QueueRecord.PAUSE, { consumer: consumerId });
      },
      cancel: async (consumerId) => {
        await this.#request(QueueRecord.CANCEL, { consumer: consumerId });
      },
      settle: (consumerId: number, settles: SettleBuffer) => {
        if (this.#deleted) return;
        for (let first = 0; first < settles.length; first += SETTLE_ENTRIES_PER_RECORD) {
          const n = Math.min(SETTLE_ENTRIES_PER_RECORD, settles.length - first);
          this.#host.runtime.sendWith(this.actorId, QueueRecord.SETTLE, settleBytes(n), (bytes, at) => writeSettle(bytes, at, consumerId, settles, first, n));
        }
      },
    };
  }

  /** The queue's extents and table go back to the arena (its actor could not be declared). */
  discard(): void {
    this.#deleted = true;
    this.writer.freeAll(this.#table.addresses());
    this.#table.destroy();
  }

  get maxPriority(): number {
    return this.options.maxPriority;
  }

  /** Arena address of the extent table, for the actor's declaration. */
  get tableHeader(): number {
    return this.#table.header;
  }

  /** Publishes one message; resolves once confirmed (durable: appended, and fsynced under 'always'). */
  send(body: unknown, options: SendOptions = NO_OPTIONS): Promise<{ id: string }> {
    return this.#publish([options === NO_OPTIONS ? { body } : { ...options, body }], sentId);
  }

  /**
   * Publishes messages, any number of them, with one confirm: all or none. An item is a body, or
   * `{ body, ...sendOptions }` (an object with a `body` key is read as such).
   */
  sendBatch(items: readonly unknown[]): Promise<{ ids: string[] }> {
    if (!Array.isArray(items)) return Promise.reject(new InvalidArgumentError('sendBatch takes an array of bodies or { body, ...options }'));
    if (items.length === 0) return Promise.resolve({ ids: [] });
    return this.#publish(items, sentIds);
  }

  consume(handler: MessageHandler, options: ConsumeOptions = {}): QueueConsumer {
    return this.#consumer({ each: handler }, options);
  }

  /**
   * Consumes in batches: `handler` gets up to `maxBatch` messages at once; they are acked when it
   * resolves, requeued when it throws (or settled one by one with msg.ack()/nack() inside it).
   */
  consumeBatch(handler: BatchHandler, options: ConsumeBatchOptions = {}): QueueConsumer {
    const maxBatch = options.maxBatch ?? 500;
    if (!Number.isInteger(maxBatch) || maxBatch < 1 || maxBatch > 65_535) throw new InvalidArgumentError(`maxBatch must be an integer 1 .. 65535, got ${maxBatch}`);
    return this.#consumer({ batch: handler, maxBatch }, { prefetch: options.prefetch ?? Math.min(65_535, maxBatch * 2), ack: 'auto' });
  }

  #consumer(handlers: { each: MessageHandler } | { batch: BatchHandler; maxBatch: number }, options: ConsumeOptions): QueueConsumer {
    this.#host.assertOpen();
    const consumer = new QueueConsumer(this.#host.nextConsumerId(), handlers, options, this.codec, this.#link, (error, message) => this.#host.consumerError(this, error, message));
    this.#register(consumer);
    return consumer;
  }

  #register(consumer: GrantReceiver): void {
    this.#consumers.add(consumer);
    this.#host.registerConsumer(this, consumer);
    void this.#link.subscribe(consumer).catch((error: unknown) => this.#host.consumerError(this, error, undefined));
    void consumer.closed.then(() => {
      this.#consumers.delete(consumer);
      this.#host.unregisterConsumer(consumer);
    });
  }

  /**
   * Runs the handler on threads of its own (CPU-heavy work): `handler` is the URL (or path) of a
   * module whose default export takes a message as `consume` handlers do (`msg.id`, `msg.body`
   * decoded by the queue's codec, `msg.headers`, `msg.priority`, `msg.deliveryCount`, ...). The
   * threads read messages in place in the broker's memory; a message is acked when its handler
   * returns or resolves, nacked (requeued, so `maxDeliveries` applies) when it throws or its
   * thread dies. Closing the returned consumer ends the threads.
   */
  process(handler: URL | string, options: ProcessOptions = {}): QueueProcess {
    this.#host.assertOpen();
    const consumer = new QueueProcess(this.#host.nextConsumerId(), handler, options, this.codec.name, this.#link, (error) => this.#host.consumerError(this, error, undefined));
    this.#register(consumer);
    return consumer;
  }

  /** Messages as an async iterator, with manual acks (call `msg.ack()`); breaking out closes the consumer. */
  async *messages(options: { prefetch?: number } = {}): AsyncGenerator<QueueDelivery> {
    const buffered: QueueDelivery[] = [];
    let wake: (() => void) | null = null;
    const consumer = this.consume(
      (message) => {
        buffered.push(message);
        wake?.();
      },
      { ack: 'manual', prefetch: options.prefetch ?? 100, concurrency: 65_535 },
    );
    try {
      for (;;) {
        while (buffered.length === 0 && consumer.state === 'consuming') await new Promise<void>((resolve) => (wake = resolve));
        wake = null;
        const next = buffered.shift();
        if (next === undefined) return;
        yield next;
      }
    } finally {
      await consumer.close();
    }
  }

  async purge(): Promise<{ purged: number }> {
    return (await this.#request(QueueRecord.PURGE, null)) as { purged: number };
  }

  async stats(): Promise<QueueStats> {
    return (await this.#request(QueueRecord.STATS, null)) as QueueStats;
  }

  /** Deletes the queue and its messages; its consumers are closed. */
  async delete(): Promise<{ deleted: number }> {
    for (const consumer of [...this.#consumers]) await consumer.close();
    const result = (await this.#request(QueueRecord.DELETE, null)) as { deleted: number };
    await this.#host.runtime.stop(this.actorId);
    this.discard();
    await this.#host.deleted(this);
    return result;
  }

  /** Called by the broker when the queue actor restarted: consumers subscribe again. */
  async restarted(): Promise<void> {
    for (const consumer of this.#consumers) await consumer.queueRestarted();
  }

  /** EXTENT_REQUEST from the actor (a durable queue reading batches back): an extent, or EXTENT_NONE. */
  giveExtent(bytes: number, requestId: number): void {
    if (this.#deleted) return;
    const extent = bytes <= EXTENT_BYTES_MAX ? this.writer.allocateSealed(bytes) : null;
    this.#host.runtime.sendWith(this.actorId, QueueRecord.EXTENT, 8, (out, at) => writeExtent(out, at, extent?.address ?? EXTENT_NONE, extent?.generation ?? 0), requestId);
  }

  /** FREE_EXTENT from the actor: extents whose batches are all settled. */
  freeExtents(extents: readonly FreedExtent[]): void {
    if (this.#deleted) return;
    for (const { address, generation, fill } of extents) this.writer.freeExtent(address, generation, fill === FREE_EXTENT_SEALED ? -1 : fill);
  }

  /**
   * Encodes `items` and sends the actor one PUBLISH naming their batches; resolves with
   * `result(items, batches)` once confirmed. Not an async function: a lone send's round trip
   * makes one promise chain, not one per layer.
   */
  #publish<T>(items: readonly unknown[], result: (items: readonly unknown[], batches: readonly QueueBatchRef[]) => T): Promise<T> {
    let batches: QueueBatchRef[];
    let sealed: readonly { address: number; generation: number }[];
    try {
      this.#host.assertOpen();
      // Its extents and table went back to the arena with it: nothing may be written there.
      if (this.#deleted) throw new NotFoundError(`queue "${this.name}" was deleted; declare it again`);
      batches = encodeQueueItems(this, items, Date.now());
      sealed = this.writer.takeSealed();
    } catch (error) {
      return Promise.reject(error as Error);
    }
    const confirmed = this.#host.runtime.requestWith(this.actorId, QueueRecord.PUBLISH, publishBytes(batches.length, sealed.length), (bytes, at) => writePublish(bytes, at, batches, sealed), {
      timeoutMs: PUBLISH_TIMEOUT_MS,
      // Every publish wakes a napping host (a notify only when it naps): a producer waits for the
      // confirm, and a nap of up to 0.3 ms per publish held a window of 4 sendBatch(1,000) below
      // what the notify costs (64 B raw, 1 consumer: ~1.7 -> ~1.9 M msgs/s on 2 cores).
      urgent: true,
    });
    return confirmed.then((reply) => {
      if (reply.type !== QueueRecord.CONFIRMED) throw resultError(reply.payload);
      readConfirmed(reply.payload);
      return result(items, batches);
    });
  }

  async #request(type: number, body: unknown): Promise<unknown> {
    this.#host.assertOpen();
    const payload = body === null ? new Uint8Array(0) : jsonBytes(body);
    const reply = await this.#host.runtime.request(this.actorId, type, payload, { replyType: QueueRecord.RESULT, timeoutMs: 60_000 });
    const result = JSON.parse(new TextDecoder().decode(reply.payload)) as { ok: true; value: unknown } | { ok: false; error: SerializedError };
    if (!result.ok) throw deserializeError(result.error);
    return result.value;
  }
}

function resultError(payload: Uint8Array): Error {
  const result = JSON.parse(new TextDecoder().decode(payload)) as { ok: boolean; error?: SerializedError };
  return result.error === undefined ? new Error('the queue answered a publish with no confirm') : deserializeError(result.error);
}
