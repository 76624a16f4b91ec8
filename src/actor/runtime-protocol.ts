/**
 * What crosses between the runtime's thread and the supervisor thread: the supervisor's API
 * (comlink), the events it sends back, the declarations, addresses, rings and stats. Both sides
 * import it; the runtime's thread loads none of the supervisor's code.
 */
import { proxy } from 'comlink';
import type { StorageFaultRule, StorageStats } from '../storage/storage-protocol.js';
import type { ActorLogOptions } from '../wal/actor-storage.js';
import type { ResolvedRuntimeOptions } from './runtime-options.js';
import type { IntensityReport, RestartType } from './supervision.js';

/** A host's state as the supervisor tracks it. */
export type HostState = 'starting' | 'running' | 'dead' | 'closing';

/** What the supervisor thread is started with: the runtime's options, resolved (runtime-options.ts). */
export type SupervisorInit = ResolvedRuntimeOptions;

export interface ActorDeclaration {
  /** URL (file:) of the behavior module, exporting `createActor(options)`. */
  module: string;
  options?: unknown;
  restart?: RestartType;
  log?: ActorLogOptions;
}

export interface ActorAddress {
  id: string;
  address: number;
  host: number;
}

export type RuntimeEvent =
  | { type: 'restart'; actor: string; reason: string; attempt: number; host: number }
  | { type: 'actor-stopped'; actor: string; reason: string; report?: IntensityReport }
  | { type: 'host-restart'; host: number; reason: string }
  | { type: 'undeliverable'; destination: number; count: number; host: number }
  | { type: 'supervisor-error'; reason: string }
  /** The storage failed (EIO, ENOSPC, ...): requests that need the log are refused until it is reopened. */
  | { type: 'storage-failed'; reason: string }
  /** The storage was reopened; every actor with a log restarts and replays what is on disk. */
  | { type: 'storage-recovered'; reason: string; attempts: number; downMs: number };

export interface RuntimeStats {
  /** Actor hosts; `tid` is the kernel's thread id (Linux; 0 elsewhere or while a host is down). */
  workers: { index: number; threadId: number; tid: number; actors: number; state: HostState; restarts: number }[];
  actors: { id: string; address: number; worker: number; state: string; restarts: number }[];
  /** The runtime's own threads by role, with their kernel thread ids (CPU per thread, from /proc). */
  threads: { role: 'supervisor' | 'storage'; tid: number }[];
  /** The storage thread: with a data directory, the WAL writer's counters (fdatasyncs, batches, bytes). */
  storage: StorageStats;
}

export interface RuntimeRings {
  /** One inbox per host, indexed by host: the runtime's thread writes to these. */
  hostInboxes: SharedArrayBuffer[];
  /** The runtime thread's inbox: hosts write replies here. */
  runtimeInbox: SharedArrayBuffer;
  /** The arena (message memory), shared by every thread. */
  arena: SharedArrayBuffer;
}

/** The API the runtime's thread calls (comlink over the supervisor worker's port). */
export interface SupervisorApi {
  rings(): RuntimeRings;
  subscribe(listener: (event: RuntimeEvent) => void): void;
  declare(id: string, declaration: ActorDeclaration): Promise<ActorAddress>;
  stop(id: string): Promise<void>;
  stats(): Promise<RuntimeStats>;
  crashActor(id: string, mode: 'throw' | 'exit' | 'terminate'): Promise<void>;
  stallWorker(index: number, ms: number): Promise<void>;
  /** Fault injection: the storage thread exits (as if it crashed) or is terminated; it is restarted. */
  crashStorage(mode: 'exit' | 'terminate'): Promise<void>;
  /** Makes the storage's matching file calls fail (started with storage fault injection). */
  failStorage(rule: StorageFaultRule): Promise<void>;
  /** Removes the injected storage faults. */
  healStorage(): Promise<void>;
  close(): Promise<void>;
}

/** Wraps a listener so that comlink calls it across the port (events to the runtime's thread). */
export function listenerProxy(listener: (event: RuntimeEvent) => void): (event: RuntimeEvent) => void {
  return proxy(listener);
}
