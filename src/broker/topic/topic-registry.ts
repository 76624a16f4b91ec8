/**
 * The broker's topics: declares them (a partition actor per partition), keeps their group
 * coordinators and open subscriptions, and routes partition restarts to them. The Broker owns
 * one and delegates `topic()` to it.
 */
import type { ActorRuntime } from '../../actor/actor-runtime.js';
import type { ExtentAllocator } from '../../log/extent-allocator.js';
import { InvalidArgumentError, TopicMismatchError } from '../../errors.js';
import { compiledFileUrl } from '../../threads/worker-file.js';
import { CODEC_NAMES, type CodecName, getCodec } from '../codec.js';
import type { DeclarationStore } from '../declaration-store.js';
import { type DeclaredOptions, mismatchMessage } from '../declared-options.js';
import { validateDestinationName } from '../names.js';
import { GroupCoordinator } from './group-coordinator.js';
import { Topic, type TopicHost } from './topic.js';
import type { PartitionActorOptions, TopicOptions } from './topic-protocol.js';
import type { TopicSubscription } from './topic-subscription.js';

export interface TopicDeclareOptions {
  /** Default: the broker's number of workers. */
  partitions?: number;
  codec?: CodecName;
  retentionMs?: number;
  retentionBytes?: number;
  /** Keep the newest record per key (every record then needs a key). */
  compact?: boolean;
  /** With `compact`: how long a tombstone (`topic.tombstone(key)`) outlives the values it deleted. Default 24 h. */
  tombstoneRetentionMs?: number;
}

const TOPIC_OPTION_KEYS = new Set(['partitions', 'codec', 'retentionMs', 'retentionBytes', 'compact', 'tombstoneRetentionMs']);
/** Partitions a topic may have: each is an actor with a log. */
export const TOPIC_PARTITIONS_MAX = 1024;

export interface TopicRegistryEvents {
  assertOpen(): void;
  consumerError(event: { topic: string; error: unknown; partition?: number; offset?: number; group?: string }): void;
}

export class TopicRegistry {
  readonly #runtime: ActorRuntime;
  readonly #events: TopicRegistryEvents;
  readonly #topics = new Map<string, { topic: Topic; declared: DeclaredOptions; started: Promise<void> }>();
  readonly #declarations: DeclarationStore | null;
  readonly #coordinators = new Map<string, GroupCoordinator>();
  readonly #subscriptions = new Set<TopicSubscription>();
  readonly #host: TopicHost;

  /**
   * Actors' records read in place in the runtime's ring (the broker hands over what is not a
   * queue's): true when a topic's record was taken. A partition actor sends nothing but answers
   * to requests (a CONFIRMED or FETCHED per produce or read chunk, never per record): they go on
   * to the runtime's request replies.
   */
  onRecordView(_actor: number, _type: number, _meta: number, _payload: Uint8Array): boolean {
    return false;
  }

  /**
   * `durable`: the broker has a dataDir, so partitions are logs (compacted topics are logged in
   * any case); `declarations`: where the dataDir keeps each topic's options (declaration-store.ts).
   */
  constructor(runtime: ActorRuntime, allocator: ExtentAllocator, events: TopicRegistryEvents, options: { durable: boolean; declarations: DeclarationStore | null }) {
    this.#runtime = runtime;
    this.#events = events;
    this.#declarations = options.declarations;
    this.#host = {
      runtime,
      arena: runtime.arena,
      // The arena's allocator: the broker's thread is the only one that allocates extents.
      allocator,
      durable: options.durable,
      assertOpen: () => events.assertOpen(),
      coordinator: (topic, group) => {
        const id = `group:${topic.name}/${group}`;
        let coordinator = this.#coordinators.get(id);
        if (coordinator === undefined) {
          coordinator = new GroupCoordinator(topic, group, runtime, (error) => events.consumerError({ topic: topic.name, group, error }));
          this.#coordinators.set(id, coordinator);
        }
        return coordinator;
      },
      registerSubscription: (subscription) => this.#subscriptions.add(subscription),
      unregisterSubscription: (subscription) => this.#subscriptions.delete(subscription),
      consumerError: (topic, error, where) => events.consumerError({ topic: topic.name, error, ...where }),
    };
  }

  /** The declared topic of that name, if any (exchanges route to topics by name). */
  get(name: string): Topic | undefined {
    return this.#topics.get(name)?.topic;
  }

  /** Declares a topic (idempotent with the same options; other options: BATON_TOPIC_MISMATCH, after a restart on the same dataDir too). */
  async declare(name: string, options: TopicDeclareOptions = {}): Promise<Topic> {
    this.#events.assertOpen();
    validateDestinationName('topic', name);
    const resolved = this.#resolve(name, options);
    const codecName = options.codec ?? 'json';
    let declared: DeclaredOptions = { ...resolved, codec: codecName };
    // An omitted partition count is the topic's own once it exists (as Kafka keeps an existing
    // topic's partitions): the broker's workers only choose it for a new topic, so a restart
    // with another `workers` neither fails nor re-partitions the topic under its keys.
    const adoptPartitions = (from: DeclaredOptions) => {
      if (options.partitions !== undefined || typeof from.partitions !== 'number') return;
      resolved.partitions = from.partitions;
      declared = { ...declared, partitions: from.partitions };
    };
    const existing = this.#topics.get(name);
    if (existing !== undefined) {
      adoptPartitions(existing.declared);
      assertSameTopicOptions(name, existing.declared, declared, 'in this broker');
      await existing.started;
      return existing.topic;
    }
    if (this.#declarations !== null) {
      // Recorded before any partition starts, so that a restart checks a declaration as this process does.
      const recorded = await this.#declarations.claim('topic', name, declared, true);
      if (recorded !== null) {
        adoptPartitions(recorded);
        assertSameTopicOptions(name, recorded, declared, 'recorded in the data directory');
      }
    }
    const log = {
      kind: 'topic' as const,
      ...(resolved.retentionMs === undefined ? {} : { retentionMs: resolved.retentionMs }),
      ...(resolved.retentionBytes === undefined ? {} : { retentionBytes: resolved.retentionBytes }),
      ...(resolved.compact ? { compact: true } : {}),
      ...(resolved.tombstoneRetentionMs === undefined ? {} : { tombstoneRetentionMs: resolved.tombstoneRetentionMs }),
    };
    const logged = this.#host.durable || resolved.compact;
    await Promise.all(
      Array.from({ length: resolved.partitions }, (_, partition) => {
        const declaration: PartitionActorOptions = { topic: name, partition, mode: logged ? 'logged' : 'memory', compact: resolved.compact };
        // A memory partition's records never leave the arena: its actor has no log to keep.
        return this.#runtime.declare(`topic:${name}/${partition}`, { module: compiledFileUrl('src/broker/topic/partition-actor').href, options: declaration, ...(logged ? { log } : {}) });
      }),
    );
    // A concurrent declare of the same name may have finished first: one Topic per name.
    const raced = this.#topics.get(name);
    if (raced !== undefined) {
      assertSameTopicOptions(name, raced.declared, declared, 'in this broker');
      await raced.started;
      return raced.topic;
    }
    const topic = new Topic(name, resolved, getCodec(codecName), this.#host);
    const started = topic.start();
    this.#topics.set(name, { topic, declared, started });
    try {
      await started;
    } catch (error) {
      this.#topics.delete(name);
      topic.close();
      throw error;
    }
    return topic;
  }

  /** A partition actor restarted (`topic:<name>/<p>`): its requests in flight fail, readers fetch again. */
  restarted(actorId: string): void {
    const slash = actorId.lastIndexOf('/');
    this.#topics.get(actorId.slice(6, slash))?.topic.restarted(Number(actorId.slice(slash + 1)));
  }

  /** Closes every subscription (group members commit and leave). */
  async closeSubscriptions(): Promise<void> {
    await Promise.all([...this.#subscriptions].map((subscription) => subscription.close().catch(() => undefined)));
  }

  /** The broker closes: topics stop their clocks and free nothing more (the arena goes with the runtime). */
  close(): void {
    for (const { topic } of this.#topics.values()) topic.close();
  }

  #resolve(name: string, options: TopicDeclareOptions): TopicOptions {
    if (options === null || typeof options !== 'object') throw new InvalidArgumentError('topic options must be an object');
    for (const key of Object.keys(options)) {
      if (!TOPIC_OPTION_KEYS.has(key)) throw new InvalidArgumentError(`unknown topic option ${JSON.stringify(key)}`);
    }
    const integer = (key: 'partitions' | 'retentionMs' | 'retentionBytes' | 'tombstoneRetentionMs', min: number, max: number) => {
      const value = options[key];
      if (value !== undefined && (!Number.isInteger(value) || value < min || value > max)) {
        throw new InvalidArgumentError(`topic "${name}": ${key} must be an integer ${min} .. ${max}, got ${String(value)}`);
      }
      return value;
    };
    if (options.codec !== undefined && !CODEC_NAMES.includes(options.codec)) throw new InvalidArgumentError(`codec must be one of ${CODEC_NAMES.join(', ')}, got ${JSON.stringify(options.codec)}`);
    if (options.compact !== undefined && typeof options.compact !== 'boolean') throw new InvalidArgumentError('compact must be a boolean');
    const resolved: TopicOptions = { partitions: integer('partitions', 1, TOPIC_PARTITIONS_MAX) ?? this.#runtime.workers, compact: options.compact ?? false };
    const retentionMs = integer('retentionMs', 1, 2 ** 47);
    const retentionBytes = integer('retentionBytes', 1, 2 ** 50);
    if (retentionMs !== undefined) resolved.retentionMs = retentionMs;
    if (retentionBytes !== undefined) resolved.retentionBytes = retentionBytes;
    const tombstoneRetentionMs = integer('tombstoneRetentionMs', 0, 2 ** 47);
    if (tombstoneRetentionMs !== undefined) {
      if (!resolved.compact) throw new InvalidArgumentError(`topic "${name}": tombstoneRetentionMs needs compact: true`);
      resolved.tombstoneRetentionMs = tombstoneRetentionMs;
    }
    return resolved;
  }
}

/** A topic redeclared must have the options it has (`where`: in this broker, or recorded in the data directory). */
function assertSameTopicOptions(name: string, existing: DeclaredOptions, declared: DeclaredOptions, where: string): void {
  const mismatch = mismatchMessage(`topic "${name}"`, existing, declared, where);
  if (mismatch !== null) throw new TopicMismatchError(`${mismatch}: a topic keeps the options it was created with, so use another name for other options`);
}
