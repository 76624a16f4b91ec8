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
 *
 * The fastest handlers read the payload where it lies: `buffer[bodyOffset .. bodyOffset +
 * bodyLength)`, no copy, nothing allocated (queue deliveries have the same three). That is valid
 * while the handler has the record: a record read so is not copied when released, and reading it
 * afterwards is BATON_ALREADY_ACKED (its position moved on), never stale memory.
 */
import type { ArenaBuffer, ArenaView } from '../../log/arena.js';
import { AlreadyAckedError } from '../../errors.js';
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

  /** Whether the run's copy was made (a record of it needed one). */
  get copied(): boolean {
    return this.#copy !== null;
  }

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
/** The body was not decoded, but its bytes were read in place (`buffer`): not copied when released. */
const IN_PLACE = Symbol('in-place');

function released(): never {
  throw new AlreadyAckedError('a topic record read in place (msg.buffer) is read after its handler finished: its memory may be reused; read what you need in the handler, or copy it (msg.bytes) there');
}

/** The view of a record released after an in-place read: any read of it fails (typed), none reads reused memory. */
const RELEASED: ArenaView = Object.freeze({
  get bytes(): Uint8Array {
    return released();
  },
  get buffer(): ArenaBuffer {
    return released();
  },
  get u32(): Uint32Array {
    return released();
  },
});

/** What a record read besides its body, made on first need (most records only ever have their body read). */
interface Extras {
  bytes: Uint8Array | null;
  key: string | Uint8Array | null | typeof UNREAD;
  headers: Record<string, string> | null;
}

export class TopicMessage {
  readonly offset: number;
  readonly #context: RunContext;
  /** The arena's views, or the run's copy once released. */
  #view: ArenaView;
  #pos: number;
  #body: unknown = UNREAD;
  #extras: Extras | null = null;

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
    const extras = this.#more();
    if (extras.key === UNREAD) extras.key = readKey(this.#view, this.#pos, recordWord(this.#view.u32, this.#pos));
    return extras.key;
  }

  get headers(): Record<string, string> {
    const extras = this.#more();
    return (extras.headers ??= readHeaders(this.#view, this.#pos, recordWord(this.#view.u32, this.#pos)));
  }

  /** A tombstone: the record deletes its key (`topic.tombstone(key)`); its body is null. */
  get tombstone(): boolean {
    return (recordWord(this.#view.u32, this.#pos) & RECORD_TOMBSTONE) !== 0;
  }

  /** The raw payload: a view of the run's copy, never of the arena (it outlives the record's memory). */
  get bytes(): Uint8Array {
    // Under raw, the body (if read) is the payload already.
    if (this.#context.codec.name === 'raw' && this.#body !== UNREAD && this.#body !== IN_PLACE && this.#body !== null) return this.#body as Uint8Array;
    const extras = this.#more();
    return (extras.bytes ??= this.#copiedBytes());
  }

  /**
   * Zero-copy access to the payload: `buffer[bodyOffset .. bodyOffset + bodyLength)`, read in
   * place. `buffer` is shared memory other records use too: read it, never write it, and only
   * until the handler returns (or its promise settles).
   */
  get buffer(): Uint8Array {
    if (this.#body === UNREAD) this.#body = IN_PLACE;
    return this.#view.bytes;
  }

  get bodyOffset(): number {
    if (this.#body === UNREAD) this.#body = IN_PLACE;
    const u32 = this.#view.u32;
    const word = recordWord(u32, this.#pos);
    return word < RECORD_TOMBSTONE ? this.#pos + 4 : recordBodyStart(u32, this.#pos, word);
  }

  get bodyLength(): number {
    if (this.#body === UNREAD) this.#body = IN_PLACE;
    return wordBodyBytes(recordWord(this.#view.u32, this.#pos));
  }

  /** The payload decoded by the topic's codec (on first use; a CodecError if it cannot be); null for a tombstone. */
  get body(): unknown {
    if (this.#body === UNREAD || this.#body === IN_PLACE) {
      const view = this.#view;
      const word = recordWord(view.u32, this.#pos);
      if ((word & RECORD_TOMBSTONE) !== 0) this.#body = null;
      // Under raw the body is the payload itself.
      else if (this.#context.codec.name === 'raw') this.#body = this.#extras?.bytes ?? this.#copiedBytes();
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
    const word = recordWord(this.#view.u32, this.#pos);
    const extras = this.#extras;
    const restRead = (word & (RECORD_KEY | RECORD_HEADERS)) === 0 || (extras !== null && ((word & RECORD_KEY) === 0 || extras.key !== UNREAD) && ((word & RECORD_HEADERS) === 0 || extras.headers !== null));
    if (this.#body === IN_PLACE && restRead && !context.copied) {
      // Read in place: its reader took the contract (read it in the handler); no copy.
      this.#view = RELEASED;
      return;
    }
    if (this.#body !== UNREAD && this.#body !== IN_PLACE && restRead) return;
    this.#view = context.copy();
    this.#pos -= context.start;
  }

  #more(): Extras {
    return (this.#extras ??= { bytes: null, key: UNREAD, headers: null });
  }

  #copiedBytes(): Uint8Array {
    // Released after an in-place read: the run's copy would be made from memory that may be reused.
    if (this.#view === RELEASED) released();
    const context = this.#context;
    const pos = this.#view === context.arena ? this.#pos - context.start : this.#pos;
    const copy = context.copy();
    const word = recordWord(copy.u32, pos);
    const start = word < RECORD_TOMBSTONE ? pos + 4 : recordBodyStart(copy.u32, pos, word);
    return new Uint8Array(copy.bytes.buffer, start, wordBodyBytes(word));
  }
}
