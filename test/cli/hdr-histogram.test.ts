// Proves the REPL's latency histogram: every percentile it reports is within its stated ~3 %
// (1/32) of the exact percentile of the recorded values, at any magnitude; small values are exact;
// counts, min, max and mean are exact; merging and resetting work; ranges add up to the count.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LatencyHistogram } from '../../src/cli/hdr-histogram.js';

function exactPercentile(sorted: number[], q: number): number {
  const rank = Math.max(1, Math.ceil(q * sorted.length));
  return sorted[rank - 1]!;
}

describe('latency histogram', () => {
  it('histogram - percentiles are within 1/32 of the exact ones, for values from 1 µs to hours', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 4 * 3600 * 1e6 }), { minLength: 1, maxLength: 500 }), (values) => {
        const histogram = new LatencyHistogram();
        for (const v of values) histogram.record(v);
        const sorted = [...values].sort((a, b) => a - b);
        for (const q of [0, 0.5, 0.9, 0.99, 0.999, 1]) {
          const exact = exactPercentile(sorted, q);
          const reported = histogram.percentile(q);
          expect(Math.abs(reported - exact)).toBeLessThanOrEqual(Math.max(1, exact / 32));
        }
        expect(histogram.count).toBe(values.length);
        expect(histogram.min).toBe(sorted[0]);
        expect(histogram.max).toBe(sorted.at(-1));
        expect(histogram.mean).toBeCloseTo(values.reduce((a, b) => a + b, 0) / values.length, 6);
        expect(histogram.ranges().reduce((n, r) => n + r.count, 0)).toBe(values.length);
      }),
      { numRuns: 300 },
    );
  });

  it('histogram - small values are exact; add merges; reset empties', () => {
    const a = new LatencyHistogram();
    for (let v = 1; v <= 63; v++) a.record(v);
    expect(a.percentile(0.5)).toBe(32);
    const b = new LatencyHistogram();
    b.record(10_000);
    a.add(b);
    expect(a.count).toBe(64);
    expect(a.max).toBe(10_000);
    a.reset();
    expect(a.count).toBe(0);
    expect(Number.isNaN(a.percentile(0.5))).toBe(true);
  });
});
