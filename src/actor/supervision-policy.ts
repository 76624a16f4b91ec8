/**
 * A supervisor's policy: restart intensity (OTP's intensity and period), Akka's backoff, and the
 * strategy, with Baton's defaults and their validation. Defaults for queue and partition actors
 * (docs/actors.md): 5 restarts per 30 s (the OTP design principles' example), backoff
 * 100 ms to 10 s with 20 % jitter, reset after 30 s up, one_for_one.
 */
import { InvalidArgumentError } from '../errors.js';
import { BACKOFF_DEFAULTS, type BackoffOptions, resolveBackoffOptions } from './backoff.js';
import { validateIntensity } from './restart-intensity.js';

/** OTP's restart types. permanent: always restarted; transient: only after an abnormal exit; temporary: never. */
export type RestartType = 'permanent' | 'transient' | 'temporary';

/** one_for_one: only the failed actor restarts. one_for_all: its whole group restarts with it. */
export type Strategy = 'one_for_one' | 'one_for_all';

export const RESTART_TYPES: readonly RestartType[] = Object.freeze(['permanent', 'transient', 'temporary']);
export const STRATEGIES: readonly Strategy[] = Object.freeze(['one_for_one', 'one_for_all']);

export interface SupervisorPolicy {
  /** Restarts allowed per scope within `withinMs`; the next one stops the scope instead. */
  readonly maxRestarts: number;
  /** The intensity window. */
  readonly withinMs: number;
  readonly backoff: Readonly<BackoffOptions>;
  readonly strategy: Strategy;
}

export interface SupervisorPolicyOptions {
  maxRestarts?: number;
  withinMs?: number;
  backoff?: Partial<BackoffOptions>;
  strategy?: Strategy;
}

export const SUPERVISOR_DEFAULTS: SupervisorPolicy = Object.freeze({
  maxRestarts: 5,
  withinMs: 30_000,
  backoff: BACKOFF_DEFAULTS,
  strategy: 'one_for_one',
});

const POLICY_KEYS: ReadonlySet<string> = new Set(Object.keys(SUPERVISOR_DEFAULTS));

/**
 * Fills in defaults and validates. Unknown keys are rejected (`intensity` for `maxRestarts` is
 * an easy slip, and would otherwise silently keep the default). Throws `InvalidArgumentError`
 * (BATON_INVALID_ARGUMENT) with a message naming the option and its domain.
 */
export function resolveSupervisorPolicy(options: SupervisorPolicyOptions = {}): SupervisorPolicy {
  if (options === null || typeof options !== 'object') {
    throw new InvalidArgumentError(`supervisor options must be an object like { maxRestarts: 5, withinMs: 30000 }, got ${String(options)}`);
  }
  for (const key of Object.keys(options)) {
    if (!POLICY_KEYS.has(key)) {
      throw new InvalidArgumentError(`unknown supervisor option ${JSON.stringify(key)}: use maxRestarts, withinMs, backoff or strategy`);
    }
  }
  const maxRestarts = options.maxRestarts ?? SUPERVISOR_DEFAULTS.maxRestarts;
  const withinMs = options.withinMs ?? SUPERVISOR_DEFAULTS.withinMs;
  validateIntensity(maxRestarts, withinMs);
  const strategy = options.strategy ?? SUPERVISOR_DEFAULTS.strategy;
  if (!STRATEGIES.includes(strategy)) {
    throw new InvalidArgumentError(`strategy must be 'one_for_one' or 'one_for_all', got ${JSON.stringify(strategy)}`);
  }
  const backoff = resolveBackoffOptions(options.backoff ?? {});
  return Object.freeze({ maxRestarts, withinMs, backoff, strategy });
}

export function validateRestartType(restart: unknown): RestartType {
  if (!RESTART_TYPES.includes(restart as RestartType)) {
    throw new InvalidArgumentError(`restart must be 'permanent', 'transient' or 'temporary', got ${JSON.stringify(restart)}`);
  }
  return restart as RestartType;
}
