/**
 * One broker per data directory. The lock is a file, `LOCK`, created with O_EXCL (atomic on
 * local file systems) and holding the owner's pid, its start time and host. A lock left by a
 * process that died (kill -9, power loss) is recoverable: when the pid is not running, or runs
 * but started at another time (the pid was reused), the lock is stale and is taken over.
 *
 * Why not flock: Node has no flock, and an add-on for it is a dependency for one call. The
 * pid file is also readable by people: `cat LOCK` says who holds the directory.
 *
 * Take-over renames the stale file aside before removing it, so two processes that both find
 * it stale cannot both remove it and then both create a fresh one; the loser of the rename
 * retries and meets the winner's live lock.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DataDirLockedError, StorageFailedError } from '../errors.js';
import { DIR_MODE, FILE_MODE } from './file-layer.js';

export const LOCK_FILE = 'LOCK';
const TAKEOVER_ATTEMPTS_MAX = 5;

interface LockOwner {
  pid: number;
  /** Process start time in clock ticks since boot (/proc/<pid>/stat field 22); null off Linux. */
  startTicks: number | null;
  host: string;
}

/** Start time (clock ticks since boot) and state letter of a process, from /proc; null off Linux or when gone. */
function processStat(pid: number): { startTicks: number; state: string } | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may contain spaces and parentheses: split after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const startTicks = Number(fields[19]);
    return Number.isFinite(startTicks) ? { startTicks, state: fields[0] ?? '?' } : null;
  } catch {
    return null;
  }
}

function processStartTicks(pid: number): number | null {
  return processStat(pid)?.startTicks ?? null;
}

function isAlive(owner: LockOwner): boolean {
  if (owner.host !== os.hostname()) return true; // cannot tell: assume it runs
  try {
    process.kill(owner.pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ESRCH') return false;
    // EPERM: a process with that pid exists but belongs to someone else.
  }
  const stat = processStat(owner.pid);
  if (stat === null) return owner.startTicks === null; // no /proc here: the pid answered, trust it
  // A zombie (killed, not yet reaped by its parent) holds nothing any more.
  if (stat.state === 'Z' || stat.state === 'X') return false;
  return owner.startTicks === null || stat.startTicks === owner.startTicks;
}

function parseOwner(text: string): LockOwner | null {
  try {
    const value = JSON.parse(text) as Partial<LockOwner>;
    if (typeof value.pid !== 'number' || typeof value.host !== 'string') return null;
    return { pid: value.pid, host: value.host, startTicks: typeof value.startTicks === 'number' ? value.startTicks : null };
  } catch {
    return null;
  }
}

export class DataDirLock {
  readonly path: string;
  readonly #content: string;
  #released = false;

  private constructor(file: string, content: string) {
    this.path = file;
    this.#content = content;
  }

  /**
   * Creates `dataDir` (0700) if needed and locks it, or throws `DataDirLockedError`.
   * `adoptOwn`: a lock held by this very process is taken over too: the supervisor restarts a
   * storage thread that died holding it (a thread cannot release what it held when terminated).
   */
  static acquire(dataDir: string, options: { adoptOwn?: boolean } = {}): DataDirLock {
    try {
      fs.mkdirSync(dataDir, { recursive: true, mode: DIR_MODE });
    } catch (error) {
      throw new StorageFailedError(`cannot create data directory ${dataDir}: ${(error as Error).message}`, { cause: error });
    }
    const file = path.join(dataDir, LOCK_FILE);
    const content = JSON.stringify({ pid: process.pid, startTicks: processStartTicks(process.pid), host: os.hostname() } satisfies LockOwner);
    for (let attempt = 0; attempt < TAKEOVER_ATTEMPTS_MAX; attempt++) {
      try {
        const fd = fs.openSync(file, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, FILE_MODE);
        try {
          fs.writeSync(fd, content);
          fs.fsyncSync(fd);
        } finally {
          fs.closeSync(fd);
        }
        return new DataDirLock(file, content);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') {
          throw new StorageFailedError(`cannot create lock file ${file}: ${(error as Error).message}`, { cause: error });
        }
      }
      let text: string;
      try {
        text = fs.readFileSync(file, 'utf8');
      } catch {
        continue; // removed meanwhile: try to create it again
      }
      const owner = parseOwner(text);
      // An unparsable lock is one whose writer died between creating and filling it.
      const ours = owner !== null && options.adoptOwn === true && owner.pid === process.pid && owner.host === os.hostname();
      if (owner !== null && !ours && isAlive(owner)) {
        throw new DataDirLockedError(
          `data directory ${dataDir} is in use by process ${owner.pid} on ${owner.host} (lock file ${file}); close that broker or use another directory`,
        );
      }
      const aside = `${file}.stale-${process.pid}-${randomBytes(4).toString('hex')}`;
      try {
        fs.renameSync(file, aside);
      } catch {
        continue; // another process took it over first
      }
      // Moved aside: if it was not the stale file we read (someone replaced it in between), put it back.
      const moved = fs.readFileSync(aside, 'utf8');
      if (moved !== text) {
        try {
          fs.linkSync(aside, file);
        } catch {
          // a third process already created a fresh lock: it owns the directory
        }
      }
      fs.rmSync(aside, { force: true });
    }
    throw new DataDirLockedError(`data directory ${dataDir}: could not take over its stale lock ${file} after ${TAKEOVER_ATTEMPTS_MAX} attempts`);
  }

  /** Removes the lock file if it is still ours. Idempotent. */
  release(): void {
    if (this.#released) return;
    this.#released = true;
    try {
      if (fs.readFileSync(this.path, 'utf8') === this.#content) fs.rmSync(this.path, { force: true });
    } catch {
      // already gone
    }
  }
}
