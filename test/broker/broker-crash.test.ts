// Proves that a whole broker survives real process crashes with nothing confirmed lost: a child
// process runs durable queues (priorities, delays, TTLs, poison messages dead-lettered after
// maxDeliveries), a topic with a consumer group committing offsets and an exchange routing to
// both, and is killed with SIGKILL at random moments (while loading, while starting and
// recovering), 29 times over one data directory; a 30th life drains. The checker
// (bench/broker-crash-soak.ts) fails on any confirmed message never received, anything received
// that was never sent, a committed offset going backwards, a confirmed topic record not readable
// from the earliest offset, or a data directory above its bound. The seed prints on failure;
// BATON_SEED=<seed> replays the same choices (the timing differs). `npm run soak` runs 1,000 cycles.
import { describe, expect, it } from 'vitest';
import { runBrokerCrashCycles } from '../../bench/broker-crash-soak.js';

const CYCLES = 30;

describe('broker crash', () => {
  it('broker crash - 29 kill -9 cycles and a drain lose no confirmed message, commit no offset backwards, keep the disk bounded', async () => {
    const seed = Number(process.env.BATON_SEED ?? Date.now() % 2 ** 31);
    const report = await runBrokerCrashCycles({ cycles: CYCLES, seed }).catch((error: unknown) => {
      throw new Error(`seed ${seed}: ${(error as Error).message}`, { cause: error });
    });
    const context = `seed ${seed}: ${JSON.stringify(report)}`;
    expect(report.cycles, context).toBe(CYCLES);
    expect(report.lost, context).toBe(0);
    expect(report.unexpected, context).toBe(0);
    // A consumer error other than the poison's is a broker fault (a read that raced a segment rewrite once was).
    expect(report.consumerErrors, `${context}; first: ${report.firstConsumerError ?? ''}`).toBe(0);
    // Teeth: the children were killed in both phases, with work in flight, and did real work.
    expect(report.kills, context).toBe(CYCLES - 1);
    expect(report.killsDuringStartup, context).toBeGreaterThanOrEqual(1);
    expect(report.killsDuringLoad, context).toBeGreaterThanOrEqual(10);
    expect(report.confirmed, context).toBeGreaterThan(3000);
    expect(report.queueDeliveries, context).toBeGreaterThan(2000);
    expect(report.deadLettersPoison, context).toBeGreaterThan(10);
    expect(report.topicConfirmed, context).toBeGreaterThan(500);
    expect(report.commitsClaimed, context).toBeGreaterThan(50);
    expect(report.finalRecordsRead, context).toBeGreaterThanOrEqual(report.topicConfirmed);
    // The disk bound means something only if, without reclaim, the queue traffic alone would break it.
    expect(report.maxDataDirBytes, context).toBeLessThanOrEqual(report.dataDirLimitBytes);
    expect(report.queueBytesSent, context).toBeGreaterThan(report.dataDirLimitBytes);
  }, 180_000);
});
