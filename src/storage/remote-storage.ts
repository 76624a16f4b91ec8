/**
 * `ActorStorage` for code on an actor host: the logs live in the storage thread. Appends and
 * acknowledgements go through this host's request ring and are answered through its response
 * ring — no message per record; opening, replay and snapshots (once per actor start) go through
 * comlink. The contract is ActorStorage's: an append resolves once the storage confirmed it
 * (under `fsync: 'always'`, after the covering fsync).
 *
 * A queue's opaque batches live in the shared arena: `appendArena` and `readInto` send an
 * address through the ring and the storage thread copies the bytes itself; batch heads and
 * delivery counts (once per actor start) come through comlink.
 */
import assert from 'node:assert/strict';
import { type Remote, wrap } from 'comlink';
import { ClosedError, deserializeError, InvalidArgumentError, type SerializedError, StorageFailedError } from '../errors.js';
import { BATCH_RECORDS_MAX, decodeRecords, readBatchHeader, validateRecord, valueBatchBytes, writeValueBatch } from '../wal/record-batch.js';
import { writeU32 } from '../wal/byte-codec.js';
import { attachWriter, RECORD_HEADER_BYTES, RingConsumer, RingReader, type RingWriter } from '../ring/index.js';
import { portEndpoint } from '../threads/comlink-port.js';
import type { ActorLog, ActorLogOptions, ActorSnapshot, ActorStorage, AppendResult, BatchHead, CopiedBatch, LogKind, LogRecord, ReadIntoResult, RecordInput } from '../wal/actor-storage.js';
import { EVENT_LOOP_READER } from '../threads/event-loop-reader.js';
import { encodeRecordInputs } from './record-wire.js';
import {
  APPEND_ARENA_ADDRESS,
  APPEND_ARENA_BYTES,
  APPEND_ARENA_COUNT,
  APPEND_ARENA_LENGTH,
  APPEND_ARENA_TIMESTAMP,
  CONTROL_PAIRS_PER_REQUEST,
  COPIED_BATCH_SLOTS,
  COPIED_COUNT,
  COPIED_HEADER_SLOTS,
  COPIED_NEXT,
  type LogHandleInfo,
  READ_INTO_ADDRESS,
  READ_INTO_BYTES,
  READ_INTO_FROM,
  READ_INTO_MAX_BYTES,
  STORAGE_ACK_RANGES,
  STORAGE_ACKNOWLEDGE,
  STORAGE_APPEND,
  STORAGE_APPEND_ARENA,
  READ_FLAG_TOO_LARGE,
  READ_HEADER_BYTES,
  STORAGE_CONFIRMED,
  STORAGE_COPIED,
  STORAGE_DELIVERIES,
  STORAGE_READ,
  STORAGE_READ_INTO,
  STORAGE_RECORDS,
  type StorageConnection,
  type StorageHostApi,
  TRIM_REMOVALS,
  TRIM_START_OFFSET,
} from './storage-protocol.js';

/** How long close waits for answers to requests in flight. */
const CLOSE_WAIT_MS = 2000;

/** Records per replay call: large enough to amortize the round trip, small enough to stream. */
const REPLAY_CHUNK_RECORDS = 2048;

/** Batch heads per `replayBatchHeads` call (each a few numbers and `headBytes` of body)... */
const HEADS_CHUNK_BATCHES = 1024;
/** ...and about this many head bytes per call at most, whatever `headBytes` is. */
const HEADS_CHUNK_BYTES = 1 << 20;

/** An arena address or length travels as a u32 (the arena is at most 4 GiB). */
const U32_MAX = 0xffff_ffff;
/** Every request payload starts with the host's generation (u32). */
const GENERATION_BYTES = 4;
/** An ACK_RANGES or DELIVERIES pair: two f64s. */
const PAIR_BYTES = 16;

/** Writes a request's body in place at `bytes[offset]` (a ring claim, or a buffer when the ring is full). */
type BodyFill = (bytes: Uint8Array, offset: number) => void;

/** A request waiting for ring space, behind any that waited before it. */
interface Backlogged {
  type: number;
  handle: number;
  requestId: number;
  payload: Uint8Array;
}

interface Waiting {
  /** A CONFIRMED or RECORDS answer: its type and a copy of its payload. */
  resolve: (type: number, payload: Uint8Array) => void;
  reject: (error: Error) => void;
}

/** A READ's answer (storage-protocol.ts). */
interface ReadChunk {
  records: LogRecord[];
  /** The offset to read next; -1 at the end. */
  next: number;
  startOffset: number;
  nextOffset: number;
  /** The record at `next` does not fit a ring response. */
  tooLarge: boolean;
}

export class RemoteActorStorage implements ActorStorage {
  readonly durable: boolean;
  #api: Remote<StorageHostApi>;
  #requests: RingWriter;
  #responses: RingConsumer;
  #generation: number;
  readonly #waiting = new Map<number, Waiting>();
  readonly #logs = new Map<string, Promise<RemoteActorLog>>();
  /** Requests that found the ring full, in order: a later request never overtakes them. */
  readonly #backlog: Backlogged[] = [];
  #drainingBacklog = false;
  #nextRequest = 1;
  #closed = false;
  /** Bumped on every reattach: log handles of an earlier storage thread are not valid any more. */
  epoch = 0;
  /**
   * Control calls not answered yet, refused when the storage thread is replaced: a call to a dead
   * thread never answers. (Not a Promise.race against one long-lived promise: each race would
   * leave a reaction on it holding its answer, and a queue's start makes thousands of calls.)
   */
  readonly #controlCalls = new Set<(error: Error) => void>();

  /** A control call (comlink) to the storage thread, refused if that thread is replaced before it answers. */
  control<T>(call: (api: Remote<StorageHostApi>) => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const calls = this.#controlCalls;
      calls.add(reject);
      call(this.#api).then(
        (value) => {
          calls.delete(reject);
          resolve(value);
        },
        (error: unknown) => {
          calls.delete(reject);
          reject(error);
        },
      );
    });
  }

  constructor(connection: StorageConnection, durable: boolean) {
    this.durable = durable;
    this.#generation = connection.generation;
    this.#api = wrap<StorageHostApi>(portEndpoint(connection.port));
    this.#requests = attachWriter(connection.requests);
    this.#responses = this.#consume(connection.responses);
  }

  #consume(responses: SharedArrayBuffer): RingConsumer {
    return new RingConsumer(new RingReader(responses, EVENT_LOOP_READER), (record) => {
      // Answers meant for the host this one replaced are not ours.
      if (record.destination !== this.#generation) return;
      const waiting = this.#waiting.get(record.meta);
      if (waiting === undefined) return;
      this.#waiting.delete(record.meta);
      if (record.type === STORAGE_CONFIRMED || record.type === STORAGE_RECORDS || record.type === STORAGE_COPIED) {
        waiting.resolve(record.type, record.copyPayload());
      } else {
        waiting.reject(deserializeError(JSON.parse(new TextDecoder().decode(record.payload())) as SerializedError));
      }
    });
  }

  /**
   * The storage thread died and a new one serves on fresh rings and port. Whatever the dead one
   * did not answer is refused (BATON_STORAGE_FAILED: it may or may not be on disk, the new
   * thread's recovery decides), and logs are opened anew: the supervisor restarts every actor
   * with a log, which replays it.
   */
  async reattach(connection: StorageConnection): Promise<void> {
    const lost = new StorageFailedError('the storage thread died before it answered; the request may or may not be on disk: the broker restarted the storage and the actor replays its log');
    const old = this.#responses;
    // A backlog write waiting for room in the dead thread's ring ends (ClosedError) and goes.
    this.#requests.close();
    this.#generation = connection.generation;
    this.#api = wrap<StorageHostApi>(portEndpoint(connection.port));
    this.#requests = attachWriter(connection.requests);
    this.#responses = this.#consume(connection.responses);
    this.epoch += 1;
    for (const refuse of this.#controlCalls) refuse(lost);
    this.#controlCalls.clear();
    this.#logs.clear();
    this.#backlog.length = 0;
    for (const waiting of this.#waiting.values()) waiting.reject(lost);
    this.#waiting.clear();
    old.stop();
    await old.done;
  }

  openLog(name: string, options?: ActorLogOptions): Promise<ActorLog> {
    if (this.#closed) return Promise.reject(new ClosedError('storage is closed'));
    let log = this.#logs.get(name);
    if (log === undefined) {
      log = this.control((api) => api.openLog(name, options)).then((info) => new RemoteActorLog(name, info, this));
      this.#logs.set(name, log);
      log.catch(() => this.#logs.delete(name));
    }
    return log;
  }

  /**
   * Pairs (two f64s) one ACK_RANGES or DELIVERIES request carries: CONTROL_PAIRS_PER_REQUEST, or
   * fewer when this ring's records are smaller (a record holds the generation, then the pairs).
   */
  get pairsPerRequest(): number {
    const fit = Math.floor((this.#requests.memory.maxRecordBytes - RECORD_HEADER_BYTES - GENERATION_BYTES) / PAIR_BYTES);
    assert.ok(fit >= 1, 'a request ring record holds at least one pair');
    return Math.min(CONTROL_PAIRS_PER_REQUEST, fit);
  }

  /** Sends an append or an acknowledgement through the ring and resolves with the storage's answer. */
  async request(type: number, handle: number, body: Uint8Array): Promise<AppendResult> {
    return appendResult(await this.#sendBytes(type, handle, body));
  }

  /** `request` with a body of `bodyBytes` that `fill` writes in place: straight into the ring when it has room. */
  async requestWith(type: number, handle: number, bodyBytes: number, fill: BodyFill): Promise<AppendResult> {
    return appendResult(await this.#send(type, handle, bodyBytes, fill));
  }

  /** Reads records of a log from `fromOffset` through the ring (one response record, at most `recordsMax`). */
  async read(handle: number, fromOffset: number, recordsMax: number): Promise<ReadChunk> {
    const body = new Uint8Array(12);
    const view = new DataView(body.buffer);
    view.setFloat64(0, fromOffset, true);
    view.setUint32(8, recordsMax, true);
    const answer = await this.#sendBytes(STORAGE_READ, handle, body);
    const answerView = new DataView(answer.buffer, answer.byteOffset, answer.byteLength);
    let records: LogRecord[] = [];
    if (answer.byteLength > READ_HEADER_BYTES) records = decodeRecords(answer, READ_HEADER_BYTES, readBatchHeader(answer, READ_HEADER_BYTES));
    return {
      records,
      next: answerView.getFloat64(0, true),
      startOffset: answerView.getFloat64(8, true),
      nextOffset: answerView.getFloat64(16, true),
      tooLarge: (answerView.getUint32(24, true) & READ_FLAG_TOO_LARGE) !== 0,
    };
  }

  /** Asks the storage thread to copy opaque bodies of a log into arena [address, address + maxBytes) (READ_INTO). */
  async readInto(handle: number, fromOffset: number, address: number, maxBytes: number): Promise<ReadIntoResult> {
    const answer = await this.#send(STORAGE_READ_INTO, handle, READ_INTO_BYTES, (bytes, offset) => {
      const view = new DataView(bytes.buffer, bytes.byteOffset + offset, READ_INTO_BYTES);
      view.setFloat64(READ_INTO_FROM, fromOffset, true);
      view.setUint32(READ_INTO_ADDRESS, address, true);
      view.setUint32(READ_INTO_MAX_BYTES, maxBytes, true);
    });
    // The payload is a fresh copy, but not necessarily 8-aligned in its buffer: read through a view.
    const view = new DataView(answer.buffer, answer.byteOffset, answer.byteLength);
    const slot = (i: number) => view.getFloat64(i * 8, true);
    const n = slot(COPIED_COUNT);
    const batches: CopiedBatch[] = [];
    for (let i = 0; i < n; i++) {
      const at = COPIED_HEADER_SLOTS + COPIED_BATCH_SLOTS * i;
      batches.push({ baseOffset: slot(at), count: slot(at + 1), at: slot(at + 2), length: slot(at + 3) });
    }
    return { batches, next: slot(COPIED_NEXT) };
  }

  #sendBytes(type: number, handle: number, body: Uint8Array): Promise<Uint8Array> {
    return this.#send(type, handle, body.byteLength, (bytes, offset) => bytes.set(body, offset));
  }

  /**
   * One request record: [u32 generation][body]. Written in place into the ring when it has room
   * and nothing waits before it; otherwise built in a buffer and queued, so that requests reach
   * the storage thread in the order they were made (a log's appends are confirmed in that order).
   */
  #send(type: number, handle: number, bodyBytes: number, fill: BodyFill): Promise<Uint8Array> {
    if (this.#closed) return Promise.reject(new ClosedError('storage is closed'));
    const requestId = this.#nextRequest;
    this.#nextRequest = this.#nextRequest === 0x7fff_ffff ? 1 : this.#nextRequest + 1;
    const generation = this.#generation;
    const write = (bytes: Uint8Array, offset: number) => {
      writeU32(bytes, offset, generation);
      fill(bytes, offset + 4);
    };
    const answer = new Promise<Uint8Array>((resolve, reject) => this.#waiting.set(requestId, { resolve: (_type, payload) => resolve(payload), reject }));
    try {
      if (this.#backlog.length === 0 && this.#requests.tryWriteWith(type, handle, 4 + bodyBytes, write, requestId)) return answer;
      const payload = new Uint8Array(4 + bodyBytes);
      write(payload, 0);
      this.#backlog.push({ type, handle, requestId, payload });
    } catch (error) {
      this.#waiting.delete(requestId);
      return Promise.reject(error);
    }
    if (!this.#drainingBacklog) void this.#drainBacklog();
    return answer;
  }

  async #drainBacklog(): Promise<void> {
    this.#drainingBacklog = true;
    try {
      while (this.#backlog.length > 0) {
        const next = this.#backlog[0]!;
        try {
          await this.#requests.write(next.type, next.handle, next.payload, next.requestId);
        } catch (error) {
          const waiting = this.#waiting.get(next.requestId);
          this.#waiting.delete(next.requestId);
          waiting?.reject(error as Error);
        }
        // A reattach may have emptied the backlog meanwhile (and new requests come after it).
        if (this.#backlog[0] === next) this.#backlog.shift();
      }
    } finally {
      this.#drainingBacklog = false;
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    // Let what is in flight be answered (for a while), then stop listening.
    const deadline = Date.now() + CLOSE_WAIT_MS;
    while (this.#waiting.size > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 1));
    this.#closed = true;
    for (const waiting of this.#waiting.values()) waiting.reject(new ClosedError('storage closed before it answered'));
    this.#waiting.clear();
    this.#responses.stop();
    await this.#responses.done;
    this.#requests.release();
  }
}

function appendResult(answer: Uint8Array): AppendResult {
  const offsets = new Float64Array(answer.buffer, answer.byteOffset, 2);
  return { baseOffset: offsets[0]!, lastOffset: offsets[1]! };
}

class RemoteActorLog implements ActorLog {
  readonly name: string;
  readonly kind: LogKind;
  #startOffset: number;
  #nextOffset: number;
  readonly #handle: number;
  /** The storage thread incarnation this handle belongs to (RemoteActorStorage.epoch). */
  readonly #epoch: number;
  readonly #nameBytes: Uint8Array;
  readonly #storage: RemoteActorStorage;
  /** The storage thread's view of this log's trims (start offset, removals), shared memory. */
  readonly #trim: BigInt64Array;

  constructor(name: string, info: LogHandleInfo, storage: RemoteActorStorage) {
    this.name = name;
    this.kind = info.kind;
    this.#handle = info.handle;
    this.#epoch = storage.epoch;
    this.#nameBytes = Buffer.from(name, 'utf8');
    this.#trim = new BigInt64Array(info.trim);
    this.#startOffset = info.startOffset;
    this.#nextOffset = info.nextOffset;
    this.#storage = storage;
  }

  /**
   * The handle, if it is still the storage thread's: after the thread died and was restarted,
   * handles are given anew, and a request on an old one must not reach someone else's log.
   */
  #current(): number {
    if (this.#storage.epoch !== this.#epoch) throw new StorageFailedError(`log "${this.name}" was opened on a storage thread that died; the actor restarts on the new one and opens it again`);
    return this.#handle;
  }

  /** As of the last answer from the storage thread, or its last maintenance pass if that is newer. */
  get startOffset(): number {
    return Math.max(this.#startOffset, Number(Atomics.load(this.#trim, TRIM_START_OFFSET)));
  }

  /** As of the storage thread's last maintenance pass. */
  get removals(): number {
    return Number(Atomics.load(this.#trim, TRIM_REMOVALS));
  }

  get nextOffset(): number {
    return this.#nextOffset;
  }

  async append(records: readonly RecordInput[]): Promise<AppendResult> {
    if (!Array.isArray(records) || records.length === 0) throw new InvalidArgumentError(`append to "${this.name}" needs a non-empty array of records`);
    if (records.length > BATCH_RECORDS_MAX) throw new InvalidArgumentError(`append to "${this.name}": ${records.length} records, more than ${BATCH_RECORDS_MAX} in one batch`);
    for (let i = 0; i < records.length; i++) validateRecord(records[i]!, i, false);
    const result = await this.#storage.request(STORAGE_APPEND, this.#current(), encodeRecordInputs(records, Date.now(), this.#nameBytes));
    this.#nextOffset = Math.max(this.#nextOffset, result.lastOffset + 1);
    return result;
  }

  async appendValues(values: readonly Uint8Array[]): Promise<AppendResult> {
    if (!Array.isArray(values) || values.length === 0) throw new InvalidArgumentError(`append to "${this.name}" needs a non-empty array of values`);
    if (values.length > BATCH_RECORDS_MAX) throw new InvalidArgumentError(`append to "${this.name}": ${values.length} records, more than ${BATCH_RECORDS_MAX} in one batch`);
    for (let i = 0; i < values.length; i++) if (!(values[i] instanceof Uint8Array)) throw new InvalidArgumentError(`record ${i}: value must be a Uint8Array`);
    const nameBytes = this.#nameBytes;
    const timestampMs = Date.now();
    const bytes = valueBatchBytes(nameBytes, values);
    const result = await this.#storage.requestWith(STORAGE_APPEND, this.#current(), bytes, (target, offset) =>
      writeValueBatch(target, offset, nameBytes, values, timestampMs, bytes),
    );
    this.#nextOffset = Math.max(this.#nextOffset, result.lastOffset + 1);
    return result;
  }

  async acknowledge(offsets: readonly number[]): Promise<void> {
    await this.#storage.request(STORAGE_ACKNOWLEDGE, this.#current(), new Uint8Array(Float64Array.from(offsets).buffer));
  }

  /**
   * One opaque batch from the arena: only its address, length, count and time go through the
   * ring; the storage thread copies the bytes. Keep them unchanged until this settles. Appends
   * in flight are confirmed in the order they were made (ring order).
   */
  async appendArena(address: number, length: number, count: number, timestampMs: number): Promise<AppendResult> {
    if (!Number.isInteger(address) || !Number.isInteger(length) || address < 0 || length < 1 || address > U32_MAX || length > U32_MAX) {
      throw new InvalidArgumentError(`appendArena to "${this.name}": address and length must be arena positions (u32, length >= 1), got ${String(address)}, ${String(length)}`);
    }
    if (!Number.isInteger(count) || count < 1 || count > BATCH_RECORDS_MAX) throw new InvalidArgumentError(`appendArena to "${this.name}": count must be an integer 1..${BATCH_RECORDS_MAX}, got ${String(count)}`);
    if (!Number.isSafeInteger(timestampMs) || timestampMs < 0) throw new InvalidArgumentError(`appendArena to "${this.name}": timestampMs must be a non-negative integer, got ${String(timestampMs)}`);
    const result = await this.#storage.requestWith(STORAGE_APPEND_ARENA, this.#current(), APPEND_ARENA_BYTES, (bytes, offset) => {
      const view = new DataView(bytes.buffer, bytes.byteOffset + offset, APPEND_ARENA_BYTES);
      view.setFloat64(APPEND_ARENA_TIMESTAMP, timestampMs, true);
      view.setUint32(APPEND_ARENA_ADDRESS, address, true);
      view.setUint32(APPEND_ARENA_LENGTH, length, true);
      view.setUint32(APPEND_ARENA_COUNT, count, true);
    });
    this.#nextOffset = Math.max(this.#nextOffset, result.lastOffset + 1);
    return result;
  }

  async acknowledgeRanges(ranges: readonly number[]): Promise<void> {
    return this.#sendPairs(STORAGE_ACK_RANGES, 'acknowledgeRanges', ranges);
  }

  async recordDeliveries(pairs: readonly number[]): Promise<void> {
    return this.#sendPairs(STORAGE_DELIVERIES, 'recordDeliveries', pairs);
  }

  /**
   * Flat pairs as f64s, `pairsPerRequest` pairs per request at most (in ring order, so a later
   * pair still wins over an earlier one). The storage thread checks the values.
   */
  async #sendPairs(type: number, what: string, flat: readonly number[]): Promise<void> {
    if (!Array.isArray(flat) || flat.length === 0 || flat.length % 2 !== 0) throw new InvalidArgumentError(`${what} on "${this.name}" needs a non-empty flat array of pairs`);
    const values = this.#storage.pairsPerRequest * 2;
    const sent: Promise<AppendResult>[] = [];
    for (let i = 0; i < flat.length; i += values) {
      sent.push(this.#storage.request(type, this.#current(), new Uint8Array(Float64Array.from(flat.slice(i, i + values)).buffer)));
    }
    await Promise.all(sent);
  }

  async deliveryCounts(): Promise<number[]> {
    return this.#storage.control((api) => api.deliveryCounts(this.#current()));
  }

  /** Heads of the opaque batches through comlink, a chunk per call (once per actor start). */
  async *replayBatchHeads(options: { fromOffset?: number; headBytes: number }): AsyncIterableIterator<BatchHead> {
    let from: number | undefined = options.fromOffset;
    const batchesMax = Math.max(1, Math.min(HEADS_CHUNK_BATCHES, Math.floor(HEADS_CHUNK_BYTES / Math.max(1, options.headBytes))));
    for (;;) {
      const { heads, next } = await this.#storage.control((api) => api.replayHeadsChunk(this.#current(), from, options.headBytes, batchesMax));
      yield* heads;
      if (next === null) return;
      from = next;
    }
  }

  /** Whole opaque bodies into arena [address, address + maxBytes), copied by the storage thread (READ_INTO). */
  async readInto(fromOffset: number, address: number, maxBytes: number): Promise<ReadIntoResult> {
    if (!Number.isSafeInteger(fromOffset) || fromOffset < 0) return Promise.reject(new InvalidArgumentError(`readInto fromOffset must be a non-negative integer, got ${String(fromOffset)}`));
    if (!Number.isInteger(address) || !Number.isInteger(maxBytes) || address < 0 || maxBytes < 0 || address > U32_MAX || maxBytes > U32_MAX) {
      return Promise.reject(new InvalidArgumentError(`readInto of "${this.name}": address and maxBytes must be arena positions (u32), got ${String(address)}, ${String(maxBytes)}`));
    }
    return this.#storage.readInto(this.#current(), fromOffset, address, maxBytes);
  }

  /**
   * Replays through the ring, a response record per chunk; a record too large for one goes
   * through comlink instead (replayChunk, one record).
   */
  async *replay(options: { fromOffset?: number } = {}): AsyncIterableIterator<LogRecord> {
    let from = options.fromOffset ?? 0;
    for (;;) {
      const chunk = await this.#storage.read(this.#current(), from, REPLAY_CHUNK_RECORDS);
      this.#startOffset = chunk.startOffset;
      this.#nextOffset = Math.max(this.#nextOffset, chunk.nextOffset);
      yield* chunk.records;
      if (chunk.next < 0) return;
      from = chunk.next;
      if (chunk.tooLarge) {
        const { records, next } = await this.#storage.control((api) => api.replayChunk(this.#current(), from, 1));
        yield* records;
        if (next === null) return;
        from = next;
      }
    }
  }

  async offsetForTimestamp(timestampMs: number): Promise<number | null> {
    return this.#storage.control((api) => api.offsetForTimestamp(this.#current(), timestampMs));
  }

  async writeSnapshot(snapshot: ActorSnapshot): Promise<void> {
    return this.#storage.control((api) => api.writeSnapshot(this.#current(), snapshot));
  }

  async readSnapshot(): Promise<ActorSnapshot | null> {
    return this.#storage.control((api) => api.readSnapshot(this.#current()));
  }
}
