// Proves the arena's buddy allocator: extents never overlap, are aligned to their power-of-two
// size and fit the arena; freeing everything merges back into whole top blocks (a 64 MiB extent
// fits again without growing); the arena grows by one top block when nothing free fits, and
// allocate answers -1 once it is at its maximum; a double free is an assertion.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Arena, ARENA_GROW_BYTES } from '../../src/log/arena.js';
import { EXTENT_BYTES_MAX, EXTENT_BYTES_MIN, ExtentAllocator, orderFor } from '../../src/log/extent-allocator.js';

describe('extent allocator', () => {
  it('extent allocator - random allocations and frees keep extents disjoint, aligned and inside the arena; all freed merges back (fast-check)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.record({ op: fc.constant('alloc' as const), bytes: fc.integer({ min: 1, max: 8 * 1024 * 1024 }) }), fc.record({ op: fc.constant('free' as const), pick: fc.nat() })), { maxLength: 200 }),
        (ops) => {
          const arena = Arena.create(4 * ARENA_GROW_BYTES);
          const allocator = new ExtentAllocator(arena);
          const live: { address: number; size: number }[] = [];
          for (const op of ops) {
            if (op.op === 'alloc') {
              const address = allocator.allocate(op.bytes);
              if (address < 0) continue;
              const size = allocator.sizeOf(address);
              expect(size).toBe(2 ** orderFor(op.bytes));
              expect(size).toBeGreaterThanOrEqual(op.bytes);
              expect(address % size).toBe(0);
              expect(address + size).toBeLessThanOrEqual(arena.length);
              for (const other of live) expect(address + size <= other.address || other.address + other.size <= address).toBe(true);
              live.push({ address, size });
            } else if (live.length > 0) {
              const [gone] = live.splice(op.pick % live.length, 1);
              allocator.free(gone!.address);
            }
            expect(allocator.allocatedBytes).toBe(live.reduce((sum, e) => sum + e.size, 0));
          }
          for (const extent of live) allocator.free(extent.address);
          const grown = arena.length;
          // Everything merged: each top block is whole again.
          for (let top = 0; top < grown; top += EXTENT_BYTES_MAX) expect(allocator.allocate(EXTENT_BYTES_MAX)).toBeGreaterThanOrEqual(0);
          expect(arena.length).toBe(grown);
        },
      ),
      { numRuns: 60 },
    );
  });

  it('extent allocator - grows the arena a top block at a time and answers -1 at its maximum; a double free is refused', () => {
    const arena = Arena.create(2 * ARENA_GROW_BYTES);
    const allocator = new ExtentAllocator(arena);
    expect(arena.length).toBe(0);
    const first = allocator.allocate(EXTENT_BYTES_MIN);
    expect(first).toBe(0);
    expect(arena.length).toBe(ARENA_GROW_BYTES);
    const big = allocator.allocate(EXTENT_BYTES_MAX);
    expect(big).toBe(ARENA_GROW_BYTES);
    expect(arena.length).toBe(2 * ARENA_GROW_BYTES);
    expect(allocator.allocate(EXTENT_BYTES_MAX)).toBe(-1);
    allocator.free(first);
    expect(() => allocator.free(first)).toThrow(/double free/);
    expect(allocator.allocate(EXTENT_BYTES_MAX)).toBe(0);
  });

  it('arena - other views see growth once they ask for the address (ensure)', () => {
    const arena = Arena.create(2 * ARENA_GROW_BYTES);
    const reader = new Arena(arena.sab);
    const allocator = new ExtentAllocator(arena);
    const address = allocator.allocate(1024);
    arena.u32[address >>> 2] = 0xdead_beef;
    expect(reader.bytes.length).toBe(0);
    reader.ensure(address + 4);
    expect(reader.u32[address >>> 2]).toBe(0xdead_beef);
    expect(() => reader.ensure(3 * ARENA_GROW_BYTES)).toThrow(/beyond the arena/);
    expect(() => Arena.create(1000)).toThrow(expect.objectContaining({ code: 'BATON_INVALID_ARGUMENT' }));
  });
});
