// Proves that the storage thread compacts and trims topic logs by itself (every
// compactionIntervalMs), memory-only and on a dataDir, from the public entry with real threads:
// - compaction: a reader from earliest sees, for every key, its newest value; every record it
//   sees is the one sent at that offset (offsets kept, gaps allowed), in offset order; no record
//   of the segment being written is removed (checked against the segment files on a dataDir);
// - retention: the oldest segments go, a reader from earliest starts at the new start offset,
//   and the newest records are all there;
// - the two options are validated (BATON_INVALID_ARGUMENT).
// Compaction is observed by polling fresh readers (with a deadline), never by timing assertions.
import { describe, expect, it } from 'vitest';
import { brokerScope } from '../support/broker-scope.js';
import { Broker, type Topic, type TopicMessage } from 'baton';
import { Wal } from '../../src/wal/wal.js';

const SEGMENT_BYTES = 4096;
const INTERVAL_MS = 100;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const scope = brokerScope();
let broker: Broker | null = null;
let dataDir: string | null = null;


interface Sent {
  key: string;
  seq: number;
}

/** A fresh reader from earliest, until it has read `lastOffset`; the records it saw. */
async function readAll(topic: Topic, lastOffset: number): Promise<TopicMessage[]> {
  const seen: TopicMessage[] = [];
  let done!: () => void;
  const finished = new Promise<void>((resolve) => (done = resolve));
  const sub = topic.subscribe({ from: 'earliest' }, (m) => {
    seen.push(m);
    if (m.offset >= lastOffset) done();
  });
  const timeout = sleep(10_000).then(() => {
    throw new Error(`a reader from earliest did not reach offset ${lastOffset} (saw ${seen.length})`);
  });
  try {
    await Promise.race([finished, timeout]);
  } finally {
    await sub.close();
  }
  return seen;
}

async function until<T>(probe: () => Promise<T>, ok: (value: T) => boolean, what: string, timeoutMs = 8_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (ok(value)) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(INTERVAL_MS);
  }
}

const body = (key: string, seq: number) => ({ key, seq, pad: 'x'.repeat(40) });

async function start(mode: 'memory' | 'dataDir'): Promise<Broker> {
  if (mode === 'dataDir') dataDir = await scope.tempDir('compaction');
  broker = await scope.start({
    workers: 1,
    segmentBytesMax: SEGMENT_BYTES,
    compactionIntervalMs: INTERVAL_MS,
    ...(dataDir === null ? {} : { dataDir, fsync: 'never' as const }),
  });
  return broker;
}

/** Sends items in batches, returning what was sent at each offset (one partition). */
async function sendAll(topic: Topic, items: Sent[], batch: number, sent: Map<number, Sent>): Promise<number[]> {
  const offsets: number[] = [];
  for (let i = 0; i < items.length; i += batch) {
    const slice = items.slice(i, i + batch);
    const results = await topic.sendBatch(slice.map((s) => ({ key: s.key, body: body(s.key, s.seq) })));
    results.forEach((r, j) => {
      expect(r.partition).toBe(0);
      sent.set(r.offset, slice[j]!);
      offsets.push(r.offset);
    });
  }
  return offsets;
}

describe.each(['memory', 'dataDir'] as const)('topic compaction and retention (%s)', (mode) => {
  it(`topic compaction (${mode}) - the storage thread compacts sealed segments by itself: newest value per key, offsets kept, the segment being written untouched`, async () => {
    const b = await start(mode);
    const t = await b.topic('changelog', { partitions: 1, compact: true });
    const sent = new Map<number, Sent>();
    // Cold keys: written a few times, then never again (their newest values end up in sealed segments).
    const cold: Sent[] = [];
    for (let round = 0; round < 5; round++) for (let k = 0; k < 8; k++) cold.push({ key: `cold-${k}`, seq: round });
    await sendAll(t, cold, 8, sent);
    // Hot keys: many writes, sealing many segments; the last batch (30 records) is in the segment being written.
    const hot: Sent[] = Array.from({ length: 400 }, (_, i) => ({ key: `hot-${i % 3}`, seq: i }));
    await sendAll(t, hot.slice(0, 370), 10, sent);
    const finalOffsets = await sendAll(t, hot.slice(370), 30, sent);
    const total = sent.size;
    const last = total - 1;
    expect([...sent.keys()]).toEqual(Array.from({ length: total }, (_, i) => i));

    const newest = new Map<string, number>();
    for (const [offset, s] of sent) newest.set(s.key, offset);
    /** Start of the longest run of consecutive offsets ending at `last` that the reader saw. */
    const suffixStart = (read: TopicMessage[]) => {
      let t0 = last + 1;
      for (let i = read.length - 1; i >= 0 && read[i]!.offset === t0 - 1; i--) t0 = read[i]!.offset;
      return t0;
    };
    // A record's encoding is larger than its JSON body: a segment holds fewer records than this.
    const perSegmentMax = Math.floor(SEGMENT_BYTES / JSON.stringify(body('hot-0', 100)).length);
    // Compacted once after the last append: below the untouched tail every record is its key's
    // newest, and the tail is no longer than one segment.
    let tailStart = last + 1;
    const read = await until(
      () => readAll(t, last),
      (r) => {
        const t0 = suffixStart(r);
        tailStart = t0;
        return r.length < total && last + 1 - t0 <= perSegmentMax && r.every((m) => m.offset >= t0 || newest.get(m.key as string) === m.offset);
      },
      'compaction of every sealed segment',
    );

    // Record by record: in offset order, each exactly what was sent at that offset.
    for (let i = 1; i < read.length; i++) expect(read[i]!.offset).toBeGreaterThan(read[i - 1]!.offset);
    for (const m of read) {
      const s = sent.get(m.offset)!;
      expect(m.key).toBe(s.key);
      expect(m.body).toEqual(body(s.key, s.seq));
    }
    // Every key's newest value is there (cold ones from sealed segments, hot ones from the tail).
    const byOffset = new Map(read.map((m) => [m.offset, m]));
    for (const [key, offset] of newest) expect(byOffset.get(offset)?.key, `newest of ${key}`).toBe(key);
    // No older value of a cold key survived; the last batch (in the segment being written) is whole,
    // superseded hot values included.
    for (const m of read) if ((m.key as string).startsWith('cold-')) expect(m.offset).toBe(newest.get(m.key as string));
    for (const offset of finalOffsets) expect(byOffset.has(offset), `offset ${offset} of the last batch`).toBe(true);
    expect(read.length).toBeLessThan(total);
    // The partition still takes appends after compaction, at the next offset.
    expect((await t.send(body('hot-0', 999), { key: 'hot-0' })).offset).toBe(total);

    if (mode === 'dataDir') {
      // Against the segment files: the segment being written has every offset it spans; the
      // sealed ones only the newest record of each key.
      await b.close();
      broker = null;
      const wal = await Wal.open(dataDir!, { retentionCheckIntervalMs: 0 });
      try {
        // Sealed segments compacted down to nothing were deleted: at least one sealed one and the
        // segment being written remain.
        const segments = wal.segments();
        expect(segments.length).toBeGreaterThanOrEqual(2);
        const active = segments[segments.length - 1]!.logs.get('topic:changelog/0')!;
        const reread = await readLog(wal, 'topic:changelog/0');
        for (let o = active.firstOffset; o <= active.lastOffset; o++) expect(reread.has(o), `active offset ${o}`).toBe(true);
        const finalNewest = new Map(newest);
        finalNewest.set('hot-0', total);
        // The tail seen above may have been sealed since (the append at `total` can start a new
        // segment) and not compacted before the close: only segments sealed before it are checked.
        const sealedBefore = Math.min(active.firstOffset, tailStart);
        for (const [offset, key] of reread) if (offset < sealedBefore) expect(finalNewest.get(key), `sealed offset ${offset}`).toBe(offset);
      } finally {
        await wal.close();
      }
    }
  });

  it(`topic retention (${mode}) - the storage thread deletes the oldest segments past retentionBytes; a reader from earliest starts at the new start and sees the newest records`, async () => {
    const b = await start(mode);
    const t = await b.topic('metrics', { partitions: 1, retentionBytes: 3 * SEGMENT_BYTES });
    const sent = new Map<number, Sent>();
    await sendAll(t, Array.from({ length: 400 }, (_, i) => ({ key: `k${i % 7}`, seq: i })), 10, sent);
    const last = sent.size - 1;
    const offsets = await until(() => t.offsets(0), (o) => o.start > 0, 'retention to delete segments');
    expect(offsets.next).toBe(last + 1);
    const read = await readAll(t, last);
    // Whole segments go, oldest first: what is left is a contiguous run up to the newest record.
    expect(read[0]!.offset).toBeGreaterThanOrEqual(offsets.start);
    expect(read.map((m) => m.offset)).toEqual(Array.from({ length: last + 1 - read[0]!.offset }, (_, i) => read[0]!.offset + i));
    for (const m of read) expect(m.body).toEqual(body(sent.get(m.offset)!.key, sent.get(m.offset)!.seq));
    // At least retentionBytes stay: more than two segments' worth of the newest records.
    expect(read.length).toBeGreaterThan((2 * SEGMENT_BYTES) / (JSON.stringify(body('k0', 400)).length + 200));
    expect(read.length).toBeLessThan(sent.size);
  });
});

describe('topic compaction options', () => {
  it('topic compaction - compactionIntervalMs and segmentBytesMax are validated (BATON_INVALID_ARGUMENT); 0 turns the passes off', async () => {
    for (const bad of [{ compactionIntervalMs: -1 }, { compactionIntervalMs: 1.5 }, { compactionIntervalMs: '5' }, { segmentBytesMax: 100 }, { segmentBytesMax: 2 ** 33 }, { segmentBytesMax: NaN }]) {
      await expect(Broker.start({ workers: 1, ...(bad as object) })).rejects.toMatchObject({ code: 'BATON_INVALID_ARGUMENT' });
    }
    broker = await scope.start({ workers: 1, compactionIntervalMs: 0, segmentBytesMax: SEGMENT_BYTES });
    const t = await broker.topic('kept', { partitions: 1, compact: true });
    const sent = new Map<number, Sent>();
    await sendAll(t, Array.from({ length: 200 }, (_, i) => ({ key: `k${i % 2}`, seq: i })), 10, sent);
    await sleep(3 * INTERVAL_MS);
    expect((await readAll(t, 199)).length).toBe(200);
  });
});

/** Every record of a log in a WAL: offset -> key. */
async function readLog(wal: Wal, name: string): Promise<Map<number, string>> {
  const log = await wal.openLog(name, { kind: 'topic', compact: true });
  const out = new Map<number, string>();
  for await (const record of log.replay()) out.set(record.offset, Buffer.from(record.key!).toString('utf8'));
  return out;
}
