/**
 * `topic.process(handlerUrl, { group, threads })`: a consumer group whose members each run their
 * handler on a thread of their own. Each member is a group subscription on the broker's thread
 * (it holds the partitions and the positions) paired with a worker thread
 * (workers/topic-member.ts) that has the arena and reads the records in place.
 *
 * Work is handed over per run, never per record: one postMessage names a batch in the arena and
 * the records of it to handle (a run, partition-reader.ts), and one message comes back when the
 * thread handled them all, with the records whose handler threw. Up to two runs per partition
 * are in flight, so a member thread always has the next one at hand; its extent stays pinned (not
 * freed, not reused) until the run comes back.
 *
 * When a member's thread dies (the handler calls process.exit, throws outside a record, runs out
 * of memory, is terminated), the runs it had in hand are not counted as handled (its positions
 * do not move past them), the member leaves its group (its positions so far are committed), and
 * its partitions are rebalanced to the other members, which start at those positions — so each
 * record in hand is handled again elsewhere (at least once). Then a replacement thread joins the
 * group and takes its share back (cooperative rebalancing: the others keep what they still own).
 * A thread that dies before it is ready (a module that does not load) is not replaced: that would
 * only repeat; the error is reported and the group goes on with the members it has.
 *
 * Events: 'member-lost' { threadId, partitions, error }, 'member-started' { threadId }.
 */
import { EventEmitter } from 'node:events';
import { Worker } from 'node:worker_threads';
import type { Arena } from '../../log/arena.js';
import { deserializeError, HandlerThreadLostError, InvalidArgumentError, type SerializedError } from '../../errors.js';
import { workerFileUrl } from '../../threads/worker-file.js';
import type { Codec, CodecName } from '../codec.js';
import type { Partition } from './partition.js';
import { type PartitionReader, ReaderStopped, type ReaderSink, type Run } from './partition-reader.js';
import type { FromSpec } from './topic-protocol.js';
import { type SubscriptionHost, TopicSubscription } from './topic-subscription.js';

export interface TopicProcessOptions {
  /** The consumer group the members join (required: the members share the partitions). */
  group: string;
  /** Member threads, default 2. */
  threads?: number;
  from?: FromSpec;
}

/** What a member thread is started with. */
export interface TopicMemberWorkerData {
  handler: string;
  /** The arena: the thread reads the records in place. */
  arena: SharedArrayBuffer;
  codec: CodecName;
  /**
   * Int32 pairs, one per partition: [id of the run being handled, records of it handled so far],
   * written by the thread as it goes, so that if it dies, exactly the records it had finished
   * count as handled (only the record in hand is handled again elsewhere).
   */
  progress: SharedArrayBuffer;
}

/** A run, as the member thread gets it (one postMessage). */
export interface MemberTask {
  id: number;
  partition: number;
  batch: number;
  index: number;
  record: number;
  count: number;
  baseOffset: number;
  timestampMs: number;
}

/** A member thread's answer: `handled` records of the run are done (all, unless it was told to stop); these records' handlers threw. */
export interface MemberResult {
  id: number;
  handled: number;
  failures?: Array<{ offset: number; error: SerializedError }>;
}

/** Tells a member thread to end its runs of `partition` up to task `upTo` after the record in hand (the partition is revoked). */
export interface MemberStop {
  stop: true;
  partition: number;
  upTo: number;
}

/** Runs per partition in flight to a member thread. */
const RUNS_IN_FLIGHT = 2;

interface Task {
  resolve: () => void;
  reject: (error: Error) => void;
  reader: PartitionReader;
  partition: number;
  /** The run's first offset and records. */
  first: number;
  count: number;
  id: number;
}

interface Member {
  worker: Worker;
  /** The thread's progress pairs (TopicMemberWorkerData.progress). */
  progress: Int32Array;
  threadId: number;
  subscription: TopicSubscription;
  ready: Promise<void>;
  isReady: boolean;
  tasks: Map<number, Task>;
  nextTask: number;
  gone: boolean;
  /** Resolves when the thread is gone (its pending runs can no longer be handled). */
  lost: Promise<void>;
  markLost: () => void;
}

export class TopicProcess extends EventEmitter {
  readonly group: string;
  /** Resolves once the first members joined the group and their threads loaded the handler module. */
  readonly ready: Promise<void>;
  readonly #handler: string;
  readonly #from: FromSpec | undefined;
  readonly #host: SubscriptionHost;
  readonly #arena: Arena;
  readonly #codec: Codec;
  readonly #report: (error: unknown) => void;
  readonly #members = new Set<Member>();
  readonly #replacing = new Set<Promise<void>>();
  #closing = false;

  constructor(handler: URL | string, options: TopicProcessOptions, host: SubscriptionHost, data: { arena: Arena; codec: Codec }, report: (error: unknown) => void) {
    super();
    if (options === null || typeof options !== 'object' || typeof options.group !== 'string') throw new InvalidArgumentError('topic.process needs { group }: its members share the partitions as a consumer group');
    const threads = options.threads ?? 2;
    if (!Number.isInteger(threads) || threads < 1 || threads > 256) throw new InvalidArgumentError(`threads must be an integer 1 .. 256, got ${threads}`);
    this.group = options.group;
    this.#handler = handler instanceof URL ? handler.href : String(handler);
    this.#from = options.from;
    this.#host = host;
    this.#arena = data.arena;
    this.#codec = data.codec;
    this.#report = report;
    const first = Array.from({ length: threads }, () => this.#start());
    // Ready: the members joined the group and their threads loaded the handler (or died trying).
    this.ready = Promise.all(first.map((member) => Promise.all([member.subscription.ready, Promise.race([member.ready, member.lost])]))).then(() => undefined);
  }

  /** The members now: each thread's id and the partitions it reads. */
  get members(): Array<{ threadId: number; partitions: number[] }> {
    return [...this.#members].map((member) => ({ threadId: member.threadId, partitions: member.subscription.assignment }));
  }

  /** Members leave the group (their positions committed), then their threads stop. */
  async close(): Promise<void> {
    if (this.#closing) return;
    this.#closing = true;
    while (this.#replacing.size > 0) await Promise.all(this.#replacing);
    const members = [...this.#members];
    this.#members.clear();
    await Promise.all(members.map((member) => member.subscription.close()));
    for (const member of members) member.gone = true;
    await Promise.all(members.map((member) => member.worker.terminate()));
  }

  #start(): Member {
    const progress = new SharedArrayBuffer(8 * this.#host.partitions);
    const workerData: TopicMemberWorkerData = { handler: this.#handler, arena: this.#arena.sab, codec: this.#codec.name, progress };
    const worker = new Worker(workerFileUrl('topic-member'), { workerData });
    let markLost!: () => void;
    const member: Member = {
      worker,
      progress: new Int32Array(progress),
      threadId: worker.threadId,
      subscription: null as never,
      ready: null as never,
      isReady: false,
      tasks: new Map(),
      nextTask: 1,
      gone: false,
      lost: new Promise<void>((resolve) => (markLost = resolve)),
      markLost: () => markLost(),
    };
    member.ready = new Promise<void>((resolve) => {
      worker.on('message', (message: { ready?: true } & Partial<MemberResult>) => {
        if (message.ready) {
          member.isReady = true;
          resolve();
          return;
        }
        this.#answered(member, message as MemberResult);
      });
    });
    worker.on('error', (error) => this.#lost(member, error));
    worker.on('exit', (code) => this.#lost(member, new Error(`the member thread exited with code ${code}`)));
    member.subscription = new TopicSubscription(this.#host, { group: this.group, ...(this.#from === undefined ? {} : { from: this.#from }) }, (partition) => new MemberSink(member, partition));
    this.#members.add(member);
    return member;
  }

  #answered(member: Member, result: MemberResult): void {
    const task = member.tasks.get(result.id);
    if (task === undefined) return;
    member.tasks.delete(result.id);
    for (const failure of result.failures ?? []) member.subscription.handlerError(deserializeError(failure.error), task.partition, failure.offset);
    task.reader.advance(task.first + result.handled);
    task.resolve();
  }

  #lost(member: Member, cause: Error): void {
    if (member.gone) return;
    member.gone = true;
    const error = new HandlerThreadLostError(`the thread of a member of group "${this.group}" was lost (${cause.message}): its partitions go to the other members`, { cause });
    member.markLost();
    this.#members.delete(member);
    const partitions = member.subscription.assignment;
    // What the thread finished counts (runs before the one it was in, and that one's records
    // up to the one in hand); the rest is handled again by the partitions' next owners.
    for (const task of [...member.tasks.values()].sort((a, b) => a.id - b.id)) {
      const running = Atomics.load(member.progress, 2 * task.partition);
      if (task.id < running) task.reader.advance(task.first + task.count);
      else if (task.id === running) task.reader.advance(task.first + Atomics.load(member.progress, 2 * task.partition + 1));
      task.reject(new ReaderStopped(`the thread of this group member died: ${error.message}`, { cause: error }));
    }
    member.tasks.clear();
    const replace = member.subscription.close().then(() => {
      this.emit('member-lost', { threadId: member.threadId, partitions, error });
      if (!member.isReady) {
        this.#report(new Error(`topic.process: a member thread of group "${this.group}" died before it was ready (${error.message}); not replaced`, { cause: error }));
        return;
      }
      if (this.#closing) return;
      const next = this.#start();
      this.emit('member-started', { threadId: next.threadId });
    });
    this.#replacing.add(replace);
    void replace.finally(() => this.#replacing.delete(replace));
  }
}

/** A partition reader's sink that hands runs to a member thread. */
class MemberSink implements ReaderSink {
  readonly window = RUNS_IN_FLIGHT;
  readonly #member: Member;
  readonly #partition: Partition;

  constructor(member: Member, partition: Partition) {
    this.#member = member;
    this.#partition = partition;
  }

  /** Posts the run to the member's thread; resolves once it handled it, rejects (ReaderStopped) if the thread dies first. */
  async deliver(reader: PartitionReader, run: Run): Promise<void> {
    const member = this.#member;
    const partition = this.#partition.index;
    if (!member.isReady) await Promise.race([member.ready, member.lost]);
    if (member.gone) throw new ReaderStopped(`the thread of this group member died with offset ${run.baseOffset + run.index} of partition ${partition} in hand`);
    // Revoked while the thread was starting: the run was never posted, nothing of it is handled.
    if (reader.stopping) return;
    await new Promise<void>((resolve, reject) => {
      const id = member.nextTask++;
      member.tasks.set(id, { resolve, reject, reader, partition, first: run.baseOffset + run.index, count: run.count, id });
      const task: MemberTask = { id, partition, batch: run.batch, index: run.index, record: run.record, count: run.count, baseOffset: run.baseOffset, timestampMs: run.timestampMs };
      member.worker.postMessage(task);
    });
  }

  /** The partition is revoked: the thread ends its runs of it after the record in hand (the rest come back unhandled). */
  stop(): void {
    const member = this.#member;
    if (member.gone) return;
    const stop: MemberStop = { stop: true, partition: this.#partition.index, upTo: member.nextTask - 1 };
    member.worker.postMessage(stop);
  }
}
