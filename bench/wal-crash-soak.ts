/**
 * The WAL crash harness: run a child process that appends with confirms
 * (bench/workers/wal-crash-child.ts), `kill -9` it at a random moment, open the data directory
 * again, and check that every confirmed record is present, in order, once. Repeat.
 *
 * The vitest suite runs 50+ cycles of it (test/wal/wal-crash.test.ts); `npm run soak` runs this
 * file directly for 1,000+ (`node dist/bench/wal-crash-soak.js --cycles 1000 [--seed N]`).
 *
 * Kill moments vary: mostly while appending (after the child says READY), sometimes during its
 * startup (recovery, tail truncation, checkpoint writing). Fsync policies rotate: a process
 * kill loses nothing the kernel accepted, so even 'never' must keep every confirmed record.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { compiledFileUrl } from '../src/threads/worker-file.js';
import { Wal } from '../src/wal/wal.js';
import { makeRandom } from './prng.js';
import { onLines } from './child-lines.js';

export interface CrashCycleOptions {
  cycles: number;
  seed: number;
  writers?: number;
  segmentBytesMax?: number;
  /** Start from an empty directory every this many cycles (keeps a long soak's log small). */
  freshEvery?: number;
  log?: (line: string) => void;
}

export interface CrashCycleReport {
  cycles: number;
  confirmedAppends: number;
  recordsVerified: number;
  killsDuringStartup: number;
  truncations: number;
}

const POLICIES = ['always', 'interval', 'never'] as const;

interface ChildRun {
  confirms: number;
  confirmed: Map<number, number>;
  killedBeforeReady: boolean;
}

function runChild(dataDir: string, policy: string, writers: number, seed: number, segmentBytesMax: number, killAfterReadyMs: number | null, killAfterSpawnMs: number): Promise<ChildRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [fileURLToPath(compiledFileUrl('bench/workers/wal-crash-child')), dataDir, policy, String(writers), String(seed), String(segmentBytesMax)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const run: ChildRun = { confirms: 0, confirmed: new Map(), killedBeforeReady: false };
    let ready = false;
    let stderr = '';
    let killed = false;
    const kill = () => {
      if (killed) return;
      killed = true;
      if (!ready) run.killedBeforeReady = true;
      process.kill(child.pid!, 'SIGKILL');
    };
    const startupTimer = killAfterReadyMs === null ? setTimeout(kill, killAfterSpawnMs) : null;
    onLines(child.stdout, (line) => {
      if (line === 'READY') {
        ready = true;
        if (killAfterReadyMs !== null) setTimeout(kill, killAfterReadyMs);
      } else if (line.startsWith('C ')) {
        const [, w, seq] = line.split(' ');
        run.confirms += 1;
        run.confirmed.set(Number(w), Math.max(run.confirmed.get(Number(w)) ?? -1, Number(seq)));
      }
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      if (startupTimer !== null) clearTimeout(startupTimer);
      if (signal !== 'SIGKILL') reject(new Error(`crash child exited by itself (code ${code}, signal ${signal}):\n${stderr}`));
      else resolve(run);
    });
  });
}

/** Opens the directory, and checks every writer's log against what was confirmed. */
async function verify(dataDir: string, confirmed: Map<number, number>, writers: number): Promise<{ records: number; truncated: boolean }> {
  const wal = await Wal.open(dataDir, { retentionCheckIntervalMs: 0 });
  let records = 0;
  try {
    for (let w = 0; w < writers; w++) {
      const log = await wal.openLog(`writer-${w}`);
      let expected = 0;
      for await (const record of log.replay()) {
        const value = Buffer.from(record.value!).toString();
        const [writer, seq] = value.split(':');
        // In order and once: exactly the next number of this writer's sequence.
        if (Number(writer) !== w || Number(seq) !== expected || record.offset !== expected) {
          throw new Error(`log writer-${w}: offset ${record.offset} holds "${value.slice(0, 20)}", expected ${w}:${expected}`);
        }
        expected += 1;
      }
      const mustHave = confirmed.get(w) ?? -1;
      if (expected - 1 < mustHave) throw new Error(`log writer-${w}: ends at sequence ${expected - 1}, but ${mustHave} was confirmed`);
      records += expected;
    }
    return { records, truncated: wal.recovery.truncatedBytes > 0 };
  } finally {
    await wal.close();
  }
}

export async function runCrashCycles(options: CrashCycleOptions): Promise<CrashCycleReport> {
  const random = makeRandom(options.seed);
  const writers = options.writers ?? 3;
  const segmentBytesMax = options.segmentBytesMax ?? 128 * 1024;
  const report: CrashCycleReport = { cycles: 0, confirmedAppends: 0, recordsVerified: 0, killsDuringStartup: 0, truncations: 0 };
  let dataDir = '';
  let confirmed = new Map<number, number>();
  try {
    for (let cycle = 0; cycle < options.cycles; cycle++) {
      if (cycle % (options.freshEvery ?? Infinity) === 0) {
        if (dataDir !== '') rmSync(dataDir, { recursive: true, force: true });
        dataDir = mkdtempSync(path.join(os.tmpdir(), 'baton-wal-crash-'));
        confirmed = new Map();
      }
      const policy = POLICIES[Math.floor(random() * POLICIES.length)]!;
      const duringStartup = random() < 0.15;
      const run = await runChild(
        dataDir,
        policy,
        writers,
        Math.floor(random() * 2 ** 31),
        segmentBytesMax,
        duringStartup ? null : 10 + Math.floor(random() * 140),
        Math.floor(random() * 60),
      );
      for (const [w, seq] of run.confirmed) confirmed.set(w, Math.max(confirmed.get(w) ?? -1, seq));
      let verified: { records: number; truncated: boolean };
      try {
        verified = await verify(dataDir, confirmed, writers);
      } catch (error) {
        throw new Error(`crash cycle ${cycle} (seed ${options.seed}, policy ${policy}, dir ${dataDir}): ${(error as Error).message}`, { cause: error });
      }
      report.cycles += 1;
      report.confirmedAppends += run.confirms;
      report.recordsVerified += verified.records;
      if (run.killedBeforeReady) report.killsDuringStartup += 1;
      if (verified.truncated) report.truncations += 1;
      if (options.log !== undefined && (cycle + 1) % 50 === 0) options.log(`cycle ${cycle + 1}: ${JSON.stringify(report)}`);
    }
  } finally {
    if (dataDir !== '') rmSync(dataDir, { recursive: true, force: true });
  }
  return report;
}

// `node dist/bench/wal-crash-soak.js --cycles 1000 [--seed N]`
if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  const arg = (name: string, fallback: number) => {
    const i = process.argv.indexOf(name);
    return i >= 0 ? Number(process.argv[i + 1]) : fallback;
  };
  const seed = arg('--seed', Date.now() % 2 ** 31);
  const cycles = arg('--cycles', 1000);
  process.stderr.write(`WAL crash soak: ${cycles} cycles, seed ${seed}\n`);
  const started = Date.now();
  runCrashCycles({ cycles, seed, freshEvery: 100, log: (line) => process.stderr.write(`${line}\n`) }).then(
    (report) => {
      process.stdout.write(`${JSON.stringify({ ...report, seed, seconds: (Date.now() - started) / 1000 })}\n`);
    },
    (error: unknown) => {
      process.stderr.write(`${(error as Error).stack}\n`);
      process.exitCode = 1;
    },
  );
}
