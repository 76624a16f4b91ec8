/**
 * Actor hosts and the storage thread. Appends, acknowledgements and reads are per message (a
 * partition serves its subscribers from its log), so they go through rings (one single-producer
 * ring host -> storage, one storage -> host, per host); the rest (open a log, snapshots: per
 * actor start, not per message) goes through comlink, and so does a read of a record too large
 * for one response record.
 *
 * Request records (host -> storage):
 *   type APPEND | ACKNOWLEDGE | READ, destination = log handle, meta = request id,
 *   payload = [generation u32] then
 *     APPEND:      the records in the WAL batch encoding
 *     ACKNOWLEDGE: offsets as f64 LE
 *     READ:        [fromOffset f64][recordsMax u32]
 * Response records (storage -> host):
 *   type CONFIRMED, destination = host generation, meta = request id, payload = [base f64][last f64]
 *   type RECORDS,   destination = host generation, meta = request id,
 *                   payload = [next f64 (-1: the end)][start f64][logNext f64][flags u32]
 *                             then the records as one WAL batch (absent when there are none);
 *                   flags bit 0: the record at `next` does not fit a response: read it otherwise
 *   type FAILED,    destination = host generation, meta = request id, payload = JSON SerializedError
 * A host that replaced a dead one has a new generation: it ignores the answers meant for its
 * predecessor.
 */
import type { MessagePort } from 'node:worker_threads';
import type { ActorLogOptions, ActorSnapshot, LogKind, LogRecord } from './actor-storage.js';

export const STORAGE_APPEND = 1;
export const STORAGE_ACKNOWLEDGE = 2;
export const STORAGE_CONFIRMED = 3;
export const STORAGE_FAILED = 4;
export const STORAGE_READ = 5;
export const STORAGE_RECORDS = 6;
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
  writeSnapshot(handle: number, snapshot: ActorSnapshot): Promise<void>;
  readSnapshot(handle: number): Promise<ActorSnapshot | null>;
}

/** What the storage thread exposes to the supervisor. */
export interface StorageServiceApi {
  readonly durable: boolean;
  /** Starts serving a host (a new one, or the replacement of a dead one) on these rings and port. */
  attachHost(index: number, connection: StorageConnection): void;
  close(): Promise<void>;
}
