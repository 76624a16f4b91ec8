/**
 * `Queue`: point-to-point with competing consumers, on the broker's thread. Each queue is an
 * actor (`queue:<name>`); this class turns API calls into records to it and back.
 */
import { Piscina } from 'piscina';
import type { ActorRuntime } from '../actor/actor-runtime.js';
import { deserializeError, InvalidArgumentError, type SerializedError } from '../errors.js';
import type { Codec } from './codec.js';
import { localMessageId, nextMessageSequence } from './message-ids.js';
import { encodedQueueMessageBytes, type QueueMessage, writeQueueMessage } from './queue-message.js';
import { type ConsumeOptions, type ConsumerLink, type MessageHandler, QueueConsumer, type QueueDelivery } from './queue-consumer.js';
import { type QueueOptions, QueueRecord, type QueueStats } from './queue-protocol.js';

export interface SendOptions {
  priority?: number;
  delayMs?: number;
  ttlMs?: number;
  headers?: Record<string, string>;
  id?: string;
  correlationId?: string;
  replyTo?: string;
}

export interface BatchItem extends SendOptions {
  body: unknown;
}

/** What a queue needs from its broker. */
export interface QueueHost {
  readonly runtime: ActorRuntime;
  nextConsumerId(): number;
  registerConsumer(queue: Queue, consumer: QueueConsumer): void;
  unregisterConsumer(consumer: QueueConsumer): void;
  assertOpen(): void;
  deleted(queue: Queue): void;
  consumerError(queue: Queue, error: unknown, message: QueueDelivery): void;
}

export class Queue {
  readonly name: string;
  readonly actorId: string;
  readonly options: Readonly<QueueOptions>;
  readonly codec: Codec;
  readonly #host: QueueHost;
  readonly #consumers = new Set<QueueConsumer>();

  constructor(name: string, options: QueueOptions, codec: Codec, host: QueueHost) {
    this.name = name;
    this.actorId = `queue:${name}`;
    this.options = Object.freeze({ ...options });
    this.codec = codec;
    this.#host = host;
  }

  /** Publishes one message; resolves once confirmed (with a log: appended, and fsynced under 'always'). */
  async send(body: unknown, options: SendOptions = {}): Promise<{ id: string }> {
    const [message] = this.#messages([{ ...options, body }]);
    await this.#publish([message!]);
    return { id: message!.id };
  }

  /**
   * Publishes messages with one confirm for the batch: all or none. An item is a body, or
   * `{ body, ...sendOptions }` (an object with a `body` key is read as such).
   */
  async sendBatch(items: readonly unknown[]): Promise<{ ids: string[] }> {
    if (!Array.isArray(items)) throw new InvalidArgumentError('sendBatch takes an array of bodies or { body, ...options }');
    const messages = this.#messages(items);
    if (messages.length > 0) await this.#publish(messages);
    const ids = new Array<string>(messages.length);
    for (let i = 0; i < messages.length; i++) ids[i] = messages[i]!.id;
    return { ids };
  }

  consume(handler: MessageHandler, options: ConsumeOptions = {}): QueueConsumer {
    this.#host.assertOpen();
    const consumer = new QueueConsumer(this.#host.nextConsumerId(), handler, options, this.codec, this.#link, (error, message) => this.#host.consumerError(this, error, message));
    this.#consumers.add(consumer);
    this.#host.registerConsumer(this, consumer);
    void this.#subscribe(consumer).catch((error: unknown) => this.#host.consumerError(this, error, undefined as never));
    void consumer.closed.then(() => {
      this.#consumers.delete(consumer);
      this.#host.unregisterConsumer(consumer);
    });
    return consumer;
  }

  /**
   * Runs a CPU-heavy handler in a piscina pool: `handler` is the URL (or path) of a module whose
   * default export takes `{ id, body, headers, priority, deliveryCount, redelivered }` (the body
   * decoded by the queue's codec, so it must survive structured clone). A delivery is acked when
   * its task resolves and nacked (requeued, so `maxDeliveries` applies) when it throws or its
   * thread dies. Closing the returned consumer also destroys the pool.
   */
  process(handler: URL | string, options: { threads?: number; concurrency?: number; prefetch?: number } = {}): QueueConsumer {
    const threads = options.threads ?? 2;
    if (!Number.isInteger(threads) || threads < 1 || threads > 256) throw new InvalidArgumentError(`threads must be an integer 1 .. 256, got ${threads}`);
    const filename = handler instanceof URL ? handler.href : String(handler);
    const pool = new Piscina({ filename, minThreads: 1, maxThreads: threads, idleTimeout: 1000 });
    const concurrency = options.concurrency ?? threads;
    const consumer = this.consume(
      (message) =>
        pool.run({ id: message.id, body: message.body, headers: message.headers, priority: message.priority, deliveryCount: message.deliveryCount, redelivered: message.redelivered }),
      { ack: 'auto', concurrency, prefetch: options.prefetch ?? Math.max(concurrency * 2, 16) },
    );
    void consumer.closed.then(() => pool.destroy());
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
    return (await this.#request(QueueRecord.PURGE, new Uint8Array(0))) as { purged: number };
  }

  async stats(): Promise<QueueStats> {
    return (await this.#request(QueueRecord.STATS, new Uint8Array(0))) as QueueStats;
  }

  /** Deletes the queue and its messages; its consumers are closed. */
  async delete(): Promise<{ deleted: number }> {
    for (const consumer of [...this.#consumers]) await consumer.close();
    const result = (await this.#request(QueueRecord.DELETE, new Uint8Array(0))) as { deleted: number };
    await this.#host.runtime.stop(this.actorId);
    this.#host.deleted(this);
    return result;
  }

  /** Called by the broker when the queue actor restarted: consumers subscribe again. */
  async restarted(): Promise<void> {
    for (const consumer of this.#consumers) await consumer.queueRestarted();
  }

  readonly #link: ConsumerLink = {
    settle: (consumerId, how, tags, delayMs) => {
      const payload = new Uint8Array(17 + 8 * tags.length);
      const view = new DataView(payload.buffer);
      payload[0] = how;
      view.setUint32(1, consumerId, true);
      view.setFloat64(5, delayMs, true);
      view.setUint32(13, tags.length, true);
      tags.forEach((tag, i) => view.setFloat64(17 + 8 * i, tag, true));
      void this.#host.runtime.send(this.actorId, QueueRecord.SETTLE, payload).catch(() => undefined);
    },
    cancel: async (consumerId) => {
      await this.#request(QueueRecord.CANCEL, jsonBytes({ consumer: consumerId }));
    },
    resubscribe: (consumer) => this.#subscribe(consumer),
  };

  async #subscribe(consumer: QueueConsumer): Promise<void> {
    await this.#request(QueueRecord.SUBSCRIBE, jsonBytes({ consumer: consumer.id, prefetch: consumer.prefetch, ack: consumer.ack }));
  }

  async #publish(messages: QueueMessage[]): Promise<void> {
    let bytes = 4;
    for (const message of messages) bytes += encodedQueueMessageBytes(message);
    const payload = new Uint8Array(bytes);
    const view = new DataView(payload.buffer);
    view.setUint32(0, messages.length, true);
    let offset = 4;
    for (const message of messages) offset = writeQueueMessage(message, payload, offset, view);
    await this.#request(QueueRecord.PUBLISH, payload);
  }

  async #request(type: number, payload: Uint8Array): Promise<unknown> {
    this.#host.assertOpen();
    const reply = await this.#host.runtime.request(this.actorId, type, payload, { replyType: QueueRecord.RESULT, timeoutMs: 60_000 });
    const result = JSON.parse(new TextDecoder().decode(reply.payload)) as { ok: true; value: unknown } | { ok: false; error: SerializedError };
    if (!result.ok) throw deserializeError(result.error);
    return result.value;
  }

  /** Validates and encodes: every bad field is a typed error before anything is sent. Items are bodies or `{ body, ...options }`. */
  #messages(items: readonly unknown[]): QueueMessage[] {
    this.#host.assertOpen();
    const nowMs = Date.now();
    const messages = new Array<QueueMessage>(items.length);
    for (let i = 0; i < items.length; i++) {
      const item = items[i];
      messages[i] = isBatchItem(item) ? this.#message(item, nowMs) : plainMessage(this.codec.encode(item), nowMs);
    }
    return messages;
  }

  #message(item: BatchItem, nowMs: number): QueueMessage {
    const priority = item.priority ?? 0;
    if (!Number.isInteger(priority) || priority < 0 || priority > this.options.maxPriority) {
      throw new InvalidArgumentError(
        this.options.maxPriority === 0
          ? `queue "${this.name}" has no priorities (maxPriority 0): send without priority, or declare it with maxPriority`
          : `priority must be an integer 0 .. ${this.options.maxPriority} on queue "${this.name}", got ${priority}`,
      );
    }
    const delayMs = item.delayMs ?? 0;
    if (!(Number.isFinite(delayMs) && delayMs >= 0)) throw new InvalidArgumentError(`delayMs must be a finite number >= 0, got ${delayMs}`);
    const ttlMs = item.ttlMs;
    if (ttlMs !== undefined && !(Number.isFinite(ttlMs) && ttlMs > 0)) throw new InvalidArgumentError(`ttlMs must be a finite number > 0, got ${ttlMs}`);
    const headers = item.headers === undefined ? NO_HEADERS : validHeaders(item.headers);
    for (const key of ['id', 'correlationId', 'replyTo'] as const) {
      const value = item[key];
      if (value !== undefined && (typeof value !== 'string' || value.length === 0 || value.length > 1024)) {
        throw new InvalidArgumentError(`${key} must be a non-empty string of at most 1024 characters`);
      }
    }
    const generated = item.id === undefined ? nextMessageSequence() : undefined;
    const message: QueueMessage = {
      id: generated === undefined ? item.id! : localMessageId(generated),
      body: this.codec.encode(item.body),
      headers,
      priority,
      timestampMs: nowMs,
      expiresAtMs: ttlMs === undefined ? 0 : nowMs + ttlMs,
      notBeforeMs: delayMs > 0 ? nowMs + delayMs : 0,
      deliveries: 0,
    };
    if (generated !== undefined) message.idSequence = generated;
    if (item.correlationId !== undefined) message.correlationId = item.correlationId;
    if (item.replyTo !== undefined) message.replyTo = item.replyTo;
    return message;
  }
}

const NO_HEADERS: Record<string, string> = Object.freeze({}) as Record<string, string>;
/** Header names are u16-length strings on the wire, and a message has at most 65,535 of them. */
const HEADER_NAME_MAX = 1024;
const HEADERS_MAX = 65_535;

function plainMessage(body: Uint8Array, nowMs: number): QueueMessage {
  const idSequence = nextMessageSequence();
  return { id: localMessageId(idSequence), idSequence, body, headers: NO_HEADERS, priority: 0, timestampMs: nowMs, expiresAtMs: 0, notBeforeMs: 0, deliveries: 0 };
}

/** A copy of `headers` once each is checked: string names of at most 1024 characters, string values. */
function validHeaders(headers: unknown): Record<string, string> {
  if (headers === null || typeof headers !== 'object' || Array.isArray(headers)) throw new InvalidArgumentError('headers must be an object of string values');
  const copy: Record<string, string> = {};
  let count = 0;
  for (const [name, value] of Object.entries(headers)) {
    if (typeof value !== 'string') throw new InvalidArgumentError(`header ${JSON.stringify(name)} must be a string, got ${typeof value}`);
    if (name.length > HEADER_NAME_MAX) throw new InvalidArgumentError(`header names must be at most ${HEADER_NAME_MAX} characters, got ${name.length}`);
    if (++count > HEADERS_MAX) throw new InvalidArgumentError(`a message has at most ${HEADERS_MAX} headers`);
    copy[name] = value;
  }
  return copy;
}

function isBatchItem(item: unknown): item is BatchItem {
  return item !== null && typeof item === 'object' && !ArrayBuffer.isView(item) && Object.hasOwn(item, 'body');
}

function jsonBytes(value: unknown): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(value));
}
