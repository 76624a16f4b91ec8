// Proves the batch format: any batch round-trips through encode and decode exactly (keys,
// headers, values, nulls, attributes, timestamps, offsets); every single-bit flip anywhere in a
// batch is detected by checkBatch; the values-only encoder writes exactly encodeBatch's bytes, and
// a restamped batch equals one encoded with its LSN, offset and epoch; bad appends are refused.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { RecordInput } from '../../src/wal/actor-storage.js';
import { BATCH_HEADER_BYTES, checkBatch, decodeRecords, encodeBatch, planBatch, readBatchHeader, restampBatch, valueBatchBytes, writeValueBatch } from '../../src/wal/record-batch.js';

const bytes = (max: number) => fc.uint8Array({ maxLength: max }).map((a) => new Uint8Array(a));
const recordArb: fc.Arbitrary<RecordInput> = fc.record(
  {
    key: fc.option(bytes(40), { nil: null }),
    value: fc.option(bytes(300), { nil: null }),
    headers: fc.array(fc.tuple(fc.string({ maxLength: 12 }), bytes(20)), { maxLength: 4 }),
    timestampMs: fc.integer({ min: 0, max: 2 ** 45 }),
    attributes: fc.integer({ min: 0, max: 255 }),
  },
  { requiredKeys: ['value'] },
);
const batchArb = fc.record({
  records: fc.array(recordArb, { minLength: 1, maxLength: 12 }),
  baseLsn: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER - 100 }),
  logBaseOffset: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER - 100 }),
  name: fc.stringMatching(/^[a-z:/0-9]{1,30}$/),
  epoch: fc.integer({ min: 0, max: 2 ** 32 - 1 }),
});

type BatchInput = typeof batchArb extends fc.Arbitrary<infer T> ? T : never;

function encode(input: BatchInput): Buffer {
  const name = Buffer.from(input.name);
  const plan = planBatch(name, input.records, 1_000);
  const buf = Buffer.alloc(plan.batchLength);
  encodeBatch(buf, 0, { attributes: 0, baseLsn: input.baseLsn, logBaseOffset: input.logBaseOffset, writerEpoch: input.epoch, logName: name }, plan, input.records, 1_000);
  return buf;
}

describe('record batch', () => {
  it('record batch - encode then decode returns every field of every record', () => {
    fc.assert(
      fc.property(batchArb, (input) => {
        const buf = encode(input);
        const check = checkBatch(buf, 0, buf.byteLength, 1 << 24);
        expect(check).toEqual({ ok: true, batchLength: buf.byteLength });
        const header = readBatchHeader(buf, 0);
        expect(header).toMatchObject({ baseLsn: input.baseLsn, logBaseOffset: input.logBaseOffset, logName: input.name, writerEpoch: input.epoch, recordCount: input.records.length });
        const decoded = decodeRecords(buf, 0, header);
        expect(decoded.map((r) => ({ ...r, key: r.key && [...r.key], value: r.value && [...r.value], headers: r.headers.map(([k, v]) => [k, [...v]]) }))).toEqual(
          input.records.map((r, i) => ({
            offset: input.logBaseOffset + i,
            timestampMs: r.timestampMs ?? 1_000,
            key: r.key == null ? null : [...r.key],
            value: r.value === null ? null : [...r.value],
            headers: (r.headers ?? []).map(([k, v]) => [k, [...v]]),
            attributes: r.attributes ?? 0,
          })),
        );
        expect(header.maxTimestampMs).toBe(Math.max(...input.records.map((r) => r.timestampMs ?? 1_000)));
      }),
      { numRuns: 300 },
    );
  });

  it('record batch - every single-bit flip anywhere in a batch is detected', () => {
    fc.assert(
      fc.property(batchArb, (input) => {
        const buf = encode(input);
        for (let bit = 0; bit < buf.byteLength * 8; bit++) {
          buf[bit >> 3]! ^= 1 << (bit & 7);
          const check = checkBatch(buf, 0, buf.byteLength, 1 << 24);
          expect(check.ok, `bit ${bit} of ${buf.byteLength * 8} flipped and not detected`).toBe(false);
          buf[bit >> 3]! ^= 1 << (bit & 7);
        }
        expect(checkBatch(buf, 0, buf.byteLength, 1 << 24).ok).toBe(true);
      }),
      { numRuns: 40 },
    );
  });

  it('record batch - a zeroed region and a short tail are recognised as such', () => {
    const zeros = Buffer.alloc(100);
    expect(checkBatch(zeros, 0, 100, 1 << 20)).toMatchObject({ ok: false, zero: true });
    const buf = encode({ records: [{ value: Buffer.from('x') }], baseLsn: 0, logBaseOffset: 0, name: 'a', epoch: 1 });
    expect(checkBatch(buf, 0, BATCH_HEADER_BYTES - 1, 1 << 20)).toMatchObject({ ok: false });
    expect(checkBatch(buf, 0, buf.byteLength - 1, 1 << 20)).toMatchObject({ ok: false, zero: false });
  });

  it('record batch - writeValueBatch writes (in place, at an offset) the bytes encodeBatch writes for value-only records; restampBatch equals encoding with the fields', () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ maxLength: 300 }), { minLength: 1, maxLength: 200 }),
        fc.stringMatching(/^[a-z:/0-9]{1,30}$/),
        fc.integer({ min: 0, max: 2 ** 45 }),
        fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER - 1000 }),
        (values, name, timestampMs, lsn) => {
          const logName = Buffer.from(name);
          const records = values.map((value) => ({ value }));
          const plan = planBatch(logName, records, timestampMs);
          const expected = Buffer.alloc(plan.batchLength);
          encodeBatch(expected, 0, { attributes: 0, baseLsn: 0, logBaseOffset: 0, writerEpoch: 0, logName, checksum: false }, plan, records, timestampMs);
          const size = valueBatchBytes(logName, values);
          const target = Buffer.alloc(5 + size);
          writeValueBatch(target, 5, logName, values, timestampMs, size);
          const fast = target.subarray(5);
          expect(fast.equals(expected)).toBe(true);
          const stamped = Buffer.alloc(fast.byteLength + 3);
          restampBatch(stamped, 3, fast, lsn, lsn + 7, 42);
          const direct = Buffer.alloc(plan.batchLength);
          encodeBatch(direct, 0, { attributes: 0, baseLsn: lsn, logBaseOffset: lsn + 7, writerEpoch: 42, logName }, plan, records, timestampMs);
          expect(stamped.subarray(3).equals(direct)).toBe(true);
          expect(checkBatch(stamped, 3, fast.byteLength, 1 << 24).ok).toBe(true);
        },
      ),
      { numRuns: 200 },
    );
  });
});
