/**
 * The arena: the broker's message memory, one growable SharedArrayBuffer that every Baton thread
 * shares from its start (the broker's thread, the actor hosts, the storage thread, handler
 * threads). Messages are encoded into it once, by their producer, and read in place by their
 * consumers; what crosses threads through the rings is where they are, never their bytes.
 *
 * ```
 *  0            64 MiB         128 MiB                                   grown ... maxBytes (<= 4 GiB)
 * +--------------+--------------+----------------------------------------+ - - - - - - - - - - +
 * | top block 0  | top block 1  |  ...  each 64 MiB, split by the buddy  |   reserved address   |
 * | (extents)    | (extents)    |        allocator (extent-allocator.ts) |   space, not memory  |
 * +--------------+--------------+----------------------------------------+ - - - - - - - - - - +
 * ```
 *
 * An address is a byte offset from 0 (a u32: the buffer is at most 4 GiB, V8's limit for a
 * growable SharedArrayBuffer), so a ring record names a message with a few integers. The buffer
 * grows, never shrinks, in 64 MiB steps as the allocator needs them (only the allocator's thread
 * grows it); the address space up to `maxBytes` is reserved at start and costs no memory until
 * touched. A thread's views cover the length it last saw: `ensure` refreshes them when an address
 * beyond it shows up (growth is visible to every thread, but a typed array keeps the length it
 * was made with; length-tracking views are twice as slow to index on Node 20's V8).
 *
 * The arena outlives the threads that use it: the supervisor makes it, so messages in it survive
 * a host thread's death as the rings do.
 */
import assert from 'node:assert/strict';
import { InvalidArgumentError } from '../errors.js';

/** The arena grows by this much at a time: the allocator's top block. */
export const ARENA_GROW_BYTES = 64 * 1024 * 1024;
/** V8 refuses a growable SharedArrayBuffer larger than 4 GiB. */
export const ARENA_BYTES_LIMIT = 2 ** 32;

/** Buffer's internal UTF-8 writer and reader: no argument parsing per call (Node's own `write`/`toString` use them). */
export interface ArenaBuffer extends Buffer {
  utf8Write(text: string, offset: number, length: number): number;
  utf8Slice(start: number, end: number): string;
}

/** The views a reader of the arena (or of a copy of part of it) needs. */
export interface ArenaView {
  readonly bytes: Uint8Array;
  readonly buffer: ArenaBuffer;
  readonly u32: Uint32Array;
}

export class Arena implements ArenaView {
  readonly sab: SharedArrayBuffer;
  /** Whole views over the first `length` bytes (as of the last `ensure`). */
  bytes!: Uint8Array;
  buffer!: ArenaBuffer;
  u32!: Uint32Array;
  i32!: Int32Array;
  f64!: Float64Array;

  constructor(sab: SharedArrayBuffer) {
    assert.ok(sab.growable, 'the arena is a growable SharedArrayBuffer');
    this.sab = sab;
    this.#refresh();
  }

  /** A new, empty arena reserving `maxBytes` of address space (a multiple of 64 MiB, at most 4 GiB). */
  static create(maxBytes: number): Arena {
    if (!Number.isSafeInteger(maxBytes) || maxBytes < ARENA_GROW_BYTES || maxBytes > ARENA_BYTES_LIMIT || maxBytes % ARENA_GROW_BYTES !== 0) {
      throw new InvalidArgumentError(`memoryLimitBytes must be a multiple of 64 MiB from 64 MiB to 4 GiB, got ${String(maxBytes)}`);
    }
    return new Arena(new SharedArrayBuffer(0, { maxByteLength: maxBytes }));
  }

  /** Bytes the arena has now (grown so far). */
  get length(): number {
    return this.sab.byteLength;
  }

  get maxBytes(): number {
    return this.sab.maxByteLength;
  }

  /** Makes the views reach `end` (exclusive): after another thread grew the arena. */
  ensure(end: number): void {
    if (end <= this.bytes.length) return;
    this.#refresh();
    assert.ok(end <= this.bytes.length, `arena address ${end} is beyond the arena (${this.bytes.length} bytes)`);
  }

  /** Grows the arena by one step; false when it is at its maximum. Only the allocator's thread calls it. */
  grow(): boolean {
    const next = this.sab.byteLength + ARENA_GROW_BYTES;
    if (next > this.sab.maxByteLength) return false;
    this.sab.grow(next);
    this.#refresh();
    return true;
  }

  #refresh(): void {
    const length = this.sab.byteLength;
    this.bytes = new Uint8Array(this.sab, 0, length);
    this.buffer = Buffer.from(this.sab, 0, length) as ArenaBuffer;
    this.u32 = new Uint32Array(this.sab, 0, length >>> 2);
    this.i32 = new Int32Array(this.sab, 0, length >>> 2);
    this.f64 = new Float64Array(this.sab, 0, length >>> 3);
  }
}
