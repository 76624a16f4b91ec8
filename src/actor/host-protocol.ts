/**
 * The control plane between the supervisor and its actor hosts: the calls each side exposes
 * through comlink over worker ports. Rare, structured, asynchronous — never on the per-record
 * path, which goes through the rings.
 */
import type { MessagePort } from 'node:worker_threads';
import type { SerializedError } from '../errors.js';
import type { ActorStartSpec, HostStats } from './actor-host.js';
import type { ActorHostInit } from './actor-host.js';
import type { StorageConnection } from '../storage/storage-protocol.js';

/** What a host thread exposes to the supervisor (over the worker's own port). */
export interface HostApi {
  /** A spare host thread takes a host's place (its index, rings and storage connection). */
  adopt(data: HostWorkerData): Promise<void>;
  /** Imports behavior modules ahead of need (a spare, before it adopts a host's actors). */
  preload(modules: string[]): Promise<void>;
  /** Resolves once the actor replayed its log and runs; rejects if its start failed. */
  startActor(spec: ActorStartSpec): Promise<void>;
  /** Fails an actor without reporting it (the supervisor restarts it, e.g. one_for_all): its mail stays. */
  suspendActor(id: string): void;
  stopActor(id: string, graceful: boolean): Promise<void>;
  crashActor(id: string): void;
  /** Fault injection: `process.exit(code)` on the host thread. Never resolves. */
  exit(code: number): void;
  stall(ms: number): void;
  stats(): HostStats;
  /** The storage thread was restarted: its answers come on these fresh rings and port from now on. */
  reattachStorage(connection: StorageConnection): Promise<void>;
  /** The host's writer slot on the runtime's ring, for repair after its death. */
  outboxSlot(): number;
  close(): Promise<void>;
}

/** What the supervisor exposes to each host (over a MessagePort of its own). */
export interface HostEventsApi {
  actorFailed(host: number, generation: number, id: string, error: SerializedError): void;
  undeliverable(host: number, destination: number, count: number): void;
}

export type HostStorageInit = { kind: 'memory' } | { kind: 'remote'; connection: StorageConnection; durable: boolean };

export interface HostWorkerData {
  host: ActorHostInit;
  /** Generation of this host slot: bumped on every replacement, so late events of a dead host are ignored. */
  generation: number;
  events: MessagePort;
  storage: HostStorageInit;
}
