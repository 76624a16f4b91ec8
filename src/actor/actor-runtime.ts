/**
 * The actor runtime as the embedding thread sees it: starts the supervisor thread (which starts
 * the hosts), declares actors, sends them records through the rings, receives what they reply,
 * and reports restarts. The broker is built on it; tests and benchmarks use it directly.
 *
 * Records to an actor go straight into its host's inbox ring, addressed by the actor's numeric
 * address: no postMessage per record. Replies come back through the runtime's own inbox ring,
 * drained on this thread with `Atomics.waitAsync`.
 */
import { EventEmitter } from 'node:events';
import { Worker } from 'node:worker_threads';
import { type Remote, wrap } from 'comlink';
import { ClosedError, NotFoundError } from '../errors.js';
import { Arena } from '../log/arena.js';
import { attachWriter, RingConsumer, RingReader, type RingWriter } from '../ring/index.js';
import { portEndpoint } from '../threads/comlink-port.js';
import { startThread } from '../threads/start-thread.js';
import type { StorageFaultRule } from '../storage/storage-protocol.js';
import { RUNTIME_INBOX_READER } from '../threads/event-loop-reader.js';
import { PendingRequests } from './pending-requests.js';
import { resolveRuntimeOptions, type RuntimeOptions } from './runtime-options.js';
import {
  type ActorAddress,
  type ActorDeclaration,
  listenerProxy,
  type RuntimeEvent,
  type RuntimeRings,
  type RuntimeStats,
  type SupervisorInit,
  type SupervisorApi,
} from './runtime-protocol.js';

export type { ActorDeclaration, RuntimeEvent, RuntimeStats } from './runtime-protocol.js';

/** The runtime's options (runtime-options.ts): the broker's, which it passes through. */
export type ActorRuntimeOptions = RuntimeOptions;

/** Fills a record's payload in place: `bytes[offset .. offset + payloadBytes)`. */
export type PayloadFill = (bytes: Uint8Array, offset: number) => void;

/**
 * Takes a record from an actor as it lies in the ring (`payload` is valid only during the call):
 * true when it was handled, false to have it copied and emitted as a 'record' event.
 */
export type RecordViewHandler = (actor: number, type: number, meta: number, payload: Uint8Array) => boolean;

/** A record waiting for ring space behind the ones that waited before it. */
interface Backlogged {
  type: number;
  address: number;
  meta: number;
  payload: Uint8Array;
}

/** A record an actor sent to this thread. `payload` is a copy: keep it as long as you like. */
export interface ReplyRecord {
  actor: string;
  type: number;
  meta: number;
  payload: Uint8Array;
}

export class ActorRuntime extends EventEmitter {
  readonly workers: number;
  /** The arena (message memory), shared with every thread of the runtime. */
  readonly arena: Arena;
  readonly #supervisorThread: Worker;
  readonly #supervisor: Remote<SupervisorApi>;
  readonly #writers: RingWriter[];
  readonly #consumer: RingConsumer;
  readonly #actors = new Map<string, ActorAddress>();
  readonly #byAddress = new Map<number, string>();
  readonly #pending = new PendingRequests<ReplyRecord>();
  /** Actors the supervisor stopped (why), until declared again: a request to one fails at once. */
  readonly #stopped = new Map<string, string>();
  #nextRequest = 1;
  #closed = false;
  /** Per host: records that found its inbox full, in order (a later record never overtakes them). */
  readonly #backlogs: Backlogged[][];
  readonly #draining: boolean[];
  #viewHandler: RecordViewHandler | null = null;

  private constructor(workers: number, thread: Worker, supervisor: Remote<SupervisorApi>, rings: RuntimeRings) {
    super();
    this.workers = workers;
    this.arena = new Arena(rings.arena);
    this.#supervisorThread = thread;
    this.#supervisor = supervisor;
    this.#writers = rings.hostInboxes.map((inbox) => attachWriter(inbox));
    this.#backlogs = rings.hostInboxes.map(() => []);
    this.#draining = rings.hostInboxes.map(() => false);
    this.#consumer = new RingConsumer(new RingReader(rings.runtimeInbox, RUNTIME_INBOX_READER), (record) => {
      if (this.#viewHandler !== null && this.#viewHandler(record.destination, record.type, record.meta, record.payload())) return;
      const pending = record.meta === 0 ? undefined : this.#pending.take(record.meta, record.destination, record.type);
      const reply: ReplyRecord = { actor: pending?.actor ?? this.#byAddress.get(record.destination) ?? `#${record.destination}`, type: record.type, meta: record.meta, payload: record.copyPayload() };
      if (pending !== undefined) pending.resolve(reply);
      else this.emit('record', reply);
    });
  }

  static async start(options: ActorRuntimeOptions = {}): Promise<ActorRuntime> {
    const resolved = resolveRuntimeOptions(options);
    const thread = await startThread('supervisor', resolved satisfies SupervisorInit);
    const workers = resolved.workers;
    const supervisor = wrap<SupervisorApi>(portEndpoint(thread));
    const rings = await supervisor.rings();
    const runtime = new ActorRuntime(workers, thread, supervisor, rings);
    await supervisor.subscribe(listenerProxy((event) => runtime.#onEvent(event)));
    return runtime;
  }

  /** Declares (and starts) an actor; declaring it again with the same options returns it as it is. */
  async declare(id: string, declaration: ActorDeclaration): Promise<ActorAddress> {
    this.#assertOpen();
    const address = await this.#supervisor.declare(id, declaration);
    this.#stopped.delete(id);
    this.#actors.set(id, address);
    this.#byAddress.set(address.address, id);
    return address;
  }

  async stop(id: string): Promise<void> {
    this.#assertOpen();
    await this.#supervisor.stop(id);
    const address = this.#actors.get(id);
    if (address) this.#byAddress.delete(address.address);
    this.#actors.delete(id);
  }

  /** The one handler that sees actors' records in place before they are copied (the broker's hot records). */
  onRecordView(handler: RecordViewHandler): void {
    this.#viewHandler = handler;
  }

  /** The numeric address of a declared actor (what its records carry as their source). */
  addressOf(id: string): number {
    return this.#address(id).address;
  }

  /** Writes a record to an actor's host inbox; waits (without blocking) while the ring is full. */
  async send(id: string, type: number, payload: Uint8Array, meta = 0): Promise<void> {
    this.sendWith(id, type, payload.byteLength, (bytes, at) => bytes.set(payload, at), meta);
  }

  /**
   * Writes a record whose payload `fill` writes in place, straight into the actor's host inbox
   * when it has room and nothing waits before it; otherwise the payload is built aside and
   * written, in order, as space frees. Never blocks, never reorders.
   */
  sendWith(id: string, type: number, payloadBytes: number, fill: PayloadFill, meta = 0, urgent = false): void {
    const { address, host } = this.#address(id);
    const backlog = this.#backlogs[host]!;
    const writer = this.#writers[host]!;
    if (backlog.length === 0 && writer.tryWriteWith(type, address, payloadBytes, fill, meta)) {
      // A host napping through a stream is not woken by records (ring-wait.ts): one that someone
      // waits on alone (a single send) wakes it, at the price of a notify.
      if (urgent) writer.rouse();
      return;
    }
    const payload = new Uint8Array(payloadBytes);
    fill(payload, 0);
    backlog.push({ type, address, meta, payload });
    if (!this.#draining[host]) void this.#drainBacklog(host);
  }

  async #drainBacklog(host: number): Promise<void> {
    this.#draining[host] = true;
    const backlog = this.#backlogs[host]!;
    try {
      while (backlog.length > 0) {
        const next = backlog[0]!;
        try {
          await this.#writers[host]!.write(next.type, next.address, next.payload, next.meta);
        } catch (error) {
          // The ring closed (the runtime is closing): a request waiting for this record fails.
          if (next.meta !== 0) this.#pending.reject(next.meta, error as Error, next.address);
        }
        backlog.shift();
      }
    } finally {
      this.#draining[host] = false;
    }
  }

  /** Writes a record if there is room now: false when the actor's host inbox is full. */
  trySend(id: string, type: number, payload: Uint8Array, meta = 0): boolean {
    const { address, host } = this.#address(id);
    return this.#writers[host]!.tryWrite(type, address, payload, meta);
  }

  /**
   * Sends a record whose `meta` is a fresh request id, and resolves with the actor's reply to it:
   * its next record with that meta (and, with `replyType`, that type — for actors whose other
   * records also carry a meta of their own).
   */
  request(id: string, type: number, payload: Uint8Array, options: { timeoutMs?: number; replyType?: number } = {}): Promise<ReplyRecord> {
    return this.requestWith(id, type, payload.byteLength, (bytes, at) => bytes.set(payload, at), options);
  }

  /** `request` with a payload written in place (`sendWith`). */
  requestWith(id: string, type: number, payloadBytes: number, fill: PayloadFill, options: { timeoutMs?: number; replyType?: number; urgent?: boolean } = {}): Promise<ReplyRecord> {
    const { address } = this.#address(id);
    const stopped = this.#stopped.get(id);
    if (stopped !== undefined) return Promise.reject(new NotFoundError(stopped));
    const requestId = this.#nextRequest;
    this.#nextRequest = this.#nextRequest === 0x7fff_ffff ? 1 : this.#nextRequest + 1;
    const reply = this.#pending.add(requestId, id, address, options.replyType, options.timeoutMs ?? 10_000);
    try {
      this.sendWith(id, type, payloadBytes, fill, requestId, options.urgent ?? false);
    } catch (error) {
      this.#pending.reject(requestId, error as Error);
    }
    return reply;
  }

  stats(): Promise<RuntimeStats> {
    this.#assertOpen();
    return this.#supervisor.stats();
  }

  /** Fault injection, for users' resilience tests and ours. */
  readonly faults = {
    crashActor: (id: string, mode: 'throw' | 'exit' | 'terminate') => {
      this.#assertOpen();
      return this.#supervisor.crashActor(id, mode);
    },
    stallWorker: (index: number, ms: number) => {
      this.#assertOpen();
      return this.#supervisor.stallWorker(index, ms);
    },
    /** The storage thread exits as if it crashed ('exit') or is terminated; the supervisor restarts it. */
    crashStorage: (mode: 'exit' | 'terminate') => {
      this.#assertOpen();
      return this.#supervisor.crashStorage(mode);
    },
    /** Matching file calls of the storage fail with EIO or ENOSPC (start with testing: { storageFaults: true }). */
    failStorage: (rule: StorageFaultRule) => {
      this.#assertOpen();
      return this.#supervisor.failStorage(rule);
    },
    /** The injected storage faults are gone: the "disk" works again. */
    healStorage: () => {
      this.#assertOpen();
      return this.#supervisor.healStorage();
    },
  };

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#supervisor.close();
    this.#consumer.stop();
    await this.#consumer.done;
    this.#pending.rejectAll(new ClosedError('the runtime closed before the actor answered'));
    await this.#supervisorThread.terminate();
  }

  #onEvent(event: RuntimeEvent): void {
    // A stopped actor answers nothing more: its callers learn it now, not at their timeout.
    if (event.type === 'actor-stopped') {
      this.#stopped.set(event.actor, event.reason);
      this.#pending.rejectActor(event.actor, new NotFoundError(event.reason));
    }
    this.emit(event.type, event);
  }

  #address(id: string): ActorAddress {
    this.#assertOpen();
    const address = this.#actors.get(id);
    if (address === undefined) throw new NotFoundError(`no actor "${id}"; declare it first`);
    return address;
  }

  #assertOpen(): void {
    if (this.#closed) throw new ClosedError('the runtime is closed');
  }
}
