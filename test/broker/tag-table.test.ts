// Proves the queue actor's tag table against a Map model: any sequence of adds (in tag order),
// deletes and lookups gives the same answers, sizes and tag-ordered values, including when a few
// old tags stay while many pass (the window moves on and they are kept aside).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TagTable } from '../../src/broker/tag-table.js';

describe('tag table', () => {
  it('tag table - matches a Map under adds, deletes and lookups', () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.record({ add: fc.integer({ min: 1, max: 3000 }) }), fc.record({ deleteAt: fc.double({ min: 0, max: 1, noNaN: true }), keepOld: fc.boolean() })), { maxLength: 60 }),
        (steps) => {
          const table = new TagTable<string>(1);
          const model = new Map<number, string>();
          let next = 1;
          for (const step of steps) {
            if ('add' in step) {
              for (let i = 0; i < step.add; i++, next++) {
                table.add(next, `m${next}`);
                model.set(next, `m${next}`);
              }
            } else {
              // Delete most present tags, sparing the oldest ones sometimes (stragglers).
              const present = [...model.keys()];
              const from = step.keepOld ? Math.floor(present.length / 10) : 0;
              for (const tag of present.slice(from, from + Math.ceil(present.length * step.deleteAt))) {
                table.delete(tag);
                model.delete(tag);
              }
            }
            expect(table.size).toBe(model.size);
          }
          for (let tag = 0; tag <= next; tag++) expect(table.get(tag)).toBe(model.get(tag));
          expect([...table.values()]).toEqual([...model.values()]);
        },
      ),
      { numRuns: 100 },
    );
  });

  it('tag table - adding out of order is refused', () => {
    const table = new TagTable<number>(5);
    table.add(5, 1);
    expect(() => table.add(7, 2)).toThrow(/out of order/);
  });
});
