/**
 * Timers for millions of messages: delayed messages (`delayMs`, nack with delay) waiting to become
 * ready, and per-message TTL deadlines. A binary min-heap ordered by due time, then by the order of
 * pushing, so messages due at the same millisecond come out first-in first-out.
 *
 * Layout: three parallel arrays indexed by heap slot - `dueMs` and `seq` in Float64Arrays, the
 * items in a plain array - so an entry costs 16 bytes plus its item, a comparison reads two
 * doubles, and nothing is allocated per push, pop or comparison (pops return the item; `popDue`
 * allocates the array it returns). Sifting moves a "hole" instead of swapping, so each level costs
 * one write per array. Capacity doubles when full and halves when a quarter full (down to the
 * initial capacity), so a burst of millions does not pin its memory forever.
 *
 * There is no remove-by-handle: keeping every entry's slot up to date would cost a write per move.
 * A timer that no longer matters (a TTL deadline of a message already acked, a delayed message of
 * a purged queue) is either skipped when it comes due, or dropped in bulk with `removeWhere`, an
 * O(n) filter and re-heapify the owner runs when stale entries pile up.
 */
import { InvalidArgumentError } from '../errors.js';

const DELAY_HEAP_CAPACITY_MIN = 16;

export class DelayHeap<T> {
  #dueMs: Float64Array;
  #seq: Float64Array;
  #items: Array<T | undefined>;
  #size = 0;
  #nextSeq = 0;
  readonly #initialCapacity: number;

  constructor(initialCapacity = DELAY_HEAP_CAPACITY_MIN) {
    if (!Number.isSafeInteger(initialCapacity) || initialCapacity < 1) {
      throw new InvalidArgumentError(`initialCapacity must be a positive integer, got ${String(initialCapacity)}`);
    }
    this.#initialCapacity = Math.max(DELAY_HEAP_CAPACITY_MIN, initialCapacity);
    this.#dueMs = new Float64Array(this.#initialCapacity);
    this.#seq = new Float64Array(this.#initialCapacity);
    this.#items = new Array<T | undefined>(this.#initialCapacity);
  }

  /** Entries waiting. */
  get size(): number {
    return this.#size;
  }

  /** Due time of the earliest entry, or Infinity when empty (arm the timer for it). */
  get nextDueMs(): number {
    return this.#size === 0 ? Infinity : this.#dueMs[0]!;
  }

  /** Adds `item`, due at `dueMs` (any finite number of milliseconds, e.g. Date.now() + delay). */
  push(dueMs: number, item: T): void {
    if (typeof dueMs !== 'number' || !Number.isFinite(dueMs)) {
      throw new InvalidArgumentError(`a due time must be a finite number of milliseconds, got ${String(dueMs)}`);
    }
    if (this.#size === this.#dueMs.length) this.#resize(this.#dueMs.length * 2);
    this.#siftUp(this.#size++, dueMs, this.#nextSeq++, item);
  }

  /** The earliest entry without taking it, or undefined when empty. */
  peek(): T | undefined {
    return this.#size === 0 ? undefined : this.#items[0];
  }

  /** Takes the earliest entry, due or not; undefined when empty. */
  pop(): T | undefined {
    if (this.#size === 0) return undefined;
    const top = this.#items[0] as T;
    const last = --this.#size;
    const dueMs = this.#dueMs[last]!;
    const seq = this.#seq[last]!;
    const item = this.#items[last];
    this.#items[last] = undefined;
    if (last > 0) this.#siftDown(0, dueMs, seq, item);
    if (this.#size <= this.#dueMs.length >>> 2 && this.#dueMs.length > this.#initialCapacity) {
      this.#resize(Math.max(this.#initialCapacity, this.#dueMs.length >>> 1));
    }
    return top;
  }

  /** Takes up to `max` entries due at or before `nowMs`, earliest first. */
  popDue(nowMs: number, max = Infinity): T[] {
    if (typeof nowMs !== 'number' || Number.isNaN(nowMs)) {
      throw new InvalidArgumentError(`now must be a number of milliseconds, got ${String(nowMs)}`);
    }
    if (max !== Infinity && (!Number.isSafeInteger(max) || max < 0)) {
      throw new InvalidArgumentError(`max must be a non-negative integer or Infinity, got ${String(max)}`);
    }
    const due: T[] = [];
    while (due.length < max && this.#size > 0 && this.#dueMs[0]! <= nowMs) due.push(this.pop() as T);
    return due;
  }

  /** Drops every entry for which `predicate` is true, in O(n); returns how many. */
  removeWhere(predicate: (item: T, dueMs: number) => boolean): number {
    let kept = 0;
    for (let i = 0; i < this.#size; i++) {
      const item = this.#items[i] as T;
      if (predicate(item, this.#dueMs[i]!)) continue;
      this.#dueMs[kept] = this.#dueMs[i]!;
      this.#seq[kept] = this.#seq[i]!;
      this.#items[kept] = item;
      kept++;
    }
    const removed = this.#size - kept;
    this.#items.fill(undefined, kept, this.#size);
    this.#size = kept;
    // Floyd's heapify: sift down every inner node, bottom up.
    for (let i = (kept >>> 1) - 1; i >= 0; i--) this.#siftDown(i, this.#dueMs[i]!, this.#seq[i]!, this.#items[i]);
    return removed;
  }

  /** Empties the heap and releases its arrays; returns how many entries it held. */
  clear(): number {
    const count = this.#size;
    this.#dueMs = new Float64Array(this.#initialCapacity);
    this.#seq = new Float64Array(this.#initialCapacity);
    this.#items = new Array<T | undefined>(this.#initialCapacity);
    this.#size = 0;
    return count;
  }

  /** Every entry, in no particular order (heap order), without taking them. */
  *entries(): IterableIterator<{ item: T; dueMs: number }> {
    for (let i = 0; i < this.#size; i++) yield { item: this.#items[i] as T, dueMs: this.#dueMs[i]! };
  }

  /** Places (dueMs, seq, item) starting from the hole at `i`, moving parents down. */
  #siftUp(i: number, dueMs: number, seq: number, item: T | undefined): void {
    const due = this.#dueMs;
    const seqs = this.#seq;
    const items = this.#items;
    while (i > 0) {
      const parent = (i - 1) >>> 1;
      const pd = due[parent]!;
      if (pd < dueMs || (pd === dueMs && seqs[parent]! < seq)) break;
      due[i] = pd;
      seqs[i] = seqs[parent]!;
      items[i] = items[parent];
      i = parent;
    }
    due[i] = dueMs;
    seqs[i] = seq;
    items[i] = item;
  }

  /** Places (dueMs, seq, item) starting from the hole at `i`, moving the smaller child up. */
  #siftDown(i: number, dueMs: number, seq: number, item: T | undefined): void {
    const due = this.#dueMs;
    const seqs = this.#seq;
    const items = this.#items;
    const n = this.#size;
    for (;;) {
      let child = 2 * i + 1;
      if (child >= n) break;
      const right = child + 1;
      if (right < n) {
        const cd = due[child]!;
        const rd = due[right]!;
        if (rd < cd || (rd === cd && seqs[right]! < seqs[child]!)) child = right;
      }
      const cd = due[child]!;
      if (dueMs < cd || (dueMs === cd && seq < seqs[child]!)) break;
      due[i] = cd;
      seqs[i] = seqs[child]!;
      items[i] = items[child];
      i = child;
    }
    due[i] = dueMs;
    seqs[i] = seq;
    items[i] = item;
  }

  #resize(capacity: number): void {
    const dueMs = new Float64Array(capacity);
    const seq = new Float64Array(capacity);
    dueMs.set(this.#dueMs.subarray(0, this.#size));
    seq.set(this.#seq.subarray(0, this.#size));
    const items = this.#items.slice(0, this.#size);
    items.length = capacity;
    this.#dueMs = dueMs;
    this.#seq = seq;
    this.#items = items;
  }
}
