/**
 * The load shape of every end-to-end throughput row, Baton's and its peers' alike: IN_FLIGHT
 * producers, each sending batches of BATCH one after the other (a batch waits for its confirm
 * before that producer sends the next), so IN_FLIGHT batches are in flight; each producer numbers
 * its messages 0, 1, 2, ... (bodies.ts). A row sends until `maxMessages` or until its deadline,
 * whichever comes first, and reports how many it sent.
 */
import { performance } from 'node:perf_hooks';

export const BATCH = 1_000;
export const IN_FLIGHT = 4;

export interface LoadLimits {
  /** Messages to send at most. */
  maxMessages: number;
  /** Wall time to start batches in, ms; no batch starts after it. */
  maxMs: number;
}

/** Full runs: 1,000,000 messages or 20 s. */
export const FULL_LIMITS: LoadLimits = { maxMessages: 1_000_000, maxMs: 20_000 };
/** --quick: 50,000 messages or 10 s. */
export const QUICK_LIMITS: LoadLimits = { maxMessages: 50_000, maxMs: 10_000 };
/** The discarded warm-up run of full runs: enough for the JIT, short enough to leave the time for the measured ones. */
export const WARMUP_LIMITS: LoadLimits = { maxMessages: 200_000, maxMs: 5_000 };

/**
 * Runs the producers; `send(producer, first, count)` sends that producer's messages
 * `first .. first+count-1` and resolves on their confirm. Resolves with the count each producer sent.
 */
export async function produceBatches(limits: LoadLimits, send: (producer: number, first: number, count: number) => Promise<unknown>, producers = IN_FLIGHT, batch = BATCH): Promise<number[]> {
  const sent = new Array<number>(producers).fill(0);
  const deadline = performance.now() + limits.maxMs;
  let claimed = 0;
  const producer = async (p: number) => {
    while (claimed < limits.maxMessages && performance.now() < deadline) {
      const count = Math.min(batch, limits.maxMessages - claimed);
      claimed += count;
      const first = sent[p]!;
      sent[p] = first + count;
      await send(p, first, count);
    }
  };
  await Promise.all(Array.from({ length: producers }, (_, p) => producer(p)));
  return sent;
}

export function sum(values: readonly number[]): number {
  let total = 0;
  for (const value of values) total += value;
  return total;
}
