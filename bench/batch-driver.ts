/**
 * The load shape every end-to-end suite uses (queue, topic, and their postMessage peer): `total`
 * items sent in batches, a fixed number of batches in flight (each waits for its confirm), and
 * a count of items received that resolves when it reaches the total.
 */

/** Sends `total` items as slices of `batch`, `inFlight` sends outstanding at a time. */
export async function sendInBatches<T>(total: number, batch: readonly T[], inFlight: number, send: (items: readonly T[]) => Promise<unknown>): Promise<void> {
  let next = 0;
  const sender = async () => {
    while (next < total) {
      const count = Math.min(batch.length, total - next);
      next += count;
      await send(count === batch.length ? batch : batch.slice(0, count));
    }
  };
  await Promise.all(Array.from({ length: inFlight }, sender));
}

/** Counts received items; `all` resolves once `total` have come. */
export class ReceiveCounter {
  received = 0;
  readonly all: Promise<void>;
  readonly #total: number;
  #done!: () => void;

  constructor(total: number) {
    this.#total = total;
    this.all = new Promise<void>((resolve) => (this.#done = resolve));
  }

  add(count = 1): void {
    this.received += count;
    if (this.received === this.#total) this.#done();
  }
}
