/**
 * `Broker`: what users program against (API.md). It starts the actor runtime (supervisor,
 * hosts, storage threads) and turns queues into actors on it. Events:
 *   'restart'      { actor, reason, attempt }   an actor was restarted by its supervisor
 *   'dead-letter'  { queue, id, reason }         a message left a queue for its dead-letter queue
 *   'actor-stopped'{ actor, reason }            intensity exceeded: the actor was stopped
 *   'consumer-error' { queue, error, id }        an `ack: 'auto'` handler threw (the message was requeued)
 *   'consumer-error' { topic, error, partition?, offset?, group? }  a topic handler threw (the reader moved on) or a commit failed
 *   'unroutable'   { exchange, routingKey }      a publish matched no bound destination
 */
import { EventEmitter } from 'node:events';
import { ActorRuntime, type ReplyRecord, type RuntimeEvent } from '../actor/actor-runtime.js';
import type { RuntimeStats } from '../actor/supervisor.js';
import { ClosedError, InvalidArgumentError, QueueMismatchError } from '../errors.js';
import { compiledFileUrl } from '../threads/worker-file.js';
import { type CodecName, getCodec } from './codec.js';
import { validateDestinationName } from './names.js';
import { Exchange, type ExchangeHost, fetchBindings } from './exchange.js';
import type { ExchangeActorOptions } from './exchange-actor.js';
import { EXCHANGE_TYPES, type ExchangeType } from './exchange-routing.js';
import { Queue, type QueueHost } from './queue.js';
import type { QueueActorDeclaration } from './queue-actor.js';
import type { QueueConsumer, QueueDelivery } from './queue-consumer.js';
import { readQueueMessage } from './queue-message.js';
import { type QueueOptions, QueueRecord } from './queue-protocol.js';
import type { Topic } from './topic.js';
import { type TopicDeclareOptions, TopicRegistry } from './topic-registry.js';

export interface BrokerOptions {
  /** Durable storage; omitted: memory only, nothing survives a restart. */
  dataDir?: string;
  /** Actor-host threads; default os.availableParallelism(). */
  workers?: number;
  fsync?: 'always' | 'interval' | 'never';
  fsyncIntervalMs?: number;
  /**
   * Time between the storage thread's maintenance passes: retention (`retentionMs`,
   * `retentionBytes`, acknowledged queue segments), then compaction of `compact` topics.
   * 0: none (with a dataDir, retention still runs every 5 minutes). Default 30000.
   */
  compactionIntervalMs?: number;
  /** Log segment size (4096 .. 2^32-1): only sealed segments are compacted or deleted. Default 64 MiB. */
  segmentBytesMax?: number;
  supervisor?: { maxRestarts?: number; withinMs?: number; backoffMs?: [min: number, max: number] };
}

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
}

const QUEUE_OPTION_KEYS = new Set(['durable', 'codec', 'maxPriority', 'deadLetter', 'maxDeliveries', 'messageTtlMs', 'maxLength', 'maxBytes', 'overflow', 'ackTimeoutMs', 'memoryBytes']);

export class Broker extends EventEmitter {
  readonly #runtime: ActorRuntime;
  readonly #durableStorage: boolean;
  readonly #queues = new Map<string, { queue: Queue; declared: string }>();
  readonly #consumers = new Map<number, { queue: Queue; consumer: QueueConsumer }>();
  #nextConsumer = 1;
  readonly #topics: TopicRegistry;
  #closed = false;
  readonly #queueHost: QueueHost;
  readonly #exchanges = new Map<string, Exchange>();
  readonly #exchangeHost: ExchangeHost;

  private constructor(runtime: ActorRuntime, durableStorage: boolean) {
    super();
    this.#runtime = runtime;
    this.#durableStorage = durableStorage;
    this.#queueHost = {
      runtime,
      nextConsumerId: () => this.#nextConsumer++,
      registerConsumer: (queue, consumer) => this.#consumers.set(consumer.id, { queue, consumer }),
      unregisterConsumer: (consumer) => this.#consumers.delete(consumer.id),
      assertOpen: () => this.#assertOpen(),
      deleted: (queue) => this.#queues.delete(queue.name),
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
    this.#topics = new TopicRegistry(runtime, {
      assertOpen: () => this.#assertOpen(),
      consumerError: (event) => this.emit('consumer-error', event),
    });
    runtime.on('record', (record: ReplyRecord) => this.#onRecord(record));
    runtime.on('restart', (event: RuntimeEvent) => {
      this.emit('restart', event);
      if (event.type === 'restart' && event.actor.startsWith('queue:')) void this.#queues.get(event.actor.slice(6))?.queue.restarted();
      if (event.type === 'restart' && event.actor.startsWith('topic:')) this.#topics.restarted(event.actor);
    });
    runtime.on('actor-stopped', (event: RuntimeEvent) => this.emit('actor-stopped', event));
    runtime.on('supervisor-error', (event: { reason: string }) => this.#report(new Error(event.reason)));
  }

  static async start(options: BrokerOptions = {}): Promise<Broker> {
    const backoff = options.supervisor?.backoffMs;
    if (backoff !== undefined && (!Array.isArray(backoff) || backoff.length !== 2)) {
      throw new InvalidArgumentError('supervisor.backoffMs must be [minMs, maxMs]');
    }
    const runtime = await ActorRuntime.start({
      ...(options.workers === undefined ? {} : { workers: options.workers }),
      ...(options.dataDir === undefined ? {} : { dataDir: options.dataDir }),
      ...(options.fsync === undefined ? {} : { fsync: options.fsync }),
      ...(options.fsyncIntervalMs === undefined ? {} : { fsyncIntervalMs: options.fsyncIntervalMs }),
      ...(options.compactionIntervalMs === undefined ? {} : { compactionIntervalMs: options.compactionIntervalMs }),
      ...(options.segmentBytesMax === undefined ? {} : { segmentBytesMax: options.segmentBytesMax }),
      supervisor: {
        ...(options.supervisor?.maxRestarts === undefined ? {} : { maxRestarts: options.supervisor.maxRestarts }),
        ...(options.supervisor?.withinMs === undefined ? {} : { withinMs: options.supervisor.withinMs }),
        ...(backoff === undefined ? {} : { backoff: { minMs: backoff[0], maxMs: backoff[1] } }),
      },
    });
    return new Broker(runtime, options.dataDir !== undefined);
  }

  /** Fault injection (docs/actors.md): crash an actor, exit or terminate its host, stall a host. */
  get faults(): ActorRuntime['faults'] {
    return this.#runtime.faults;
  }

  /** Declares a queue (idempotent with the same options; other options: BATON_QUEUE_MISMATCH). */
  async queue(name: string, options: QueueDeclareOptions = {}): Promise<Queue> {
    this.#assertOpen();
    validateDestinationName('queue', name);
    const resolved = this.#resolveQueueOptions(name, options);
    const codecName = options.codec ?? 'json';
    const codec = getCodec(codecName);
    const declared = JSON.stringify({ ...resolved, codec: codecName });
    const existing = this.#queues.get(name);
    if (existing !== undefined) {
      if (existing.declared !== declared) {
        throw new QueueMismatchError(`queue "${name}" exists with other options (${existing.declared}); declare it with the same options, or delete it first`);
      }
      return existing.queue;
    }
    if (resolved.deadLetter !== undefined && resolved.deadLetter !== name && !this.#queues.has(resolved.deadLetter)) {
      // A dead letter must never be dropped for want of its queue: declare it with defaults.
      await this.queue(resolved.deadLetter, { codec: codecName });
    }
    const declaration: QueueActorDeclaration = { ...resolved, name, useLog: resolved.durable || !this.#durableStorage };
    await this.#runtime.declare(`queue:${name}`, {
      module: compiledFileUrl('src/broker/queue-actor').href,
      options: declaration,
      log: { kind: 'queue' },
    });
    const queue = new Queue(name, resolved, codec, this.#queueHost);
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
    await this.#runtime.declare(actorId, { module: compiledFileUrl('src/broker/exchange-actor').href, options: declaration, log: { kind: 'state' } });
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
    const optional = { maxDeliveries: integer('maxDeliveries', 1, 1_000_000), messageTtlMs: integer('messageTtlMs', 1, 2 ** 31), maxLength: integer('maxLength', 0, 2 ** 31), maxBytes: integer('maxBytes', 0, 2 ** 40), ackTimeoutMs: integer('ackTimeoutMs', 1, 2 ** 31), memoryBytes: integer('memoryBytes', 0, 2 ** 40) };
    for (const [key, value] of Object.entries(optional)) if (value !== undefined) (resolved as unknown as Record<string, number>)[key] = value;
    if (options.deadLetter !== undefined) resolved.deadLetter = options.deadLetter;
    return resolved;
  }

  #onRecord(record: ReplyRecord): void {
    if (record.type === QueueRecord.DELIVER) {
      this.#consumers.get(record.meta)?.consumer.deliver(record.payload);
      return;
    }
    if (record.type === QueueRecord.DEAD_LETTER && record.actor.startsWith('queue:')) {
      void this.#forwardDeadLetter(record.actor.slice(6), record.payload);
    }
  }

  async #forwardDeadLetter(queueName: string, payload: Uint8Array): Promise<void> {
    const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
    const reasonLength = view.getUint16(0, true);
    const reason = new TextDecoder().decode(payload.subarray(2, 2 + reasonLength));
    const { message } = readQueueMessage(payload, 2 + reasonLength, true);
    const source = this.#queues.get(queueName)?.queue;
    const target = source?.options.deadLetter === undefined ? undefined : this.#queues.get(source.options.deadLetter)?.queue;
    const event = { queue: queueName, id: message.id, reason };
    if (target === undefined || this.#closed) {
      this.emit('dead-letter', event);
      return;
    }
    // The original payload and headers, plus why and where from (RabbitMQ's x-death, flattened).
    // The event comes once the dead-letter queue confirmed it: a listener finds it there.
    try {
      await target.send(message.body, {
        id: message.id,
        headers: { ...message.headers, 'x-death-reason': reason, 'x-death-queue': queueName, 'x-death-count': String(message.deliveries) },
        ...(message.correlationId === undefined ? {} : { correlationId: message.correlationId }),
        ...(message.replyTo === undefined ? {} : { replyTo: message.replyTo }),
        ...(message.priority <= target.options.maxPriority ? { priority: message.priority } : {}),
      });
    } catch (error) {
      this.#report(error);
    }
    this.emit('dead-letter', event);
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
