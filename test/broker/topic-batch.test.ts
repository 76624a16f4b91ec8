// Proves the topic batch layout (encoder and readers): any send reads back record by record as
// sent — body (raw bytes, JSON), key (a string stays a string, bytes stay bytes), headers,
// tombstone — at consecutive offsets from the first one given, in 8-aligned batches that spill
// into new extents as they fill; a bad item throws a typed error (the writer rolls back to its
// mark, nothing stays written); records read back from a log (with compaction's gaps and
// several timestamps) are re-encoded into batches of consecutive offsets and one time each.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { getCodec } from '../../src/broker/codec.js';
import {
  ATTRIBUTE_KEY_STRING,
  batchBaseOffset,
  batchCount,
  batchLength,
  batchTimestamp,
  encodeTopicRecords,
  isTopicBatch,
  type LoggedRecord,
  readHeaders,
  readKey,
  RECORD_TOMBSTONE,
  recordAt,
  recordBodyStart,
  recordEnd,
  recordWord,
  TB_HEADER_BYTES,
  type TopicBatchRef,
  type TopicBatchTarget,
  wordBodyBytes,
  writeLoggedRecords,
} from '../../src/broker/topic/topic-batch.js';
import { Arena, ARENA_GROW_BYTES } from '../../src/log/arena.js';
import { ExtentAllocator } from '../../src/log/extent-allocator.js';
import { ExtentTableWriter } from '../../src/log/extent-table.js';
import { LogWriter } from '../../src/log/log-writer.js';

function target(codec: 'json' | 'raw' = 'raw', extentBytesMax?: number): TopicBatchTarget {
  const arena = Arena.create(4 * ARENA_GROW_BYTES);
  const allocator = new ExtentAllocator(arena);
  const table = new ExtentTableWriter(arena, allocator);
  return { topic: 't', arena, writer: new LogWriter(arena, allocator, table, extentBytesMax), codec: getCodec(codec) };
}

interface Read {
  offset: number;
  timestampMs: number;
  key: string | Uint8Array | null;
  headers: Record<string, string>;
  tombstone: boolean;
  body: Uint8Array;
}

/** Every record of the batches, as a reader sees them in place. */
function readAll(arena: Arena, addresses: readonly number[]): Read[] {
  const out: Read[] = [];
  let expected = -1;
  for (const at of addresses) {
    expect(at % 8).toBe(0);
    expect(isTopicBatch(arena.bytes, arena.u32, at, arena.length)).toBe(true);
    const base = batchBaseOffset(arena.f64, at);
    if (expected >= 0) expect(base).toBeGreaterThanOrEqual(expected);
    const count = batchCount(arena.u32, at);
    let pos = at + TB_HEADER_BYTES;
    for (let i = 0; i < count; i++) {
      expect(recordAt(arena.u32, at, i)).toBe(pos);
      const word = recordWord(arena.u32, pos);
      const start = recordBodyStart(arena.u32, pos, word);
      out.push({
        offset: base + i,
        timestampMs: batchTimestamp(arena.f64, at),
        key: readKey(arena, pos, word),
        headers: readHeaders(arena, pos, word),
        tombstone: (word & RECORD_TOMBSTONE) !== 0,
        body: arena.bytes.slice(start, start + wordBodyBytes(word)),
      });
      pos = recordEnd(arena.u32, pos);
      expect(pos % 4).toBe(0);
    }
    expect(pos).toBeLessThanOrEqual(at + batchLength(arena.u32, at));
    expected = base + count;
  }
  return out;
}

const keyArb = fc.option(fc.oneof(fc.string({ maxLength: 40 }), fc.uint8Array({ maxLength: 40 })), { nil: undefined });
const headersArb = fc.option(fc.dictionary(fc.string({ minLength: 1, maxLength: 12 }), fc.string({ maxLength: 30 }), { maxKeys: 4 }), { nil: undefined });
const itemArb = fc.oneof(
  fc.uint8Array({ maxLength: 300 }),
  fc.record({ body: fc.uint8Array({ maxLength: 3000 }), key: keyArb, headers: headersArb, tombstone: fc.option(fc.constant(true), { nil: undefined }) }, { requiredKeys: ['body'] }),
);

describe('topic batch', () => {
  it('topic batch - any send reads back record by record as sent, at consecutive offsets, across extents', () => {
    fc.assert(
      fc.property(fc.array(fc.array(itemArb, { minLength: 1, maxLength: 60 }), { minLength: 1, maxLength: 6 }), fc.nat(1000), (sends, firstOffset) => {
        const t = target('raw', 8192);
        const refs: TopicBatchRef[] = [];
        let offset = firstOffset;
        const sent: unknown[] = [];
        for (const items of sends) {
          t.writer.mark();
          const before = refs.length;
          encodeTopicRecords(t, items, null, items.length, offset, 1_700_000_000_000 + offset, refs);
          t.writer.commit();
          const mine = refs.slice(before);
          expect(mine.reduce((n, r) => n + r.count, 0)).toBe(items.length);
          expect(mine[0]!.baseOffset).toBe(offset);
          offset += items.length;
          sent.push(...items);
        }
        const read = readAll(t.arena, refs.map((r) => r.address));
        expect(read.map((r) => r.offset)).toEqual(sent.map((_, i) => firstOffset + i));
        read.forEach((r, i) => {
          const item = sent[i]!;
          if (item instanceof Uint8Array) {
            expect(r.key).toBe(null);
            expect(r.headers).toEqual({});
            expect(r.tombstone).toBe(false);
            expect(Buffer.from(r.body).equals(Buffer.from(item))).toBe(true);
            return;
          }
          const given = item as { body: Uint8Array; key?: string | Uint8Array; headers?: Record<string, string>; tombstone?: true };
          if (given.key === undefined) expect(r.key).toBe(null);
          else if (typeof given.key === 'string') expect(r.key).toBe(given.key);
          else expect(Buffer.from(r.key as Uint8Array).equals(Buffer.from(given.key))).toBe(true);
          expect(r.headers).toEqual(given.headers ?? {});
          expect(r.tombstone).toBe(given.tombstone === true);
          expect(r.body.byteLength).toBe(given.tombstone === true ? 0 : given.body.byteLength);
          if (given.tombstone !== true) expect(Buffer.from(r.body).equals(Buffer.from(given.body))).toBe(true);
        });
      }),
      // Found by this property: a header named "__proto__" is an own property when read back.
      { numRuns: 150, examples: [[[[{ body: new Uint8Array(0), headers: JSON.parse('{"__proto__":""}') as Record<string, string> }]], 0]] },
    );
  });

  it('topic batch - JSON bodies are written as UTF-8 text once, strings measured exactly where it matters', () => {
    const t = target('json', 4096);
    const items = Array.from({ length: 300 }, (_, i) => (i % 3 === 0 ? { body: 'ü'.repeat(i), key: `k${i}` } : { n: i, text: '€'.repeat(i % 50) }));
    t.writer.mark();
    const refs = encodeTopicRecords(t, items, null, items.length, 0, 5, []);
    t.writer.commit();
    expect(refs.length).toBeGreaterThan(1);
    const read = readAll(t.arena, refs.map((r) => r.address));
    read.forEach((r, i) => {
      const item = items[i]!;
      const expected = typeof item === 'object' && 'body' in item ? item.body : item;
      expect(JSON.parse(Buffer.from(r.body).toString('utf8'))).toEqual(expected);
    });
  });

  it('topic batch - a bad item throws a typed error; rolled back, nothing of the send stays', () => {
    const t = target('json');
    t.writer.mark();
    encodeTopicRecords(t, [1, 2], null, 2, 0, 0, []);
    t.writer.commit();
    const pos = t.writer.pos;
    for (const bad of [[3, 10n], [{ body: 1, headers: { a: 2 } }], [{ body: 1, key: 5 }], ['x'.repeat(9 * 1024 * 1024)]] as unknown[][]) {
      t.writer.mark();
      let code: string | undefined;
      try {
        encodeTopicRecords(t, bad, null, bad.length, 2, 0, []);
      } catch (error) {
        code = (error as { code?: string }).code;
      }
      t.writer.rollback();
      expect(['BATON_CODEC', 'BATON_INVALID_ARGUMENT', 'BATON_MESSAGE_TOO_LARGE']).toContain(code);
      expect(t.writer.pos).toBe(pos);
    }
  });

  it('topic batch - a record larger than an extent gets an extent of its own; the order of the items given is kept', () => {
    const t = target('raw', 4096);
    const big = new Uint8Array(100_000).fill(7);
    const items = [new Uint8Array([1]), big, new Uint8Array([2]), new Uint8Array([3])];
    t.writer.mark();
    const refs = encodeTopicRecords(t, items, [3, 1, 0], 3, 10, 0, []);
    t.writer.commit();
    const read = readAll(t.arena, refs.map((r) => r.address));
    expect(read.map((r) => r.offset)).toEqual([10, 11, 12]);
    expect(read.map((r) => r.body.byteLength)).toEqual([1, 100_000, 1]);
    expect(read[0]!.body[0]).toBe(3);
    expect(read[2]!.body[0]).toBe(1);
  });

  it('topic batch - records from a log are re-encoded in batches of consecutive offsets and one time; a region too small takes what fits', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({ gap: fc.nat(3), newTime: fc.boolean(), key: fc.oneof(fc.string({ maxLength: 10 }), fc.uint8Array({ maxLength: 10 })), value: fc.option(fc.uint8Array({ maxLength: 200 }), { nil: null }), headers: headersArb }),
          { minLength: 1, maxLength: 80 },
        ),
        (specs) => {
          const arena = Arena.create(ARENA_GROW_BYTES);
          arena.grow();
          let offset = 5;
          let time = 1000;
          const records: LoggedRecord[] = specs.map((s) => {
            offset += s.gap;
            if (s.newTime) time++;
            const record: LoggedRecord = {
              offset: offset++,
              timestampMs: time,
              key: typeof s.key === 'string' ? Buffer.from(s.key) : s.key,
              value: s.value,
              headers: Object.entries(s.headers ?? {}).map(([name, value]) => [name, Buffer.from(value)] as const),
              attributes: typeof s.key === 'string' ? ATTRIBUTE_KEY_STRING : 0,
            };
            return record;
          });
          const batches: number[] = [];
          const { written } = writeLoggedRecords(arena, 64, 64 + 1024 * 1024, records, 0, batches);
          expect(written).toBe(records.length);
          const read = readAll(arena, batches);
          expect(read.map((r) => r.offset)).toEqual(records.map((r) => r.offset));
          read.forEach((r, i) => {
            const record = records[i]!;
            const spec = specs[i]!;
            expect(r.timestampMs).toBe(record.timestampMs);
            if (typeof spec.key === 'string') expect(r.key).toBe(spec.key);
            else expect(Buffer.from(r.key as Uint8Array).equals(Buffer.from(spec.key))).toBe(true);
            expect(r.tombstone).toBe(record.value === null);
            if (record.value !== null) expect(Buffer.from(r.body).equals(Buffer.from(record.value))).toBe(true);
            expect(r.headers).toEqual(spec.headers ?? {});
          });
          // A small region: what fits, a prefix, and never past its end.
          const some: number[] = [];
          const small = writeLoggedRecords(arena, 2_000_000, 2_000_000 + 600, records, 0, some);
          expect(small.end).toBeLessThanOrEqual(2_000_000 + 600);
          expect(readAll(arena, some).map((r) => r.offset)).toEqual(records.slice(0, small.written).map((r) => r.offset));
        },
      ),
      { numRuns: 100 },
    );
  });
});
