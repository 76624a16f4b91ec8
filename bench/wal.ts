/**
 * `baton bench wal`: the write-ahead log against the disk's own ceilings, measured in the same
 * run (the disk is a shared, noisy VM disk: only same-run ratios mean much).
 *
 * Rows:
 * - raw ceilings: a `writeSync` loop of 1 MiB chunks (write bandwidth, no sync); a loop of
 *   `writeSync` 4 KiB + `fdatasync` (syncs per second, the cost of one fsync per message); and
 *   `writeSync` 4 MiB + `fdatasync` (synced bandwidth).
 * - WAL append, 64/256/1024 B payloads, under `always`, `interval` (200 ms) and `never`:
 *   4 writers (actors, each its own log) keep 8 appends of 128 records each in flight, as an
 *   actor that appends each mailbox batch and goes on with the next does. Under `always` every
 *   confirm follows a shared fdatasync: group commit. The writer writes the next round while an
 *   fdatasync runs, so the in-flight appends settle into rounds that alternate (see
 *   `recordsPerRound` and `recordsPerSync`).
 * - WAL append, one record per append, 4 writers x 256 in flight: group commit with no batching
 *   by the caller (the per-append cost).
 * - recovery scan MB/s: opening the largest directory written above (full CRC verification).
 * - churn (wal-churn.ts): a queue consumed as it fills beside logs that keep a little; the data
 *   directory's size after each maintenance pass.
 *
 * msgs/s and MB/s count payload bytes (1 MB = 10^6 B); p50/p99 are append-to-confirm latencies.
 */
import { closeSync, fdatasyncSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import type { RecordInput } from '../src/wal/actor-storage.js';
import { Wal } from '../src/wal/wal.js';
import type { FsyncPolicy } from '../src/wal/wal-writer.js';
import { type BenchResult, median, quantileSorted, type Suite, type SuiteOptions } from './report.js';
import { churnRow } from './wal-churn.js';

const SIZES = [64, 256, 1024] as const;
const POLICIES: FsyncPolicy[] = ['always', 'interval', 'never'];
const WRITERS = 4;

function benchDir(): string {
  return mkdtempSync(path.join(os.tmpdir(), 'baton-bench-wal-'));
}

function rawWriteBandwidth(bytesTotal: number): BenchResult {
  const dir = benchDir();
  try {
    const fd = openSync(path.join(dir, 'raw'), 'w', 0o600);
    const chunk = Buffer.alloc(1 << 20, 7);
    const started = performance.now();
    for (let written = 0; written < bytesTotal; written += chunk.byteLength) writeSync(fd, chunk);
    const seconds = (performance.now() - started) / 1000;
    const syncStarted = performance.now();
    fdatasyncSync(fd);
    const syncSeconds = (performance.now() - syncStarted) / 1000;
    closeSync(fd);
    return {
      name: 'raw writeSync 1 MiB chunks (no sync)',
      messages: bytesTotal / chunk.byteLength,
      msgsPerSec: null,
      mbPerSec: bytesTotal / 1e6 / seconds,
      p50Us: null,
      p99Us: null,
      extra: { mbPerSecWithFinalSync: bytesTotal / 1e6 / (seconds + syncSeconds) },
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function rawSyncLoop(chunkBytes: number, durationMs: number, name: string): BenchResult {
  const dir = benchDir();
  try {
    const fd = openSync(path.join(dir, 'raw'), 'w', 0o600);
    const chunk = Buffer.alloc(chunkBytes, 7);
    const latencies: number[] = [];
    const started = performance.now();
    let now = started;
    while (now - started < durationMs) {
      writeSync(fd, chunk);
      fdatasyncSync(fd);
      const after = performance.now();
      latencies.push((after - now) * 1000);
      now = after;
    }
    closeSync(fd);
    const seconds = (now - started) / 1000;
    latencies.sort((a, b) => a - b);
    return {
      name,
      messages: latencies.length,
      msgsPerSec: latencies.length / seconds,
      mbPerSec: (latencies.length * chunkBytes) / 1e6 / seconds,
      p50Us: quantileSorted(latencies, 0.5),
      p99Us: quantileSorted(latencies, 0.99),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

interface AppendRun {
  seconds: number;
  latenciesUs: number[];
  datasyncs: number;
  rounds: number;
}

/** `writers` logs, each keeping `inFlight` appends of `batch` records outstanding, until `total` records. */
async function appendLoad(wal: Wal, size: number, total: number, batch: number, inFlight: number): Promise<AppendRun> {
  const payload = Buffer.alloc(size, 0x61);
  const records: RecordInput[] = Array.from({ length: batch }, () => ({ value: payload }));
  const logs = await Promise.all(Array.from({ length: WRITERS }, (_, i) => wal.openLog(`bench-${i}`)));
  const perWriter = Math.ceil(total / WRITERS / batch);
  const latenciesUs: number[] = [];
  const before = wal.stats().writer;
  const started = performance.now();
  await Promise.all(
    logs.map(async (log) => {
      let issued = 0;
      const lane = async () => {
        while (issued < perWriter) {
          issued += 1;
          const t0 = performance.now();
          await log.append(records);
          latenciesUs.push((performance.now() - t0) * 1000);
        }
      };
      await Promise.all(Array.from({ length: inFlight }, lane));
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  const after = wal.stats().writer;
  return { seconds, latenciesUs, datasyncs: after.datasyncs - before.datasyncs, rounds: after.rounds - before.rounds };
}

async function walRow(size: number, policy: FsyncPolicy, batch: number, inFlight: number, options: SuiteOptions, keepDir: boolean): Promise<{ result: BenchResult; dir: string }> {
  const bytesTarget = (options.quick ? 32 : 256) * 2 ** 20;
  const total = Math.min(options.quick ? 250_000 : 2_000_000, Math.round(bytesTarget / size));
  const dir = benchDir();
  const wal = await Wal.open(dir, { fsync: policy, retentionCheckIntervalMs: 0 });
  try {
    // Warm-up: the JIT, the staging buffers, the first segment's blocks.
    await appendLoad(wal, size, Math.min(total / 10, 20_000), batch, inFlight);
    const run = await appendLoad(wal, size, total, batch, inFlight);
    const messages = Math.ceil(total / WRITERS / batch) * WRITERS * batch;
    run.latenciesUs.sort((a, b) => a - b);
    return {
      dir,
      result: {
        name: `wal append ${size} B, fsync ${policy}, ${WRITERS} writers x ${inFlight} in flight x ${batch} records`,
        messages,
        msgsPerSec: messages / run.seconds,
        mbPerSec: (messages * size) / 1e6 / run.seconds,
        p50Us: quantileSorted(run.latenciesUs, 0.5),
        p99Us: quantileSorted(run.latenciesUs, 0.99),
        extra: {
          fdatasyncs: run.datasyncs,
          appendsPerSync: run.datasyncs > 0 ? run.latenciesUs.length / run.datasyncs : null,
          recordsPerSync: run.datasyncs > 0 ? messages / run.datasyncs : null,
          rounds: run.rounds,
          // Records per write: about half of those in flight when rounds alternate (pipelining).
          recordsPerRound: run.rounds > 0 ? messages / run.rounds : null,
        },
      },
    };
  } finally {
    await wal.close();
    if (!keepDir) rmSync(dir, { recursive: true, force: true });
  }
}

async function recoveryRow(dir: string): Promise<BenchResult> {
  const rates: number[] = [];
  let bytes = 0;
  for (let i = 0; i < 3; i++) {
    const wal = await Wal.open(dir, { retentionCheckIntervalMs: 0 });
    rates.push(wal.recovery.mbPerSec);
    bytes = wal.recovery.bytesScanned;
    await wal.close();
  }
  return {
    name: `recovery scan (CRC of every batch), ${(bytes / 1e6).toFixed(0)} MB, page cache warm`,
    messages: bytes,
    msgsPerSec: null,
    mbPerSec: median(rates),
    p50Us: null,
    p99Us: null,
  };
}

export const walSuite: Suite = async (options) => {
  const results: BenchResult[] = [];
  options.log('  raw ceilings ...');
  const raw = rawWriteBandwidth((options.quick ? 128 : 1024) * 2 ** 20);
  results.push(raw);
  results.push(rawSyncLoop(4096, options.quick ? 500 : 2000, 'raw writeSync 4 KiB + fdatasync loop (syncs/s)'));
  const rawSynced = rawSyncLoop(4 << 20, options.quick ? 500 : 2000, 'raw writeSync 4 MiB + fdatasync loop');
  results.push(rawSynced);
  let recoveryDir = '';
  for (const size of SIZES) {
    for (const policy of POLICIES) {
      options.log(`  wal ${size} B ${policy} ...`);
      const keep = size === 1024 && policy === 'always';
      const { result, dir } = await walRow(size, policy, 128, 8, options, keep);
      if (keep) recoveryDir = dir;
      result.extra = { ...result.extra, ofRawWriteBandwidth: result.mbPerSec! / raw.mbPerSec!, ofRawSyncedBandwidth: result.mbPerSec! / rawSynced.mbPerSec! };
      results.push(result);
    }
  }
  options.log('  wal single-record appends ...');
  const single = await walRow(256, 'always', 1, 256, options, false);
  results.push(single.result);
  options.log('  recovery ...');
  try {
    results.push(await recoveryRow(recoveryDir));
  } finally {
    rmSync(recoveryDir, { recursive: true, force: true });
  }
  options.log('  churn ...');
  results.push(await churnRow(options));
  return results;
};
