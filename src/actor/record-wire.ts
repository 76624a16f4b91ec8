/**
 * Records on their way from an actor host to the storage thread, through a ring. They travel in
 * the WAL's own batch encoding (src/wal/record-batch.ts), so there is one record codec in
 * Baton, not two; the offsets, LSN and CRC fields of the batch are unused on the wire.
 */
import { planBatch, encodeBatch, readBatchHeader, decodeRecords } from '../wal/record-batch.js';
import type { RecordInput } from './actor-storage.js';

const WIRE_LOG_NAME = new TextEncoder().encode('~');
const WIRE_FIELDS = { attributes: 0, baseLsn: 0, logBaseOffset: 0, writerEpoch: 0, logName: WIRE_LOG_NAME };

/** Encodes records for the storage thread; records without a timestamp get `nowMs`. Allocates the result. */
export function encodeRecordInputs(records: readonly RecordInput[], nowMs: number): Uint8Array {
  const plan = planBatch(WIRE_LOG_NAME, records, nowMs);
  const bytes = Buffer.allocUnsafe(plan.batchLength);
  encodeBatch(bytes, 0, WIRE_FIELDS, plan, records, nowMs);
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
