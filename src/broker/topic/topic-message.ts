/**
 * A topic record as a subscriber's handler gets it: a small object that points at the record
 * where it lies in the arena. Nothing is decoded until it is read: the body on first use of
 * `body` (or `bytes`), the key and headers on first use of theirs.
 *
 * The record's memory is reused once retention (or the durable tail's bound) lets its extent go,
 * which can only happen after the reader moved past it. So the bytes a record hands out are
 * never views of the arena: `bytes` (and a raw topic's `body`) are views of a copy of the run
 * (the records of one batch handed over together), made once per run when the first of its
 * records needs one — a copy per run, not per record. And when the handler is done with a record
 * (its promise settled), the reader calls `release`: a record whose body, key or headers were not
 * read yet moves to that copy too, so reading them later still works. A kept `bytes` keeps its
 * run's copy alive (at most one batch, 1 MiB by default).
 */
import type { ArenaBuffer, ArenaView } from '../../log/arena.js';
import type { Codec } from '../codec.js';
import { readHeaders, readKey, RECORD_HEADERS, RECORD_KEY, RECORD_TOMBSTONE, recordBodyStart, recordWord, wordBodyBytes } from './topic-batch.js';

/** What the records of one run share: their partition, their batch's time, the codec, and the run's copy once made. */
export class RunContext {
  #copy: ArenaView | null = null;

  constructor(
    readonly partition: number,
    readonly timestampMs: number,
    readonly codec: Codec,
    readonly arena: ArenaView,
    /** The run's records lie in arena [start, end). */
    readonly start: number,
    readonly end: number,
  ) {}

  /** The run's records copied out of the arena (made on first use): position p of the arena is `p - start` there. */
  copy(): ArenaView {
    if (this.#copy === null) {
      const length = this.end - this.start;
      const bytes = new Uint8Array(length);
      bytes.set(this.arena.bytes.subarray(this.start, this.end));
      // The run starts 4-aligned in the arena, so it does here: its words read through a u32 view.
      this.#copy = { bytes, buffer: Buffer.from(bytes.buffer, 0, length) as ArenaBuffer, u32: new Uint32Array(bytes.buffer, 0, length >>> 2) };
    }
    return this.#copy;
  }
}

const UNREAD = Symbol('unread');

export class TopicMessage {
  readonly offset: number;
  readonly #context: RunContext;
  /** The arena's views, or the run's copy once released. */
  #view: ArenaView;
  #pos: number;
  #body: unknown = UNREAD;
  #bytes: Uint8Array | null = null;
  #key: string | Uint8Array | null | typeof UNREAD = UNREAD;
  #headers: Record<string, string> | null = null;

  constructor(context: RunContext, offset: number, pos: number) {
    this.#context = context;
    this.#view = context.arena;
    this.offset = offset;
    this.#pos = pos;
  }

  get partition(): number {
    return this.#context.partition;
  }

  /** When it was sent (the producer's clock, ms since the epoch). */
  get timestamp(): number {
    return this.#context.timestampMs;
  }

  /** As sent: a string key comes back a string, a Uint8Array key a Uint8Array; null without a key. */
  get key(): string | Uint8Array | null {
    if (this.#key === UNREAD) this.#key = readKey(this.#view, this.#pos, recordWord(this.#view.u32, this.#pos));
    return this.#key;
  }

  get headers(): Record<string, string> {
    return (this.#headers ??= readHeaders(this.#view, this.#pos, recordWord(this.#view.u32, this.#pos)));
  }

  /** A tombstone: the record deletes its key (`topic.tombstone(key)`); its body is null. */
  get tombstone(): boolean {
    return (recordWord(this.#view.u32, this.#pos) & RECORD_TOMBSTONE) !== 0;
  }

  /** The raw payload: a view of the run's copy, never of the arena (it outlives the record's memory). */
  get bytes(): Uint8Array {
    if (this.#bytes === null) {
      const context = this.#context;
      const pos = this.#view === context.arena ? this.#pos - context.start : this.#pos;
      const copy = context.copy();
      const word = recordWord(copy.u32, pos);
      const start = recordBodyStart(copy.u32, pos, word);
      this.#bytes = new Uint8Array(copy.bytes.buffer, start, wordBodyBytes(word));
    }
    return this.#bytes;
  }

  /** The payload decoded by the topic's codec (on first use; a CodecError if it cannot be); null for a tombstone. */
  get body(): unknown {
    if (this.#body === UNREAD) {
      const view = this.#view;
      const word = recordWord(view.u32, this.#pos);
      if ((word & RECORD_TOMBSTONE) !== 0) this.#body = null;
      // Under raw the body is the payload itself.
      else if (this.#context.codec.name === 'raw') this.#body = this.bytes;
      else {
        const start = recordBodyStart(view.u32, this.#pos, word);
        this.#body = this.#context.codec.decodeAt(view, start, start + wordBodyBytes(word));
      }
    }
    return this.#body;
  }

  /**
   * The reader is done with the record (its handler finished): from now on its memory may be
   * reused, so a record with parts not read yet moves to the run's copy.
   */
  release(): void {
    const context = this.#context;
    if (this.#view !== context.arena) return;
    if (this.#body !== UNREAD) {
      const word = recordWord(this.#view.u32, this.#pos);
      if ((word & (RECORD_KEY | RECORD_HEADERS)) === 0) return;
      if (((word & RECORD_KEY) === 0 || this.#key !== UNREAD) && ((word & RECORD_HEADERS) === 0 || this.#headers !== null)) return;
    }
    this.#view = context.copy();
    this.#pos -= context.start;
  }
}
