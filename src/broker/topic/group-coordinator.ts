/**
 * The consumer group coordinator, on the broker's thread (where the members live). The durable
 * part, the committed offsets, is the group actor's log (group-actor.ts); membership is not
 * durable: members are subscriptions of this process, and a restarted broker starts with none.
 *
 * Rebalancing is cooperative (Kafka's incremental cooperative protocol, in one process): when a
 * member joins or leaves, a new assignment is computed that is balanced (every member gets
 * floor(P/M) or ceil(P/M) partitions) and sticky (a member keeps the partitions it owns, up to
 * its share). Only the partitions that move are touched: each is revoked from its old owner
 * (which finishes the record in hand and stops), its position is committed, and only then is it
 * assigned to its new owner, which starts at that committed offset. Members keep reading their
 * other partitions throughout. Rebalances run one at a time, in join/leave order.
 *
 * Commits: a reader reports each position it reaches (`position`); the coordinator sends them to
 * the group actor in batches, one GROUP_COMMIT in flight at a time, and `flush` waits until
 * everything reported so far is durable.
 */
import type { ActorRuntime } from '../../actor/actor-runtime.js';
import { deserializeError, type SerializedError } from '../../errors.js';
import { compiledFileUrl } from '../../threads/worker-file.js';
import { type GroupActorOptions, TopicRecord } from './topic-protocol.js';

/** What the coordinator needs of a member (a group subscription, topic-subscription.ts). */
export interface GroupMember {
  readonly state: 'active' | 'closing' | 'closed';
  /** Starts reading `partition` at `offset` (null: where the member's `from` says). */
  assign(partition: number, offset: number | null): Promise<void>;
  /** Stops reading `partition` once the records in hand are handled (its position is then final and reported). */
  revoke(partition: number): Promise<void>;
}

/** The topic a group reads. */
export interface GroupTopic {
  readonly name: string;
  readonly partitions: number;
}

const encoder = new TextEncoder();
/**
 * Background commits come at most this often (a member's `commit()`, a revocation and a leave
 * commit at once): a broker that dies loses at most this much of its positions, and its group
 * handles those records again (at least once).
 */
const COMMIT_INTERVAL_MS = 100;

/**
 * The balanced, sticky assignment: `owners[p]` is the index of the member owning partition p now
 * (-1: none); returns the new owner of each partition. Members that own more keep the larger
 * shares, ties broken by member order.
 */
export function stickyAssignment(partitions: number, members: number, owners: readonly number[]): number[] {
  if (members === 0) return new Array<number>(partitions).fill(-1);
  const owned: number[][] = Array.from({ length: members }, () => []);
  owners.forEach((owner, p) => {
    if (owner >= 0 && owner < members) owned[owner]!.push(p);
  });
  const base = Math.floor(partitions / members);
  let extra = partitions % members;
  const quota = new Array<number>(members).fill(base);
  const byOwned = [...owned.keys()].sort((a, b) => owned[b]!.length - owned[a]!.length || a - b);
  for (const m of byOwned) {
    if (extra === 0) break;
    quota[m]!++;
    extra--;
  }
  const next = new Array<number>(partitions).fill(-1);
  owned.forEach((list, m) => list.slice(0, quota[m]).forEach((p) => (next[p] = m)));
  const count = quota.map((_, m) => next.filter((owner) => owner === m).length);
  let m = 0;
  for (let p = 0; p < partitions; p++) {
    if (next[p] !== -1) continue;
    while (count[m]! >= quota[m]!) m++;
    next[p] = m;
    count[m]!++;
  }
  return next;
}

export class GroupCoordinator {
  readonly topic: GroupTopic;
  readonly group: string;
  readonly actorId: string;
  readonly #runtime: ActorRuntime;
  readonly #members: GroupMember[] = [];
  readonly #owners: Array<GroupMember | null>;
  readonly #committed = new Map<number, number>();
  #dirty = new Map<number, number>();
  #loaded: Promise<void> | null = null;
  #chain: Promise<void> = Promise.resolve();
  #commitInFlight: Promise<void> | null = null;
  #flushing = false;
  readonly #onError: (error: unknown) => void;

  constructor(topic: GroupTopic, group: string, runtime: ActorRuntime, onError: (error: unknown) => void) {
    this.topic = topic;
    this.group = group;
    this.actorId = `group:${topic.name}/${group}`;
    this.#runtime = runtime;
    this.#owners = new Array<GroupMember | null>(topic.partitions).fill(null);
    this.#onError = onError;
  }

  /** The committed offset of each partition (the next to read), as far as this process knows. */
  get committed(): ReadonlyMap<number, number> {
    return this.#committed;
  }

  join(member: GroupMember): Promise<void> {
    return this.#serially(async () => {
      await this.#load();
      if (member.state !== 'active') return;
      this.#members.push(member);
      await this.#rebalance();
    });
  }

  /** The member stops: its partitions are revoked, committed and handed to the others. */
  leave(member: GroupMember): Promise<void> {
    return this.#serially(async () => {
      const i = this.#members.indexOf(member);
      if (i >= 0) this.#members.splice(i, 1);
      await Promise.all(
        this.#owners.map(async (owner, p) => {
          if (owner !== member) return;
          await member.revoke(p);
          this.#owners[p] = null;
        }),
      );
      await this.flush();
      await this.#rebalance();
    });
  }

  position(partition: number, nextOffset: number): void {
    this.#committed.set(partition, nextOffset);
    this.#dirty.set(partition, nextOffset);
    // One background flush loop at a time: it keeps committing, one GROUP_COMMIT in flight,
    // while positions keep coming. (A flush per position, each waiting on the commit in flight,
    // made a waiter per record: most of the broker thread went to garbage collection.)
    // The loop commits at most every COMMIT_INTERVAL_MS: a commit is a log append (an fsync
    // under 'always'), and a stream of records must not make one per run.
    if (!this.#flushing) {
      this.#flushing = true;
      setTimeout(this.#flushInBackground, COMMIT_INTERVAL_MS).unref();
    }
  }

  readonly #flushInBackground = (): void => {
    this.flush()
      .catch((error: unknown) => this.#onError(error))
      .finally(() => {
        // A position that came after the loop's last look is not left behind.
        if (this.#dirty.size > 0) setTimeout(this.#flushInBackground, COMMIT_INTERVAL_MS).unref();
        else this.#flushing = false;
      });
  };

  /** Resolves once every position reported so far is in the group actor's log (durable). */
  async flush(): Promise<void> {
    while (this.#commitInFlight !== null || this.#dirty.size > 0) {
      if (this.#commitInFlight !== null) {
        await this.#commitInFlight.catch(() => undefined);
        continue;
      }
      const offsets = Object.fromEntries(this.#dirty);
      this.#dirty = new Map();
      this.#commitInFlight = this.#request(TopicRecord.GROUP_COMMIT, encoder.encode(JSON.stringify({ offsets })))
        .then(() => undefined)
        .catch((error: unknown) => {
          // Not committed: put back what no newer position replaced, for the next flush.
          for (const [p, offset] of Object.entries(offsets)) if (!this.#dirty.has(Number(p))) this.#dirty.set(Number(p), offset);
          throw error;
        })
        .finally(() => (this.#commitInFlight = null));
      await this.#commitInFlight;
    }
  }

  async #rebalance(): Promise<void> {
    const index = new Map(this.#members.map((m, i) => [m, i]));
    const target = stickyAssignment(
      this.topic.partitions,
      this.#members.length,
      this.#owners.map((owner) => (owner === null ? -1 : (index.get(owner) ?? -1))),
    );
    const moves = target.map((m, p) => ({ p, from: this.#owners[p] ?? null, to: m < 0 ? null : this.#members[m]! })).filter((move) => move.from !== move.to);
    if (moves.length === 0) return;
    // Phase 1: revoke what moves (owners finish the record in hand), then commit where they stopped.
    await Promise.all(moves.map(async ({ p, from }) => {
      if (from !== null) await from.revoke(p);
      this.#owners[p] = null;
    }));
    await this.flush();
    // Phase 2: assign the moved partitions at their committed offsets.
    await Promise.all(moves.map(async ({ p, to }) => {
      if (to === null) return;
      this.#owners[p] = to;
      await to.assign(p, this.#committed.get(p) ?? null);
    }));
  }

  #load(): Promise<void> {
    this.#loaded ??= (async () => {
      const declaration: GroupActorOptions = { topic: this.topic.name, group: this.group };
      await this.#runtime.declare(this.actorId, { module: compiledFileUrl('src/broker/topic/group-actor').href, options: declaration, log: { kind: 'state' } });
      const { offsets } = (await this.#request(TopicRecord.GROUP_LOAD, new Uint8Array(0))) as { offsets: Record<string, number> };
      for (const [p, offset] of Object.entries(offsets)) if (!this.#committed.has(Number(p))) this.#committed.set(Number(p), offset);
    })();
    this.#loaded.catch(() => (this.#loaded = null));
    return this.#loaded;
  }

  #serially(work: () => Promise<void>): Promise<void> {
    const run = this.#chain.then(work);
    this.#chain = run.catch(() => undefined);
    return run;
  }

  async #request(type: number, payload: Uint8Array): Promise<unknown> {
    const reply = await this.#runtime.request(this.actorId, type, payload, { replyType: TopicRecord.RESULT, timeoutMs: 30_000 });
    const result = JSON.parse(new TextDecoder().decode(reply.payload)) as { ok: true; value: unknown } | { ok: false; error: SerializedError };
    if (!result.ok) throw deserializeError(result.error);
    return result.value;
  }
}
