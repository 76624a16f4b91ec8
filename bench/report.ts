import os from 'node:os';
import { performance } from 'node:perf_hooks';

/**
 * The shape `baton bench --json` prints (docs/api.md):
 * `{ suite, results: [{ name, messages, msgsPerSec, mbPerSec, p50Us, p99Us }], machine }`.
 * Peers (postMessage, ringbuf.js, brokers) are results of their own, measured in the same run.
 */
export interface BenchResult {
  name: string;
  /** Messages per run (the median run's count). */
  messages: number;
  /** Median over runs; null where the row measures something else (latency, idle CPU). */
  msgsPerSec: number | null;
  mbPerSec: number | null;
  p50Us: number | null;
  p99Us: number | null;
  /** Further figures of the row: p99.9, cores, min/max over runs, ratios. */
  extra?: Record<string, number | string | null>;
  /** Set when a peer could not run here (unreachable server): listed, not failed. */
  skipped?: string;
}

export interface SuiteReport {
  suite: string;
  results: BenchResult[];
  machine: MachineInfo;
}

export interface MachineInfo {
  node: string;
  platform: string;
  arch: string;
  cpus: number;
  cpuModel: string;
  memoryGiB: number;
  date: string;
}

export interface SuiteOptions {
  /** Fewer messages and one run per row: the whole default run under a minute. */
  quick: boolean;
  /** Progress lines, written to stderr so that `--json` stays parseable on stdout. */
  log: (line: string) => void;
}

export type Suite = (options: SuiteOptions) => Promise<BenchResult[]>;

export function machineInfo(): MachineInfo {
  const cpus = os.cpus();
  return {
    node: process.version,
    platform: process.platform,
    arch: process.arch,
    cpus: os.availableParallelism(),
    cpuModel: cpus[0]?.model ?? 'unknown',
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    date: new Date().toISOString(),
  };
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** The value at quantile q (0..1) of an ascending-sorted array, nearest rank. */
export function quantileSorted(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank]!;
}

/**
 * Process CPU (every thread) per wall second over `windowMs` of idling: 1.00 is one core busy.
 * The caller lets start-up settle first.
 */
export async function measureIdleCores(windowMs: number): Promise<number> {
  const before = process.cpuUsage();
  const wallBefore = performance.now();
  await new Promise((resolve) => setTimeout(resolve, windowMs));
  const cpu = process.cpuUsage(before);
  return (cpu.user + cpu.system) / ((performance.now() - wallBefore) * 1000);
}

function formatRate(value: number | null): string {
  if (value === null || !Number.isFinite(value)) return '-';
  if (value >= 1e6) return `${(value / 1e6).toFixed(2)} M`;
  if (value >= 1e3) return `${(value / 1e3).toFixed(1)} k`;
  return value.toFixed(0);
}

function formatNumber(value: number | null, digits = 1): string {
  return value === null || !Number.isFinite(value) ? '-' : value.toFixed(digits);
}

/** A plain-text table of a suite's rows, with any `extra` figures in a last column. */
export function formatTable(report: SuiteReport): string {
  const header = ['name', 'msgs/s', 'MB/s', 'p50 µs', 'p99 µs', 'notes'];
  const rows = report.results.map((r) => [
    r.name,
    r.skipped ? 'skipped' : formatRate(r.msgsPerSec),
    formatNumber(r.mbPerSec, 0),
    formatNumber(r.p50Us, 2),
    formatNumber(r.p99Us, 2),
    r.skipped ?? Object.entries(r.extra ?? {}).map(([k, v]) => `${k}=${typeof v === 'number' ? +v.toFixed(3) : v}`).join(' '),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 || i === cells.length - 1 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ').trimEnd();
  return [`suite: ${report.suite}`, line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

/** One Baton row beside one peer, from the ratios the suites put in `extra` (`x<Peer>`: Baton / peer). */
export interface Comparison {
  suite: string;
  row: string;
  batonMsgsPerSec: number;
  peer: string;
  peerMsgsPerSec: number;
  ratio: number;
}

export function comparisons(reports: readonly SuiteReport[]): Comparison[] {
  const out: Comparison[] = [];
  for (const report of reports) {
    for (const row of report.results) {
      if (row.msgsPerSec === null || row.skipped !== undefined) continue;
      for (const [key, value] of Object.entries(row.extra ?? {})) {
        if (!/^x[A-Z]/.test(key) || typeof value !== 'number' || !(value > 0)) continue;
        out.push({ suite: report.suite, row: row.name, batonMsgsPerSec: row.msgsPerSec, peer: key.slice(1), peerMsgsPerSec: row.msgsPerSec / value, ratio: value });
      }
    }
  }
  return out;
}

/** The table printed at the end of `baton bench`: each peer beside Baton, with the ratio. */
export function formatComparisonTable(reports: readonly SuiteReport[]): string {
  const rows = comparisons(reports);
  const skipped = reports.flatMap((r) => r.results.filter((row) => row.skipped !== undefined).map((row) => `${row.name} (${row.skipped})`));
  if (rows.length === 0 && skipped.length === 0) return '';
  const header = ['suite', 'Baton row', 'Baton msgs/s', 'peer', 'peer msgs/s', 'Baton / peer'];
  const cells = rows.map((c) => [c.suite, c.row, formatRate(c.batonMsgsPerSec), c.peer, formatRate(c.peerMsgsPerSec), `${c.ratio >= 10 ? c.ratio.toFixed(0) : c.ratio.toFixed(2)}x`]);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((row) => row[i]!.length)));
  const right = new Set([2, 4, 5]);
  const line = (values: string[]) => values.map((v, i) => (right.has(i) ? v.padStart(widths[i]!) : v.padEnd(widths[i]!))).join('  ').trimEnd();
  const out = ['Baton beside its peers (same run; ratio > 1: Baton is faster)'];
  if (rows.length > 0) out.push(line(header), line(widths.map((w) => '-'.repeat(w))), ...cells.map(line));
  if (skipped.length > 0) out.push(`skipped: ${skipped.join('; ')}`);
  return out.join('\n');
}
