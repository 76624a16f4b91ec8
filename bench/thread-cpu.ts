/**
 * CPU per thread of this process over a measured window, from `/proc/self/task/<tid>/stat` read
 * before and after (Linux; elsewhere every figure is null). Threads are named by role where we
 * know their kernel thread ids: the main thread (tid = pid), the broker's threads once
 * `broker.stats()` reports them (`workers[i].tid`: actor host i; `threads: [{ role, tid }]`:
 * storage, supervisor, ...), the bench's own handler and peer threads; all the rest (V8's
 * helpers, libuv's pool, and the broker's threads while stats() has no tids) is `other`.
 *
 * Resolution: clock ticks of 10 ms per thread, so figures of a short (--quick) row are rough.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { parseStat } from '../src/threads/thread-usage.js';

/** CPU ms by thread id at one moment. */
export type CpuSnapshot = Map<number, number>;

export function snapshotThreads(): CpuSnapshot | null {
  let tids: string[];
  try {
    tids = readdirSync('/proc/self/task');
  } catch {
    return null;
  }
  const out: CpuSnapshot = new Map();
  for (const tid of tids) {
    try {
      const usage = parseStat(readFileSync(`/proc/self/task/${tid}/stat`, 'latin1'));
      if (usage !== null) out.set(usage.tid, usage.cpuMs);
    } catch {
      // The thread ended between the listing and the read: its CPU is gone with it.
    }
  }
  return out;
}

/** Thread roles as `broker.stats()` will report them; the fields are optional until the runtime has them. */
export interface ThreadRoleStats {
  workers?: ReadonlyArray<{ index?: number; tid?: number }>;
  threads?: ReadonlyArray<{ role: string; tid: number }>;
}

/** Role by tid from broker stats: `host<i>` for actor hosts, the stated role for the others. */
export function brokerThreadRoles(stats: ThreadRoleStats): Map<number, string> {
  const roles = new Map<number, string>();
  stats.workers?.forEach((worker, i) => {
    if (typeof worker.tid === 'number') roles.set(worker.tid, `host${worker.index ?? i}`);
  });
  for (const thread of stats.threads ?? []) if (typeof thread.tid === 'number') roles.set(thread.tid, thread.role);
  return roles;
}

/**
 * CPU ns per message of each role between two snapshots: `cpu<Role>NsPerMsg` keys, main and
 * other always present (null without /proc). A thread that started in the window counts from 0.
 */
export function cpuPerMessage(before: CpuSnapshot | null, after: CpuSnapshot | null, messages: number, roles: ReadonlyMap<number, string>): Record<string, number | null> {
  if (before === null || after === null || messages <= 0) return { cpuMainNsPerMsg: null, cpuOtherNsPerMsg: null };
  const byRole = new Map<string, number>([['main', 0]]);
  for (const role of roles.values()) byRole.set(role, 0);
  byRole.set('other', 0);
  for (const [tid, cpuMs] of after) {
    const role = tid === process.pid ? 'main' : (roles.get(tid) ?? 'other');
    byRole.set(role, byRole.get(role)! + Math.max(0, cpuMs - (before.get(tid) ?? 0)));
  }
  const out: Record<string, number | null> = {};
  for (const [role, cpuMs] of byRole) out[`cpu${role[0]!.toUpperCase()}${role.slice(1)}NsPerMsg`] = (cpuMs * 1e6) / messages;
  return out;
}
