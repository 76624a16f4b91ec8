import { defineConfig } from 'vitest/config';

// Tests spawn real worker threads that run the compiled package (dist/), so `npm test` builds
// first (the `pretest` script). Thread-heavy files share 2 cores: run files one at a time.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Freed extents are filled with 0xDB: a read of memory after it was given back shows as
    // garbage in a test instead of passing by luck while the old bytes linger.
    env: { BATON_POISON_FREED: '1' },
  },
});
