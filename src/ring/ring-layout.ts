/**
 * The shared-memory layout of a record ring: one SharedArrayBuffer holding a control block, a
 * table of writer slots, and a power-of-two data area of variable-length records.
 *
 * ```
 *  byte 0                                                                              1024
 *  ┌──────────┬──────────┬───────────┬────────────┬───────────┬────────────┬──────────┬────────┐
 *  │ TAIL     │ HEAD     │ HEAD_CACHE│ CONSUMER_  │ DATA_     │ PRODUCERS_ │ META     │reserved│
 *  │          │          │           │ PARKED     │ DOORBELL  │ PARKED,    │ magic,   │        │
 *  │          │          │           │            │           │ SPACE_     │ version, │        │
 *  │          │          │           │            │           │ DOORBELL   │ capacity,│        │
 *  │          │          │           │            │           │            │ kind,... │        │
 *  └──────────┴──────────┴───────────┴────────────┴───────────┴────────────┴──────────┴────────┘
 *   each field on its own 128-byte line (two cache lines: adjacent-line prefetch defeats one)
 *
 *  byte 1024                                                                           5120
 *  ┌──────────────┬──────────────┬─────┬──────────────┐
 *  │ writer slot 0│ writer slot 1│ ... │writer slot 31│   128 bytes each, written only by the
 *  │ state, claim │              │     │              │   writer that holds the slot (MPSC)
 *  │ pos/len, park│              │     │              │
 *  └──────────────┴──────────────┴─────┴──────────────┘
 *
 *  byte 5120: data area, `capacity` bytes (a power of two), records back to back, 8-byte aligned
 *  ┌────────────────────────┬───────────────────┬─────────────┬─────────────────────────┐
 *  │ record                 │ record            │ ... free ...│ padding record to end   │
 *  └────────────────────────┴───────────────────┴─────────────┴─────────────────────────┘
 * ```
 *
 * A record (all fields little-endian int32, header 16 bytes):
 *
 * ```
 *   0                   1                   2                   3
 *   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *  +-+-------------------------------------------------------------+
 *  |R|                        Length                               |  +0
 *  +-+-------------------------------------------------------------+
 *  |                           Type                                |  +4
 *  +---------------------------------------------------------------+
 *  |                        Destination                            |  +8
 *  +---------------------------------------------------------------+
 *  |                           Meta                                |  +12
 *  +---------------------------------------------------------------+
 *  |                      Payload (Length - 16 bytes)            ...  +16
 *  ...                                              padded to 8    |
 *  +---------------------------------------------------------------+
 * ```
 *
 * - `Length` is the record length including the header, before alignment. Zero means nothing is
 *   there yet; negative (R set) means claimed and being written (multi-producer rings): its
 *   magnitude is the whole claim, so `repair` can skip it after its writer dies.
 * - `Type` is the user's record type (>= 0), or `PADDING_TYPE` (-1) for the filler written when
 *   a record does not fit before the end of the data area; readers skip it.
 * - `Destination` addresses the actor the record is for; `Meta` is one free int32 (a sequence,
 *   a correlation id) so small control records need no payload.
 *
 * Positions (`TAIL`, `HEAD`) are byte counters that wrap at 2^32 and are stored as int32; the
 * index into the data area is `position & (capacity - 1)`, and `(tail - head) >>> 0` is the
 * number of bytes in use. 32-bit counters avoid BigInt (docs/ring.md); 2^32 is
 * a multiple of every capacity, so wrapping the counter never moves the index.
 */
import assert from 'node:assert';
import { InvalidArgumentError, RingLayoutError } from '../errors.js';

export const CACHE_LINE_PAIR_BYTES = 128;
const LINE_INTS = CACHE_LINE_PAIR_BYTES / Int32Array.BYTES_PER_ELEMENT;

// Control block: int32 indices, one field per 128-byte line unless noted.
/** Producer position: published tail (single producer) or claimed tail (multi-producer). */
export const TAIL = 0 * LINE_INTS;
/** Consumer position: everything before it has been read and may be overwritten. */
export const HEAD = 1 * LINE_INTS;
/** Producers' last look at HEAD, so they read the consumer's line only when space looks short. */
export const HEAD_CACHE = 2 * LINE_INTS;
/** 1 while the consumer is parked (or about to park) on DATA_DOORBELL. */
export const CONSUMER_PARKED = 3 * LINE_INTS;
/** Bumped by a producer that wakes the consumer; the consumer waits on its value. */
export const DATA_DOORBELL = 4 * LINE_INTS;
/** Number of producers parked (or about to park) on SPACE_DOORBELL. */
export const PRODUCERS_PARKED = 5 * LINE_INTS;
/** Bumped by the consumer when it frees space and producers are parked. Same line: both are
 * touched only on the slow path of a full ring. */
export const SPACE_DOORBELL = 5 * LINE_INTS + 1;
// Metadata line: written once at allocation, except CLOSED and WRITER_EPOCH.
export const MAGIC = 6 * LINE_INTS;
export const VERSION = MAGIC + 1;
export const CAPACITY = MAGIC + 2;
export const MAX_RECORD_BYTES = MAGIC + 3;
export const KIND = MAGIC + 4;
/** 1 once the ring is closed: writes fail, readers drain what is left and stop. */
export const CLOSED = MAGIC + 5;
/** Bumped by `repair`, so a stale writer can be told from a fresh one. */
export const WRITER_EPOCH = MAGIC + 6;

export const CONTROL_BYTES = 8 * CACHE_LINE_PAIR_BYTES;

// Writer slots (multi-producer rings): each writer holds one, and writes in it only.
export const WRITER_SLOTS_MAX = 32;
export const WRITER_SLOT_BYTES = CACHE_LINE_PAIR_BYTES;
const WRITER_SLOT_INTS = WRITER_SLOT_BYTES / Int32Array.BYTES_PER_ELEMENT;
const WRITER_SLOTS_OFFSET = CONTROL_BYTES;
/** Slot field: SLOT_FREE or SLOT_TAKEN. */
export const SLOT_STATE = 0;
/** Slot field: the tail position of the writer's latest claim attempt, stored before its CAS. */
export const SLOT_CLAIM_POSITION = 1;
/** Slot field: the byte length of that attempt (padding included). */
export const SLOT_CLAIM_BYTES = 2;
/** Slot field: 1 while this writer is counted in PRODUCERS_PARKED. */
export const SLOT_PARKED = 3;
export const SLOT_FREE = 0;
export const SLOT_TAKEN = 1;
/** SLOT_CLAIM_BYTES value when the writer has no claim in flight. */
export const NO_CLAIM = 0;

export const DATA_OFFSET = WRITER_SLOTS_OFFSET + WRITER_SLOTS_MAX * WRITER_SLOT_BYTES;

// Record header: byte offsets from the record start.
export const RECORD_LENGTH_OFFSET = 0;
export const RECORD_TYPE_OFFSET = 4;
export const RECORD_DESTINATION_OFFSET = 8;
export const RECORD_META_OFFSET = 12;
export const RECORD_HEADER_BYTES = 16;
export const RECORD_ALIGNMENT = 8;
export const PADDING_TYPE = -1;

export const RING_MAGIC = 0x4241_5452; // "BATR"
export const RING_VERSION = 1;
export const CAPACITY_MIN = 1024;
export const CAPACITY_MAX = 2 ** 30;

export type RingKind = 'single-producer' | 'multi-producer';
const KIND_CODE: Record<RingKind, number> = { 'single-producer': 1, 'multi-producer': 2 };

export interface RingOptions {
  /** Data area in bytes: a power of two, CAPACITY_MIN .. CAPACITY_MAX. */
  capacity: number;
  /** `single-producer` (no CAS on the write path) or `multi-producer` (claims with compareExchange). */
  kind: RingKind;
  /**
   * Largest record, header included. Default capacity / 8 (as Agrona's rings); at most
   * capacity / 2, which guarantees any record fits once the ring drains, padding included.
   */
  maxRecordBytes?: number;
}

// Module-load checks of the relations the protocol depends on.
assert(RECORD_HEADER_BYTES % RECORD_ALIGNMENT === 0);
assert(DATA_OFFSET % CACHE_LINE_PAIR_BYTES === 0);
assert(WRITER_EPOCH < MAGIC + LINE_INTS);

export function alignRecord(length: number): number {
  return (length + RECORD_ALIGNMENT - 1) & ~(RECORD_ALIGNMENT - 1);
}

/** Allocates and formats the shared memory of an empty ring. */
export function allocateRing(options: RingOptions): SharedArrayBuffer {
  const { capacity, kind } = options;
  if (!Number.isInteger(capacity) || capacity < CAPACITY_MIN || capacity > CAPACITY_MAX || (capacity & (capacity - 1)) !== 0) {
    throw new InvalidArgumentError(
      `ring capacity must be a power of two between ${CAPACITY_MIN} and ${CAPACITY_MAX} bytes, got ${capacity}`,
    );
  }
  if (!(kind in KIND_CODE)) {
    throw new InvalidArgumentError(`ring kind must be 'single-producer' or 'multi-producer', got ${String(kind)}`);
  }
  const maxRecordBytes = options.maxRecordBytes ?? capacity / 8;
  if (!Number.isInteger(maxRecordBytes) || maxRecordBytes < RECORD_HEADER_BYTES || maxRecordBytes > capacity / 2) {
    throw new InvalidArgumentError(
      `maxRecordBytes must be an integer between ${RECORD_HEADER_BYTES} and capacity / 2 (${capacity / 2}), got ${maxRecordBytes}`,
    );
  }
  const buffer = new SharedArrayBuffer(DATA_OFFSET + capacity);
  const ints = new Int32Array(buffer);
  ints[CAPACITY] = capacity;
  ints[MAX_RECORD_BYTES] = maxRecordBytes;
  ints[KIND] = KIND_CODE[kind];
  ints[VERSION] = RING_VERSION;
  // Magic last: an endpoint that attaches sees either an unformatted buffer or a whole header.
  Atomics.store(ints, MAGIC, RING_MAGIC);
  return buffer;
}

/**
 * Typed views over a ring's SharedArrayBuffer, validated, shared by writers, readers and repair.
 * Constructing one allocates; do it once per endpoint, not per record.
 */
export class RingMemory {
  readonly buffer: SharedArrayBuffer;
  /** The whole buffer as int32: control words, slots and record headers (8-byte aligned). */
  readonly ints: Int32Array;
  /** The whole buffer as bytes; record payloads live at `DATA_OFFSET + index + 16`. */
  readonly bytes: Uint8Array;
  readonly capacity: number;
  readonly mask: number;
  readonly maxRecordBytes: number;
  readonly kind: RingKind;

  constructor(buffer: SharedArrayBuffer) {
    if (!(buffer instanceof SharedArrayBuffer) || buffer.byteLength < DATA_OFFSET + CAPACITY_MIN) {
      throw new RingLayoutError('expected the SharedArrayBuffer of a ring made by allocateRing()');
    }
    const ints = new Int32Array(buffer);
    if (Atomics.load(ints, MAGIC) !== RING_MAGIC || ints[VERSION] !== RING_VERSION) {
      throw new RingLayoutError(
        `this SharedArrayBuffer does not hold a version ${RING_VERSION} ring (magic ${Atomics.load(ints, MAGIC)}); attach to a buffer made by allocateRing()`,
      );
    }
    const capacity = ints[CAPACITY]!;
    if (buffer.byteLength !== DATA_OFFSET + capacity) {
      throw new RingLayoutError(`ring header says capacity ${capacity} but the buffer holds ${buffer.byteLength - DATA_OFFSET} data bytes`);
    }
    this.buffer = buffer;
    this.ints = ints;
    this.bytes = new Uint8Array(buffer);
    this.capacity = capacity;
    this.mask = capacity - 1;
    this.maxRecordBytes = ints[MAX_RECORD_BYTES]!;
    this.kind = ints[KIND] === KIND_CODE['multi-producer'] ? 'multi-producer' : 'single-producer';
  }

  /** Int32 index of a record's length word, from its data-area index. */
  lengthIndex(index: number): number {
    return (DATA_OFFSET + index) >> 2;
  }

  /** Int32 index of a field of writer slot `slot`. */
  slotIndex(slot: number, field: number): number {
    return (WRITER_SLOTS_OFFSET >> 2) + slot * WRITER_SLOT_INTS + field;
  }

  get closed(): boolean {
    return Atomics.load(this.ints, CLOSED) !== 0;
  }

  /** Marks the ring closed and wakes every parked endpoint so that it sees it. */
  close(): void {
    Atomics.store(this.ints, CLOSED, 1);
    Atomics.add(this.ints, DATA_DOORBELL, 1);
    Atomics.notify(this.ints, DATA_DOORBELL);
    Atomics.add(this.ints, SPACE_DOORBELL, 1);
    Atomics.notify(this.ints, SPACE_DOORBELL);
  }

  /** Bytes between head and tail (claimed or published), 0 .. capacity. */
  usedBytes(): number {
    const used = (Atomics.load(this.ints, TAIL) - Atomics.load(this.ints, HEAD)) >>> 0;
    if (used > this.capacity) assert.fail(`ring invariant broken: ${used} bytes in use in a ${this.capacity}-byte ring`);
    return used;
  }

  /**
   * Space a record of `alignedBytes` needs when the tail is at `tail`: the record itself, plus
   * the padding to the end of the data area when it does not fit before the end. Records never
   * straddle the end, so a reader sees every record contiguous.
   */
  claimBytes(tail: number, alignedBytes: number): number {
    const toEnd = this.capacity - (tail & this.mask);
    return alignedBytes > toEnd ? alignedBytes + toEnd : alignedBytes;
  }
}
