/**
 * `Broker`: what users program against (docs/api.md). It starts the actor runtime (supervisor,
 * hosts, storage threads) and turns queues into actors on it. Events:
 *   'restart'      { actor, reason, attempt }   an actor was restarted by its supervisor
 *   'dead-letter'  { queue, id, reason }         a message left a queue for its dead-letter queue
 *   'dead-letter-failed' { queue, ids, reason, error }  the dead-letter queue refused them: they stay, parked, and are offered again
 *   'actor-stopped'{ actor, reason }            intensity exceeded: the actor was stopped
 *   'consumer-error' { queue, error, id }        an `ack: 'auto'` handler threw (the message was requeued)
 *   'consumer-error' { topic, error, partition?, offset?, group? }  a topic handler threw (the reader moved on) or a commit failed
 *   'unroutable'   { exchange, routingKey }      a publish matched no bound destination
 */
import { EventEmitter } from 'node:events';
import { ActorRuntime, type RuntimeEvent } from '../actor/actor-runtime.js';
import type { RuntimeOptions } from '../actor/runtime-options.js';
import type { RuntimeStats } from '../actor/runtime-protocol.js';
import { ClosedError, InvalidArgumentError, QueueMismatchError } from '../errors.js';
import { ExtentAllocator } from '../log/extent-allocator.js';
import { compiledFileUrl } from '../threads/worker-file.js';
import { NodeFileLayer } from '../wal/file-layer.js';
import { type CodecName, getCodec } from './codec.js';
import { DeclarationStore } from './declaration-store.js';
import { type DeclaredOptions, mismatchMessage } from './declared-options.js';
import { validateDestinationName } from './names.js';
import { Exchange, type ExchangeHost, fetchBindings } from './exchange/exchange.js';
import type { ExchangeActorOptions } from './exchange/exchange-actor.js';
import { EXCHANGE_TYPES, type ExchangeType } from './exchange/exchange-routing.js';
import { Queue, type QueueHost } from './queue/queue.js';
import type { QueueActorDeclaration } from './queue/queue-actor.js';
import { recordBodyBytes, recordBodyStart, readExtensions, QB_PRIORITY, messageId } from './queue/queue-batch.js';
import type { GrantReceiver } from './queue/queue-consumer.js';
import type { QueueDelivery } from './queue/queue-delivery.js';
import { deadLetteredBytes, type DeadLetterReason, type QueueOptions, QueueRecord, readDeadLetter, readExtentRequest, readFreeExtent, writeDeadLettered } from './queue/queue-protocol.js';
import type { Topic } from './topic/topic.js';
import { type TopicDeclareOptions, TopicRegistry } from './topic/topic-registry.js';

/** `Broker.start`'s options: the runtime's, declared and validated once (src/actor/runtime-options.ts). */
export type BrokerOptions = RuntimeOptions;

export interface QueueDeclareOptions {
  durable?: boolean;
  codec?: CodecName;
  maxPriority?: number;
  deadLetter?: string;
  maxDeliveries?: number;
  messageTtlMs?: number;
  maxLength?: number;
  maxBytes?: number;
  overflow?: 'reject-publish' | 'drop-head';
  ackTimeoutMs?: number;
  /**
   * Bytes of message bodies kept in memory (default 64 MiB). Past it, bodies stay in the log and
   * are read back as they come up for delivery: a queue can be larger than memory.
   */
  memoryBytes?: number;
  /**
   * Batches the queue knows in memory, each ~400 B of its host's heap whatever its size
   * (default 100,000 durable, 250,000 memory-only). Past it a durable queue keeps later
   * batches in its log only and reads their heads back a page at a time (`stats().paged`); a
   * memory-only queue refuses publishes with BATON_QUEUE_FULL.
   */
  memoryBatches?: number;
}

const QUEUE_OPTION_KEYS = new Set(['durable', 'codec', 'maxPriority', 'deadLetter', 'maxDeliveries', 'messageTtlMs', 'maxLength', 'maxBytes', 'overflow', 'ackTimeoutMs', 'memoryBytes', 'memoryBatches']);

export class Broker extends EventEmitter {
  readonly #runtime: ActorRuntime;
  readonly #durableStorage: boolean;
  readonly #queues = new Map<string, { queue: Queue; declared: DeclaredOptions }>();
  /** With a dataDir: the options each durable queue and topic was first declared with (declaration-store.ts). */
  readonly #declarations: DeclarationStore | null;
  /** Queues by their actor's address: where the actor's records go. */
  readonly #queuesByAddress = new Map<number, Queue>();
  /**
   * Queue records from actors whose declaration has not returned yet, by address. A queue actor
   * may need its broker side during its start (a message that expired while the broker was down
   * is dead-lettered, and its body first read back into an extent): dropping such a record left
   * the queue waiting for an answer forever (found by the broker crash soak). Handled once the
   * address is known; dropped when no declaration is under way any more.
   */
  readonly #early = new Map<number, { type: number; meta: number; payload: Uint8Array }[]>();
  #queuesDeclaring = 0;
  readonly #consumers = new Map<number, { queue: Queue; consumer: GrantReceiver }>();
  readonly #allocator: ExtentAllocator;
  #nextConsumer = 1;
  readonly #topics: TopicRegistry;
  #closed = false;
  readonly #queueHost: QueueHost;
  readonly #exchanges = new Map<string, Exchange>();
  readonly #exchangeHost: ExchangeHost;

  private constructor(runtime: ActorRuntime, declarations: DeclarationStore | null) {
    super();
    this.#runtime = runtime;
    this.#durableStorage = declarations !== null;
    this.#declarations = declarations;
    this.#allocator = new ExtentAllocator(runtime.arena);
    this.#queueHost = {
      runtime,
      arena: runtime.arena,
      allocator: this.#allocator,
      nextConsumerId: () => this.#nextConsumer++,
      registerConsumer: (queue, consumer) => this.#consumers.set(consumer.id, { queue, consumer }),
      unregisterConsumer: (consumer) => this.#consumers.delete(consumer.id),
      assertOpen: () => this.#assertOpen(),
      deleted: (queue) => {
        this.#queues.delete(queue.name);
        for (const [address, q] of this.#queuesByAddress) if (q === queue) this.#queuesByAddress.delete(address);
        return this.#declarations?.forget('queue', queue.name);
      },
      consumerError: (queue, error, message: QueueDelivery | undefined) => {
        this.emit('consumer-error', { queue: queue.name, error, id: message?.id });
      },
    };
    this.#exchangeHost = {
      runtime,
      assertOpen: () => this.#assertOpen(),
      hasDestination: (name) => this.#queues.has(name) || this.#topics.get(name) !== undefined,
      // A queue by that name first, else a topic (keyed by the routing key, headers kept).
      deliver: async (name, routingKey, body, options) => {
        const queue = this.#queues.get(name)?.queue;
        if (queue !== undefined) {
          await queue.send(body, options);
          return true;
        }
        const topic = this.#topics.get(name);
        if (topic === undefined) return false;
        await topic.send(body, { key: routingKey, ...(options.headers === undefined ? {} : { headers: options.headers }) });
        return true;
      },
      unroutable: (exchange, routingKey) => this.emit('unroutable', { exchange, routingKey }),
    };
    this.#topics = new TopicRegistry(
      runtime,
      this.#allocator,
      {
        assertOpen: () => this.#assertOpen(),
        consumerError: (event) => this.emit('consumer-error', event),
      },
      { durable: this.#durableStorage, declarations },
    );
    runtime.onRecordView((actor, type, meta, payload) => this.#onRecordView(actor, type, meta, payload));
    runtime.on('restart', (event: RuntimeEvent) => {
      this.emit('restart', event);
      if (event.type === 'restart' && event.actor.startsWith('queue:')) void this.#queues.get(event.actor.slice(6))?.queue.restarted();
      if (event.type === 'restart' && event.actor.startsWith('topic:')) this.#topics.restarted(event.actor);
    });
    runtime.on('actor-stopped', (event: RuntimeEvent) => this.emit('actor-stopped', event));
    runtime.on('storage-failed', (event: RuntimeEvent) => this.emit('storage-failed', event));
    runtime.on('storage-recovered', (event: RuntimeEvent) => this.emit('storage-recovered', event));
    runtime.on('supervisor-error', (event: { reason: string }) => this.#report(new Error(event.reason)));
  }

  static async start(options: BrokerOptions = {}): Promise<Broker> {
    const runtime = await ActorRuntime.start(options);
    let declarations: DeclarationStore | null = null;
    if (options.dataDir !== undefined) {
      try {
        declarations = await DeclarationStore.open(new NodeFileLayer(), options.dataDir);
      } catch (error) {
        await runtime.close().catch(() => undefined);
        throw error;
      }
    }
    return new Broker(runtime, declarations);
  }

  /** Fault injection (docs/actors.md): crash an actor, exit or terminate its host, stall a host. */
  get faults(): ActorRuntime['faults'] {
    return this.#runtime.faults;
  }

  /** Declares a queue (idempotent with the same options; other options: BATON_QUEUE_MISMATCH, after a restart on the same dataDir too). */
  async queue(name: string, options: QueueDeclareOptions = {}): Promise<Queue> {
    this.#assertOpen();
    validateDestinationName('queue', name);
    const resolved = this.#resolveQueueOptions(name, options);
    const codecName = options.codec ?? 'json';
    const codec = getCodec(codecName);
    const declared: DeclaredOptions = { ...resolved, codec: codecName };
    const existing = this.#queues.get(name);
    if (existing !== undefined) {
      assertSameQueueOptions(name, existing.declared, declared, 'in this broker');
      return existing.queue;
    }
    if (this.#declarations !== null) {
      // Only a durable queue keeps anything across a restart; a record from a durable past binds any declaration.
      const recorded = await this.#declarations.claim('queue', name, declared, resolved.durable);
      if (recorded !== null) assertSameQueueOptions(name, recorded, declared, 'recorded in the data directory');
      const raced = this.#queues.get(name);
      if (raced !== undefined) {
        assertSameQueueOptions(name, raced.declared, declared, 'in this broker');
        return raced.queue;
      }
    }
    if (resolved.deadLetter !== undefined && resolved.deadLetter !== name && !this.#queues.has(resolved.deadLetter)) {
      // A dead letter must never be dropped for want of its queue: declare it as recorded, else with defaults.
      const recorded = await this.#declarations?.recorded('queue', resolved.deadLetter);
      await this.queue(resolved.deadLetter, (recorded as QueueDeclareOptions | null | undefined) ?? { codec: codecName });
    }
    const queue = new Queue(name, resolved, codec, this.#queueHost);
    const declaration: QueueActorDeclaration = { ...resolved, name, tableHeader: queue.tableHeader };
    this.#queuesDeclaring++;
    try {
      const { address } = await this.#runtime.declare(`queue:${name}`, {
        module: compiledFileUrl('src/broker/queue/queue-actor').href,
        options: declaration,
        ...(resolved.durable ? { log: { kind: 'queue' as const } } : {}),
      });
      this.#queuesByAddress.set(address, queue);
      const early = this.#early.get(address);
      this.#early.delete(address);
      for (const record of early ?? []) this.#onRecordView(address, record.type, record.meta, record.payload);
    } catch (error) {
      queue.discard();
      throw error;
    } finally {
      if (--this.#queuesDeclaring === 0) this.#early.clear();
    }
    this.#queues.set(name, { queue, declared });
    return queue;
  }

  /**
   * Declares an exchange (idempotent with the same type). Its bindings are logged by its actor,
   * so with a dataDir they survive a broker restart; a bound queue or topic must be declared
   * again (by name) before publishes reach it.
   */
  async exchange(name: string, options: { type: ExchangeType }): Promise<Exchange> {
    this.#assertOpen();
    validateDestinationName('exchange', name);
    const type = options?.type;
    if (!EXCHANGE_TYPES.includes(type)) {
      throw new InvalidArgumentError(`exchange type must be 'direct', 'topic', 'fanout' or 'headers', got ${JSON.stringify(type)}`);
    }
    const existing = this.#exchanges.get(name);
    if (existing !== undefined) {
      if (existing.type !== type) throw new InvalidArgumentError(`exchange "${name}" exists with type ${existing.type}; declare it with that type`);
      return existing;
    }
    const actorId = `exchange:${name}`;
    const declaration: ExchangeActorOptions = { name, type };
    await this.#runtime.declare(actorId, { module: compiledFileUrl('src/broker/exchange/exchange-actor').href, options: declaration, log: { kind: 'state' } });
    const exchange = new Exchange(name, type, this.#exchangeHost, await fetchBindings(this.#runtime, actorId));
    this.#exchanges.set(name, exchange);
    return exchange;
  }

  /** Declares a topic (docs/topics.md): a partition actor per partition; same options again: the same topic; other options: BATON_TOPIC_MISMATCH. */
  topic(name: string, options: TopicDeclareOptions = {}): Promise<Topic> {
    return this.#topics.declare(name, options);
  }

  stats(): Promise<RuntimeStats> {
    this.#assertOpen();
    return this.#runtime.stats();
  }

  /** Graceful: closes consumers (their unsettled deliveries go back), then the runtime flushes and closes its logs. */
  async close(): Promise<void> {
    if (this.#closed) return;
    for (const { consumer } of [...this.#consumers.values()]) await consumer.close().catch(() => undefined);
    await this.#topics.closeSubscriptions();
    this.#closed = true;
    this.#topics.close();
    await this.#runtime.close();
  }

  #resolveQueueOptions(name: string, options: QueueDeclareOptions): QueueOptions {
    if (options === null || typeof options !== 'object') throw new InvalidArgumentError('queue options must be an object');
    for (const key of Object.keys(options)) {
      if (!QUEUE_OPTION_KEYS.has(key)) throw new InvalidArgumentError(`unknown queue option ${JSON.stringify(key)}`);
    }
    const integer = (key: keyof QueueDeclareOptions, min: number, max: number) => {
      const value = options[key];
      if (value !== undefined && (!Number.isInteger(value) || (value as number) < min || (value as number) > max)) {
        throw new InvalidArgumentError(`queue "${name}": ${key} must be an integer ${min} .. ${max}, got ${String(value)}`);
      }
      return value as number | undefined;
    };
    const overflow = options.overflow ?? 'reject-publish';
    if (overflow !== 'reject-publish' && overflow !== 'drop-head') throw new InvalidArgumentError(`overflow must be 'reject-publish' or 'drop-head', got ${JSON.stringify(overflow)}`);
    if (options.durable !== undefined && typeof options.durable !== 'boolean') throw new InvalidArgumentError('durable must be a boolean');
    if (options.deadLetter !== undefined) validateDestinationName('queue', options.deadLetter);
    const resolved: QueueOptions = {
      durable: options.durable ?? this.#durableStorage,
      maxPriority: integer('maxPriority', 0, 255) ?? 0,
      overflow,
    };
    const optional = { maxDeliveries: integer('maxDeliveries', 1, 1_000_000), messageTtlMs: integer('messageTtlMs', 1, 2 ** 31), maxLength: integer('maxLength', 0, 2 ** 31), maxBytes: integer('maxBytes', 0, 2 ** 40), ackTimeoutMs: integer('ackTimeoutMs', 1, 2 ** 31), memoryBytes: integer('memoryBytes', 0, 2 ** 40), memoryBatches: integer('memoryBatches', 2, 2 ** 31) };
    for (const [key, value] of Object.entries(optional)) if (value !== undefined) (resolved as unknown as Record<string, number>)[key] = value;
    if (options.deadLetter !== undefined) resolved.deadLetter = options.deadLetter;
    return resolved;
  }

  /** The queue actors' hot records, read in place in the runtime's ring. */
  #onRecordView(actor: number, type: number, meta: number, payload: Uint8Array): boolean {
    switch (type) {
      case QueueRecord.GRANT:
        this.#consumers.get(meta)?.consumer.deliver(payload);
        return true;
      case QueueRecord.FREE_EXTENT:
      case QueueRecord.EXTENT_REQUEST:
      case QueueRecord.DEAD_LETTER: {
        const queue = this.#queuesByAddress.get(actor);
        if (queue === undefined) {
          if (this.#queuesDeclaring > 0) {
            let held = this.#early.get(actor);
            if (held === undefined) this.#early.set(actor, (held = []));
            held.push({ type, meta, payload: payload.slice() });
          }
          return true;
        }
        if (type === QueueRecord.FREE_EXTENT) queue.freeExtents(readFreeExtent(payload));
        else if (type === QueueRecord.EXTENT_REQUEST) queue.giveExtent(readExtentRequest(payload), meta);
        else this.#forwardDeadLetters(queue, payload);
        return true;
      }
      default:
        return this.#topics.onRecordView(actor, type, meta, payload);
    }
  }

  /**
   * Dead letters of `source`: copied out of the arena now (the payload and the messages are
   * valid during this call), published to its dead-letter queue with why and where from
   * (RabbitMQ's x-death, flattened), and only then removed from `source`: a dead letter the
   * dead-letter queue refuses stays in `source`, parked, and is offered again.
   */
  #forwardDeadLetters(source: Queue, payload: Uint8Array): void {
    const { reason, entries } = readDeadLetter(payload);
    const arena = this.#runtime.arena;
    const items = entries.map((entry) => {
      arena.ensure(entry.batch + 8);
      const start = recordBodyStart(arena.u32, entry.record);
      const ext = readExtensions(arena, entry.record);
      const priority = arena.bytes[entry.batch + QB_PRIORITY]!;
      return {
        id: messageId(arena, entry.batch, entry.index, entry.record),
        body: arena.bytes.slice(start, start + recordBodyBytes(arena.u32, entry.record)),
        headers: { ...ext.headers, 'x-death-reason': reason, 'x-death-queue': source.name, 'x-death-count': String(entry.deliveries) },
        correlationId: ext.correlationId,
        replyTo: ext.replyTo,
        priority,
      };
    });
    const offsets = entries.map((entry) => entry.offset);
    void this.#deliverDeadLetters(source, reason, items, offsets);
  }

  async #deliverDeadLetters(source: Queue, reason: DeadLetterReason, items: { id: string; body: Uint8Array; headers: Record<string, string>; correlationId: string | undefined; replyTo: string | undefined; priority: number }[], offsets: number[]): Promise<void> {
    const target = source.options.deadLetter === undefined ? undefined : this.#queues.get(source.options.deadLetter)?.queue;
    let ok = false;
    let failure: unknown = null;
    if (target !== undefined && !this.#closed) {
      try {
        await target.sendBatch(
          items.map((item) => ({
            body: item.body,
            id: item.id,
            headers: item.headers,
            ...(item.correlationId === undefined ? {} : { correlationId: item.correlationId }),
            ...(item.replyTo === undefined ? {} : { replyTo: item.replyTo }),
            ...(item.priority <= target.options.maxPriority && item.priority > 0 ? { priority: item.priority } : {}),
          })),
        );
        ok = true;
      } catch (error) {
        failure = error;
      }
    } else {
      failure = new ClosedError(target === undefined ? `dead-letter queue "${source.options.deadLetter}" is not declared` : 'the broker is closing');
    }
    if (this.#closed) return;
    try {
      this.#runtime.sendWith(source.actorId, QueueRecord.DEAD_LETTERED, deadLetteredBytes(offsets.length), (bytes, at) => writeDeadLettered(bytes, at, ok, offsets));
    } catch {
      // The source queue was deleted meanwhile: nothing to settle.
    }
    if (ok) for (const item of items) this.emit('dead-letter', { queue: source.name, id: item.id, reason });
    else this.emit('dead-letter-failed', { queue: source.name, ids: items.map((item) => item.id), reason, error: failure });
  }

  #assertOpen(): void {
    if (this.#closed) throw new ClosedError('the broker is closed');
  }

  /** An error with no caller to reject: the 'error' event if someone listens, a process warning otherwise (never a crash). */
  #report(error: unknown): void {
    if (this.listenerCount('error') > 0) this.emit('error', error);
    else process.emitWarning(error instanceof Error ? error : new Error(String(error)), 'BatonWarning');
  }
}

/** A queue redeclared must have the options it has (`where`: in this broker, or recorded in the data directory). */
function assertSameQueueOptions(name: string, existing: DeclaredOptions, declared: DeclaredOptions, where: string): void {
  const mismatch = mismatchMessage(`queue "${name}"`, existing, declared, where);
  if (mismatch !== null) throw new QueueMismatchError(`${mismatch}, or delete it first (queue.delete(), which drops its messages)`);
}
