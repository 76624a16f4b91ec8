// Proves the recovery rules on real files: a log cut at every byte offset recovers exactly the
// longest prefix of whole batches; a torn or zeroed tail after the checkpoint is truncated (and
// the log goes on); corruption before the checkpoint, in a sealed segment, or a truncated sealed
// file fails loudly with the file and byte offset, every time it is opened; index files are
// rebuilt, never trusted; interrupted-operation leftovers are removed; progress is reported.
import { existsSync, readdirSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { encodeCheckpoint, readCheckpoint } from '../../src/wal/checkpoint.js';
import { NodeFileLayer } from '../../src/wal/file-layer.js';
import { readU32 } from '../../src/wal/byte-codec.js';
import { Wal } from '../../src/wal/wal.js';
import { tempDir, text, values } from './helpers.js';

const files = new NodeFileLayer();

function segmentFiles(dir: string): string[] {
  return readdirSync(path.join(dir, 'wal')).filter((n) => n.endsWith('.log')).sort().map((n) => path.join(dir, 'wal', n));
}

/** Makes the directory look as if its writer died: the newest segment is trusted only up to `position`. */
async function forgetCheckpoint(dir: string, position = 0): Promise<void> {
  const checkpoint = (await readCheckpoint(files, dir))!;
  writeFileSync(path.join(dir, 'checkpoint'), encodeCheckpoint({ ...checkpoint, position, clean: false }));
}

/** Batch boundaries of a segment file, by walking the length fields. */
function batchEnds(bytes: Buffer): number[] {
  const ends: number[] = [];
  for (let p = 0; p < bytes.byteLength; p += readU32(bytes, p)) ends.push(p + readU32(bytes, p));
  return ends;
}

describe('wal recovery', () => {
  it('wal recovery - a log cut at every byte offset recovers exactly the longest valid prefix', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.array(fc.string({ minLength: 0, maxLength: 30 }), { minLength: 1, maxLength: 3 }), { minLength: 1, maxLength: 4 }), async (appends) => {
        const source = tempDir('cut-src');
        const wal = await Wal.open(source, { retentionCheckIntervalMs: 0 });
        const log = await wal.openLog('cut');
        for (const batch of appends) await log.append(batch.map((v) => text(v)));
        await wal.close();
        const bytes = readFileSync(segmentFiles(source)[0]!);
        const ends = batchEnds(bytes);
        expect(ends.length).toBe(appends.length);
        const target = tempDir('cut');
        for (let cut = 0; cut <= bytes.byteLength; cut++) {
          const dir = path.join(target, String(cut));
          const walDir = path.join(dir, 'wal');
          await files.mkdir(walDir);
          writeFileSync(path.join(walDir, path.basename(segmentFiles(source)[0]!)), bytes.subarray(0, cut));
          const reopened = await Wal.open(dir, { retentionCheckIntervalMs: 0 });
          const whole = ends.filter((end) => end <= cut).length;
          const got = await values((await reopened.openLog('cut')).replay());
          expect(got, `cut at byte ${cut}`).toEqual(appends.slice(0, whole).flat());
          expect(reopened.recovery.truncatedBytes).toBe(cut - (whole === 0 ? 0 : ends[whole - 1]!));
          await reopened.close();
        }
      }),
      { numRuns: 4 },
    );
  });

  it('wal recovery - a torn tail after the checkpoint is truncated and the log goes on', async () => {
    const dir = tempDir();
    const wal = await Wal.open(dir);
    const log = await wal.openLog('t');
    await log.append([text('a'), text('b')]);
    await wal.close();
    const [segment] = segmentFiles(dir);
    const size = readFileSync(segment!).byteLength;
    await forgetCheckpoint(dir, size);
    // A torn write: the first half of a batch header, then garbage.
    writeFileSync(segment!, Buffer.concat([readFileSync(segment!), Buffer.from([80, 0, 0, 0, 9, 9, 9])]));
    const reopened = await Wal.open(dir);
    expect(reopened.recovery.truncatedBytes).toBe(7);
    expect(reopened.recovery.truncatedAt).toMatchObject({ file: segment, position: size });
    const again = await reopened.openLog('t');
    await again.append([text('c')]);
    expect(await values(again.replay())).toEqual(['a', 'b', 'c']);
    await reopened.close();
    const third = await Wal.open(dir);
    expect(await values((await third.openLog('t')).replay())).toEqual(['a', 'b', 'c']);
    expect(third.recovery.truncatedBytes).toBe(0);
    await third.close();
  });

  it('wal recovery - a zeroed block after the checkpoint is cut off; before it, it is corruption', async () => {
    const dir = tempDir();
    const wal = await Wal.open(dir);
    const log = await wal.openLog('z');
    await log.append([text('one')]);
    await log.append([text('two')]);
    await wal.close();
    const [segment] = segmentFiles(dir);
    const bytes = readFileSync(segment!);
    const [firstEnd] = batchEnds(bytes);
    // Zero the second batch, and trust only the first: a tail whose blocks never reached the disk.
    writeFileSync(segment!, Buffer.concat([bytes.subarray(0, firstEnd), Buffer.alloc(bytes.byteLength - firstEnd! + 4096)]));
    await forgetCheckpoint(dir, firstEnd);
    const reopened = await Wal.open(dir);
    expect(await values((await reopened.openLog('z')).replay())).toEqual(['one']);
    await reopened.close();

    // The same zeroes inside the trusted region (the clean checkpoint vouches for the whole file).
    const dir2 = tempDir();
    const wal2 = await Wal.open(dir2);
    const log2 = await wal2.openLog('z');
    await log2.append([text('one')]);
    await log2.append([text('two')]);
    await log2.append([text('three')]);
    await wal2.close();
    const [segment2] = segmentFiles(dir2);
    const bytes2 = readFileSync(segment2!);
    const ends2 = batchEnds(bytes2);
    bytes2.fill(0, ends2[0]!, ends2[1]!);
    writeFileSync(segment2!, bytes2);
    await expect(Wal.open(dir2)).rejects.toMatchObject({ code: 'BATON_CORRUPT_LOG', message: expect.stringContaining(`${segment2} at byte offset ${ends2[0]}`) });
  });

  it('wal recovery - a bit flip in a sealed segment fails every open with the file and offset', async () => {
    const dir = tempDir();
    const wal = await Wal.open(dir, { segmentBytesMax: 4096 });
    const log = await wal.openLog('s');
    for (let i = 0; i < 60; i++) await log.append([text(`record-${i}`.padEnd(200, '.'))]);
    await wal.close();
    const segments = segmentFiles(dir);
    expect(segments.length).toBeGreaterThan(2);
    const sealed = segments[1]!;
    const bytes = readFileSync(sealed);
    const ends = batchEnds(bytes);
    const victim = ends[2]! + 70; // inside the fourth batch
    bytes[victim]! ^= 0x10;
    writeFileSync(sealed, bytes);
    for (let attempt = 0; attempt < 2; attempt++) {
      const error = await Wal.open(dir).catch((e: unknown) => e);
      expect(error).toMatchObject({ code: 'BATON_CORRUPT_LOG' });
      expect((error as Error).message).toContain(`${sealed} at byte offset ${ends[2]}`);
    }
    // Nothing was truncated or deleted to "repair" it.
    expect(readFileSync(sealed).byteLength).toBe(bytes.byteLength);
    expect(segmentFiles(dir)).toEqual(segments);
  });

  it('wal recovery - a sealed segment cut short is corruption, not a torn tail', async () => {
    const dir = tempDir();
    const wal = await Wal.open(dir, { segmentBytesMax: 4096 });
    const log = await wal.openLog('s');
    for (let i = 0; i < 40; i++) await log.append([text(`r${i}`.padEnd(300, '.'))]);
    await wal.close();
    const [first] = segmentFiles(dir);
    const size = readFileSync(first!).byteLength;
    truncateSync(first!, size - 100);
    await expect(Wal.open(dir)).rejects.toMatchObject({ code: 'BATON_CORRUPT_LOG', message: expect.stringContaining(first!) });
  });

  it('wal recovery - the newest segment cut below its checkpoint is corruption', async () => {
    const dir = tempDir();
    const wal = await Wal.open(dir);
    const log = await wal.openLog('s');
    await log.append([text('a'), text('b')]);
    await log.append([text('c')]);
    await wal.close();
    const [segment] = segmentFiles(dir);
    const ends = batchEnds(readFileSync(segment!));
    truncateSync(segment!, ends[0]!);
    await expect(Wal.open(dir)).rejects.toMatchObject({ code: 'BATON_CORRUPT_LOG', message: expect.stringMatching(/truncated/) });
  });

  it('wal recovery - corruption read back at replay time is reported, not served', async () => {
    const dir = tempDir();
    const wal = await Wal.open(dir);
    const log = await wal.openLog('r');
    await log.append([text('x'.repeat(100))]);
    const [segment] = segmentFiles(dir);
    const bytes = readFileSync(segment!);
    bytes[80]! ^= 1;
    writeFileSync(segment!, bytes);
    await expect(values(log.replay())).rejects.toMatchObject({ code: 'BATON_CORRUPT_LOG', message: expect.stringContaining(`${segment} at byte offset 0`) });
    await wal.close();
  });

  it('wal recovery - index files are rebuilt from the data, never trusted', async () => {
    const dir = tempDir();
    const wal = await Wal.open(dir, { segmentBytesMax: 8192, indexIntervalBytes: 512 });
    const log = await wal.openLog('i');
    for (let i = 0; i < 80; i++) await log.append([text(`v${i}`.padEnd(150, '.'))]);
    await wal.close();
    const index = segmentFiles(dir)[0]!.replace(/\.log$/, '.index');
    const good = readFileSync(index);
    expect(good.byteLength).toBeGreaterThan(8);
    writeFileSync(index, Buffer.alloc(good.byteLength, 0xff)); // lies about every position
    const timeIndex = index.replace(/\.index$/, '.timeindex');
    writeFileSync(timeIndex, Buffer.alloc(0));
    const reopened = await Wal.open(dir, { indexIntervalBytes: 512 });
    expect(reopened.recovery.indexFilesRewritten).toBe(2);
    expect(readFileSync(index)).toEqual(good);
    const got = await values((await reopened.openLog('i')).replay({ fromOffset: 50 }));
    expect(got[0]).toBe('v50'.padEnd(150, '.'));
    expect(got.length).toBe(30);
    await reopened.close();
  });

  it('wal recovery - leftovers of interrupted writes are removed and progress is reported', async () => {
    const dir = tempDir();
    const wal = await Wal.open(dir);
    await (await wal.openLog('p')).append([text('a')]);
    await wal.close();
    const [segment] = segmentFiles(dir);
    writeFileSync(`${segment}.cleaned`, 'half a compaction');
    writeFileSync(path.join(dir, 'checkpoint.tmp'), 'half a checkpoint');
    const progress: number[] = [];
    const reopened = await Wal.open(dir, { onRecoveryProgress: (p) => progress.push(p.bytesScanned) });
    expect(existsSync(`${segment}.cleaned`)).toBe(false);
    expect(progress.length).toBeGreaterThan(0);
    expect(progress[progress.length - 1]).toBe(readFileSync(segment!).byteLength);
    expect(reopened.recovery.mbPerSec).toBeGreaterThan(0);
    await reopened.close();
  });

  it('wal recovery - a damaged checkpoint fails the open with its file named', async () => {
    const dir = tempDir();
    const wal = await Wal.open(dir);
    await (await wal.openLog('c')).append([text('a')]);
    await wal.close();
    const file = path.join(dir, 'checkpoint');
    const bytes = readFileSync(file);
    bytes[10]! ^= 4;
    writeFileSync(file, bytes);
    await expect(Wal.open(dir)).rejects.toMatchObject({ code: 'BATON_CORRUPT_LOG', message: expect.stringContaining(file) });
  });
});
