/**
 * `topic.process(handlerUrl, { group, threads })`: a consumer group whose members each run their
 * handler on a thread of their own. Each member is a group subscription on the broker's thread
 * (it holds the partitions and the positions) paired with a worker thread that runs the user's
 * module (workers/topic-member.ts) for each record.
 *
 * When a member's thread dies (the handler calls process.exit, throws outside a record, runs out
 * of memory, is terminated), the member leaves its group: the records its thread had in hand are
 * not counted as handled (their positions do not move), its positions so far are committed, and
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
import { deserializeError, InvalidArgumentError, type SerializedError } from '../errors.js';
import { workerFileUrl } from '../threads/worker-file.js';
import type { FromSpec } from './topic-protocol.js';
import { HandlerThreadLostError, type SubscribeOptions, type TopicMessage, type TopicMessageHandler, type TopicSubscription } from './topic-subscription.js';

export interface TopicProcessOptions {
  /** The consumer group the members join (required: the members share the partitions). */
  group: string;
  /** Member threads, default 2. */
  threads?: number;
  from?: FromSpec;
}

interface Member {
  worker: Worker;
  threadId: number;
  subscription: TopicSubscription;
  ready: Promise<void>;
  isReady: boolean;
  pending: Map<number, { resolve: () => void; reject: (error: Error) => void }>;
  nextTask: number;
  gone: boolean;
}

type Subscribe = (options: SubscribeOptions, handler: TopicMessageHandler) => TopicSubscription;

export class TopicProcess extends EventEmitter {
  readonly group: string;
  /** Resolves once the first members joined the group. */
  readonly ready: Promise<void>;
  readonly #handler: string;
  readonly #from: FromSpec | undefined;
  readonly #subscribe: Subscribe;
  readonly #report: (error: unknown) => void;
  readonly #members = new Set<Member>();
  readonly #replacing = new Set<Promise<void>>();
  #closing = false;

  constructor(handler: URL | string, options: TopicProcessOptions, subscribe: Subscribe, report: (error: unknown) => void) {
    super();
    if (options === null || typeof options !== 'object' || typeof options.group !== 'string') throw new InvalidArgumentError('topic.process needs { group }: its members share the partitions as a consumer group');
    const threads = options.threads ?? 2;
    if (!Number.isInteger(threads) || threads < 1 || threads > 256) throw new InvalidArgumentError(`threads must be an integer 1 .. 256, got ${threads}`);
    this.group = options.group;
    this.#handler = handler instanceof URL ? handler.href : String(handler);
    this.#from = options.from;
    this.#subscribe = subscribe;
    this.#report = report;
    const first = Array.from({ length: threads }, () => this.#start());
    this.ready = Promise.all(first.map((member) => member.subscription.ready)).then(() => undefined);
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
    for (const member of members) member.gone = true;
    await Promise.all(members.map((member) => member.subscription.close()));
    await Promise.all(members.map((member) => member.worker.terminate()));
  }

  #start(): Member {
    const worker = new Worker(workerFileUrl('topic-member'), { workerData: { handler: this.#handler } });
    const member: Member = {
      worker,
      threadId: worker.threadId,
      subscription: null as never,
      ready: null as never,
      isReady: false,
      pending: new Map(),
      nextTask: 1,
      gone: false,
    };
    member.ready = new Promise<void>((resolve) => {
      worker.on('message', (message: { ready?: true; id?: number; ok?: boolean; error?: SerializedError }) => {
        if (message.ready) {
          member.isReady = true;
          resolve();
          return;
        }
        const task = member.pending.get(message.id!);
        if (task === undefined) return;
        member.pending.delete(message.id!);
        if (message.ok) task.resolve();
        else task.reject(deserializeError(message.error!));
      });
    });
    worker.on('error', (error) => this.#lost(member, error));
    worker.on('exit', (code) => this.#lost(member, new Error(`the member thread exited with code ${code}`)));
    member.subscription = this.#subscribe({ group: this.group, ...(this.#from === undefined ? {} : { from: this.#from }) }, (message) => this.#run(member, message));
    this.#members.add(member);
    return member;
  }

  async #run(member: Member, message: TopicMessage): Promise<void> {
    if (!member.isReady) await Promise.race([member.ready, this.#gone(member)]);
    if (member.gone) throw new HandlerThreadLostError(`the thread of this group member died with offset ${message.offset} of partition ${message.partition} in hand`);
    await new Promise<void>((resolve, reject) => {
      const id = member.nextTask++;
      member.pending.set(id, { resolve, reject });
      // Copies: a view would take its whole fetch buffer through postMessage.
      const body = ArrayBuffer.isView(message.body) ? (message.body as Uint8Array).slice() : message.body;
      const key = message.key instanceof Uint8Array ? message.key.slice() : message.key;
      member.worker.postMessage({ id, message: { partition: message.partition, offset: message.offset, key, timestamp: message.timestamp, body, headers: message.headers } });
    });
  }

  #gone(member: Member): Promise<void> {
    return new Promise((resolve) => {
      const check = () => (member.gone ? resolve() : setTimeout(check, 10).unref());
      check();
    });
  }

  #lost(member: Member, error: Error): void {
    if (member.gone) return;
    member.gone = true;
    this.#members.delete(member);
    const partitions = member.subscription.assignment;
    for (const task of member.pending.values()) task.reject(new HandlerThreadLostError(`the thread of this group member died: ${error.message}`, { cause: error }));
    member.pending.clear();
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
