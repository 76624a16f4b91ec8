/**
 * `MemoryStorage`: the storage of a broker started without `dataDir`.
 *
 * It is the WAL itself (src/wal/wal.ts) running on `MemoryFileLayer`, a file system in this
 * process's memory, with `fsync: 'never'` and no directory lock. So memory-only mode is the
 * same code path as durable mode: the same encoding and CRCs, offsets, acknowledgements,
 * replay, retention and compaction, and the same errors.
 *
 * What it promises: an actor that restarts inside this process (a supervisor restart) replays
 * its log as a durable one would. What it does not: anything across a process exit or crash.
 * `durable` is false so that a broker can say so to its user.
 */
import { randomUUID } from 'node:crypto';
import { MemoryFileLayer } from '../wal/memory-file-layer.js';
import { Wal, type WalMaintenanceResult, type WalOptions } from '../wal/wal.js';
import type { WalLog } from '../wal/wal-log.js';
import type { ActorLogOptions, ActorStorage } from '../wal/actor-storage.js';

export type MemoryStorageOptions = Pick<WalOptions, 'segmentBytesMax' | 'batchBytesMax' | 'stagingBytesMax' | 'retentionCheckIntervalMs' | 'nowMs'>;

export class MemoryStorage implements ActorStorage {
  /** Nothing survives a process restart. */
  readonly durable = false;
  readonly #wal: Wal;

  private constructor(wal: Wal) {
    this.#wal = wal;
  }

  static async open(options: MemoryStorageOptions = {}): Promise<MemoryStorage> {
    const wal = await Wal.open(`/baton-memory/${randomUUID()}`, {
      // Memory pages are as durable as they get: a sync would only cost time.
      retentionCheckIntervalMs: 0,
      ...options,
      fsync: 'never',
      files: new MemoryFileLayer(),
      lock: false,
    });
    return new MemoryStorage(wal);
  }

  openLog(name: string, options?: ActorLogOptions): Promise<WalLog> {
    return this.#wal.openLog(name, options);
  }

  /** Retention, then compaction, on the in-memory WAL (ActorStorage.maintain). */
  maintain(): Promise<WalMaintenanceResult> {
    return this.#wal.maintain();
  }

  /** The WAL underneath, for retention, compaction and stats. */
  get wal(): Wal {
    return this.#wal;
  }

  close(): Promise<void> {
    return this.#wal.close();
  }
}
