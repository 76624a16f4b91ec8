/**
 * Entry point of the storage thread: opens the broker's storage (the WAL of the data directory,
 * or memory storage) and serves the actor hosts (StorageService), under the supervisor. The
 * service also runs retention and compaction every `compactionIntervalMs`.
 */
import { expose } from 'comlink';
import { parentPort, workerData } from 'node:worker_threads';
import type { ActorStorage } from '../src/wal/actor-storage.js';
import { MemoryStorage } from '../src/actor/memory-storage.js';
import { COMPACTION_INTERVAL_MS_DEFAULT, StorageService, type StorageWorkerData } from '../src/actor/storage-service.js';
import { serializeError } from '../src/errors.js';
import { portEndpoint } from '../src/threads/comlink-port.js';
import type { StartMessage } from '../src/threads/start-thread.js';
import { Wal } from '../src/wal/wal.js';

const data = workerData as StorageWorkerData;
try {
  const compactionIntervalMs = data.compactionIntervalMs ?? COMPACTION_INTERVAL_MS_DEFAULT;
  const segmentBytesMax = data.wal?.segmentBytesMax;
  const storage: ActorStorage =
    data.dataDir === undefined
      ? await MemoryStorage.open(segmentBytesMax === undefined ? {} : { segmentBytesMax })
      : await Wal.open(data.dataDir, {
          ...(data.wal ?? {}),
          // The service's passes run retention; the WAL's own 5-minute timer only when they are off.
          ...(compactionIntervalMs > 0 ? { retentionCheckIntervalMs: 0 } : {}),
        });
  expose(new StorageService(storage, { compactionIntervalMs, ...(data.arena === undefined ? {} : { arena: data.arena }) }), portEndpoint(parentPort!));
  parentPort!.postMessage({ kind: 'ready' } satisfies StartMessage);
} catch (error) {
  parentPort!.postMessage({ kind: 'failed', error: serializeError(error) } satisfies StartMessage);
}
