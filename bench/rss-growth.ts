/**
 * Memory rows: what a queued message costs in resident memory. Each measurement runs in a fresh
 * child process (`node --expose-gc`, bench/workers/rss-child.ts), so that no earlier row's freed
 * memory is reused unseen: a broker, one queue with no consumer, `count` 64 B raw messages sent
 * (the load of batch-driver.ts) until `stats().ready` shows them all queued; the process's RSS
 * (every thread: hosts and storage are threads of that process) is read before the first send
 * and after the last, each time after a collection (`global.gc`; without it, as when rssGrowth is
 * called in a process not started with --expose-gc, after a few seconds' settling). Before the
 * first reading the producer makes and drops 500,000 bodies: V8 grows its young generation to
 * the size such a load needs and keeps it, which is the producer's cost, not the queue's. In memory:
 * bytes per message, and that minus the body (the queue's own overhead). Durable with a small
 * `memoryBytes` (16 MiB): the bodies stay in the log on disk, and the figure is what each message
 * still holds in memory. (`global.gc` collects the main isolate only; the hosts' heaps are as they are.)
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { type LoadLimits, produceBatches, sum } from './batch-driver.js';
import { makeBatch } from './bodies.js';
import { withBroker } from './broker-fixture.js';
import type { Extra } from './rounds.js';
import { compiledFileUrl } from '../src/threads/worker-file.js';

export const RSS_BODY_BYTES = 64;
export const DURABLE_MEMORY_BYTES = 16 * 1024 * 1024;
/** Bodies made (and dropped) before the first reading, to grow the heap as the load will. */
const WARMUP_BODIES = 500_000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Collects garbage if the process may (node --expose-gc), else waits `settleMs` for it to settle; how, for the row. */
async function settle(settleMs: number): Promise<string> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (typeof gc === 'function') {
    gc();
    await sleep(200);
    gc();
    return 'global.gc';
  }
  await sleep(settleMs);
  return `settled ${settleMs / 1000} s (no global.gc: run node --expose-gc)`;
}

/** In this process: RSS per message of `count` queued. */
export function rssGrowth(durable: boolean, count: number, settleMs: number): Promise<RssFigures> {
  return withBroker(durable, 'rss', async (broker) => {
    const queue = await broker.queue('rss', { codec: 'raw', ...(durable ? { memoryBytes: DURABLE_MEMORY_BYTES } : {}) });
    // The producer's garbage (a batch of bodies per send) grows V8's young generation to its
    // working size, which it keeps: grown here first, not counted as queued messages' memory.
    for (let first = 0; first < WARMUP_BODIES; first += 1000) makeBatch({ codec: 'raw', size: RSS_BODY_BYTES }, 0, first, 1000);
    await settle(settleMs);
    const before = process.memoryUsage().rss;
    const startedAt = performance.now();
    // No deadline: the row is about `count` messages queued.
    const limits: LoadLimits = { maxMessages: count, maxMs: Number.POSITIVE_INFINITY };
    const sent = sum(await produceBatches(limits, (p, first, n) => queue.sendBatch(makeBatch({ codec: 'raw', size: RSS_BODY_BYTES }, p, first, n))));
    const seconds = (performance.now() - startedAt) / 1000;
    const { ready } = await queue.stats();
    if (ready !== sent) throw new Error(`${sent} messages sent, ${ready} ready in the queue`);
    const how = await settle(settleMs);
    const after = process.memoryUsage().rss;
    const bytesPerMsg = (after - before) / sent;
    const extra: Extra = {
      queued: sent,
      rssBeforeMiB: before / 2 ** 20,
      rssAfterMiB: after / 2 ** 20,
      ...(durable ? { memoryBytes: DURABLE_MEMORY_BYTES } : { overBodyBytesPerMsg: bytesPerMsg - RSS_BODY_BYTES }),
      settle: how,
    };
    return { bytesPerMsg, extra, seconds };
  });
}

export interface RssFigures {
  bytesPerMsg: number;
  extra: Extra;
  seconds: number;
}

/** rssGrowth in a child process of its own, started with --expose-gc. */
export function rssGrowthInChild(durable: boolean, count: number, settleMs: number): Promise<RssFigures> {
  const child = spawn(process.execPath, ['--expose-gc', fileURLToPath(compiledFileUrl('bench/workers/rss-child')), String(durable), String(count), String(settleMs)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (text: string) => (stdout += text));
  child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code === 0) resolve(JSON.parse(stdout) as RssFigures);
      else reject(new Error(`the RSS child exited with code ${code}: ${stderr.trim().split('\n').slice(-5).join(' | ')}`));
    });
  });
}
