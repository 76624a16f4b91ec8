// Proves keys land where a Kafka producer puts them: murmur2 returns the values Kafka's own test
// asserts (apache/kafka clients/src/test/java/org/apache/kafka/common/utils/UtilsTest.java,
// testMurmur2), the values Akka's Kafka-compatible port pins from Kafka's Utils.murmur2
// (akka/akka akka-cluster-sharding-typed/src/test/scala/akka/cluster/sharding/typed/internal/Murmur2Spec.scala),
// and the partitions that kafka-python checked against Kafka's Java partitioner over 1000
// partitions (dpkp/kafka-python test/producer/test_partitioner.py, test_murmur2_java_compatibility);
// it agrees with a line-by-line BigInt transliteration of the Java for any bytes (fast-check);
// string keys hash as UTF-8; bad partition counts and keys are BATON_INVALID_ARGUMENT.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { keyBytes, murmur2, partitionForKey, toPositive } from '../../src/broker/murmur2.js';

const ascii = (s: string) => new Uint8Array(Buffer.from(s, 'latin1'));

/** Utils.murmur2 as written in Java, with every int op done on BigInts and wrapped to 32 bits. */
function murmur2Model(data: Uint8Array): number {
  const int = (x: bigint) => BigInt.asIntN(32, x);
  const ushr = (x: bigint, n: bigint) => BigInt.asUintN(32, x) >> n;
  const m = 0x5bd1e995n;
  let h = int(BigInt(0x9747b28c) ^ BigInt(data.length));
  const length4 = Math.floor(data.length / 4);
  for (let i = 0; i < length4; i++) {
    const i4 = i * 4;
    let k = int(BigInt(data[i4]!) + (BigInt(data[i4 + 1]!) << 8n) + (BigInt(data[i4 + 2]!) << 16n) + (BigInt(data[i4 + 3]!) << 24n));
    k = int(k * m);
    k = int(k ^ ushr(k, 24n));
    k = int(k * m);
    h = int(h * m);
    h = int(h ^ k);
  }
  const base = data.length & ~3;
  const rest = data.length % 4;
  if (rest >= 3) h = int(h ^ (BigInt(data[base + 2]!) << 16n));
  if (rest >= 2) h = int(h ^ (BigInt(data[base + 1]!) << 8n));
  if (rest >= 1) {
    h = int(h ^ BigInt(data[base]!));
    h = int(h * m);
  }
  h = int(h ^ ushr(h, 13n));
  h = int(h * m);
  h = int(h ^ ushr(h, 15n));
  return Number(h);
}

describe('murmur2', () => {
  // Kafka UtilsTest.testMurmur2.
  const kafkaVectors: Array<[string, number]> = [
    ['21', -973932308],
    ['foobar', -790332482],
    ['a-little-bit-long-string', -985981536],
    ['a-little-bit-longer-string', -1486304829],
    ['lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8', -58897971],
    ['abc', 479470107],
  ];
  for (const [key, hash] of kafkaVectors) {
    it(`murmur2 - Kafka's UtilsTest vector ${JSON.stringify(key)} hashes to ${hash}`, () => {
      expect(murmur2(ascii(key))).toBe(hash);
      expect(murmur2Model(ascii(key))).toBe(hash);
    });
  }

  it('murmur2 - the Kafka values Akka pins, one per tail length', () => {
    const akkaVectors: Array<[string, number]> = [['1', -1993445489], ['12', 126087238], ['123', -267702483], ['1234', -1614185708], ['12345', -1188365604]];
    for (const [key, hash] of akkaVectors) expect(murmur2(ascii(key)), key).toBe(hash);
  });

  it('murmur2 - agrees with a transliteration of the Java for any bytes (fast-check)', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 70 }), (bytes) => {
      expect(murmur2(bytes)).toBe(murmur2Model(bytes));
    }), { numRuns: 2000 });
  });

  it('murmur2 - a view at an offset hashes its own bytes only', () => {
    const backing = new Uint8Array(40).fill(0xab);
    backing.set(ascii('foobar'), 7);
    expect(murmur2(backing.subarray(7, 13))).toBe(-790332482);
  });

  it('murmur2 - toPositive keeps the low 31 bits, so the most negative int maps to 0', () => {
    expect(toPositive(-2147483648)).toBe(0);
    expect(toPositive(-1)).toBe(0x7fffffff);
    expect(toPositive(-973932308)).toBe(-973932308 & 0x7fffffff);
    expect(toPositive(12345)).toBe(12345);
  });
});

describe('partition for key', () => {
  // kafka-python, compared with Kafka's Java partitioner over 1000 partitions.
  const javaPartitions: Array<[number[], number]> = [
    [[], 681],
    [[0x61], 524],
    [[0x61, 0x62], 434],
    [[0x61, 0x62, 0x63], 107],
    [[...Buffer.from('123456789')], 566],
    [[0x00, 0x20], 742],
  ];
  for (const [bytes, partition] of javaPartitions) {
    it(`partition for key - ${JSON.stringify(Buffer.from(bytes).toString('latin1'))} lands on partition ${partition} of 1000, as with Kafka's Java producer`, () => {
      expect(partitionForKey(new Uint8Array(bytes), 1000)).toBe(partition);
    });
  }

  it('partition for key - a string key is hashed as its UTF-8 bytes', () => {
    fc.assert(fc.property(fc.string({ unit: 'grapheme' }), fc.integer({ min: 1, max: 10_000 }), (key, partitions) => {
      const p = partitionForKey(key, partitions);
      expect(p).toBe(partitionForKey(new Uint8Array(Buffer.from(key, 'utf8')), partitions));
      expect(p).toBeGreaterThanOrEqual(0);
      expect(p).toBeLessThan(partitions);
    }));
    expect(partitionForKey('abc', 1000)).toBe(107);
    expect(partitionForKey('é', 7)).toBe(toPositive(murmur2(new Uint8Array([0xc3, 0xa9]))) % 7);
  });

  it('partition for key - one partition takes every key', () => {
    for (const key of ['', 'a', 'foobar']) expect(partitionForKey(key, 1)).toBe(0);
  });

  for (const partitions of [0, -1, 1.5, Number.NaN, Infinity, 2 ** 31]) {
    it(`partition for key - ${partitions} partitions is BATON_INVALID_ARGUMENT`, () => {
      expect(() => partitionForKey('k', partitions)).toThrow(expect.objectContaining({ code: 'BATON_INVALID_ARGUMENT' }));
    });
  }

  for (const [what, key] of [['a lone surrogate', 'a\ud800'], ['a number', 5], ['null', null]] as Array<[string, unknown]>) {
    it(`partition for key - a key that is ${what} is BATON_INVALID_ARGUMENT`, () => {
      expect(() => keyBytes(key as string)).toThrow(expect.objectContaining({ code: 'BATON_INVALID_ARGUMENT' }));
    });
  }
});
