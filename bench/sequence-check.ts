/**
 * The consumer-side checks of every end-to-end row: per producer, sequences come in increasing
 * order within a lane (a consumer, a partition, a queue, a handler thread: where the transport
 * promises order), none twice, and — once everything was handled — every sequence sent exactly
 * once. A failed check throws (and is kept, so that a row whose handler's throw the transport
 * swallows still fails): a row never reports a rate for messages it lost or doubled.
 *
 * `SequenceCheck` runs on the thread that handles the messages. `SharedSequenceCheck` is for
 * handlers on other threads (piscina, `queue.process`, `topic.process`): a SharedArrayBuffer
 * holds the handled count, the first failure and one bit per (producer, sequence); the order
 * check, where the transport promises one, stays per thread and lane. Piscina does not (one of its
 * threads may run a later task first: seen with piscina 5.3.2), so neither does `queue.process`,
 * whose pool it is; there only loss and duplicates are checked. Handler threads get the buffer
 * through worker environment data (`CHECK_ENV_KEY`), set before their pool starts.
 */
import { type decoded, readBody, readRawBodyAt } from './bodies.js';

export class SequenceCheck {
  readonly label: string;
  readonly producers: number;
  handled = 0;
  failure: Error | null = null;
  readonly #seen: Uint8Array[];
  readonly #last = new Map<number, Float64Array>();
  #waiter: { target: number; resolve: () => void; reject: (error: Error) => void } | null = null;

  constructor(label: string, producers: number) {
    this.label = label;
    this.producers = producers;
    this.#seen = Array.from({ length: producers }, () => new Uint8Array(1024));
  }

  /** One message of producer `p`, sequence `s`, handled in `lane`. Throws if it breaks order or came before. */
  handle(p: number, s: number, lane = 0): void {
    if (this.failure !== null) throw this.failure;
    if (!(p < this.producers)) this.fail(`a body names producer ${p}; there are ${this.producers}`);
    let last = this.#last.get(lane);
    if (last === undefined) this.#last.set(lane, (last = new Float64Array(this.producers).fill(-1)));
    if (s <= last[p]!) this.fail(`out of order: producer ${p} seq ${s} after seq ${last[p]} (lane ${lane})`);
    last[p] = s;
    let seen = this.#seen[p]!;
    if (s >= seen.length) {
      const grown = new Uint8Array(Math.max(s + 1, seen.length * 2));
      grown.set(seen);
      this.#seen[p] = seen = grown;
    }
    if (seen[s] === 1) this.fail(`duplicate: producer ${p} seq ${s}`);
    seen[s] = 1;
    if (++this.handled === this.#waiter?.target) this.#waiter.resolve();
  }

  /** Decodes a body (bodies.ts) and handles it; a damaged body fails the check too. Returns what was read. */
  handleBody(body: unknown, size: number, lane = 0): typeof decoded {
    let read: typeof decoded;
    try {
      read = readBody(body, size);
    } catch (error) {
      this.fail(new Error(`${this.label}: ${(error as Error).message}`));
    }
    this.handle(read.p, read.s, lane);
    return read;
  }

  /** handleBody of a raw body read in place (no copy): `length` bytes of `bytes` from `at`. */
  handleRawAt(bytes: Uint8Array, at: number, length: number, size: number, lane = 0): void {
    let read: typeof decoded;
    try {
      read = readRawBodyAt(bytes, at, length, size);
    } catch (error) {
      this.fail(new Error(`${this.label}: ${(error as Error).message}`));
    }
    this.handle(read.p, read.s, lane);
  }

  /** Records a failure found elsewhere (a transport's error event) and throws it. */
  fail(message: string | Error): never {
    const error = message instanceof Error ? message : new Error(`${this.label}: ${message}`);
    this.failure ??= error;
    this.#waiter?.reject(this.failure);
    throw this.failure;
  }

  /** Resolves once `total` were handled; rejects on a failed check, or when nothing came for `stallMs`. */
  whenHandled(total: number, stallMs = STALL_MS): Promise<void> {
    if (this.failure !== null) return Promise.reject(this.failure);
    if (this.handled >= total) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      let seen = this.handled;
      const timer = setInterval(() => {
        if (this.handled !== seen) {
          seen = this.handled;
          return;
        }
        try {
          this.fail(`stalled: ${this.handled} of ${total} messages handled, none for ${stallMs / 1000} s`);
        } catch {
          // fail() rejected the waiter.
        }
      }, stallMs);
      const done = () => {
        clearInterval(timer);
        this.#waiter = null;
      };
      this.#waiter = {
        target: total,
        resolve: () => (done(), resolve()),
        reject: (error) => (done(), reject(error)),
      };
    });
  }

  /** Once all were handled: producer p's sequences 0 .. sent[p]-1, each exactly once (handle() refused twice). */
  verify(sent: readonly number[]): void {
    if (this.failure !== null) throw this.failure;
    const total = sent.reduce((a, b) => a + b, 0);
    if (this.handled !== total) this.fail(`${this.handled} messages handled, ${total} sent`);
    sent.forEach((count, p) => {
      const seen = this.#seen[p]!;
      for (let s = 0; s < count; s++) if (seen[s] !== 1) this.fail(`lost: producer ${p} seq ${s}`);
    });
  }
}

/** No message handled for this long while some are due: the row fails (lost messages hang, they do not pass). */
export const STALL_MS = 30_000;

/** The worker environment-data key under which handler threads find their `SharedCheckData`. */
export const CHECK_ENV_KEY = 'baton-bench-check';

export interface SharedCheckData {
  sab: SharedArrayBuffer;
  producers: number;
  /** Sequences per producer the bitmap holds. */
  capacity: number;
  /** Body size, checked by readBody. */
  size: number;
  /** Whether order per producer is checked (per handler thread and lane). */
  ordered: boolean;
  /**
   * Work the handler does per message besides the check, in rounds of FNV-1a over the body (0:
   * none): the CPU-heavy handler that handler threads are for.
   */
  hashRounds?: number;
}

// Int32 slots at the start of the buffer; the bitmap follows.
const HANDLED = 0;
const FAILURES = 1;
const FAILED_KIND = 2;
const FAILED_PRODUCER = 3;
const FAILED_SEQ = 4;
const THREADS = 5;
const TIDS = 6;
const TIDS_MAX = 16;
const HEADER_INTS = TIDS + TIDS_MAX;
const KINDS = ['', 'out of order', 'duplicate', 'outside the sequences sent', 'a damaged body'] as const;

export function createSharedCheck(producers: number, capacity: number, size: number, ordered: boolean): SharedCheckData {
  const words = Math.ceil((producers * capacity) / 32);
  return { sab: new SharedArrayBuffer(4 * (HEADER_INTS + words)), producers, capacity, size, ordered };
}

export class SharedSequenceCheck {
  readonly data: SharedCheckData;
  readonly #ints: Int32Array;
  /** Per lane, this thread's last sequence of each producer. */
  readonly #last = new Map<number, Float64Array>();

  constructor(data: SharedCheckData) {
    this.data = data;
    this.#ints = new Int32Array(data.sab);
  }

  /** In a handler thread: one message handled. Throws (after recording it for the bench) if it fails a check. */
  handle(p: number, s: number, lane = 0): void {
    const { producers, capacity } = this.data;
    if (!(p < producers && s < capacity)) this.#fail(3, p, s);
    if (this.data.ordered) {
      let last = this.#last.get(lane);
      if (last === undefined) this.#last.set(lane, (last = new Float64Array(producers).fill(-1)));
      if (s <= last[p]!) this.#fail(1, p, s);
      last[p] = s;
    }
    const bit = p * capacity + s;
    const mask = 1 << (bit & 31);
    if ((Atomics.or(this.#ints, HEADER_INTS + (bit >>> 5), mask) & mask) !== 0) this.#fail(2, p, s);
    Atomics.add(this.#ints, HANDLED, 1);
  }

  /** In a handler thread: a body readBody refused. */
  damaged(error: unknown): never {
    this.#record(4, -1, -1);
    throw error;
  }

  /** In a handler thread: notes its kernel thread id, so that its CPU is counted as a handler's. */
  registerThread(tid: number): void {
    const slot = Atomics.add(this.#ints, THREADS, 1);
    if (slot < TIDS_MAX) Atomics.store(this.#ints, TIDS + slot, tid);
  }

  get handled(): number {
    return Atomics.load(this.#ints, HANDLED);
  }

  get threadIds(): number[] {
    const count = Math.min(TIDS_MAX, Atomics.load(this.#ints, THREADS));
    return Array.from({ length: count }, (_, i) => Atomics.load(this.#ints, TIDS + i)).filter((tid) => tid > 0);
  }

  /** The first failure a handler thread recorded, as an Error; null if none. */
  failure(label: string): Error | null {
    if (Atomics.load(this.#ints, FAILURES) === 0) return null;
    const kind = KINDS[Atomics.load(this.#ints, FAILED_KIND)] ?? 'unknown';
    return new Error(`${label}: a handler thread found ${kind} (producer ${Atomics.load(this.#ints, FAILED_PRODUCER)}, seq ${Atomics.load(this.#ints, FAILED_SEQ)})`);
  }

  /** On the bench's thread: resolves once `total` were handled; rejects on a recorded failure, `external()` returning one, or a stall. */
  async whenHandled(label: string, total: number, external: () => Error | null = () => null, stallMs = STALL_MS): Promise<void> {
    let seen = -1;
    let seenAt = Date.now();
    for (;;) {
      const failure = this.failure(label) ?? external();
      if (failure !== null) throw failure;
      const handled = this.handled;
      if (handled >= total) return;
      if (handled !== seen) [seen, seenAt] = [handled, Date.now()];
      else if (Date.now() - seenAt > stallMs) throw new Error(`${label}: stalled: ${handled} of ${total} messages handled, none for ${stallMs / 1000} s`);
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
  }

  /** On the bench's thread, once all were handled: producer p's sequences 0 .. sent[p]-1 each handled, none other. */
  verify(label: string, sent: readonly number[]): void {
    const failure = this.failure(label);
    if (failure !== null) throw failure;
    const total = sent.reduce((a, b) => a + b, 0);
    if (this.handled !== total) throw new Error(`${label}: ${this.handled} messages handled, ${total} sent`);
    sent.forEach((count, p) => {
      for (let s = 0; s < count; s++) {
        const bit = p * this.data.capacity + s;
        if ((Atomics.load(this.#ints, HEADER_INTS + (bit >>> 5)) & (1 << (bit & 31))) === 0) throw new Error(`${label}: lost: producer ${p} seq ${s}`);
      }
    });
  }

  #fail(kind: number, p: number, s: number): never {
    this.#record(kind, p, s);
    throw new Error(`bench check: ${KINDS[kind]} (producer ${p}, seq ${s})`);
  }

  #record(kind: number, p: number, s: number): void {
    if (Atomics.add(this.#ints, FAILURES, 1) === 0) {
      Atomics.store(this.#ints, FAILED_KIND, kind);
      Atomics.store(this.#ints, FAILED_PRODUCER, p);
      Atomics.store(this.#ints, FAILED_SEQ, s);
    }
  }
}
