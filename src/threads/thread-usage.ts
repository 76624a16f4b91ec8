/**
 * CPU time of the calling thread, from Linux's `/proc/thread-self/stat`: every Baton thread can
 * report its own kernel thread id and CPU, so that a process-wide reading of
 * `/proc/self/task/<tid>/stat` (the bench) can name the thread each figure belongs to. Null where
 * there is no /proc (macOS, Windows).
 */
import { readFileSync } from 'node:fs';

/** Linux reports utime and stime in USER_HZ ticks, 100 a second on every architecture Node runs on. */
const MS_PER_TICK = 10;

export function threadUsage(): { tid: number; cpuMs: number } | null {
  try {
    return parseStat(readFileSync('/proc/thread-self/stat', 'latin1'));
  } catch {
    return null;
  }
}

/**
 * Thread id (field 1) and utime + stime (fields 14 and 15) of a `stat` line, in ms. The command
 * name (field 2) is in parentheses and may hold spaces: fields are counted after its last ')'.
 */
export function parseStat(text: string): { tid: number; cpuMs: number } | null {
  const close = text.lastIndexOf(')');
  if (close < 0) return null;
  const tid = Number.parseInt(text, 10);
  // After ')': field 3 (state) is index 0, so fields 14 and 15 are indexes 11 and 12.
  const fields = text.slice(close + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  return Number.isFinite(tid) && Number.isFinite(ticks) ? { tid, cpuMs: ticks * MS_PER_TICK } : null;
}
