/**
 * Entry point of an actor host thread. A host is started with its workerData (HostWorkerData),
 * or started as a warm **spare** (`{ spare: true }`): module graph loaded, event loop idle (no
 * CPU), waiting for `adopt(data)` — the supervisor hands a spare the place of a dead host, so a
 * host death costs an `adopt` call instead of a thread start. Either way the host then exposes
 * its control API to the supervisor through comlink and runs its scheduling loop.
 */
import { expose, wrap } from 'comlink';
import { parentPort, threadId, workerData } from 'node:worker_threads';
import { ActorHost, loadActorFactory } from '../src/actor/actor-host.js';
import type { ActorStorage } from '../src/wal/actor-storage.js';
import type { HostApi, HostEventsApi, HostWorkerData } from '../src/actor/host-protocol.js';
import { openHostStorage } from '../src/actor/host-storage.js';
import { ClosedError, InvalidArgumentError } from '../src/errors.js';
import { RemoteActorStorage } from '../src/storage/remote-storage.js';
import { portEndpoint } from '../src/threads/comlink-port.js';

let host: ActorHost | null = null;
let storage: ActorStorage | null = null;

async function adopt(data: HostWorkerData): Promise<void> {
  if (host !== null) throw new ClosedError('this host thread already runs a host');
  const events = wrap<HostEventsApi>(portEndpoint(data.events));
  const index = data.host.index;
  storage = await openHostStorage(data.storage);
  host = new ActorHost(data.host, storage, {
    actorFailed: (id, error) => void events.actorFailed(index, data.generation, id, error),
    undeliverable: (destination, count) => void events.undeliverable(index, destination, count),
  });
  host.run();
}

function running(): ActorHost {
  if (host === null) throw new ClosedError('this spare host thread was not adopted yet');
  return host;
}

const api: HostApi = {
  adopt,
  preload: async (modules) => {
    // A module that fails to load fails its actor's start later, with the error where it belongs.
    await Promise.all(modules.map((module) => loadActorFactory(module).catch(() => undefined)));
  },
  startActor: (spec) => running().startActor(spec),
  suspendActor: (id) => running().suspendActor(id),
  stopActor: (id, graceful) => running().stopActor(id, graceful),
  crashActor: (id) => running().crashActor(id),
  exit: (code) => process.exit(code),
  stall: (ms) => running().stall(ms),
  stats: () => running().stats(threadId),
  outboxSlot: () => running().outboxSlot,
  reattachStorage: async (connection) => {
    if (!(storage instanceof RemoteActorStorage)) throw new InvalidArgumentError('this host keeps its logs in its own thread: there is no storage thread to reattach to');
    await storage.reattach(connection);
  },
  close: async () => {
    await host?.close();
    await storage?.close();
  },
};

const data = workerData as HostWorkerData | { spare: true };
if (!('spare' in data)) await adopt(data);
expose(api, portEndpoint(parentPort!));
