/**
 * Requests waiting for an actor's reply, by request id. Their deadlines are swept by one timer
 * for all of them, not a timer each: a request costs a map entry and a promise, so a lone send's
 * round trip makes no timer-list insert and removal (and none of its garbage) on the
 * application's thread. A request times out within SWEEP_MS after its deadline.
 */
import { TimeoutError } from '../errors.js';

export const SWEEP_MS = 250;

export class PendingRequest<R> {
  resolve!: (reply: R) => void;
  reject!: (error: Error) => void;
  constructor(
    readonly actor: string,
    readonly address: number,
    readonly replyType: number | undefined,
    readonly timeoutMs: number,
    readonly deadlineMs: number,
  ) {}
}

export class PendingRequests<R> {
  readonly #byId = new Map<number, PendingRequest<R>>();
  #sweeper: ReturnType<typeof setInterval> | null = null;

  get size(): number {
    return this.#byId.size;
  }

  /** A promise of request `requestId`'s reply from `actor` (at `address`), rejected after `timeoutMs`. */
  add(requestId: number, actor: string, address: number, replyType: number | undefined, timeoutMs: number): Promise<R> {
    const pending = new PendingRequest<R>(actor, address, replyType, timeoutMs, performance.now() + timeoutMs);
    const promise = new Promise<R>((resolve, reject) => {
      pending.resolve = resolve;
      pending.reject = reject;
    });
    this.#byId.set(requestId, pending);
    // Unref'd: while a request waits, the runtime's inbox is parked with the event loop held.
    this.#sweeper ??= setInterval(this.#sweep, SWEEP_MS).unref();
    return promise;
  }

  /** The request a record answers, taken out (the caller resolves it): one `requestId` waited for from `address`, of `type` if it asked for one. */
  take(requestId: number, address: number, type: number): PendingRequest<R> | undefined {
    const pending = this.#byId.get(requestId);
    if (pending === undefined || pending.address !== address || (pending.replyType !== undefined && pending.replyType !== type)) return undefined;
    this.#byId.delete(requestId);
    return pending;
  }

  /** Rejects one request (its record could not be sent); false if it was not waiting. */
  reject(requestId: number, error: Error, address?: number): boolean {
    const pending = this.#byId.get(requestId);
    if (pending === undefined || (address !== undefined && pending.address !== address)) return false;
    this.#byId.delete(requestId);
    pending.reject(error);
    return true;
  }

  /** Rejects every request waiting for `actor` (it was stopped: no answer will come). */
  rejectActor(actor: string, error: Error): void {
    for (const [requestId, pending] of this.#byId) {
      if (pending.actor !== actor) continue;
      this.#byId.delete(requestId);
      pending.reject(error);
    }
  }

  rejectAll(error: Error): void {
    const all = [...this.#byId.values()];
    this.#byId.clear();
    for (const pending of all) pending.reject(error);
    this.#stop();
  }

  readonly #sweep = (): void => {
    const nowMs = performance.now();
    for (const [requestId, pending] of this.#byId) {
      if (pending.deadlineMs > nowMs) continue;
      this.#byId.delete(requestId);
      pending.reject(new TimeoutError(`actor "${pending.actor}" did not answer request ${requestId} within ${pending.timeoutMs} ms: it is busy or stalled (see broker.stats().actors), or its host was lost`));
    }
    if (this.#byId.size === 0) this.#stop();
  };

  #stop(): void {
    if (this.#sweeper !== null) clearInterval(this.#sweeper);
    this.#sweeper = null;
  }
}
