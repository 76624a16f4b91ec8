// Proves what a dead writer leaves behind: a producer thread terminated mid-stream — mid-batch,
// mid-record, at a random moment — never shows the consumer a torn record; after repairRing,
// every record it committed has been read, the other producers' records all arrive, and a new
// writer takes the freed slot and the ring works again.
import { describe, expect, it } from 'vitest';
import { allocateRing, repairRing, RingConsumer, RingReader, type RingKind } from '../../src/ring/index.js';
import { SequenceVerifier, type SequenceShape } from '../../workers/fixtures/record-sequence.js';
import { startFixture, type Fixture, testSeed, withSeed } from './helpers.js';
import { sleep, until } from '../support/wait.js';

function startConsumer(buffer: SharedArrayBuffer, shape: SequenceShape, producers: number) {
  const reader = new RingReader(buffer);
  const verifier = new SequenceVerifier(shape, producers);
  const loop = new RingConsumer(reader, (r) => verifier.check(r.bytes, r.offset, r.length, r.type, r.meta));
  return { reader, verifier, loop };
}

function producer(buffer: SharedArrayBuffer, progress: SharedArrayBuffer, shape: SequenceShape, id: number, count: number, extra: object = {}): Fixture {
  return startFixture('ring-producer', { buffer, producer: id, count, shape, progress, ...extra });
}

describe('ring - dead writers', () => {
  it('ring - multi-producer: a writer killed inside a claim blocks nothing after repair, and loses nothing committed', async () => {
    const seed = testSeed();
    await withSeed(seed, async () => {
      const shape: SequenceShape = { seed, minBytes: 8, maxBytes: 120 };
      const buffer = allocateRing({ capacity: 4096, kind: 'multi-producer' });
      const progress = new SharedArrayBuffer(12);
      const { verifier, loop } = startConsumer(buffer, shape, 3);

      const victim = producer(buffer, progress, shape, 0, 10_000, { stallAfter: 500 });
      const { slot: victimSlot } = await victim.next<{ slot: number }>('attached');
      expect((await victim.next<{ claimed: boolean }>('stalled')).claimed).toBe(true);
      const others = [1, 2].map((id) => producer(buffer, progress, shape, id, 5_000));
      const othersDone = others.map((w) => w.next('done'));
      await Promise.all(others.map((w) => w.next('attached')));
      await victim.terminate();

      // The half-written claim stops the consumer there: the victim's 500 committed records have
      // arrived, the torn one has not, and the others cannot get past it.
      await until(() => verifier.nextByProducer[0] === 500, "the victim's committed records");
      await sleep(50);
      expect(verifier.nextByProducer[0]).toBe(500);
      expect(verifier.problems).toBe(0);

      const report = repairRing(buffer, [victimSlot]);
      expect(report).toMatchObject({ released: [victimSlot], claimsPadded: 1, unresolved: [] });
      await Promise.all(othersDone);
      await until(() => verifier.nextByProducer[1] === 5_000 && verifier.nextByProducer[2] === 5_000, "the others' records");

      // A replacement takes the freed slot and carries on the victim's sequence.
      const replacement = producer(buffer, progress, shape, 0, 1_000, { start: 500 });
      expect((await replacement.next<{ slot: number }>('attached')).slot).toBe(victimSlot);
      await replacement.next('done');
      await until(() => verifier.nextByProducer[0] === 1_500, "the replacement's records");
      loop.stop();
      await loop.done;
      await Promise.all([...others, replacement].map((w) => w.terminate()));
      expect(verifier.firstProblems).toEqual([]);
      expect(verifier.received).toBe(500 + 5_000 + 5_000 + 1_000);
    });
  });

  it.each<RingKind>(['single-producer', 'multi-producer'])(
    'ring - %s: a writer terminated at a random moment under load leaves a clean prefix; after repair the ring works again',
    async (kind) => {
      const seed = testSeed();
      await withSeed(seed, async () => {
        const shape: SequenceShape = { seed, minBytes: 8, maxBytes: 200 };
        const buffer = allocateRing({ capacity: 8192, kind });
        const producers = kind === 'single-producer' ? 1 : 3;
        const progress = new SharedArrayBuffer(4 * producers);
        const { reader, verifier, loop } = startConsumer(buffer, shape, producers);
        const killAfterMs = 20 + (seed % 60);

        // The victim writes through slow byte-by-byte claims on the multi-producer ring, so that
        // death often lands inside a claim; on the single-producer ring, through its usual mix.
        const victim = producer(buffer, progress, shape, 0, 100_000_000, { slowClaims: kind === 'multi-producer' });
        const { slot: victimSlot } = await victim.next<{ slot: number }>('attached');
        const others = Array.from({ length: producers - 1 }, (_, k) => producer(buffer, progress, shape, k + 1, 20_000));
        const othersDone = others.map((w) => w.next('done'));
        await Promise.all(others.map((w) => w.next('attached')));
        await sleep(killAfterMs);
        await victim.terminate();
        const committed = Atomics.load(new Int32Array(progress), 0);
        expect(committed).toBeGreaterThan(0);

        // Repair may find a live writer that announced the same position; it says so, and a
        // second look once that writer has moved on resolves it.
        let report = repairRing(buffer, [victimSlot]);
        while (report.unresolved.length > 0) {
          await sleep(1);
          report = repairRing(buffer, [victimSlot]);
        }
        expect(report.released).toEqual([victimSlot]);
        await Promise.all(othersDone);
        await until(() => !reader.hasRecords() && verifier.nextByProducer.slice(1).every((n) => n === 20_000), 'the ring to drain');

        // Everything the victim committed arrived, in order and intact; what it had not
        // committed (at most one batch of 64) never showed.
        const victimReceived = verifier.nextByProducer[0]!;
        expect(victimReceived).toBeGreaterThanOrEqual(committed);
        expect(victimReceived).toBeLessThanOrEqual(committed + 64);
        expect(verifier.firstProblems).toEqual([]);

        const replacement = producer(buffer, progress, shape, 0, 2_000, { start: victimReceived });
        expect((await replacement.next<{ slot: number }>('attached')).slot).toBe(victimSlot);
        await replacement.next('done');
        await until(() => verifier.nextByProducer[0] === victimReceived + 2_000, "the replacement's records");
        loop.stop();
        await loop.done;
        await Promise.all([...others, replacement].map((w) => w.terminate()));
        expect(verifier.problems).toBe(0);
      });
    },
  );
});
