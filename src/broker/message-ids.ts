/**
 * Message ids the broker assigns when a send gives none: a random 64-bit prefix drawn once per
 * process, then a counter (`"5f0c9a1e3b7d2c48-1a"`). Unique within the process and, with odds of
 * a 64-bit collision, across restarts; ordered within the process. A UUID per message (what
 * this replaced) cost a random draw and 36 bytes on every message, more than a 64-byte body.
 *
 * On the wire such an id is not a string but its two parts, the prefix's 8 bytes and the counter
 * (queue-batch.ts): once per batch, 16 bytes for all its messages, instead of 20-odd
 * characters copied one by one, and the string is made again only where someone reads `msg.id`.
 */
import { randomBytes } from 'node:crypto';

/** This process's prefix, as the bytes that travel and as the text that ids start with. */
export const ID_PREFIX_BYTES: Uint8Array = new Uint8Array(randomBytes(8));
const localPrefixText = prefixTextOf(ID_PREFIX_BYTES);
let counter = 0;

/** The next counter value; its id is `localMessageId(sequence)`. */
export function nextMessageSequence(): number {
  return counter++;
}

/** Takes `count` consecutive counter values (a batch's ids); returns the first. */
export function takeMessageSequences(count: number): number {
  const base = counter;
  counter += count;
  return base;
}

/** The id text for this process's prefix and `sequence`. */
export function localMessageId(sequence: number): string {
  return localPrefixText + sequence.toString(36);
}

/** The last prefix read from the wire and its text (this process's at first): nearly every id read comes from one process. */
let lastPrefix = ID_PREFIX_BYTES;
let lastPrefixText = localPrefixText;

/** The id text of a generated id read from the wire: `prefix` is 8 bytes (a view is fine). */
export function generatedId(prefix: Uint8Array, sequence: number): string {
  let same = true;
  for (let i = 0; same && i < 8; i++) same = prefix[i] === lastPrefix[i];
  if (!same) {
    lastPrefix = prefix.slice(0, 8);
    lastPrefixText = prefixTextOf(lastPrefix);
  }
  return lastPrefixText + sequence.toString(36);
}

function prefixTextOf(prefix: Uint8Array): string {
  return `${Buffer.from(prefix.buffer, prefix.byteOffset, 8).toString('hex')}-`;
}
