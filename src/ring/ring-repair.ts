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
 * looks at the slots of live writers: one that also announced the same position may be the one
 * that won it, and is then left alone — the claim is reported unresolved, to be repaired again
 * once that writer has moved on (a live writer's slot changes within its next write).
 *
 * Order matters against a live writer finishing at the same moment: repair reads the slots, then
 * the lengths; a writer commits its length, then clears its slot. So either repair sees the
 * committed length, or it sees the live writer's slot and keeps off.
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
      const outcome = padDeadClaim(memory, slot, deadSlots);
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
function padDeadClaim(memory: RingMemory, slot: number, deadSlots: readonly number[]): number | 'unresolved' {
  const ints = memory.ints;
  const claimBytes = Atomics.load(ints, memory.slotIndex(slot, SLOT_CLAIM_BYTES));
  if (claimBytes === NO_CLAIM) return 0;
  const position = Atomics.load(ints, memory.slotIndex(slot, SLOT_CLAIM_POSITION));
  const head = Atomics.load(ints, HEAD);
  const tail = Atomics.load(ints, TAIL);
  // Not between HEAD and TAIL: the attempt lost its CAS to nobody yet (position == TAIL), or the
  // claim was committed and consumed. Either way nothing of it blocks the reader.
  if (((position - head) >>> 0) >= ((tail - head) >>> 0)) return 0;
  for (let other = 0; other < WRITER_SLOTS_MAX; other++) {
    if (other === slot || deadSlots.includes(other)) continue;
    if (Atomics.load(ints, memory.slotIndex(other, SLOT_STATE)) !== SLOT_TAKEN) continue;
    if (Atomics.load(ints, memory.slotIndex(other, SLOT_CLAIM_BYTES)) === NO_CLAIM) continue;
    if (Atomics.load(ints, memory.slotIndex(other, SLOT_CLAIM_POSITION)) === position) return 'unresolved';
  }
  const index = position & memory.mask;
  const toEnd = memory.capacity - index;
  if (claimBytes > toEnd) {
    return padIfUncommitted(memory, index, toEnd) + padIfUncommitted(memory, 0, claimBytes - toEnd);
  }
  return padIfUncommitted(memory, index, claimBytes);
}

function padIfUncommitted(memory: RingMemory, index: number, bytes: number): number {
  const lengthIndex = memory.lengthIndex(index);
  const length = Atomics.load(memory.ints, lengthIndex);
  if (length > 0) return 0;
  memory.ints[lengthIndex + 1] = PADDING_TYPE;
  // The padding's length is its commit, as for any record.
  Atomics.compareExchange(memory.ints, lengthIndex, length, bytes);
  return bytes;
}
