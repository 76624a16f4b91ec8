// Proves the ready queue delivers highest priority first and FIFO within a priority: for any
// sequence of push, shift, dropHead, requeue of shifted messages, remove, peek and clear, its
// contents, order, size and byte count equal a model kept as an array sorted by
// (-priority, position) (fast-check), including across deque growth and wrap-around; a requeued
// message goes back to its original place; priorities and byte sizes outside their domain are
// BATON_INVALID_ARGUMENT; a million messages go through without a scan per delivery.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ReadyQueue } from '../../src/broker/ready-queue.js';

interface Entry { item: string; priority: number; position: number; bytes: number }

describe('ready queue', () => {
  it('ready queue - highest priority first, FIFO within a priority', () => {
    const q = new ReadyQueue<string>(9);
    q.push('low-1', 0, 1);
    q.push('high-1', 9, 1);
    q.push('mid-1', 5, 1);
    q.push('high-2', 9, 1);
    q.push('low-2', 0, 1);
    q.push('mid-2', 5, 1);
    expect([...q]).toEqual(['high-1', 'high-2', 'mid-1', 'mid-2', 'low-1', 'low-2']);
    expect([q.shift(), q.shift(), q.shift(), q.shift(), q.shift(), q.shift(), q.shift()]).toEqual(['high-1', 'high-2', 'mid-1', 'mid-2', 'low-1', 'low-2', undefined]);
  });

  it('ready queue - without priorities it is a FIFO with byte accounting', () => {
    const q = new ReadyQueue<number>();
    for (let i = 0; i < 100; i++) q.push(i, 0, i);
    expect(q.size).toBe(100);
    expect(q.bytes).toBe(4950);
    for (let i = 0; i < 100; i++) expect(q.shift()).toBe(i);
    expect(q.size).toBe(0);
    expect(q.bytes).toBe(0);
    expect(q.peek()).toBeUndefined();
    expect(q.peekPriority()).toBe(-1);
  });

  it('ready queue - a requeued message goes back to its original place, not the tail', () => {
    const q = new ReadyQueue<string>(1);
    const pos = ['a', 'b', 'c', 'd'].map((m) => q.push(m, 0, 1));
    expect([q.shift(), q.shift(), q.shift()]).toEqual(['a', 'b', 'c']);
    // Nacks arrive out of order: c, then a.
    q.requeue('c', 0, 1, pos[2]!);
    q.requeue('a', 0, 1, pos[0]!);
    expect([...q]).toEqual(['a', 'c', 'd']);
    q.push('e', 0, 1);
    q.push('urgent', 1, 1);
    expect([...q]).toEqual(['urgent', 'a', 'c', 'd', 'e']);
  });

  it('ready queue - requeueing a message that is already ready is an assertion failure', () => {
    const q = new ReadyQueue<string>();
    const p = q.push('a', 0, 1);
    expect(() => q.requeue('a', 0, 1, p)).toThrow(/requeued twice/);
  });

  it('ready queue - dropHead drops the message shift would deliver', () => {
    const q = new ReadyQueue<string>(3);
    q.push('old-low', 0, 1);
    q.push('new-high', 3, 1);
    expect(q.dropHead()).toBe('new-high');
    expect(q.dropHead()).toBe('old-low');
    expect(q.dropHead()).toBeUndefined();
  });

  it('ready queue - remove takes a message out from the middle, and reports one that is not there', () => {
    const q = new ReadyQueue<string>(2);
    const pos = ['a', 'b', 'c', 'd', 'e'].map((m) => q.push(m, 1, 10));
    expect(q.remove(1, pos[2]!)).toBe('c');
    expect(q.remove(1, pos[2]!)).toBeUndefined();
    expect(q.remove(0, pos[1]!)).toBeUndefined();
    expect(q.remove(7, pos[1]!)).toBeUndefined();
    expect([...q]).toEqual(['a', 'b', 'd', 'e']);
    expect(q.bytes).toBe(40);
  });

  it('ready queue - clear empties it for purge and it works afterwards', () => {
    const q = new ReadyQueue<number>(4);
    for (let i = 0; i < 50; i++) q.push(i, i % 5, 3);
    expect(q.clear()).toBe(50);
    expect(q.size).toBe(0);
    expect(q.bytes).toBe(0);
    expect(q.shift()).toBeUndefined();
    q.push(7, 4, 1);
    expect(q.shift()).toBe(7);
  });

  for (const maxPriority of [0, 3]) it(`ready queue - maxPriority ${maxPriority}: agrees with a sorted-array model through any operations (fast-check)`, () => {
    const op = fc.oneof(
      { weight: 50, arbitrary: fc.record({ kind: fc.constant('push' as const), priority: fc.integer({ min: 0, max: maxPriority }), bytes: fc.nat(1000) }) },
      { weight: 30, arbitrary: fc.constant({ kind: 'shift' as const }) },
      { weight: 10, arbitrary: fc.constant({ kind: 'dropHead' as const }) },
      { weight: 30, arbitrary: fc.record({ kind: fc.constant('requeue' as const), pick: fc.nat() }) },
      { weight: 10, arbitrary: fc.record({ kind: fc.constant('remove' as const), pick: fc.nat(), priority: fc.integer({ min: 0, max: maxPriority }) }) },
      { weight: 10, arbitrary: fc.constant({ kind: 'peek' as const }) },
      { weight: 1, arbitrary: fc.constant({ kind: 'clear' as const }) },
    );
    fc.assert(fc.property(fc.array(op, { minLength: 50, maxLength: 400 }), (ops) => {
      const q = new ReadyQueue<string>(maxPriority);
      let model: Entry[] = [];
      const out: Entry[] = []; // shifted, not yet requeued
      let pushed = 0;
      const order = (a: Entry, b: Entry) => b.priority - a.priority || a.position - b.position;
      const take = (): Entry | undefined => {
        model.sort(order);
        return model.shift();
      };
      for (const o of ops) {
        switch (o.kind) {
          case 'push': {
            const item = `m${pushed++}`;
            const position = q.push(item, o.priority, o.bytes);
            model.push({ item, priority: o.priority, position, bytes: o.bytes });
            break;
          }
          case 'shift':
          case 'dropHead': {
            const expected = take();
            expect(o.kind === 'shift' ? q.shift() : q.dropHead()).toBe(expected?.item);
            if (expected !== undefined) out.push(expected);
            break;
          }
          case 'requeue': {
            if (out.length === 0) break;
            const [e] = out.splice(o.pick % out.length, 1);
            q.requeue(e!.item, e!.priority, e!.bytes, e!.position);
            model.push(e!);
            break;
          }
          case 'remove': {
            const candidates = [...model, ...out];
            const target = candidates.length === 0 ? undefined : candidates[o.pick % candidates.length]!;
            const position = target?.position ?? o.pick;
            const present = model.find((e) => e.priority === o.priority && e.position === position);
            expect(q.remove(o.priority, position)).toBe(present?.item);
            if (present) model = model.filter((e) => e !== present);
            break;
          }
          case 'peek': {
            model.sort(order);
            expect(q.peek()).toBe(model[0]?.item);
            expect(q.peekPriority()).toBe(model[0]?.priority ?? -1);
            expect(q.peekPosition()).toBe(model[0]?.position ?? -1);
            break;
          }
          case 'clear':
            expect(q.clear()).toBe(model.length);
            model = [];
            out.length = 0;
            break;
        }
        expect(q.size).toBe(model.length);
        expect(q.bytes).toBe(model.reduce((s, e) => s + e.bytes, 0));
      }
      model.sort(order);
      expect([...q.entries()]).toEqual(model);
      expect([...q]).toEqual(model.map((e) => e.item));
    }), { numRuns: 300 });
  });

  it('ready queue - requeues land in place whichever side of the deque moves', () => {
    const q = new ReadyQueue<number>();
    const pos = Array.from({ length: 12 }, (_, i) => q.push(i, 0, 1));
    for (let i = 0; i < 6; i++) expect(q.shift()).toBe(i);
    // Front side moves (few ahead), then back side moves (many ahead).
    for (const i of [1, 3, 0, 5, 2, 4]) q.requeue(i, 0, 1, pos[i]!);
    expect([...q]).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
    for (let i = 0; i < 12; i++) expect(q.shift()).toBe(i);
  });

  it('ready queue - a million messages over 256 priorities in and out in order', () => {
    const q = new ReadyQueue<number>(255);
    const n = 1_000_000;
    for (let i = 0; i < n; i++) q.push(i, i & 255, 64);
    expect(q.size).toBe(n);
    expect(q.bytes).toBe(64 * n);
    let lastPriority = 255;
    let lastItem = -1;
    for (let i = 0; i < n; i++) {
      const priority = q.peekPriority();
      const item = q.shift()!;
      if (priority !== lastPriority) {
        expect(priority).toBeLessThan(lastPriority);
        lastPriority = priority;
        lastItem = -1;
      }
      if (item <= lastItem || (item & 255) !== priority) throw new Error(`out of order at ${i}: ${item} after ${lastItem} (priority ${priority})`);
      lastItem = item;
    }
    expect(q.size).toBe(0);
  });

  const bad: Array<[string, () => unknown]> = [
    ['maxPriority 256', () => new ReadyQueue(256)],
    ['maxPriority -1', () => new ReadyQueue(-1)],
    ['maxPriority 1.5', () => new ReadyQueue(1.5)],
    ['a priority above maxPriority', () => new ReadyQueue(3).push('x', 4, 1)],
    ['a priority on a queue without priorities', () => new ReadyQueue().push('x', 1, 1)],
    ['a negative priority', () => new ReadyQueue(3).push('x', -1, 1)],
    ['a fractional priority', () => new ReadyQueue(3).push('x', 0.5, 1)],
    ['a negative byte size', () => new ReadyQueue().push('x', 0, -1)],
    ['a NaN byte size', () => new ReadyQueue().push('x', 0, Number.NaN)],
    ['requeue with a position never handed out', () => new ReadyQueue().requeue('x', 0, 1, 0)],
  ];
  for (const [what, call] of bad) {
    it(`ready queue - ${what} is BATON_INVALID_ARGUMENT`, () => {
      expect(call).toThrow(expect.objectContaining({ code: 'BATON_INVALID_ARGUMENT' }));
    });
  }
});
