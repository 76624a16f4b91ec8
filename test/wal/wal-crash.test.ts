// Proves durability against real process crashes: a child process appends from three logs with
// confirms and is killed with SIGKILL at random moments (while appending, rolling segments,
// recovering, writing checkpoints), 50 times over one growing data directory; after every kill
// the directory is opened again and every confirmed record is present, in order, once.
// The seed prints on failure; `npm run soak` runs 1,000+ cycles of the same harness.
import { describe, expect, it } from 'vitest';
import { runCrashCycles } from '../../bench/wal-crash-soak.js';

describe('wal crash', () => {
  it('wal crash - 50 kill -9 cycles lose no confirmed record and duplicate none', async () => {
    const seed = Number(process.env.BATON_SEED ?? Date.now() % 2 ** 31);
    const report = await runCrashCycles({ cycles: 50, seed }).catch((error: unknown) => {
      throw new Error(`seed ${seed}: ${(error as Error).message}`, { cause: error });
    });
    expect(report.cycles).toBe(50);
    // The test has teeth only if the children confirmed appends before dying.
    expect(report.confirmedAppends).toBeGreaterThan(100);
    expect(report.recordsVerified).toBeGreaterThan(0);
  }, 180_000);
});
