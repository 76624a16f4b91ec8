/**
 * Peer: fastq (an in-process work queue) on the main thread — the bar for Baton's "in memory, one
 * consumer on the main thread" rows. A producer's batch is JSON.stringify'd message by message
 * (raw: each body copied) and pushed; the worker JSON.parses (raw: reads) each and checks it. A
 * batch is confirmed when its messages are handled, so the same IN_FLIGHT batches are
 * outstanding; the clock stops when the last one is.
 */
import { performance } from 'node:perf_hooks';
import { IN_FLIGHT, type LoadLimits, produceBatches, sum } from '../batch-driver.js';
import { type BodyShape, makeBatch } from '../bodies.js';
import type { RunResult } from '../rounds.js';
import { RowCost } from '../row-cost.js';
import { SequenceCheck } from '../sequence-check.js';
import { optionalImport, type Optional } from './optional-import.js';

type Done = (error: Error | null) => void;
type Fastq = (worker: (task: string | Uint8Array, done: Done) => void, concurrency: number) => { push(task: string | Uint8Array, done: Done): void };

let loaded: Promise<Optional<{ default: Fastq }>> | undefined;

/** Null when fastq loads here, else why not. */
export async function fastqSkipped(): Promise<string | null> {
  return (await (loaded ??= optionalImport('fastq'))).skipped ?? null;
}

export async function measureFastq(shape: BodyShape, limits: LoadLimits): Promise<RunResult> {
  const fastq = (await (loaded ??= optionalImport('fastq'))).module!.default;
  const check = new SequenceCheck(`fastq ${shape.codec} ${shape.size} B`, IN_FLIGHT);
  const queue = fastq((task, done) => {
    check.handleBody(task, shape.size);
    done(null);
  }, 1);
  const send = (p: number, first: number, count: number) =>
    new Promise<void>((resolve, reject) => {
      let left = count;
      const done: Done = (error) => (error !== null ? reject(error) : --left === 0 && resolve());
      for (const body of makeBatch(shape, p, first, count)) queue.push(shape.codec === 'json' ? JSON.stringify(body) : (body as Uint8Array).slice(), done);
    });
  const cost = await RowCost.start();
  const startedAt = performance.now();
  const sent = await produceBatches(limits, send);
  const messages = sum(sent);
  await check.whenHandled(messages);
  const endedAt = performance.now();
  const extra = await cost.stop(messages, endedAt);
  check.verify(sent);
  return { messages, seconds: (endedAt - startedAt) / 1000, extra };
}
