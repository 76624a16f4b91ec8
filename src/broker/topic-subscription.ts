/**
 * Subscriptions to a topic, on the broker's thread.
 *
 * A subscription reads its partitions (all of them; in a group, those the group coordinator
 * assigns it) with one `PartitionReader` each. A reader pulls: it fetches up to FETCH_RECORDS_MAX
 * records / FETCH_BYTES_MAX bytes from its position and keeps exactly one fetch ahead while the
 * handler works through the batch it has, so at most two batches of a partition are on this
 * thread at once (the credit window), whatever the producers do. A fetch at the end of the
 * partition is parked by the partition actor (long poll) and answered as soon as records arrive.
 *
 * The handler is called one record at a time per partition, in offset order (order within a
 * partition is preserved); different partitions run concurrently. Positions (the next offset to
 * read) move after the handler resolves (`ack: 'auto'`) or at delivery (`ack: 'none'`); in a group
 * they are committed through the coordinator. A handler that throws is reported (the broker's
 * 'consumer-error' event) and the reader moves on: a topic is a log, not a queue, and one bad
 * record must not stop its partition.
 *
 * Lifecycle: 'active' -> 'closing' (readers stop after the record in hand; a group member commits
 * and hands its partitions over) -> 'closed'. Events: 'assigned' (partitions), 'revoked' (partitions).
 */
import { EventEmitter } from 'node:events';
import { ClosedError, InvalidArgumentError, InvalidNameError } from '../errors.js';
import type { Codec } from './codec.js';
import type { GroupCoordinator } from './group-coordinator.js';
import type { FetchResult, Topic, TopicHost } from './topic.js';
import type { FromSpec, TopicAckMode } from './topic-protocol.js';
import { KEY_STRING, TOMBSTONE, type TopicRecordData } from './topic-record.js';

export interface SubscribeOptions {
  /** Members of a group share the partitions; their positions are committed durably. */
  group?: string;
  /** Where to start a partition without a committed offset. Default 'earliest'. */
  from?: FromSpec;
  /** 'auto' (default): a position moves after the handler resolves; 'none': at delivery. */
  ack?: TopicAckMode;
}

export type TopicMessageHandler = (message: TopicMessage) => unknown;

/**
 * Thrown by a handler whose thread died with the record in hand (topic-process.ts): the reader
 * stops there without moving past the record, so the partition's next owner handles it again.
 */
export class HandlerThreadLostError extends Error {}

const decoder = new TextDecoder();
/** Pause before fetching again after a failed fetch (the partition actor restarting, most often). */
const FETCH_RETRY_MS = 20;
/** Actor ids become WAL log names, at most 200 bytes. */
const ACTOR_ID_BYTES_MAX = 200;

export class TopicMessage {
  readonly partition: number;
  readonly offset: number;
  /** As sent: a string key comes back a string, a Uint8Array key a Uint8Array; null without a key. */
  readonly key: string | Uint8Array | null;
  readonly timestamp: number;
  /** The raw payload. */
  readonly bytes: Uint8Array;
  readonly #record: TopicRecordData;
  readonly #codec: Codec;
  #headers: Record<string, string> | null = null;
  #body: unknown;
  #decoded = false;

  constructor(partition: number, record: TopicRecordData, codec: Codec) {
    this.partition = partition;
    this.offset = record.offset;
    this.key = record.key === null ? null : (record.flags & KEY_STRING) !== 0 ? decoder.decode(record.key) : record.key;
    this.timestamp = record.timestampMs;
    this.bytes = record.body;
    this.#record = record;
    this.#codec = codec;
  }

  get headers(): Record<string, string> {
    if (this.#headers === null) this.#headers = Object.fromEntries(this.#record.headers.map(([name, value]) => [name, decoder.decode(value)]));
    return this.#headers;
  }

  /** A tombstone: the record deletes its key (`topic.tombstone(key)`); its body is null. */
  get tombstone(): boolean {
    return (this.#record.flags & TOMBSTONE) !== 0;
  }

  /** The payload decoded by the topic's codec (on first use; a CodecError if it cannot be); null for a tombstone. */
  get body(): unknown {
    if (this.tombstone) return null;
    if (!this.#decoded) {
      this.#body = this.#codec.decode(this.bytes);
      this.#decoded = true;
    }
    return this.#body;
  }
}

export class TopicSubscription extends EventEmitter {
  readonly topic: Topic;
  readonly group: string | undefined;
  readonly ack: TopicAckMode;
  readonly from: FromSpec;
  /** Resolves once the subscription reads its first assignment from resolved positions. */
  readonly ready: Promise<void>;
  /** Resolves once the subscription is closed. Never rejects. */
  readonly closed: Promise<void>;
  #state: 'active' | 'closing' | 'closed' = 'active';
  readonly #handler: TopicMessageHandler;
  readonly #host: TopicHost;
  readonly #readers = new Map<number, PartitionReader>();
  readonly #coordinator: GroupCoordinator | null;
  #resolveClosed!: () => void;

  constructor(topic: Topic, options: SubscribeOptions, handler: TopicMessageHandler, host: TopicHost) {
    super();
    if (options === null || typeof options !== 'object') throw new InvalidArgumentError('subscribe options must be an object');
    for (const key of Object.keys(options)) {
      if (key !== 'group' && key !== 'from' && key !== 'ack') throw new InvalidArgumentError(`unknown subscribe option ${JSON.stringify(key)}`);
    }
    if (typeof handler !== 'function') throw new InvalidArgumentError('subscribe needs a handler function');
    const ack = options.ack ?? 'auto';
    if (ack !== 'auto' && ack !== 'none') throw new InvalidArgumentError(`ack must be 'auto' or 'none' on a topic, got ${JSON.stringify(ack)}`);
    this.from = checkFrom(options.from ?? 'earliest');
    if (options.group !== undefined) checkGroupName(topic.name, options.group);
    this.topic = topic;
    this.group = options.group;
    this.ack = ack;
    this.#handler = handler;
    this.#host = host;
    this.closed = new Promise((resolve) => (this.#resolveClosed = resolve));
    host.registerSubscription(this);
    if (options.group === undefined) {
      this.#coordinator = null;
      this.ready = Promise.all(Array.from({ length: topic.partitions }, (_, p) => this.assign(p, null))).then(() => undefined);
    } else {
      this.#coordinator = host.coordinator(topic, options.group);
      this.ready = this.#coordinator.join(this);
    }
    this.ready.catch((error: unknown) => host.consumerError(topic, error, this.group === undefined ? {} : { group: this.group }));
  }

  get state(): 'active' | 'closing' | 'closed' {
    return this.#state;
  }

  /** The partitions this subscription reads now, ascending. */
  get assignment(): number[] {
    return [...this.#readers.keys()].sort((a, b) => a - b);
  }

  /** Group members: makes the positions reached so far durable now (they are committed continuously anyway). */
  async commit(): Promise<void> {
    if (this.#state !== 'active') throw new ClosedError('the subscription is closed');
    await this.#coordinator?.flush();
  }

  /** Stops reading after the records in hand; a group member commits and hands its partitions over. */
  async close(): Promise<void> {
    if (this.#state !== 'active') return this.closed;
    this.#state = 'closing';
    await this.ready.catch(() => undefined);
    try {
      if (this.#coordinator !== null) await this.#coordinator.leave(this);
      else await Promise.all(this.assignment.map((p) => this.revoke(p)));
    } finally {
      // Closed even if the last commit failed (reported by the rejection): at least once, the
      // next member of the group starts from the last offset that was committed.
      this.#state = 'closed';
      this.#host.unregisterSubscription(this);
      this.#resolveClosed();
    }
    return this.closed;
  }

  /** Starts reading `partition` at `offset` (null: where `from` says). Resolves once its position is resolved. */
  assign(partition: number, offset: number | null): Promise<void> {
    if (this.#readers.has(partition)) return Promise.resolve();
    const reader = new PartitionReader(this.topic, partition, offset, this.from, this.ack, {
      handle: (message) => this.#handler(message),
      positioned: (p, next) => this.#coordinator?.position(p, next),
      error: (error, where) => this.#host.consumerError(this.topic, error, { ...where, ...(this.group === undefined ? {} : { group: this.group }) }),
    });
    this.#readers.set(partition, reader);
    this.emit('assigned', [partition]);
    return reader.started;
  }

  /** Stops reading `partition` once the record in hand is handled (its position then is final). */
  async revoke(partition: number): Promise<void> {
    const reader = this.#readers.get(partition);
    if (reader === undefined) return;
    await reader.stop();
    this.#readers.delete(partition);
    this.emit('revoked', [partition]);
  }

  /** The next offset to read in `partition` (-1 before it is resolved), or undefined if not assigned. */
  position(partition: number): number | undefined {
    return this.#readers.get(partition)?.position;
  }
}

interface ReaderCallbacks {
  handle(message: TopicMessage): unknown;
  positioned(partition: number, nextOffset: number): void;
  error(error: unknown, where: { partition: number; offset?: number }): void;
}

const STOPPED = Symbol('stopped');

class PartitionReader {
  readonly partition: number;
  /** The next offset to hand to the handler; -1 until resolved. */
  position = -1;
  readonly started: Promise<void>;
  readonly #topic: Topic;
  readonly #ack: TopicAckMode;
  readonly #callbacks: ReaderCallbacks;
  #stopping = false;
  #stopSignal!: (value: typeof STOPPED) => void;
  readonly #stopped: Promise<typeof STOPPED>;
  readonly #done: Promise<void>;

  constructor(topic: Topic, partition: number, offset: number | null, from: FromSpec, ack: TopicAckMode, callbacks: ReaderCallbacks) {
    this.#topic = topic;
    this.partition = partition;
    this.#ack = ack;
    this.#callbacks = callbacks;
    this.#stopped = new Promise((resolve) => (this.#stopSignal = resolve));
    let started!: () => void;
    this.started = new Promise((resolve) => (started = resolve));
    this.#done = this.#run(offset, from, started);
  }

  async stop(): Promise<void> {
    this.#stopping = true;
    this.#stopSignal(STOPPED);
    await this.#done;
  }

  async #run(offset: number | null, from: FromSpec, started: () => void): Promise<void> {
    try {
      const position = offset ?? (await this.#retrying(() => this.#resolve(from)));
      if (position === STOPPED) return;
      this.position = position;
    } finally {
      started();
    }
    let wanted = this.position;
    let pending = this.#topic.fetch(this.partition, wanted);
    while (!this.#stopping) {
      let batch: FetchResult | typeof STOPPED;
      try {
        batch = await Promise.race([pending, this.#stopped]);
      } catch (error) {
        if (this.#stopping) break;
        if (!isRetryable(error)) this.#callbacks.error(error, { partition: this.partition });
        await Promise.race([sleep(FETCH_RETRY_MS), this.#stopped]);
        pending = this.#topic.fetch(this.partition, wanted);
        continue;
      }
      if (batch === STOPPED) break;
      // Flow control: one fetch ahead while this batch is handled, never more.
      wanted = batch.nextOffset;
      pending = this.#topic.fetch(this.partition, wanted);
      if (await this.#deliver(batch)) break;
    }
    pending.catch(() => undefined);
  }

  /** Hands a batch to the handler in order; true if stopped on the way. */
  async #deliver(batch: FetchResult): Promise<boolean> {
    for (const record of batch.records) {
      if (this.#stopping) return true;
      // A fetch retried after a restart may overlap what was handled: deliver each offset once.
      if (record.offset < this.position) continue;
      const message = new TopicMessage(this.partition, record, this.#topic.codec);
      if (this.#ack === 'none') this.#advance(record.offset + 1);
      try {
        // A handler that returns no promise costs no microtask per record.
        const result = this.#callbacks.handle(message);
        if (result !== null && typeof result === 'object' && typeof (result as PromiseLike<unknown>).then === 'function') await result;
      } catch (error) {
        if (error instanceof HandlerThreadLostError) {
          // Not handled: the position stays at this record, and this reader reads no further.
          this.#stopping = true;
          return true;
        }
        this.#callbacks.error(error, { partition: this.partition, offset: record.offset });
      }
      this.#advance(record.offset + 1);
    }
    // Past gaps (compaction) and records retention deleted: the position follows the fetch.
    if (!this.#stopping) this.#advance(batch.nextOffset);
    return this.#stopping;
  }

  #advance(next: number): void {
    if (next <= this.position) return;
    this.position = next;
    this.#callbacks.positioned(this.partition, next);
  }

  async #resolve(from: FromSpec): Promise<number> {
    if (typeof from === 'object' && 'timestamp' in from) {
      const offsets = await this.#topic.offsets(this.partition, from.timestamp);
      return offsets.forTimestamp ?? offsets.next;
    }
    const offsets = await this.#topic.offsets(this.partition);
    if (from === 'earliest') return offsets.start;
    if (from === 'latest') return offsets.next;
    return Math.max(from.offset, offsets.start);
  }

  async #retrying<T>(work: () => Promise<T>): Promise<T | typeof STOPPED> {
    for (;;) {
      if (this.#stopping) return STOPPED;
      try {
        return await work();
      } catch (error) {
        if (error instanceof ClosedError) return STOPPED;
        if (!isRetryable(error)) this.#callbacks.error(error, { partition: this.partition });
        await Promise.race([sleep(FETCH_RETRY_MS), this.#stopped]);
      }
    }
  }
}

/** A restart or a slow actor: fetch again. A closed broker ends the reader instead. */
function isRetryable(error: unknown): boolean {
  return (error as { code?: string }).code === 'BATON_NOT_FOUND';
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function checkFrom(from: unknown): FromSpec {
  if (from === 'earliest' || from === 'latest') return from;
  if (from !== null && typeof from === 'object') {
    const keys = Object.keys(from);
    const value = (from as Record<string, unknown>)[keys[0] ?? ''];
    if (keys.length === 1 && keys[0] === 'offset' && Number.isInteger(value) && (value as number) >= 0) return { offset: value as number };
    if (keys.length === 1 && keys[0] === 'timestamp' && Number.isFinite(value) && (value as number) >= 0) return { timestamp: value as number };
  }
  throw new InvalidArgumentError(`from must be 'earliest', 'latest', { offset: integer >= 0 } or { timestamp: ms >= 0 }, got ${safeJson(from)}`);
}

function checkGroupName(topic: string, group: unknown): void {
  const rule = 'group names are characters of [A-Za-z0-9._-], no "..", short enough that group:<topic>/<group> fits 200 bytes';
  if (typeof group !== 'string' || group.length === 0 || !/^[A-Za-z0-9._-]+$/.test(group) || group.includes('..') || `group:${topic}/${group}`.length > ACTOR_ID_BYTES_MAX) {
    throw new InvalidNameError(`group name ${safeJson(group)} is not valid: ${rule}`);
  }
}

function safeJson(value: unknown): string {
  try {
    return String(JSON.stringify(value)).slice(0, 80);
  } catch {
    return typeof value;
  }
}
