/**
 * An actor's lifecycle as the supervisor sees it: a typed union keyed on `state`, and the one
 * function that moves it, `transition`, which asserts on any move the diagram does not draw.
 * (docs/actors.md, "Supervision", has the same diagram with the reasons behind it.)
 *
 *               add
 *                │
 *                ▼        running                  stop
 *    ┌─────► starting ──────────────► running ──────────────┐
 *    │        │    │                     │                  │
 *    │        │    └────── stop ─────────┼───────────┐      │
 *    │   exit │                     exit │           ▼      ▼
 *    │        ▼                          │          stopping
 *    │      failed ◄─────────────────────┘              │ exit
 *    │       │  │                                       ▼
 *    │       │  └──────────── give-up ─────────────► stopped
 *    │       │ restart                                ▲   ▲
 *    │ start ▼                                        │   │
 *    └───── restarting ──────────── stop ─────────────┘   │
 *                                                         │
 *      terminate: starting, running, restarting ──────────┘
 *      restart:   starting, running, restarting ──► restarting   (a one_for_all sibling failed)
 *
 * `failed` means the incarnation ended without being asked to, for any reason, a normal return
 * included: the supervisor then decides between `restarting` and `stopped` from the restart type
 * and the exit reason. An exit the supervisor asked for (`stopping`) never restarts, whatever the
 * restart type, as with OTP's terminate_child. `stopped` is final: a stopped actor comes back only
 * by being added again, as a new lifecycle.
 */
import assert from 'node:assert/strict';
import type { SerializedError } from '../errors.js';

/** Why an actor's incarnation ended. Host kinds: its worker thread died with it on board. */
export type ExitReason =
  /** The handler returned for good: a normal stop. */
  | { readonly kind: 'normal' }
  /** It stopped because it was told to shut down. */
  | { readonly kind: 'shutdown' }
  /** Its handler threw (caught on its host). */
  | { readonly kind: 'error'; readonly error: SerializedError }
  /** Its host thread exited (`'exit'` event) while it was on it. */
  | { readonly kind: 'host-exit'; readonly code: number }
  /** Its host thread threw an uncaught error (`'error'` event). */
  | { readonly kind: 'host-error'; readonly error: SerializedError }
  /** Its host thread ran out of memory (ERR_WORKER_OUT_OF_MEMORY). */
  | { readonly kind: 'host-oom' }
  /** Its host thread's heartbeat counter stopped moving for this long. */
  | { readonly kind: 'host-stalled'; readonly heartbeatAgeMs: number };

export type ExitKind = ExitReason['kind'];
export type HostExitReason = Extract<ExitReason, { kind: 'host-exit' | 'host-error' | 'host-oom' | 'host-stalled' }>;

/**
 * OTP's "normal" exits: `normal` and `shutdown`. Everything else is abnormal, host deaths included
 * even with exit code 0: the actor did not choose to stop, its thread vanished under it.
 */
export function isNormalExit(reason: ExitReason): boolean {
  switch (reason.kind) {
    case 'normal':
    case 'shutdown':
      return true;
    case 'error':
    case 'host-exit':
    case 'host-error':
    case 'host-oom':
    case 'host-stalled':
      return false;
    default:
      return assert.fail(`unknown exit reason kind ${JSON.stringify((reason as { kind: unknown }).kind)}`);
  }
}

export function isHostExit(reason: ExitReason): reason is HostExitReason {
  return !isNormalExit(reason) && reason.kind !== 'error';
}

/** Why an actor ended `stopped`. */
export type StopReason =
  /** A temporary actor ended (or its one_for_all group restarted): temporary ones never restart. */
  | 'temporary'
  /** A transient actor ended normally (`normal` or `shutdown`). */
  | 'transient-normal'
  /** Its restart scope exceeded `maxRestarts` within `withinMs`. */
  | 'intensity'
  /** It was asked to stop (the broker deleted it, or shut down). */
  | 'requested';

export type ActorLifecycle =
  /** An incarnation is being started (spawned, replaying its log). `incarnation` 0 is the first start. */
  | { readonly state: 'starting'; readonly incarnation: number; readonly sinceMs: number }
  /** Serving since `sinceMs`; staying up `resetAfterMs` resets its backoff attempts. */
  | { readonly state: 'running'; readonly incarnation: number; readonly sinceMs: number }
  /** Asked to stop; its exit, whatever the reason, leads to `stopped`. */
  | { readonly state: 'stopping'; readonly incarnation: number; readonly sinceMs: number }
  /** Ended unasked; the supervisor is deciding. Never seen between two supervisor calls. */
  | { readonly state: 'failed'; readonly incarnation: number; readonly reason: ExitReason; readonly atMs: number }
  /**
   * Waiting out its backoff. `attempt` is the backoff exponent used (0: about `minMs`); the next
   * incarnation starts at `restartAtMs`. `failedChildId` is the actor whose failure caused this:
   * itself, or a sibling under one_for_all.
   */
  | {
      readonly state: 'restarting';
      readonly incarnation: number;
      readonly attempt: number;
      readonly restartAtMs: number;
      readonly reason: ExitReason;
      readonly failedChildId: string;
    }
  /** Final. `reason` is the last incarnation's exit, null when it was stopped without one. */
  | { readonly state: 'stopped'; readonly why: StopReason; readonly reason: ExitReason | null; readonly atMs: number };

export type LifecycleState = ActorLifecycle['state'];

export type LifecycleEvent =
  /** The incarnation is serving. */
  | { readonly type: 'running'; readonly nowMs: number }
  /** A stop was requested. From `restarting` there is nothing to stop: it is `stopped` at once. */
  | { readonly type: 'stop'; readonly nowMs: number }
  /** The incarnation ended. */
  | { readonly type: 'exit'; readonly reason: ExitReason; readonly nowMs: number }
  /** The supervisor schedules a new incarnation (the failed actor, or a one_for_all sibling). */
  | { readonly type: 'restart'; readonly attempt: number; readonly restartAtMs: number; readonly reason: ExitReason; readonly failedChildId: string }
  /** The backoff is over and the new incarnation is being started. */
  | { readonly type: 'start'; readonly nowMs: number }
  /** The supervisor decided not to restart a failed actor. */
  | { readonly type: 'give-up'; readonly why: StopReason; readonly nowMs: number }
  /** The supervisor stops a live actor without restarting it (a temporary sibling, an intensity stop of its group). */
  | { readonly type: 'terminate'; readonly why: StopReason; readonly nowMs: number };

export type LifecycleEventType = LifecycleEvent['type'];

/** The lifecycle of an actor just added: its first incarnation is starting. */
export function initialLifecycle(nowMs: number): ActorLifecycle {
  return Object.freeze({ state: 'starting', incarnation: 0, sinceMs: nowMs });
}

function illegal(from: ActorLifecycle, event: LifecycleEvent): never {
  return assert.fail(`illegal actor lifecycle transition: ${from.state} --${event.type}-->`);
}

/**
 * The next lifecycle after `event`. Pure: returns a new frozen object. Asserts (AssertionError)
 * on a transition the diagram above does not have: that is a bug in the caller, not a runtime
 * condition, and continuing would let two incarnations of one actor run at once.
 */
export function transition(from: ActorLifecycle, event: LifecycleEvent): ActorLifecycle {
  let next: ActorLifecycle;
  switch (event.type) {
    case 'running':
      if (from.state !== 'starting') return illegal(from, event);
      next = { state: 'running', incarnation: from.incarnation, sinceMs: event.nowMs };
      break;
    case 'stop':
      if (from.state === 'starting' || from.state === 'running') {
        next = { state: 'stopping', incarnation: from.incarnation, sinceMs: event.nowMs };
      } else if (from.state === 'restarting') {
        next = { state: 'stopped', why: 'requested', reason: null, atMs: event.nowMs };
      } else {
        return illegal(from, event);
      }
      break;
    case 'exit':
      if (from.state === 'starting' || from.state === 'running') {
        next = { state: 'failed', incarnation: from.incarnation, reason: event.reason, atMs: event.nowMs };
      } else if (from.state === 'stopping') {
        next = { state: 'stopped', why: 'requested', reason: event.reason, atMs: event.nowMs };
      } else {
        return illegal(from, event);
      }
      break;
    case 'restart':
      if (from.state !== 'failed' && from.state !== 'starting' && from.state !== 'running' && from.state !== 'restarting') {
        return illegal(from, event);
      }
      assert.ok(Number.isSafeInteger(event.attempt) && event.attempt >= 0, `restart attempt must be a non-negative integer, got ${event.attempt}`);
      next = {
        state: 'restarting',
        incarnation: from.incarnation,
        attempt: event.attempt,
        restartAtMs: event.restartAtMs,
        reason: event.reason,
        failedChildId: event.failedChildId,
      };
      break;
    case 'start':
      if (from.state !== 'restarting') return illegal(from, event);
      next = { state: 'starting', incarnation: from.incarnation + 1, sinceMs: event.nowMs };
      break;
    case 'give-up':
      if (from.state !== 'failed') return illegal(from, event);
      next = { state: 'stopped', why: event.why, reason: from.reason, atMs: event.nowMs };
      break;
    case 'terminate':
      if (from.state !== 'starting' && from.state !== 'running' && from.state !== 'restarting') return illegal(from, event);
      next = { state: 'stopped', why: event.why, reason: null, atMs: event.nowMs };
      break;
    default:
      return assert.fail(`unknown lifecycle event type ${JSON.stringify((event as { type: unknown }).type)}`);
  }
  return Object.freeze(next);
}
