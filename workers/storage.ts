/**
 * Entry point of the storage thread: opens the broker's storage (the WAL of the data directory,
 * or memory storage) and serves the actor hosts (StorageService), under the supervisor. The
 * service also runs maintenance every `compactionIntervalMs`, and reopens the WAL after a storage
 * failure (StorageService).
 */
import { expose } from 'comlink';
import { parentPort, workerData } from 'node:worker_threads';
import type { ActorStorage } from '../src/wal/actor-storage.js';
import { MemoryStorage } from '../src/storage/memory-storage.js';
import { COMPACTION_INTERVAL_MS_DEFAULT, StorageService, type StorageWorkerData } from '../src/storage/storage-service.js';
import { serializeError } from '../src/errors.js';
import { portEndpoint } from '../src/threads/comlink-port.js';
import type { StartMessage } from '../src/threads/start-thread.js';
import { FaultyFileLayer } from '../src/wal/faulty-file-layer.js';
import { NodeFileLayer } from '../src/wal/file-layer.js';
import { Wal } from '../src/wal/wal.js';

const data = workerData as StorageWorkerData;
try {
  const compactionIntervalMs = data.compactionIntervalMs ?? COMPACTION_INTERVAL_MS_DEFAULT;
  const segmentBytesMax = data.wal?.segmentBytesMax;
  const dataDir = data.dataDir;
  const faults = dataDir !== undefined && data.faultInjection === true ? new FaultyFileLayer(new NodeFileLayer()) : null;
  const openWal = (dir: string) =>
    Wal.open(dir, {
      ...(data.wal ?? {}),
      ...(faults === null ? {} : { files: faults }),
      ...(data.adoptOwnLock === true ? { adoptOwnLock: true } : {}),
      // The service's passes run retention; the WAL's own 5-minute timer only when they are off.
      ...(compactionIntervalMs > 0 ? { retentionCheckIntervalMs: 0 } : {}),
    });
  const storage: ActorStorage = dataDir === undefined ? await MemoryStorage.open(segmentBytesMax === undefined ? {} : { segmentBytesMax }) : await openWal(dataDir);
  // After a storage failure: open the WAL again (recovery) and let appends in once the disk takes writes.
  const reopen =
    dataDir === undefined
      ? undefined
      : async () => {
          const wal = await openWal(dataDir);
          try {
            await wal.checkWritable();
          } catch (error) {
            await wal.close().catch(() => undefined);
            throw error;
          }
          return wal;
        };
  const service = new StorageService(storage, {
    compactionIntervalMs,
    ...(data.arena === undefined ? {} : { arena: data.arena }),
    ...(reopen === undefined ? {} : { reopen }),
    ...(faults === null ? {} : { faults }),
  });
  expose(service, portEndpoint(parentPort!));
  parentPort!.postMessage({ kind: 'ready' } satisfies StartMessage);
} catch (error) {
  parentPort!.postMessage({ kind: 'failed', error: serializeError(error) } satisfies StartMessage);
}
