/**
 * The handler module of the bench's worker-handler rows: `queue.process` (piscina tasks
 * `{ id, body, ... }`), `topic.process` (member threads, `{ partition, body, ... }`) and the
 * piscina peer (`{ body }` with the body as JSON text). Each call decodes its body (bench/bodies.ts)
 * and checks it against the row's shared check (bench/sequence-check.ts: order per thread and
 * partition, no duplicates); a failure is recorded for the bench and thrown, so the transport sees
 * a failed handler too.
 */
import { getEnvironmentData } from 'node:worker_threads';
import { readBody } from '../../bench/bodies.js';
import { CHECK_ENV_KEY, type SharedCheckData, SharedSequenceCheck } from '../../bench/sequence-check.js';
import { threadUsage } from '../../src/threads/thread-usage.js';

const data = getEnvironmentData(CHECK_ENV_KEY) as SharedCheckData | undefined;
if (data === undefined) throw new Error(`check-handler: no ${CHECK_ENV_KEY} in the worker environment data (set it before the pool starts)`);
const check = new SharedSequenceCheck(data);
const tid = threadUsage()?.tid;
if (tid !== undefined) check.registerThread(tid);

export default function handle(task: { body: unknown; partition?: number }): void {
  let read: ReturnType<typeof readBody>;
  try {
    read = readBody(task.body, data!.size);
  } catch (error) {
    return check.damaged(error);
  }
  check.handle(read.p, read.s, task.partition ?? 0);
}
