// Proves restart delays follow Akka's BackoffSupervisor formula, computed and never timed:
// for attempts 0..40 and random() at 0, 0.5 and just below 1 each delay lies in
// [b, b·(1 + randomFactor)] with b = min(maxMs, minMs·2^attempt) (exactly b·(1 + r·randomFactor));
// delays never decrease as the attempt grows (the formula holds past attempt 30, where an old
// Akka variant returned a bare maxBackoff); a supervised
// actor's attempt count goes back to 0 after it has been running resetAfterMs, and only then;
// bad backoff options and arguments are BATON_INVALID_ARGUMENT.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BACKOFF_DEFAULTS, BACKOFF_DELAY_MS_MAX, backoffDelayMs } from '../../src/actor/backoff.js';
import { type ExitReason, SupervisorState } from '../../src/actor/supervision.js';

const RANDOMS = [0, 0.5, 1 - Number.EPSILON] as const;
const OPTION_SETS = [
  { minMs: 100, maxMs: 10_000, randomFactor: 0.2 },
  { minMs: 1, maxMs: 1_000_000_000, randomFactor: 1 },
  { minMs: 0, maxMs: 50, randomFactor: 0.5 },
  { minMs: 7, maxMs: 7, randomFactor: 0 },
] as const;
/** The exponential part, written out: min(max, min·2^n). */
const baseMs = (n: number, o: { minMs: number; maxMs: number }) => Math.min(o.maxMs, o.minMs * Math.pow(2, n));

describe('backoff delay', () => {
  for (const options of OPTION_SETS) {
    it(`backoff - min ${options.minMs} ms, max ${options.maxMs} ms, factor ${options.randomFactor}: delay of attempts 0..40 within Akka's bounds`, () => {
      for (let attempt = 0; attempt <= 40; attempt++) {
        const b = baseMs(attempt, options);
        for (const r of RANDOMS) {
          const delayMs = backoffDelayMs(attempt, options, () => r);
          expect(delayMs, `attempt ${attempt}, random ${r}`).toBeGreaterThanOrEqual(b);
          expect(delayMs, `attempt ${attempt}, random ${r}`).toBeLessThanOrEqual(b * (1 + options.randomFactor));
          expect(delayMs, `attempt ${attempt}, random ${r}`).toBe(b * (1 + r * options.randomFactor));
        }
      }
    });

    it(`backoff - min ${options.minMs} ms, max ${options.maxMs} ms, factor ${options.randomFactor}: monotone in the attempt for a fixed random`, () => {
      for (const r of RANDOMS) {
        let previousMs = -1;
        for (let attempt = 0; attempt <= 40; attempt++) {
          const delayMs = backoffDelayMs(attempt, options, () => r);
          expect(delayMs, `attempt ${attempt}, random ${r}`).toBeGreaterThanOrEqual(previousMs);
          previousMs = delayMs;
        }
      }
    });
  }

  it('backoff - the first restart waits minMs, then doubles, up to maxMs, jitter on top', () => {
    const o = { minMs: 100, maxMs: 1000, randomFactor: 0.2 };
    expect([0, 1, 2, 3, 4, 5].map((n) => backoffDelayMs(n, o, () => 0))).toEqual([100, 200, 400, 800, 1000, 1000]);
    expect(backoffDelayMs(0, o, () => 0.5)).toBeCloseTo(110, 10);
  });

  it('backoff - the formula holds past attempt 30 too: no bare maxMs, jitter kept, minMs 0 stays 0', () => {
    const o = { minMs: 1, maxMs: 2_000_000_000, randomFactor: 0 };
    expect([29, 30, 31, 32, 1_000_000].map((n) => backoffDelayMs(n, o, () => 0.5))).toEqual([2 ** 29, 2 ** 30, 2_000_000_000, 2_000_000_000, 2_000_000_000]);
    const jittered = { minMs: 100, maxMs: 10_000, randomFactor: 0.2 };
    expect(backoffDelayMs(29, jittered, () => 0.5)).toBe(11_000);
    expect(backoffDelayMs(30, jittered, () => 0.5)).toBe(11_000);
    expect(backoffDelayMs(1_000_000, jittered, () => 0.5)).toBe(11_000);
    expect(backoffDelayMs(1_000_000, { minMs: 0, maxMs: 10_000, randomFactor: 0.2 }, () => 0.5)).toBe(0);
  });

  it('backoff - any attempt, options and random: within bounds and never past setTimeout\'s limit (fast-check)', () => {
    fc.assert(
      fc.property(
        fc.nat(1000),
        fc.nat(1_000_000),
        fc.nat(1_000_000_000),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        (attempt, minMs, extraMs, randomFactor, r) => {
          const options = { minMs, maxMs: minMs + extraMs, randomFactor };
          const delayMs = backoffDelayMs(attempt, options, () => r);
          const b = baseMs(attempt, options);
          expect(delayMs).toBeGreaterThanOrEqual(b);
          expect(delayMs).toBeLessThanOrEqual(b * (1 + randomFactor));
          expect(delayMs).toBeLessThanOrEqual(BACKOFF_DELAY_MS_MAX);
        },
      ),
    );
  });

  it('backoff - random() is called exactly once per delay', () => {
    let calls = 0;
    backoffDelayMs(3, BACKOFF_DEFAULTS, () => (calls++, 0.25));
    expect(calls).toBe(1);
  });
});

describe('backoff reset', () => {
  const boom: ExitReason = { kind: 'error', error: { code: 'ERR_TEST', message: 'boom' } };
  const resetAfterMs = 1000;
  /** A supervisor whose intensity never trips here, so only the backoff is under test. */
  const supervisor = () => {
    const sut = new SupervisorState({ maxRestarts: 100, withinMs: 1, backoff: { minMs: 10, maxMs: 100_000, randomFactor: 0.2, resetAfterMs } }, () => 0);
    sut.addChild('q', { restart: 'permanent' }, 0);
    return sut;
  };
  /** Restarts q at `startMs`, has it run until `exitMs`, fails it, and returns the attempt used. */
  const crash = (sut: SupervisorState, startMs: number, exitMs: number): number => {
    if (sut.lifecycleOf('q')?.state === 'restarting') expect(sut.onStarting('q', startMs)).toBe(true);
    expect(sut.onRunning('q', startMs)).toBe(true);
    const d = sut.onExit('q', boom, exitMs);
    if (d.action !== 'restart') throw new Error(`expected a restart, got ${JSON.stringify(d)}`);
    expect(d.delayMs).toBe(10 * 2 ** d.attempt);
    return d.attempt;
  };

  it('backoff reset - attempts grow while the actor keeps failing soon after starting', () => {
    const sut = supervisor();
    const attempts = [0, 1, 2, 3, 4].map((n) => crash(sut, n * 10_000, n * 10_000 + resetAfterMs - 1));
    expect(attempts).toEqual([0, 1, 2, 3, 4]);
  });

  it('backoff reset - running resetAfterMs without a failure resets the attempt to 0', () => {
    const sut = supervisor();
    expect([crash(sut, 0, 1), crash(sut, 100, 101), crash(sut, 200, 201)]).toEqual([0, 1, 2]);
    expect(crash(sut, 1000, 1000 + resetAfterMs)).toBe(0);
    expect(crash(sut, 5000, 5001)).toBe(1);
  });

  it('backoff reset - time spent waiting out the backoff is not quiet time', () => {
    const sut = supervisor();
    expect(crash(sut, 0, 1)).toBe(0);
    // A restart long after the failure, then a failure at once: still in the crash loop.
    expect(crash(sut, 1_000_000, 1_000_001)).toBe(1);
    // Failing while still starting (e.g. during replay) never resets either.
    sut.onStarting('q', 2_000_000);
    const d = sut.onExit('q', boom, 3_000_000);
    expect(d).toMatchObject({ action: 'restart', attempt: 2 });
  });
});

describe('backoff options', () => {
  const invalid = expect.objectContaining({ code: 'BATON_INVALID_ARGUMENT' });
  const ok = { minMs: 100, maxMs: 10_000, randomFactor: 0.2 };
  const bad: Array<[string, () => unknown]> = [
    ['a negative attempt', () => backoffDelayMs(-1, ok, Math.random)],
    ['a fractional attempt', () => backoffDelayMs(1.5, ok, Math.random)],
    ['a negative minMs', () => backoffDelayMs(0, { ...ok, minMs: -1 }, Math.random)],
    ['a fractional maxMs', () => backoffDelayMs(0, { ...ok, maxMs: 10.5 }, Math.random)],
    ['maxMs below minMs', () => backoffDelayMs(0, { ...ok, maxMs: 50 }, Math.random)],
    ['randomFactor above 1', () => backoffDelayMs(0, { ...ok, randomFactor: 1.01 }, Math.random)],
    ['randomFactor NaN', () => backoffDelayMs(0, { ...ok, randomFactor: Number.NaN }, Math.random)],
    ['a delay past setTimeout\'s limit', () => backoffDelayMs(0, { ...ok, maxMs: BACKOFF_DELAY_MS_MAX }, Math.random)],
    ['random() returning 1', () => backoffDelayMs(0, ok, () => 1)],
    ['random() returning a negative number', () => backoffDelayMs(0, ok, () => -0.1)],
  ];
  for (const [what, call] of bad) {
    it(`backoff options - ${what} is BATON_INVALID_ARGUMENT`, () => {
      expect(call).toThrow(invalid);
    });
  }
});
