/**
 * `queue.process(handlerUrl, { threads })`: a queue consumer whose handler runs on threads of
 * its own. This side (on the broker's thread) takes the queue actor's GRANTs as any consumer
 * does, but hands each granted run of messages to the least loaded handler thread as one WORK
 * record in that thread's ring; the thread reads the messages in place in the arena, calls the
 * handler for each, and reports what it settled (DONE), which goes on to the actor. Nothing is
 * copied or posted per message.
 *
 * A thread that dies (the handler calls process.exit, throws outside a message, runs out of
 * memory, is terminated) loses the messages it had in hand: they are requeued — nacked, so they
 * count toward `maxDeliveries` and a message that kills every thread ends in the dead-letter
 * queue — and a new thread takes its place (one that never got ready, a module that does not
 * load, is not replaced: it would only fail again; the error is reported).
 *
 * Lifecycle as QueueConsumer's: 'consuming' -> 'closing' (no new work; the threads finish what
 * they hold) -> 'closed' (threads ended). Events: 'thread-lost' { threadId, requeued, error },
 * 'thread-started' { threadId }.
 */
import { EventEmitter } from 'node:events';
import { Worker } from 'node:worker_threads';
import type { Arena } from '../../log/arena.js';
import { ClosedError, deserializeError, HandlerThreadLostError, InvalidArgumentError, type SerializedError } from '../../errors.js';
import { allocateRing, attachWriter, RingConsumer, RingReader, type RingWriter } from '../../ring/index.js';
import { EVENT_LOOP_READER } from '../../threads/event-loop-reader.js';
import { workerFileUrl } from '../../threads/worker-file.js';
import type { CodecName } from '../codec.js';
import type { ConsumerLink, GrantReceiver } from './queue-consumer.js';
import { type GrantEntry, readGrant, Settle, SettleBuffer } from './queue-protocol.js';
import { DoneReader, DONE_RING_BYTES, type HandlerThreadData, ProcessRecord, PROGRESS_BYTES, PROGRESS_STARTED, WORK_RING_BYTES, workBytes, writeWork } from './process-protocol.js';

export interface ProcessOptions {
  /** Handler threads, default 2. */
  threads?: number;
  /** Handler calls at once on each thread, default 1. */
  concurrency?: number;
  /** Unsettled messages in flight over all threads, default 16,384 per thread (at most 65,535). */
  prefetch?: number;
}

/** A granted run of messages a thread holds: settled bit by bit as it reports. */
class Item {
  readonly bits: Uint32Array;
  remaining: number;
  constructor(
    readonly grant: number,
    readonly count: number,
    readonly incarnation: number,
  ) {
    this.bits = new Uint32Array((count + 31) >>> 5);
    this.remaining = count;
  }
}

class HandlerThread {
  /** Items in the order the thread got them (it hands their messages to the handler in that order). */
  readonly outstanding = new Map<number, Item>();
  /** Messages it holds. */
  load = 0;
  /** Messages sent to it so far (mod 2^32): beside its PROGRESS_STARTED, how many it never started. */
  sent = 0;
  ready = false;
  gone = false;
  threadId = 0;
  constructor(
    readonly worker: Worker,
    readonly work: RingWriter,
    readonly done: RingConsumer,
    readonly progress: Uint32Array,
  ) {}
}

export class QueueProcess extends EventEmitter implements GrantReceiver {
  readonly id: number;
  readonly prefetch: number;
  readonly ack = 'auto' as const;
  readonly concurrency: number;
  readonly closed: Promise<void>;
  #state: 'consuming' | 'closing' | 'closed' = 'consuming';
  readonly #handler: string;
  readonly #codec: CodecName;
  readonly #link: ConsumerLink;
  readonly #arena: Arena;
  readonly #threads: HandlerThread[] = [];
  readonly #entries: GrantEntry[] = [];
  readonly #settles = new SettleBuffer();
  readonly #done = new DoneReader();
  #incarnation = 0;
  #resolveClosed!: () => void;
  #drained: (() => void) | null = null;
  readonly #onError: (error: unknown) => void;

  constructor(id: number, handler: URL | string, options: ProcessOptions, codec: CodecName, link: ConsumerLink, onError: (error: unknown) => void) {
    super();
    const threads = options.threads ?? 2;
    const concurrency = options.concurrency ?? 1;
    // Threads read in place: a deep prefetch costs no memory, and keeps them fed across the
    // round trips between the actor, this thread and theirs (256 a thread held 64 B raw to ~0.5 M
    // msgs/s on 2 cores, 16,384 to ~3 M). What a dying thread had not started is released, not counted.
    const prefetch = options.prefetch ?? Math.min(65_535, 16_384 * threads);
    if (!Number.isInteger(threads) || threads < 1 || threads > 256) throw new InvalidArgumentError(`threads must be an integer 1 .. 256, got ${threads}`);
    if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 65_535) throw new InvalidArgumentError(`concurrency must be an integer 1 .. 65535, got ${concurrency}`);
    if (!Number.isInteger(prefetch) || prefetch < 1 || prefetch > 65_535) throw new InvalidArgumentError(`prefetch must be an integer 1 .. 65535, got ${prefetch}`);
    this.id = id;
    this.prefetch = prefetch;
    this.concurrency = concurrency;
    this.#handler = handler instanceof URL ? handler.href : String(handler);
    this.#codec = codec;
    this.#link = link;
    this.#arena = link.arena;
    this.#onError = onError;
    this.closed = new Promise((resolve) => {
      this.#resolveClosed = resolve;
    });
    for (let i = 0; i < threads; i++) this.#spawn();
  }

  get state(): 'consuming' | 'closing' | 'closed' {
    return this.#state;
  }

  /** A GRANT: each entry (a run of one batch) to the least loaded live thread. */
  deliver(payload: Uint8Array): void {
    const entries = this.#entries;
    const count = readGrant(payload, entries);
    for (let e = 0; e < count; e++) {
      const entry = entries[e]!;
      const thread = this.#state === 'consuming' ? this.#leastLoaded() : null;
      if (thread === null) {
        // Closing, or no thread left: back to the queue at once, not counted as delivered.
        this.#settles.push(entry.grant, 0, entry.count, Settle.RELEASE, 0);
        continue;
      }
      thread.outstanding.set(entry.grant, new Item(entry.grant, entry.count, this.#incarnation));
      thread.load += entry.count;
      thread.sent = (thread.sent + entry.count) >>> 0;
      if (!thread.work.tryWriteWith(ProcessRecord.WORK, 0, workBytes(1), (bytes, at) => writeWork(bytes, at, entries, 1, e))) {
        // Bounded by the prefetch, the ring has room; if not, wait for it in order.
        const bytes = new Uint8Array(workBytes(1));
        writeWork(bytes, 0, entries, 1, e);
        void thread.work.write(ProcessRecord.WORK, 0, bytes).catch(() => undefined);
      }
    }
    this.#flush();
  }

  /** The queue restarted: its grants in flight come again; what threads settle of the old ones is not sent. */
  async queueRestarted(): Promise<void> {
    this.#incarnation++;
    if (this.#state === 'consuming') await this.#link.subscribe(this);
  }

  /** Stops taking work; the threads finish what they hold; then they end. */
  async close(): Promise<void> {
    if (this.#state !== 'consuming') return this.closed;
    this.#state = 'closing';
    // Grants still on their way are released as they arrive; the pause's answer follows the last.
    try {
      await this.#link.pause(this.id);
    } catch (error) {
      if (!(error instanceof ClosedError)) throw error;
    }
    if (this.#threads.some((thread) => thread.load > 0)) await new Promise<void>((resolve) => (this.#drained = resolve));
    this.#flush();
    try {
      await this.#link.cancel(this.id);
    } catch (error) {
      if (!(error instanceof ClosedError)) throw error;
    }
    for (const thread of this.#threads) {
      thread.gone = true;
      thread.work.close();
      thread.done.stop();
      await thread.worker.terminate();
    }
    this.#state = 'closed';
    this.#resolveClosed();
    return this.closed;
  }

  #leastLoaded(): HandlerThread | null {
    let best: HandlerThread | null = null;
    for (const thread of this.#threads) if (!thread.gone && (best === null || thread.load < best.load)) best = thread;
    return best;
  }

  #spawn(): void {
    const work = allocateRing({ capacity: WORK_RING_BYTES, kind: 'single-producer' });
    const done = allocateRing({ capacity: DONE_RING_BYTES, kind: 'single-producer' });
    const progress = new SharedArrayBuffer(PROGRESS_BYTES);
    const data: HandlerThreadData = { handler: this.#handler, codec: this.#codec, concurrency: this.concurrency, arena: this.#arena.sab, work, done, progress };
    const worker = new Worker(workerFileUrl('queue-handler'), { workerData: data });
    let thread: HandlerThread | null = null;
    const consumer = new RingConsumer(new RingReader(done, EVENT_LOOP_READER), (record) => {
      if (record.type !== ProcessRecord.DONE) throw new Error(`queue.process: unknown record type ${record.type} from a handler thread`);
      this.#onDone(thread!, record.payload());
    });
    const started = new HandlerThread(worker, attachWriter(work), consumer, new Uint32Array(progress));
    thread = started;
    started.threadId = worker.threadId;
    this.#threads.push(started);
    worker.on('message', (message: { kind: 'ready' } | { kind: 'failed'; error: SerializedError }) => {
      if (message.kind === 'ready') {
        started.ready = true;
        this.emit('thread-started', { threadId: started.threadId });
      } else {
        this.#onError(deserializeError(message.error));
      }
    });
    worker.on('error', (error) => this.#lost(started, error));
    worker.on('exit', (code) => this.#lost(started, new Error(`handler thread ${started.threadId} exited with code ${code}`)));
  }

  /** What a thread settled: marked on its items, and sent on to the actor (this incarnation's only). */
  #onDone(thread: HandlerThread, payload: Uint8Array): void {
    const done = this.#done;
    done.reset(payload);
    for (let i = 0; i < done.entries; i++) {
      const item = thread.outstanding.get(done.grant(i));
      if (item === undefined) continue;
      const from = done.from(i);
      const end = Math.min(item.count, from + done.count(i));
      const kind = done.kind(i);
      let settled = 0;
      for (let m = from; m < end; m++) {
        const word = m >>> 5;
        const bit = 1 << (m & 31);
        if ((item.bits[word]! & bit) !== 0) continue;
        item.bits[word] = item.bits[word]! | bit;
        settled++;
        if (item.incarnation === this.#incarnation) this.#settles.add(item.grant, m, kind, done.delayMs(i));
      }
      item.remaining -= settled;
      thread.load -= settled;
      if (item.remaining === 0) thread.outstanding.delete(item.grant);
    }
    this.#flush();
    this.#checkDrained();
  }

  /**
   * A thread died: what it held goes back to the queue. Messages it had handed to the handler are
   * nacked (they count toward maxDeliveries: a message that kills every thread ends in the
   * dead-letter queue); the ones it never started are released, not counted. A thread that had
   * started is replaced.
   */
  #lost(thread: HandlerThread, cause: unknown): void {
    if (thread.gone) return;
    thread.gone = true;
    const error = new HandlerThreadLostError(`handler thread ${thread.threadId} was lost (${(cause as Error | null)?.message ?? String(cause)}): the messages it held went back to the queue`, { cause });
    thread.done.stop();
    // The last `notStarted` messages sent to it (in the order it takes them) never reached the handler.
    const notStarted = (thread.sent - Atomics.load(thread.progress, PROGRESS_STARTED)) >>> 0;
    let held = 0;
    for (const item of thread.outstanding.values()) held += item.count;
    let position = 0;
    let requeued = 0;
    for (const item of thread.outstanding.values()) {
      for (let m = 0; m < item.count; m++, position++) {
        if ((item.bits[m >>> 5]! & (1 << (m & 31))) !== 0) continue;
        const started = position < held - notStarted;
        if (item.incarnation === this.#incarnation) this.#settles.add(item.grant, m, started ? Settle.REQUEUE : Settle.RELEASE, 0);
        requeued++;
      }
    }
    thread.outstanding.clear();
    thread.load = 0;
    this.#flush();
    this.#threads.splice(this.#threads.indexOf(thread), 1);
    this.emit('thread-lost', { threadId: thread.threadId, requeued, error });
    if (this.#state === 'consuming') {
      if (thread.ready) this.#spawn();
      else this.#onError(error);
    }
    this.#checkDrained();
  }

  #checkDrained(): void {
    if (this.#drained !== null && this.#threads.every((thread) => thread.load === 0)) {
      const drained = this.#drained;
      this.#drained = null;
      drained();
    }
  }

  #flush(): void {
    if (this.#settles.length === 0) return;
    this.#link.settle(this.id, this.#settles);
    this.#settles.clear();
  }
}
