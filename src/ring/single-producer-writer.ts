/**
 * The writer of a single-producer ring: no CAS on the write path.
 *
 * Write path: reserve space against a cached HEAD (the consumer's line is read only when space
 * looks short), pad to the end of the data area if the record does not fit before it, write the
 * header and payload with plain stores, and publish TAIL with one `Atomics.store` — once per
 * batch. TAIL is the commit: the reader never looks past it, so a writer that dies mid-batch
 * leaves nothing half-written in view, and its replacement simply writes on from TAIL.
 */
import {
  CONSUMER_PARKED,
  DATA_OFFSET,
  HEAD,
  PADDING_TYPE,
  RECORD_HEADER_BYTES,
  TAIL,
  alignRecord,
} from './ring-layout.js';
import { wakeConsumer } from './ring-wait.js';
import { RingWriter } from './ring-writer.js';

export class SingleProducerWriter extends RingWriter {
  /** TAIL plus what this writer reserved and has not yet published. */
  #tail: number;
  #headCache: number;
  #claimStartTail = 0;

  protected override claimTail(): number {
    return this.#tail;
  }

  constructor(buffer: SharedArrayBuffer) {
    super(buffer, 'single-producer');
    this.#tail = Atomics.load(this.ints, TAIL);
    this.#headCache = Atomics.load(this.ints, HEAD);
  }

  override tryWrite(type: number, destination: number, payload: Uint8Array, meta = 0): boolean {
    const recordBytes = RECORD_HEADER_BYTES + payload.length;
    this.checkWrite(type, destination);
    this.checkSize(recordBytes);
    this.assertNoPendingClaim();
    const index = this.#reserve(alignRecord(recordBytes));
    if (index < 0) return false;
    this.#writeRecord(index, recordBytes, type, destination, meta, payload);
    this.#publish();
    return true;
  }

  override tryWriteBatch(type: number, destination: number, payloads: readonly Uint8Array[], start = 0, end = payloads.length): number {
    this.checkBatch(type, destination, payloads, start, end);
    this.assertNoPendingClaim();
    // The hot loop of the data plane: fields in locals, no calls but the copy (#reserve and
    // #writeRecord, inlined by hand).
    const ints = this.ints;
    const bytes = this.bytes;
    const mask = this.mask;
    const capacity = this.capacity;
    let tail = this.#tail;
    let headCache = this.#headCache;
    let k = start;
    for (; k < end; k++) {
      const payload = payloads[k]!;
      const recordBytes = RECORD_HEADER_BYTES + payload.length;
      const alignedBytes = alignRecord(recordBytes);
      let index = tail & mask;
      const toEnd = capacity - index;
      const required = alignedBytes > toEnd ? alignedBytes + toEnd : alignedBytes;
      if (capacity - ((tail - headCache) >>> 0) < required) {
        headCache = Atomics.load(ints, HEAD);
        if (capacity - ((tail - headCache) >>> 0) < required) break;
      }
      if (required !== alignedBytes) {
        const paddingIndex = (DATA_OFFSET + index) >> 2;
        ints[paddingIndex + 1] = PADDING_TYPE;
        ints[paddingIndex] = toEnd;
        index = 0;
      }
      tail = (tail + required) | 0;
      const lengthIndex = (DATA_OFFSET + index) >> 2;
      ints[lengthIndex] = recordBytes;
      ints[lengthIndex + 1] = type;
      ints[lengthIndex + 2] = destination;
      ints[lengthIndex + 3] = 0;
      bytes.set(payload, DATA_OFFSET + index + RECORD_HEADER_BYTES);
    }
    this.#headCache = headCache;
    if (k === start) return 0;
    this.#tail = tail;
    this.#publish();
    return k - start;
  }

  override tryClaim(payloadBytes: number, type: number, destination: number, meta = 0): number {
    const recordBytes = RECORD_HEADER_BYTES + payloadBytes;
    this.checkWrite(type, destination);
    this.checkSize(recordBytes);
    this.assertNoPendingClaim();
    const startTail = this.#tail;
    const index = this.#reserve(alignRecord(recordBytes));
    if (index < 0) return -1;
    this.#claimStartTail = startTail;
    return this.writeClaimHeader(index, type, destination, meta, recordBytes);
  }

  override commit(payloadOffset: number): void {
    const index = this.takeClaim(payloadOffset);
    this.ints[(DATA_OFFSET + index) >> 2] = this.claimRecordBytes;
    this.#publish();
  }

  override abort(payloadOffset: number): void {
    this.takeClaim(payloadOffset);
    // Nothing was published: forgetting the reservation is enough.
    this.#tail = this.#claimStartTail;
  }



  /** Reserves a record's space (after padding, if needed) and returns its data index, or -1 if full. */
  #reserve(alignedBytes: number): number {
    const tail = this.#tail;
    const index = tail & this.mask;
    const toEnd = this.capacity - index;
    const required = alignedBytes > toEnd ? alignedBytes + toEnd : alignedBytes;
    if (this.capacity - ((tail - this.#headCache) >>> 0) < required) {
      this.#headCache = Atomics.load(this.ints, HEAD);
      if (this.capacity - ((tail - this.#headCache) >>> 0) < required) return -1;
    }
    this.#tail = (tail + required) | 0;
    if (required === alignedBytes) return index;
    // Pad to the end so that no record straddles it. Plain stores: publishing TAIL orders them.
    const paddingIndex = (DATA_OFFSET + index) >> 2;
    this.ints[paddingIndex + 1] = PADDING_TYPE;
    this.ints[paddingIndex] = toEnd;
    return 0;
  }

  #writeRecord(index: number, recordBytes: number, type: number, destination: number, meta: number, payload: Uint8Array): void {
    const lengthIndex = (DATA_OFFSET + index) >> 2;
    const ints = this.ints;
    ints[lengthIndex] = recordBytes;
    ints[lengthIndex + 1] = type;
    ints[lengthIndex + 2] = destination;
    ints[lengthIndex + 3] = meta;
    this.bytes.set(payload, DATA_OFFSET + index + RECORD_HEADER_BYTES);
  }

  #publish(): void {
    // The commit: every record before #tail becomes visible to the reader at once.
    Atomics.store(this.ints, TAIL, this.#tail);
    // Dekker with the reader's park: it announces, then re-checks TAIL; we store TAIL, then check.
    if (Atomics.load(this.ints, CONSUMER_PARKED) !== 0) wakeConsumer(this.ints);
  }
}
