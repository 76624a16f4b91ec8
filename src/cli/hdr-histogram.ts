/**
 * `LatencyHistogram`: an HDR-style histogram of latencies in microseconds, log-bucketed: values
 * are grouped by power of two (the bucket) and each bucket is split into `SUB_BUCKETS` linear
 * sub-buckets, so every recorded value is kept within 1/SUB_BUCKETS (about 3 %) of itself at any
 * magnitude, in a fixed 10 KiB of counts. Recording is O(1) and allocates nothing; percentiles
 * walk the counts once.
 *
 *   index(v) = bucket(v) * SUB_BUCKETS + sub(v)     bucket(v) = floor(log2(v)) - SUB_BITS + 1 (>= 0)
 *
 * Values below 2 * SUB_BUCKETS µs are exact (buckets 0 and 1 are 1 µs wide); values from
 * 2^(BUCKETS + SUB_BITS) µs (about 400 days) are clamped to the last slot, and `max` still says the true maximum.
 */
const SUB_BITS = 5;
const SUB_BUCKETS = 1 << SUB_BITS;
const BUCKETS = 40;

export class LatencyHistogram {
  readonly #counts = new Float64Array((BUCKETS + 1) * SUB_BUCKETS);
  #count = 0;
  #sum = 0;
  #min = Number.POSITIVE_INFINITY;
  #max = 0;

  get count(): number {
    return this.#count;
  }

  get min(): number {
    return this.#count === 0 ? Number.NaN : this.#min;
  }

  get max(): number {
    return this.#count === 0 ? Number.NaN : this.#max;
  }

  get mean(): number {
    return this.#count === 0 ? Number.NaN : this.#sum / this.#count;
  }

  /** Records one latency in µs (negative values are recorded as 0). */
  record(valueUs: number): void {
    const value = valueUs > 0 ? valueUs : 0;
    this.#counts[indexOf(value)]! += 1;
    this.#count += 1;
    this.#sum += value;
    if (value < this.#min) this.#min = value;
    if (value > this.#max) this.#max = value;
  }

  /** Adds another histogram's counts to this one. */
  add(other: LatencyHistogram): void {
    for (let i = 0; i < this.#counts.length; i++) this.#counts[i]! += other.#counts[i]!;
    this.#count += other.#count;
    this.#sum += other.#sum;
    if (other.#count > 0) {
      this.#min = Math.min(this.#min, other.#min);
      this.#max = Math.max(this.#max, other.#max);
    }
  }

  reset(): void {
    this.#counts.fill(0);
    this.#count = 0;
    this.#sum = 0;
    this.#min = Number.POSITIVE_INFINITY;
    this.#max = 0;
  }

  /**
   * The value at quantile q (0..1): the highest whole µs value of the slot holding that rank
   * (HdrHistogram's "highest equivalent value"; a 1 µs slot reports its own value), kept within
   * [min, max].
   */
  percentile(q: number): number {
    if (this.#count === 0) return Number.NaN;
    const rank = Math.max(1, Math.ceil(Math.min(1, Math.max(0, q)) * this.#count));
    let seen = 0;
    for (let i = 0; i < this.#counts.length; i++) {
      seen += this.#counts[i]!;
      if (seen >= rank) return Math.min(this.#max, Math.max(this.#min, upperEdgeOf(i) - 1));
    }
    return this.#max;
  }

  /**
   * Counts per power-of-two range, for printing: `[{ fromUs, toUs, count }]` from the first
   * non-empty range to the last.
   */
  ranges(): { fromUs: number; toUs: number; count: number }[] {
    const out: { fromUs: number; toUs: number; count: number }[] = [];
    // Range r holds [2^r, 2^(r+1)) µs; range 0 also holds [0, 1).
    const perRange = new Float64Array(BUCKETS + SUB_BITS + 1);
    for (let i = 0; i < this.#counts.length; i++) {
      const count = this.#counts[i]!;
      if (count === 0) continue;
      const low = lowerEdgeOf(i);
      perRange[low < 1 ? 0 : Math.floor(Math.log2(low))]! += count;
    }
    const first = perRange.findIndex((c) => c > 0);
    let last = perRange.length - 1;
    while (last >= 0 && perRange[last] === 0) last--;
    if (first < 0) return out;
    for (let r = first; r <= last; r++) out.push({ fromUs: r === 0 ? 0 : 2 ** r, toUs: 2 ** (r + 1), count: perRange[r]! });
    return out;
  }
}

function indexOf(value: number): number {
  const v = Math.floor(value);
  if (v < SUB_BUCKETS) return v;
  let magnitude = Math.floor(Math.log2(v));
  if (2 ** magnitude > v) magnitude -= 1; // log2 rounding near powers of two
  else if (2 ** (magnitude + 1) <= v) magnitude += 1;
  const bucket = magnitude - SUB_BITS + 1;
  if (bucket > BUCKETS) return (BUCKETS + 1) * SUB_BUCKETS - 1;
  // Bucket b >= 1 holds [2^m, 2^(m+1)) with m = b + SUB_BITS - 1, in SUB_BUCKETS slots of width 2^(b-1).
  return bucket * SUB_BUCKETS + Math.floor((v - 2 ** magnitude) / 2 ** (bucket - 1));
}

function lowerEdgeOf(index: number): number {
  const bucket = Math.floor(index / SUB_BUCKETS);
  const sub = index % SUB_BUCKETS;
  return bucket === 0 ? sub : 2 ** (bucket + SUB_BITS - 1) + sub * 2 ** (bucket - 1);
}

function upperEdgeOf(index: number): number {
  const bucket = Math.floor(index / SUB_BUCKETS);
  return lowerEdgeOf(index) + (bucket === 0 ? 1 : 2 ** (bucket - 1));
}
