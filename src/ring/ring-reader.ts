/**
 * The consuming end of a ring, the same for single- and multi-producer rings: there is exactly
 * one reader per ring.
 *
 * A drain reads TAIL once, walks the records from HEAD up to it while their lengths are positive
 * (a zero or negative length is a multi-producer claim still being written: the walk stops
 * there, so a half-written record is never seen), hands each to the callback as a reused
 * zero-copy view, then publishes HEAD once for the whole batch.
 *
 * On multi-producer rings the reader zeroes what it consumed before publishing HEAD: producers
 * claim space by moving TAIL first and mark their claim afterwards, so the bytes of a fresh claim
 * must already read as "nothing here" (length 0).
 */
import assert from 'node:assert';
import { performance } from 'node:perf_hooks';
import {
  alignRecord,
  CLOSED,
  DATA_DOORBELL,
  DATA_OFFSET,
  HEAD,
  PADDING_TYPE,
  PRODUCERS_PARKED,
  RECORD_HEADER_BYTES,
  RingMemory,
  TAIL,
} from './ring-layout.js';
import { RingRecord } from './ring-record.js';
import { napConsumer, parkConsumer, parkConsumerAsync, wakeProducers } from './ring-wait.js';

export type RecordHandler = (record: RingRecord) => void;
/** A scan callback: the record, and the ring position just past it (for `release`). */
export type ScanHandler = (record: RingRecord, endPosition: number) => void;

export interface RingReaderOptions {
  /**
   * Bounds of the adaptive spin before parking, in polls of the ring. The budget doubles after
   * a park that a producer ended quickly (records were coming: spinning a little longer would
   * have saved the ~25 µs park/wake and the producer's notify) and halves after a long one (the
   * ring went idle: park sooner). Default 64 .. 8192 polls, about 2 .. 250 µs.
   */
  spinMin?: number;
  spinMax?: number;
}

/** A park shorter than this was ended by a producer that was already busy: spin longer next time. */
const SHORT_PARK_MS = 0.25;

/** Records handed to the callback per drain when the caller gives no bound. */
export const DRAIN_RECORDS_DEFAULT = 4096;

export class RingReader {
  readonly memory: RingMemory;
  /** Times this reader parked in the kernel (it found the ring empty after spinning). */
  parks = 0;
  readonly #ints: Int32Array;
  readonly #bytes: Uint8Array;
  readonly #mask: number;
  readonly #capacity: number;
  readonly #zeroConsumed: boolean;
  readonly #record: RingRecord;
  readonly #spinMin: number;
  readonly #spinMax: number;
  #spinBudget: number;
  /** Our copy of HEAD: only this reader writes HEAD. */
  #head: number;
  /** Records before this were handed out; those between HEAD and it are held, not yet released. */
  #scan: number;
  readonly #hasRecords = () => this.hasRecords() || this.closed;

  constructor(buffer: SharedArrayBuffer, options: RingReaderOptions = {}) {
    this.memory = new RingMemory(buffer);
    this.#ints = this.memory.ints;
    this.#bytes = this.memory.bytes;
    this.#mask = this.memory.mask;
    this.#capacity = this.memory.capacity;
    this.#zeroConsumed = this.memory.kind === 'multi-producer';
    this.#record = new RingRecord(this.#bytes);
    this.#spinMin = options.spinMin ?? 64;
    this.#spinMax = Math.max(this.#spinMin, options.spinMax ?? 8192);
    this.#spinBudget = this.#spinMin;
    this.#head = Atomics.load(this.#ints, HEAD);
    this.#scan = this.#head;
  }

  get closed(): boolean {
    return Atomics.load(this.#ints, CLOSED) !== 0;
  }

  /** Closes the ring for everyone: writers fail from now on; records already in it stay readable. */
  close(): void {
    this.memory.close();
  }

  /**
   * Rings this ring's doorbell: a parked `waitForRecords*` returns and its caller looks around.
   * For a consumer that also waits on other things (a stop flag, its own async work).
   */
  wake(): void {
    Atomics.add(this.#ints, DATA_DOORBELL, 1);
    Atomics.notify(this.#ints, DATA_DOORBELL);
  }

  /** True when the next record to scan is committed (a padding record counts: scanning skips it). */
  hasRecords(): boolean {
    const head = this.#scan;
    if (Atomics.load(this.#ints, TAIL) === head) return false;
    return Atomics.load(this.#ints, this.memory.lengthIndex(head & this.#mask)) > 0;
  }

  /**
   * Hands up to `recordsMax` committed records to `handler`, in order, then releases their space
   * with one HEAD publication. Returns the number of records handled (padding not counted).
   *
   * The view is valid only during the call. If the handler throws, the records before it and the
   * record it threw on count as consumed (they are not handed out again) and the error propagates.
   */
  drain(handler: RecordHandler, recordsMax = DRAIN_RECORDS_DEFAULT): number {
    try {
      return this.scan(handler, recordsMax);
    } finally {
      if (this.#scan !== this.#head) this.release(this.#scan);
    }
  }

  /**
   * Like `drain`, but keeps the records: their space stays taken until `release` passes them, so
   * a consumer can hold records it has not finished with (an actor host that dies mid-work
   * leaves them in the ring for its replacement). The handler also gets the position just past
   * each record, for `release`. Views stay valid until released.
   */
  scan(handler: ScanHandler, recordsMax = DRAIN_RECORDS_DEFAULT): number {
    const ints = this.#ints;
    const from = this.#scan;
    const tail = Atomics.load(ints, TAIL);
    if (from === tail) return 0;
    const record = this.#record;
    const mask = this.#mask;
    const multiProducer = this.#zeroConsumed;
    let position = from;
    let count = 0;
    try {
      while (position !== tail && count < recordsMax) {
        const index = position & mask;
        const lengthIndex = (DATA_OFFSET + index) >> 2;
        // Multi-producer: the length is each claim's commit, so it is read atomically (it pairs
        // with the writer's commit CAS). Single-producer: the atomic load of TAIL above already
        // ordered every record before it, and a plain read saves an atomic per record.
        const length = multiProducer ? Atomics.load(ints, lengthIndex) : ints[lengthIndex]!;
        if (length <= 0) {
          // A claim still being written; on a single-producer ring TAIL covers only committed records.
          if (!multiProducer) assert.fail(`single-producer ring holds an uncommitted record (length ${length}) before its tail`);
          break;
        }
        const alignedBytes = alignRecord(length);
        if (alignedBytes > this.#capacity - index) assert.fail(`corrupt record length ${length} at ring index ${index}`);
        position = (position + alignedBytes) | 0;
        const type = ints[lengthIndex + 1]!;
        if (type === PADDING_TYPE) continue;
        if (length < RECORD_HEADER_BYTES) assert.fail(`record shorter than its header (${length} bytes) at ring index ${index}`);
        record.type = type;
        record.destination = ints[lengthIndex + 2]!;
        record.meta = ints[lengthIndex + 3]!;
        record.offset = DATA_OFFSET + index + RECORD_HEADER_BYTES;
        record.length = length - RECORD_HEADER_BYTES;
        count++;
        handler(record, position);
      }
    } finally {
      this.#scan = position;
    }
    return count;
  }

  /** The position up to which records have been scanned (handed out). */
  get scanPosition(): number {
    return this.#scan;
  }

  /** Frees the ring space before `position` (a position `scan` reported, or the scan position). */
  release(position: number): void {
    const head = this.#head;
    if (((position - head) >>> 0) > ((this.#scan - head) >>> 0)) {
      assert.fail(`release to ${position} is outside the scanned range [${head}, ${this.#scan}]`);
    }
    if (position !== head) this.#release(head, position);
  }

  /**
   * Waits until a record can be drained or the ring is closed, spinning first and then parking
   * the thread with `Atomics.wait`. For worker threads: it blocks the event loop. Returns false
   * if the timeout passed first.
   */
  waitForRecords(timeoutMs = Number.POSITIVE_INFINITY): boolean {
    const spunFromMs = performance.now();
    if (this.#spin()) return true;
    const parkedMs = performance.now();
    this.parks++;
    parkConsumer(this.#ints, this.#hasRecords, timeoutMs);
    this.#adaptSpin(performance.now() - parkedMs, parkedMs - spunFromMs);
    return this.#hasRecords();
  }

  /**
   * Sleeps at most `timeoutMs` unless records arrive sooner, without asking producers to wake it
   * (ring-wait.ts `napConsumer`): for a consumer that expects more records soon. Blocks the
   * thread; the caller keeps the nap short and turns its event loop between naps.
   */
  napForRecords(timeoutMs: number): boolean {
    napConsumer(this.#ints, this.#hasRecords, timeoutMs);
    return this.#hasRecords();
  }

  /** `waitForRecords` for the main thread: parks with `Atomics.waitAsync`, keeping the event loop alive. */
  async waitForRecordsAsync(timeoutMs = Number.POSITIVE_INFINITY): Promise<boolean> {
    const spunFromMs = performance.now();
    if (this.#spin()) return true;
    const parkedMs = performance.now();
    this.parks++;
    await parkConsumerAsync(this.#ints, this.#hasRecords, timeoutMs);
    this.#adaptSpin(performance.now() - parkedMs, parkedMs - spunFromMs);
    return this.#hasRecords();
  }

  /** Bounded spin: true if records (or the close) arrived within the budget. */
  #spin(): boolean {
    const budget = this.#spinBudget;
    for (let i = 0; i <= budget; i++) {
      if (this.#hasRecords()) return true;
    }
    return false;
  }

  /**
   * A park that ended within the time the spin had taken (records were coming: a spin twice as
   * long would have caught them) doubles the budget; any longer one halves it. Records that
   * come steadily but further apart than any spin (a paced stream) must not grow it: every such
   * spin would be polls wasted on the thread's own time.
   */
  #adaptSpin(parkedMs: number, spunMs: number): void {
    this.#spinBudget = parkedMs < SHORT_PARK_MS && parkedMs <= spunMs
      ? Math.min(this.#spinMax, this.#spinBudget * 2)
      : Math.max(this.#spinMin, this.#spinBudget >> 1);
  }

  #release(from: number, to: number): void {
    const ints = this.#ints;
    const consumedBytes = (to - from) >>> 0;
    assert(consumedBytes <= this.#capacity);
    if (this.#zeroConsumed) {
      // Zero before publishing HEAD: once HEAD moves, producers may claim these bytes, and a fresh
      // claim must read as length 0 until its writer marks it.
      const fromIndex = from & this.#mask;
      const firstPart = Math.min(consumedBytes, this.#capacity - fromIndex);
      this.#bytes.fill(0, DATA_OFFSET + fromIndex, DATA_OFFSET + fromIndex + firstPart);
      if (consumedBytes > firstPart) this.#bytes.fill(0, DATA_OFFSET, DATA_OFFSET + consumedBytes - firstPart);
    }
    // Publish: everything before `to` may now be overwritten.
    Atomics.store(ints, HEAD, to);
    this.#head = to;
    if (Atomics.load(ints, PRODUCERS_PARKED) !== 0) wakeProducers(ints);
  }
}
