/**
 * The queue actor's ready messages: what the next delivery takes, by priority then arrival.
 *
 *   - priorities 0..maxPriority (maxPriority 0: no priorities), higher delivered first, FIFO
 *     within a priority;
 *   - one ring-buffer deque per priority, and a 256-bit bitmap of the non-empty ones: `shift` finds
 *     the highest non-empty priority with at most 8 `Math.clz32`s, never a scan over messages;
 *     push, shift and dropHead are O(1) amortized;
 *   - every message has a **position**, a number `push` hands out in increasing order (0, 1, 2...)
 *     and the caller keeps with the delivery. Each deque stays sorted by position, so `requeue`
 *     (nack with requeue, ack timeout, a dead consumer) puts a message back **at its original
 *     place**, as RabbitMQ does: everything delivered before it from the same priority has left the
 *     deque unless it was requeued too, so the place is found by walking past the requeued
 *     messages ahead of it (O(those), usually 0: the head);
 *   - `remove(priority, position)` takes one message out from anywhere (binary search, then the
 *     shorter side of the deque moves by one), for an expiry or a delete that is not at the head;
 *   - `size` and `bytes` (the sum of the byte sizes given with each message) are kept for
 *     `maxLength`/`maxBytes`;
 *   - `dropHead` removes the message `shift` would return, as RabbitMQ's drop-head overflow does
 *     on a priority queue (it drops from the highest priority first).
 *
 * Positions and byte sizes live in Float64Arrays beside the items, so a million ready messages
 * cost the items themselves plus 16 bytes each; a deque doubles when full and never shrinks
 * below what it held (a queue that was once long keeps its arrays until `clear`).
 */
import assert from 'node:assert/strict';
import { InvalidArgumentError } from '../errors.js';

/** Highest `maxPriority` (RabbitMQ's classic limit): priorities fit one byte. */
export const READY_QUEUE_PRIORITY_MAX = 255;
const DEQUE_CAPACITY_MIN = 8;

/** A growable ring buffer of (item, position, bytes), sorted by position. */
class Deque<T> {
  items: Array<T | undefined> = new Array<T | undefined>(DEQUE_CAPACITY_MIN);
  positions = new Float64Array(DEQUE_CAPACITY_MIN);
  sizes = new Float64Array(DEQUE_CAPACITY_MIN);
  /** Index of the first element. */
  head = 0;
  length = 0;

  get mask(): number {
    return this.items.length - 1;
  }

  /** Physical index of logical index `i`. */
  at(i: number): number {
    return (this.head + i) & this.mask;
  }

  grow(): void {
    if (this.length < this.items.length) return;
    const capacity = this.items.length * 2;
    const items = new Array<T | undefined>(capacity);
    const positions = new Float64Array(capacity);
    const sizes = new Float64Array(capacity);
    for (let i = 0; i < this.length; i++) {
      const j = this.at(i);
      items[i] = this.items[j];
      positions[i] = this.positions[j]!;
      sizes[i] = this.sizes[j]!;
    }
    this.items = items;
    this.positions = positions;
    this.sizes = sizes;
    this.head = 0;
  }

  set(physical: number, item: T | undefined, position: number, bytes: number): void {
    this.items[physical] = item;
    this.positions[physical] = position;
    this.sizes[physical] = bytes;
  }

  copy(fromPhysical: number, toPhysical: number): void {
    this.set(toPhysical, this.items[fromPhysical], this.positions[fromPhysical]!, this.sizes[fromPhysical]!);
  }

  pushBack(item: T, position: number, bytes: number): void {
    this.grow();
    this.set(this.at(this.length), item, position, bytes);
    this.length++;
  }

  /** Inserts at logical index `k` (0..length), moving the shorter side by one. */
  insertAt(k: number, item: T, position: number, bytes: number): void {
    this.grow();
    if (k < this.length - k) {
      this.head = (this.head - 1) & this.mask;
      for (let i = 0; i < k; i++) this.copy(this.at(i + 1), this.at(i));
    } else {
      for (let i = this.length; i > k; i--) this.copy(this.at(i - 1), this.at(i));
    }
    this.set(this.at(k), item, position, bytes);
    this.length++;
  }

  /** Removes logical index `k`, moving the shorter side by one; returns the item. */
  removeAt(k: number): T {
    const item = this.items[this.at(k)] as T;
    if (k < this.length - 1 - k) {
      for (let i = k; i > 0; i--) this.copy(this.at(i - 1), this.at(i));
      this.items[this.head] = undefined;
      this.head = (this.head + 1) & this.mask;
    } else {
      for (let i = k; i < this.length - 1; i++) this.copy(this.at(i + 1), this.at(i));
      this.items[this.at(this.length - 1)] = undefined;
    }
    this.length--;
    return item;
  }

  /** First logical index whose position is >= `position` (binary search). */
  lowerBound(position: number): number {
    let lo = 0;
    let hi = this.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.positions[this.at(mid)]! < position) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

export class ReadyQueue<T> {
  readonly maxPriority: number;
  readonly #deques: Array<Deque<T>>;
  /** Bit p set: the deque of priority p is not empty. */
  readonly #nonEmpty = new Uint32Array(8);
  #size = 0;
  #bytes = 0;
  #nextPosition = 0;

  constructor(maxPriority = 0) {
    if (!Number.isInteger(maxPriority) || maxPriority < 0 || maxPriority > READY_QUEUE_PRIORITY_MAX) {
      throw new InvalidArgumentError(`maxPriority must be an integer in [0, ${READY_QUEUE_PRIORITY_MAX}] (0: no priorities), got ${String(maxPriority)}`);
    }
    this.maxPriority = maxPriority;
    this.#deques = Array.from({ length: maxPriority + 1 }, () => new Deque<T>());
  }

  /** Ready messages. */
  get size(): number {
    return this.#size;
  }

  /** Sum of the byte sizes of the ready messages. */
  get bytes(): number {
    return this.#bytes;
  }

  /** The position the next `push` hands out. */
  get nextPosition(): number {
    return this.#nextPosition;
  }

  /** Appends `item` at the tail of its priority; returns its position (keep it to requeue). */
  push(item: T, priority: number, bytes: number): number {
    this.#check(priority, bytes);
    const position = this.#nextPosition++;
    this.#deques[priority]!.pushBack(item, position, bytes);
    this.#added(priority, bytes);
    return position;
  }

  /**
   * Puts a message taken by `shift` back at its original place: before every message of its
   * priority with a larger position. `position` is what `push` returned for it.
   */
  requeue(item: T, priority: number, bytes: number, position: number): void {
    this.#check(priority, bytes);
    if (!Number.isSafeInteger(position) || position < 0 || position >= this.#nextPosition) {
      throw new InvalidArgumentError(`position must be one push returned (an integer in [0, ${this.#nextPosition})), got ${String(position)}`);
    }
    const deque = this.#deques[priority]!;
    // Walk from the head: only requeued messages can be ahead of it.
    let k = 0;
    while (k < deque.length && deque.positions[deque.at(k)]! < position) k++;
    assert.ok(k === deque.length || deque.positions[deque.at(k)] !== position, `position ${position} is already ready: requeued twice`);
    deque.insertAt(k, item, position, bytes);
    this.#added(priority, bytes);
  }

  /** The next message to deliver without taking it, or undefined when empty. */
  peek(): T | undefined {
    const p = this.#highest();
    if (p < 0) return undefined;
    const deque = this.#deques[p]!;
    return deque.items[deque.head];
  }

  /** Priority of the next message, or -1 when empty. */
  peekPriority(): number {
    return this.#highest();
  }

  /** Position of the next message, or -1 when empty. */
  peekPosition(): number {
    const p = this.#highest();
    if (p < 0) return -1;
    const deque = this.#deques[p]!;
    return deque.positions[deque.head]!;
  }

  /** Takes the next message to deliver: highest priority, then lowest position. */
  shift(): T | undefined {
    const p = this.#highest();
    if (p < 0) return undefined;
    return this.#removeAt(p, 0);
  }

  /** Overflow drop-head: removes and returns the message `shift` would return. */
  dropHead(): T | undefined {
    return this.shift();
  }

  /** Removes the message of `priority` at `position` wherever it is; undefined if it is not ready. */
  remove(priority: number, position: number): T | undefined {
    if (!Number.isInteger(priority) || priority < 0 || priority > this.maxPriority) return undefined;
    const deque = this.#deques[priority]!;
    const k = deque.lowerBound(position);
    if (k === deque.length || deque.positions[deque.at(k)] !== position) return undefined;
    return this.#removeAt(priority, k);
  }

  /** Every ready message in delivery order, without taking them (for purge, stats, snapshots). */
  *[Symbol.iterator](): IterableIterator<T> {
    for (let p = this.maxPriority; p >= 0; p--) {
      const deque = this.#deques[p]!;
      for (let i = 0; i < deque.length; i++) yield deque.items[deque.at(i)] as T;
    }
  }

  /** Every ready message in delivery order with its priority, position and byte size. */
  *entries(): IterableIterator<{ item: T; priority: number; position: number; bytes: number }> {
    for (let p = this.maxPriority; p >= 0; p--) {
      const deque = this.#deques[p]!;
      for (let i = 0; i < deque.length; i++) {
        const j = deque.at(i);
        yield { item: deque.items[j] as T, priority: p, position: deque.positions[j]!, bytes: deque.sizes[j]! };
      }
    }
  }

  /** Empties the queue (purge) and releases its arrays; returns how many messages it held. */
  clear(): number {
    const count = this.#size;
    for (let p = 0; p <= this.maxPriority; p++) this.#deques[p] = new Deque<T>();
    this.#nonEmpty.fill(0);
    this.#size = 0;
    this.#bytes = 0;
    return count;
  }

  #check(priority: number, bytes: number): void {
    if (!Number.isInteger(priority) || priority < 0 || priority > this.maxPriority) {
      throw new InvalidArgumentError(`priority must be an integer in [0, ${this.maxPriority}], got ${String(priority)}`);
    }
    if (!Number.isSafeInteger(bytes) || bytes < 0) {
      throw new InvalidArgumentError(`a message's byte size must be a non-negative integer, got ${String(bytes)}`);
    }
  }

  #added(priority: number, bytes: number): void {
    this.#nonEmpty[priority >>> 5]! |= 1 << (priority & 31);
    this.#size++;
    this.#bytes += bytes;
  }

  #removeAt(priority: number, k: number): T {
    const deque = this.#deques[priority]!;
    this.#bytes -= deque.sizes[deque.at(k)]!;
    const item = deque.removeAt(k);
    if (deque.length === 0) this.#nonEmpty[priority >>> 5]! &= ~(1 << (priority & 31));
    this.#size--;
    return item;
  }

  /** Highest priority with a ready message, or -1. */
  #highest(): number {
    for (let w = (this.maxPriority >>> 5); w >= 0; w--) {
      const bits = this.#nonEmpty[w]!;
      if (bits !== 0) return (w << 5) + 31 - Math.clz32(bits);
    }
    return -1;
  }
}
