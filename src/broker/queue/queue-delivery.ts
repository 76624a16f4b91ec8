/**
 * One delivery of a queue message, on the consumer's thread: a small object that points at the
 * message where it lies in the arena. Nothing is decoded until it is read: the body on first use
 * of `body`, the id, headers and reply fields on first use of one of them.
 *
 * A message's memory is reused once it is settled and the actor has let its extent go, so a
 * delivery settled before its body was read keeps a copy of its record first (`#detach`):
 * reading `msg.body` after `msg.ack()` works, as it always did.
 */
import type { ArenaBuffer, ArenaView } from '../../log/arena.js';
import { AlreadyAckedError, InvalidArgumentError } from '../../errors.js';
import type { Codec } from '../codec.js';
import { generatedId } from '../message-ids.js';
import { QB_ID_BASE, QB_ID_PREFIX, QB_PRIORITY, QB_TIMESTAMP, type RecordExtensions, readExtensions, recordBodyBytes, recordBodyStart, recordEnd } from './queue-batch.js';
import { Settle } from './queue-protocol.js';

/** What a delivery needs from its consumer. */
export interface DeliverySource {
  readonly codec: Codec;
  /** The arena's views as of now (they are refreshed when the arena grows). */
  arenaBytes(): ArenaView & { f64: Float64Array };
  settle(delivery: QueueDelivery, how: number, delayMs: number): void;
}

/** A consumer's view of one grant: its id, where in its batch it starts, how often its messages were delivered. */
export class ConsumerGrant {
  constructor(
    readonly source: DeliverySource,
    readonly id: number,
    readonly batch: number,
    readonly index: number,
    readonly count: number,
    readonly deliveries: number,
    readonly incarnation: number,
  ) {}
}

const UNREAD = Symbol('unread');
const SETTLED = 1;
const IN_PLACE = 2;
const RELEASED = 4;

/**
 * A copy of `[start, end)` out of the arena: a Buffer from Node's pool for small payloads (one
 * 8 KiB buffer shared by many), not an ArrayBuffer of its own per message, whose off-heap memory
 * the garbage collector sweeps one by one on its helper threads (a 256-byte body per message had
 * them take most of a core).
 */
export function copyOut(source: Buffer, start: number, end: number): Buffer {
  const copy = Buffer.allocUnsafe(end - start);
  source.copy(copy, 0, start, end);
  return copy;
}

/**
 * A detached record: a copy of the message's record, then of its batch's id prefix, in one
 * buffer, and the header fields it needs.
 */
interface Detached extends ArenaView {
  prefixAt: number;
  idBase: number;
  priority: number;
  timestampMs: number;
}

/** What a delivery read or copied, made on first need (most deliveries only ever read their body or bytes). */
interface Extras {
  extensions: RecordExtensions | null;
  detached: Detached | null;
}

export class QueueDelivery {
  /** The grant it came in, and its index in it (what a settle names). */
  readonly grant: ConsumerGrant;
  readonly index: number;
  readonly #record: number;
  #body: unknown = UNREAD;
  #bytes: Uint8Array | null = null;
  #extras: Extras | null = null;
  /** SETTLED, IN_PLACE (read through `buffer`: not kept when settled), RELEASED (settled so). One field: a delivery per message is kept small. */
  #state = 0;

  constructor(grant: ConsumerGrant, index: number, record: number) {
    this.grant = grant;
    this.index = index;
    this.#record = record;
  }

  /** Settled (acked or nacked) once: a second settle is BATON_ALREADY_ACKED. */
  get settled(): boolean {
    return (this.#state & SETTLED) !== 0;
  }

  /** How many times it was delivered, this one included. */
  get deliveryCount(): number {
    return this.grant.deliveries;
  }

  get redelivered(): boolean {
    return this.grant.deliveries > 1;
  }

  #more(): Extras {
    return (this.#extras ??= { extensions: null, detached: null });
  }

  /** The message's id: the one it was sent with, or the broker's (made into text on first use). */
  get id(): string {
    const own = this.#ext().id;
    if (own !== undefined) return own;
    const detached = this.#extras?.detached ?? null;
    if (detached !== null) return generatedId(detached.bytes.subarray(detached.prefixAt, detached.prefixAt + 8), detached.idBase);
    const { bytes, f64 } = this.#live();
    const batch = this.grant.batch;
    return generatedId(bytes.subarray(batch + QB_ID_PREFIX, batch + QB_ID_PREFIX + 8), f64[(batch + QB_ID_BASE) >>> 3]! + this.grant.index + this.index);
  }

  get priority(): number {
    const detached = this.#extras?.detached ?? null;
    if (detached !== null) return detached.priority;
    return this.#live().bytes[this.grant.batch + QB_PRIORITY]!;
  }

  /** When it was published (ms since the epoch). */
  get timestamp(): number {
    const detached = this.#extras?.detached ?? null;
    if (detached !== null) return detached.timestampMs;
    return this.#live().f64[(this.grant.batch + QB_TIMESTAMP) >>> 3]!;
  }

  get headers(): Record<string, string> {
    return this.#ext().headers;
  }

  get correlationId(): string | undefined {
    return this.#ext().correlationId;
  }

  get replyTo(): string | undefined {
    return this.#ext().replyTo;
  }

  /**
   * Zero-copy access to the payload, for the fastest consumers: the payload is
   * `buffer[bodyOffset .. bodyOffset + bodyLength)`, read in place (no copy, nothing allocated).
   * `buffer` is shared memory that other messages use too: read it, never write it, and only
   * until the message is settled (its memory is reused after); copy what you keep (`bytes`).
   */
  get buffer(): Buffer {
    const view = this.#view();
    this.#state |= IN_PLACE;
    return view.buffer;
  }

  get bodyOffset(): number {
    const view = this.#view();
    this.#state |= IN_PLACE;
    return recordBodyStart(view.u32, this.#at());
  }

  get bodyLength(): number {
    const view = this.#view();
    this.#state |= IN_PLACE;
    return recordBodyBytes(view.u32, this.#at());
  }

  /** The raw payload (a copy: it outlives the message), a Buffer. */
  get bytes(): Uint8Array {
    if (this.#bytes === null) {
      const { buffer, u32 } = this.#view();
      const record = this.#at();
      const start = recordBodyStart(u32, record);
      this.#bytes = copyOut(buffer, start, start + recordBodyBytes(u32, record));
    }
    return this.#bytes;
  }

  /** The payload decoded by the queue's codec (on first use). */
  get body(): unknown {
    if (this.#body === UNREAD) {
      const view = this.#view();
      const record = this.#at();
      const start = recordBodyStart(view.u32, record);
      this.#body = this.grant.source.codec.decodeAt(view, start, start + recordBodyBytes(view.u32, record));
    }
    return this.#body;
  }

  ack(): void {
    this.grant.source.settle(this, Settle.ACK, 0);
  }

  /** Requeue (default) to be delivered again, maybe after `delayMs`; or not: dead-lettered (or dropped without a dead-letter queue). */
  nack(options: { requeue?: boolean; delayMs?: number } = {}): void {
    const delayMs = options.delayMs ?? 0;
    if (!(Number.isFinite(delayMs) && delayMs >= 0)) throw new InvalidArgumentError(`nack delayMs must be a finite number >= 0, got ${delayMs}`);
    const requeue = options.requeue ?? true;
    this.grant.source.settle(this, !requeue ? Settle.REJECT : delayMs > 0 ? Settle.REQUEUE_LATER : Settle.REQUEUE, delayMs);
  }

  /** Marks it settled (once): AlreadyAckedError the second time. Keeps its bytes if nothing read them yet. */
  markSettled(): void {
    const state = this.#state;
    if ((state & SETTLED) !== 0) throw new AlreadyAckedError(`message ${(state & RELEASED) === 0 ? this.id : ''} was already acknowledged or rejected; settle each delivery once`);
    this.#state = state | SETTLED;
    if (this.#body !== UNREAD || this.#bytes !== null) return;
    // Nothing of it was copied yet, and its memory is reused once the actor lets it go: keep a
    // copy — unless it was read in place, whose reader took the contract (read before settling).
    if ((state & IN_PLACE) !== 0) this.#state |= RELEASED;
    else this.#detach();
  }

  #ext(): RecordExtensions {
    const extras = this.#more();
    return (extras.extensions ??= readExtensions(this.#view(), this.#at()));
  }

  #view(): ArenaView {
    return this.#extras?.detached ?? this.#live();
  }

  /** The arena, while the message's memory is its own: not once it was settled after an in-place read. */
  #live(): ArenaView & { f64: Float64Array } {
    if ((this.#state & RELEASED) !== 0) {
      throw new AlreadyAckedError('message was settled after being read in place (msg.buffer): its memory is reused; read what you need before settling it, or copy it (msg.bytes) first');
    }
    return this.grant.source.arenaBytes();
  }

  /** Where the record is in `#view()`. */
  #at(): number {
    return this.#extras?.detached == null ? this.#record : 0;
  }

  /** Copies the record (and the header fields it needs) out of the arena, 4-aligned. */
  #detach(): void {
    const arena = this.grant.source.arenaBytes();
    const batch = this.grant.batch;
    const record = this.#record;
    const length = recordEnd(arena.u32, record) - record;
    const copy = new ArrayBuffer(length + 8);
    const bytes = new Uint8Array(copy);
    bytes.set(arena.bytes.subarray(record, record + length));
    bytes.set(arena.bytes.subarray(batch + QB_ID_PREFIX, batch + QB_ID_PREFIX + 8), length);
    const buffer = Buffer.from(copy) as ArenaBuffer;
    this.#more().detached = {
      bytes: buffer,
      buffer,
      u32: new Uint32Array(copy),
      prefixAt: length,
      idBase: arena.f64[(batch + QB_ID_BASE) >>> 3]! + this.grant.index + this.index,
      priority: arena.bytes[batch + QB_PRIORITY]!,
      timestampMs: arena.f64[(batch + QB_TIMESTAMP) >>> 3]!,
    };
  }
}
