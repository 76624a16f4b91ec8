/**
 * `ActorStorage`: what a stateful actor (a queue, a topic partition, a group coordinator) needs
 * from storage, and all it may assume about it. It lives with the WAL, its durable
 * implementation, so that the storage layer needs nothing from the actors above it.
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
 * - Offsets are per log, start at 0, and rise by one per record, or per message of an opaque
 *   batch (acknowledgements and delivery records take an offset too, so a queue's message
 *   offsets have gaps where its control records are).
 * - `append` is all-or-nothing: its records get consecutive offsets and are confirmed together,
 *   or the promise rejects and none of them is confirmed (`BATON_STORAGE_FAILED`: the storage
 *   is then unusable until it is closed and opened again, which recovers what is on disk).
 *   Appends of one log are confirmed in the order they were called.
 * - A rejected append may still be found on disk after a restart (it reached the disk but its
 *   confirm did not): at-least-once. Every confirmed append is found, once, in order.
 * - A queue log's `replay` yields exactly the records not acknowledged; other logs' replay yields
 *   every record still retained.
 *
 * Opaque batches (optional methods; the WAL's logs and the storage thread's remote logs have them):
 * - `appendOpaque` stores a blob holding `count` messages (a queue batch of the arena) byte for
 *   byte as one batch; it takes `count` offsets, one per message, as a batch of `count` records
 *   would, and is confirmed, acknowledged and retained like one.
 * - `replay` skips opaque batches, and `replayBatchHeads`/`readInto` skip record batches: a log
 *   may hold both (a queue log written before and after the arena), each read by its own API.
 * - `acknowledgeRanges` is `acknowledge` by ranges; `recordDeliveries` records how often
 *   unacknowledged messages were delivered (`deliveryCounts` reads them back, after a restart
 *   too). Both are queue-log control batches that take one offset each, as an ack does.
 */
/** What a log holds: a queue's messages, a topic partition's records, or an actor's state. */
export type LogKind = 'queue' | 'topic' | 'state';

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

/** An opaque batch as `replayBatchHeads` yields it: where it is, and the first bytes of its body. */
export interface BatchHead {
  /** Offset of its first message; message i has offset baseOffset + i. */
  baseOffset: number;
  /** Messages in it (the offsets it spans). */
  count: number;
  /** Size of its body (the blob given to `appendOpaque`). */
  bodyBytes: number;
  timestampMs: number;
  /** A copy of the first min(headBytes, bodyBytes) bytes of the body. */
  head: Uint8Array;
  /** Queue logs: the acknowledged parts of [baseOffset, baseOffset + count), flat [start, end, ...]; empty when none. */
  acked: number[];
}

/** One body `readInto` copied: its batch's offsets and where its bytes are now. */
export interface CopiedBatch {
  baseOffset: number;
  count: number;
  /** Where the body starts (an arena address, 8-aligned). */
  at: number;
  /** Body bytes, at [at, at + length). */
  length: number;
}

export interface ReadIntoResult {
  batches: CopiedBatch[];
  /** The offset after the last batch copied (read on from there), or -1: no further batch to read. */
  next: number;
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
  /**
   * Appends `body`, which holds `count` messages, as one opaque batch (byte for byte, never
   * decoded); resolves with the offsets of its first and last message once confirmed. `body` is
   * copied when the batch is staged, which may be after this returns: keep it unchanged until the
   * promise settles. Compacted logs refuse it (their records need keys).
   */
  appendOpaque?(body: Uint8Array, count: number, timestampMs: number): Promise<AppendResult>;
  /**
   * `appendOpaque` of the arena's bytes [address, address + length): the request carries the
   * address, and the storage thread copies the bytes (RemoteActorLog). Keep them unchanged until
   * the promise settles.
   */
  appendArena?(address: number, length: number, count: number, timestampMs: number): Promise<AppendResult>;
  /** Queue logs: records that these offsets are done with. Resolves once that is durable. */
  acknowledge(offsets: readonly number[]): Promise<void>;
  /** Queue logs: `acknowledge` of half-open ranges, flat [start0, end0, start1, end1, ...]. */
  acknowledgeRanges?(ranges: readonly number[]): Promise<void>;
  /**
   * Queue logs: records delivery counts, flat [offset, deliveryCount, ...] (the latest count of an
   * offset wins; 0 forgets it). Resolves once durable; survives restarts until the offset is acknowledged.
   */
  recordDeliveries?(pairs: readonly number[]): Promise<void>;
  /** Queue logs: flat [offset, count, ...], by offset, of unacknowledged offsets with a recorded (confirmed) count. */
  deliveryCounts?(): Promise<number[]>;
  /**
   * The opaque batches of the log in offset order, from the one containing `fromOffset`: offsets,
   * sizes and the first `headBytes` bytes of each body, never the bodies. Queue logs: only batches
   * with an unacknowledged offset, with their acknowledged parts in `acked`.
   */
  replayBatchHeads?(options: { fromOffset?: number; headBytes: number }): AsyncIterableIterator<BatchHead>;
  /**
   * Storage side: copies whole opaque batch bodies, from the batch containing `fromOffset` on
   * (queue logs: skipping fully acknowledged ones), back to back into `target` at
   * [address, address + maxBytes), each starting 8-aligned, as many as fit (at most
   * `READ_INTO_BATCHES_MAX`). A first body that does not fit at all is BATON_MESSAGE_TOO_LARGE.
   */
  readBodiesInto?(fromOffset: number, target: Uint8Array, address: number, maxBytes: number): Promise<ReadIntoResult>;
  /** `readBodiesInto` with the shared arena as the target (RemoteActorLog: the storage thread copies). */
  readInto?(fromOffset: number, address: number, maxBytes: number): Promise<ReadIntoResult>;
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
  /** Dead batches removed from the middle of the WAL (reclaim.ts). */
  reclaim: { segmentsRewritten: number; segmentsDeleted: number; batchesRemoved: number; bytesBefore: number; bytesAfter: number };
  compaction: { segmentsRewritten: number; recordsRemoved: number };
  /** Small sealed segments merged into fewer files (merge.ts). */
  merge: { segmentsMerged: number; segmentsMade: number };
}

export interface ActorStorage {
  /** true: survives a process restart (a data directory); false: memory only, nothing survives. */
  readonly durable: boolean;
  /** Opens (or creates) a log. Opening a log twice returns the same log. */
  openLog(name: string, options?: ActorLogOptions): Promise<ActorLog>;
  /**
   * One pass of retention (delete released segments), reclaim (rewrite mostly dead segments),
   * compaction (keep the newest record per key of `compact` logs, in sealed segments) and
   * merging small segments. The storage thread calls it on a timer
   * (`compactionIntervalMs`); storage that keeps nothing to trim (a remote view) omits it.
   */
  maintain?(): Promise<MaintenanceResult>;
  /** Confirms everything pending, then releases files and the data directory lock. */
  close(): Promise<void>;
}
