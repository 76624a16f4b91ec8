/**
 * The queue actor's messages by delivery tag. Tags are handed out in increasing order and
 * messages mostly leave in about that order, so a window of slots indexed by `tag & mask` does
 * what a Map did with no hashing and no allocation per message:
 *
 * ```
 *   tags:   base ............................. end
 *   slots:  [ m | - | m | m | - | ... | m | m ]     (- : left already)
 * ```
 *
 * `base` advances past the slots that emptied at the head. A message that stays while many
 * others pass (a delivery never acknowledged) would keep the window growing: when the window is
 * full and mostly empty, the stragglers in its older half move to a Map on the side and the
 * window moves on, so memory stays proportional to the messages present, not to the tags seen.
 */
import assert from 'node:assert/strict';

const CAPACITY_MIN = 1024;

export class TagTable<T> {
  #slots: Array<T | undefined> = new Array<T | undefined>(CAPACITY_MIN);
  #mask = CAPACITY_MIN - 1;
  /** Lowest tag of the window; every tag below it is in `#aside` or gone. */
  #base = 0;
  /** The next tag `add` takes. */
  #end = 0;
  #inWindow = 0;
  readonly #aside = new Map<number, T>();

  constructor(firstTag: number) {
    this.#base = firstTag;
    this.#end = firstTag;
  }

  get size(): number {
    return this.#inWindow + this.#aside.size;
  }

  /** Adds the value of the next tag (tags come in order: `tag` must be one more than the last). */
  add(tag: number, value: T): void {
    if (tag !== this.#end) assert.fail(`tag ${tag} added out of order (expected ${this.#end})`);
    if (this.#end - this.#base === this.#slots.length) this.#makeRoom();
    this.#slots[tag & this.#mask] = value;
    this.#end++;
    this.#inWindow++;
  }

  get(tag: number): T | undefined {
    if (tag >= this.#base && tag < this.#end) return this.#slots[tag & this.#mask];
    return this.#aside.get(tag);
  }

  delete(tag: number): void {
    if (tag >= this.#base && tag < this.#end) {
      const i = tag & this.#mask;
      if (this.#slots[i] === undefined) return;
      this.#slots[i] = undefined;
      this.#inWindow--;
      while (this.#base < this.#end && this.#slots[this.#base & this.#mask] === undefined) this.#base++;
      return;
    }
    this.#aside.delete(tag);
  }

  /** Every value, in tag order. */
  *values(): IterableIterator<T> {
    yield* [...this.#aside.entries()].sort((a, b) => a[0] - b[0]).map(([, value]) => value);
    for (let tag = this.#base; tag < this.#end; tag++) {
      const value = this.#slots[tag & this.#mask];
      if (value !== undefined) yield value;
    }
  }

  #makeRoom(): void {
    const capacity = this.#slots.length;
    if (this.#inWindow * 4 <= capacity) {
      // Mostly empty: the older half's stragglers go aside, the window moves on.
      const newBase = this.#end - capacity / 2;
      for (let tag = this.#base; tag < newBase; tag++) {
        const i = tag & this.#mask;
        const value = this.#slots[i];
        if (value === undefined) continue;
        this.#aside.set(tag, value);
        this.#slots[i] = undefined;
        this.#inWindow--;
      }
      this.#base = newBase;
      while (this.#base < this.#end && this.#slots[this.#base & this.#mask] === undefined) this.#base++;
      return;
    }
    const slots = new Array<T | undefined>(capacity * 2);
    const mask = capacity * 2 - 1;
    for (let tag = this.#base; tag < this.#end; tag++) slots[tag & mask] = this.#slots[tag & this.#mask];
    this.#slots = slots;
    this.#mask = mask;
  }
}
