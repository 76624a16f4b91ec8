/**
 * The queue actor: one per queue, on an actor host. It keeps the queue's messages (ready by
 * priority, delayed, delivered and not yet acknowledged), pushes deliveries to consumers within
 * their prefetch credit, settles acks and nacks, expires, dead-letters and bounds the queue.
 *
 * With a log (every queue of a memory-only broker, and durable queues), each message is one log
 * record appended before the publish is confirmed, and each settled message is acknowledged in
 * the log: a restarted queue replays exactly the messages not yet settled (at least once — a
 * delivery in flight when the queue failed is delivered again).
 */
import assert from 'node:assert';
import type { ActorBehavior, ActorContext, ActorRecord } from '../actor/actor-behavior.js';
import { NotFoundError, QueueFullError, serializeError } from '../errors.js';
import { DelayHeap } from './delay-heap.js';
import { DELIVERIES_FIELD, emptyQueueMessageFields, type QueueMessageFields, scanQueueMessage, setExpiresAt } from './queue-message.js';
import { type AckMode, type DeadLetterReason, type QueueActorOptions, QueueRecord, type QueueStats, Settle } from './queue-protocol.js';
import { ReadyQueue } from './ready-queue.js';
import { TagTable } from './tag-table.js';

export interface QueueActorDeclaration extends QueueActorOptions {
  /** Keep messages in the log (durable queues, and every queue of a memory-only broker). */
  useLog: boolean;
  /**
   * Bytes of message bodies held in memory (with a log). Past it, a message keeps only its
   * metadata in memory and its body on disk, read back in chunks when it comes up for delivery:
   * a queue larger than memory stays correct. Default 64 MiB.
   */
  memoryBytes?: number;
}

const MEMORY_BYTES_DEFAULT = 64 * 1024 * 1024;
/** Records read per body fetch from the log: messages come up for delivery roughly in order. */
const BODY_FETCH_RECORDS = 2048;

type EntryState = 'ready' | 'delayed' | 'unacked' | 'gone';

/**
 * A message in the queue. The actor never decodes a message's id, headers or body: it keeps the
 * encoded bytes (the log record as is, a view into its publish batch) and the few fixed fields
 * it acts on, and copies the bytes into deliveries. A view keeps its whole publish batch alive
 * until the last message of that batch is settled: at most one batch record per straggler.
 */
interface Entry {
  tag: number;
  /** The encoded message; null while its body is in the log only (memoryBytes was reached): fetched before it is delivered. */
  encoded: Uint8Array | null;
  priority: number;
  timestampMs: number;
  expiresAtMs: number;
  notBeforeMs: number;
  deliveries: number;
  /** Log offset, or -1 without a log. */
  offset: number;
  /** Body bytes (what maxBytes and memoryBytes count). */
  bytes: number;
  state: EntryState;
  consumer: number;
  /** Its place in the ready queue (from `push`): a requeued delivery goes back there. */
  position: number;
}

function newEntry(encoded: Uint8Array, fields: QueueMessageFields): Entry {
  return {
    tag: 0,
    encoded,
    priority: fields.priority,
    timestampMs: fields.timestampMs,
    expiresAtMs: fields.expiresAtMs,
    notBeforeMs: fields.notBeforeMs,
    deliveries: fields.deliveries,
    offset: -1,
    bytes: fields.bodyBytes,
    state: 'ready',
    consumer: 0,
    position: -1,
  };
}

interface Consumer {
  id: number;
  prefetch: number;
  ack: AckMode;
  /** Deliveries not yet settled (for ack 'none': not yet credited back by the consumer). */
  inFlight: number;
}

const encoder = new TextEncoder();
/** A DELIVER record is closed at this size (well under the runtime ring's record limit). */
const DELIVER_BATCH_BYTES = 128 * 1024;

export function createActor(options: unknown): ActorBehavior {
  return new QueueActor(options as QueueActorDeclaration);
}

class QueueActor implements ActorBehavior {
  readonly #options: QueueActorDeclaration;
  #context: ActorContext | null = null;
  readonly #entries = new TagTable<Entry>(1);
  #nextTag = 1;
  readonly #ready: ReadyQueue<Entry>;
  readonly #delayed = new DelayHeap<number>();
  #delayedCount = 0;
  readonly #expiries = new DelayHeap<number>();
  readonly #deadlines = new DelayHeap<number>();
  readonly #consumers = new Map<number, Consumer>();
  #order: number[] = [];
  #turn = 0;
  #deleted = false;
  #timerAtMs = Number.POSITIVE_INFINITY;
  #cancelTimer: (() => void) | null = null;
  /** Log offsets settled and not yet acknowledged in the log. */
  #settledOffsets: number[] = [];
  /** The log acknowledgement in flight, if any: one at a time, the next takes all that came meanwhile. */
  #acking: Promise<void> | null = null;
  #inFlightPublishes = 0;
  #inFlightPublishBytes = 0;
  /** Bodies held in memory, and the entries whose body is on disk only, by log offset. */
  #bodyBytes = 0;
  readonly #onDisk = new Map<number, Entry>();
  /** Dead letters waiting for their body from the log. */
  readonly #deadLettersWaiting: { entry: Entry; reason: DeadLetterReason }[] = [];
  #fetching = false;
  readonly #fields = emptyQueueMessageFields();

  constructor(options: QueueActorDeclaration) {
    this.#options = options;
    this.#ready = new ReadyQueue<Entry>(options.maxPriority);
  }

  async start(context: ActorContext): Promise<void> {
    this.#context = context;
    if (this.#options.useLog) {
      for await (const record of context.log.replay()) {
        if (record.value === null) continue;
        const encoded = record.value.slice();
        const fields = scanQueueMessage(encoded, new DataView(encoded.buffer), 0, this.#fields);
        this.#insert(newEntry(encoded, fields), record.offset, Date.now());
      }
    }
    this.#arm();
  }

  receive(record: ActorRecord, context: ActorContext): void | Promise<void> {
    switch (record.type) {
      case QueueRecord.PUBLISH:
        return this.#publish(record, context);
      case QueueRecord.SUBSCRIBE:
        return this.#answer(record.meta, () => this.#subscribe(JSON.parse(text(record.payload)) as { consumer: number; prefetch: number; ack: AckMode }));
      case QueueRecord.CANCEL:
        return this.#answer(record.meta, () => this.#cancel((JSON.parse(text(record.payload)) as { consumer: number }).consumer));
      case QueueRecord.SETTLE:
        this.#settle(record.payload);
        return this.#flushAcks();
      case QueueRecord.PURGE:
        return this.#answer(record.meta, () => ({ purged: this.#purge() }));
      case QueueRecord.STATS:
        return this.#answer(record.meta, () => this.#stats());
      case QueueRecord.DELETE:
        return this.#answer(record.meta, () => {
          const removed = this.#purge() + this.#dropUnacked();
          this.#deleted = true;
          return { deleted: removed };
        });
      default:
        return assert.fail(`queue ${this.#options.name}: unknown record type ${record.type}`);
    }
  }

  async stop(): Promise<void> {
    this.#cancelTimer?.();
    this.#flushAcks();
    while (this.#acking !== null) await this.#acking;
  }

  // --- requests -------------------------------------------------------------------------------

  /**
   * A publish is appended to the log and, once the append is confirmed, inserted and answered.
   * The receive does not wait for the append: the next publish can be encoded and sent to the
   * storage thread meanwhile (appends of one log are confirmed in order, so inserts and confirms
   * keep the publish order).
   */
  #publish(record: ActorRecord, context: ActorContext): void {
    const meta = record.meta;
    let entries: Entry[];
    let bodyBytes = 0;
    try {
      if (this.#deleted) throw new NotFoundError(`queue "${this.#options.name}" was deleted; declare it again`);
      entries = decodeBatch(record.payload, this.#fields);
      const ttlMs = this.#options.messageTtlMs;
      for (const entry of entries) {
        bodyBytes += entry.bytes;
        if (ttlMs === undefined) continue;
        const queueExpiry = entry.timestampMs + ttlMs;
        entry.expiresAtMs = entry.expiresAtMs === 0 ? queueExpiry : Math.min(entry.expiresAtMs, queueExpiry);
        setExpiresAt(entry.encoded!, entry.expiresAtMs);
      }
      // Counted with the publishes still in flight, so that two of them cannot both squeeze in.
      this.#makeRoom(entries.length, bodyBytes);
    } catch (error) {
      this.#reply(meta, { ok: false, error: serializeError(error) });
      return;
    }
    this.#inFlightPublishes += entries.length;
    this.#inFlightPublishBytes += bodyBytes;
    // The PUBLISH record stays in the ring until it is confirmed: if the host dies meanwhile,
    // it is delivered again and the publisher gets its answer from the next incarnation.
    const release = context.hold();
    const stored = this.#options.useLog ? context.log.appendValues(entries.map((entry) => entry.encoded!)) : Promise.resolve({ baseOffset: -1, lastOffset: -1 });
    stored.then(
      ({ baseOffset }) => {
        this.#inFlightPublishes -= entries.length;
        this.#inFlightPublishBytes -= bodyBytes;
        const nowMs = Date.now();
        for (let i = 0; i < entries.length; i++) this.#insert(entries[i]!, baseOffset === -1 ? -1 : baseOffset + i, nowMs);
        this.#trimHead();
        this.#reply(meta, { ok: true, value: { count: entries.length } });
        release();
        this.#dispatch();
        this.#arm();
        this.#flushAcks();
      },
      (error: unknown) => {
        // Storage failed: this publish is refused, and the actor fails (a timer callback that
        // throws) so that it restarts and recovers what is really in its log.
        this.#reply(meta, { ok: false, error: serializeError(error) });
        release();
        context.setTimer(0, () => {
          throw error;
        });
      },
    );
  }

  /** Under reject-publish, refuses a publish that would take the queue past maxLength/maxBytes (whole, before anything is stored). */
  #makeRoom(count: number, addBytes: number): void {
    const { maxLength, maxBytes, overflow } = this.#options;
    if (overflow !== 'reject-publish' || (maxLength === undefined && maxBytes === undefined)) return;
    const queued = this.#readyCount() + this.#inFlightPublishes;
    const queuedBytes = this.#ready.bytes + this.#inFlightPublishBytes;
    if ((maxLength !== undefined && queued + count > maxLength) || (maxBytes !== undefined && queuedBytes + addBytes > maxBytes)) {
      throw new QueueFullError(
        `queue "${this.#options.name}" is full (maxLength ${maxLength ?? '-'}, maxBytes ${maxBytes ?? '-'}): the publish was rejected whole; consume, or raise the limit`,
      );
    }
  }

  /** Under drop-head, drops (dead-letters) the oldest ready messages while the queue is past its bounds. */
  #trimHead(): void {
    const { maxLength, maxBytes, overflow } = this.#options;
    if (overflow !== 'drop-head') return;
    while ((maxLength !== undefined && this.#readyCount() > maxLength) || (maxBytes !== undefined && this.#ready.bytes > maxBytes)) {
      const entry = this.#nextReady(Number.NEGATIVE_INFINITY);
      if (entry === null) break;
      this.#deadLetter(entry, 'maxlen');
    }
  }

  #subscribe(request: { consumer: number; prefetch: number; ack: AckMode }): { ok: true } {
    if (this.#deleted) throw new NotFoundError(`queue "${this.#options.name}" was deleted`);
    if (!this.#consumers.has(request.consumer)) this.#order.push(request.consumer);
    this.#consumers.set(request.consumer, { id: request.consumer, prefetch: request.prefetch, ack: request.ack, inFlight: 0 });
    this.#dispatch();
    return { ok: true };
  }

  #cancel(consumerId: number): { requeued: number } {
    this.#consumers.delete(consumerId);
    this.#order = this.#order.filter((id) => id !== consumerId);
    let requeued = 0;
    for (const entry of this.#entries.values()) {
      if (entry.state === 'unacked' && entry.consumer === consumerId) {
        this.#requeue(entry);
        requeued++;
      }
    }
    this.#dispatch();
    return { requeued };
  }

  #settle(payload: Uint8Array): void {
    const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
    const how = payload[0]!;
    const consumerId = view.getUint32(1, true);
    const delayMs = view.getFloat64(5, true);
    const count = view.getUint32(13, true);
    const consumer = this.#consumers.get(consumerId);
    for (let i = 0; i < count; i++) {
      const tag = view.getFloat64(17 + 8 * i, true);
      const entry = this.#entries.get(tag);
      if (consumer !== undefined && consumer.inFlight > 0 && (entry === undefined || entry.consumer === consumerId)) consumer.inFlight--;
      if (entry === undefined || entry.state !== 'unacked' || entry.consumer !== consumerId) continue;
      switch (how) {
        case Settle.ACK:
          this.#remove(entry);
          break;
        case Settle.REQUEUE:
          this.#requeue(entry);
          break;
        case Settle.REJECT:
          this.#deadLetter(entry, 'rejected');
          break;
        case Settle.REQUEUE_LATER:
          entry.notBeforeMs = Date.now() + delayMs;
          entry.state = 'delayed';
          this.#delayed.push(entry.notBeforeMs, entry.tag);
          this.#delayedCount++;
          break;
        default:
          assert.fail(`queue ${this.#options.name}: unknown settle kind ${how}`);
      }
    }
    this.#dispatch();
    this.#arm();
  }

  #purge(): number {
    let purged = 0;
    for (const entry of [...this.#entries.values()]) {
      if (entry.state === 'ready' || entry.state === 'delayed') {
        this.#remove(entry);
        purged++;
      }
    }
    return purged;
  }

  #dropUnacked(): number {
    let dropped = 0;
    for (const entry of [...this.#entries.values()]) {
      if (entry.state === 'unacked') {
        this.#remove(entry);
        dropped++;
      }
    }
    return dropped;
  }

  #stats(): QueueStats {
    let unacked = 0;
    for (const entry of this.#entries.values()) if (entry.state === 'unacked') unacked++;
    return { ready: this.#readyCount(), unacked, consumers: this.#consumers.size, delayed: this.#delayedCount, readyBytes: this.#ready.bytes };
  }

  // --- message states -------------------------------------------------------------------------

  #readyCount(): number {
    return this.#ready.size;
  }

  #insert(entry: Entry, offset: number, nowMs: number): void {
    entry.tag = this.#nextTag++;
    entry.offset = offset;
    if (offset >= 0 && this.#bodyBytes + entry.bytes > (this.#options.memoryBytes ?? MEMORY_BYTES_DEFAULT)) {
      // Past the memory budget: the message stays in the log only.
      entry.encoded = null;
      this.#onDisk.set(offset, entry);
    } else {
      this.#bodyBytes += entry.bytes;
    }
    this.#entries.add(entry.tag, entry);
    if (entry.expiresAtMs > 0) this.#expiries.push(entry.expiresAtMs, entry.tag);
    if (entry.notBeforeMs > nowMs) {
      entry.state = 'delayed';
      this.#delayed.push(entry.notBeforeMs, entry.tag);
      this.#delayedCount++;
    } else {
      this.#makeReady(entry, false);
    }
  }

  /** Ready again: a requeued delivery at its original place (RabbitMQ's), anything else at the tail. */
  #makeReady(entry: Entry, backInPlace: boolean): void {
    entry.state = 'ready';
    entry.consumer = 0;
    if (backInPlace && entry.position >= 0) this.#ready.requeue(entry, entry.priority, entry.bytes, entry.position);
    else entry.position = this.#ready.push(entry, entry.priority, entry.bytes);
  }

  /** The next ready entry, dead-lettering the expired ones found on the way; null if none. */
  #nextReady(nowMs: number): Entry | null {
    for (;;) {
      const entry = this.#ready.shift();
      if (entry === undefined) return null;
      entry.state = 'unacked';
      if (entry.expiresAtMs > 0 && entry.expiresAtMs <= nowMs) {
        this.#deadLetter(entry, 'expired');
        continue;
      }
      return entry;
    }
  }

  #requeue(entry: Entry): void {
    const limit = this.#options.maxDeliveries;
    if (limit !== undefined && entry.deliveries >= limit) {
      this.#deadLetter(entry, 'delivery-limit');
      return;
    }
    this.#makeReady(entry, true);
  }

  #remove(entry: Entry): void {
    if (entry.state === 'ready') {
      this.#ready.remove(entry.priority, entry.position);
    } else if (entry.state === 'delayed') {
      this.#delayedCount--;
    }
    entry.state = 'gone';
    this.#entries.delete(entry.tag);
    if (entry.encoded === null) this.#onDisk.delete(entry.offset);
    else this.#bodyBytes -= entry.bytes;
    if (entry.offset >= 0) this.#settledOffsets.push(entry.offset);
  }

  /** To the dead-letter queue (through the broker) when the queue has one; dropped otherwise. Either way, settled here. */
  #deadLetter(entry: Entry, reason: DeadLetterReason): void {
    if (this.#options.deadLetter !== undefined && entry.encoded === null) {
      // Its payload goes to the dead-letter queue: read it back first, then forward and settle it.
      entry.state = 'unacked';
      entry.consumer = 0;
      this.#deadLettersWaiting.push({ entry, reason });
      this.#fetchBodies(entry.offset);
      return;
    }
    if (this.#options.deadLetter !== undefined) {
      const reasonBytes = encoder.encode(reason);
      const at = 2 + reasonBytes.byteLength;
      const payload = new Uint8Array(at + entry.encoded!.byteLength);
      const view = new DataView(payload.buffer);
      view.setUint16(0, reasonBytes.byteLength, true);
      payload.set(reasonBytes, 2);
      payload.set(entry.encoded!, at);
      view.setUint32(at + DELIVERIES_FIELD, entry.deliveries, true);
      this.#context!.reply(QueueRecord.DEAD_LETTER, payload, 0);
    }
    this.#remove(entry);
  }

  // --- delivery -------------------------------------------------------------------------------

  /** Delivers ready messages round robin to consumers with credit (prefetch never exceeded). */
  #dispatch(): void {
    const order = this.#order;
    if (order.length === 0 || this.#readyCount() === 0) return;
    const nowMs = Date.now();
    // Deliveries go out in batches, one record per consumer per dispatch (bounded in bytes):
    // one ring write, and at most one wake-up of the broker thread, for many messages.
    const batches = new Map<number, { entries: Entry[]; bytes: number }>();
    let withoutCredit = 0;
    while (this.#readyCount() > 0 && withoutCredit < order.length) {
      const consumer = this.#consumers.get(order[this.#turn++ % order.length]!)!;
      if (consumer.inFlight >= consumer.prefetch) {
        withoutCredit++;
        continue;
      }
      withoutCredit = 0;
      const head = this.#ready.peek();
      if (head !== undefined && head.encoded === null) {
        // Its body is on disk: read the next chunk of bodies, then deliver on.
        this.#fetchBodies(head.offset);
        break;
      }
      const entry = this.#nextReady(nowMs);
      if (entry === null) break;
      entry.deliveries++;
      entry.consumer = consumer.id;
      consumer.inFlight++;
      let batch = batches.get(consumer.id);
      if (batch === undefined) batches.set(consumer.id, (batch = { entries: [], bytes: 4 }));
      batch.entries.push(entry);
      batch.bytes += 8 + entry.encoded!.byteLength;
      if (batch.bytes >= DELIVER_BATCH_BYTES) {
        this.#deliver(consumer.id, batch);
        batches.delete(consumer.id);
      }
      // At most once: settled as it leaves; the consumer still returns the credit.
      if (consumer.ack === 'none') this.#remove(entry);
      else if (this.#options.ackTimeoutMs !== undefined) this.#deadlines.push(nowMs + this.#options.ackTimeoutMs, entry.tag);
    }
    for (const [consumerId, batch] of batches) this.#deliver(consumerId, batch);
  }

  /** One DELIVER record: [u32 count] then per message [f64 tag][message], written in place in the runtime's ring. */
  #deliver(consumerId: number, batch: { entries: Entry[]; bytes: number }): void {
    this.#context!.replyWith(
      QueueRecord.DELIVER,
      batch.bytes,
      (bytes, start) => {
        const entries = batch.entries;
        const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
        view.setUint32(start, entries.length, true);
        let offset = start + 4;
        for (let i = 0; i < entries.length; i++) {
          const entry = entries[i]!;
          const encoded = entry.encoded!;
          view.setFloat64(offset, entry.tag, true);
          bytes.set(encoded, offset + 8);
          view.setUint32(offset + 8 + DELIVERIES_FIELD, entry.deliveries, true);
          offset += 8 + encoded.byteLength;
        }
      },
      consumerId,
    );
  }

  /**
   * Reads message bodies back from the log, from `fromOffset` on (one chunk), into the entries
   * that kept only their metadata; then delivers on and forwards waiting dead letters. One fetch
   * at a time. A failed read fails the actor (it restarts and replays its log).
   */
  #fetchBodies(fromOffset: number): void {
    if (this.#fetching) return;
    this.#fetching = true;
    const context = this.#context!;
    void (async () => {
      let read = 0;
      for await (const record of context.log.replay({ fromOffset })) {
        const entry = this.#onDisk.get(record.offset);
        if (entry !== undefined && record.value !== null) {
          entry.encoded = record.value.slice();
          this.#onDisk.delete(record.offset);
          this.#bodyBytes += entry.bytes;
        }
        if (++read >= BODY_FETCH_RECORDS) break;
      }
    })().then(
      () => {
        this.#fetching = false;
        // The log must hold every unsettled message: one missing is corruption, not a wait.
        if (this.#onDisk.has(fromOffset)) throw new Error(`queue ${this.#options.name}: message at log offset ${fromOffset} is missing from its log`);
        for (const waiting of this.#deadLettersWaiting.splice(0)) {
          if (waiting.entry.state === 'gone') continue;
          if (waiting.entry.encoded === null) this.#deadLettersWaiting.push(waiting);
          else this.#deadLetter(waiting.entry, waiting.reason);
        }
        if (this.#deadLettersWaiting.length > 0) this.#fetchBodies(this.#deadLettersWaiting[0]!.entry.offset);
        this.#dispatch();
        this.#arm();
        this.#flushAcks();
      },
      (error: unknown) => {
        this.#fetching = false;
        context.setTimer(0, () => {
          throw error;
        });
      },
    );
  }

  // --- time -----------------------------------------------------------------------------------

  /** One actor timer, at the earliest of: a delay ending, an expiry, an ack deadline. */
  #arm(): void {
    const next = Math.min(this.#delayed.nextDueMs, this.#expiries.nextDueMs, this.#deadlines.nextDueMs);
    if (next === this.#timerAtMs) return;
    this.#cancelTimer?.();
    this.#cancelTimer = null;
    this.#timerAtMs = next;
    if (next === Number.POSITIVE_INFINITY) return;
    this.#cancelTimer = this.#context!.setTimer(next - Date.now(), () => {
      this.#timerAtMs = Number.POSITIVE_INFINITY;
      this.#cancelTimer = null;
      return this.#onTime();
    });
  }

  #onTime(): void {
    const nowMs = Date.now();
    while (this.#delayed.nextDueMs <= nowMs) {
      const entry = this.#entries.get(this.#delayed.pop()!);
      if (entry?.state !== 'delayed') continue;
      this.#delayedCount--;
      this.#makeReady(entry, false);
    }
    while (this.#expiries.nextDueMs <= nowMs) {
      const entry = this.#entries.get(this.#expiries.pop()!);
      if (entry === undefined) continue;
      if (entry.state === 'ready') {
        this.#ready.remove(entry.priority, entry.position);
        entry.state = 'unacked';
        this.#deadLetter(entry, 'expired');
      } else if (entry.state === 'delayed') {
        this.#delayedCount--;
        entry.state = 'unacked';
        this.#deadLetter(entry, 'expired');
      }
    }
    while (this.#deadlines.nextDueMs <= nowMs) {
      const entry = this.#entries.get(this.#deadlines.pop()!);
      if (entry?.state !== 'unacked') continue;
      const consumer = this.#consumers.get(entry.consumer);
      if (consumer !== undefined && consumer.inFlight > 0) consumer.inFlight--;
      this.#requeue(entry);
    }
    this.#dispatch();
    this.#arm();
    return this.#flushAcks();
  }

  // --- answers --------------------------------------------------------------------------------

  #answer(meta: number, work: () => unknown): void {
    try {
      this.#reply(meta, { ok: true, value: work() });
    } catch (error) {
      this.#reply(meta, { ok: false, error: serializeError(error) });
    }
    this.#arm();
    return this.#flushAcks();
  }

  #reply(meta: number, result: unknown): void {
    if (meta !== 0) this.#context!.reply(QueueRecord.RESULT, encoder.encode(JSON.stringify(result)), meta);
  }

  /**
   * Acknowledges settled messages in the log, in the background: one acknowledgement in flight,
   * the next one carrying everything settled meanwhile. A settle is not a confirm, so nobody
   * waits for it; if the queue restarts before an acknowledgement is logged, that message is
   * delivered again (at least once). A failed acknowledgement fails the actor.
   */
  #flushAcks(): void {
    if (this.#acking !== null || this.#settledOffsets.length === 0 || !this.#options.useLog) {
      if (!this.#options.useLog) this.#settledOffsets = [];
      return;
    }
    const offsets = this.#settledOffsets;
    this.#settledOffsets = [];
    const context = this.#context!;
    this.#acking = context.log.acknowledge(offsets).then(
      () => {
        this.#acking = null;
        this.#flushAcks();
      },
      (error: unknown) => {
        this.#acking = null;
        context.setTimer(0, () => {
          throw error;
        });
      },
    );
  }
}

function text(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');
}

/**
 * The messages of a PUBLISH as entries (not yet inserted). The payload is copied once, whole:
 * each entry's bytes are a view into that copy (the ring's space is released after the receive).
 */
function decodeBatch(payload: Uint8Array, fields: QueueMessageFields): Entry[] {
  const copy = payload.slice();
  const view = new DataView(copy.buffer);
  const count = view.getUint32(0, true);
  const entries = new Array<Entry>(count);
  let offset = 4;
  for (let i = 0; i < count; i++) {
    scanQueueMessage(copy, view, offset, fields);
    entries[i] = newEntry(copy.subarray(offset, fields.end), fields);
    offset = fields.end;
  }
  return entries;
}
