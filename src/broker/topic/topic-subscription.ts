/**
 * Subscriptions to a topic, on the broker's thread.
 *
 * A subscription reads its partitions (all of them; in a group, those the group coordinator
 * assigns it) with one `PartitionReader` each (partition-reader.ts), which hands runs of records
 * read in place to a sink. Here are the sinks of handlers on this thread:
 *
 * - one record at a time (`subscribe(options, handler)`): the handler is called in offset order
 *   per partition (partitions run concurrently); a handler that returns no promise costs no
 *   microtask; the position moves after it returns or resolves (`ack: 'auto'`) or at delivery
 *   (`ack: 'none'`);
 * - arrays of records (`subscribe({ batch: true, maxBatch? }, handler)`): up to `maxBatch`
 *   records of one partition per call, in offset order; positions move when the call resolves.
 *
 * A handler that throws is reported (the broker's 'consumer-error' event) and the reader moves
 * on: a topic is a log, not a queue, and one bad record must not stop its partition. Group
 * positions are committed through the coordinator (group-coordinator.ts), once per run.
 *
 * Lifecycle: 'active' -> 'closing' (readers stop after the records in hand; a group member
 * commits and hands its partitions over) -> 'closed'. Events: 'assigned' (partitions), 'revoked'
 * (partitions).
 */
import { EventEmitter } from 'node:events';
import type { Arena } from '../../log/arena.js';
import { ClosedError, InvalidArgumentError, InvalidNameError } from '../../errors.js';
import type { Codec } from '../codec.js';
import type { GroupCoordinator, GroupMember } from './group-coordinator.js';
import type { Partition } from './partition.js';
import { PartitionReader, type ReaderSink, type Run } from './partition-reader.js';
import { batchLength, recordEnd } from './topic-batch.js';
import { RunContext, TopicMessage } from './topic-message.js';
import type { FromSpec, TopicAckMode } from './topic-protocol.js';

export interface SubscribeOptions {
  /** Members of a group share the partitions; their positions are committed durably. */
  group?: string;
  /** Where to start a partition without a committed offset. Default 'earliest'. */
  from?: FromSpec;
  /** 'auto' (default): a position moves after the handler resolves; 'none': at delivery. */
  ack?: TopicAckMode;
  /** The handler gets arrays of records (of one partition, in offset order) instead of one record. */
  batch?: boolean;
  /** With `batch`: records per call at most, default 500. */
  maxBatch?: number;
}

export type TopicMessageHandler = (message: TopicMessage) => unknown;
export type TopicBatchHandler = (messages: TopicMessage[]) => unknown;

/** What a subscription needs from its topic and broker. */
export interface SubscriptionHost {
  readonly name: string;
  readonly partitions: number;
  partition(index: number): Partition;
  coordinator(group: string): GroupCoordinator;
  register(subscription: TopicSubscription): void;
  unregister(subscription: TopicSubscription): void;
  consumerError(error: unknown, where: { partition?: number; offset?: number; group?: string }): void;
}

/** Makes the sink of one partition's reader (handlers here, or a member thread). */
export type SinkFactory = (partition: Partition, subscription: TopicSubscription) => ReaderSink;

const SUBSCRIBE_OPTION_KEYS = new Set(['group', 'from', 'ack', 'batch', 'maxBatch']);
/** Actor ids become WAL log names, at most 200 bytes. */
const ACTOR_ID_BYTES_MAX = 200;
const MAX_BATCH_DEFAULT = 500;

export class TopicSubscription extends EventEmitter implements GroupMember {
  readonly topic: string;
  readonly group: string | undefined;
  readonly ack: TopicAckMode;
  readonly from: FromSpec;
  /** Resolves once the subscription reads its first assignment from resolved positions. */
  readonly ready: Promise<void>;
  /** Resolves once the subscription is closed. Never rejects. */
  readonly closed: Promise<void>;
  #state: 'active' | 'closing' | 'closed' = 'active';
  readonly #host: SubscriptionHost;
  readonly #sinkFor: SinkFactory;
  readonly #readers = new Map<number, PartitionReader>();
  readonly #coordinator: GroupCoordinator | null;
  #resolveClosed!: () => void;

  constructor(host: SubscriptionHost, options: SubscribeOptions, sinkFor: SinkFactory) {
    super();
    this.from = checkFrom(options.from ?? 'earliest');
    if (options.group !== undefined) checkGroupName(host.name, options.group);
    this.topic = host.name;
    this.group = options.group;
    this.ack = options.ack ?? 'auto';
    this.#host = host;
    this.#sinkFor = sinkFor;
    this.closed = new Promise((resolve) => (this.#resolveClosed = resolve));
    host.register(this);
    if (options.group === undefined) {
      this.#coordinator = null;
      this.ready = Promise.all(Array.from({ length: host.partitions }, (_, p) => this.assign(p, null))).then(() => undefined);
    } else {
      this.#coordinator = host.coordinator(options.group);
      this.ready = this.#coordinator.join(this);
    }
    this.ready.catch((error: unknown) => host.consumerError(error, this.group === undefined ? {} : { group: this.group }));
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
      this.#host.unregister(this);
      this.#resolveClosed();
    }
    return this.closed;
  }

  /** Starts reading `partition` at `offset` (null: where `from` says). Resolves once its position is resolved. */
  assign(partition: number, offset: number | null): Promise<void> {
    if (this.#readers.has(partition)) return Promise.resolve();
    const p = this.#host.partition(partition);
    const reader = new PartitionReader(p, offset, this.from, this.#sinkFor(p, this), {
      positioned: (index, next) => this.#coordinator?.position(index, next),
      error: (error, where) => this.#host.consumerError(error, { ...where, ...(this.group === undefined ? {} : { group: this.group }) }),
    });
    this.#readers.set(partition, reader);
    this.emit('assigned', [partition]);
    return reader.started;
  }

  /** Stops reading `partition` once the records in hand are handled (its position then is final). */
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

  /** A handler failed on `offset` (reported; the reader moves on). */
  handlerError(error: unknown, partition: number, offset: number): void {
    this.#host.consumerError(error, { partition, offset, ...(this.group === undefined ? {} : { group: this.group }) });
  }
}

/** Checks subscribe's options and handler; returns the sink factory of a handler on this thread. */
export function localSinks(options: SubscribeOptions, handler: unknown, codec: Codec, arena: Arena): SinkFactory {
  if (options === null || typeof options !== 'object') throw new InvalidArgumentError('subscribe options must be an object');
  for (const key of Object.keys(options)) {
    if (!SUBSCRIBE_OPTION_KEYS.has(key)) throw new InvalidArgumentError(`unknown subscribe option ${JSON.stringify(key)}`);
  }
  if (typeof handler !== 'function') throw new InvalidArgumentError('subscribe needs a handler function');
  const ack = options.ack ?? 'auto';
  if (ack !== 'auto' && ack !== 'none') throw new InvalidArgumentError(`ack must be 'auto' or 'none' on a topic, got ${JSON.stringify(ack)}`);
  if (options.batch !== undefined && typeof options.batch !== 'boolean') throw new InvalidArgumentError('batch must be a boolean');
  const maxBatch = options.maxBatch ?? MAX_BATCH_DEFAULT;
  if (options.maxBatch !== undefined && options.batch !== true) throw new InvalidArgumentError('maxBatch goes with batch: true');
  if (!Number.isInteger(maxBatch) || maxBatch < 1 || maxBatch > 65_535) throw new InvalidArgumentError(`maxBatch must be an integer 1 .. 65535, got ${String(maxBatch)}`);
  checkFrom(options.from ?? 'earliest');
  if (options.batch === true) return (partition, subscription) => new BatchSink(handler as TopicBatchHandler, ack, maxBatch, partition, codec, arena, subscription);
  return (partition, subscription) => new RecordSink(handler as TopicMessageHandler, ack, partition, codec, arena, subscription);
}

/** One record per handler call. */
class RecordSink implements ReaderSink {
  readonly window = 1;
  readonly #handler: TopicMessageHandler;
  readonly #ackNone: boolean;
  readonly #partition: number;
  readonly #codec: Codec;
  readonly #arena: Arena;
  readonly #subscription: TopicSubscription;

  constructor(handler: TopicMessageHandler, ack: TopicAckMode, partition: Partition, codec: Codec, arena: Arena, subscription: TopicSubscription) {
    this.#handler = handler;
    this.#ackNone = ack === 'none';
    this.#partition = partition.index;
    this.#codec = codec;
    this.#arena = arena;
    this.#subscription = subscription;
  }

  deliver(reader: PartitionReader, run: Run): void | Promise<void> {
    const arena = this.#arena;
    const context = new RunContext(this.#partition, run.timestampMs, this.#codec, arena, run.record, run.batch + batchLength(arena.u32, run.batch));
    return this.#from(reader, run, context, 0, run.record);
  }

  /** Records `i..` of the run, the first at `pos`; a promise from the first handler that returns one. */
  #from(reader: PartitionReader, run: Run, context: RunContext, i: number, pos: number): void | Promise<void> {
    const arena = this.#arena;
    const first = run.baseOffset + run.index;
    for (; i < run.count; i++) {
      if (reader.stopping) return;
      const offset = first + i;
      const message = new TopicMessage(context, offset, pos);
      pos = recordEnd(arena.u32, pos);
      if (this.#ackNone) reader.advance(offset + 1);
      let result: unknown;
      try {
        result = this.#handler(message);
      } catch (error) {
        this.#subscription.handlerError(error, this.#partition, offset);
        result = undefined;
      }
      if (result !== null && typeof result === 'object' && typeof (result as PromiseLike<unknown>).then === 'function') {
        return this.#then(result as PromiseLike<unknown>, message, reader, run, context, i, pos);
      }
      message.release();
      reader.advance(offset + 1);
    }
  }

  async #then(result: PromiseLike<unknown>, message: TopicMessage, reader: PartitionReader, run: Run, context: RunContext, i: number, pos: number): Promise<void> {
    try {
      await result;
    } catch (error) {
      this.#subscription.handlerError(error, this.#partition, message.offset);
    }
    message.release();
    reader.advance(message.offset + 1);
    return this.#from(reader, run, context, i + 1, pos);
  }
}

/** Arrays of up to `maxBatch` records per handler call. */
class BatchSink implements ReaderSink {
  readonly window = 1;
  readonly #handler: TopicBatchHandler;
  readonly #ackNone: boolean;
  readonly #maxBatch: number;
  readonly #partition: number;
  readonly #codec: Codec;
  readonly #arena: Arena;
  readonly #subscription: TopicSubscription;

  constructor(handler: TopicBatchHandler, ack: TopicAckMode, maxBatch: number, partition: Partition, codec: Codec, arena: Arena, subscription: TopicSubscription) {
    this.#handler = handler;
    this.#ackNone = ack === 'none';
    this.#maxBatch = maxBatch;
    this.#partition = partition.index;
    this.#codec = codec;
    this.#arena = arena;
    this.#subscription = subscription;
  }

  deliver(reader: PartitionReader, run: Run): void | Promise<void> {
    const arena = this.#arena;
    const context = new RunContext(this.#partition, run.timestampMs, this.#codec, arena, run.record, run.batch + batchLength(arena.u32, run.batch));
    return this.#from(reader, run, context, 0, run.record);
  }

  #from(reader: PartitionReader, run: Run, context: RunContext, i: number, pos: number): void | Promise<void> {
    const arena = this.#arena;
    const first = run.baseOffset + run.index;
    while (i < run.count && !reader.stopping) {
      const n = Math.min(this.#maxBatch, run.count - i);
      const messages = new Array<TopicMessage>(n);
      for (let k = 0; k < n; k++) {
        messages[k] = new TopicMessage(context, first + i + k, pos);
        pos = recordEnd(arena.u32, pos);
      }
      const end = first + i + n;
      if (this.#ackNone) reader.advance(end);
      let result: unknown;
      try {
        result = this.#handler(messages);
      } catch (error) {
        this.#subscription.handlerError(error, this.#partition, first + i);
        result = undefined;
      }
      i += n;
      if (result !== null && typeof result === 'object' && typeof (result as PromiseLike<unknown>).then === 'function') {
        return this.#then(result as PromiseLike<unknown>, messages, reader, run, context, i, pos);
      }
      for (const message of messages) message.release();
      reader.advance(end);
    }
  }

  async #then(result: PromiseLike<unknown>, messages: TopicMessage[], reader: PartitionReader, run: Run, context: RunContext, i: number, pos: number): Promise<void> {
    try {
      await result;
    } catch (error) {
      this.#subscription.handlerError(error, this.#partition, messages[0]!.offset);
    }
    for (const message of messages) message.release();
    reader.advance(messages[messages.length - 1]!.offset + 1);
    return this.#from(reader, run, context, i, pos);
  }
}

export function checkFrom(from: unknown): FromSpec {
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
