/**
 * An actor host: one worker thread running many actors, cooperatively.
 *
 * Records reach the host through one multi-producer ring (its inbox), addressed by the
 * destination actor's numeric address. The host scans the ring into per-actor mailboxes without
 * releasing it, then gives each actor with mail at most `TURN_RECORDS_MAX` records per turn,
 * round robin, so that a busy actor cannot starve its neighbours. Ring space is released only
 * up to the oldest record not yet finished: if the host thread dies, every record it had not
 * finished with is still in the ring, and its replacement delivers it (at least once: records
 * finished after an older unfinished one are delivered again).
 *
 * When nothing is runnable the host parks on its inbox (`Atomics.waitAsync`: its event loop
 * stays free for control calls and storage I/O) and costs no CPU. Two shared words tell the
 * supervisor it is alive: a heartbeat counter bumped every loop, and a busy flag that is set
 * while it works; a host that is busy and whose heartbeat stops moving is stalled.
 */
import assert from 'node:assert';
import { performance } from 'node:perf_hooks';
import { ClosedError, NotFoundError, serializeError, type SerializedError } from '../errors.js';
import { attachWriter, RingReader, type RingRecord, type RingWriter } from '../ring/index.js';
import type { ActorBehavior, ActorContext, ActorFactory, ActorRecord } from './actor-behavior.js';
import type { ActorLog, ActorLogOptions, ActorStorage } from '../wal/actor-storage.js';
import { Arena } from '../log/arena.js';
import { threadUsage } from '../threads/thread-usage.js';
import { EVENT_LOOP_READER } from '../threads/event-loop-reader.js';
import { HEALTH_BEAT, HEALTH_BUSY, HEALTH_IN_RECEIVE, HEALTH_INTS_PER_HOST, HEALTH_RECORD_END } from './host-health.js';

/** Records one actor may take per turn before the next actor with mail gets its turn. */
export const TURN_RECORDS_MAX = 64;
/** Records scanned from the inbox per loop, bounding the mailboxes' growth per turn. */
const SCAN_RECORDS_MAX = 4096;
/** Loops between yields to the event loop while there is work (control calls, I/O, timers). */
const LOOPS_PER_YIELD = 16;
/**
 * Polls of the inbox before parking (tens of µs), made only while no receive is in flight. A
 * sender streaming records keeps a spinning host awake instead of paying a notify per record (it
 * doubles NOTE dispatch on 2 cores); but a spin blocks this thread's event loop, where an
 * in-flight receive is waiting for its storage answer, so with one in flight the host parks at
 * once (see event-loop-reader.ts).
 */
const IDLE_SPIN_POLLS = 2048;
/**
 * After a record, the host naps instead of parking for this long: short sleeps it wakes from by
 * itself (ring-wait.ts `napConsumer`), so the threads that send it records during a stream need
 * not notify it. A notify that wakes a parked thread costs the sender 20 µs and more on a virtual
 * machine, and the sender is the application's thread; a nap costs this thread a timer wake-up on
 * its own core. Quiet for longer, the host parks for good and costs nothing. One millisecond: a
 * stream's records come closer than that; at 1,000 records/s a 20 ms window kept the host napping
 * (three wake-ups a record, ~0.1 ms of CPU each on 2 vCPUs) where a park and one notify do
 * (publishes rouse their host anyway: the producer waits on them).
 */
const NAP_WINDOW_MS = 1;
/** One nap (Atomics.wait's timeout; the kernel makes it ~100 µs): also how often the event loop turns while napping. */
const NAP_MS = 0.3;

export interface ActorStartSpec {
  id: string;
  address: number;
  /** URL (file:) of the behavior module, which exports `createActor`. */
  module: string;
  options?: unknown;
  log?: ActorLogOptions;
  /** Restarts before this start. */
  restarts: number;
}

export type HostedActorState = 'starting' | 'running' | 'failed' | 'stopping' | 'stopped';

export interface HostedActorStats {
  id: string;
  address: number;
  state: HostedActorState;
  received: number;
  mailbox: number;
}

export interface HostStats {
  index: number;
  threadId: number;
  /** The kernel's id of the host thread (Linux; 0 elsewhere): where its CPU is read from /proc. */
  tid: number;
  actors: HostedActorStats[];
  recordsIn: number;
  undeliverable: number;
  parks: number;
}

/** What the host tells the supervisor, asynchronously (comlink callbacks). */
export interface HostEvents {
  actorFailed(id: string, error: SerializedError): void;
  /** Records addressed to `destination`, which this host does not run, were dropped: `count` since the last report. */
  undeliverable(destination: number, count: number): void;
}

/** A scanned record waiting for (or being handled by) its actor. Pooled: no allocation per record in steady state. */
class Pending {
  end = 0;
  offset = 0;
  length = 0;
  type = 0;
  meta = 0;
  done = false;
  /** Its actor called `context.hold()` while receiving it: done when the actor says so. */
  held = false;
  next: Pending | null = null;
}

/** One reusable record view per actor: valid while the actor handles it, which is one record at a time. */
class HostRecordView implements ActorRecord {
  type = 0;
  meta = 0;
  offset = 0;
  length = 0;

  constructor(readonly bytes: Uint8Array) {}

  get payload(): Uint8Array {
    return this.bytes.subarray(this.offset, this.offset + this.length);
  }
}

class HostedActor {
  state: HostedActorState = 'starting';
  /** Bumped when an incarnation ends: its context's reply and timers go dead. */
  incarnation = 0;
  readonly timers = new Set<NodeJS.Timeout>();
  /** Timer callbacks that came due while a receive was running: run when it settles. */
  readonly dueTimers: (() => void | Promise<void>)[] = [];
  behavior: ActorBehavior | null = null;
  context: ActorContext | null = null;
  busy = false;
  received = 0;
  mailboxSize = 0;
  head: Pending | null = null;
  tail: Pending | null = null;
  readonly view: HostRecordView;

  constructor(
    public spec: ActorStartSpec,
    bytes: Uint8Array,
  ) {
    this.view = new HostRecordView(bytes);
  }

  enqueue(pending: Pending): void {
    if (this.tail === null) this.head = pending;
    else this.tail.next = pending;
    this.tail = pending;
    this.mailboxSize++;
  }

  /** Back at the head of the mailbox (a held record its incarnation did not finish). */
  unshift(pending: Pending): void {
    pending.next = this.head;
    this.head = pending;
    if (this.tail === null) this.tail = pending;
    this.mailboxSize++;
  }

  dequeue(): Pending {
    const pending = this.head!;
    this.head = pending.next;
    if (this.head === null) this.tail = null;
    pending.next = null;
    this.mailboxSize--;
    return pending;
  }
}

export interface ActorHostInit {
  index: number;
  inbox: SharedArrayBuffer;
  /** The ring into the runtime's thread (replies). */
  outbox: SharedArrayBuffer;
  /** Int32 words, HEALTH_INTS_PER_HOST per host. */
  health: SharedArrayBuffer;
  /** The arena (message memory, src/log/arena.ts), for actors that read messages in place. */
  arena?: SharedArrayBuffer;
  /**
   * Actors this host will run once the supervisor restarts them (it replaces a dead host): their
   * mail waits in their mailboxes instead of being dropped as undeliverable.
   */
  expected?: { id: string; address: number }[];
  /** The inbox position just past the record its predecessor died handling: dropped, not redelivered. */
  poisonEnd?: number;
}

export class ActorHost {
  readonly index: number;
  readonly #reader: RingReader;
  readonly #outbox: RingWriter;
  readonly #health: Int32Array;
  readonly #beatIndex: number;
  readonly #busyIndex: number;
  readonly #inReceiveIndex: number;
  readonly #recordEndIndex: number;
  #poisonEnd: number | null;
  readonly #storage: ActorStorage;
  readonly #events: HostEvents;
  readonly #arena: Arena | null;
  readonly #actors = new Map<number, HostedActor>();
  readonly #byId = new Map<string, HostedActor>();
  /** Actors with mail, in the order they got it: the round-robin turn order. */
  readonly #withMail = new Set<HostedActor>();
  /** Scanned records in ring order, for releasing the finished prefix. */
  #fifo: Pending[] = [];
  #fifoHead = 0;
  readonly #free: Pending[] = [];
  readonly #replyQueue: { type: number; destination: number; meta: number; payload: Uint8Array }[] = [];
  #flushingReplies = false;
  #closing = false;
  #loop: Promise<void> | null = null;
  #recordsIn = 0;
  /** Receives that returned a promise not yet settled: they need this thread's event loop. */
  #receivesInFlight = 0;
  /** Records held (`context.hold()`) and not yet released: their answers (storage) come through the event loop. */
  #holds = 0;
  /** The record whose `receive` runs now (for `context.hold()`). */
  #receiving: Pending | null = null;
  #undeliverable = 0;
  /** When the last record arrived (performance.now()): napping, not parking, for NAP_WINDOW_MS after it. */
  #lastRecordMs = -Infinity;
  readonly #undeliverableSince = new Map<number, number>();
  #undeliverableTimer: NodeJS.Timeout | null = null;

  constructor(init: ActorHostInit, storage: ActorStorage, events: HostEvents) {
    this.index = init.index;
    this.#reader = new RingReader(init.inbox, EVENT_LOOP_READER);
    this.#outbox = attachWriter(init.outbox);
    this.#health = new Int32Array(init.health);
    this.#beatIndex = init.index * HEALTH_INTS_PER_HOST + HEALTH_BEAT;
    this.#busyIndex = init.index * HEALTH_INTS_PER_HOST + HEALTH_BUSY;
    this.#inReceiveIndex = init.index * HEALTH_INTS_PER_HOST + HEALTH_IN_RECEIVE;
    this.#recordEndIndex = init.index * HEALTH_INTS_PER_HOST + HEALTH_RECORD_END;
    this.#poisonEnd = init.poisonEnd ?? null;
    this.#storage = storage;
    this.#events = events;
    this.#arena = init.arena === undefined ? null : new Arena(init.arena);
    for (const { id, address } of init.expected ?? []) {
      const actor = new HostedActor({ id, address, module: '', restarts: 0 }, this.#reader.memory.bytes);
      actor.state = 'failed';
      this.#actors.set(address, actor);
      this.#byId.set(id, actor);
    }
  }

  /** This host's writer slot on the runtime's ring: the supervisor repairs it if the host dies. */
  get outboxSlot(): number {
    return this.#outbox.slot;
  }

  /** Starts the scheduling loop. */
  run(): void {
    assert(this.#loop === null, 'the host loop runs once');
    this.#loop = this.#runLoop();
  }

  async startActor(spec: ActorStartSpec): Promise<void> {
    if (this.#closing) throw new ClosedError(`host ${this.index} is closing`);
    const factory = await loadActorFactory(spec.module);
    const log: ActorLog = await this.#storage.openLog(spec.id, spec.log);
    let actor = this.#actors.get(spec.address);
    if (actor === undefined) {
      actor = new HostedActor(spec, this.#reader.memory.bytes);
      this.#actors.set(spec.address, actor);
      this.#byId.set(spec.id, actor);
    }
    actor.spec = spec;
    actor.state = 'starting';
    actor.busy = false;
    this.#endIncarnation(actor);
    const incarnation = actor.incarnation;
    const host = this;
    const context: ActorContext = {
      id: spec.id,
      address: spec.address,
      log,
      restarts: spec.restarts,
      arena: this.#arena,
      reply(type, payload, meta = 0) {
        if (actor.incarnation === incarnation) host.#reply(type, spec.address, payload, meta);
      },
      replyWith(type, payloadBytes, fill, meta = 0) {
        if (actor.incarnation === incarnation) host.#replyWith(type, spec.address, payloadBytes, fill, meta);
      },
      hold() {
        const pending = host.#receiving;
        if (pending === null) throw new Error('context.hold() is for the record being received: call it inside receive');
        pending.held = true;
        host.#holds++;
        return () => {
          if (pending.done || !pending.held) return;
          pending.held = false;
          host.#holds--;
          if (actor.incarnation !== incarnation && actor.state !== 'stopped') {
            // Its incarnation ended before finishing it: the next one gets it again (at least once).
            actor.unshift(pending);
            if (actor.state === 'running' && !actor.busy) host.#withMail.add(actor);
          } else {
            pending.done = true;
          }
          host.#reader.wake();
        };
      },
      setTimer(delayMs, callback) {
        if (actor.incarnation !== incarnation) return () => {};
        const timer = setTimeout(() => {
          actor.timers.delete(timer);
          if (actor.incarnation !== incarnation) return;
          actor.dueTimers.push(callback);
          host.#runDueTimers(actor);
        }, Math.max(0, delayMs));
        actor.timers.add(timer);
        return () => {
          clearTimeout(timer);
          actor.timers.delete(timer);
        };
      },
    };
    actor.context = context;
    try {
      actor.behavior = factory(spec.options);
      await actor.behavior.start(context);
    } catch (error) {
      actor.state = 'failed';
      throw error;
    }
    actor.state = 'running';
    if (actor.mailboxSize > 0) this.#withMail.add(actor);
    this.#reader.wake();
  }

  /** Stops an actor: gracefully (its `stop` runs after its current record), or at once. */
  async stopActor(id: string, graceful: boolean): Promise<void> {
    const actor = this.#byId.get(id);
    if (actor === undefined) throw new NotFoundError(`no actor "${id}" on host ${this.index}`);
    if (graceful && actor.state === 'running' && actor.behavior?.stop && actor.context) {
      actor.state = 'stopping';
      while (actor.busy) await new Promise((resolve) => setTimeout(resolve, 1));
      await actor.behavior.stop(actor.context);
    }
    actor.state = 'stopped';
    actor.behavior = null;
    this.#endIncarnation(actor);
    // Mail for a stopped actor is undeliverable; its ring space is released.
    while (actor.head !== null) {
      const pending = actor.dequeue();
      pending.done = true;
      this.#reportUndeliverable(actor.spec.address);
    }
    this.#withMail.delete(actor);
    this.#actors.delete(actor.spec.address);
    this.#byId.delete(id);
    this.#reader.wake();
  }

  /** Fails an actor quietly, keeping its mail: the supervisor restarts it (one_for_all siblings). */
  suspendActor(id: string): void {
    const actor = this.#byId.get(id);
    if (actor === undefined) throw new NotFoundError(`no actor "${id}" on host ${this.index}`);
    actor.state = 'failed';
    actor.behavior = null;
    this.#endIncarnation(actor);
    this.#withMail.delete(actor);
  }

  /** Fault injection: the actor fails as if its handler had thrown. */
  crashActor(id: string): void {
    const actor = this.#byId.get(id);
    if (actor === undefined) throw new NotFoundError(`no actor "${id}" on host ${this.index}`);
    this.#fail(actor, new Error(`injected fault: actor ${id} crashed`));
  }

  /** Fault injection: blocks this thread for `ms` (busy, heartbeat frozen), as a stuck handler would. */
  stall(ms: number): void {
    const wasBusy = Atomics.exchange(this.#health, this.#busyIndex, 1);
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
    Atomics.store(this.#health, this.#busyIndex, wasBusy);
  }

  stats(threadId: number): HostStats {
    return {
      index: this.index,
      threadId,
      tid: threadUsage()?.tid ?? 0,
      actors: [...this.#byId.values()].map((a) => ({ id: a.spec.id, address: a.spec.address, state: a.state, received: a.received, mailbox: a.mailboxSize })),
      recordsIn: this.#recordsIn,
      undeliverable: this.#undeliverable,
      parks: this.#reader.parks,
    };
  }

  /** Graceful close: stops the loop after the current turn, stops every actor gracefully. */
  async close(): Promise<void> {
    this.#closing = true;
    this.#reader.wake();
    await this.#loop;
    for (const id of [...this.#byId.keys()]) await this.stopActor(id, true);
    while (this.#replyQueue.length > 0 || this.#flushingReplies) await new Promise((resolve) => setTimeout(resolve, 1));
    this.#outbox.release();
  }

  async #runLoop(): Promise<void> {
    const health = this.#health;
    let loops = 0;
    Atomics.store(health, this.#busyIndex, 1);
    while (!this.#closing) {
      Atomics.add(health, this.#beatIndex, 1);
      const scanned = this.#reader.scan(this.#onScanned, SCAN_RECORDS_MAX);
      const handled = this.#runTurn();
      this.#releaseFinished();
      if (scanned > 0) this.#lastRecordMs = performance.now();
      if (scanned === 0 && handled === 0) {
        // Nothing runnable: park until a record arrives or something wakes us (an actor's async
        // receive settling, a start, a stop, close). Not busy while parked: not stalled either.
        // Not while something waits for an answer through the event loop (a receive's promise,
        // a held record's storage confirm): a nap would hold that answer up to its length.
        const streaming = this.#receivesInFlight === 0 && this.#holds === 0 && performance.now() - this.#lastRecordMs < NAP_WINDOW_MS;
        // A spin saves a sender's notify before a park; a nap needs none: napping, no spin (a
        // spin between naps kept this thread on its core all the time, and the application's
        // thread lost the other one to the garbage collector's helpers).
        if (!streaming && this.#receivesInFlight === 0 && this.#spinForRecords()) continue;
        Atomics.store(health, this.#busyIndex, 0);
        if (streaming) {
          // In a stream: nap, then let the event loop run (storage answers, timers, control calls).
          // Not while a receive waits for its promise: that needs the event loop now, not in a nap.
          this.#reader.napForRecords(NAP_MS);
          Atomics.store(health, this.#busyIndex, 1);
          await new Promise<void>((resolve) => setImmediate(resolve));
          continue;
        }
        await this.#reader.waitForRecordsAsync();
        Atomics.store(health, this.#busyIndex, 1);
        loops = 0;
      } else if (++loops % LOOPS_PER_YIELD === 0) {
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
    }
    Atomics.store(health, this.#busyIndex, 0);
  }

  /** True if a record arrived within IDLE_SPIN_POLLS polls. Only records can end it: wakes come from this thread's event loop, which the spin holds. */
  #spinForRecords(): boolean {
    const reader = this.#reader;
    for (let i = 0; i < IDLE_SPIN_POLLS; i++) if (reader.hasRecords()) return true;
    return false;
  }

  readonly #onScanned = (record: RingRecord, end: number): void => {
    const pending = this.#free.pop() ?? new Pending();
    pending.end = end;
    pending.offset = record.offset;
    pending.length = record.length;
    pending.type = record.type;
    pending.meta = record.meta;
    pending.done = false;
    this.#fifo.push(pending);
    this.#recordsIn++;
    const actor = this.#actors.get(record.destination);
    if (end === this.#poisonEnd) {
      // The record the previous host died handling: not handed out again.
      this.#poisonEnd = null;
      pending.done = true;
      this.#reportUndeliverable(record.destination);
      return;
    }
    if (actor === undefined) {
      pending.done = true;
      this.#reportUndeliverable(record.destination);
      return;
    }
    actor.enqueue(pending);
    if (actor.state === 'running') this.#withMail.add(actor);
  };

  /** One round: every actor with mail gets up to TURN_RECORDS_MAX records. Returns records handled. */
  #runTurn(): number {
    let handled = 0;
    for (const actor of this.#withMail) {
      if (actor.state !== 'running' || actor.busy) {
        this.#withMail.delete(actor);
        continue;
      }
      handled += this.#runActor(actor);
      if (actor.mailboxSize === 0 || actor.state !== 'running' || actor.busy) this.#withMail.delete(actor);
    }
    return handled;
  }

  #runActor(actor: HostedActor): number {
    let handled = 0;
    const behavior = actor.behavior!;
    const context = actor.context!;
    const view = actor.view;
    while (handled < TURN_RECORDS_MAX && actor.head !== null) {
      const pending = actor.dequeue();
      handled++;
      actor.received++;
      view.type = pending.type;
      view.meta = pending.meta;
      view.offset = pending.offset;
      view.length = pending.length;
      let result: void | Promise<void>;
      const health = this.#health;
      health[this.#recordEndIndex] = pending.end;
      health[this.#inReceiveIndex] = 1;
      pending.held = false;
      this.#receiving = pending;
      try {
        result = behavior.receive(view, context);
      } catch (error) {
        this.#receiving = null;
        health[this.#inReceiveIndex] = 0;
        pending.done = true;
        this.#fail(actor, error);
        return handled;
      }
      this.#receiving = null;
      health[this.#inReceiveIndex] = 0;
      if (result !== undefined && typeof (result as Promise<void>).then === 'function') {
        actor.busy = true;
        this.#receivesInFlight++;
        (result as Promise<void>).then(
          () => this.#settled(actor, pending, undefined),
          (error: unknown) => this.#settled(actor, pending, error ?? new Error('receive rejected')),
        );
        return handled;
      }
      if (!pending.held) pending.done = true;
    }
    return handled;
  }

  #settled(actor: HostedActor, pending: Pending | null, error: unknown): void {
    this.#receivesInFlight--;
    if (pending !== null) pending.done = true;
    actor.busy = false;
    if (error !== undefined) this.#fail(actor, error);
    else if (actor.dueTimers.length > 0) this.#runDueTimers(actor);
    if (!actor.busy && actor.state === 'running' && actor.mailboxSize > 0) this.#withMail.add(actor);
    this.#reader.wake();
  }

  #endIncarnation(actor: HostedActor): void {
    actor.incarnation++;
    for (const timer of actor.timers) clearTimeout(timer);
    actor.timers.clear();
    actor.dueTimers.length = 0;
  }

  /** Runs an actor's due timer callbacks, one at a time, never inside one of its receives. */
  #runDueTimers(actor: HostedActor): void {
    while (!actor.busy && actor.state === 'running' && actor.dueTimers.length > 0) {
      const callback = actor.dueTimers.shift()!;
      let result: void | Promise<void>;
      try {
        result = callback();
      } catch (error) {
        this.#fail(actor, error);
        return;
      }
      if (result !== undefined && typeof (result as Promise<void>).then === 'function') {
        actor.busy = true;
        this.#receivesInFlight++;
        (result as Promise<void>).then(
          () => this.#settled(actor, null, undefined),
          (error: unknown) => this.#settled(actor, null, error ?? new Error('timer callback rejected')),
        );
        return;
      }
    }
    if (!actor.busy && actor.state === 'running' && actor.mailboxSize > 0) {
      this.#withMail.add(actor);
      this.#reader.wake();
    }
  }

  #fail(actor: HostedActor, error: unknown): void {
    if (actor.state !== 'running' && actor.state !== 'starting') return;
    actor.state = 'failed';
    actor.behavior = null;
    this.#endIncarnation(actor);
    this.#withMail.delete(actor);
    this.#events.actorFailed(actor.spec.id, serializeError(error));
  }

  /** Releases ring space up to the oldest record not yet finished. */
  #releaseFinished(): void {
    const fifo = this.#fifo;
    let head = this.#fifoHead;
    let releaseTo = -1;
    let released = false;
    while (head < fifo.length && fifo[head]!.done) {
      const pending = fifo[head]!;
      releaseTo = pending.end;
      released = true;
      this.#free.push(pending);
      head++;
    }
    if (released) this.#reader.release(releaseTo);
    if (head === fifo.length) {
      this.#fifo = fifo.length > 1024 ? [] : fifo;
      this.#fifo.length = 0;
      head = 0;
    } else if (head > 4096) {
      this.#fifo = fifo.slice(head);
      head = 0;
    }
    this.#fifoHead = head;
  }

  #reply(type: number, destination: number, payload: Uint8Array, meta: number): void {
    if (this.#replyQueue.length === 0 && this.#outbox.tryWrite(type, destination, payload, meta)) return;
    // The runtime's ring is full: keep order, copy the payload (the caller's may be a ring view), and flush as space frees.
    this.#queueReply(type, destination, meta, payload.slice());
  }

  #replyWith(type: number, destination: number, payloadBytes: number, fill: (bytes: Uint8Array, offset: number) => void, meta: number): void {
    if (this.#replyQueue.length === 0 && this.#outbox.tryWriteWith(type, destination, payloadBytes, fill, meta)) return;
    const payload = new Uint8Array(payloadBytes);
    fill(payload, 0);
    this.#queueReply(type, destination, meta, payload);
  }

  /** Behind the replies already waiting for ring space: they go out in order as space frees. */
  #queueReply(type: number, destination: number, meta: number, payload: Uint8Array): void {
    this.#replyQueue.push({ type, destination, meta, payload });
    if (!this.#flushingReplies) void this.#flushReplies();
  }

  async #flushReplies(): Promise<void> {
    this.#flushingReplies = true;
    try {
      while (this.#replyQueue.length > 0) {
        const next = this.#replyQueue[0]!;
        await this.#outbox.write(next.type, next.destination, next.payload, next.meta);
        this.#replyQueue.shift();
      }
    } finally {
      this.#flushingReplies = false;
    }
  }

  /** Counted at once, reported to the supervisor at most every 100 ms: never a message per record. */
  #reportUndeliverable(destination: number): void {
    this.#undeliverable++;
    this.#undeliverableSince.set(destination, (this.#undeliverableSince.get(destination) ?? 0) + 1);
    if (this.#undeliverableTimer === null) {
      this.#undeliverableTimer = setTimeout(() => {
        this.#undeliverableTimer = null;
        for (const [destination, count] of this.#undeliverableSince) this.#events.undeliverable(destination, count);
        this.#undeliverableSince.clear();
      }, 100);
    }
  }

}

/** Behavior modules this thread imported, by URL: a module is imported once per thread. */
const factories = new Map<string, Promise<ActorFactory>>();

/**
 * Imports a behavior module (once per thread) and returns its `createActor`. A warm spare host
 * calls it ahead of need, so that adopting a dead host's place does not wait for imports.
 */
export function loadActorFactory(module: string): Promise<ActorFactory> {
  let factory = factories.get(module);
  if (factory === undefined) {
    factory = import(module).then((loaded: { createActor?: unknown }) => {
      if (typeof loaded.createActor !== 'function') throw new NotFoundError(`actor module ${module} does not export createActor(options)`);
      return loaded.createActor as ActorFactory;
    });
    factories.set(module, factory);
    factory.catch(() => factories.delete(module));
  }
  return factory;
}
