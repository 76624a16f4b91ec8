/**
 * What the two kinds of ring writer share: argument checks, writer slots, waiting for space and
 * the awaiting/blocking forms of each write. The claim and publication protocols differ and live
 * in `SingleProducerWriter` (plain stores, TAIL published once per batch) and
 * `MultiProducerWriter` (space claimed with compareExchange, commit by length).
 */
import assert from 'node:assert';
import { ClosedError, InvalidArgumentError, MessageTooLargeError } from '../errors.js';
import {
  CLOSED,
  DATA_OFFSET,
  HEAD,
  NO_CLAIM,
  RECORD_HEADER_BYTES,
  RingMemory,
  type RingKind,
  SLOT_CLAIM_BYTES,
  SLOT_FREE,
  SLOT_PARKED,
  SLOT_STATE,
  SLOT_TAKEN,
  TAIL,
  WRITER_SLOTS_MAX,
  alignRecord,
} from './ring-layout.js';
import { parkProducer, parkProducerAsync, rouseConsumer } from './ring-wait.js';

const NO_PENDING_CLAIM = -1;

export abstract class RingWriter {
  readonly memory: RingMemory;
  /** The writer slot this writer holds; `repairRing` takes the slots of dead writers. */
  readonly slot: number;
  /** The ring's whole buffer as bytes: `tryClaim` returns offsets into it. */
  readonly bytes: Uint8Array;
  protected readonly ints: Int32Array;
  protected readonly mask: number;
  protected readonly capacity: number;
  protected readonly maxRecordBytes: number;
  protected readonly slotParkedIndex: number;
  #released = false;

  protected constructor(buffer: SharedArrayBuffer, kind: RingKind) {
    this.memory = new RingMemory(buffer);
    if (this.memory.kind !== kind) {
      throw new InvalidArgumentError(`a ${kind} writer cannot attach to a ${this.memory.kind} ring; use attachWriter()`);
    }
    this.ints = this.memory.ints;
    this.bytes = this.memory.bytes;
    this.mask = this.memory.mask;
    this.capacity = this.memory.capacity;
    this.maxRecordBytes = this.memory.maxRecordBytes;
    this.slot = acquireSlot(this.memory);
    this.slotParkedIndex = this.memory.slotIndex(this.slot, SLOT_PARKED);
  }

  /** Writes one record if there is room: false when the ring is full (nothing written). */
  abstract tryWrite(type: number, destination: number, payload: Uint8Array, meta?: number): boolean;

  /**
   * Writes `payloads[start..end)` as records of one type and destination, as many as fit, and
   * publishes them together. Returns how many were written (0 when the ring is full). The batch
   * is checked whole first: one bad record rejects it before anything is written.
   */
  abstract tryWriteBatch(type: number, destination: number, payloads: readonly Uint8Array[], start?: number, end?: number): number;

  /**
   * Zero-copy write: reserves a record of `payloadBytes` and returns the offset in `bytes` where
   * its payload goes, or -1 when the ring is full. Follow with `commit` (or `abort`) before the
   * next write from this writer.
   */
  abstract tryClaim(payloadBytes: number, type: number, destination: number, meta?: number): number;
  abstract commit(payloadOffset: number): void;
  abstract abort(payloadOffset: number): void;

  /** The tail a new claim would start from (this writer's own view for a single producer). */
  protected abstract claimTail(): number;

  /** Data index of the record claimed by `tryClaim` and not yet committed or aborted; -1: none. */
  protected claimIndex = NO_PENDING_CLAIM;
  protected claimRecordBytes = 0;

  /** True if a record of `alignedBytes` (with any padding before it) fits now. */
  protected hasSpaceFor(alignedBytes: number): boolean {
    const tail = this.claimTail();
    return this.capacity - ((tail - Atomics.load(this.ints, HEAD)) >>> 0) >= this.memory.claimBytes(tail, alignedBytes);
  }

  /** Ends the pending claim, checking that `payloadOffset` is its payload; returns its data index. */
  protected takeClaim(payloadOffset: number): number {
    const index = this.claimIndex;
    assert(index !== NO_PENDING_CLAIM && payloadOffset === DATA_OFFSET + index + RECORD_HEADER_BYTES, 'commit/abort of an offset that is not the pending claim');
    this.claimIndex = NO_PENDING_CLAIM;
    return index;
  }

  /** One claim at a time per writer: a write while a claim is pending is a programming error. */
  protected assertNoPendingClaim(): void {
    if (this.claimIndex !== NO_PENDING_CLAIM) assert.fail('commit or abort the pending claim before writing again');
  }

  /** Writes a claimed record's header fields other than its length (the length is its commit). */
  protected writeClaimHeader(index: number, type: number, destination: number, meta: number, recordBytes: number): number {
    const lengthIndex = (DATA_OFFSET + index) >> 2;
    this.ints[lengthIndex + 1] = type;
    this.ints[lengthIndex + 2] = destination;
    this.ints[lengthIndex + 3] = meta;
    this.claimIndex = index;
    this.claimRecordBytes = recordBytes;
    return DATA_OFFSET + index + RECORD_HEADER_BYTES;
  }

  /**
   * Writes one record of `payloadBytes` whose payload `fill` writes in place, at `bytes[offset]`:
   * no payload buffer to allocate and copy. False when the ring is full (nothing written). A
   * `fill` that throws aborts the claim (the space becomes padding) and the error propagates.
   */
  tryWriteWith(type: number, destination: number, payloadBytes: number, fill: (bytes: Uint8Array, offset: number) => void, meta = 0): boolean {
    const offset = this.tryClaim(payloadBytes, type, destination, meta);
    if (offset < 0) return false;
    try {
      fill(this.bytes, offset);
    } catch (error) {
      this.abort(offset);
      throw error;
    }
    this.commit(offset);
    return true;
  }

  /** Wakes the consumer even from a nap (ring-wait.ts `rouseConsumer`): after writing a record that should not wait. */
  rouse(): void {
    rouseConsumer(this.ints);
  }

  /** Writes one record, waiting (without blocking the event loop) while the ring is full. */
  async write(type: number, destination: number, payload: Uint8Array, meta = 0): Promise<void> {
    while (!this.tryWrite(type, destination, payload, meta)) {
      await this.waitForSpaceAsync(payload.length);
    }
  }

  /** Writes one record, blocking the thread while the ring is full. For worker threads. */
  writeBlocking(type: number, destination: number, payload: Uint8Array, meta = 0): void {
    while (!this.tryWrite(type, destination, payload, meta)) {
      this.waitForSpace(payload.length);
    }
  }

  /** Writes every payload, in order, waiting for space as needed. */
  async writeBatch(type: number, destination: number, payloads: readonly Uint8Array[]): Promise<void> {
    for (let next = 0; next < payloads.length; ) {
      next += this.tryWriteBatch(type, destination, payloads, next);
      if (next < payloads.length) await this.waitForSpaceAsync(payloads[next]!.length);
    }
  }

  /** `writeBatch` that blocks the thread while the ring is full. For worker threads. */
  writeBatchBlocking(type: number, destination: number, payloads: readonly Uint8Array[]): void {
    for (let next = 0; next < payloads.length; ) {
      next += this.tryWriteBatch(type, destination, payloads, next);
      if (next < payloads.length) this.waitForSpace(payloads[next]!.length);
    }
  }

  /** Blocks until a record with `payloadBytes` fits or the ring closes; false on timeout. */
  waitForSpace(payloadBytes: number, timeoutMs = Number.POSITIVE_INFINITY): boolean {
    const ready = this.#spaceReady(payloadBytes);
    if (ready()) return true;
    parkProducer(this.ints, this.slotParkedIndex, ready, timeoutMs);
    return ready();
  }

  /** `waitForSpace` that keeps the event loop running (and alive) while it waits. */
  async waitForSpaceAsync(payloadBytes: number, timeoutMs = Number.POSITIVE_INFINITY): Promise<boolean> {
    const ready = this.#spaceReady(payloadBytes);
    if (ready()) return true;
    await parkProducerAsync(this.ints, this.slotParkedIndex, ready, timeoutMs);
    return ready();
  }

  get closed(): boolean {
    return Atomics.load(this.ints, CLOSED) !== 0;
  }

  /** Closes the ring for every endpoint: further writes fail with BATON_CLOSED; readers drain and stop. */
  close(): void {
    this.memory.close();
  }

  /** Gives the writer slot back, so another writer may attach. The ring stays open. */
  release(): void {
    if (this.#released) return;
    this.#released = true;
    Atomics.store(this.ints, this.memory.slotIndex(this.slot, SLOT_CLAIM_BYTES), NO_CLAIM);
    Atomics.store(this.ints, this.memory.slotIndex(this.slot, SLOT_STATE), SLOT_FREE);
  }

  /** Bytes between the ring's head and tail: a snapshot for stats and tests. */
  usedBytes(): number {
    return (Atomics.load(this.ints, TAIL) - Atomics.load(this.ints, HEAD)) >>> 0;
  }

  /**
   * Throws the typed error for a write this ring cannot take. One call per write or per batch:
   * the closed check is an atomic load (tens of ns on V8 11), too dear for every record.
   */
  protected checkWrite(type: number, destination: number): void {
    if (Atomics.load(this.ints, CLOSED) !== 0) {
      throw new ClosedError('the ring is closed; records can no longer be written to it');
    }
    if (this.#released) {
      throw new ClosedError('this writer released its slot; attach a new writer to write again');
    }
    if ((type | 0) !== type || type < 0) {
      throw new InvalidArgumentError(`record type must be an integer 0 .. 2^31-1, got ${type}`);
    }
    if ((destination | 0) !== destination) {
      throw new InvalidArgumentError(`record destination must be an int32, got ${destination}`);
    }
  }

  /** Throws BATON_MESSAGE_TOO_LARGE for a record over the ring's maximum. */
  protected checkSize(recordBytes: number): void {
    if (recordBytes > this.maxRecordBytes) {
      throw new MessageTooLargeError(
        `a ${recordBytes - RECORD_HEADER_BYTES}-byte payload exceeds this ring's maximum of ${this.maxRecordBytes - RECORD_HEADER_BYTES} bytes; send it smaller or use a ring with a larger maxRecordBytes`,
      );
    }
  }

  /** Checks a whole batch before any of it is written, so that a bad record rejects it whole. */
  protected checkBatch(type: number, destination: number, payloads: readonly Uint8Array[], start: number, end: number): void {
    this.checkWrite(type, destination);
    for (let k = start; k < end; k++) this.checkSize(RECORD_HEADER_BYTES + payloads[k]!.length);
  }

  #spaceReady(payloadBytes: number): () => boolean {
    const alignedBytes = alignRecord(RECORD_HEADER_BYTES + payloadBytes);
    return () => this.closed || this.hasSpaceFor(alignedBytes);
  }
}

/**
 * Takes a free writer slot. A single-producer ring has one, slot 0: a second writer is refused
 * until the first releases it or `repairRing` frees it after the first one died.
 */
function acquireSlot(memory: RingMemory): number {
  const slots = memory.kind === 'single-producer' ? 1 : WRITER_SLOTS_MAX;
  for (let slot = 0; slot < slots; slot++) {
    const state = memory.slotIndex(slot, SLOT_STATE);
    if (Atomics.compareExchange(memory.ints, state, SLOT_FREE, SLOT_TAKEN) === SLOT_FREE) {
      Atomics.store(memory.ints, memory.slotIndex(slot, SLOT_CLAIM_BYTES), NO_CLAIM);
      Atomics.store(memory.ints, memory.slotIndex(slot, SLOT_PARKED), 0);
      return slot;
    }
  }
  throw new InvalidArgumentError(
    memory.kind === 'single-producer'
      ? 'this single-producer ring already has a writer; release() it, or repairRing() it if its thread died'
      : `all ${WRITER_SLOTS_MAX} writer slots of this ring are taken; release() writers that are done`,
  );
}
