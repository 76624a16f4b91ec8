/**
 * What an actor is, to the runtime: a single-threaded state machine that takes records from its
 * mailbox one at a time, keeps its state in memory, and persists what it must through its log.
 *
 * A behavior module (a file the actor hosts can import, compiled JS) exports
 * `createActor(options)`, returning an `ActorBehavior`. On every start — the first one and each
 * restart — the runtime makes a fresh behavior and calls `start`, which rebuilds the state by
 * replaying `context.log`. Then `receive` is called for each record, in mailbox order, never
 * two at once: a `receive` that returns a promise holds the actor's mailbox (not its host) until
 * the promise settles. A `receive` that throws (or rejects) fails the actor: the supervisor
 * decides whether and when it restarts, and the record it failed on is not handed to it again
 * (as in OTP and Akka, so that a poison record cannot crash-loop its actor).
 */
import type { Arena } from '../log/arena.js';
import type { ActorLog } from '../wal/actor-storage.js';

/** A record as an actor receives it: a zero-copy view, valid until `receive` returns (or its promise settles). */
export interface ActorRecord {
  readonly type: number;
  readonly meta: number;
  /** The payload bytes. Copy what you keep beyond `receive`. */
  readonly payload: Uint8Array;
}

export interface ActorContext {
  /** The actor's id, e.g. `queue:orders`. */
  readonly id: string;
  /** The actor's numeric address: the destination of the records sent to it. */
  readonly address: number;
  /** The actor's log: replay it in `start`, append to it in `receive`. */
  readonly log: ActorLog;
  /** How many times the actor was restarted before this start (0 on the first start). */
  readonly restarts: number;
  /** The runtime's arena (message memory), shared with every thread: where queues and topics keep their messages. */
  readonly arena: Arena | null;
  /** Sends a record to the thread that runs the runtime (the broker's side). Never blocks: waits for ring space in the background, in order. */
  reply(type: number, payload: Uint8Array, meta?: number): void;
  /**
   * `reply` with a payload of `payloadBytes` that `fill` writes at `bytes[offset]`: straight into
   * the ring when it has room and no earlier reply waits, so a large payload is never built and
   * copied. `fill` runs before this returns, and writes exactly `payloadBytes`.
   */
  replyWith(type: number, payloadBytes: number, fill: (bytes: Uint8Array, offset: number) => void, meta?: number): void;
  /**
   * Runs `callback` after `delayMs`, as part of this actor: never while a `receive` of it is
   * running, and a throw fails the actor like a throw in `receive`. Timers die with the
   * incarnation: a failed, stopped or restarted actor's timers never fire. Returns a cancel.
   */
  setTimer(delayMs: number, callback: () => void | Promise<void>): () => void;
  /**
   * Called inside `receive`: the record being received stays in the ring (unreleased) until the
   * returned function is called, while the actor goes on receiving. If the host dies first, the
   * record is delivered again to the actor's next incarnation. For work that finishes later
   * (a log append confirmed) without holding the whole mailbox as a returned promise would.
   */
  hold(): () => void;
}

export interface ActorBehavior {
  /** Rebuilds state (replay `context.log`). The actor receives nothing until this resolves. */
  start(context: ActorContext): void | Promise<void>;
  receive(record: ActorRecord, context: ActorContext): void | Promise<void>;
  /** Graceful stop: flush what must be flushed. Not called when the actor fails or its host dies. */
  stop?(context: ActorContext): void | Promise<void>;
}

/** The export a behavior module must have. */
export type ActorFactory = (options: unknown) => ActorBehavior;
