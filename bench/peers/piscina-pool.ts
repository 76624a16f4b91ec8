/**
 * Peer of the worker-handler rows (`queue.process(handler, { threads: 2 })`): piscina alone, one
 * task per message, with the pool options `queue.process` uses (1 to 2 threads) and the same
 * handler module (bench/workers/check-handler.ts), which decodes each body — here JSON text, as
 * a producer would hand it over without a queue — and checks it (loss and duplicates: piscina
 * promises no order). A batch is confirmed when its
 * tasks resolved, so the same IN_FLIGHT batches are outstanding; the clock stops when the last
 * task resolved.
 */
import { performance } from 'node:perf_hooks';
import { setEnvironmentData } from 'node:worker_threads';
import { Piscina } from 'piscina';
import { compiledFileUrl } from '../../src/threads/worker-file.js';
import { IN_FLIGHT, type LoadLimits, produceBatches, sum } from '../batch-driver.js';
import { type BodyShape, makeBatch } from '../bodies.js';
import type { RunResult } from '../rounds.js';
import { RowCost, rolesOf } from '../row-cost.js';
import { CHECK_ENV_KEY, createSharedCheck, SharedSequenceCheck } from '../sequence-check.js';

export async function measurePiscina(shape: BodyShape, limits: LoadLimits): Promise<RunResult> {
  const label = `piscina ${shape.codec} ${shape.size} B`;
  const data = createSharedCheck(IN_FLIGHT, limits.maxMessages, shape.size, false);
  setEnvironmentData(CHECK_ENV_KEY, data);
  const check = new SharedSequenceCheck(data);
  const pool = new Piscina({ filename: compiledFileUrl('bench/workers/check-handler').href, minThreads: 1, maxThreads: 2, idleTimeout: 1000 });
  try {
    const send = (p: number, first: number, count: number) =>
      Promise.all(makeBatch(shape, p, first, count).map((body) => pool.run({ body: shape.codec === 'json' ? JSON.stringify(body) : body })));
    const cost = await RowCost.start();
    const startedAt = performance.now();
    const sent = await produceBatches(limits, send);
    const messages = sum(sent);
    await check.whenHandled(label, messages);
    const endedAt = performance.now();
    const extra = await cost.stop(messages, endedAt, rolesOf(check.threadIds, 'handlers'));
    check.verify(label, sent);
    return { messages, seconds: (endedAt - startedAt) / 1000, extra };
  } finally {
    await pool.destroy();
  }
}
