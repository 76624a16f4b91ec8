/**
 * `Topic`: a partitioned, append-only log, on the broker's thread, which is every partition's
 * only producer. A send encodes its records once, into the partition's extents of the arena
 * (topic-batch.ts), with the offsets this thread assigns; then (partition.ts):
 * - in memory, they are readable at once: the send resolves and the partition's readers on this
 *   thread are woken — no ring, no actor, no copy;
 * - logged (a dataDir, or a compacted topic), the partition actor is sent one PRODUCE naming the
 *   batches and appends them to its log from the arena; the send resolves once confirmed.
 *
 * Partitioning: a record with a `key` goes to `partitionForKey(key, partitions)` (Kafka's
 * murmur2, so a key lands where a Kafka producer puts it); `partition` overrides it; keyless
 * records of `send` go round robin, and keyless records of one `sendBatch` stick to one partition
 * (the next batch moves on: Kafka's sticky partitioner), so a batch is one append where it can be.
 */
import { performance } from 'node:perf_hooks';
import type { ActorRuntime } from '../../actor/actor-runtime.js';
import { InvalidArgumentError } from '../../errors.js';
import type { Arena } from '../../log/arena.js';
import type { ExtentAllocator } from '../../log/extent-allocator.js';
import type { Codec } from '../codec.js';
import { partitionForKey } from '../murmur2.js';
import type { GroupCoordinator } from './group-coordinator.js';
import { Partition, type PartitionHost } from './partition.js';
import { checkKey, encodeTopicRecords, isTopicBatchItem, type TopicBatchItem, type TopicBatchRef } from './topic-batch.js';
import { TopicProcess, type TopicProcessOptions } from './topic-process.js';
import type { PartitionOffsets, TopicOptions } from './topic-protocol.js';
import { localSinks, type SubscribeOptions, type SubscriptionHost, type TopicBatchHandler, type TopicMessageHandler, TopicSubscription } from './topic-subscription.js';

export type { TopicBatchItem } from './topic-batch.js';

/**
 * A memory topic's send resolves at once, so a producer looping on it would never let this
 * thread's event loop turn (timers, I/O, answers from member threads): after this long of
 * sends without a turn, a send resolves on the next turn instead.
 */
const PRODUCE_TURN_MS = 1;
/** When sends last let the event loop turn (per thread: every broker on it shares the loop). */
let lastTurnMs = 0;

export interface TopicSendOptions {
  key?: string | Uint8Array;
  headers?: Record<string, string>;
  partition?: number;
}

export interface TopicSendResult {
  partition: number;
  offset: number;
}

/** What a topic needs from its broker. */
export interface TopicHost {
  readonly runtime: ActorRuntime;
  readonly arena: Arena;
  readonly allocator: ExtentAllocator;
  /** The partitions are logs (a dataDir); compacted topics are logged in any case. */
  readonly durable: boolean;
  assertOpen(): void;
  coordinator(topic: Topic, group: string): GroupCoordinator;
  registerSubscription(subscription: TopicSubscription): void;
  unregisterSubscription(subscription: TopicSubscription): void;
  consumerError(topic: Topic, error: unknown, where: { partition?: number; offset?: number; group?: string }): void;
}

/** A send's records of one partition: items `order[0..count)` (null: all items, in order). */
interface PartitionRun {
  partition: Partition;
  order: number[] | null;
  count: number;
  refs: TopicBatchRef[];
  baseOffset: number;
}

export class Topic {
  readonly name: string;
  readonly partitions: number;
  readonly options: Readonly<TopicOptions>;
  readonly codec: Codec;
  /** Logged: each partition is its actor's log (a dataDir, or compaction); else the arena only. */
  readonly logged: boolean;
  readonly #host: TopicHost;
  readonly #partitions: Partition[];
  readonly #subscriptionHost: SubscriptionHost;
  #nextPartition = 0;
  #retentionTimer: NodeJS.Timeout | null = null;

  constructor(name: string, options: TopicOptions, codec: Codec, host: TopicHost) {
    this.name = name;
    this.partitions = options.partitions;
    this.options = Object.freeze({ ...options });
    this.codec = codec;
    this.logged = host.durable || options.compact;
    this.#host = host;
    const partitionHost: PartitionHost = { runtime: host.runtime, arena: host.arena, allocator: host.allocator, codec, options: this.options, logged: this.logged };
    this.#partitions = Array.from({ length: options.partitions }, (_, p) => new Partition(name, p, partitionHost));
    this.#subscriptionHost = {
      name,
      partitions: options.partitions,
      partition: (index) => this.#partitions[index]!,
      coordinator: (group) => host.coordinator(this, group),
      register: (subscription) => host.registerSubscription(subscription),
      unregister: (subscription) => host.unregisterSubscription(subscription),
      consumerError: (error, where) => host.consumerError(this, error, where),
    };
  }

  /** Learns where logged partitions end; starts the retention clock. */
  async start(): Promise<void> {
    await Promise.all(this.#partitions.map((partition) => partition.start()));
    const retentionMs = this.options.retentionMs;
    if (retentionMs !== undefined) {
      // Time retention frees extents on a clock too, not only when a send comes.
      this.#retentionTimer = setInterval(() => {
        const nowMs = Date.now();
        for (const partition of this.#partitions) partition.trim(nowMs);
      }, Math.min(1000, Math.max(10, Math.floor(retentionMs / 2))));
      this.#retentionTimer.unref();
    }
  }

  actorId(partition: number): string {
    return `topic:${this.name}/${partition}`;
  }

  /** Appends one record; resolves with its partition and offset (logged: once confirmed, fsynced under 'always'). */
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
   * Appends records; resolves with each record's partition and offset, in item order. An item is
   * a body or `{ body, key?, headers?, partition? }`. All or nothing: every item is checked and
   * encoded before any is appended (a bad one rejects the call and appends none); logged, one
   * PRODUCE (one append, one confirm) per partition, and a storage failure of one partition
   * rejects the call while the others are appended.
   */
  async sendBatch(items: readonly unknown[]): Promise<TopicSendResult[]> {
    if (!Array.isArray(items)) throw new InvalidArgumentError('sendBatch takes an array of bodies or { body, key?, headers?, partition? }');
    return this.#produce(items, true);
  }

  subscribe(options: SubscribeOptions & { batch: true }, handler: TopicBatchHandler): TopicSubscription;
  subscribe(options: SubscribeOptions, handler: TopicMessageHandler): TopicSubscription;
  subscribe(handler: TopicMessageHandler): TopicSubscription;
  subscribe(optionsOrHandler: SubscribeOptions | TopicMessageHandler, maybeHandler?: TopicMessageHandler | TopicBatchHandler): TopicSubscription {
    this.#host.assertOpen();
    const [options, handler] = typeof optionsOrHandler === 'function' ? [{}, optionsOrHandler] : [optionsOrHandler ?? {}, maybeHandler];
    const sinks = localSinks(options, handler, this.codec, this.#host.arena);
    return new TopicSubscription(this.#subscriptionHost, options, sinks);
  }

  /**
   * A consumer group whose members each run `handler` (a module URL or path; its default export
   * gets `{ partition, offset, key, timestamp, body, headers }`) on a thread of their own, reading
   * the records in place in the arena. A member whose thread dies leaves the group, its
   * partitions move to the others (the records it had in hand are handled again there), and a
   * replacement thread joins. See topic-process.ts.
   */
  process(handler: URL | string, options: TopicProcessOptions): TopicProcess {
    this.#host.assertOpen();
    return new TopicProcess(handler, options, this.#subscriptionHost, { arena: this.#host.arena, codec: this.codec }, (error) => this.#host.consumerError(this, error, { group: options.group }));
  }

  /** Start and next offset of a partition, and the first offset at or after `timestampMs`. */
  async offsets(partition: number, timestampMs?: number): Promise<PartitionOffsets> {
    this.#host.assertOpen();
    this.#checkPartition(partition);
    return this.#partitions[partition]!.offsets(timestampMs);
  }

  /** Called by the broker when a partition actor restarted: its reads in flight fail (readers ask again). */
  restarted(partition: number): void {
    this.#partitions[partition]?.restarted();
  }

  /** The broker closes. */
  close(): void {
    if (this.#retentionTimer !== null) clearInterval(this.#retentionTimer);
    this.#retentionTimer = null;
    for (const partition of this.#partitions) partition.close();
  }

  async #produce(items: readonly unknown[], sticky: boolean): Promise<TopicSendResult[]> {
    this.#host.assertOpen();
    const n = items.length;
    if (n === 0) return [];
    const runs = this.#route(items, sticky);
    // A partition re-learning its offsets after a failed produce takes no records meanwhile.
    for (const run of runs) {
      const ready = run.partition.ready;
      if (ready !== null) await ready;
    }
    this.#host.assertOpen();
    const nowMs = Date.now();
    for (const run of runs) run.partition.writer.mark();
    try {
      for (const run of runs) {
        run.baseOffset = run.partition.nextOffset;
        encodeTopicRecords({ topic: this.name, arena: this.#host.arena, writer: run.partition.writer, codec: this.codec }, items, run.order, run.count, run.baseOffset, nowMs, run.refs);
      }
    } catch (error) {
      for (const run of runs) run.partition.writer.rollback();
      throw error;
    }
    const confirms: Promise<void>[] = [];
    for (const run of runs) {
      run.partition.writer.commit();
      run.partition.nextOffset = run.baseOffset + run.count;
      const confirmed = run.partition.appended(run.refs, nowMs);
      if (confirmed !== null) confirms.push(confirmed);
    }
    const results = new Array<TopicSendResult>(n);
    for (const run of runs) {
      const partition = run.partition.index;
      const base = run.baseOffset;
      if (run.order === null) for (let i = 0; i < n; i++) results[i] = { partition, offset: base + i };
      else for (let i = 0; i < run.count; i++) results[run.order[i]!] = { partition, offset: base + i };
    }
    if (confirms.length === 1) await confirms[0];
    else if (confirms.length > 1) await Promise.all(confirms);
    else if (performance.now() - lastTurnMs > PRODUCE_TURN_MS) {
      await new Promise<void>((resolve) => setImmediate(resolve));
      lastTurnMs = performance.now();
    }
    return results;
  }

  /** Which partition each item goes to (checking partitions and keys): one run per partition touched. */
  #route(items: readonly unknown[], sticky: boolean): PartitionRun[] {
    const n = items.length;
    const compact = this.options.compact;
    // Sticky: one partition for the keyless records of a batch, taken only if the batch has some.
    let keyless = -1;
    let first = -1;
    let byPartition: number[][] | null = null;
    for (let i = 0; i < n; i++) {
      const item = items[i];
      let p: number;
      if (isTopicBatchItem(item)) p = this.#partitionOf(item, sticky ? keyless : -1);
      else {
        if (compact) this.#keyless();
        p = -1;
      }
      if (p < 0) {
        if (!sticky || keyless < 0) p = this.#nextPartition++ % this.partitions;
        else p = keyless;
        if (sticky) keyless = p;
      }
      if (i === 0) first = p;
      else if (p !== first && byPartition === null) {
        byPartition = Array.from({ length: this.partitions }, () => []);
        for (let k = 0; k < i; k++) byPartition[first]!.push(k);
      }
      if (byPartition !== null) byPartition[p]!.push(i);
    }
    if (byPartition === null) return [{ partition: this.#partitions[first]!, order: null, count: n, refs: [], baseOffset: 0 }];
    const runs: PartitionRun[] = [];
    byPartition.forEach((order, p) => {
      if (order.length > 0) runs.push({ partition: this.#partitions[p]!, order, count: order.length, refs: [], baseOffset: 0 });
    });
    return runs;
  }

  /** The partition an item names or its key gives; -1: keyless (the caller picks). */
  #partitionOf(item: TopicBatchItem, _keyless: number): number {
    if (item.partition !== undefined) {
      this.#checkPartition(item.partition);
      if (item.key !== undefined) checkKey(item.key);
      else if (this.options.compact) this.#keyless();
      return item.partition;
    }
    if (item.key !== undefined) return partitionForKey(checkKey(item.key), this.partitions);
    if (this.options.compact) this.#keyless();
    return -1;
  }

  #keyless(): never {
    throw new InvalidArgumentError(`topic "${this.name}" is compacted: every record needs a key (compaction keeps the newest record per key)`);
  }

  #checkPartition(partition: unknown): asserts partition is number {
    if (!Number.isInteger(partition) || (partition as number) < 0 || (partition as number) >= this.partitions) {
      throw new InvalidArgumentError(`partition must be an integer 0 .. ${this.partitions - 1} on topic "${this.name}", got ${String(partition)}`);
    }
  }
}
