/**
 * Latency rows and their bars.
 *
 * - Baton: single `queue.send()`s of 64 B raw bodies paced at a fixed rate, open loop (a send is
 *   not held back by the previous one's confirm: the schedule is absolute, `start + i / rate`,
 *   and a pacer that fell behind sends what is due at once). Each body carries the time it was
 *   due; the consumer on the same thread takes `performance.now() - due`: publish -> handler,
 *   including any lateness of the pacer (no coordinated omission). The pacer spins on setImmediate
 *   and performance.now() (no timer per message: 1 ms timer granularity would bunch sends).
 * - postMessage round trip: the main thread posts to an echoing worker and waits for the echo,
 *   paced at 1,000/s so the worker parks between messages as a lightly loaded host does.
 * - fdatasync: 4 KiB appended to a file in the bench's temp directory, then fdatasync; one at a
 *   time, timed together.
 * The first tenth of each series (at least 100 samples when there are enough) is warm-up, left out.
 * The Baton rows' main-thread CPU per message includes the pacer's spinning.
 */
import { closeSync, fdatasyncSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import { rawBody } from './bodies.js';
import { whenDrained, withBroker } from './broker-fixture.js';
import { quantileSorted } from './report.js';
import type { Extra } from './rounds.js';
import { RowCost } from './row-cost.js';
import { SequenceCheck } from './sequence-check.js';

export interface LatencyFigures {
  p50Us: number;
  p99Us: number;
  p999Us: number;
  samples: number;
}

const immediate = () => new Promise((resolve) => setImmediate(resolve));

/** p50/p99/p99.9 in µs of samples in ms, warm-up left out. */
export function latencyFigures(samplesMs: Float64Array): LatencyFigures {
  const warmup = samplesMs.length >= 1_000 ? Math.max(100, Math.floor(samplesMs.length / 10)) : 0;
  const sorted = Float64Array.from(samplesMs.subarray(warmup)).sort();
  return { p50Us: quantileSorted(sorted, 0.5) * 1000, p99Us: quantileSorted(sorted, 0.99) * 1000, p999Us: quantileSorted(sorted, 0.999) * 1000, samples: sorted.length };
}

/**
 * Calls `fire(i, dueAt)` for i = 0 .. count-1 at `start + i / ratePerSec`, spinning on
 * setImmediate between sends. Resolves with each send's lateness (ms) and the rate achieved.
 */
export async function pace(ratePerSec: number, count: number, fire: (i: number, dueAt: number) => void): Promise<{ lagMs: Float64Array; achievedPerSec: number }> {
  const interval = 1000 / ratePerSec;
  const lagMs = new Float64Array(count);
  const start = performance.now() + 1;
  let i = 0;
  while (i < count) {
    const now = performance.now();
    for (let due = start + i * interval; i < count && due <= now; due = start + ++i * interval) {
      fire(i, due);
      lagMs[i] = now - due;
    }
    if (i < count) await immediate();
  }
  return { lagMs, achievedPerSec: count / ((performance.now() - start) / 1000) };
}

export const LATENCY_BODY_BYTES = 64;

/** Baton: paced single sends to a queue (memory or durable), handled on the main thread. */
export function batonLatency(label: string, durable: boolean, ratePerSec: number, count: number): Promise<{ figures: LatencyFigures; extra: Extra }> {
  return withBroker(durable, 'latency', async (broker, errors) => {
    const queue = await broker.queue('latency', { codec: 'raw' });
    const check = new SequenceCheck(label, 1);
    const fail = (error: Error) => {
      try {
        check.fail(error);
      } catch {
        // Recorded: whenHandled throws it.
      }
    };
    errors.onError = fail;
    const latencyMs = new Float64Array(count);
    const consumer = queue.consume(
      (message) => {
        const now = performance.now();
        const { s, t } = check.handleBody(message.body, LATENCY_BODY_BYTES);
        latencyMs[s] = now - t;
      },
      { prefetch: 2_000 },
    );
    const cost = await RowCost.start(broker, durable);
    const { lagMs, achievedPerSec } = await pace(ratePerSec, count, (i, dueAt) => {
      queue.send(rawBody(LATENCY_BODY_BYTES, 0, i, dueAt)).catch(fail);
    });
    await check.whenHandled(count);
    const endedAt = await whenDrained([queue]);
    const costs = await cost.stop(count, endedAt);
    check.verify([count]);
    await consumer.close();
    const lag = latencyFigures(lagMs);
    return { figures: latencyFigures(latencyMs), extra: { targetPerSec: ratePerSec, achievedPerSec, sendLagP99Us: lag.p99Us, ...costs } };
  });
}

/** postMessage to an echoing worker and back, one at a time, paced at `ratePerSec`. */
export async function postMessageRoundTrip(ratePerSec: number, count: number): Promise<LatencyFigures> {
  const worker = new Worker(`require('node:worker_threads').parentPort.on('message', (m) => require('node:worker_threads').parentPort.postMessage(m));`, { eval: true });
  try {
    let answer: (() => void) | null = null;
    worker.on('message', () => answer?.());
    const body = new Uint8Array(LATENCY_BODY_BYTES);
    const samples = new Float64Array(count);
    const interval = 1000 / ratePerSec;
    const start = performance.now() + 1;
    for (let i = 0; i < count; i++) {
      while (performance.now() < start + i * interval) await immediate();
      const sentAt = performance.now();
      await new Promise<void>((resolve) => {
        answer = resolve;
        worker.postMessage(body);
      });
      samples[i] = performance.now() - sentAt;
    }
    return latencyFigures(samples);
  } finally {
    await worker.terminate();
  }
}

/** 4 KiB appended and fdatasynced, `count` times, in a temp directory beside Baton's data directories. */
export function fdatasyncLatency(count: number): LatencyFigures {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'baton-bench-fdatasync-'));
  const fd = openSync(path.join(dir, 'append.log'), 'a');
  try {
    const block = new Uint8Array(4096).fill(7);
    const samples = new Float64Array(count);
    for (let i = 0; i < count; i++) {
      const startedAt = performance.now();
      writeSync(fd, block);
      fdatasyncSync(fd);
      samples[i] = performance.now() - startedAt;
    }
    return latencyFigures(samples);
  } finally {
    closeSync(fd);
    rmSync(dir, { recursive: true, force: true });
  }
}
