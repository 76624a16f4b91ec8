// Proves the delay heap hands entries out by due time, first-in first-out among equal due times:
// for any sequence of push, pop, popDue(now, max), peek, removeWhere and clear its contents and
// order equal a model kept as an array sorted by (due, push order) (fast-check), across growth and
// shrinking; popDue never returns an entry due after now nor more than max; a million timers go in
// and come out in order; bad due times, nows and maxes are BATON_INVALID_ARGUMENT. No wall clock:
// due times are plain numbers.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DelayHeap } from '../../src/broker/delay-heap.js';

interface Entry { item: number; dueMs: number; seq: number }

describe('delay heap', () => {
  it('delay heap - earliest due first, FIFO among equal due times', () => {
    const h = new DelayHeap<string>();
    h.push(30, 'c');
    h.push(10, 'a1');
    h.push(20, 'b');
    h.push(10, 'a2');
    h.push(-5, 'past');
    expect(h.nextDueMs).toBe(-5);
    expect(h.peek()).toBe('past');
    expect([h.pop(), h.pop(), h.pop(), h.pop(), h.pop(), h.pop()]).toEqual(['past', 'a1', 'a2', 'b', 'c', undefined]);
    expect(h.nextDueMs).toBe(Infinity);
  });

  it('delay heap - popDue takes what is due at now, up to max, and leaves the rest', () => {
    const h = new DelayHeap<number>();
    for (let i = 0; i < 10; i++) h.push(i * 10, i);
    expect(h.popDue(25)).toEqual([0, 1, 2]);
    expect(h.popDue(25)).toEqual([]);
    expect(h.popDue(70, 2)).toEqual([3, 4]);
    expect(h.popDue(70, 0)).toEqual([]);
    expect(h.popDue(Infinity)).toEqual([5, 6, 7, 8, 9]);
    expect(h.size).toBe(0);
  });

  it('delay heap - removeWhere drops stale timers and keeps the order of the rest', () => {
    const h = new DelayHeap<number>();
    for (let i = 0; i < 100; i++) h.push(100 - i, i);
    expect(h.removeWhere((item) => item % 3 === 0)).toBe(34);
    expect(h.size).toBe(66);
    const out: number[] = [];
    for (let x = h.pop(); x !== undefined; x = h.pop()) out.push(x);
    expect(out).toEqual(Array.from({ length: 100 }, (_, i) => 99 - i).filter((i) => i % 3 !== 0));
  });

  it('delay heap - agrees with a sorted-array model through any operations (fast-check)', () => {
    const op = fc.oneof(
      { weight: 50, arbitrary: fc.record({ kind: fc.constant('push' as const), dueMs: fc.integer({ min: 0, max: 40 }) }) },
      { weight: 15, arbitrary: fc.constant({ kind: 'pop' as const }) },
      { weight: 15, arbitrary: fc.record({ kind: fc.constant('popDue' as const), nowMs: fc.integer({ min: -1, max: 45 }), max: fc.oneof(fc.nat(5), fc.constant(Infinity)) }) },
      { weight: 10, arbitrary: fc.constant({ kind: 'peek' as const }) },
      { weight: 3, arbitrary: fc.record({ kind: fc.constant('removeWhere' as const), mod: fc.integer({ min: 2, max: 4 }) }) },
      { weight: 1, arbitrary: fc.constant({ kind: 'clear' as const }) },
    );
    fc.assert(fc.property(fc.array(op, { minLength: 50, maxLength: 400 }), (ops) => {
      const h = new DelayHeap<number>(1);
      let model: Entry[] = [];
      let pushed = 0;
      const sortModel = () => model.sort((a, b) => a.dueMs - b.dueMs || a.seq - b.seq);
      for (const o of ops) {
        switch (o.kind) {
          case 'push':
            h.push(o.dueMs, pushed);
            model.push({ item: pushed, dueMs: o.dueMs, seq: pushed });
            pushed++;
            break;
          case 'pop':
            sortModel();
            expect(h.pop()).toBe(model.shift()?.item);
            break;
          case 'popDue': {
            sortModel();
            const expected: number[] = [];
            while (expected.length < o.max && model.length > 0 && model[0]!.dueMs <= o.nowMs) expected.push(model.shift()!.item);
            expect(h.popDue(o.nowMs, o.max)).toEqual(expected);
            break;
          }
          case 'peek':
            sortModel();
            expect(h.peek()).toBe(model[0]?.item);
            expect(h.nextDueMs).toBe(model[0]?.dueMs ?? Infinity);
            break;
          case 'removeWhere': {
            const before = model.length;
            model = model.filter((e) => e.item % o.mod !== 0);
            expect(h.removeWhere((item) => item % o.mod === 0)).toBe(before - model.length);
            break;
          }
          case 'clear':
            expect(h.clear()).toBe(model.length);
            model = [];
            break;
        }
        expect(h.size).toBe(model.length);
      }
      expect(new Set([...h.entries()].map((e) => e.item))).toEqual(new Set(model.map((e) => e.item)));
      sortModel();
      expect(h.popDue(Infinity)).toEqual(model.map((e) => e.item));
    }), { numRuns: 300 });
  });

  it('delay heap - a million timers in random order come out sorted, ties in push order', () => {
    const h = new DelayHeap<number>();
    const n = 1_000_000;
    // A fixed LCG: reproducible "random" due times with many ties.
    let x = 12345;
    for (let i = 0; i < n; i++) {
      x = (Math.imul(x, 1103515245) + 12345) >>> 0;
      h.push(x % 100_000, i);
    }
    expect(h.size).toBe(n);
    let lastDue = -1;
    let lastItem = -1;
    let popped = 0;
    for (;;) {
      const dueMs = h.nextDueMs;
      const batch = h.popDue(dueMs, 10_000);
      if (batch.length === 0) break;
      for (const item of batch) {
        if (dueMs < lastDue || (dueMs === lastDue && item < lastItem)) throw new Error(`out of order: ${item} due ${dueMs} after ${lastItem} due ${lastDue}`);
        lastDue = dueMs;
        lastItem = item;
      }
      popped += batch.length;
    }
    expect(popped).toBe(n);
    expect(h.size).toBe(0);
  });

  const bad: Array<[string, () => unknown]> = [
    ['a NaN due time', () => new DelayHeap().push(Number.NaN, 1)],
    ['an infinite due time', () => new DelayHeap().push(Infinity, 1)],
    ['a due time that is not a number', () => new DelayHeap().push('10' as unknown as number, 1)],
    ['a NaN now', () => new DelayHeap().popDue(Number.NaN)],
    ['a negative max', () => new DelayHeap().popDue(0, -1)],
    ['a fractional max', () => new DelayHeap().popDue(0, 1.5)],
    ['a zero initial capacity', () => new DelayHeap(0)],
  ];
  for (const [what, call] of bad) {
    it(`delay heap - ${what} is BATON_INVALID_ARGUMENT`, () => {
      expect(call).toThrow(expect.objectContaining({ code: 'BATON_INVALID_ARGUMENT' }));
    });
  }
});
