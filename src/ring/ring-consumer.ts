/**
 * Drain loops: what a thread runs to consume a ring until it is closed or stopped.
 *
 * `consumeBlocking` is for worker threads that do nothing else: it parks the thread with
 * `Atomics.wait` between batches. `RingConsumer` is for the main thread (or any thread with an
 * event loop to serve): it parks with `Atomics.waitAsync`, keeps the process alive while it
 * runs, and yields to the event loop between batches so that timers and I/O are not starved
 * (MessagePort does the same, nodejs/node#29315).
 */
import { DRAIN_RECORDS_DEFAULT, type RecordHandler, type RingReader } from './ring-reader.js';

export interface ConsumeOptions {
  /** Records per drain before the loop looks around (stop flag, event loop). Default 4096. */
  recordsPerTurn?: number;
}

/**
 * Drains `reader` on this thread until the ring is closed and empty, or `shouldStop()` is true
 * after a batch. Blocks the thread. Returns the number of records handled.
 */
export function consumeBlocking(reader: RingReader, handler: RecordHandler, options: ConsumeOptions & { shouldStop?: () => boolean } = {}): number {
  const recordsPerTurn = options.recordsPerTurn ?? DRAIN_RECORDS_DEFAULT;
  const shouldStop = options.shouldStop;
  let total = 0;
  for (;;) {
    total += reader.drain(handler, recordsPerTurn);
    if (shouldStop?.()) return total;
    if (reader.hasRecords()) continue;
    if (reader.closed) return total;
    reader.waitForRecords();
  }
}

const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

/** An asynchronous drain loop; `done` resolves with the records handled once it ends. */
export class RingConsumer {
  readonly done: Promise<number>;
  #stopped = false;
  readonly #reader: RingReader;

  constructor(reader: RingReader, handler: RecordHandler, options: ConsumeOptions = {}) {
    this.#reader = reader;
    this.done = this.#run(handler, options.recordsPerTurn ?? DRAIN_RECORDS_DEFAULT);
  }

  /** Ends the loop after the current batch; records still in the ring stay there. */
  stop(): void {
    this.#stopped = true;
    // A parked loop wakes and sees the flag.
    this.#reader.wake();
  }

  async #run(handler: RecordHandler, recordsPerTurn: number): Promise<number> {
    const reader = this.#reader;
    let total = 0;
    let sinceYield = 0;
    while (!this.#stopped) {
      const handled = reader.drain(handler, recordsPerTurn);
      total += handled;
      sinceYield += handled;
      if (this.#stopped) break;
      if (sinceYield >= recordsPerTurn) {
        sinceYield = 0;
        await yieldToEventLoop();
        continue;
      }
      if (reader.hasRecords()) continue;
      if (reader.closed) break;
      await reader.waitForRecordsAsync();
    }
    return total;
  }
}
