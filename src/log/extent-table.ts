/**
 * A destination's extent table: which extents of the arena hold its messages, in the arena
 * itself, so that the destination's actor finds them again after its host thread died (its
 * memory went with the thread; the arena did not). The broker's thread, which allocates and
 * writes the extents, is the only writer; an actor reads the table when it starts.
 *
 * ```
 * header (its own 4 KiB extent, fixed for the destination's life; the actor gets its address):
 *  0        4        8           12          16
 * +--------+--------+-----------+-----------+------ ... 64
 * |  seq   | count  | table     | capacity  | nextOffset (f64, written by the actor)
 * |  i32   |  u32   | address   |  u32      |
 * +--------+--------+-----------+-----------+
 * table (an extent of capacity x 16 bytes, doubled when full), one entry per extent:
 *  0           4          8            12
 * +-----------+----------+------------+-----------+
 * | address   | fill     | generation | flags     |   fill: bytes written from `address` (batches end there)
 * |  u32      |  u32     |  u32       |  u32      |   flags: SEALED (no batch will be added)
 * +-----------+----------+------------+-----------+
 * ```
 *
 * Changes are made under a sequence lock (`seq` odd while the writer changes the table): a reader
 * reads `seq`, the entries, and `seq` again, and retries when it moved or was odd (Linux's
 * seqlock). Reads use Atomics so that they are not reordered around the two reads of `seq`;
 * they happen once per actor start, never on the message path. A generation numbers each extent
 * the destination was given, so that a late "free extent X" for an address that has since come
 * back to the destination is recognised as stale (ABA).
 */
import assert from 'node:assert/strict';
import type { Arena } from './arena.js';
import type { ExtentAllocator } from './extent-allocator.js';

const SEQ = 0;
const COUNT = 4;
const TABLE = 8;
const CAPACITY = 12;
/** The actor's slot: the next offset it will give (f64), so that a restarted actor never gives an offset twice. */
const NEXT_OFFSET = 16;
export const EXTENT_TABLE_HEADER_BYTES = 4096;
const ENTRY_BYTES = 16;
const ENTRY_ADDRESS = 0;
const ENTRY_FILL = 4;
const ENTRY_GENERATION = 8;
const ENTRY_FLAGS = 12;
export const EXTENT_SEALED = 1;
const CAPACITY_INITIAL = 256;
/** Retries of a read before giving up: the writer holds the lock for a few stores. */
const READ_RETRIES_MAX = 1_000_000;

export interface ExtentEntry {
  address: number;
  fill: number;
  generation: number;
  flags: number;
}

/** The writer's side (the broker's thread). */
export class ExtentTableWriter {
  readonly header: number;
  readonly #arena: Arena;
  readonly #allocator: ExtentAllocator;
  /** Index in the table of each listed extent, by address. */
  readonly #index = new Map<number, number>();
  #nextGeneration = 1;

  constructor(arena: Arena, allocator: ExtentAllocator) {
    this.#arena = arena;
    this.#allocator = allocator;
    const header = allocator.allocate(EXTENT_TABLE_HEADER_BYTES);
    assert.ok(header >= 0, 'the arena has room for a destination header');
    this.header = header;
    const table = allocator.allocate(CAPACITY_INITIAL * ENTRY_BYTES);
    assert.ok(table >= 0, 'the arena has room for an extent table');
    const u32 = arena.u32;
    Atomics.store(arena.i32, (header + SEQ) >>> 2, 0);
    u32[(header + COUNT) >>> 2] = 0;
    u32[(header + TABLE) >>> 2] = table;
    u32[(header + CAPACITY) >>> 2] = CAPACITY_INITIAL;
    arena.f64[(header + NEXT_OFFSET) >>> 3] = 0;
  }

  get count(): number {
    return this.#index.size;
  }

  /** Lists a new extent (not sealed, nothing written); returns its generation. */
  add(address: number): number {
    const generation = this.#nextGeneration++;
    this.#change(() => {
      const u32 = this.#arena.u32;
      let count = u32[(this.header + COUNT) >>> 2]!;
      if (count === u32[(this.header + CAPACITY) >>> 2]) this.#growTable();
      const at = u32[(this.header + TABLE) >>> 2]! + count * ENTRY_BYTES;
      u32[(at + ENTRY_ADDRESS) >>> 2] = address;
      u32[(at + ENTRY_FILL) >>> 2] = 0;
      u32[(at + ENTRY_GENERATION) >>> 2] = generation;
      u32[(at + ENTRY_FLAGS) >>> 2] = 0;
      this.#index.set(address, count);
      u32[(this.header + COUNT) >>> 2] = ++count;
    });
    return generation;
  }

  /** Bytes written in the extent so far (its batches end there). Plain stores: readers hold the lock protocol. */
  setFill(address: number, fill: number): void {
    const at = this.#entry(address);
    // A plain store between the seqlock's two bumps (no closure: this runs once per publish).
    this.#begin();
    this.#arena.u32[(at + ENTRY_FILL) >>> 2] = fill;
    this.#end();
  }

  seal(address: number): void {
    const at = this.#entry(address);
    this.#change(() => {
      const u32 = this.#arena.u32;
      u32[(at + ENTRY_FLAGS) >>> 2] = u32[(at + ENTRY_FLAGS) >>> 2]! | EXTENT_SEALED;
    });
  }

  /** Addresses of the listed extents. */
  addresses(): number[] {
    return [...this.#index.keys()];
  }

  /** Undoes `seal` (a publish that sealed it was rolled back). */
  unseal(address: number): void {
    const at = this.#entry(address);
    this.#change(() => {
      const u32 = this.#arena.u32;
      u32[(at + ENTRY_FLAGS) >>> 2] = u32[(at + ENTRY_FLAGS) >>> 2]! & ~EXTENT_SEALED;
    });
  }

  generationOf(address: number): number | undefined {
    const index = this.#index.get(address);
    if (index === undefined) return undefined;
    const u32 = this.#arena.u32;
    return u32[(u32[(this.header + TABLE) >>> 2]! + index * ENTRY_BYTES + ENTRY_GENERATION) >>> 2];
  }

  /** Unlists an extent (the last entry moves into its place). The caller frees the extent. */
  remove(address: number): void {
    const index = this.#index.get(address);
    assert.ok(index !== undefined, `extent ${address} is not listed`);
    this.#change(() => {
      const u32 = this.#arena.u32;
      const table = u32[(this.header + TABLE) >>> 2]!;
      const last = u32[(this.header + COUNT) >>> 2]! - 1;
      if (index !== last) {
        const from = table + last * ENTRY_BYTES;
        const to = table + index * ENTRY_BYTES;
        for (let w = 0; w < ENTRY_BYTES; w += 4) u32[(to + w) >>> 2] = u32[(from + w) >>> 2]!;
        this.#index.set(u32[(to + ENTRY_ADDRESS) >>> 2]!, index);
      }
      this.#index.delete(address);
      u32[(this.header + COUNT) >>> 2] = last;
    });
  }

  /** Frees the table and the header (the destination is gone). Listed extents are the caller's. */
  destroy(): void {
    this.#allocator.free(this.#arena.u32[(this.header + TABLE) >>> 2]!);
    this.#allocator.free(this.header);
  }

  #entry(address: number): number {
    const index = this.#index.get(address);
    assert.ok(index !== undefined, `extent ${address} is not listed`);
    return this.#arena.u32[(this.header + TABLE) >>> 2]! + index * ENTRY_BYTES;
  }

  #growTable(): void {
    const u32 = this.#arena.u32;
    const oldTable = u32[(this.header + TABLE) >>> 2]!;
    const capacity = u32[(this.header + CAPACITY) >>> 2]!;
    const table = this.#allocator.allocate(capacity * 2 * ENTRY_BYTES);
    assert.ok(table >= 0, 'the arena has room for a larger extent table');
    const bytes = this.#arena.bytes;
    bytes.copyWithin(table, oldTable, oldTable + capacity * ENTRY_BYTES);
    u32[(this.header + TABLE) >>> 2] = table;
    u32[(this.header + CAPACITY) >>> 2] = capacity * 2;
    this.#allocator.free(oldTable);
  }

  #change(change: () => void): void {
    this.#begin();
    try {
      change();
    } finally {
      this.#end();
    }
  }

  /** The sequence goes odd: readers retry until it is even again. */
  #begin(): void {
    Atomics.add(this.#arena.i32, (this.header + SEQ) >>> 2, 1);
  }

  #end(): void {
    Atomics.add(this.#arena.i32, (this.header + SEQ) >>> 2, 1);
  }
}

/** The actor's own slot in the header: the next offset it gives (0 for a new destination). */
export function readNextOffset(arena: Arena, header: number): number {
  arena.ensure(header + EXTENT_TABLE_HEADER_BYTES);
  return arena.f64[(header + NEXT_OFFSET) >>> 3]!;
}

export function writeNextOffset(arena: Arena, header: number, offset: number): void {
  arena.f64[(header + NEXT_OFFSET) >>> 3] = offset;
}

/** A consistent copy of a destination's extent table, read by its actor (any thread). */
export function readExtentTable(arena: Arena, header: number): ExtentEntry[] {
  arena.ensure(header + EXTENT_TABLE_HEADER_BYTES);
  const i32 = arena.i32;
  for (let attempt = 0; attempt < READ_RETRIES_MAX; attempt++) {
    const before = Atomics.load(i32, (header + SEQ) >>> 2);
    if ((before & 1) !== 0) continue;
    const count = Atomics.load(i32, (header + COUNT) >>> 2) >>> 0;
    const table = Atomics.load(i32, (header + TABLE) >>> 2) >>> 0;
    const capacity = Atomics.load(i32, (header + CAPACITY) >>> 2) >>> 0;
    const entries: ExtentEntry[] = [];
    // A torn read (the table moved under us) can show nonsense: bound it, the seq check rejects it.
    if (count <= capacity && table + capacity * ENTRY_BYTES <= arena.length) {
      arena.ensure(table + capacity * ENTRY_BYTES);
      const words = arena.i32;
      for (let i = 0; i < count; i++) {
        const at = (table + i * ENTRY_BYTES) >>> 2;
        entries.push({
          address: Atomics.load(words, at) >>> 0,
          fill: Atomics.load(words, at + 1) >>> 0,
          generation: Atomics.load(words, at + 2) >>> 0,
          flags: Atomics.load(words, at + 3) >>> 0,
        });
      }
    }
    if (Atomics.load(i32, (header + SEQ) >>> 2) === before) return entries;
  }
  assert.fail(`extent table at ${header} stayed locked: its writer died inside a change`);
}
