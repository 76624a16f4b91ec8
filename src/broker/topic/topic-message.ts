/**
 * A topic record as a subscriber's handler gets it: a small object that points at the record
 * where it lies in the arena. Nothing is decoded until it is read: the body on first use of
 * `body` (or `bytes`), the key and headers on first use of theirs.
 *
 * The record's memory is reused once retention (or the durable tail's bound) lets its extent go,
 * which can only happen after the reader moved past it. So when the handler is done with a
 * record (its promise settled), the reader calls `release`: a record whose body, key or headers
 * were not read yet keeps a copy of itself first, and reading them later still works. A handler
 * that reads what it needs (the common case) costs no copy.
 */
import type { ArenaBuffer, ArenaView } from '../../log/arena.js';
import type { Codec } from '../codec.js';
import { readHeaders, readKey, RECORD_HEADERS, RECORD_KEY, RECORD_TOMBSTONE, recordBodyStart, recordEnd, recordWord, wordBodyBytes } from './topic-batch.js';

/** What the records of one run share: their partition, their batch's time, the topic's codec. */
export interface MessageContext {
  readonly partition: number;
  readonly timestampMs: number;
  readonly codec: Codec;
}

const UNREAD = Symbol('unread');

export class TopicMessage {
  readonly offset: number;
  readonly #context: MessageContext;
  /** The arena's views, or those of the record's own copy once detached. */
  #view: ArenaView;
  #pos: number;
  #body: unknown = UNREAD;
  #bytes: Uint8Array | null = null;
  #key: string | Uint8Array | null | typeof UNREAD = UNREAD;
  #headers: Record<string, string> | null = null;

  constructor(context: MessageContext, view: ArenaView, offset: number, pos: number) {
    this.#context = context;
    this.#view = view;
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

  /** The raw payload (a copy: it outlives the record's memory). */
  get bytes(): Uint8Array {
    if (this.#bytes === null) {
      const view = this.#view;
      const word = recordWord(view.u32, this.#pos);
      const start = recordBodyStart(view.u32, this.#pos, word);
      this.#bytes = view.bytes.slice(start, start + wordBodyBytes(word));
    }
    return this.#bytes;
  }

  /** The payload decoded by the topic's codec (on first use; a CodecError if it cannot be); null for a tombstone. */
  get body(): unknown {
    if (this.#body === UNREAD) {
      const view = this.#view;
      const word = recordWord(view.u32, this.#pos);
      if ((word & RECORD_TOMBSTONE) !== 0) this.#body = null;
      // Under raw the body is the payload itself (one copy for both).
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
   * reused, so what was not read yet is copied out of it.
   */
  release(): void {
    if (this.#body !== UNREAD) {
      const word = recordWord(this.#view.u32, this.#pos);
      if ((word & (RECORD_KEY | RECORD_HEADERS)) === 0) return;
      if (((word & RECORD_KEY) === 0 || this.#key !== UNREAD) && ((word & RECORD_HEADERS) === 0 || this.#headers !== null)) return;
    }
    this.#detach();
  }

  /** Copies the record out of the arena (4-aligned: its words are read through a u32 view). */
  #detach(): void {
    const arena = this.#view;
    const pos = this.#pos;
    const length = recordEnd(arena.u32, pos) - pos;
    const copy = new ArrayBuffer(length);
    const bytes = new Uint8Array(copy);
    bytes.set(arena.bytes.subarray(pos, pos + length));
    const buffer = Buffer.from(copy) as ArenaBuffer;
    // A plain Uint8Array for `bytes` (Buffer#slice would make views, not copies).
    this.#view = { bytes, buffer, u32: new Uint32Array(copy) };
    this.#pos = 0;
  }
}
