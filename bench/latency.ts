/**
 * Latency rows and their bars, all under one pacer.
 *
 * The pacer (`pace`) is open loop and sleeps between sends: at each wake-up of a timer it sends
 * every message whose time has come (`start + i / rate`; a send is never held back by the
 * previous one's answer), then sleeps until the next is due. Node's timers wake about once a
 * millisecond, so at 10,000/s the sends go in bursts of about ten. It does not spin: a pacer
 * spinning on setImmediate held a core and made its own garbage, and the rows measured that.
 *
 * - Baton: single `queue.send()`s of 64 B raw bodies; each body carries the time it was sent;
 *   the consumer on the same thread takes `performance.now() - sent`: publish -> handler.
 * - postMessage round trip (the bar for memory): the same pacer at the same rate posts the same
 *   bodies to an echoing worker; the main thread takes `now - sent` when the echo arrives.
 * - fdatasync (the bar for durable): 4 KiB appended to a file, then fdatasync; one at a time.
 * How late the pacer sent (sendLagP99Us) is reported beside: a late send is the pacer's thread
 * being busy, and is the same for both. A warm-up at the rate (1 s; --quick 0.2 s) runs first and
 * is not counted.
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

/** p50/p99/p99.9 in µs of samples in ms. */
export function latencyFigures(samplesMs: Float64Array): LatencyFigures {
  const sorted = Float64Array.from(samplesMs).sort();
  return { p50Us: quantileSorted(sorted, 0.5) * 1000, p99Us: quantileSorted(sorted, 0.99) * 1000, p999Us: quantileSorted(sorted, 0.999) * 1000, samples: sorted.length };
}

/**
 * Calls `fire(i)` for i = 0 .. count-1 at `start + i / ratePerSec`: at each timer wake-up every
 * send that is due, then a sleep until the next. Resolves with each send's lateness (ms) and the
 * rate achieved.
 */
export function pace(ratePerSec: number, count: number, fire: (i: number) => void): Promise<{ lagMs: Float64Array; achievedPerSec: number }> {
  const interval = 1000 / ratePerSec;
  const lagMs = new Float64Array(count);
  const start = performance.now() + 1;
  let i = 0;
  return new Promise((resolve) => {
    const wake = () => {
      const now = performance.now();
      for (let due = start + i * interval; i < count && due <= now; due = start + ++i * interval) {
        lagMs[i] = now - due;
        fire(i);
      }
      if (i < count) setTimeout(wake, Math.max(0, start + i * interval - performance.now()));
      else resolve({ lagMs, achievedPerSec: count / ((performance.now() - start) / 1000) });
    };
    setTimeout(wake, 1);
  });
}

export const LATENCY_BODY_BYTES = 64;

/** Baton: paced single sends to a queue (memory or durable), handled on the main thread. */
export function batonLatency(label: string, durable: boolean, ratePerSec: number, count: number, warmupCount: number): Promise<{ figures: LatencyFigures; extra: Extra }> {
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
    const total = warmupCount + count;
    const latencyMs = new Float64Array(total);
    const consumer = queue.consume(
      (message) => {
        const now = performance.now();
        const { s, t } = check.handleBody(message.body, LATENCY_BODY_BYTES);
        latencyMs[s] = now - t;
      },
      { prefetch: 2_000 },
    );
    // Warm-up: the same stream, not counted (sequence numbers go on from it).
    await pace(ratePerSec, warmupCount, (i) => {
      queue.send(rawBody(LATENCY_BODY_BYTES, 0, i, performance.now())).catch(fail);
    });
    await check.whenHandled(warmupCount);
    const cost = await RowCost.start(broker, durable);
    const { lagMs, achievedPerSec } = await pace(ratePerSec, count, (i) => {
      queue.send(rawBody(LATENCY_BODY_BYTES, 0, warmupCount + i, performance.now())).catch(fail);
    });
    await check.whenHandled(total);
    const endedAt = await whenDrained([queue]);
    const costs = await cost.stop(count, endedAt);
    check.verify([total]);
    await consumer.close();
    const lag = latencyFigures(lagMs);
    return { figures: latencyFigures(latencyMs.subarray(warmupCount)), extra: { targetPerSec: ratePerSec, achievedPerSec, sendLagP99Us: lag.p99Us, ...costs } };
  });
}

/** postMessage to an echoing worker and back, under the same pacer: `now - sent` when the echo arrives. */
export async function postMessageRoundTrip(ratePerSec: number, count: number, warmupCount: number): Promise<{ figures: LatencyFigures; extra: Extra }> {
  const worker = new Worker(`require('node:worker_threads').parentPort.on('message', (m) => require('node:worker_threads').parentPort.postMessage(m));`, { eval: true });
  try {
    const total = warmupCount + count;
    const samples = new Float64Array(total);
    let answered = 0;
    let whenAll: (() => void) | null = null;
    worker.on('message', (body: Uint8Array) => {
      const now = performance.now();
      const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
      samples[view.getUint32(0, true)] = now - view.getFloat64(8, true);
      if (++answered === total) whenAll?.();
    });
    const send = (i: number) => {
      const body = new Uint8Array(LATENCY_BODY_BYTES);
      const view = new DataView(body.buffer);
      view.setUint32(0, i, true);
      view.setFloat64(8, performance.now(), true);
      worker.postMessage(body);
    };
    await pace(ratePerSec, warmupCount, send);
    const { lagMs, achievedPerSec } = await pace(ratePerSec, count, (i) => send(warmupCount + i));
    if (answered < total) await new Promise<void>((resolve) => (whenAll = resolve));
    return { figures: latencyFigures(samples.subarray(warmupCount)), extra: { targetPerSec: ratePerSec, achievedPerSec, sendLagP99Us: latencyFigures(lagMs).p99Us } };
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
