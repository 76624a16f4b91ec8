/**
 * Kafka's key → partition mapping, bit for bit, so that a key lands on the partition a Kafka Java
 * producer (and KafkaJS's Java-compatible partitioner, and franz-go's default) would put it on:
 *
 *   partition = toPositive(murmur2(keyBytes)) % partitions,   toPositive(h) = h & 0x7fffffff
 *
 * `murmur2` is `org.apache.kafka.common.utils.Utils.murmur2(byte[])`: 32-bit MurmurHash2 with seed
 * 0x9747b28c, m = 0x5bd1e995, r = 24, little-endian 4-byte blocks, then the 1..3 tail bytes
 * XORed in from the highest down (Java's fall-through switch) and one more multiply, then the
 * final avalanche (>>> 13, · m, >>> 15). Java ints wrap at 32 bits: `Math.imul` multiplies the
 * same way, `| 0` keeps every intermediate a signed 32-bit int, and `>>>` is Java's `>>>`.
 * The result is a signed int, as Java returns it, so it compares with Kafka's test vectors.
 *
 * String keys are hashed as their UTF-8 bytes (Kafka's StringSerializer). A string with a lone
 * surrogate is refused: Java would hash '?' in its place and Node U+FFFD, so no byte sequence
 * would match the producer on the other side. No allocation for byte keys; a string key is
 * encoded once (`Buffer.from`).
 */
import { InvalidArgumentError } from '../errors.js';

const SEED = 0x9747b28c | 0;
const M = 0x5bd1e995;
const R = 24;

/** Kafka's `Utils.murmur2(data)`: a signed 32-bit int. */
export function murmur2(data: Uint8Array): number {
  const length = data.length;
  let h = SEED ^ length;
  const blocksEnd = length & ~3;
  for (let i = 0; i < blocksEnd; i += 4) {
    let k = data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24);
    k = Math.imul(k, M);
    k ^= k >>> R;
    k = Math.imul(k, M);
    h = Math.imul(h, M);
    h ^= k;
  }
  // Java's fall-through switch on length % 4 (case 3, then 2, then 1), as ifs.
  const tail = length & 3;
  if (tail === 3) h ^= data[blocksEnd + 2]! << 16;
  if (tail >= 2) h ^= data[blocksEnd + 1]! << 8;
  if (tail >= 1) {
    h ^= data[blocksEnd]!;
    h = Math.imul(h, M);
  }
  h ^= h >>> 13;
  h = Math.imul(h, M);
  h ^= h >>> 15;
  return h | 0;
}

/** Kafka's `Utils.toPositive`: the low 31 bits, so `Integer.MIN_VALUE` maps to 0 (unlike `abs`). */
export function toPositive(hash: number): number {
  return hash & 0x7fffffff;
}

/** The bytes Kafka hashes for `key`: the bytes themselves, or a string's UTF-8. */
export function keyBytes(key: Uint8Array | string): Uint8Array {
  if (key instanceof Uint8Array) return key;
  if (typeof key === 'string') {
    if (!key.isWellFormed()) {
      throw new InvalidArgumentError('a string key must be well-formed UTF-16 (no lone surrogate): it is hashed as UTF-8, as Kafka does');
    }
    return Buffer.from(key, 'utf8');
  }
  throw new InvalidArgumentError(`a partition key must be a string or a Uint8Array, got ${key === null ? 'null' : typeof key}`);
}

/** The partition a Kafka producer's default partitioner puts `key` on, among `partitions`. */
export function partitionForKey(key: Uint8Array | string, partitions: number): number {
  if (!Number.isSafeInteger(partitions) || partitions < 1 || partitions > 0x7fffffff) {
    throw new InvalidArgumentError(`partitions must be an integer in [1, 2147483647], got ${String(partitions)}`);
  }
  return toPositive(murmur2(keyBytes(key))) % partitions;
}
