/**
 * The handler module of the bench's worker-handler rows: `queue.process` (piscina tasks
 * `{ id, body, ... }`), `topic.process` (member threads, `{ partition, body, ... }`) and the
 * piscina peer (`{ body }` with the body as JSON text). Each call decodes its body (bench/bodies.ts)
 * and checks it against the row's shared check (bench/sequence-check.ts: order per thread and
 * partition, no duplicates); a failure is recorded for the bench and thrown, so the transport sees
 * a failed handler too.
 */
import { getEnvironmentData } from 'node:worker_threads';
import { readBody } from '../bodies.js';
import { CHECK_ENV_KEY, type SharedCheckData, SharedSequenceCheck } from '../sequence-check.js';
import { threadUsage } from '../../src/threads/thread-usage.js';

const data = getEnvironmentData(CHECK_ENV_KEY) as SharedCheckData | undefined;
if (data === undefined) throw new Error(`check-handler: no ${CHECK_ENV_KEY} in the worker environment data (set it before the pool starts)`);
const check = new SharedSequenceCheck(data);
const tid = threadUsage()?.tid;
if (tid !== undefined) check.registerThread(tid);

const hashRounds = data.hashRounds ?? 0;

/** `rounds` of FNV-1a over `bytes`: CPU work whose result depends on every byte (not optimised away). */
export function fnvRounds(bytes: Uint8Array, rounds: number): number {
  let hash = 0x811c9dc5;
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < bytes.length; i++) hash = Math.imul(hash ^ bytes[i]!, 0x01000193);
    hash ^= r;
  }
  return hash >>> 0;
}

export default function handle(task: { body: unknown; partition?: number }): void {
  let read: ReturnType<typeof readBody>;
  try {
    read = readBody(task.body, data!.size);
  } catch (error) {
    return check.damaged(error);
  }
  // The work: a hash of the body; a result that cannot come out means it was skipped.
  if (hashRounds > 0 && task.body instanceof Uint8Array && fnvRounds(task.body, hashRounds) === 0x1_0000_0000) return check.damaged(new Error('impossible hash'));
  check.handle(read.p, read.s, task.partition ?? 0);
}
