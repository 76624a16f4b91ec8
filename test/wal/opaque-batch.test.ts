// Proves opaque batches in the WAL: a blob holding N messages is stored byte for byte as one
// batch spanning N offsets; it survives a close and a reopen (recovery indexes it) and reads back
// through replayBatchHeads (offsets, sizes, time, first bytes) and readBodiesInto (whole bodies,
// 8-aligned, as many as fit) byte for byte, while record replay skips it and the opaque readers
// skip record batches; a torn opaque tail is truncated like a torn record batch and a bit flip in
// one is BATON_CORRUPT_LOG (at open in a sealed segment, at read time otherwise); bad arguments
// are typed errors; and, as fast-check properties, every single-bit flip of an opaque batch is
// detected and any sequence of opaque and record appends recovers exactly from memory files.
import { readdirSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { BatchHead } from '../../src/wal/actor-storage.js';
import { readU32 } from '../../src/wal/byte-codec.js';
import { encodeCheckpoint, readCheckpoint } from '../../src/wal/checkpoint.js';
import { NodeFileLayer } from '../../src/wal/file-layer.js';
import { inspectDataDir } from '../../src/wal/inspect.js';
import { MemoryFileLayer } from '../../src/wal/memory-file-layer.js';
import {
  BATCH_ATTR_OPAQUE,
  batchBodyStart,
  checkBatch,
  decodeRecords,
  encodeOpaqueBatch,
  opaqueBatchBytes,
  readBatchHeader,
} from '../../src/wal/record-batch.js';
import { Wal } from '../../src/wal/wal.js';
import type { WalLog } from '../../src/wal/wal-log.js';
import { tempDir, text, values } from './helpers.js';

const files = new NodeFileLayer();

/** Deterministic bytes that differ per seed (a body whose every byte is checked on the way back). */
function blob(seed: number, length: number): Uint8Array {
  const out = new Uint8Array(length);
  let x = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

async function heads(log: WalLog, options: { fromOffset?: number; headBytes: number }): Promise<BatchHead[]> {
  const out: BatchHead[] = [];
  for await (const head of log.replayBatchHeads(options)) out.push(head);
  return out;
}

function segmentFiles(dir: string): string[] {
  return readdirSync(path.join(dir, 'wal')).filter((n) => n.endsWith('.log')).sort().map((n) => path.join(dir, 'wal', n));
}

function batchEnds(bytes: Buffer): number[] {
  const ends: number[] = [];
  for (let p = 0; p < bytes.byteLength; p += readU32(bytes, p)) ends.push(p + readU32(bytes, p));
  return ends;
}

/** The directory as if its writer died: the newest segment is trusted only up to `position`. */
async function forgetCheckpoint(dir: string, position: number): Promise<void> {
  const checkpoint = (await readCheckpoint(files, dir))!;
  writeFileSync(path.join(dir, 'checkpoint'), encodeCheckpoint({ ...checkpoint, position, clean: false }));
}

describe('wal opaque batches', () => {
  it('wal opaque - bodies round-trip byte for byte through append, close, reopen, heads and readBodiesInto; records and opaque batches keep their own readers', async () => {
    const dir = tempDir();
    const wal = await Wal.open(dir, { retentionCheckIntervalMs: 0 });
    const log = await wal.openLog('queue:o', { kind: 'queue' });
    const a = blob(1, 333);
    const b = blob(2, 10);
    const c = blob(3, 4000);
    expect(await log.appendOpaque(a, 3, 1_000)).toEqual({ baseOffset: 0, lastOffset: 2 });
    expect(await log.append([{ ...text('record'), timestampMs: 1_800 }])).toEqual({ baseOffset: 3, lastOffset: 3 });
    expect(await log.appendOpaque(b, 1, 2_000)).toEqual({ baseOffset: 4, lastOffset: 4 });
    expect(await log.appendOpaque(c, 5, 3_000)).toEqual({ baseOffset: 5, lastOffset: 9 });
    expect(log.nextOffset).toBe(10);
    await wal.close();

    const reopened = await Wal.open(dir, { retentionCheckIntervalMs: 0 });
    const again = await reopened.openLog('queue:o', { kind: 'queue' });
    expect(again.nextOffset).toBe(10);
    const got = await heads(again, { headBytes: 16 });
    expect(got).toEqual([
      { baseOffset: 0, count: 3, bodyBytes: 333, timestampMs: 1_000, head: a.slice(0, 16), acked: [] },
      { baseOffset: 4, count: 1, bodyBytes: 10, timestampMs: 2_000, head: b.slice(), acked: [] },
      { baseOffset: 5, count: 5, bodyBytes: 4000, timestampMs: 3_000, head: c.slice(0, 16), acked: [] },
    ]);
    // From inside a batch: that batch first.
    expect((await heads(again, { fromOffset: 7, headBytes: 0 })).map((h) => [h.baseOffset, h.head.byteLength])).toEqual([[5, 0]]);
    // Record replay sees the record only; time lookups find opaque batches too.
    expect(await values(again.replay())).toEqual(['record']);
    expect(await again.offsetForTimestamp(1_500)).toBe(3);
    expect(await again.offsetForTimestamp(2_500)).toBe(5);

    // Bodies back, 8-aligned from an unaligned address, byte for byte.
    const target = new Uint8Array(8192).fill(0xee);
    const read = await again.readBodiesInto(0, target, 3, 8000);
    expect(read.next).toBe(-1);
    expect(read.batches).toEqual([
      { baseOffset: 0, count: 3, at: 8, length: 333 },
      { baseOffset: 4, count: 1, at: 344, length: 10 },
      { baseOffset: 5, count: 5, at: 360, length: 4000 },
    ]);
    for (const [batch, body] of read.batches.map((batch, i) => [batch, [a, b, c][i]!] as const)) {
      expect(batch.at % 8).toBe(0);
      expect(target.subarray(batch.at, batch.at + batch.length)).toEqual(body);
    }
    expect(target[3]).toBe(0xee); // nothing written before the first aligned body

    // inspect counts messages and body bytes without decoding bodies.
    const report = await inspectDataDir(files, dir, 'queue:o');
    expect(report.logs[0]).toMatchObject({ records: 10, opaqueBatches: 3, opaqueMessages: 9, opaqueBytes: 333 + 10 + 4000, ackBatches: 0 });
    await reopened.close();
  });

  it('wal opaque - readBodiesInto copies as many bodies as fit, says where to go on, and refuses a region too small for the first', async () => {
    const wal = await Wal.open(tempDir(), { retentionCheckIntervalMs: 0 });
    const log = await wal.openLog('state:o');
    for (let i = 0; i < 4; i++) await log.appendOpaque(blob(10 + i, 100), 2, 5);
    const target = new Uint8Array(1024);
    const first = await log.readBodiesInto(0, target, 0, 250);
    expect(first).toEqual({ batches: [{ baseOffset: 0, count: 2, at: 0, length: 100 }, { baseOffset: 2, count: 2, at: 104, length: 100 }], next: 4 });
    const second = await log.readBodiesInto(first.next, target, 512, 512);
    expect(second).toEqual({ batches: [{ baseOffset: 4, count: 2, at: 512, length: 100 }, { baseOffset: 6, count: 2, at: 616, length: 100 }], next: -1 });
    expect(target.subarray(616, 716)).toEqual(blob(13, 100));
    // From the middle of a batch, that batch; past the end, nothing.
    expect((await log.readBodiesInto(5, target, 0, 1024)).batches.map((b) => b.baseOffset)).toEqual([4, 6]);
    expect(await log.readBodiesInto(8, target, 0, 1024)).toEqual({ batches: [], next: -1 });
    await expect(log.readBodiesInto(0, target, 0, 99)).rejects.toMatchObject({ code: 'BATON_MESSAGE_TOO_LARGE', message: expect.stringContaining('100-byte body') });
    await expect(log.readBodiesInto(0, target, 1000, 100)).rejects.toMatchObject({ code: 'BATON_INVALID_ARGUMENT' });
    await wal.close();
  });

  it('wal opaque - a torn opaque tail after the checkpoint is truncated and the log goes on', async () => {
    const dir = tempDir();
    const wal = await Wal.open(dir);
    const log = await wal.openLog('queue:t', { kind: 'queue' });
    await log.appendOpaque(blob(1, 500), 4, 1);
    await log.appendOpaque(blob(2, 700), 6, 2);
    await wal.close();
    const [segment] = segmentFiles(dir);
    const ends = batchEnds(readFileSync(segment!));
    // The second batch's write was cut in its body; the checkpoint trusts the first only.
    truncateSync(segment!, ends[1]! - 100);
    await forgetCheckpoint(dir, ends[0]!);
    const reopened = await Wal.open(dir);
    expect(reopened.recovery.truncatedBytes).toBe(ends[1]! - 100 - ends[0]!);
    const again = await reopened.openLog('queue:t', { kind: 'queue' });
    expect(again.nextOffset).toBe(4);
    expect(await again.appendOpaque(blob(3, 50), 2, 3)).toEqual({ baseOffset: 4, lastOffset: 5 });
    const target = new Uint8Array(1024);
    const read = await again.readBodiesInto(0, target, 0, 1024);
    expect(read.batches.map((b) => [b.baseOffset, b.count, b.length])).toEqual([[0, 4, 500], [4, 2, 50]]);
    expect(target.subarray(0, 500)).toEqual(blob(1, 500));
    await reopened.close();
  });

  it('wal opaque - a bit flip in an opaque body fails the open in a sealed segment, and a read of it otherwise', async () => {
    const dir = tempDir();
    const wal = await Wal.open(dir, { segmentBytesMax: 4096 });
    const log = await wal.openLog('queue:s', { kind: 'queue' });
    for (let i = 0; i < 30; i++) await log.appendOpaque(blob(i, 400), 3, i);
    await wal.close();
    const segments = segmentFiles(dir);
    expect(segments.length).toBeGreaterThan(2);
    const sealed = segments[1]!;
    const bytes = readFileSync(sealed);
    const ends = batchEnds(bytes);
    bytes[ends[1]! + 200]! ^= 0x04; // inside the third batch's body
    writeFileSync(sealed, bytes);
    await expect(Wal.open(dir)).rejects.toMatchObject({ code: 'BATON_CORRUPT_LOG', message: expect.stringContaining(`${sealed} at byte offset ${ends[1]}`) });

    // Read time: the batch was sound at open and changed on disk since.
    const dir2 = tempDir();
    const wal2 = await Wal.open(dir2);
    const log2 = await wal2.openLog('queue:r', { kind: 'queue' });
    await log2.appendOpaque(blob(7, 300), 2, 1);
    const [segment] = segmentFiles(dir2);
    const written = readFileSync(segment!);
    written[written.byteLength - 5]! ^= 0x80;
    writeFileSync(segment!, written);
    await expect(log2.readBodiesInto(0, new Uint8Array(1024), 0, 1024)).rejects.toMatchObject({ code: 'BATON_CORRUPT_LOG', message: expect.stringContaining(`${segment} at byte offset 0`) });
    await wal2.close();
  });

  it('wal opaque - bad opaque appends and reads are typed errors; an opaque batch is neither decoded nor re-appended as records', async () => {
    const wal = await Wal.open(tempDir(), { batchBytesMax: 1024 });
    const log = await wal.openLog('queue:e', { kind: 'queue' });
    await expect(log.appendOpaque(new Uint8Array(0), 1, 0)).rejects.toMatchObject({ code: 'BATON_INVALID_ARGUMENT' });
    await expect(log.appendOpaque(blob(1, 10), 0, 0)).rejects.toMatchObject({ code: 'BATON_INVALID_ARGUMENT' });
    await expect(log.appendOpaque(blob(1, 10), 1.5, 0)).rejects.toMatchObject({ code: 'BATON_INVALID_ARGUMENT' });
    await expect(log.appendOpaque(blob(1, 10), 1, -1)).rejects.toMatchObject({ code: 'BATON_INVALID_ARGUMENT' });
    await expect(log.appendOpaque(blob(1, 2000), 1, 0)).rejects.toMatchObject({ code: 'BATON_MESSAGE_TOO_LARGE' });
    const compacted = await wal.openLog('topic:c/0', { kind: 'topic', compact: true });
    await expect(compacted.appendOpaque(blob(1, 10), 1, 0)).rejects.toMatchObject({ code: 'BATON_INVALID_ARGUMENT', message: expect.stringContaining('compacted') });
    await expect(heads(log, { headBytes: -1 })).rejects.toMatchObject({ code: 'BATON_INVALID_ARGUMENT' });

    const name = Buffer.from('queue:e');
    const batch = Buffer.alloc(opaqueBatchBytes(name, 10));
    encodeOpaqueBatch(batch, 0, { attributes: BATCH_ATTR_OPAQUE, baseLsn: 0, logBaseOffset: 0, writerEpoch: 0, logName: name, checksum: false }, blob(1, 10), 1, 0);
    await expect(log.appendEncoded(batch)).rejects.toMatchObject({ code: 'BATON_INVALID_ARGUMENT' });
    expect(() => decodeRecords(batch, 0, readBatchHeader(batch, 0))).toThrow(/opaque/);
    await wal.close();
  });

  it('wal opaque - every single-bit flip of an opaque batch is detected, and the header says what was encoded (property)', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 1, maxLength: 200 }),
        fc.integer({ min: 1, max: 1 << 20 }),
        fc.integer({ min: 0, max: 2 ** 45 }),
        fc.integer({ min: 0, max: 2 ** 40 }),
        (body, count, timestampMs, logBaseOffset) => {
          const name = Buffer.from('queue:p');
          const buf = Buffer.alloc(opaqueBatchBytes(name, body.byteLength));
          encodeOpaqueBatch(buf, 0, { attributes: BATCH_ATTR_OPAQUE, baseLsn: logBaseOffset + 7, logBaseOffset, writerEpoch: 3, logName: name }, body, count, timestampMs);
          expect(checkBatch(buf, 0, buf.byteLength, 1 << 24)).toEqual({ ok: true, batchLength: buf.byteLength });
          const header = readBatchHeader(buf, 0);
          expect(header).toMatchObject({ recordCount: count, lastOffsetDelta: count - 1, firstTimestampMs: timestampMs, maxTimestampMs: timestampMs, logBaseOffset, logName: 'queue:p' });
          expect(buf.subarray(batchBodyStart(name.byteLength))).toEqual(Buffer.from(body));
          for (let bit = 0; bit < buf.byteLength * 8; bit++) {
            buf[bit >> 3]! ^= 1 << (bit & 7);
            expect(checkBatch(buf, 0, buf.byteLength, 1 << 24).ok, `bit ${bit} flipped and not detected`).toBe(false);
            buf[bit >> 3]! ^= 1 << (bit & 7);
          }
        },
      ),
      { numRuns: 40 },
    );
  });

  it('wal opaque - any sequence of opaque and record appends recovers exactly: offsets, heads, bodies, records (property)', async () => {
    const op = fc.oneof(
      fc.record({ kind: fc.constant('opaque' as const), body: fc.uint8Array({ minLength: 1, maxLength: 600 }), count: fc.integer({ min: 1, max: 50 }), timestampMs: fc.integer({ min: 0, max: 2 ** 40 }) }),
      fc.record({ kind: fc.constant('record' as const), value: fc.string({ maxLength: 20 }) }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 25 }), async (ops) => {
        const layer = new MemoryFileLayer();
        const options = { files: layer, lock: false, segmentBytesMax: 4096, retentionCheckIntervalMs: 0 } as const;
        const wal = await Wal.open('/p', options);
        const log = await wal.openLog('queue:p', { kind: 'queue' });
        const expected: Array<{ baseOffset: number; body: Uint8Array; count: number; timestampMs: number }> = [];
        const records: string[] = [];
        let offset = 0;
        for (const o of ops) {
          if (o.kind === 'opaque') {
            expect(await log.appendOpaque(o.body, o.count, o.timestampMs)).toEqual({ baseOffset: offset, lastOffset: offset + o.count - 1 });
            expected.push({ baseOffset: offset, body: o.body, count: o.count, timestampMs: o.timestampMs });
            offset += o.count;
          } else {
            await log.append([text(o.value)]);
            records.push(o.value);
            offset += 1;
          }
        }
        await wal.close();
        const reopened = await Wal.open('/p', options);
        const again = await reopened.openLog('queue:p', { kind: 'queue' });
        expect(again.nextOffset).toBe(offset);
        expect(await heads(again, { headBytes: 8 })).toEqual(
          expected.map((e) => ({ baseOffset: e.baseOffset, count: e.count, bodyBytes: e.body.byteLength, timestampMs: e.timestampMs, head: e.body.slice(0, 8), acked: [] })),
        );
        const target = new Uint8Array(64 * 1024);
        const read = await again.readBodiesInto(0, target, 0, target.byteLength);
        expect(read.next).toBe(-1);
        expect(read.batches.map((b) => target.slice(b.at, b.at + b.length))).toEqual(expected.map((e) => e.body));
        expect(await values(again.replay())).toEqual(records);
        await reopened.close();
      }),
      { numRuns: 30 },
    );
  });
});
