/**
 * mulberry32: a small, fast, seeded PRNG for reproducible benchmarks, soaks and test sequences
 * (seeds print on failure, so a run can be replayed). Not for anything that needs secrecy.
 */
/** Uniform in [0, 1), seeded. */
export function makeRandom(seed: number): () => number {
  const next = prng(seed);
  return () => next() / 4294967296;
}

export function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
}
