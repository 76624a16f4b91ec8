/**
 * Actor hosts and the storage thread. Appends, acknowledgements and reads are per message (a
 * partition serves its subscribers from its log), so they go through rings (one single-producer
 * ring host -> storage, one storage -> host, per host); the rest (open a log, snapshots, a
 * queue's batch heads and delivery counts: per actor start, not per message) goes through
 * comlink, and so does a read of a record too large for one response record.
 *
 * Request records (host -> storage):
 *   type APPEND | ACKNOWLEDGE | READ | APPEND_ARENA | ACK_RANGES | DELIVERIES | READ_INTO,
 *   destination = log handle, meta = request id, payload = [generation u32] then
 *     APPEND:       the records in the WAL batch encoding
 *     ACKNOWLEDGE:  offsets as f64 LE
 *     READ:         [fromOffset f64][recordsMax u32]
 *     APPEND_ARENA: [timestampMs f64][address u32][length u32][count u32]    (APPEND_ARENA_*)
 *                   an opaque batch (a queue batch) at arena [address, address + length): the
 *                   storage thread copies it from the shared arena into the WAL's staging buffer
 *     ACK_RANGES:   flat half-open ranges [start f64][end f64] ...
 *     DELIVERIES:   flat pairs [offset f64][deliveryCount f64] ...
 *     READ_INTO:    [fromOffset f64][address u32][maxBytes u32]              (READ_INTO_*)
 *                   copy whole opaque bodies into arena [address, address + maxBytes)
 * Response records (storage -> host):
 *   type CONFIRMED, destination = host generation, meta = request id, payload = [base f64][last f64]
 *                   (ACKNOWLEDGE, ACK_RANGES, DELIVERIES: -1, -1)
 *   type RECORDS,   destination = host generation, meta = request id,
 *                   payload = [next f64 (-1: the end)][start f64][logNext f64][flags u32]
 *                             then the records as one WAL batch (absent when there are none);
 *                   flags bit 0: the record at `next` does not fit a response: read it otherwise
 *   type COPIED,    destination = host generation, meta = request id (READ_INTO's answer),
 *                   payload = f64 LE [next (-1: the end)][n] then n x [baseOffset][count][at][length]
 *   type FAILED,    destination = host generation, meta = request id, payload = JSON SerializedError
 *                   (an arena address outside the arena, a body too large for the region, ...)
 * A host that replaced a dead one has a new generation: it ignores the answers meant for its
 * predecessor.
 *
 * Requests of one host are served in ring order, so appends (APPEND and APPEND_ARENA alike) of
 * a log are confirmed in the order they were made, however many are in flight.
 */
import type { FaultRule } from '../wal/faulty-file-layer.js';
import type { MessagePort } from 'node:worker_threads';
import type { ActorLogOptions, ActorSnapshot, BatchHead, LogKind, LogRecord } from '../wal/actor-storage.js';

export const STORAGE_APPEND = 1;
export const STORAGE_ACKNOWLEDGE = 2;
export const STORAGE_CONFIRMED = 3;
export const STORAGE_FAILED = 4;
export const STORAGE_READ = 5;
export const STORAGE_RECORDS = 6;
export const STORAGE_APPEND_ARENA = 7;
export const STORAGE_ACK_RANGES = 8;
export const STORAGE_DELIVERIES = 9;
export const STORAGE_READ_INTO = 10;
export const STORAGE_COPIED = 11;

/** APPEND_ARENA body (after the generation): byte offsets of its fields. */
export const APPEND_ARENA_TIMESTAMP = 0;
export const APPEND_ARENA_ADDRESS = 8;
export const APPEND_ARENA_LENGTH = 12;
export const APPEND_ARENA_COUNT = 16;
export const APPEND_ARENA_BYTES = 20;

/** READ_INTO body (after the generation): byte offsets of its fields. */
export const READ_INTO_FROM = 0;
export const READ_INTO_ADDRESS = 8;
export const READ_INTO_MAX_BYTES = 12;
export const READ_INTO_BYTES = 16;

/** COPIED payload, in f64 slots: [next][n], then COPIED_BATCH_SLOTS per batch. */
export const COPIED_NEXT = 0;
export const COPIED_COUNT = 1;
export const COPIED_HEADER_SLOTS = 2;
export const COPIED_BATCH_SLOTS = 4;

/**
 * ACK_RANGES and DELIVERIES carry at most this many pairs (16 bytes each) per request, fewer when
 * the request ring's record limit (capacity / 8) is smaller: a host splits longer calls. Both are
 * idempotent and applied in ring order, so the split changes nothing but the count of control
 * batches.
 */
export const CONTROL_PAIRS_PER_REQUEST = 2048;
/** Bytes before the batch in a RECORDS payload. */
export const READ_HEADER_BYTES = 28;
export const READ_FLAG_TOO_LARGE = 1;
/** A RECORDS payload stays under this (the response ring takes records up to capacity / 8). */
export const READ_RESPONSE_BYTES_MAX = 96 * 1024;

export interface StorageConnection {
  requests: SharedArrayBuffer;
  responses: SharedArrayBuffer;
  port: MessagePort;
  generation: number;
}

export interface LogHandleInfo {
  handle: number;
  kind: LogKind;
  startOffset: number;
  nextOffset: number;
  /**
   * The log's trim state, shared with the storage thread (`TRIM_*` slots of a BigInt64Array),
   * written after every maintenance pass: hosts read the log's start offset and removal count
   * without a round trip. The same buffer every time for a handle.
   */
  trim: SharedArrayBuffer;
}

/** Slots of `LogHandleInfo.trim`: the log's `removals` (written last), and its start offset. */
export const TRIM_REMOVALS = 0;
export const TRIM_START_OFFSET = 1;
export const TRIM_SLOTS = 2;

/** What the storage thread serves each host over its port. */
export interface StorageHostApi {
  openLog(name: string, options?: ActorLogOptions): Promise<LogHandleInfo>;
  info(handle: number): LogHandleInfo;
  /** A chunk of replay: records from `fromOffset`, at most `recordsMax`; `next` is null at the end. */
  replayChunk(handle: number, fromOffset: number | undefined, recordsMax: number): Promise<{ records: LogRecord[]; next: number | null }>;
  offsetForTimestamp(handle: number, timestampMs: number): Promise<number | null>;
  /** A chunk of `replayBatchHeads`: at most `batchesMax` heads; `next` (the next batch's base offset) is null at the end. */
  replayHeadsChunk(handle: number, fromOffset: number | undefined, headBytes: number, batchesMax: number): Promise<{ heads: BatchHead[]; next: number | null }>;
  /** `ActorLog.deliveryCounts`: flat [offset, count, ...]. */
  deliveryCounts(handle: number): Promise<number[]>;
  writeSnapshot(handle: number, snapshot: ActorSnapshot): Promise<void>;
  readSnapshot(handle: number): Promise<ActorSnapshot | null>;
}

/** What the storage thread exposes to the supervisor. */
/** What the storage thread says of itself in stats. */
export interface StorageStats {
  /** The kernel's id of the storage thread (0 where unknown). */
  tid: number;
  durable: boolean;
  /** The WAL writer's counters (durable storage): rounds written, fdatasyncs, batches and bytes. */
  writer: { rounds: number; writes: number; datasyncs: number; batches: number; bytes: number } | null;
  /** What the maintenance passes (retention, reclaim, compaction) did so far. */
  maintenance: MaintenanceStats;
  /** 'failed' from a storage error until the log is reopened; failures and recoveries so far. */
  health: { state: 'ok' | 'failed'; failures: number; recoveries: number; lastFailure: string | null };
}

/** Counters of the maintenance passes, for tests and stats. */
export interface MaintenanceStats {
  passes: number;
  failures: number;
  segmentsDeleted: number;
  segmentsCompacted: number;
  recordsRemoved: number;
  /** Segments rewritten or deleted because most of their batches were dead (reclaim.ts). */
  segmentsReclaimed: number;
  /** Bytes those rewrites freed. */
  bytesReclaimed: number;
  /** Small sealed segments merged into fewer files (merge.ts), and the files that made. */
  segmentsMerged: number;
  lastError: string | null;
}

/** No pass yet. */
export function emptyMaintenanceStats(): MaintenanceStats {
  return { passes: 0, failures: 0, segmentsDeleted: 0, segmentsCompacted: 0, recordsRemoved: 0, segmentsReclaimed: 0, bytesReclaimed: 0, segmentsMerged: 0, lastError: null };
}

/**
 * What the storage thread tells the supervisor: its log failed (a write or fsync error: EIO,
 * ENOSPC, ...; every request is then refused with BATON_STORAGE_FAILED), or it was reopened and
 * recovered from what is on disk (every open log handle serves again).
 */
export type StorageEvent = { type: 'failed'; reason: string } | { type: 'recovered'; reason: string; attempts: number; downMs: number };

/** A storage fault to inject (Broker.start({ testing: { storageFaults: true } })): src/wal/faulty-file-layer.ts. */
export type StorageFaultRule = FaultRule;

export interface StorageServiceApi {
  readonly durable: boolean;
  stats(): StorageStats;
  /** Calls `listener` (a comlink proxy) with every StorageEvent from now on. */
  subscribe(listener: (event: StorageEvent) => void): void;
  /** Makes matching file calls fail from now on; only with fault injection enabled at start. */
  injectFault(rule: StorageFaultRule): void;
  /** Removes every injected fault: the "disk" works again. */
  clearFaults(): void;
  /** Fault injection: the storage thread exits (process.exit in the thread) right after answering. */
  crash(): void;
  /** Starts serving a host (a new one, or the replacement of a dead one) on these rings and port. */
  attachHost(index: number, connection: StorageConnection): void;
  close(): Promise<void>;
}
