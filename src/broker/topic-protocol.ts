/**
 * Records between the broker (the runtime thread), topic partition actors and group actors.
 * Message kinds are one constant table; every dispatch ends in an assertion on an unknown kind.
 * The numbers sit apart from the queue's (100.., 200..) so a late reply is never mistaken for one.
 *
 * To a partition actor `topic:<name>/<p>` (meta: request id):
 *   PRODUCE  [u32 count][topic record]...        appended as one log batch, then answered RESULT
 *   FETCH    [f64 offset][u32 recordsMax][u32 bytesMax][u32 waitMs]
 *            answered RECORDS at once when records at or after `offset` exist, else parked up to
 *            `waitMs` (long poll) and answered as soon as an append brings some, or empty
 *   OFFSETS  JSON { timestampMs? }               answered RESULT { start, next, forTimestamp }
 * From a partition actor:
 *   RESULT   JSON { ok: true, value } | { ok: false, error: SerializedError }
 *   RECORDS  [f64 nextOffset][u32 count][topic record]...   (topic-record.ts layout)
 *
 * To a group actor `group:<topic>/<group>` (meta: request id, answered RESULT):
 *   GROUP_LOAD    (empty)                            -> { offsets: { [partition]: nextOffset } }
 *   GROUP_COMMIT  JSON { offsets: { [partition]: nextOffset } }  -> {} once appended (durable)
 */
export const TopicRecord = Object.freeze({
  PRODUCE: 400,
  FETCH: 401,
  OFFSETS: 402,
  GROUP_LOAD: 410,
  GROUP_COMMIT: 411,
  RESULT: 450,
  RECORDS: 451,
});

/** Fetch bounds: a RECORDS reply stays far below the runtime inbox's largest record (512 KiB by default). */
export const FETCH_RECORDS_MAX = 512;
export const FETCH_BYTES_MAX = 128 * 1024;
/** How long a fetch at the end of a partition waits for new records before it is answered empty. */
export const FETCH_WAIT_MS = 500;

export type TopicAckMode = 'auto' | 'none';

export type FromSpec = 'earliest' | 'latest' | { offset: number } | { timestamp: number };

export interface TopicOptions {
  partitions: number;
  retentionMs?: number;
  retentionBytes?: number;
  compact: boolean;
  /** With `compact`: how long a tombstone is kept after compaction removed its key's values. */
  tombstoneRetentionMs?: number;
}

export interface PartitionActorOptions {
  topic: string;
  partition: number;
}

export interface GroupActorOptions {
  topic: string;
  group: string;
}

export interface PartitionOffsets {
  start: number;
  next: number;
  forTimestamp: number | null;
}
