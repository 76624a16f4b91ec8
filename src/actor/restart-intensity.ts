/**
 * Restart intensity, exactly as OTP's supervisor counts it (`supervisor:add_restart/3`): keep the
 * times of restarts; on each new restart, drop those older than `nowMs - withinMs` (a restart
 * exactly `withinMs` ago still counts, as in OTP's `R >= Threshold`), add this one, and if the
 * count then exceeds `maxRestarts` the limit is exceeded. With `maxRestarts = k`, k restarts in a
 * window are allowed and the (k+1)-th is refused; `maxRestarts = 0` refuses every restart.
 *
 * One instance per restart scope: an actor under one_for_one, a group under one_for_all, and the
 * supervisor thread may keep one for its hosts. Time is passed in, never read, so it must come
 * from one monotonic clock (performance.now()); going backwards is an error.
 */
import assert from 'node:assert/strict';
import { InvalidArgumentError } from '../errors.js';

/** Bound on `maxRestarts`: the window keeps at most `maxRestarts + 1` timestamps per scope. */
export const INTENSITY_RESTARTS_MAX = 10_000;

export interface IntensityVerdict {
  /** False when this restart exceeds the limit: stop instead of restarting. */
  allowed: boolean;
  /** Restarts within the window, this one included (at most `maxRestarts + 1`). */
  restartsInWindow: number;
}

export function validateIntensity(maxRestarts: unknown, withinMs: unknown): void {
  if (typeof maxRestarts !== 'number' || !Number.isSafeInteger(maxRestarts) || maxRestarts < 0 || maxRestarts > INTENSITY_RESTARTS_MAX) {
    throw new InvalidArgumentError(`maxRestarts must be an integer in [0, ${INTENSITY_RESTARTS_MAX}] (restarts allowed within withinMs; 0 allows none), got ${String(maxRestarts)}`);
  }
  if (typeof withinMs !== 'number' || !Number.isSafeInteger(withinMs) || withinMs < 1) {
    throw new InvalidArgumentError(`withinMs must be a positive integer number of milliseconds (the intensity period, e.g. 30000), got ${String(withinMs)}`);
  }
}

export class RestartIntensity {
  readonly maxRestarts: number;
  readonly withinMs: number;
  /** Ascending. Bounded: only the newest `maxRestarts + 1` can matter to any later verdict. */
  #restartTimesMs: number[] = [];

  constructor(maxRestarts: number, withinMs: number) {
    validateIntensity(maxRestarts, withinMs);
    this.maxRestarts = maxRestarts;
    this.withinMs = withinMs;
  }

  /** Records a restart at `nowMs` and says whether it is within the limit. */
  recordRestart(nowMs: number): IntensityVerdict {
    const last = this.#restartTimesMs.at(-1);
    if (!Number.isFinite(nowMs) || (last !== undefined && nowMs < last)) {
      throw new InvalidArgumentError(`restart time ${String(nowMs)} ms is before the previous one (${String(last)} ms): pass times from one monotonic clock (performance.now())`);
    }
    this.#dropOlderThan(nowMs - this.withinMs);
    this.#restartTimesMs.push(nowMs);
    // Once more than maxRestarts are kept the verdict is already "exceeded"; older ones are
    // older than all of these, so they fall out of any later window first and cannot matter.
    if (this.#restartTimesMs.length > this.maxRestarts + 1) this.#restartTimesMs.shift();
    assert.ok(this.#restartTimesMs.length <= this.maxRestarts + 1);
    const restartsInWindow = this.#restartTimesMs.length;
    return { allowed: restartsInWindow <= this.maxRestarts, restartsInWindow };
  }

  /** Restarts that would still count at `nowMs` (read-only: for stats and reports). */
  restartsInWindow(nowMs: number): number {
    const thresholdMs = nowMs - this.withinMs;
    return this.#restartTimesMs.filter((t) => t >= thresholdMs).length;
  }

  /** Forgets every restart (the scope was stopped, or re-added). */
  reset(): void {
    this.#restartTimesMs = [];
  }

  #dropOlderThan(thresholdMs: number): void {
    let keepFrom = 0;
    while (keepFrom < this.#restartTimesMs.length && this.#restartTimesMs[keepFrom]! < thresholdMs) keepFrom++;
    if (keepFrom > 0) this.#restartTimesMs.splice(0, keepFrom);
  }
}
