/**
 * Entry point of an actor host thread: builds the host from its workerData, exposes its control
 * API to the supervisor through comlink, and runs the scheduling loop.
 */
import { expose, wrap } from 'comlink';
import { parentPort, threadId, workerData } from 'node:worker_threads';
import { ActorHost } from '../src/actor/actor-host.js';
import type { HostApi, HostEventsApi, HostWorkerData } from '../src/actor/host-protocol.js';
import { openHostStorage } from '../src/actor/host-storage.js';
import { portEndpoint } from '../src/threads/comlink-port.js';

const data = workerData as HostWorkerData;
const events = wrap<HostEventsApi>(portEndpoint(data.events));
const index = data.host.index;
const storage = await openHostStorage(data.storage);
const host = new ActorHost(data.host, storage, {
  actorFailed: (id, error) => void events.actorFailed(index, data.generation, id, error),
  undeliverable: (destination, count) => void events.undeliverable(index, destination, count),
});
host.run();

const api: HostApi = {
  startActor: (spec) => host.startActor(spec),
  suspendActor: (id) => host.suspendActor(id),
  stopActor: (id, graceful) => host.stopActor(id, graceful),
  crashActor: (id) => host.crashActor(id),
  exit: (code) => process.exit(code),
  stall: (ms) => host.stall(ms),
  stats: () => host.stats(threadId),
  outboxSlot: () => host.outboxSlot,
  close: async () => {
    await host.close();
    await storage.close();
  },
};
expose(api, portEndpoint(parentPort!));
