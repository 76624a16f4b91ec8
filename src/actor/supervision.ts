/**
 * The supervisor's decision logic, with no thread, timer or I/O in it: the supervisor thread
 * reports what happened (an actor is running, an actor exited, a host died) with the time it
 * happened, and `SupervisorState` answers what to do (restart these actors after this delay,
 * stop these, or nothing). Time is always passed in (`nowMs`, one monotonic clock such as
 * performance.now()) and randomness is injected, so every decision is reproducible in a test.
 *
 * Semantics are OTP's, exactly, where OTP has them (docs/actors.md, "Supervision"):
 * - permanent actors always restart; transient ones only after an abnormal exit (not `normal` or
 *   `shutdown`); temporary ones never, not even when a one_for_all sibling's failure restarts
 *   their group (they are stopped with it);
 * - one_for_one restarts the failed actor alone; one_for_all restarts every live member of its
 *   group, in start order;
 * - intensity is counted per restart scope, the actor under one_for_one and the group under
 *   one_for_all: the (maxRestarts + 1)-th restart within withinMs stops the scope instead and
 *   comes with a report for the broker's error event (where OTP would take the whole
 *   supervisor down, Baton stops only the scope: one crash-looping queue must not stop the others);
 * - a stop the supervisor asked for never restarts (OTP's terminate_child).
 * Akka adds the backoff: restarts wait `backoffDelayMs(attempt)`, and the attempt count of a
 * scope goes back to 0 once the failed actor had been running for `resetAfterMs`.
 *
 * Why a class with private state rather than an immutable reducer: the supervisor thread owns
 * exactly one instance and feeds it events one at a time, so copying up to 10,000 children per
 * event would buy nothing; decisions and lifecycles handed out are frozen, so nothing outside
 * can change the state except through these methods.
 */
import assert from 'node:assert/strict';
import { InvalidArgumentError } from '../errors.js';
import { BACKOFF_ATTEMPT_CAP, backoffDelayMs } from './backoff.js';
import { RestartIntensity } from './restart-intensity.js';
import {
  type ActorLifecycle,
  type ExitReason,
  type HostExitReason,
  type LifecycleEvent,
  type StopReason,
  initialLifecycle,
  isHostExit,
  isNormalExit,
  transition,
} from './supervision-lifecycle.js';
import {
  type RestartType,
  type SupervisorPolicy,
  type SupervisorPolicyOptions,
  resolveSupervisorPolicy,
  validateRestartType,
} from './supervision-policy.js';

export * from './supervision-lifecycle.js';
export * from './supervision-policy.js';
export { type BackoffOptions, BACKOFF_DEFAULTS, backoffDelayMs, resolveBackoffOptions } from './backoff.js';
export { RestartIntensity } from './restart-intensity.js';

export interface ChildSpec {
  restart: RestartType;
  /** one_for_all restarts a group together. Children without one form one default group. */
  group?: string;
}

/** What an intensity stop reports, for the broker's error event. */
export interface IntensityReport {
  /** The actor whose failure went over the limit. */
  readonly failedChildId: string;
  /** Every actor stopped, in start order (the failed one alone under one_for_one). */
  readonly stoppedChildIds: readonly string[];
  /** Its group under one_for_all; null under one_for_one or for the default group. */
  readonly group: string | null;
  readonly reason: ExitReason;
  /** Restarts the scope needed within the window, this one included: maxRestarts + 1. */
  readonly restartsInWindow: number;
  readonly maxRestarts: number;
  readonly withinMs: number;
  readonly message: string;
}

export type SupervisorDecision =
  | {
      readonly action: 'restart';
      /**
       * Actors to restart, in start order: terminate those still alive (in reverse order), wait
       * `delayMs`, then call `onStarting` and start each in this order.
       */
      readonly children: readonly string[];
      /** Temporary members of a one_for_all group: terminate them, do not restart them. */
      readonly stop: readonly string[];
      readonly delayMs: number;
      /** `nowMs + delayMs`. */
      readonly restartAtMs: number;
      /** The backoff exponent used: 0 for the first restart after a quiet period. */
      readonly attempt: number;
    }
  | {
      readonly action: 'stop';
      /** Actors that are now stopped, in start order; terminate any still alive in reverse order. */
      readonly children: readonly string[];
      readonly reason: StopReason;
      /** Present for reason 'intensity': emit it as the broker's error event. */
      readonly report?: IntensityReport;
    }
  /** Nothing to do: the actor is unknown (removed), or the exit is of an incarnation already handled. */
  | { readonly action: 'ignore'; readonly why: 'unknown-child' | 'stale' };

interface RestartScope {
  readonly intensity: RestartIntensity;
  /** The backoff exponent the next restart of this scope uses. */
  attempt: number;
}

interface ChildRecord {
  readonly id: string;
  readonly restart: RestartType;
  readonly group: string | null;
  lifecycle: ActorLifecycle;
}

export class SupervisorState {
  readonly policy: SupervisorPolicy;
  readonly #random: () => number;
  /** Insertion order is start order: a re-added child moves to the end, as it starts last. */
  readonly #children = new Map<string, ChildRecord>();
  /** one_for_one: one scope per actor. */
  readonly #childScopes = new Map<string, RestartScope>();
  /** one_for_all: one scope per group; the default group is keyed null. */
  readonly #groupScopes = new Map<string | null, RestartScope>();
  #lastNowMs = -Infinity;

  /**
   * @param options policy; defaults in SUPERVISOR_DEFAULTS. Bad values throw BATON_INVALID_ARGUMENT.
   * @param random a Math.random-like source for backoff jitter, injected for reproducibility.
   */
  constructor(options: SupervisorPolicyOptions = {}, random: () => number = Math.random) {
    this.policy = resolveSupervisorPolicy(options);
    if (typeof random !== 'function') throw new InvalidArgumentError('random must be a function returning numbers in [0, 1), like Math.random');
    this.#random = random;
  }

  /**
   * Starts supervising `id`; its first incarnation is `starting` (call `onRunning` once it
   * serves). A stopped child can be added again: it comes back as a new child, last in start
   * order, with no restart history. `nowMs` defaults to the latest time this state was given.
   */
  addChild(id: string, spec: ChildSpec, nowMs: number = Math.max(0, this.#lastNowMs)): void {
    if (typeof id !== 'string' || id.length === 0) throw new InvalidArgumentError(`child id must be a non-empty string, got ${JSON.stringify(id)}`);
    if (spec === null || typeof spec !== 'object') throw new InvalidArgumentError(`child spec of "${id}" must be an object like { restart: 'permanent' }`);
    const restart = validateRestartType(spec.restart);
    const { group } = spec;
    if (group !== undefined && (typeof group !== 'string' || group.length === 0)) {
      throw new InvalidArgumentError(`group of "${id}" must be a non-empty string, or left out for the default group, got ${JSON.stringify(group)}`);
    }
    const existing = this.#children.get(id);
    if (existing && existing.lifecycle.state !== 'stopped') {
      throw new InvalidArgumentError(`actor "${id}" is already supervised (${existing.lifecycle.state}): stop and remove it first, or use another id`);
    }
    this.#advance(nowMs);
    if (existing) this.removeChild(id);
    this.#children.set(id, { id, restart, group: group ?? null, lifecycle: initialLifecycle(nowMs) });
  }

  /** Forgets `id` and its restart history, in any state. Returns false if it was not supervised. */
  removeChild(id: string): boolean {
    const child = this.#children.get(id);
    if (!child) return false;
    this.#children.delete(id);
    this.#childScopes.delete(id);
    // A group's history lasts while it has a member, in any state. The scan is O(children), so
    // it is done only where a group scope exists (never under one_for_one).
    if (this.#groupScopes.has(child.group) && ![...this.#children.values()].some((c) => c.group === child.group)) {
      this.#groupScopes.delete(child.group);
    }
    return true;
  }

  /** The actor's incarnation serves. False (and no change) if it was not `starting`: a stale report. */
  onRunning(id: string, nowMs: number): boolean {
    return this.#applyIf(id, 'starting', { type: 'running', nowMs });
  }

  /**
   * The backoff is over and the caller is starting the new incarnation. Start it only if this
   * returns true: false means the actor was stopped meanwhile, or a timer fired twice.
   */
  onStarting(id: string, nowMs: number): boolean {
    return this.#applyIf(id, 'restarting', { type: 'start', nowMs });
  }

  /**
   * A stop was requested (the caller then asks the actor to shut down). Its exit will be a stop
   * with reason 'requested', whatever its restart type. An actor waiting out its backoff is
   * `stopped` at once (cancel its timer). False if it was already stopping or stopped.
   */
  onStopping(id: string, nowMs: number): boolean {
    this.#advance(nowMs);
    const child = this.#children.get(id);
    if (!child) return false;
    const { state } = child.lifecycle;
    if (state !== 'starting' && state !== 'running' && state !== 'restarting') return false;
    child.lifecycle = transition(child.lifecycle, { type: 'stop', nowMs });
    return true;
  }

  /** What to do now that an incarnation of `id` ended with `reason`. */
  onExit(id: string, reason: ExitReason, nowMs: number): SupervisorDecision {
    this.#advance(nowMs);
    const child = this.#children.get(id);
    if (!child) return IGNORE_UNKNOWN;
    const before = child.lifecycle;
    // An exit while restarting or stopped is of an incarnation already handled: a sibling taken
    // down by the group restart, or the second report of one host death.
    if (before.state === 'restarting' || before.state === 'stopped') return IGNORE_STALE;
    assert.ok(before.state !== 'failed', `actor "${id}" was left failed by an earlier decision`);
    child.lifecycle = transition(before, { type: 'exit', reason, nowMs });
    if (before.state === 'stopping') return stopDecision([id], 'requested');

    if (child.restart === 'temporary') return this.#giveUp(child, 'temporary', nowMs);
    if (child.restart === 'transient' && isNormalExit(reason)) return this.#giveUp(child, 'transient-normal', nowMs);

    const oneForAll = this.policy.strategy === 'one_for_all';
    // The failed child is among the members: it is `failed`, which #isLive counts.
    const members = oneForAll ? this.#groupMembers(child.group) : [child];
    const scope = this.#scope(oneForAll ? { group: child.group } : { id });
    const verdict = scope.intensity.recordRestart(nowMs);
    if (!verdict.allowed) return this.#stopForIntensity(child, members, reason, verdict.restartsInWindow, nowMs);

    // Akka's AutoReset: staying up resetAfterMs forgives earlier failures. Only time spent running
    // counts: the backoff wait itself must not reset the count, or a long backoff would undo itself.
    if (before.state === 'running' && nowMs - before.sinceMs >= this.policy.backoff.resetAfterMs) scope.attempt = 0;
    const { attempt } = scope;
    scope.attempt = Math.min(attempt + 1, BACKOFF_ATTEMPT_CAP);
    const delayMs = backoffDelayMs(attempt, this.policy.backoff, this.#random);
    const restartAtMs = nowMs + delayMs;

    const restartIds: string[] = [];
    const stopIds: string[] = [];
    for (const member of members) {
      if (member.restart === 'temporary') {
        assert.ok(member !== child);
        member.lifecycle = transition(member.lifecycle, { type: 'terminate', why: 'temporary', nowMs });
        stopIds.push(member.id);
      } else {
        member.lifecycle = transition(member.lifecycle, { type: 'restart', attempt, restartAtMs, reason, failedChildId: id });
        restartIds.push(member.id);
      }
    }
    assert.ok(restartIds.includes(id), 'the failed actor restarts with its group');
    return Object.freeze({
      action: 'restart',
      children: Object.freeze(restartIds),
      stop: Object.freeze(stopIds),
      delayMs,
      restartAtMs,
      attempt,
    });
  }

  /** The actor's lifecycle, or undefined if it is not supervised. */
  lifecycleOf(id: string): ActorLifecycle | undefined {
    return this.#children.get(id)?.lifecycle;
  }

  /** The child's spec, or undefined if it is not supervised. */
  specOf(id: string): Readonly<ChildSpec> | undefined {
    const child = this.#children.get(id);
    if (!child) return undefined;
    return Object.freeze(child.group === null ? { restart: child.restart } : { restart: child.restart, group: child.group });
  }

  /** Supervised actors in start order, stopped ones included until removed. */
  childIds(): string[] {
    return [...this.#children.keys()];
  }

  #advance(nowMs: number): void {
    if (typeof nowMs !== 'number' || !Number.isFinite(nowMs) || nowMs < this.#lastNowMs) {
      throw new InvalidArgumentError(`time ${String(nowMs)} ms is before the previous event's (${this.#lastNowMs} ms): pass times from one monotonic clock (performance.now())`);
    }
    this.#lastNowMs = nowMs;
  }

  #applyIf(id: string, expected: ActorLifecycle['state'], event: LifecycleEvent & { nowMs: number }): boolean {
    this.#advance(event.nowMs);
    const child = this.#children.get(id);
    if (!child || child.lifecycle.state !== expected) return false;
    child.lifecycle = transition(child.lifecycle, event);
    return true;
  }

  /** Live members of a group in start order: those a group restart or stop acts on. */
  #groupMembers(group: string | null): ChildRecord[] {
    const members: ChildRecord[] = [];
    for (const child of this.#children.values()) {
      if (child.group === group && isLive(child.lifecycle)) members.push(child);
    }
    return members;
  }

  #scope(key: { id: string } | { group: string | null }): RestartScope {
    const scopes: Map<string | null, RestartScope> = 'id' in key ? this.#childScopes : this.#groupScopes;
    const k = 'id' in key ? key.id : key.group;
    let scope = scopes.get(k);
    if (!scope) {
      scope = { intensity: new RestartIntensity(this.policy.maxRestarts, this.policy.withinMs), attempt: 0 };
      scopes.set(k, scope);
    }
    return scope;
  }

  #giveUp(child: ChildRecord, why: StopReason, nowMs: number): SupervisorDecision {
    child.lifecycle = transition(child.lifecycle, { type: 'give-up', why, nowMs });
    return stopDecision([child.id], why);
  }

  #stopForIntensity(failed: ChildRecord, members: ChildRecord[], reason: ExitReason, restartsInWindow: number, nowMs: number): SupervisorDecision {
    const stopped: string[] = [];
    for (const member of members) {
      const event: LifecycleEvent = member === failed ? { type: 'give-up', why: 'intensity', nowMs } : { type: 'terminate', why: 'intensity', nowMs };
      member.lifecycle = transition(member.lifecycle, event);
      stopped.push(member.id);
    }
    // The scope is gone: whoever is added back starts with a clean history.
    if (this.policy.strategy === 'one_for_all') this.#groupScopes.delete(failed.group);
    else this.#childScopes.delete(failed.id);
    const group = this.policy.strategy === 'one_for_all' ? failed.group : null;
    const { maxRestarts, withinMs } = this.policy;
    const who = stopped.length === 1 ? `actor "${failed.id}"` : `actors ${stopped.map((s) => `"${s}"`).join(', ')}${group === null ? '' : ` (group "${group}")`}`;
    const message =
      `${who} stopped: "${failed.id}" exited (${describeExit(reason)}) and would have needed restart ` +
      `number ${restartsInWindow} within ${withinMs} ms, over maxRestarts ${maxRestarts}. ` +
      'Fix the cause, then declare it again; or raise maxRestarts/withinMs if such bursts are expected.';
    const report: IntensityReport = Object.freeze({
      failedChildId: failed.id,
      stoppedChildIds: Object.freeze([...stopped]),
      group,
      reason,
      restartsInWindow,
      maxRestarts,
      withinMs,
      message,
    });
    return Object.freeze({ action: 'stop', children: Object.freeze(stopped), reason: 'intensity', report });
  }
}

const IGNORE_UNKNOWN: SupervisorDecision = Object.freeze({ action: 'ignore', why: 'unknown-child' });
const IGNORE_STALE: SupervisorDecision = Object.freeze({ action: 'ignore', why: 'stale' });

function stopDecision(children: string[], reason: StopReason): SupervisorDecision {
  return Object.freeze({ action: 'stop', children: Object.freeze(children), reason });
}

/** Alive or about to be: what a group restart restarts and an intensity stop stops. */
function isLive(lifecycle: ActorLifecycle): boolean {
  switch (lifecycle.state) {
    case 'starting':
    case 'running':
    case 'restarting':
    case 'failed':
      return true;
    // A stopping actor was asked to stop: a group restart must not bring it back.
    case 'stopping':
    case 'stopped':
      return false;
    default:
      return assert.fail(`unknown lifecycle state ${JSON.stringify((lifecycle as { state: unknown }).state)}`);
  }
}

/** One line for logs and reports. */
export function describeExit(reason: ExitReason): string {
  switch (reason.kind) {
    case 'normal':
      return 'normal';
    case 'shutdown':
      return 'shutdown';
    case 'error':
      return `handler threw ${reason.error.code}: ${reason.error.message}`;
    case 'host-exit':
      return `host thread exited with code ${reason.code}`;
    case 'host-error':
      return `host thread failed with ${reason.error.code}: ${reason.error.message}`;
    case 'host-oom':
      return 'host thread ran out of memory';
    case 'host-stalled':
      return `host thread heartbeat stalled for ${reason.heartbeatAgeMs} ms`;
    default:
      return assert.fail(`unknown exit reason kind ${JSON.stringify((reason as { kind: unknown }).kind)}`);
  }
}

export interface HostExitDecisions {
  /** One decision per actor that was on the host, in start order. */
  readonly decisions: ReadonlyArray<{ readonly childId: string; readonly decision: SupervisorDecision }>;
  /**
   * Every actor to restart, with its delay, in decision order: the host's actors, and under
   * one_for_all their group siblings on other hosts. Place these on live hosts.
   */
  readonly restart: ReadonlyArray<{ readonly childId: string; readonly delayMs: number; readonly attempt: number }>;
  /** Every actor stopped by these decisions. */
  readonly stop: readonly string[];
  /** Intensity reports, for the broker's error events. */
  readonly reports: readonly IntensityReport[];
}

/**
 * A host thread died: each actor on it failed with the host's reason. Feeds their exits to
 * `state` in start order (whatever the order of `childIds`, so the outcome does not depend on
 * how the caller listed them) and gathers the decisions. Under one_for_all the first actor of a
 * group restarts the group and the others' exits are then stale.
 */
export function decideHostExit(state: SupervisorState, childIds: Iterable<string>, reason: HostExitReason, nowMs: number): HostExitDecisions {
  if (reason === null || typeof reason !== 'object' || !isHostExit(reason)) {
    throw new InvalidArgumentError(`a host exit reason must be host-exit, host-error, host-oom or host-stalled, got ${JSON.stringify(reason)}`);
  }
  const startIndex = new Map(state.childIds().map((id, i) => [id, i] as const));
  const ids = [...new Set(childIds)].sort((a, b) => (startIndex.get(a) ?? Infinity) - (startIndex.get(b) ?? Infinity));
  const decisions: Array<{ childId: string; decision: SupervisorDecision }> = [];
  const restart: Array<{ childId: string; delayMs: number; attempt: number }> = [];
  const restarted = new Set<string>();
  const stop: string[] = [];
  const reports: IntensityReport[] = [];
  for (const childId of ids) {
    const decision = state.onExit(childId, reason, nowMs);
    decisions.push(Object.freeze({ childId, decision }));
    if (decision.action === 'restart') {
      for (const id of decision.children) {
        assert.ok(!restarted.has(id), `actor "${id}" restarted twice for one host death`);
        restarted.add(id);
        restart.push(Object.freeze({ childId: id, delayMs: decision.delayMs, attempt: decision.attempt }));
      }
      stop.push(...decision.stop);
    } else if (decision.action === 'stop') {
      stop.push(...decision.children);
      if (decision.report) reports.push(decision.report);
    }
  }
  return Object.freeze({ decisions: Object.freeze(decisions), restart: Object.freeze(restart), stop: Object.freeze(stop), reports: Object.freeze(reports) });
}
