// Proves the ring's framing on one thread, for both kinds: records come back in order with their
// header fields and bytes through wrap-around and padding, the ring holds exactly its capacity,
// claims commit and abort, and every bad input is a typed error that leaves the ring working.
import assert from 'node:assert';
import { describe, expect, it } from 'vitest';
import { BatonError } from '../../src/errors.js';
import {
  allocateRing,
  attachWriter,
  repairRing,
  RECORD_HEADER_BYTES,
  RingReader,
  type RingKind,
  type RingRecord,
} from '../../src/ring/index.js';

const kinds: RingKind[] = ['single-producer', 'multi-producer'];

function payloadOf(length: number, seed: number): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) bytes[i] = (seed * 31 + i * 7) & 0xff;
  return bytes;
}

interface Seen {
  type: number;
  destination: number;
  meta: number;
  payload: number[];
}

function drainAll(reader: RingReader): Seen[] {
  const seen: Seen[] = [];
  reader.drain((r: RingRecord) => {
    seen.push({ type: r.type, destination: r.destination, meta: r.meta, payload: [...r.payload()] });
  }, Number.POSITIVE_INFINITY);
  return seen;
}

function expectCode(fn: () => unknown, code: string): void {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(BatonError);
    expect((error as BatonError).code).toBe(code);
    return;
  }
  throw new Error(`expected an error with code ${code}`);
}

describe.each(kinds)('ring (%s) - framing', (kind) => {
  it('ring - an empty ring drains nothing and has no records', () => {
    const buffer = allocateRing({ capacity: 1024, kind });
    const reader = new RingReader(buffer);
    expect(reader.hasRecords()).toBe(false);
    expect(reader.drain(() => expect.fail('no record expected'))).toBe(0);
    expect(reader.waitForRecords(0)).toBe(false);
  });

  it('ring - records keep type, destination, meta and bytes, in order', () => {
    const buffer = allocateRing({ capacity: 4096, kind });
    const writer = attachWriter(buffer);
    const reader = new RingReader(buffer);
    for (let i = 0; i < 10; i++) expect(writer.tryWrite(i, 1000 + i, payloadOf(i * 3, i), 100 - i)).toBe(true);
    const seen = drainAll(reader);
    expect(seen).toEqual(Array.from({ length: 10 }, (_, i) => ({ type: i, destination: 1000 + i, meta: 100 - i, payload: [...payloadOf(i * 3, i)] })));
    expect(writer.usedBytes()).toBe(0);
  });

  it('ring - wraps around with a padding record, over many laps, without losing a byte', () => {
    const capacity = 1024;
    const buffer = allocateRing({ capacity, kind });
    const writer = attachWriter(buffer);
    const reader = new RingReader(buffer);
    let written = 0;
    let read = 0;
    let bytesWritten = 0;
    // Sizes that do not divide the capacity force a padding record at most wrap points.
    while (bytesWritten < capacity * 120) {
      const length = (written * 13) % 97;
      if (writer.tryWrite(1, 7, payloadOf(length, written), written)) {
        written++;
        bytesWritten += RECORD_HEADER_BYTES + length;
      } else {
        const before = read;
        reader.drain((r) => {
          expect(r.meta).toBe(read);
          expect([...r.payload()]).toEqual([...payloadOf((read * 13) % 97, read)]);
          read++;
        });
        expect(read).toBeGreaterThan(before);
      }
    }
    reader.drain(() => read++);
    expect(read).toBe(written);
  });

  it('ring - holds exactly its capacity: full at capacity bytes, then accepts after a drain', () => {
    const capacity = 1024;
    const buffer = allocateRing({ capacity, kind });
    const writer = attachWriter(buffer);
    const reader = new RingReader(buffer);
    // 16 records of 64 bytes (48 payload + 16 header) fill 1024 bytes exactly.
    for (let i = 0; i < 16; i++) expect(writer.tryWrite(0, 0, payloadOf(48, i))).toBe(true);
    expect(writer.usedBytes()).toBe(capacity);
    expect(writer.tryWrite(0, 0, new Uint8Array(0))).toBe(false);
    expect(reader.drain(() => {}, 1)).toBe(1);
    expect(writer.tryWrite(0, 0, payloadOf(48, 99))).toBe(true);
    expect(writer.tryWrite(0, 0, new Uint8Array(0))).toBe(false);
    expect(drainAll(reader).length).toBe(16);
  });

  it('ring - a record of exactly the maximum size fits; one byte more is BATON_MESSAGE_TOO_LARGE', () => {
    const buffer = allocateRing({ capacity: 1024, kind, maxRecordBytes: 512 });
    const writer = attachWriter(buffer);
    const reader = new RingReader(buffer);
    const largest = 512 - RECORD_HEADER_BYTES;
    expect(writer.tryWrite(2, 3, payloadOf(largest, 1))).toBe(true);
    expectCode(() => writer.tryWrite(2, 3, new Uint8Array(largest + 1)), 'BATON_MESSAGE_TOO_LARGE');
    expectCode(() => writer.tryWriteBatch(2, 3, [new Uint8Array(1), new Uint8Array(largest + 1)]), 'BATON_MESSAGE_TOO_LARGE');
    const seen = drainAll(reader);
    // The rejected batch was rejected whole: its valid first record was not written either.
    expect(seen.map((s) => s.payload.length)).toEqual([largest]);
    // Maximum-size records keep going round the ring.
    for (let i = 0; i < 20; i++) {
      expect(writer.tryWrite(2, 3, payloadOf(largest, i))).toBe(true);
      expect(drainAll(reader)[0]!.payload).toEqual([...payloadOf(largest, i)]);
    }
  });

  it('ring - batch writes publish together and report how many fit', () => {
    const buffer = allocateRing({ capacity: 1024, kind });
    const writer = attachWriter(buffer);
    const reader = new RingReader(buffer);
    const payloads = Array.from({ length: 40 }, (_, i) => payloadOf(32, i));
    const written = writer.tryWriteBatch(5, 6, payloads);
    expect(written).toBeGreaterThan(0);
    expect(written).toBeLessThan(40);
    const seen = drainAll(reader);
    expect(seen.length).toBe(written);
    expect(seen.map((s) => s.payload)).toEqual(payloads.slice(0, written).map((p) => [...p]));
    expect(writer.tryWriteBatch(5, 6, payloads, written)).toBeGreaterThan(0);
  });

  it('ring - claim/commit writes in place; abort leaves nothing for the reader', () => {
    const buffer = allocateRing({ capacity: 1024, kind });
    const writer = attachWriter(buffer);
    const reader = new RingReader(buffer);
    const offset = writer.tryClaim(5, 9, 10, 11);
    expect(offset).toBeGreaterThan(0);
    writer.bytes.set([1, 2, 3, 4, 5], offset);
    expect(reader.hasRecords()).toBe(false);
    writer.commit(offset);
    const aborted = writer.tryClaim(3, 1, 1);
    writer.abort(aborted);
    expect(writer.tryWrite(4, 4, payloadOf(2, 0))).toBe(true);
    expect(drainAll(reader)).toEqual([
      { type: 9, destination: 10, meta: 11, payload: [1, 2, 3, 4, 5] },
      { type: 4, destination: 4, meta: 0, payload: [...payloadOf(2, 0)] },
    ]);
  });

  it('ring - tryWriteWith fills in place; false when full; a fill that throws leaves nothing behind', () => {
    const buffer = allocateRing({ capacity: 1024, kind });
    const writer = attachWriter(buffer);
    const reader = new RingReader(buffer);
    expect(writer.tryWriteWith(7, 8, 4, (bytes, at) => bytes.set([9, 8, 7, 6], at), 3)).toBe(true);
    expect(() =>
      writer.tryWriteWith(1, 1, 16, () => {
        throw new Error('encoder failed');
      }),
    ).toThrow('encoder failed');
    let fills = 0;
    while (writer.tryWriteWith(2, 2, 100, () => void fills++));
    expect(fills).toBeGreaterThan(0);
    expect(writer.tryWriteWith(2, 2, 100, () => assert.fail('filled on a full ring'))).toBe(false);
    const seen = drainAll(reader);
    expect(seen[0]).toEqual({ type: 7, destination: 8, meta: 3, payload: [9, 8, 7, 6] });
    expect(seen.slice(1).map((s) => s.type)).toEqual(Array.from({ length: fills }, () => 2));
  });

  it('ring - scan holds records until release; a reader that replaces it sees the unreleased ones again', () => {
    const buffer = allocateRing({ capacity: 1024, kind });
    const writer = attachWriter(buffer);
    const reader = new RingReader(buffer);
    for (let i = 0; i < 6; i++) expect(writer.tryWrite(1, i, payloadOf(40, i))).toBe(true);
    const ends: number[] = [];
    expect(reader.scan((_record, end) => ends.push(end), 4)).toBe(4);
    // Scanned but held: the space is still taken, and scanning goes on from where it stopped.
    expect(writer.usedBytes()).toBe(6 * 56);
    reader.release(ends[1]!);
    expect(writer.usedBytes()).toBe(4 * 56);
    const seen: number[] = [];
    reader.scan((r) => seen.push(r.destination));
    expect(seen).toEqual([4, 5]);
    expect(() => reader.release(ends[0]!)).toThrow(/outside the scanned range/);
    // The reader "dies" here: a replacement starts from HEAD and gets records 2..5 again.
    const replacement = new RingReader(buffer);
    expect(drainAll(replacement).map((r) => r.destination)).toEqual([2, 3, 4, 5]);
    expect(writer.usedBytes()).toBe(0);
  });

  it('ring - a write to a closed ring is BATON_CLOSED; the reader still drains what was in it', async () => {
    const buffer = allocateRing({ capacity: 1024, kind });
    const writer = attachWriter(buffer);
    const reader = new RingReader(buffer);
    expect(writer.tryWrite(1, 1, payloadOf(4, 1))).toBe(true);
    reader.close();
    expectCode(() => writer.tryWrite(1, 1, payloadOf(4, 2)), 'BATON_CLOSED');
    await expect(writer.write(1, 1, payloadOf(4, 2))).rejects.toMatchObject({ code: 'BATON_CLOSED' });
    expect(reader.waitForRecords()).toBe(true);
    expect(drainAll(reader).length).toBe(1);
    // Closed and empty: waiting returns at once instead of hanging.
    expect(reader.waitForRecords()).toBe(true);
    expect(reader.closed).toBe(true);
  });

  it('ring - bad record fields are BATON_INVALID_ARGUMENT and the ring keeps working', () => {
    const buffer = allocateRing({ capacity: 1024, kind });
    const writer = attachWriter(buffer);
    const reader = new RingReader(buffer);
    expectCode(() => writer.tryWrite(-1, 0, new Uint8Array(1)), 'BATON_INVALID_ARGUMENT');
    expectCode(() => writer.tryWrite(1.5, 0, new Uint8Array(1)), 'BATON_INVALID_ARGUMENT');
    expectCode(() => writer.tryWrite(1, 2 ** 31, new Uint8Array(1)), 'BATON_INVALID_ARGUMENT');
    expect(writer.tryWrite(1, -5, payloadOf(3, 3))).toBe(true);
    expect(drainAll(reader)).toEqual([{ type: 1, destination: -5, meta: 0, payload: [...payloadOf(3, 3)] }]);
  });

  it('ring - an async write waits for space and completes when the reader drains', async () => {
    const buffer = allocateRing({ capacity: 1024, kind });
    const writer = attachWriter(buffer);
    const reader = new RingReader(buffer);
    while (writer.tryWrite(0, 0, payloadOf(100, 0)));
    let done = false;
    const pending = writer.write(0, 0, payloadOf(100, 1)).then(() => {
      done = true;
    });
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(done).toBe(false);
    reader.drain(() => {});
    await pending;
    expect(done).toBe(true);
    expect(drainAll(reader).map((s) => s.payload)).toEqual([[...payloadOf(100, 1)]]);
  });
});

describe('ring - allocation and attachment', () => {
  it('ring - capacity must be a power of two within bounds', () => {
    for (const capacity of [1000, 512, 0, -1024, 1.5, 2 ** 31, Number.NaN]) {
      expectCode(() => allocateRing({ capacity, kind: 'single-producer' }), 'BATON_INVALID_ARGUMENT');
    }
    expectCode(() => allocateRing({ capacity: 1024, kind: 'single-producer', maxRecordBytes: 513 }), 'BATON_INVALID_ARGUMENT');
    expectCode(() => allocateRing({ capacity: 1024, kind: 'spmc' as RingKind }), 'BATON_INVALID_ARGUMENT');
  });

  it('ring - a buffer that is not a ring is BATON_RING_LAYOUT', () => {
    expectCode(() => new RingReader(new SharedArrayBuffer(64 * 1024)), 'BATON_RING_LAYOUT');
    expectCode(() => new RingReader(new ArrayBuffer(64 * 1024) as unknown as SharedArrayBuffer), 'BATON_RING_LAYOUT');
  });

  it('ring - a single-producer ring takes one writer until it is released', () => {
    const buffer = allocateRing({ capacity: 1024, kind: 'single-producer' });
    const first = attachWriter(buffer);
    expectCode(() => attachWriter(buffer), 'BATON_INVALID_ARGUMENT');
    first.release();
    expectCode(() => first.tryWrite(0, 0, new Uint8Array(1)), 'BATON_CLOSED');
    const second = attachWriter(buffer);
    expect(second.tryWrite(0, 0, new Uint8Array(1))).toBe(true);
  });

  it('ring - a multi-producer ring takes up to 32 writers', () => {
    const buffer = allocateRing({ capacity: 1024, kind: 'multi-producer' });
    const writers = Array.from({ length: 32 }, () => attachWriter(buffer));
    expect(new Set(writers.map((w) => w.slot)).size).toBe(32);
    expectCode(() => attachWriter(buffer), 'BATON_INVALID_ARGUMENT');
  });
});

describe('ring (multi-producer) - repair of a dead writer, on one thread', () => {
  it('ring - a wrapped claim whose padding was already consumed is repaired; a live writer is left alone', () => {
    const buffer = allocateRing({ capacity: 1024, kind: 'multi-producer' });
    const reader = new RingReader(buffer);
    const dead = attachWriter(buffer);
    const live = attachWriter(buffer);
    // Fill to 40 bytes before the end, and consume it all.
    for (let i = 0; i < 9; i++) expect(live.tryWrite(1, 1, payloadOf(92, i))).toBe(true);
    expect(drainAll(reader).length).toBe(9);
    // The dead writer claims a record that does not fit before the end: padding, then its record at 0.
    const offset = dead.tryClaim(60, 2, 2);
    expect(offset).toBeGreaterThan(0);
    const after = live.tryWrite(3, 3, payloadOf(8, 1));
    expect(after).toBe(true);
    // The reader consumes the padding and stops at the unfinished record: nothing after it shows.
    expect(drainAll(reader)).toEqual([]);
    expect(reader.hasRecords()).toBe(false);
    // The writer "dies". Repair pads its records; the live writer's committed record comes through.
    const report = repairRing(buffer, [dead.slot]);
    expect(report).toMatchObject({ released: [dead.slot], claimsPadded: 1, unresolved: [] });
    expect(drainAll(reader)).toEqual([{ type: 3, destination: 3, meta: 0, payload: [...payloadOf(8, 1)] }]);
    // A live writer's claim in progress is never padded: repair of another slot leaves it.
    const pending = live.tryClaim(16, 4, 4);
    expect(repairRing(buffer, [dead.slot]).claimsPadded).toBe(0);
    live.bytes.set(payloadOf(16, 2), pending);
    live.commit(pending);
    expect(drainAll(reader)).toEqual([{ type: 4, destination: 4, meta: 0, payload: [...payloadOf(16, 2)] }]);
  });
});
