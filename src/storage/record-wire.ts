/**
 * Records on their way from an actor host to the storage thread, through a ring. They travel as
 * a WAL record batch (src/wal/record-batch.ts) named for their log, without its CRC, LSN and log
 * offset: the storage thread's writer stamps those and writes the batch as it came
 * (`WalLog.appendEncoded`), so a record is encoded once, on the actor's thread.
 */
import { planBatch, encodeBatch, readBatchHeader, decodeRecords } from '../wal/record-batch.js';
import type { RecordInput } from '../wal/actor-storage.js';

/** Encodes records for the storage thread; records without a timestamp get `nowMs`. Allocates the result. */
export function encodeRecordInputs(records: readonly RecordInput[], nowMs: number, logName: Uint8Array): Uint8Array {
  const plan = planBatch(logName, records, nowMs);
  const bytes = Buffer.allocUnsafe(plan.batchLength);
  encodeBatch(bytes, 0, { attributes: 0, baseLsn: 0, logBaseOffset: 0, writerEpoch: 0, logName, checksum: false }, plan, records, nowMs);
  return bytes;
}

/** Decodes records from `bytes`, which must stay unchanged while the records are used (copy ring views first). */
export function decodeRecordInputs(bytes: Uint8Array): RecordInput[] {
  const header = readBatchHeader(bytes, 0);
  return decodeRecords(bytes, 0, header).map((record) => ({
    key: record.key,
    value: record.value,
    headers: record.headers,
    timestampMs: record.timestampMs,
    attributes: record.attributes,
  }));
}
