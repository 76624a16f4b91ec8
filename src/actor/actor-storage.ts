/**
 * `ActorStorage`: what a stateful actor (a queue, a topic partition, a group coordinator) needs
 * from storage, and all it may assume about it.
 *
 * An actor owns one log, named after its id (`queue:orders`, `topic:events/0`). It appends its
 * inputs as records, acknowledges what it has finished with, and, when it restarts, replays the
 * log to rebuild its state, starting from its newest snapshot if it keeps one.
 *
 * Two implementations share one code path:
 * - `Wal` (src/wal/wal.ts): the write-ahead log in a data directory. Durable: an append resolves
 *   once its records are on disk as the fsync policy defines (default: after an fdatasync that
 *   covers them, shared by every log that appended meanwhile).
 * - `MemoryStorage` (memory-storage.ts): the same log over an in-memory file layer. Nothing
 *   survives the process: `durable` is false, and a broker without `dataDir` says so.
 *
 * Contract:
 * - Offsets are per log, start at 0, and rise by one per record (acknowledgements take an
 *   offset too, so a queue's message offsets have gaps where its ack records are).
 * - `append` is all-or-nothing: its records get consecutive offsets and are confirmed together,
 *   or the promise rejects and none of them is confirmed (`BATON_STORAGE_FAILED`: the storage
 *   is then unusable until it is closed and opened again, which recovers what is on disk).
 *   Appends of one log are confirmed in the order they were called.
 * - A rejected append may still be found on disk after a restart (it reached the disk but its
 *   confirm did not): at-least-once. Every confirmed append is found, once, in order.
 * - A queue log's `replay` yields exactly the records not acknowledged; other logs' replay yields
 *   every record still retained.
 */
import type { LogKind } from '../wal/log-state.js';

export type { LogKind } from '../wal/log-state.js';

/** A record as an actor appends it. */
export interface RecordInput {
  key?: Uint8Array | null;
  /** null is a tombstone: compaction removes the key (topics with `compact`). */
  value: Uint8Array | null;
  headers?: ReadonlyArray<readonly [string, Uint8Array]>;
  /** Milliseconds since the epoch; default: the time of the append. */
  timestampMs?: number;
  /** One byte for the runtime (priority, flags), stored as given. Default 0. */
  attributes?: number;
}

/** A record as replay yields it. Its byte arrays are views: copy what you keep past the next read. */
export interface LogRecord {
  offset: number;
  timestampMs: number;
  key: Uint8Array | null;
  value: Uint8Array | null;
  headers: Array<[string, Uint8Array]>;
  attributes: number;
}

export interface ActorLogOptions {
  /** `queue`: acknowledgements hide records from replay and free segments. Default `state`. */
  kind?: LogKind;
  /** Topics: segments whose records of this log are all older are deleted. */
  retentionMs?: number;
  /** Topics: oldest segments are deleted while this log keeps more than this many bytes without them. */
  retentionBytes?: number;
  /** Topics: keep only the newest record per key (every record needs a key). */
  compact?: boolean;
  /** With `compact`: how long a tombstone outlives the values it deleted. Default 24 h. */
  tombstoneRetentionMs?: number;
}

export interface AppendResult {
  baseOffset: number;
  lastOffset: number;
}

export interface ActorSnapshot {
  /** The log offset the state covers up to, exclusive: replay from here. */
  offset: number;
  state: Uint8Array;
}

export interface ActorLog {
  readonly name: string;
  readonly kind: LogKind;
  /** Offset of the oldest retained record (earlier ones were deleted by retention). */
  readonly startOffset: number;
  /** Offset the next appended record gets. */
  readonly nextOffset: number;
  /** Appends records as one batch; resolves with their offsets once confirmed. */
  append(records: readonly RecordInput[]): Promise<AppendResult>;
  /** `append` of values only (no key, headers, timestamp or attributes): no record object per value. */
  appendValues(values: readonly Uint8Array[]): Promise<AppendResult>;
  /** Appends a batch already encoded for this log by `encodeRecordInputs` (logs of the WAL; others take `append`). */
  appendEncoded?(batch: Uint8Array): Promise<AppendResult>;
  /** Queue logs: records that these offsets are done with. Resolves once that is durable. */
  acknowledge(offsets: readonly number[]): Promise<void>;
  /** Confirmed records from `fromOffset` (default: the start), in offset order; queues: unacknowledged only. */
  replay(options?: { fromOffset?: number }): AsyncIterableIterator<LogRecord>;
  /** The offset of the first record at or after a time, or null if none is that recent. */
  offsetForTimestamp(timestampMs: number): Promise<number | null>;
  /** Saves the actor's state as of `offset`; segments before it can then be released (`state` logs). */
  writeSnapshot(snapshot: ActorSnapshot): Promise<void>;
  readSnapshot(): Promise<ActorSnapshot | null>;
  /**
   * How many times retention or compaction removed records of this log; absent: never. A reader
   * that keeps records in memory (a topic partition's tail cache) drops them when it changes, so
   * that it never serves a record the log no longer has.
   */
  readonly removals?: number;
}

/** What one maintenance pass (`ActorStorage.maintain`) did. */
export interface MaintenanceResult {
  retention: { segmentsDeleted: number; bytesDeleted: number };
  compaction: { segmentsRewritten: number; recordsRemoved: number };
}

export interface ActorStorage {
  /** true: survives a process restart (a data directory); false: memory only, nothing survives. */
  readonly durable: boolean;
  /** Opens (or creates) a log. Opening a log twice returns the same log. */
  openLog(name: string, options?: ActorLogOptions): Promise<ActorLog>;
  /**
   * One pass of retention (delete released segments) and then compaction (keep the newest record
   * per key of `compact` logs, in sealed segments). The storage thread calls it on a timer
   * (`compactionIntervalMs`); storage that keeps nothing to trim (a remote view) omits it.
   */
  maintain?(): Promise<MaintenanceResult>;
  /** Confirms everything pending, then releases files and the data directory lock. */
  close(): Promise<void>;
}
