/**
 * How throughput rows are run: full runs do one warm-up round (discarded) and then 5 measured
 * rounds, each round running every row once in the same order (so slow drift of a shared machine
 * spreads over all rows instead of landing on one); a row's figure is the median of its rounds,
 * its `extra` (costs) that of the median round. `--quick`: one round, no warm-up. A row whose
 * check fails throws, and the suite with it: a row never reports a rate it did not earn.
 *
 * Ratios: a row names the rows it is compared with (`ratios: { xFastq: '<peer row name>' }`) and
 * carries its rate over theirs; a skipped peer leaves the key out.
 */
import { FULL_LIMITS, type LoadLimits, QUICK_LIMITS, WARMUP_LIMITS } from './batch-driver.js';
import { type BenchResult, median, type SuiteOptions } from './report.js';

export type Extra = Record<string, number | string | null>;

export interface RunResult {
  messages: number;
  /** From the first send to the clock stop. */
  seconds: number;
  extra: Extra;
}

export interface RowSpec {
  name: string;
  /** Body bytes, for MB/s. */
  size: number;
  /** Why the row cannot run here (a peer not installed, an API not there yet): listed as skipped. */
  skipped?: string;
  run?: (limits: LoadLimits) => Promise<RunResult>;
  /** Extra key -> name of the row this one's rate is divided by. */
  ratios?: Record<string, string>;
}

export async function runRounds(specs: readonly RowSpec[], options: SuiteOptions): Promise<BenchResult[]> {
  const measured = specs.filter((spec) => spec.skipped === undefined && spec.run !== undefined);
  const runs = new Map<RowSpec, RunResult[]>(measured.map((spec) => [spec, []]));
  const rounds = options.quick ? 1 : 5;
  const plan: Array<{ limits: LoadLimits; label: string; keep: boolean }> = options.quick
    ? [{ limits: QUICK_LIMITS, label: 'run 1/1', keep: true }]
    : [{ limits: WARMUP_LIMITS, label: 'warm-up', keep: false }, ...Array.from({ length: rounds }, (_, i) => ({ limits: FULL_LIMITS, label: `run ${i + 1}/${rounds}`, keep: true }))];
  for (const { limits, label, keep } of plan) {
    for (const spec of measured) {
      let result: RunResult;
      try {
        result = await spec.run!(limits);
      } catch (error) {
        throw new Error(`bench row "${spec.name}" failed: ${(error as Error).message}`, { cause: error });
      }
      const rate = result.messages / result.seconds;
      options.log(`  ${spec.name}, ${label}: ${(rate / 1e3).toFixed(1)} k msgs/s (${result.messages} in ${result.seconds.toFixed(2)} s)`);
      if (keep) runs.get(spec)!.push(result);
    }
  }
  const rates = new Map<string, number>();
  const results = specs.map((spec): BenchResult => {
    const done = runs.get(spec);
    if (done === undefined) return { name: spec.name, messages: 0, msgsPerSec: null, mbPerSec: null, p50Us: null, p99Us: null, skipped: spec.skipped ?? 'not measured' };
    const byRate = [...done].sort((a, b) => a.messages / a.seconds - b.messages / b.seconds);
    const middle = byRate[(byRate.length - 1) >> 1]!;
    const rate = median(done.map((r) => r.messages / r.seconds));
    rates.set(spec.name, rate);
    const spread: Extra = done.length > 1 ? { min: byRate[0]!.messages / byRate[0]!.seconds, max: byRate.at(-1)!.messages / byRate.at(-1)!.seconds } : {};
    return { name: spec.name, messages: middle.messages, msgsPerSec: rate, mbPerSec: (rate * spec.size) / 1e6, p50Us: null, p99Us: null, extra: { ...spread, ...middle.extra } };
  });
  specs.forEach((spec, i) => {
    const row = results[i]!;
    if (row.msgsPerSec === null) return;
    const ratios: Extra = {};
    for (const [key, peer] of Object.entries(spec.ratios ?? {})) {
      if (!specs.some((s) => s.name === peer)) throw new Error(`bench row "${spec.name}": ratio ${key} names no row "${peer}"`);
      const peerRate = rates.get(peer);
      if (peerRate !== undefined) ratios[key] = row.msgsPerSec / peerRate;
    }
    // Ratios first: they are what a reader looks for in the notes.
    row.extra = { ...ratios, ...row.extra };
  });
  return results;
}
