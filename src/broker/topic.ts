/**
 * `Topic`: a partitioned, append-only log, on the broker's thread. Each partition is an actor
 * (`topic:<name>/<p>`, partition-actor.ts) placed by the runtime; this class turns API calls into
 * records to them and back.
 *
 * Partitioning: a record with a `key` goes to `partitionForKey(key, partitions)` (Kafka's
 * murmur2, so a key lands where a Kafka producer puts it); `partition` overrides it; keyless
 * records of `send` go round robin, and keyless records of one `sendBatch` stick to one partition
 * (the next batch moves on: Kafka's sticky partitioner), so a batch is one append where it can be.
 */
import { deserializeError, InvalidArgumentError, NotFoundError, type SerializedError } from '../errors.js';
import type { ActorRuntime } from '../actor/actor-runtime.js';
import type { Codec } from './codec.js';
import { keyBytes, partitionForKey } from './murmur2.js';
import { FETCH_BYTES_MAX, FETCH_RECORDS_MAX, FETCH_WAIT_MS, type PartitionOffsets, type TopicOptions, TopicRecord } from './topic-protocol.js';
import { decodeTopicRecords, encodeTopicRecords, KEY_PRESENT, KEY_STRING, TOMBSTONE, type TopicRecordData } from './topic-record.js';
import type { GroupCoordinator } from './group-coordinator.js';
import { type SubscribeOptions, TopicSubscription, type TopicMessageHandler } from './topic-subscription.js';
import { TopicProcess, type TopicProcessOptions } from './topic-process.js';

export interface TopicSendOptions {
  key?: string | Uint8Array;
  headers?: Record<string, string>;
  partition?: number;
}

export interface TopicBatchItem extends TopicSendOptions {
  body: unknown;
  /** No body: deletes `key` from a compacted topic (`topic.tombstone(key)`). */
  tombstone?: boolean;
}

export interface TopicSendResult {
  partition: number;
  offset: number;
}

/** What a topic needs from its broker. */
export interface TopicHost {
  readonly runtime: ActorRuntime;
  assertOpen(): void;
  coordinator(topic: Topic, group: string): GroupCoordinator;
  registerSubscription(subscription: TopicSubscription): void;
  unregisterSubscription(subscription: TopicSubscription): void;
  consumerError(topic: Topic, error: unknown, where: { partition?: number; offset?: number; group?: string }): void;
}

/** A RECORDS reply: the records from the offset asked, and where to fetch next. */
export interface FetchResult {
  nextOffset: number;
  records: TopicRecordData[];
}

const PRODUCE_TIMEOUT_MS = 60_000;
const encoder = new TextEncoder();

export class Topic {
  readonly name: string;
  readonly partitions: number;
  readonly options: Readonly<TopicOptions>;
  readonly codec: Codec;
  readonly #host: TopicHost;
  #nextPartition = 0;
  /** Per partition: rejects the requests in flight when its actor restarts (their answers will never come). */
  readonly #restarts: Array<{ promise: Promise<never>; reject: (error: Error) => void }>;

  constructor(name: string, options: TopicOptions, codec: Codec, host: TopicHost) {
    this.name = name;
    this.partitions = options.partitions;
    this.options = Object.freeze({ ...options });
    this.codec = codec;
    this.#host = host;
    this.#restarts = Array.from({ length: options.partitions }, () => restartSignal());
  }

  actorId(partition: number): string {
    return `topic:${this.name}/${partition}`;
  }

  /** Appends one record; resolves with its partition and offset once confirmed (appended, and fsynced under 'always'). */
  async send(body: unknown, options: TopicSendOptions = {}): Promise<TopicSendResult> {
    const [result] = await this.#produce([{ ...options, body }], false);
    return result!;
  }

  /**
   * Appends a tombstone for `key`: a record with no body, which deletes the key from a compacted
   * topic (compaction drops the key's older values, then the tombstone itself after
   * `tombstoneRetentionMs`). Readers see `msg.tombstone === true` and `msg.body === null`.
   */
  async tombstone(key: string | Uint8Array, options: Omit<TopicSendOptions, 'key'> = {}): Promise<TopicSendResult> {
    if (key === undefined || key === null) throw new InvalidArgumentError('a tombstone needs the key it deletes');
    const [result] = await this.#produce([{ ...options, key, body: null, tombstone: true }], false);
    return result!;
  }

  /**
   * Appends records, one append (one confirm) per partition they go to; resolves with each
   * record's partition and offset, in item order. An item is a body or `{ body, key?, headers?,
   * partition? }`. Per partition all or nothing; across partitions a failure of one leaves the
   * others appended (the promise rejects with the first error).
   */
  async sendBatch(items: readonly unknown[]): Promise<TopicSendResult[]> {
    if (!Array.isArray(items)) throw new InvalidArgumentError('sendBatch takes an array of bodies or { body, key?, headers?, partition? }');
    return this.#produce(items.map((item) => (isBatchItem(item) ? item : { body: item })), true);
  }

  subscribe(options: SubscribeOptions, handler: TopicMessageHandler): TopicSubscription;
  subscribe(handler: TopicMessageHandler): TopicSubscription;
  subscribe(optionsOrHandler: SubscribeOptions | TopicMessageHandler, maybeHandler?: TopicMessageHandler): TopicSubscription {
    this.#host.assertOpen();
    const [options, handler] = typeof optionsOrHandler === 'function' ? [{}, optionsOrHandler] : [optionsOrHandler ?? {}, maybeHandler];
    const subscription = new TopicSubscription(this, options, handler as TopicMessageHandler, this.#host);
    return subscription;
  }

  /**
   * A consumer group whose members each run `handler` (a module URL or path; its default export
   * gets `{ partition, offset, key, timestamp, body, headers }`) on a thread of their own. A
   * member whose thread dies leaves the group, its partitions move to the others (the records it
   * had in hand are handled again there), and a replacement thread joins. See topic-process.ts.
   */
  process(handler: URL | string, options: TopicProcessOptions): TopicProcess {
    this.#host.assertOpen();
    return new TopicProcess(handler, options, (subscribeOptions, memberHandler) => this.subscribe(subscribeOptions, memberHandler), (error) =>
      this.#host.consumerError(this, error, { group: options.group }),
    );
  }

  /** Start and next offset of a partition, and the first offset at or after `timestampMs`. */
  async offsets(partition: number, timestampMs?: number): Promise<PartitionOffsets> {
    this.#checkPartition(partition);
    const reply = await this.#request(partition, TopicRecord.OFFSETS, encoder.encode(JSON.stringify(timestampMs === undefined ? {} : { timestampMs })), TopicRecord.RESULT, 10_000);
    return parseResult(reply) as PartitionOffsets;
  }

  /** One fetch (long poll at the end of the partition). Used by subscriptions. */
  async fetch(partition: number, offset: number): Promise<FetchResult> {
    const payload = new Uint8Array(20);
    const view = new DataView(payload.buffer);
    view.setFloat64(0, offset, true);
    view.setUint32(8, FETCH_RECORDS_MAX, true);
    view.setUint32(12, FETCH_BYTES_MAX, true);
    view.setUint32(16, FETCH_WAIT_MS, true);
    const reply = await this.#request(partition, TopicRecord.FETCH, payload, TopicRecord.RECORDS, FETCH_WAIT_MS + 10_000);
    const replyView = new DataView(reply.buffer, reply.byteOffset, reply.byteLength);
    return { nextOffset: replyView.getFloat64(0, true), records: decodeTopicRecords(reply, 8) };
  }

  /** Called by the broker when a partition actor restarted: requests in flight to it fail (callers retry or report). */
  restarted(partition: number): void {
    const signal = this.#restarts[partition];
    if (signal === undefined) return;
    this.#restarts[partition] = restartSignal();
    signal.reject(new NotFoundError(`partition actor ${this.actorId(partition)} restarted before answering; a send in flight may or may not have been appended (send again: at least once)`));
  }

  async #produce(items: readonly TopicBatchItem[], sticky: boolean): Promise<TopicSendResult[]> {
    this.#host.assertOpen();
    const nowMs = Date.now();
    // Sticky: one partition for the keyless records of a batch, taken only if the batch has some.
    let stickyPartition: number | undefined;
    const keylessPartition = () => (stickyPartition ??= this.#nextPartition++ % this.partitions);
    const byPartition = new Map<number, { records: TopicRecordData[]; indexes: number[] }>();
    items.forEach((item, index) => {
      const partition = this.#partitionFor(item, sticky ? keylessPartition : undefined);
      const record = this.#record(item, nowMs);
      const group = byPartition.get(partition) ?? { records: [], indexes: [] };
      group.records.push(record);
      group.indexes.push(index);
      byPartition.set(partition, group);
    });
    const results: TopicSendResult[] = new Array(items.length);
    await Promise.all(
      [...byPartition].map(async ([partition, { records, indexes }]) => {
        const reply = await this.#request(partition, TopicRecord.PRODUCE, encodeTopicRecords(records), TopicRecord.RESULT, PRODUCE_TIMEOUT_MS);
        const { baseOffset } = parseResult(reply) as { baseOffset: number };
        indexes.forEach((index, i) => (results[index] = { partition, offset: baseOffset + i }));
      }),
    );
    return results;
  }

  #partitionFor(item: TopicBatchItem, keylessPartition: (() => number) | undefined): number {
    if (item.partition !== undefined) {
      this.#checkPartition(item.partition);
      return item.partition;
    }
    if (item.key !== undefined) return partitionForKey(checkKey(item.key), this.partitions);
    return keylessPartition?.() ?? this.#nextPartition++ % this.partitions;
  }

  /** Validates and encodes: every bad field is a typed error before anything is sent. */
  #record(item: TopicBatchItem, nowMs: number): TopicRecordData {
    const headers: Array<[string, Uint8Array]> = [];
    if (item.headers !== undefined) {
      if (item.headers === null || typeof item.headers !== 'object') throw new InvalidArgumentError('headers must be an object of strings');
      for (const [name, value] of Object.entries(item.headers)) {
        if (typeof value !== 'string') throw new InvalidArgumentError(`header ${JSON.stringify(name)} must be a string, got ${typeof value}`);
        headers.push([name, encoder.encode(value)]);
      }
    }
    const key = item.key === undefined ? null : keyBytes(checkKey(item.key));
    if (key === null && this.options.compact) {
      throw new InvalidArgumentError(`topic "${this.name}" is compacted: every record needs a key (compaction keeps the newest record per key)`);
    }
    return {
      offset: -1,
      timestampMs: nowMs,
      flags: (key === null ? 0 : KEY_PRESENT | (typeof item.key === 'string' ? KEY_STRING : 0)) | (item.tombstone === true ? TOMBSTONE : 0),
      key,
      body: item.tombstone === true ? new Uint8Array(0) : this.codec.encode(item.body),
      headers,
    };
  }

  #checkPartition(partition: unknown): asserts partition is number {
    if (!Number.isInteger(partition) || (partition as number) < 0 || (partition as number) >= this.partitions) {
      throw new InvalidArgumentError(`partition must be an integer 0 .. ${this.partitions - 1} on topic "${this.name}", got ${String(partition)}`);
    }
  }

  async #request(partition: number, type: number, payload: Uint8Array, replyType: number, timeoutMs: number): Promise<Uint8Array> {
    this.#host.assertOpen();
    const restarted = this.#restarts[partition]!.promise;
    const reply = await Promise.race([this.#host.runtime.request(this.actorId(partition), type, payload, { replyType, timeoutMs }), restarted]);
    return reply.payload;
  }
}

function restartSignal(): { promise: Promise<never>; reject: (error: Error) => void } {
  let reject!: (error: Error) => void;
  const promise = new Promise<never>((_, r) => (reject = r));
  promise.catch(() => undefined);
  return { promise, reject };
}

function checkKey(key: unknown): string | Uint8Array {
  if (typeof key !== 'string' && !(key instanceof Uint8Array)) throw new InvalidArgumentError(`key must be a string or a Uint8Array, got ${key === null ? 'null' : typeof key}`);
  return key;
}

function parseResult(payload: Uint8Array): unknown {
  const result = JSON.parse(new TextDecoder().decode(payload)) as { ok: true; value: unknown } | { ok: false; error: SerializedError };
  if (!result.ok) throw deserializeError(result.error);
  return result.value;
}

function isBatchItem(item: unknown): item is TopicBatchItem {
  return item !== null && typeof item === 'object' && !ArrayBuffer.isView(item) && Object.hasOwn(item, 'body');
}
