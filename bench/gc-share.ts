/**
 * The share of a window's wall time the main thread spent in garbage collection: the durations of
 * the 'gc' performance entries that started in the window, summed, over the window. (Only this
 * isolate's: each worker thread has its own heap and collector.)
 */
import { type PerformanceEntry, PerformanceObserver, performance } from 'node:perf_hooks';

export class GcMeter {
  readonly #startedAt: number;
  readonly #entries: PerformanceEntry[] = [];
  readonly #observer: PerformanceObserver;

  constructor() {
    this.#startedAt = performance.now();
    this.#observer = new PerformanceObserver((list) => this.#entries.push(...list.getEntries()));
    this.#observer.observe({ entryTypes: ['gc'] });
  }

  /** Stops observing; the GC share of the window from construction to `endedAt`. */
  async stop(endedAt = performance.now()): Promise<number> {
    // Node hands a collection's entry over on a later turn of the event loop (a window run in
    // microtasks alone has seen none yet): let two turns pass, then take what is still queued.
    for (let i = 0; i < 2; i++) await new Promise((resolve) => setImmediate(resolve));
    this.#entries.push(...this.#observer.takeRecords());
    this.#observer.disconnect();
    let gcMs = 0;
    for (const entry of this.#entries) if (entry.startTime >= this.#startedAt && entry.startTime < endedAt) gcMs += entry.duration;
    return gcMs / Math.max(1e-9, endedAt - this.#startedAt);
  }
}
