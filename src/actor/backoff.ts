/**
 * Restart backoff with Akka's formula, as a pure function: the caller injects randomness and
 * owns the timer, so a delay is computed and tested, never waited for.
 *
 *   delayMs(attempt) = min(maxMs, minMs · 2^attempt) · (1 + random() · randomFactor)
 *
 * This is Akka's `BackoffSupervisor.calculateDelay` (akka-actor, akka/pattern/BackoffSupervisor.scala,
 * 2.5.x onwards): `maxBackoff.min(minBackoff * 2^restartCount) * rnd`, with `rnd` in
 * [1, 1 + randomFactor). `attempt` is Akka's `restartCount`: 0 for the first restart after a quiet
 * period, so the first delay is about `minMs`.
 *
 * We implement that formula for every attempt, with no special case. Akka has two variants past
 * attempt 30: the classic `BackoffSupervisor.calculateDelay` applies the formula (random factor
 * included) and falls back to a bare `maxBackoff` only when `minBackoff · 2^n` overflows a
 * `FiniteDuration`; an older typed `BackoffRestarter` returned a bare `maxBackoff` for
 * `restartCount >= 30`. A bare `maxMs` would be *shorter* than the delay just before it (the delay
 * would not be monotone in the attempt), jitter would vanish exactly when many actors crash-loop
 * together, and with `minMs = 0` a "no backoff" policy would suddenly wait `maxMs`. Doubles do not
 * overflow here: since `minMs` is a whole number of milliseconds and `maxMs` is within setTimeout's
 * range (< 2^31), the exponential part is `maxMs` (or 0 when `minMs` is 0) for every attempt from
 * `BACKOFF_ATTEMPT_CAP` (31) on, so the exponent is clamped there without changing any result.
 * With the defaults (100 ms to 10 s) the cap is reached from attempt 7 on.
 *
 * As in Akka, a delay may exceed `maxMs` by up to `randomFactor`: `maxMs` caps the exponential
 * part, the jitter comes on top. Delays are not rounded (setTimeout truncates them).
 */
import assert from 'node:assert/strict';
import { InvalidArgumentError } from '../errors.js';

export interface BackoffOptions {
  /** Delay before the first restart after a quiet period (attempt 0), before jitter. */
  minMs: number;
  /** Cap on the exponential part of the delay; jitter comes on top, as in Akka. */
  maxMs: number;
  /** Jitter: the delay is multiplied by a factor drawn from [1, 1 + randomFactor). In [0, 1]. */
  randomFactor: number;
  /** Time an actor must stay running before its attempt count goes back to 0 (Akka's AutoReset). */
  resetAfterMs: number;
}

export const BACKOFF_DEFAULTS: Readonly<BackoffOptions> = Object.freeze({
  minMs: 100,
  maxMs: 10_000,
  randomFactor: 0.2,
  resetAfterMs: 30_000,
});

/**
 * From this attempt on every valid delay has stopped growing: `minMs >= 1` times 2^31 exceeds any
 * allowed `maxMs`. Attempt counters saturate here, and the exponent is clamped here.
 */
export const BACKOFF_ATTEMPT_CAP = 31;

/**
 * setTimeout's largest delay (2^31 - 1 ms, about 24.8 days). A larger delay does not wait longer:
 * Node fires it after 1 ms, which would turn a backoff into a crash loop. Every delay this module
 * can produce, jitter included, stays within it.
 */
export const BACKOFF_DELAY_MS_MAX = 2_147_483_647;

const BACKOFF_KEYS: ReadonlySet<string> = new Set(Object.keys(BACKOFF_DEFAULTS));

function msOption(name: string, value: unknown, min: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > BACKOFF_DELAY_MS_MAX) {
    throw new InvalidArgumentError(`backoff.${name} must be an integer number of milliseconds in [${min}, ${BACKOFF_DELAY_MS_MAX}], got ${String(value)}`);
  }
  return value;
}

/**
 * Fills in defaults and validates: integer milliseconds, `minMs <= maxMs`, `randomFactor` in [0, 1]
 * (Akka's bounds), and the largest delay, `maxMs · (1 + randomFactor)`, within setTimeout's range.
 * Throws `InvalidArgumentError` (BATON_INVALID_ARGUMENT) naming the option and what it must be.
 */
export function resolveBackoffOptions(options: Partial<BackoffOptions> = {}): Readonly<BackoffOptions> {
  if (options === null || typeof options !== 'object') {
    throw new InvalidArgumentError(`backoff options must be an object like { minMs: 100, maxMs: 10000, randomFactor: 0.2, resetAfterMs: 30000 }, got ${String(options)}`);
  }
  for (const key of Object.keys(options)) {
    if (!BACKOFF_KEYS.has(key)) {
      throw new InvalidArgumentError(`unknown backoff option ${JSON.stringify(key)}: use minMs, maxMs, randomFactor or resetAfterMs`);
    }
  }
  const minMs = msOption('minMs', options.minMs ?? BACKOFF_DEFAULTS.minMs, 0);
  const maxMs = msOption('maxMs', options.maxMs ?? BACKOFF_DEFAULTS.maxMs, 0);
  if (maxMs < minMs) {
    throw new InvalidArgumentError(`backoff.maxMs (${maxMs}) must be at least backoff.minMs (${minMs}): raise maxMs or lower minMs`);
  }
  const randomFactor = options.randomFactor ?? BACKOFF_DEFAULTS.randomFactor;
  if (typeof randomFactor !== 'number' || !(randomFactor >= 0 && randomFactor <= 1)) {
    throw new InvalidArgumentError(`backoff.randomFactor must be a number in [0, 1] (0.2 adds up to 20 % jitter), got ${String(randomFactor)}`);
  }
  if (maxMs * (1 + randomFactor) > BACKOFF_DELAY_MS_MAX) {
    throw new InvalidArgumentError(`backoff.maxMs · (1 + randomFactor) must not exceed ${BACKOFF_DELAY_MS_MAX} ms (setTimeout's limit): lower maxMs or randomFactor`);
  }
  const resetAfterMs = msOption('resetAfterMs', options.resetAfterMs ?? BACKOFF_DEFAULTS.resetAfterMs, 0);
  return Object.freeze({ minMs, maxMs, randomFactor, resetAfterMs });
}

/**
 * The delay before restart number `attempt` (0-based) in milliseconds, by Akka's formula (see the
 * top of this file). `random` is a `Math.random`-like source of numbers in [0, 1), injected so tests
 * can pin it; it is called exactly once. Options are validated on every call: restarts are rare,
 * and a bad option must not become a zero or infinite delay.
 */
export function backoffDelayMs(
  attempt: number,
  options: Pick<BackoffOptions, 'minMs' | 'maxMs' | 'randomFactor'>,
  random: () => number,
): number {
  if (!Number.isSafeInteger(attempt) || attempt < 0) {
    throw new InvalidArgumentError(`backoff attempt must be a non-negative integer (0 for the first restart), got ${String(attempt)}`);
  }
  const { minMs, maxMs, randomFactor } = resolveBackoffOptions({
    minMs: options.minMs,
    maxMs: options.maxMs,
    randomFactor: options.randomFactor,
  });
  const r = random();
  if (typeof r !== 'number' || !(r >= 0 && r < 1)) {
    throw new InvalidArgumentError(`random() must return a number in [0, 1) as Math.random does, got ${String(r)}`);
  }
  const baseMs = Math.min(maxMs, minMs * 2 ** Math.min(attempt, BACKOFF_ATTEMPT_CAP));
  assert.ok(baseMs >= minMs && baseMs <= maxMs);
  return baseMs * (1 + r * randomFactor);
}
