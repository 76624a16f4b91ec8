// Proves the queue batch layout (encoder and readers): any publish reads back message by
// message as sent — body, own or generated id, headers, correlation and reply fields — in
// batches whose priority, expiry and delay are those of all their messages (a publish of mixed
// ones is split into runs); batches spill into new extents as they fill; a bad item leaves
// nothing written; a message larger than an extent takes one of its own.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { getCodec } from '../../src/broker/codec.js';
import { localMessageId } from '../../src/broker/message-ids.js';
import {
  encodeQueueItems,
  messageId,
  QB_BITMAP_AT,
  QB_COUNT,
  QB_EXPIRES_AT,
  QB_HEADER_BYTES,
  QB_NOT_BEFORE,
  QB_PRIORITY,
  QB_ID_BASE,
  type QueueBatchTarget,
  readExtensions,
  recordBodyBytes,
  recordBodyStart,
  recordEnd,
} from '../../src/broker/queue/queue-batch.js';
import { Arena, ARENA_GROW_BYTES } from '../../src/log/arena.js';
import { ExtentAllocator } from '../../src/log/extent-allocator.js';
import { ExtentTableWriter, readExtentTable } from '../../src/log/extent-table.js';
import { LogWriter } from '../../src/log/log-writer.js';

function target(codec: 'json' | 'raw' = 'json'): QueueBatchTarget & { allocator: ExtentAllocator } {
  const arena = Arena.create(4 * ARENA_GROW_BYTES);
  const allocator = new ExtentAllocator(arena);
  const table = new ExtentTableWriter(arena, allocator);
  return { name: 'q', arena, writer: new LogWriter(arena, allocator, table), codec: getCodec(codec), maxPriority: 3, allocator };
}

interface Read {
  id: string;
  /** The id a message without its own gets: this process's prefix, its batch's counter base + its index. */
  generatedId: string;
  body: unknown;
  headers: Record<string, string>;
  correlationId: string | undefined;
  replyTo: string | undefined;
  priority: number;
  expiresAtMs: number;
  notBeforeMs: number;
}

function readAll(t: QueueBatchTarget, batches: ReturnType<typeof encodeQueueItems>): Read[] {
  const { arena } = t;
  const out: Read[] = [];
  for (const batch of batches) {
    const at = batch.address;
    expect(at % 8).toBe(0);
    const count = arena.u32[(at + QB_COUNT) >>> 2]!;
    expect(count).toBe(batch.count);
    let pos = at + QB_HEADER_BYTES;
    for (let i = 0; i < count; i++) {
      const ext = readExtensions(arena, pos);
      const start = recordBodyStart(arena.u32, pos);
      out.push({
        id: messageId(arena, at, i, pos),
        generatedId: localMessageId(arena.f64[(at + QB_ID_BASE) >>> 3]! + i),
        body: t.codec.decodeAt(arena, start, start + recordBodyBytes(arena.u32, pos)),
        headers: { ...ext.headers },
        correlationId: ext.correlationId,
        replyTo: ext.replyTo,
        priority: arena.bytes[at + QB_PRIORITY]!,
        expiresAtMs: arena.f64[(at + QB_EXPIRES_AT) >>> 3]!,
        notBeforeMs: arena.f64[(at + QB_NOT_BEFORE) >>> 3]!,
      });
      pos = recordEnd(arena.u32, pos);
    }
    expect(pos).toBeLessThanOrEqual(at + arena.u32[(at + QB_BITMAP_AT) >>> 2]!);
  }
  return out;
}

const text = fc.string({ minLength: 1, maxLength: 30 });
const item = fc.record(
  {
    body: fc.oneof(fc.string({ maxLength: 300 }), fc.integer(), fc.dictionary(text, fc.integer(), { maxKeys: 4 })),
    priority: fc.integer({ min: 0, max: 3 }),
    delayMs: fc.constantFrom(0, 1000),
    ttlMs: fc.constantFrom(undefined, 5000),
    // Names that are Object.prototype's own must read back as plain headers too.
    headers: fc.dictionary(fc.oneof(text, fc.constantFrom('__proto__', 'constructor', 'toString')), fc.string({ maxLength: 40 }), { maxKeys: 3 }),
    id: fc.option(text, { nil: undefined }),
    correlationId: fc.option(text, { nil: undefined }),
    replyTo: fc.option(text, { nil: undefined }),
  },
  { requiredKeys: ['body'] },
);

describe('queue batch', () => {
  it('queue batch - a publish reads back message by message as sent, split into runs of one priority, expiry and delay (fast-check)', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(item, fc.string({ maxLength: 100 })), { minLength: 1, maxLength: 80 }), (items) => {
        const t = target();
        const nowMs = 1_700_000_000_000;
        const batches = encodeQueueItems(t, items, nowMs);
        expect(batches.reduce((sum, b) => sum + b.count, 0)).toBe(items.length);
        const read = readAll(t, batches);
        for (let i = 0; i < items.length; i++) {
          const sent = items[i]!;
          const got = read[i]!;
          if (typeof sent === 'string') {
            expect(got.id).toBe(got.generatedId);
            expect(got.body).toBe(sent);
            expect(got.priority).toBe(0);
            continue;
          }
          expect(got.body).toEqual(JSON.parse(JSON.stringify(sent.body)));
          expect(got.priority).toBe(sent.priority ?? 0);
          expect(got.notBeforeMs).toBe(sent.delayMs ? nowMs + sent.delayMs : 0);
          expect(got.expiresAtMs).toBe(sent.ttlMs === undefined ? 0 : nowMs + sent.ttlMs);
          expect(got.headers).toEqual(sent.headers ?? {});
          expect(got.correlationId).toBe(sent.correlationId);
          expect(got.replyTo).toBe(sent.replyTo);
          expect(got.id).toBe(sent.id ?? got.generatedId);
        }
      }),
      { numRuns: 150 },
    );
  });

  it('queue batch - batches spill into new extents; a bad item leaves nothing written; a large message takes an extent of its size', () => {
    const t = target('raw');
    const body = new Uint8Array(1000).fill(7);
    const batches = encodeQueueItems(t, Array.from({ length: 5000 }, () => body), Date.now());
    expect(batches.length).toBeGreaterThan(3);
    expect(new Set(batches.map((b) => b.extent)).size).toBe(batches.length);
    const listed = readExtentTable(t.arena, t.writer.tableHeader);
    const before = { pos: t.writer.pos, extent: t.writer.extent, bytes: t.allocator.allocatedBytes, listed };
    expect(() => encodeQueueItems(t, [...Array.from({ length: 3000 }, () => body), 42], Date.now())).toThrow(expect.objectContaining({ code: 'BATON_CODEC' }));
    expect({ pos: t.writer.pos, extent: t.writer.extent, bytes: t.allocator.allocatedBytes, listed: readExtentTable(t.arena, t.writer.tableHeader) }).toEqual(before);
    const large = new Uint8Array(5 * 1024 * 1024).fill(9);
    const [big] = encodeQueueItems(t, [large], Date.now());
    expect(t.allocator.sizeOf(big!.extent)).toBe(8 * 1024 * 1024);
    const start = recordBodyStart(t.arena.u32, big!.address + QB_HEADER_BYTES);
    expect(Buffer.compare(t.arena.bytes.subarray(start, start + large.length), large)).toBe(0);
  });
});
