/**
 * A broker for one measured run, and the clock stop of queue rows.
 *
 * Each run starts its own broker (2 actor hosts), in memory or on a fresh data directory
 * (fsync 'always': a batch is confirmed after the fdatasync that covers it), and closes it after;
 * the first 'consumer-error' it emits (a handler that threw, a commit that failed) fails the row.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Broker, type Queue } from '../src/index.js';

export interface ErrorWatch {
  /** The first consumer error of this broker, null while none. */
  readonly first: Error | null;
  /** Called (once) with the first consumer error. */
  onError: (error: Error) => void;
}

export async function withBroker<T>(durable: boolean, label: string, work: (broker: Broker, errors: ErrorWatch) => Promise<T>): Promise<T> {
  const dataDir = durable ? await mkdtemp(path.join(os.tmpdir(), `baton-bench-${label}-`)) : undefined;
  const broker = await Broker.start({ workers: 2, ...(dataDir ? { dataDir } : {}) });
  const watch: ErrorWatch & { first: Error | null } = { first: null, onError: () => undefined };
  broker.on('consumer-error', (event: { error?: unknown }) => {
    if (watch.first !== null) return;
    const cause = event.error;
    watch.first = new Error(`${label}: the broker reported a consumer error: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    watch.onError(watch.first);
  });
  try {
    return await work(broker, watch);
  } finally {
    await broker.close();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  }
}

/**
 * The clock stop of a queue row, once its last message was handled: polls `stats()` of every
 * queue until each has nothing ready and nothing unacknowledged — the broker holds the last ack —
 * and returns the time of that observation.
 */
export async function whenDrained(queues: readonly Queue[], timeoutMs = 30_000): Promise<number> {
  const startedAt = performance.now();
  for (;;) {
    const stats = await Promise.all(queues.map((queue) => queue.stats()));
    const at = performance.now();
    if (stats.every((s) => s.ready === 0 && s.unacked === 0)) return at;
    if (at - startedAt > timeoutMs) {
      const left = stats.reduce((n, s) => n + s.ready + s.unacked, 0);
      throw new Error(`queues not drained ${timeoutMs / 1000} s after the last message was handled: ${left} ready or unacked`);
    }
    await new Promise((resolve) => setImmediate(resolve));
  }
}
