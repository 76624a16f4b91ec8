/**
 * A writer of a multi-producer ring: any number of threads (up to WRITER_SLOTS_MAX) write at once.
 *
 * Write path, per record or per batch:
 *  1. announce the attempt in this writer's slot (claim position and size), then
 *  2. claim space by moving TAIL with `Atomics.compareExchange`;
 *  3. if the claim wraps, commit a padding record to the end first;
 *  4. mark the claim in progress: the first length word holds -(claimed record bytes);
 *  5. write headers and payloads with plain stores (later records of a batch get their lengths);
 *  6. commit: swap the first length from negative to positive. That single store releases the
 *     whole batch to the reader, which stops at any length <= 0.
 *
 * Step 1 is what makes a dead writer repairable without guessing: `repairRing` finds the claim
 * a dead writer left in flight from its slot, knows its exact extent, and turns it into padding
 * — and can tell it apart from a live writer's claim, which it never touches.
 */
import assert from 'node:assert';
import {
  CONSUMER_PARKED,
  DATA_OFFSET,
  HEAD,
  HEAD_CACHE,
  PADDING_TYPE,
  RECORD_HEADER_BYTES,
  SLOT_CLAIM_BYTES,
  SLOT_CLAIM_POSITION,
  TAIL,
  alignRecord,
} from './ring-layout.js';
import { wakeConsumer } from './ring-wait.js';
import { RingWriter } from './ring-writer.js';

export class MultiProducerWriter extends RingWriter {
  readonly #slotPosition: number;
  readonly #slotBytes: number;

  protected override claimTail(): number {
    return Atomics.load(this.ints, TAIL);
  }

  constructor(buffer: SharedArrayBuffer) {
    super(buffer, 'multi-producer');
    this.#slotPosition = this.memory.slotIndex(this.slot, SLOT_CLAIM_POSITION);
    this.#slotBytes = this.memory.slotIndex(this.slot, SLOT_CLAIM_BYTES);
  }

  override tryWrite(type: number, destination: number, payload: Uint8Array, meta = 0): boolean {
    const recordBytes = RECORD_HEADER_BYTES + payload.length;
    this.checkWrite(type, destination);
    this.checkSize(recordBytes);
    this.assertNoPendingClaim();
    const alignedBytes = alignRecord(recordBytes);
    const index = this.#claim(alignedBytes);
    if (index < 0) return false;
    this.#writeHeaderAndPayload(index, type, destination, meta, payload);
    this.#commitClaim(index, recordBytes, alignedBytes);
    return true;
  }

  override tryWriteBatch(type: number, destination: number, payloads: readonly Uint8Array[], start = 0, end = payloads.length): number {
    this.checkBatch(type, destination, payloads, start, end);
    this.assertNoPendingClaim();
    if (start >= end) return 0;
    // One claim covers the batch. Keep it within half the ring, which any claim fits once the
    // ring drains; under contention, halve it until it fits now.
    let count = 0;
    let claimBytes = 0;
    while (start + count < end) {
      const next = alignRecord(RECORD_HEADER_BYTES + payloads[start + count]!.length);
      if (count > 0 && claimBytes + next > this.capacity / 2) break;
      claimBytes += next;
      count++;
    }
    let index = this.#claim(claimBytes);
    while (index < 0) {
      if (count === 1) return 0;
      count >>= 1;
      claimBytes = 0;
      for (let k = start; k < start + count; k++) claimBytes += alignRecord(RECORD_HEADER_BYTES + payloads[k]!.length);
      index = this.#claim(claimBytes);
    }
    let recordIndex = index;
    for (let k = start; k < start + count; k++) {
      const payload = payloads[k]!;
      const recordBytes = RECORD_HEADER_BYTES + payload.length;
      // Every length but the first is final at once: the reader cannot pass the first (still
      // negative) length, and the commit's atomic store makes these plain stores visible with it.
      if (k !== start) this.ints[(DATA_OFFSET + recordIndex) >> 2] = recordBytes;
      this.#writeHeaderAndPayload(recordIndex, type, destination, 0, payload);
      recordIndex += alignRecord(recordBytes);
    }
    this.#commitClaim(index, RECORD_HEADER_BYTES + payloads[start]!.length, claimBytes);
    return count;
  }

  override tryClaim(payloadBytes: number, type: number, destination: number, meta = 0): number {
    const recordBytes = RECORD_HEADER_BYTES + payloadBytes;
    this.checkWrite(type, destination);
    this.checkSize(recordBytes);
    this.assertNoPendingClaim();
    const index = this.#claim(alignRecord(recordBytes));
    if (index < 0) return -1;
    return this.writeClaimHeader(index, type, destination, meta, recordBytes);
  }

  override commit(payloadOffset: number): void {
    const index = this.takeClaim(payloadOffset);
    this.#commitClaim(index, this.claimRecordBytes, alignRecord(this.claimRecordBytes));
  }

  override abort(payloadOffset: number): void {
    const index = this.takeClaim(payloadOffset);
    // TAIL has moved past the claim, so it must be consumed: commit it as padding.
    this.ints[((DATA_OFFSET + index) >> 2) + 1] = PADDING_TYPE;
    this.#commitClaim(index, alignRecord(this.claimRecordBytes), alignRecord(this.claimRecordBytes));
  }



  /**
   * Claims `recordsBytes` of contiguous space (plus padding to the end when they do not fit
   * before it) and marks it in progress. Returns the data index of the first record, or -1 if
   * the ring is full.
   */
  #claim(recordsBytes: number): number {
    const ints = this.ints;
    const capacity = this.capacity;
    for (;;) {
      const tail = Atomics.load(ints, TAIL);
      const required = this.memory.claimBytes(tail, recordsBytes);
      // HEAD_CACHE never runs ahead of HEAD (it is only ever set from a load of HEAD), so a stale
      // value understates free space and costs at most a reload, never an overwrite.
      if (capacity - ((tail - Atomics.load(ints, HEAD_CACHE)) >>> 0) < required) {
        const head = Atomics.load(ints, HEAD);
        if (capacity - ((tail - head) >>> 0) < required) return -1;
        Atomics.store(ints, HEAD_CACHE, head);
      }
      // Announce before the CAS: if this thread dies right after winning it, repair still knows
      // where and how large the claim is. The announcement stays until the next claim: repair
      // tells a committed claim by its length. The atomic store of the position publishes the
      // plain store of the size with it.
      ints[this.#slotBytes] = required;
      Atomics.store(ints, this.#slotPosition, tail);
      if (Atomics.compareExchange(ints, TAIL, tail, (tail + required) | 0) !== tail) continue;
      let index = tail & this.mask;
      if (required !== recordsBytes) {
        const paddingIndex = (DATA_OFFSET + index) >> 2;
        ints[paddingIndex + 1] = PADDING_TYPE;
        Atomics.store(ints, paddingIndex, required - recordsBytes);
        index = 0;
      }
      const lengthIndex = (DATA_OFFSET + index) >> 2;
      const previous = Atomics.compareExchange(ints, lengthIndex, 0, -recordsBytes);
      if (previous !== 0) assert.fail(`claimed ring space was not free (length word ${previous} at index ${index})`);
      return index;
    }
  }

  #writeHeaderAndPayload(index: number, type: number, destination: number, meta: number, payload: Uint8Array): void {
    const lengthIndex = (DATA_OFFSET + index) >> 2;
    const ints = this.ints;
    ints[lengthIndex + 1] = type;
    ints[lengthIndex + 2] = destination;
    ints[lengthIndex + 3] = meta;
    this.bytes.set(payload, DATA_OFFSET + index + RECORD_HEADER_BYTES);
  }

  /** Releases a claim to the reader: its first length goes from -claimBytes to the record's length. */
  #commitClaim(index: number, firstRecordBytes: number, claimBytes: number): void {
    const ints = this.ints;
    const previous = Atomics.compareExchange(ints, (DATA_OFFSET + index) >> 2, -claimBytes, firstRecordBytes);
    if (previous !== -claimBytes) assert.fail(`ring claim at index ${index} changed under its writer (length word ${previous})`);
    if (Atomics.load(ints, CONSUMER_PARKED) !== 0) wakeConsumer(ints);
  }
}
