/**
 * Where a destination's producer writes: its current extent of the arena and the position in it.
 * The broker's thread owns one per destination (a queue, a topic partition).
 *
 * Extents start small (4 KiB: an idle destination costs little) and double each time one fills,
 * up to `extentBytesMax` (1 MiB by default: one allocation per ~15,000 small messages); a record
 * larger than that gets an extent of its own size. When consumers catch up and the current extent
 * is freed, the next one is half its size. A full extent is sealed (no batch will be
 * added to it) and listed as such in the destination's extent table, so its actor may free it
 * once every batch in it is settled. An extent is freed by the broker's thread only, when the
 * actor says so (`freeExtent`), and only if the generation matches: a late message about an
 * address that has since come back to this destination is ignored.
 *
 * A publish that fails half-way (a body that cannot be encoded, a full arena) is rolled back to
 * its `mark`: extents it took are freed, the extent it sealed is current again.
 */
import assert from 'node:assert/strict';
import type { Arena } from './arena.js';
import type { ExtentAllocator } from './extent-allocator.js';
import { EXTENT_SEALED, type ExtentTableWriter } from './extent-table.js';

export const EXTENT_BYTES_FIRST = 4096;
export const EXTENT_BYTES_MAX_DEFAULT = 1024 * 1024;

export interface ExtentRef {
  address: number;
  generation: number;
}

/** Where a publish started: what `rollback` restores. One per writer, reused publish after publish. */
class WriterMark {
  active = false;
  extent = -1;
  generation = 0;
  pos = 0;
  nextExtentBytes = 0;
  sealedLength = 0;
  /** The current extent at the mark was sealed since: unseal it on rollback. */
  sealedCurrent = false;
}

export class LogWriter {
  readonly #arena: Arena;
  readonly #allocator: ExtentAllocator;
  readonly #table: ExtentTableWriter;
  readonly #extentBytesMax: number;
  #extent = -1;
  #generation = 0;
  #end = 0;
  /** Next write position (absolute arena address). */
  pos = 0;
  #nextExtentBytes = EXTENT_BYTES_FIRST;
  /** Extents sealed since `takeSealed` (their actor learns it with the next publish). */
  #sealed: ExtentRef[] = [];
  /** Extents taken since the last mark (freed on rollback). */
  #taken: number[] = [];
  readonly #mark = new WriterMark();

  constructor(arena: Arena, allocator: ExtentAllocator, table: ExtentTableWriter, extentBytesMax = EXTENT_BYTES_MAX_DEFAULT) {
    this.#arena = arena;
    this.#allocator = allocator;
    this.#table = table;
    this.#extentBytesMax = extentBytesMax;
  }

  get extent(): number {
    return this.#extent;
  }

  get generation(): number {
    return this.#generation;
  }

  /** End of the current extent (exclusive); 0 when there is none. */
  get end(): number {
    return this.#end;
  }

  /** The destination's extent table header (what its actor reads). */
  get tableHeader(): number {
    return this.#table.header;
  }

  /**
   * Makes room for `bytes` at `pos`: the current extent if it has them, else a new extent (the
   * current one is sealed). False when the arena is full.
   */
  reserve(bytes: number): boolean {
    if (this.#extent >= 0 && this.pos + bytes <= this.#end) return true;
    const size = Math.max(this.#nextExtentBytes, bytes);
    const address = this.#allocator.allocate(size);
    if (address < 0) return false;
    this.#taken.push(address);
    this.#sealCurrent();
    this.#extent = address;
    this.#generation = this.#table.add(address);
    this.#end = address + this.#allocator.sizeOf(address);
    this.#arena.ensure(this.#end);
    this.pos = address;
    if (size < this.#extentBytesMax) this.#nextExtentBytes = Math.min(this.#extentBytesMax, size * 2);
    return true;
  }

  /** Records that the extent is written up to `pos` (what a restarted actor walks). */
  publishFill(): void {
    if (this.#extent >= 0) this.#table.setFill(this.#extent, this.pos - this.#extent);
  }

  /** Extents sealed since the last call. */
  takeSealed(): ExtentRef[] {
    if (this.#sealed.length === 0) return NONE;
    const sealed = this.#sealed;
    this.#sealed = [];
    return sealed;
  }

  /**
   * The actor is done with an extent. Frees it if `generation` is its current one; an unsealed
   * extent (the current one) only if nothing was written past `fill` since the actor looked,
   * and then the next extent starts small again (the destination went quiet).
   */
  freeExtent(address: number, generation: number, fill: number): boolean {
    if (this.#table.generationOf(address) !== generation) return false;
    // Offered unsealed but sealed here since: a PUBLISH the actor has not read yet may still name
    // batches in it. The actor frees it when that PUBLISH's seal reaches it.
    if (fill >= 0 && address !== this.#extent) return false;
    if (address === this.#extent) {
      if (this.pos - address !== fill || this.#mark.active) return false;
      this.#extent = -1;
      this.#end = 0;
      this.pos = 0;
      // Caught up with: the next extent is half this one's size (a stream that keeps coming
      // loses little; a destination gone quiet shrinks back toward 4 KiB over a few of these).
      this.#nextExtentBytes = Math.max(EXTENT_BYTES_FIRST, this.#allocator.sizeOf(address) / 2);
    }
    this.#table.remove(address);
    this.#allocator.free(address);
    return true;
  }

  /**
   * An extent for the actor's own use (a durable queue reads batches back from disk into it):
   * listed and sealed at once, freed like any other when the actor says so. Null when the
   * arena is full.
   */
  allocateSealed(bytes: number): ExtentRef | null {
    const address = this.#allocator.allocate(bytes);
    if (address < 0) return null;
    const generation = this.#table.add(address);
    this.#table.seal(address);
    this.#arena.ensure(address + this.#allocator.sizeOf(address));
    return { address, generation };
  }

  /** Frees every extent listed (the destination is deleted). */
  freeAll(extents: readonly number[]): void {
    for (const address of extents) {
      if (this.#table.generationOf(address) === undefined) continue;
      this.#table.remove(address);
      this.#allocator.free(address);
    }
    this.#extent = -1;
    this.#end = 0;
    this.pos = 0;
  }

  mark(): void {
    const mark = this.#mark;
    assert.ok(!mark.active, 'one publish is encoded at a time');
    this.#taken.length = 0;
    mark.active = true;
    mark.extent = this.#extent;
    mark.generation = this.#generation;
    mark.pos = this.pos;
    mark.nextExtentBytes = this.#nextExtentBytes;
    mark.sealedLength = this.#sealed.length;
    mark.sealedCurrent = false;
  }

  /** The publish since `mark` is kept. */
  commit(): void {
    assert.ok(this.#mark.active, 'commit after mark');
    this.#mark.active = false;
    this.publishFill();
  }

  /** The publish since `mark` is undone: its extents are freed, the extent it started in is current again. */
  rollback(): void {
    const mark = this.#mark;
    assert.ok(mark.active, 'rollback after mark');
    mark.active = false;
    for (const address of this.#taken) {
      this.#table.remove(address);
      this.#allocator.free(address);
    }
    this.#taken.length = 0;
    this.#sealed.length = mark.sealedLength;
    this.#extent = mark.extent;
    this.#generation = mark.generation;
    this.#nextExtentBytes = mark.nextExtentBytes;
    this.pos = mark.pos;
    this.#end = mark.extent >= 0 ? mark.extent + this.#allocator.sizeOf(mark.extent) : 0;
    if (mark.sealedCurrent) this.#table.unseal(mark.extent);
    // Sealing wrote the fill of the batches now undone: a restarted actor must not walk them.
    if (mark.extent >= 0) this.#table.setFill(mark.extent, mark.pos - mark.extent);
  }

  #sealCurrent(): void {
    const extent = this.#extent;
    if (extent < 0) return;
    if (this.pos === extent) {
      // Nothing was written in it: no actor knows it, free it now.
      this.#table.remove(extent);
      this.#allocator.free(extent);
      const taken = this.#taken.indexOf(extent);
      if (taken >= 0) this.#taken.splice(taken, 1);
      else assert.ok(!this.#mark.active || this.#mark.extent !== extent || this.#mark.pos !== extent, 'an empty extent at the mark is freed only once');
      return;
    }
    this.#table.setFill(extent, this.pos - extent);
    this.#table.seal(extent);
    if (this.#mark.active && this.#mark.extent === extent) this.#mark.sealedCurrent = true;
    this.#sealed.push({ address: extent, generation: this.#generation });
  }
}

const NONE: ExtentRef[] = Object.freeze([]) as unknown as ExtentRef[];
export { EXTENT_SEALED };
