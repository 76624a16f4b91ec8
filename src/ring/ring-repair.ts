/**
 * Returning a ring to a consistent state after a writer thread died, run by whoever owns the ring
 * (the supervisor) once it knows the thread is gone. Committed records are never touched.
 *
 * Single-producer ring: the dead writer's unpublished records lie past TAIL, where no reader
 * looks, and its replacement writes over them from TAIL; repair only frees the slot (and uncounts
 * the writer if it died parked).
 *
 * Multi-producer ring: a writer that died between claiming space and committing it left a claim
 * that stops the reader for good. Its slot says where that claim is and how large: the claim
 * attempt is announced there before the CAS. Repair turns that space into padding. It first
 * looks at the other slots: a writer that announced an overlapping claim may be the one that
 * won it, and is then left alone — the claim is reported unresolved, to be repaired again once
 * that writer has moved on (a live writer's slot changes with its next write). Two writers that
 * die racing for the same position stay unresolved: which one won is not recorded.
 *
 * Against a live writer finishing at the same moment: a writer's announcement stays in its slot
 * until its next claim, after its commit. Repair reads the claim's length, then the live slots,
 * then pads with a compare-and-set from the length it read: a commit in between either shows in
 * the slots or makes the compare-and-set fail, and the record stands.
 */
import {
  DATA_DOORBELL,
  HEAD,
  NO_CLAIM,
  PADDING_TYPE,
  PRODUCERS_PARKED,
  RingMemory,
  SLOT_CLAIM_BYTES,
  SLOT_CLAIM_POSITION,
  SLOT_FREE,
  SLOT_PARKED,
  SLOT_STATE,
  SLOT_TAKEN,
  TAIL,
  WRITER_EPOCH,
  WRITER_SLOTS_MAX,
} from './ring-layout.js';
import { InvalidArgumentError } from '../errors.js';

export interface RepairReport {
  /** Slots freed: a new writer may attach in their place. */
  released: number[];
  /** Dead writers' claims turned into padding (records that were never committed). */
  claimsPadded: number;
  bytesPadded: number;
  /** Dead slots whose in-flight claim a live writer also announced: call repair again shortly. */
  unresolved: number[];
}

/**
 * Repairs the ring after the writers holding `deadSlots` died (default: slot 0, the only writer
 * of a single-producer ring). The threads must really be gone: repairing a live writer's slot is
 * a protocol violation.
 */
export function repairRing(buffer: SharedArrayBuffer, deadSlots: readonly number[] = [0]): RepairReport {
  const memory = new RingMemory(buffer);
  const ints = memory.ints;
  const report: RepairReport = { released: [], claimsPadded: 0, bytesPadded: 0, unresolved: [] };
  for (const slot of deadSlots) {
    if (!Number.isInteger(slot) || slot < 0 || slot >= WRITER_SLOTS_MAX) {
      throw new InvalidArgumentError(`writer slot must be an integer 0 .. ${WRITER_SLOTS_MAX - 1}, got ${slot}`);
    }
  }
  for (const slot of deadSlots) {
    if (Atomics.load(ints, memory.slotIndex(slot, SLOT_STATE)) !== SLOT_TAKEN) continue;
    if (memory.kind === 'multi-producer') {
      const outcome = padDeadClaim(memory, slot);
      if (outcome === 'unresolved') {
        report.unresolved.push(slot);
        continue;
      }
      if (outcome > 0) {
        report.claimsPadded++;
        report.bytesPadded += outcome;
      }
    }
    if (Atomics.exchange(ints, memory.slotIndex(slot, SLOT_PARKED), 0) === 1) {
      Atomics.sub(ints, PRODUCERS_PARKED, 1);
    }
    Atomics.store(ints, memory.slotIndex(slot, SLOT_CLAIM_BYTES), NO_CLAIM);
    Atomics.store(ints, memory.slotIndex(slot, SLOT_STATE), SLOT_FREE);
    report.released.push(slot);
  }
  Atomics.add(ints, WRITER_EPOCH, 1);
  // A reader parked behind the dead claim must look again.
  Atomics.add(ints, DATA_DOORBELL, 1);
  Atomics.notify(ints, DATA_DOORBELL);
  return report;
}

/** Pads the claim a dead writer left in flight. Returns the bytes padded (0 if none was in flight). */
function padDeadClaim(memory: RingMemory, slot: number): number | 'unresolved' {
  const ints = memory.ints;
  const position = Atomics.load(ints, memory.slotIndex(slot, SLOT_CLAIM_POSITION));
  const claimBytes = ints[memory.slotIndex(slot, SLOT_CLAIM_BYTES)]!;
  if (claimBytes === NO_CLAIM) return 0;
  const head = Atomics.load(ints, HEAD);
  const tail = Atomics.load(ints, TAIL);
  const claimed = (at: number) => ((at - head) >>> 0) < ((tail - head) >>> 0);
  const index = position & memory.mask;
  const toEnd = memory.capacity - index;
  // A claim that wraps is a padding record to the end, then its records from index 0 of the
  // next lap. The reader may have consumed the padding already: what can block it is the records.
  const wraps = claimBytes > toEnd;
  const recordPosition = wraps ? (position + toEnd) | 0 : position;
  // Not between HEAD and TAIL: the attempt has not won yet (at TAIL), or what it claimed was
  // committed and consumed. Either way nothing of it blocks the reader.
  if (!claimed(recordPosition)) return 0;
  if (claimed(position)) {
    // Whoever won this position: a committed record there (not the padding of a wrap) means
    // the attempt was committed, or lost to a writer that committed.
    const first = Atomics.load(ints, memory.lengthIndex(index));
    const wrapPadding = ints[memory.lengthIndex(index) + 1] === PADDING_TYPE && first === toEnd;
    if (first > 0 && !wrapPadding) return 0;
  }
  const recordIndex = recordPosition & memory.mask;
  if (Atomics.load(ints, memory.lengthIndex(recordIndex)) > 0) return 0;
  // Uncommitted. Its owner is the writer that announced a claim covering it and won; every
  // writer keeps its announcement until its next claim, which comes after its commit. If any
  // other writer (live, or also dead) announced a claim overlapping this one, the owner is not
  // certain: leave it (repair again once that writer has moved on).
  for (let other = 0; other < WRITER_SLOTS_MAX; other++) {
    if (other === slot || Atomics.load(ints, memory.slotIndex(other, SLOT_STATE)) !== SLOT_TAKEN) continue;
    const otherBytes = ints[memory.slotIndex(other, SLOT_CLAIM_BYTES)]!;
    if (otherBytes === NO_CLAIM) continue;
    const otherPosition = Atomics.load(ints, memory.slotIndex(other, SLOT_CLAIM_POSITION));
    if (((otherPosition - position) >>> 0) < claimBytes || ((position - otherPosition) >>> 0) < otherBytes) return 'unresolved';
  }
  if (!wraps) return padIfUncommitted(memory, index, claimBytes);
  return (claimed(position) ? padIfUncommitted(memory, index, toEnd) : 0) + padIfUncommitted(memory, 0, claimBytes - toEnd);
}

/** Sentinel length while repair turns a claim into padding: negative, so readers wait on it. */
const REPAIRING = -0x7fff_fff8;

function padIfUncommitted(memory: RingMemory, index: number, bytes: number): number {
  const ints = memory.ints;
  const lengthIndex = memory.lengthIndex(index);
  const length = Atomics.load(ints, lengthIndex);
  if (length > 0) return 0;
  // Take the length word first, so that the type is written only if nobody committed meanwhile;
  // then the padding's length is its commit, as for any record.
  if (Atomics.compareExchange(ints, lengthIndex, length, REPAIRING) !== length) return 0;
  ints[lengthIndex + 1] = PADDING_TYPE;
  Atomics.store(ints, lengthIndex, bytes);
  return bytes;
}
