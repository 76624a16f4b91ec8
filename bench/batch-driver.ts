/**
 * The load shape every end-to-end suite uses (queue, topic, and their postMessage peer): `total`
 * items sent in batches, a fixed number of batches in flight (each waits for its confirm), and
 * a count of items received that resolves when it reaches the total; and the suite around them
 * (peer rows, then memory/durable x size x readers, ratios to the peer).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Broker } from '../src/broker/broker.js';
import { measurePostMessageQueue } from './postmessage-queue.js';
import { type BenchResult, median, type SuiteOptions } from './report.js';

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

/** One broker for one measurement: started with 2 hosts, in memory or on a fresh data directory (fsync 'always'), closed and removed after. */
export async function withBroker<T>(durable: boolean, label: string, work: (broker: Broker) => Promise<T>): Promise<T> {
  const dataDir = durable ? await mkdtemp(path.join(os.tmpdir(), `baton-bench-${label}-`)) : undefined;
  const broker = await Broker.start({ workers: 2, ...(dataDir ? { dataDir } : {}) });
  try {
    return await work(broker);
  } finally {
    await broker.close();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  }
}

export interface EndToEndSuite {
  /** Row prefix and log label: 'queue' or 'topic'. */
  label: string;
  /** Peer row name for a size. */
  peerName: (size: number) => string;
  /** The reader counts measured (consumers, group members). */
  readers: readonly number[];
  rowName: (durable: boolean, size: number, readers: number) => string;
  /** Items/s for one run. */
  measure: (size: number, durable: boolean, readers: number, count: number) => Promise<number>;
}

/**
 * The rows of an end-to-end suite: the postMessage peer at 64 and 256 B, then every
 * memory/durable x size x readers row (median of 3 runs, 1 with --quick), each with its ratio
 * to the peer of its size.
 */
export async function runEndToEnd(suite: EndToEndSuite, options: SuiteOptions): Promise<BenchResult[]> {
  const runs = options.quick ? 1 : 3;
  const count = options.quick ? 20_000 : 200_000;
  const results: BenchResult[] = [];
  const peerRates = new Map<number, number>();
  for (const size of SIZES) {
    const rates: number[] = [];
    for (let run = 0; run < runs; run++) rates.push(await measurePostMessageQueue(size, count, BATCH));
    const rate = median(rates);
    peerRates.set(size, rate);
    options.log(`  ${suite.peerName(size)}: ${(rate / 1e3).toFixed(1)} k msgs/s`);
    results.push({ name: suite.peerName(size), messages: count, msgsPerSec: rate, mbPerSec: (rate * size) / 1e6, p50Us: null, p99Us: null });
  }
  for (const durable of [false, true]) {
    for (const size of SIZES) {
      for (const readers of suite.readers) {
        const rates: number[] = [];
        for (let run = 0; run < runs; run++) {
          rates.push(await suite.measure(size, durable, readers, count));
          options.log(`  ${suite.label} ${durable ? 'durable' : 'memory'} ${size} B, ${readers} reader(s), run ${run + 1}/${runs}: ${(rates.at(-1)! / 1e3).toFixed(1)} k/s`);
        }
        const rate = median(rates);
        results.push({
          name: suite.rowName(durable, size, readers),
          messages: count,
          msgsPerSec: rate,
          mbPerSec: (rate * size) / 1e6,
          p50Us: null,
          p99Us: null,
          extra: { min: Math.min(...rates), max: Math.max(...rates), xPostMessage: rate / peerRates.get(size)! },
        });
      }
    }
  }
  return results;
}

export const BATCH = 1_000;
export const IN_FLIGHT = 4;
const SIZES = [64, 256];
