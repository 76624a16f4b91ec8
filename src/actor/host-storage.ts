import type { ActorStorage } from '../wal/actor-storage.js';
import type { HostStorageInit } from './host-protocol.js';
import { MemoryStorage } from '../storage/memory-storage.js';
import { RemoteActorStorage } from '../storage/remote-storage.js';

/**
 * The storage an actor host gives its actors.
 * - `remote` (what the runtime uses): the logs live in the storage thread and outlive the host.
 * - `memory`: a MemoryStorage inside the host thread, for tests of a host alone: its actors'
 *   state survives their own restarts, not the host's death.
 */
export async function openHostStorage(init: HostStorageInit): Promise<ActorStorage> {
  switch (init.kind) {
    case 'memory':
      return MemoryStorage.open();
    case 'remote':
      return new RemoteActorStorage(init.connection, init.durable);
    default:
      throw new Error(`unknown host storage kind ${String((init as { kind: unknown }).kind)}`);
  }
}
