// Property: any sequence of writes (single, batch, claim/commit, claim/abort) and partial drains
// behaves exactly like a FIFO queue model with the ring's capacity accounting: the ring accepts
// a write iff the model says it fits, and every drain returns the model's oldest records.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { allocateRing, attachWriter, RECORD_HEADER_BYTES, RingReader, type RingKind } from '../../src/ring/index.js';

const CAPACITY = 1024;
const align = (n: number) => (n + 7) & ~7;

type Op =
  | { op: 'write'; size: number }
  | { op: 'batch'; sizes: number[] }
  | { op: 'claim'; size: number; commit: boolean }
  | { op: 'drain'; max: number };

const opArbitrary: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ op: fc.constant('write' as const), size: fc.integer({ min: 0, max: 112 }) }),
  fc.record({ op: fc.constant('batch' as const), sizes: fc.array(fc.integer({ min: 0, max: 112 }), { minLength: 1, maxLength: 12 }) }),
  fc.record({ op: fc.constant('claim' as const), size: fc.integer({ min: 0, max: 112 }), commit: fc.boolean() }),
  fc.record({ op: fc.constant('drain' as const), max: fc.integer({ min: 1, max: 20 }) }),
);

/** Free-space model: bytes in use and the tail index, including padding at the wrap point. */
class RingModel {
  used = 0;
  tail = 0;
  readonly queue: number[][] = [];
  readonly sizesInUse: number[] = []; // bytes each queued record (with its padding) holds

  fits(size: number): boolean {
    return CAPACITY - this.used >= this.claim(align(RECORD_HEADER_BYTES + size));
  }

  claim(aligned: number): number {
    const toEnd = CAPACITY - (this.tail % CAPACITY);
    return aligned > toEnd ? aligned + toEnd : aligned;
  }

  push(record: number[]): void {
    const bytes = this.claim(align(RECORD_HEADER_BYTES + record.length));
    this.used += bytes;
    this.tail = (this.tail + bytes) % (CAPACITY * 1024);
    this.queue.push(record);
    this.sizesInUse.push(bytes);
  }

  /** A multi-producer batch: one contiguous claim, padded as a whole at the wrap point. */
  pushContiguous(records: number[][]): void {
    const total = records.reduce((sum, r) => sum + align(RECORD_HEADER_BYTES + r.length), 0);
    const bytes = this.claim(total);
    expect(CAPACITY - this.used).toBeGreaterThanOrEqual(bytes);
    this.used += bytes;
    this.tail = (this.tail + bytes) % (CAPACITY * 1024);
    // The padding (if any) is consumed with the first record.
    records.forEach((r, k) => {
      this.queue.push(r);
      this.sizesInUse.push(k === 0 ? bytes - total + align(RECORD_HEADER_BYTES + r.length) : align(RECORD_HEADER_BYTES + r.length));
    });
  }

  pushPadding(aligned: number): void {
    // An aborted multi-producer claim stays in the ring as padding until drained.
    const bytes = this.claim(aligned);
    this.used += bytes;
    this.tail = (this.tail + bytes) % (CAPACITY * 1024);
    this.sizesInUse.push(-bytes);
  }
}

function payload(size: number, tag: number): number[] {
  return Array.from({ length: size }, (_, i) => (tag * 17 + i) & 0xff);
}

describe.each<RingKind>(['single-producer', 'multi-producer'])('ring (%s) - against a queue model', (kind) => {
  it('ring - random operation sequences match the model', () => {
    fc.assert(
      fc.property(fc.array(opArbitrary, { minLength: 1, maxLength: 300 }), (ops) => {
        const buffer = allocateRing({ capacity: CAPACITY, kind });
        const writer = attachWriter(buffer);
        const reader = new RingReader(buffer);
        const model = new RingModel();
        let tag = 0;
        const drainModel = (max: number): number[][] => {
          const out: number[][] = [];
          while (model.sizesInUse.length > 0 && out.length < max) {
            const bytes = model.sizesInUse[0]!;
            model.sizesInUse.shift();
            model.used -= Math.abs(bytes);
            if (bytes >= 0) out.push(model.queue.shift()!);
          }
          return out;
        };
        for (const step of ops) {
          if (step.op === 'write') {
            const record = payload(step.size, tag++);
            const fits = model.fits(step.size);
            expect(writer.tryWrite(1, 2, Uint8Array.from(record))).toBe(fits);
            if (fits) model.push(record);
          } else if (step.op === 'batch') {
            const records = step.sizes.map((s) => payload(s, tag++));
            const written = writer.tryWriteBatch(1, 2, records.map((r) => Uint8Array.from(r)));
            // The ring writes a prefix of the batch, record by record (single producer) or as one
            // contiguous claim (multi-producer); each must have fit.
            if (kind === 'single-producer') {
              for (let k = 0; k < written; k++) {
                expect(model.fits(records[k]!.length)).toBe(true);
                model.push(records[k]!);
              }
            } else if (written > 0) {
              model.pushContiguous(records.slice(0, written));
            }
            if (written === 0) expect(model.fits(records[0]!.length)).toBe(false);
            if (kind === 'single-producer' && written < records.length) expect(model.fits(records[written]!.length)).toBe(false);
          } else if (step.op === 'claim') {
            const record = payload(step.size, tag++);
            const fits = model.fits(step.size);
            const offset = writer.tryClaim(step.size, 1, 2);
            expect(offset >= 0).toBe(fits);
            if (offset < 0) continue;
            writer.bytes.set(record, offset);
            if (step.commit) {
              writer.commit(offset);
              model.push(record);
            } else {
              writer.abort(offset);
              if (kind === 'multi-producer') model.pushPadding(align(RECORD_HEADER_BYTES + step.size));
            }
          } else {
            const seen: number[][] = [];
            reader.drain((r) => seen.push([...r.payload()]), step.max);
            expect(seen).toEqual(drainModel(step.max));
          }
          expect(writer.usedBytes()).toBe(model.used);
        }
      }),
      { numRuns: 300 },
    );
  });
});
