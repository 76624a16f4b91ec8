/**
 * Entry point of the storage thread: opens the broker's storage (the WAL of the data directory,
 * or memory storage) and serves the actor hosts (StorageService), under the supervisor.
 */
import { expose } from 'comlink';
import { parentPort, workerData } from 'node:worker_threads';
import type { ActorStorage } from '../src/actor/actor-storage.js';
import { MemoryStorage } from '../src/actor/memory-storage.js';
import { StorageService } from '../src/actor/storage-service.js';
import { serializeError } from '../src/errors.js';
import { portEndpoint } from '../src/threads/comlink-port.js';
import { Wal, type WalOptions } from '../src/wal/wal.js';

export interface StorageWorkerData {
  dataDir?: string;
  wal?: Pick<WalOptions, 'fsync' | 'fsyncIntervalMs'>;
}

const data = workerData as StorageWorkerData;
try {
  const storage: ActorStorage = data.dataDir === undefined ? await MemoryStorage.open() : await Wal.open(data.dataDir, data.wal ?? {});
  expose(new StorageService(storage), portEndpoint(parentPort!));
  parentPort!.postMessage({ kind: 'storage-ready' });
} catch (error) {
  parentPort!.postMessage({ kind: 'storage-failed', error: serializeError(error) });
}
