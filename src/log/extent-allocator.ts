/**
 * Extents of the arena: power-of-two blocks from 4 KiB to 64 MiB, aligned to their size, handed
 * out and taken back by a buddy allocator (Knuth's; the kernel's page allocator). One thread
 * allocates — the broker's, which produces every message — so it needs no atomics; other threads
 * ask it for extents and give them back through their ring records.
 *
 * ```
 *  order:  12 (4 KiB) ... 26 (64 MiB)            a block of order k at address a has its buddy
 *  64 MiB top block                              at a XOR 2^k; when both are free they merge
 *  +-------------------------------+             into the block of order k+1 at min(a, buddy).
 *  |   32 MiB      |   32 MiB      |
 *  +-------+-------+---------------+
 *  | 16 MiB| 16 MiB|               |
 * ```
 *
 * Small first extents keep an idle or quiet destination cheap (4 KiB); a busy one asks for larger
 * ones (up to 1 MiB by default, see `log-writer.ts`), so the allocator is called rarely. When no
 * block is free the arena grows by a top block; at its maximum, `allocate` returns -1 and the
 * caller refuses the publish (BATON_QUEUE_FULL) instead of waiting for memory that may never come.
 */
import assert from 'node:assert/strict';
import { ARENA_GROW_BYTES, type Arena } from './arena.js';

export const EXTENT_ORDER_MIN = 12;
export const EXTENT_ORDER_MAX = 26;
export const EXTENT_BYTES_MIN = 1 << EXTENT_ORDER_MIN;
export const EXTENT_BYTES_MAX = 1 << EXTENT_ORDER_MAX;
assert.equal(EXTENT_BYTES_MAX, ARENA_GROW_BYTES, 'a top block is one arena growth step');

/** The smallest order whose block holds `bytes`. */
export function orderFor(bytes: number): number {
  let order = EXTENT_ORDER_MIN;
  while (order < EXTENT_ORDER_MAX && 2 ** order < bytes) order++;
  return order;
}

export class ExtentAllocator {
  readonly #arena: Arena;
  /** Free blocks per order (index: order - EXTENT_ORDER_MIN). */
  readonly #free: Set<number>[] = Array.from({ length: EXTENT_ORDER_MAX - EXTENT_ORDER_MIN + 1 }, () => new Set<number>());
  /** Allocated blocks: address -> order (catches a double or foreign free). */
  readonly #allocated = new Map<number, number>();
  #allocatedBytes = 0;

  /**
   * Fill every freed extent with 0xDB (environment BATON_POISON_FREED=1): a read of memory after
   * it was given back then sees garbage at once instead of, sometimes, later. For tests; it costs
   * a write of every freed byte.
   */
  readonly #poison: boolean;

  constructor(arena: Arena, poisonFreed = process.env['BATON_POISON_FREED'] === '1') {
    this.#arena = arena;
    this.#poison = poisonFreed;
    // Blocks of an arena grown before this allocator existed start free.
    for (let top = 0; top < arena.length; top += EXTENT_BYTES_MAX) this.#free[EXTENT_ORDER_MAX - EXTENT_ORDER_MIN]!.add(top);
  }

  /** Bytes handed out and not yet freed. */
  get allocatedBytes(): number {
    return this.#allocatedBytes;
  }

  /** Size in bytes of the allocated extent at `address`. */
  sizeOf(address: number): number {
    const order = this.#allocated.get(address);
    assert.ok(order !== undefined, `no extent at arena address ${address}`);
    return 2 ** order;
  }

  /**
   * An extent of at least `bytes` (at most 64 MiB): its address, or -1 when the arena is full.
   * Its contents are whatever its last owner left: writers write before they publish.
   */
  allocate(bytes: number): number {
    assert.ok(bytes > 0 && bytes <= EXTENT_BYTES_MAX, `an extent holds 1 .. ${EXTENT_BYTES_MAX} bytes, asked ${bytes}`);
    const order = orderFor(bytes);
    let from = order;
    while (from <= EXTENT_ORDER_MAX && this.#free[from - EXTENT_ORDER_MIN]!.size === 0) from++;
    if (from > EXTENT_ORDER_MAX) {
      const top = this.#arena.length;
      if (!this.#arena.grow()) return -1;
      this.#free[EXTENT_ORDER_MAX - EXTENT_ORDER_MIN]!.add(top);
      from = EXTENT_ORDER_MAX;
    }
    const list = this.#free[from - EXTENT_ORDER_MIN]!;
    const address: number = list.values().next().value!;
    list.delete(address);
    // Split down: the upper halves go to the free lists.
    for (let k = from - 1; k >= order; k--) this.#free[k - EXTENT_ORDER_MIN]!.add(address + 2 ** k);
    this.#allocated.set(address, order);
    this.#allocatedBytes += 2 ** order;
    return address;
  }

  /** Takes an extent back, merging it with its free buddies. */
  free(address: number): void {
    const order = this.#allocated.get(address);
    assert.ok(order !== undefined, `free of arena address ${address}: not an allocated extent (double free?)`);
    this.#allocated.delete(address);
    this.#allocatedBytes -= 2 ** order;
    if (this.#poison) this.#arena.bytes.fill(0xdb, address, address + 2 ** order);
    let block = address;
    let k = order;
    while (k < EXTENT_ORDER_MAX) {
      // Arithmetic, not XOR: addresses reach 2^32, past JavaScript's 32-bit bitwise operators.
      const size = 2 ** k;
      const buddy = Math.floor(block / size) % 2 === 0 ? block + size : block - size;
      const list = this.#free[k - EXTENT_ORDER_MIN]!;
      if (!list.delete(buddy)) break;
      block = Math.min(block, buddy);
      k++;
    }
    this.#free[k - EXTENT_ORDER_MIN]!.add(block);
  }
}
