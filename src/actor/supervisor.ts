/**
 * The supervisor: runs on its own worker thread, so that a busy or blocked main thread does not
 * stop supervision. It
 * - allocates every ring, so that a ring outlives the threads at either end of it (the records
 *   waiting in a dead host's inbox are still there for its replacement);
 * - places actors on hosts (`Placement`: hashed, remembered);
 * - spawns the actor hosts and watches them: `error` and non-zero `exit` events, out-of-memory,
 *   and a heartbeat that stops moving while the host is busy;
 * - decides restarts with OTP's rules and Akka's backoff (`SupervisorState`, a pure module) and
 *   carries them out: a failed actor restarts on its host; a dead host is replaced by a fresh
 *   thread on the same inbox ring (repaired first), and its actors restart there.
 *
 * Everything here is control plane: comlink calls, rare. Records never pass through this thread.
 */
import { expose, proxy, type Remote, transfer, wrap } from 'comlink';
import { performance } from 'node:perf_hooks';
import { MessageChannel, Worker } from 'node:worker_threads';
import { ClosedError, InvalidArgumentError, NotFoundError, serializeError, type SerializedError } from '../errors.js';
import { Arena } from '../log/arena.js';
import { allocateRing, repairRing } from '../ring/index.js';
import { portEndpoint } from '../threads/comlink-port.js';
import { startThread } from '../threads/start-thread.js';
import { workerFileUrl } from '../threads/worker-file.js';
import type { ActorStartSpec } from './actor-host.js';
import { allocateHealth, HEALTH_BEAT, HEALTH_BUSY, HEALTH_IN_RECEIVE, HEALTH_INTS_PER_HOST, HEALTH_RECORD_END } from './host-health.js';
import type { HostApi, HostEventsApi, HostWorkerData } from './host-protocol.js';
import { emptyMaintenanceStats, type StorageEvent, type StorageFaultRule, type StorageServiceApi, type StorageStats } from '../storage/storage-protocol.js';
import { threadUsage } from '../threads/thread-usage.js';
import type { StorageWorkerData } from '../storage/storage-service.js';
import { storageWorkerData } from './runtime-options.js';
import type { ActorAddress, ActorDeclaration, HostState, RuntimeEvent, RuntimeRings, RuntimeStats, SupervisorApi, SupervisorInit } from './runtime-protocol.js';
import { Placement } from './placement.js';
import {
  decideHostExit,
  describeExit,
  type ExitReason,
  type HostExitReason,
  type SupervisorDecision,
  SupervisorState,
  validateRestartType,
} from './supervision.js';


interface HostHandle {
  index: number;
  generation: number;
  state: HostState;
  worker: Worker;
  api: Remote<HostApi>;
  events: MessagePort;
  outboxSlot: number;
  restarts: number;
  lastBeat: number;
  lastBeatChangeMs: number;
  failure: ExitReason | null;
  /** Terminated by fault injection (`crashActor(..., 'terminate')`): no record is to blame. */
  terminatedFromOutside: boolean;
}

interface ActorEntry {
  id: string;
  address: number;
  host: number;
  declaration: ActorDeclaration;
  restarts: number;
  /** Bumped to cancel a scheduled restart (stop, close, or a newer schedule). */
  restartToken: number;
}

/** A host thread kept started and idle, ready to adopt a dead host's place. */
interface SpareHost {
  worker: Worker;
  api: Remote<HostApi>;
  /** True once it is loaded (false if it died first). */
  ready: Promise<boolean>;
  /** Behavior modules it imported or was asked to. */
  modules: Set<string>;
}

const HOST_CLOSE_WAIT_MS = 5000;

type MessagePort = import('node:worker_threads').MessagePort;

export class Supervisor implements SupervisorApi {
  readonly #decisions: SupervisorState;
  readonly #placement: Placement;
  readonly #arena: Arena;
  readonly #inboxes: SharedArrayBuffer[];
  readonly #runtimeInbox: SharedArrayBuffer;
  readonly #health: SharedArrayBuffer;
  readonly #healthInts: Int32Array;
  readonly #hosts: HostHandle[] = [];
  readonly #actors = new Map<string, ActorEntry>();
  readonly #byAddress = new Map<number, ActorEntry>();
  readonly #listeners: ((event: RuntimeEvent) => void)[] = [];
  readonly #stallTimeoutMs: number;
  readonly #hostHeapMb: number;
  #storageThread: Worker;
  #storage: Remote<StorageServiceApi>;
  readonly #storageDurable: boolean;
  /** What the storage thread is started with (again, after it died). */
  readonly #storageData: StorageWorkerData;
  /** Per host: its request ring to the storage thread and the response ring back (fresh ones for a restarted thread). */
  #storageRings: { requests: SharedArrayBuffer; responses: SharedArrayBuffer }[];
  readonly #inboxBytes: number;
  /** From the storage thread's death until its replacement serves every host. */
  #storageRestart: Promise<void> | null = null;
  /** False from the storage thread's death until a replacement serves: a call to a dead thread never answers. */
  #storageAlive = true;
  #lastStorageStats: StorageStats | null = null;
  #nextAddress = 1;
  #closing = false;
  /** One spare host thread, loaded and idle, for the next host death. */
  #spare: SpareHost | null = null;
  #healthTimer: NodeJS.Timeout | null = null;
  /** True from a 'failed' storage event to the 'recovered' one. */
  #storageDown = false;
  /** Restarts that fell due while the storage was down: they run once it recovers. */
  readonly #parked = new Map<string, { entry: ActorEntry; attempt: number }>();
  /** Actors stopped (restart intensity) while the storage was down: they start again once it recovers. */
  readonly #stoppedWhileDown = new Set<string>();

  private constructor(init: SupervisorInit, placement: Placement, arena: Arena, storageThread: Worker, storage: Remote<StorageServiceApi>, storageDurable: boolean) {
    this.#placement = placement;
    this.#arena = arena;
    this.#storageThread = storageThread;
    this.#storage = storage;
    this.#storageDurable = storageDurable;
    this.#decisions = new SupervisorState(init.supervisor);
    const inboxBytes = init.inboxBytes;
    this.#inboxes = Array.from({ length: init.workers }, () => allocateRing({ capacity: inboxBytes, kind: 'multi-producer' }));
    this.#runtimeInbox = allocateRing({ capacity: inboxBytes, kind: 'multi-producer' });
    this.#health = allocateHealth(init.workers);
    this.#healthInts = new Int32Array(this.#health);
    this.#stallTimeoutMs = init.stallTimeoutMs;
    this.#hostHeapMb = init.hostHeapMb;
    this.#inboxBytes = inboxBytes;
    this.#storageData = { ...storageWorkerData(init), arena: arena.sab };
    this.#storageRings = Array.from({ length: init.workers }, () => this.#allocateStorageRings());
  }

  #allocateStorageRings(): { requests: SharedArrayBuffer; responses: SharedArrayBuffer } {
    return {
      requests: allocateRing({ capacity: this.#inboxBytes, kind: 'single-producer' }),
      responses: allocateRing({ capacity: 1 << 20, kind: 'single-producer' }),
    };
  }

  static async start(init: SupervisorInit): Promise<Supervisor> {
    // Validated on the caller's thread (resolveRuntimeOptions).
    const arena = Arena.create(init.memoryLimitBytes);
    // Storage first: it takes the data directory's lock, and the hosts need it to start actors.
    const storageThread = await startThread('storage', { ...storageWorkerData(init), arena: arena.sab });
    const storage = wrap<StorageServiceApi>(portEndpoint(storageThread));
    // Placement only under that lock: opening it may truncate, compact or migrate its file.
    let placement: Placement;
    try {
      placement = await Placement.open({ hosts: init.workers, strategy: init.placement, ...(init.dataDir === undefined ? {} : { dataDir: init.dataDir }) });
    } catch (error) {
      await storage.close().catch(() => undefined);
      await storageThread.terminate();
      throw error;
    }
    const supervisor = new Supervisor(init, placement, arena, storageThread, storage, await storage.durable);
    await storage.subscribe(proxy((event: StorageEvent) => supervisor.#onStorageEvent(event)));
    storageThread.once('exit', (code) => supervisor.#onStorageThreadExit(storageThread, code));
    await Promise.all(Array.from({ length: init.workers }, (_, index) => supervisor.#spawnHost(index, 0)));
    supervisor.#prepareSpare();
    // A few checks per stall timeout: cheap, and idle hosts are not even looked at twice.
    supervisor.#healthTimer = setInterval(() => supervisor.#checkHealth(), Math.max(25, supervisor.#stallTimeoutMs / 4));
    return supervisor;
  }

  rings(): RuntimeRings {
    return { hostInboxes: this.#inboxes, runtimeInbox: this.#runtimeInbox, arena: this.#arena.sab };
  }

  subscribe(listener: (event: RuntimeEvent) => void): void {
    this.#listeners.push(listener);
  }

  async declare(id: string, declaration: ActorDeclaration): Promise<ActorAddress> {
    this.#assertOpen();
    if (typeof id !== 'string' || id.length === 0 || id.length > 255) {
      throw new InvalidArgumentError(`an actor id must be a non-empty string of at most 255 characters, got ${JSON.stringify(id)}`);
    }
    if (typeof declaration?.module !== 'string') {
      throw new InvalidArgumentError(`an actor declaration needs module: the file: URL of a module that exports createActor`);
    }
    const restart = validateRestartType(declaration.restart ?? 'permanent');
    const existing = this.#actors.get(id);
    if (existing !== undefined) {
      if (JSON.stringify(existing.declaration) !== JSON.stringify(declaration)) {
        throw new InvalidArgumentError(`actor "${id}" is already declared with other options; stop it first or declare it as it is`);
      }
      return { id, address: existing.address, host: existing.host };
    }
    const host = await this.#placement.place(id);
    // The warm spare imports new behavior modules now, not when it must take over a host.
    const spare = this.#spare;
    if (spare !== null && !spare.modules.has(declaration.module)) {
      spare.modules.add(declaration.module);
      void spare.ready.then(async (ready) => {
        if (ready) await spare.api.preload([declaration.module]).catch(() => undefined);
      });
    }
    const entry: ActorEntry = { id, address: this.#nextAddress++, host, declaration, restarts: 0, restartToken: 0 };
    this.#actors.set(id, entry);
    this.#byAddress.set(entry.address, entry);
    this.#decisions.addChild(id, { restart }, performance.now());
    try {
      await this.#hosts[host]!.api.startActor(this.#startSpec(entry));
    } catch (error) {
      // The first start failed: the declaration fails, and nothing of it stays supervised.
      this.#decisions.removeChild(id);
      this.#actors.delete(id);
      this.#byAddress.delete(entry.address);
      throw error;
    }
    this.#decisions.onRunning(id, performance.now());
    return { id, address: entry.address, host };
  }

  async stop(id: string): Promise<void> {
    const entry = this.#entry(id);
    entry.restartToken++;
    if (this.#decisions.onStopping(id, performance.now())) {
      const host = this.#hosts[entry.host]!;
      if (host.state === 'running') await host.api.stopActor(id, true).catch(() => undefined);
      this.#decisions.onExit(id, { kind: 'shutdown' }, performance.now());
    }
    this.#decisions.removeChild(id);
    this.#actors.delete(id);
    this.#byAddress.delete(entry.address);
  }

  async stats(): Promise<RuntimeStats> {
    const workers = await Promise.all(
      this.#hosts.map(async (host) => {
        const stats = host.state === 'running' ? await host.api.stats().catch(() => null) : null;
        return { index: host.index, threadId: stats?.threadId ?? host.worker.threadId, tid: stats?.tid ?? 0, actors: stats?.actors.length ?? 0, state: host.state, restarts: host.restarts };
      }),
    );
    const storage = await this.#storageStats();
    const actors = [...this.#actors.values()].map((entry) => ({
      id: entry.id,
      address: entry.address,
      worker: entry.host,
      state: this.#decisions.lifecycleOf(entry.id)?.state ?? 'stopped',
      restarts: entry.restarts,
    }));
    return { workers, actors, threads: [{ role: 'supervisor', tid: threadUsage()?.tid ?? 0 }, { role: 'storage', tid: storage.tid }], storage };
  }

  async crashActor(id: string, mode: 'throw' | 'exit' | 'terminate'): Promise<void> {
    const entry = this.#entry(id);
    const host = this.#hosts[entry.host]!;
    if (host.state !== 'running') throw new NotFoundError(`actor "${id}" is not running now (its host is ${host.state})`);
    switch (mode) {
      case 'throw':
        return host.api.crashActor(id);
      case 'exit':
        // The call never returns: the host thread is gone before it can answer.
        void host.api.exit(1);
        return;
      case 'terminate':
        // Killed from outside: whatever record it was handling is not to blame.
        host.terminatedFromOutside = true;
        await host.worker.terminate();
        return;
      default:
        throw new InvalidArgumentError(`crashActor mode must be 'throw', 'exit' or 'terminate', got ${JSON.stringify(mode)}`);
    }
  }

  /** The storage thread's figures; while it is being restarted, the last ones seen, marked failed. */
  async #storageStats(): Promise<StorageStats> {
    if (this.#storageAlive && this.#storageRestart === null) {
      this.#lastStorageStats = await this.#storage.stats();
      return this.#lastStorageStats;
    }
    const last = this.#lastStorageStats;
    const health = { state: 'failed' as const, failures: (last?.health.failures ?? 0) + 1, recoveries: last?.health.recoveries ?? 0, lastFailure: 'the storage thread died and is being restarted' };
    return last === null ? { tid: 0, durable: this.#storageDurable, writer: null, maintenance: emptyMaintenanceStats(), health } : { ...last, tid: 0, health };
  }

  async crashStorage(mode: 'exit' | 'terminate'): Promise<void> {
    if (mode === 'terminate') await this.#storageThread.terminate();
    else await this.#storage.crash();
  }

  async failStorage(rule: StorageFaultRule): Promise<void> {
    await this.#storage.injectFault(rule);
  }

  async healStorage(): Promise<void> {
    await this.#storage.clearFaults();
  }

  async stallWorker(index: number, ms: number): Promise<void> {
    const host = this.#hosts[index];
    if (host === undefined) throw new NotFoundError(`no worker ${index}; workers are 0 .. ${this.#hosts.length - 1}`);
    if (!(ms >= 0 && ms <= 60_000)) throw new InvalidArgumentError(`stall must be 0 .. 60000 ms, got ${ms}`);
    // The host blocks before it can answer; if it stalls past the timeout it is replaced and
    // the call never resolves: do not wait for it.
    void host.api.stall(ms).catch(() => undefined);
  }

  async close(): Promise<void> {
    if (this.#closing) return;
    this.#closing = true;
    if (this.#healthTimer !== null) clearInterval(this.#healthTimer);
    for (const entry of this.#actors.values()) entry.restartToken++;
    await Promise.all(
      this.#hosts.map(async (host) => {
        const wasRunning = host.state === 'running';
        host.state = 'closing';
        // A host that does not close in time (stuck in a handler) is terminated all the same.
        if (wasRunning) await Promise.race([host.api.close().catch(() => undefined), new Promise((resolve) => setTimeout(resolve, HOST_CLOSE_WAIT_MS))]);
        host.events.close();
        await host.worker.terminate();
      }),
    );
    const spare = this.#spare;
    this.#spare = null;
    if (spare !== null) await spare.worker.terminate();
    // After the hosts: no declaration is placed any more. Before storage: its lock still covers the file.
    await this.#placement.close().catch(() => undefined);
    // A restart in progress gives up (and closes what it started) now that #closing is set.
    await this.#storageRestart;
    if (this.#storageAlive) await this.#storage.close().catch(() => undefined);
    await this.#storageThread.terminate();
  }

  #assertOpen(): void {
    if (this.#closing) throw new ClosedError('the runtime is closing');
  }

  #entry(id: string): ActorEntry {
    const entry = this.#actors.get(id);
    if (entry === undefined) throw new NotFoundError(`no actor "${id}"; declare it first`);
    return entry;
  }

  #startSpec(entry: ActorEntry): ActorStartSpec {
    return {
      id: entry.id,
      address: entry.address,
      module: entry.declaration.module,
      options: entry.declaration.options,
      ...(entry.declaration.log === undefined ? {} : { log: entry.declaration.log }),
      restarts: entry.restarts,
    };
  }

  #emit(event: RuntimeEvent): void {
    for (const listener of this.#listeners) {
      try {
        listener(event);
      } catch {
        // A listener on the other side of a port: its failure is its own.
      }
    }
  }

  async #spawnHost(index: number, generation: number, poisonEnd?: number): Promise<HostHandle> {
    const channel = new MessageChannel();
    const storageChannel = new MessageChannel();
    const rings = this.#storageRings[index]!;
    await this.#storage.attachHost(index, transfer({ ...rings, port: storageChannel.port1, generation }, [storageChannel.port1]));
    const data: HostWorkerData = {
      host: {
        index,
        inbox: this.#inboxes[index]!,
        outbox: this.#runtimeInbox,
        health: this.#health,
        arena: this.#arena.sab,
        expected: [...this.#actors.values()].filter((e) => e.host === index).map((e) => ({ id: e.id, address: e.address })),
        ...(poisonEnd === undefined ? {} : { poisonEnd }),
      },
      generation,
      events: channel.port2,
      storage: { kind: 'remote', connection: { ...rings, port: storageChannel.port2, generation }, durable: this.#storageDurable },
    };
    // A warm spare takes the place at once; without one (at start-up), a thread is started.
    const spare = generation > 0 ? await this.#takeSpare() : null;
    const worker = spare?.worker ?? this.#startHostThread(data, [channel.port2, storageChannel.port2]);
    if (spare !== null) await spare.api.adopt(transfer(data, [channel.port2, storageChannel.port2]));
    if (generation > 0) this.#prepareSpare();
    const previous = this.#hosts[index];
    const host: HostHandle = {
      index,
      generation,
      state: 'starting',
      worker,
      api: spare?.api ?? wrap<HostApi>(portEndpoint(worker)),
      events: channel.port1,
      outboxSlot: -1,
      restarts: previous?.restarts ?? 0,
      lastBeat: -1,
      lastBeatChangeMs: performance.now(),
      failure: null,
      terminatedFromOutside: false,
    };
    this.#hosts[index] = host;
    const events: HostEventsApi = {
      actorFailed: (hostIndex, hostGeneration, id, error) => this.#onActorFailed(hostIndex, hostGeneration, id, error),
      undeliverable: (hostIndex, destination, count) => this.#emit({ type: 'undeliverable', destination, count, host: hostIndex }),
    };
    expose(events, portEndpoint(channel.port1));
    worker.on('error', (error: Error & { code?: string }) => {
      host.failure = error.code === 'ERR_WORKER_OUT_OF_MEMORY' ? { kind: 'host-oom' } : { kind: 'host-error', error: serializeError(error) };
    });
    worker.on('exit', (code) => {
      if (host.state === 'closing' || host.state === 'dead' || this.#closing) return;
      this.#handleHostDeath(host, host.failure ?? { kind: 'host-exit', code });
    });
    host.outboxSlot = await host.api.outboxSlot();
    if (host.state === 'starting') host.state = 'running';
    return host;
  }

  #startHostThread(data: HostWorkerData | { spare: true }, transferList: MessagePort[]): Worker {
    return new Worker(workerFileUrl('actor-host'), {
      workerData: data,
      transferList,
      resourceLimits: { maxOldGenerationSizeMb: this.#hostHeapMb },
    });
  }

  /**
   * Keeps one spare host thread warm (loaded, idle, no CPU) for the next host death: replacing
   * a host then costs an adopt call, not a thread start (~100 ms on a loaded 2-core machine).
   */
  #prepareSpare(): void {
    if (this.#closing || this.#spare !== null) return;
    const worker = this.#startHostThread({ spare: true }, []);
    // One comlink proxy for the spare's whole life: it becomes the host's control proxy on adoption.
    const api = wrap<HostApi>(portEndpoint(worker));
    const modules = new Set([...this.#actors.values()].map((entry) => entry.declaration.module));
    const ready = new Promise<boolean>((resolve) => {
      // Ready once it answered: its entry module ran and it imported the behavior modules of
      // the actors declared so far (later ones are sent as they are declared).
      const answered = () => resolve(true);
      api.preload([...modules]).then(answered, answered);
      worker.once('exit', () => resolve(false));
    });
    const spare: SpareHost = { worker, api, ready, modules };
    this.#spare = spare;
    worker.once('exit', () => {
      if (this.#spare === spare) this.#spare = null;
    });
  }

  /** The warm spare, once it is ready; it is no longer the spare after this. Null if there is none (or it died). */
  async #takeSpare(): Promise<SpareHost | null> {
    const spare = this.#spare;
    if (spare === null) return null;
    this.#spare = null;
    return (await spare.ready) ? spare : null;
  }

  #checkHealth(): void {
    const now = performance.now();
    for (const host of this.#hosts) {
      if (host.state !== 'running') continue;
      const base = host.index * HEALTH_INTS_PER_HOST;
      const beat = Atomics.load(this.#healthInts, base + HEALTH_BEAT);
      if (beat !== host.lastBeat || Atomics.load(this.#healthInts, base + HEALTH_BUSY) === 0) {
        host.lastBeat = beat;
        host.lastBeatChangeMs = now;
        continue;
      }
      const ageMs = now - host.lastBeatChangeMs;
      if (ageMs > this.#stallTimeoutMs) {
        host.failure = { kind: 'host-stalled', heartbeatAgeMs: Math.round(ageMs) };
        this.#handleHostDeath(host, host.failure);
      }
    }
  }

  /** Replaces a dead host; a failure to do so is reported, never thrown out of the supervisor. */
  #handleHostDeath(host: HostHandle, reason: HostExitReason | ExitReason): void {
    this.#onHostDeath(host, reason).catch((error: unknown) => {
      this.#emit({ type: 'supervisor-error', reason: `replacing host ${host.index} failed: ${error instanceof Error ? error.message : String(error)}` });
    });
  }

  async #onHostDeath(host: HostHandle, reason: HostExitReason | ExitReason): Promise<void> {
    if (host.state === 'dead' || this.#closing) return;
    host.state = 'dead';
    host.events.close();
    // A stalled host may still be running: make sure it is gone before its rings are repaired.
    await host.worker.terminate();
    // The dead host wrote to the runtime's ring: free its slot, pad what it left half-written.
    // (A host that died before it told its slot never wrote a reply: nothing of it to repair.)
    if (host.outboxSlot >= 0) {
      let repair = repairRing(this.#runtimeInbox, [host.outboxSlot]);
      while (repair.unresolved.length > 0) {
        await new Promise((resolve) => setTimeout(resolve, 1));
        repair = repairRing(this.#runtimeInbox, [host.outboxSlot]);
      }
    }
    // It was the only writer of its request ring to the storage thread: free that slot too.
    repairRing(this.#storageRings[host.index]!.requests);
    // Did it die inside a receive (its own exit, an error, out of memory, a stall)? Then that record
    // goes, or it would kill the replacement too. Not when it was terminated from outside: that
    // record is innocent and is delivered again like every other unfinished one.
    const base = host.index * HEALTH_INTS_PER_HOST;
    const diedInReceive = this.#healthInts[base + HEALTH_IN_RECEIVE] === 1 && !host.terminatedFromOutside;
    const poisonEnd = diedInReceive ? this.#healthInts[base + HEALTH_RECORD_END] : undefined;
    this.#healthInts[base + HEALTH_IN_RECEIVE] = 0;
    const actorIds = [...this.#actors.values()].filter((e) => e.host === host.index).map((e) => e.id);
    const hostReason = reason as HostExitReason;
    this.#emit({ type: 'host-restart', host: host.index, reason: describeExit(hostReason) });
    const decisions = decideHostExit(this.#decisions, actorIds, hostReason, performance.now());
    // A fresh thread on the same inbox: the records its predecessor had not finished are there.
    const replacement = await this.#spawnHost(host.index, host.generation + 1, poisonEnd);
    replacement.restarts = host.restarts + 1;
    for (const report of decisions.reports) {
      for (const id of report.stoppedChildIds) this.#emit({ type: 'actor-stopped', actor: id, reason: report.message, report });
    }
    for (const id of decisions.stop) await this.#stopQuietly(id);
    const describe = describeExit(hostReason);
    this.#scheduleRestarts(decisions.restart, describe);
  }

  #onActorFailed(hostIndex: number, generation: number, id: string, error: SerializedError): void {
    const host = this.#hosts[hostIndex];
    if (host === undefined || host.generation !== generation || host.state !== 'running') return;
    this.#onActorExit(id, { kind: 'error', error });
  }

  #onActorExit(id: string, reason: ExitReason): void {
    if (this.#closing || !this.#actors.has(id)) return;
    const decision: SupervisorDecision = this.#decisions.onExit(id, reason, performance.now());
    void this.#apply(id, decision, reason);
  }

  async #apply(failedId: string, decision: SupervisorDecision, reason: ExitReason): Promise<void> {
    switch (decision.action) {
      case 'ignore':
        return;
      case 'stop':
        if (this.#storageDown) for (const id of decision.children) this.#stoppedWhileDown.add(id);
        for (const id of decision.children) await this.#stopQuietly(id);
        if (decision.report) {
          for (const id of decision.report.stoppedChildIds) this.#emit({ type: 'actor-stopped', actor: id, reason: decision.report.message, report: decision.report });
        } else {
          this.#emit({ type: 'actor-stopped', actor: failedId, reason: decision.reason });
        }
        return;
      case 'restart': {
        for (const id of decision.stop) await this.#stopQuietly(id);
        // one_for_all: siblings still running are suspended (their mail kept) and restart together.
        for (const id of decision.children) {
          if (id === failedId) continue;
          const entry = this.#actors.get(id);
          const host = entry && this.#hosts[entry.host];
          if (host?.state === 'running') await host.api.suspendActor(id).catch(() => undefined);
        }
        const describe = describeExit(reason);
        this.#scheduleRestarts(decision.children.map((childId) => ({ childId, delayMs: decision.delayMs, attempt: decision.attempt })), describe);
        return;
      }
      default:
        throw new Error(`unknown supervisor decision ${JSON.stringify(decision)}`);
    }
  }

  /** Restarts actors, each once its own delay has passed (a one_for_all group in start order, one after another). */
  #scheduleRestarts(restarts: readonly { childId: string; delayMs: number; attempt: number }[], reason: string): void {
    const scheduledMs = performance.now();
    const planned = restarts.flatMap(({ childId, delayMs, attempt }) => {
      const entry = this.#actors.get(childId);
      return entry === undefined ? [] : [{ entry, token: ++entry.restartToken, atMs: scheduledMs + delayMs, attempt }];
    });
    const restartWhenDue = async ({ entry, token, atMs, attempt }: (typeof planned)[number]) => {
      const waitMs = atMs - performance.now();
      if (waitMs > 0) await new Promise((resolve) => setTimeout(resolve, waitMs));
      if (entry.restartToken !== token || this.#closing) return;
      await this.#restart(entry, attempt, reason);
    };
    if (this.#decisions.policy.strategy === 'one_for_all') {
      // A group restarts in start order, one after another, as OTP starts it.
      void (async () => {
        for (const restart of planned) await restartWhenDue(restart);
      })();
    } else {
      // Independent actors (say, all of a dead host's) restart side by side.
      for (const restart of planned) void restartWhenDue(restart);
    }
  }

  async #restart(entry: ActorEntry, attempt: number, reason: string): Promise<void> {
    if (this.#storageDown && entry.declaration.log !== undefined) {
      // Its start would open and replay its log: it waits for the storage to come back.
      this.#parked.set(entry.id, { entry, attempt });
      return;
    }
    if (this.#closing || !this.#decisions.onStarting(entry.id, performance.now())) return;
    await this.#startIncarnation(entry, reason, attempt + 1);
  }

  /** Starts an actor's next incarnation on its host; a failed start goes to the policy. */
  async #startIncarnation(entry: ActorEntry, reason: string, attempt: number): Promise<void> {
    const host = this.#hosts[entry.host]!;
    if (host.state !== 'running') return; // its host died meanwhile: the host's death restarts it
    entry.restarts++;
    try {
      await host.api.startActor(this.#startSpec(entry));
    } catch (error) {
      this.#onActorExit(entry.id, { kind: 'error', error: serializeError(error) });
      return;
    }
    this.#decisions.onRunning(entry.id, performance.now());
    this.#emit({ type: 'restart', actor: entry.id, reason, attempt, host: entry.host });
  }

  /**
   * The storage thread ended unasked (a crash, `terminate()`, fault injection). What it had not
   * answered is refused on every host (BATON_STORAGE_FAILED: it may or may not be on disk), a new
   * storage thread recovers the WAL (adopting the lock the dead one held), every host reattaches
   * on fresh rings, and every actor with a log replays it: the same events and the same ending as
   * a disk error's recovery. In memory mode the storage's contents died with the thread.
   */
  #onStorageThreadExit(thread: Worker, code: number): void {
    if (thread !== this.#storageThread) return;
    this.#storageAlive = false;
    if (this.#closing) return;
    const reason = `the storage thread exited (exit code ${code})`;
    this.#storageRestart = this.#restartStorage(reason).finally(() => {
      this.#storageRestart = null;
    });
    this.#onStorageEvent({ type: 'failed', reason });
  }

  async #restartStorage(reason: string): Promise<void> {
    const sinceMs = performance.now();
    for (let attempt = 1; !this.#closing; attempt++) {
      let thread: Worker | null = null;
      try {
        thread = await startThread('storage', { ...this.#storageData, adoptOwnLock: true });
        const storage = wrap<StorageServiceApi>(portEndpoint(thread));
        if (this.#closing) throw new ClosedError('the runtime is closing');
        await storage.subscribe(proxy((event: StorageEvent) => this.#onStorageEvent(event)));
        const rings = this.#hosts.map(() => this.#allocateStorageRings());
        this.#storage = storage;
        this.#storageThread = thread;
        this.#storageRings = rings;
        this.#storageAlive = true;
        for (const host of this.#hosts) {
          if (host.state !== 'running') continue; // a host (re)spawned later attaches to the new storage itself
          const channel = new MessageChannel();
          const connection = { ...rings[host.index]!, generation: host.generation };
          await storage.attachHost(host.index, transfer({ ...connection, port: channel.port1 }, [channel.port1]));
          await host.api.reattachStorage(transfer({ ...connection, port: channel.port2 }, [channel.port2]));
        }
        // Watched from now on: a death during the reattaching above is this attempt's failure.
        const started = thread;
        thread.once('exit', (exitCode) => this.#onStorageThreadExit(started, exitCode));
        this.#onStorageEvent({ type: 'recovered', reason, attempts: attempt, downMs: performance.now() - sinceMs });
        return;
      } catch {
        if (thread !== null) {
          if (thread === this.#storageThread) this.#storageAlive = false;
          await thread.terminate();
        }
        if (this.#closing) return;
        await new Promise((resolve) => setTimeout(resolve, Math.min(5000, 100 * 2 ** (attempt - 1))));
      }
    }
  }

  #onStorageEvent(event: StorageEvent): void {
    if (this.#closing) return;
    if (event.type === 'failed') {
      this.#storageDown = true;
      this.#emit({ type: 'storage-failed', reason: event.reason });
      return;
    }
    this.#storageDown = false;
    this.#emit({ type: 'storage-recovered', reason: event.reason, attempts: event.attempts, downMs: event.downMs });
    void this.#afterStorageRecovered().catch((error: unknown) => {
      this.#emit({ type: 'supervisor-error', reason: `restarting actors after the storage recovered failed: ${error instanceof Error ? error.message : String(error)}` });
    });
  }

  /**
   * The reopened log is what is on disk, which may differ from what running actors hold (appends
   * refused while it was down, or written but never confirmed): every actor with a log starts a
   * new incarnation and replays it, its mail kept. Restarts that fell due meanwhile run now, and
   * actors stopped by their restart intensity meanwhile start again.
   */
  async #afterStorageRecovered(): Promise<void> {
    const parked = [...this.#parked.values()];
    this.#parked.clear();
    const stopped = [...this.#stoppedWhileDown];
    this.#stoppedWhileDown.clear();
    for (const { entry, attempt } of parked) await this.#restart(entry, attempt, 'the storage was reopened');
    for (const id of stopped) {
      const entry = this.#actors.get(id);
      if (entry === undefined || this.#decisions.lifecycleOf(id)?.state !== 'stopped') continue;
      this.#decisions.addChild(id, { restart: this.#decisions.specOf(id)?.restart ?? 'permanent' }, performance.now());
      if (!this.#closing) await this.#startIncarnation(entry, 'the storage was reopened after it stopped', 1);
    }
    for (const entry of [...this.#actors.values()]) {
      if (entry.declaration.log === undefined || this.#decisions.lifecycleOf(entry.id)?.state !== 'running') continue;
      const host = this.#hosts[entry.host]!;
      if (host.state !== 'running') continue;
      await host.api.suspendActor(entry.id).catch(() => undefined);
      if (!this.#closing) await this.#startIncarnation(entry, 'the storage was reopened: replaying its log', 1);
    }
  }

  async #stopQuietly(id: string): Promise<void> {
    const entry = this.#actors.get(id);
    if (entry === undefined) return;
    entry.restartToken++;
    const host = this.#hosts[entry.host];
    if (host?.state === 'running') await host.api.stopActor(id, false).catch(() => undefined);
  }
}
