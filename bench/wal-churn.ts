/**
 * The churn row of `baton bench wal`: does the data directory stay flat while traffic flows?
 *
 * A queue log takes 256 B messages in appends of 256 under `fsync: 'always'`, 4 appends in
 * flight, each acknowledged once confirmed (a queue consumed as fast as it fills), beside what used to pin
 * every segment of a shared WAL: a topic kept forever holding two records, a state log with a
 * snapshot and a record after it, and one message never acknowledged. `maintain()` runs every
 * 1/20 of the traffic, as the storage thread's timer would. Reported: the bytes appended, the
 * directory's size after each pass (largest after the first two, and last), and the throughput
 * with the passes included.
 */
import { readdirSync, rmSync, statSync } from 'node:fs';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Wal } from '../src/wal/wal.js';
import type { BenchResult, SuiteOptions } from './report.js';

const BODY_BYTES = 256;
const PER_APPEND = 256;
const SEGMENT_BYTES = 1 << 20;
const PASSES = 20;
const IN_FLIGHT = 4;

function directoryBytes(dir: string): number {
  let sum = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    sum += entry.isDirectory() ? directoryBytes(full) : statSync(full).size;
  }
  return sum;
}

export async function churnRow(options: SuiteOptions): Promise<BenchResult> {
  const messages = options.quick ? 100_000 : 1_000_000;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'baton-bench-churn-'));
  const wal = await Wal.open(dir, { segmentBytesMax: SEGMENT_BYTES, retentionCheckIntervalMs: 0 });
  try {
    const queue = await wal.openLog('queue:work', { kind: 'queue' });
    const topic = await wal.openLog('topic:forever/0', { kind: 'topic' });
    const state = await wal.openLog('exchange:x', { kind: 'state' });
    await topic.append([{ value: Buffer.from('kept 0') }, { value: Buffer.from('kept 1') }]);
    await state.append([{ value: Buffer.from('bind a') }]);
    await state.writeSnapshot({ offset: 1, state: Buffer.from('a') });
    await state.append([{ value: Buffer.from('bind b') }]);
    const old = await queue.append([{ value: Buffer.alloc(BODY_BYTES, 1) }]);

    const body = Buffer.alloc(BODY_BYTES, 7);
    const records = Array.from({ length: PER_APPEND }, () => ({ value: body }));
    const sizes: number[] = [];
    const every = messages / PASSES;
    const started = performance.now();
    const acks: Promise<unknown>[] = [];
    const inFlight = new Set<Promise<unknown>>();
    for (let sent = 0; sent < messages; sent += PER_APPEND) {
      const appended: Promise<unknown> = queue.append(records).then(({ baseOffset, lastOffset }) => {
        acks.push(queue.acknowledgeRanges!([baseOffset, lastOffset + 1]));
      });
      inFlight.add(appended);
      void appended.finally(() => inFlight.delete(appended));
      if (inFlight.size >= IN_FLIGHT) await Promise.race(inFlight);
      if (Math.floor((sent + PER_APPEND) / every) > Math.floor(sent / every)) {
        await Promise.all(inFlight);
        await Promise.all(acks.splice(0));
        await wal.maintain();
        sizes.push(directoryBytes(dir));
      }
    }
    const seconds = (performance.now() - started) / 1000;
    // The consumer's check: exactly the old message is left, and the topic kept its records.
    let left = 0;
    for await (const record of queue.replay()) {
      if (record.offset !== old.baseOffset) throw new Error(`churn: offset ${record.offset} is still unacknowledged`);
      left++;
    }
    let kept = 0;
    for await (const _ of topic.replay()) kept++;
    if (left !== 1 || kept !== 2) throw new Error(`churn: ${left} unacknowledged message(s) and ${kept} topic record(s) left, not 1 and 2`);
    const appended = messages * BODY_BYTES;
    const steady = sizes.slice(2);
    return {
      name: `churn: queue consumed as it fills beside a forever topic, a state log and an old unacked message, ${BODY_BYTES} B, 1 MiB segments`,
      messages,
      msgsPerSec: messages / seconds,
      mbPerSec: appended / 1e6 / seconds,
      p50Us: null,
      p99Us: null,
      extra: {
        payloadMbAppended: appended / 1e6,
        dataDirMbMaxAfterTwoPasses: Math.max(...steady) / 1e6,
        dataDirMbLast: sizes[sizes.length - 1]! / 1e6,
        dataDirMbByPass: sizes.map((s) => (s / 1e6).toFixed(2)).join(' '),
      },
    };
  } finally {
    await wal.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
