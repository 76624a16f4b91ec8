// Proves the ring across real threads: 1 and 3 producer workers, with the consumer in a worker
// (blocking park) or on the main thread (Atomics.waitAsync). Every record is checked byte by
// byte against its seeded sequence: per-producer order, no loss, no duplicate, no torn payload,
// over more than 100 laps of a small ring. Seeds print on failure (BATON_TEST_SEED replays).
import { describe, expect, it } from 'vitest';
import { allocateRing, RingConsumer, RingReader, type RingKind } from '../../src/ring/index.js';
import type { RingConsumerReport } from '../../workers/fixtures/ring-consumer.js';
import { SequenceVerifier, recordLength, type SequenceShape } from '../../workers/fixtures/record-sequence.js';
import { startFixture, testSeed, withSeed } from './helpers.js';

const CAPACITY = 4096;
const RECORDS_PER_PRODUCER = 20_000;

interface Scenario {
  kind: RingKind;
  producers: number;
  consumer: 'worker' | 'main';
}

const scenarios: Scenario[] = [
  { kind: 'single-producer', producers: 1, consumer: 'worker' },
  { kind: 'single-producer', producers: 1, consumer: 'main' },
  { kind: 'multi-producer', producers: 1, consumer: 'worker' },
  { kind: 'multi-producer', producers: 3, consumer: 'worker' },
  { kind: 'multi-producer', producers: 3, consumer: 'main' },
];

function bytesFor(shape: SequenceShape, producers: number, count: number): number {
  let total = 0;
  for (let p = 0; p < producers; p++) for (let s = 0; s < count; s++) total += 16 + recordLength(shape, p, s);
  return total;
}

describe('ring - across real threads', () => {
  it.each(scenarios)('ring - $kind, $producers producer(s), consumer on $consumer: in order, no loss, no duplicate, intact', async ({ kind, producers, consumer }) => {
    const seed = testSeed();
    await withSeed(seed, async () => {
      const shape: SequenceShape = { seed, minBytes: 8, maxBytes: 200 };
      const buffer = allocateRing({ capacity: CAPACITY, kind });
      const progress = new SharedArrayBuffer(4 * producers);
      const expected = producers * RECORDS_PER_PRODUCER;
      expect(bytesFor(shape, producers, RECORDS_PER_PRODUCER) / CAPACITY).toBeGreaterThan(100);

      let report: RingConsumerReport;
      let consumerDone: Promise<unknown>;
      if (consumer === 'worker') {
        const worker = startFixture('ring-consumer', { buffer, shape, producers, expected });
        consumerDone = worker.next<RingConsumerReport>().then(async (r) => {
          report = r;
          await worker.terminate();
        });
      } else {
        const reader = new RingReader(buffer);
        const verifier = new SequenceVerifier(shape, producers);
        const loop = new RingConsumer(reader, (r) => {
          verifier.check(r.bytes, r.offset, r.length, r.type, r.meta);
          if (verifier.received >= expected) loop.stop();
        });
        consumerDone = loop.done.then(() => {
          report = { received: verifier.received, problems: verifier.problems, firstProblems: verifier.firstProblems, nextByProducer: verifier.nextByProducer, parks: reader.parks };
        });
      }
      const workers = Array.from({ length: producers }, (_, producer) =>
        startFixture('ring-producer', { buffer, producer, count: RECORDS_PER_PRODUCER, shape, progress }),
      );
      await Promise.all(workers.map((w) => w.next('done')));
      await consumerDone;
      await Promise.all(workers.map((w) => w.terminate()));

      expect(report!.firstProblems).toEqual([]);
      expect(report!.problems).toBe(0);
      expect(report!.received).toBe(expected);
      expect(report!.nextByProducer).toEqual(new Array(producers).fill(RECORDS_PER_PRODUCER));
      expect(new Int32Array(progress)).toEqual(new Int32Array(producers).fill(RECORDS_PER_PRODUCER));
    });
  });
});
