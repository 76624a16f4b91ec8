/**
 * Child process of the WAL crash tests (test/wal/wal-crash.test.ts, `npm run soak`): it opens a
 * data directory, and appends from several logs at once, forever, until its parent kills it
 * with SIGKILL.
 *
 * Each log `writer-<w>` holds the sequence `w:0`, `w:1`, ... (padded to a random length). On
 * start the child replays each log to find where its sequence stopped, then continues it. Every
 * confirmed append is reported on stdout as `C <w> <lastSeq>` — stdout to a pipe is synchronous
 * on Linux, so once the parent reads a line, that confirm happened.
 *
 * argv: dataDir fsync writers seed segmentBytesMax
 */
import { Wal } from '../../src/wal/wal.js';
import type { FsyncPolicy } from '../../src/wal/wal-writer.js';
import { makeRandom } from '../prng.js';

const [dataDir, fsync, writersArg, seedArg, segmentArg] = process.argv.slice(2);
if (dataDir === undefined || fsync === undefined) {
  process.stderr.write('usage: wal-crash-child dataDir fsync writers seed segmentBytesMax\n');
  process.exit(2);
}
const writers = Number(writersArg ?? 3);
const random = makeRandom(Number(seedArg ?? 1));

const wal = await Wal.open(dataDir, { fsync: fsync as FsyncPolicy, fsyncIntervalMs: 5, segmentBytesMax: Number(segmentArg ?? 256 * 1024) });
process.stdout.write('READY\n');

async function writer(w: number): Promise<void> {
  const log = await wal.openLog(`writer-${w}`);
  let next = 0;
  for await (const record of log.replay()) {
    void record;
    next += 1;
  }
  // Two appends in flight per writer: group commit gathers them, and their order must hold.
  const inFlight: Array<{ confirmed: Promise<unknown>; lastSeq: number }> = [];
  for (;;) {
    const count = 1 + Math.floor(random() * 20);
    const records = [];
    for (let i = 0; i < count; i++) {
      const value = `${w}:${next + i}:`.padEnd(8 + Math.floor(random() * 120), '.');
      records.push({ value: Buffer.from(value) });
    }
    next += count;
    inFlight.push({ confirmed: log.append(records), lastSeq: next - 1 });
    if (inFlight.length >= 2) {
      const oldest = inFlight.shift()!;
      await oldest.confirmed;
      process.stdout.write(`C ${w} ${oldest.lastSeq}\n`);
    }
  }
}

await Promise.all(Array.from({ length: writers }, (_, w) => writer(w)));
