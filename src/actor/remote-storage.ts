/**
 * `ActorStorage` for code on an actor host: the logs live in the storage thread. Appends and
 * acknowledgements go through this host's request ring and are answered through its response
 * ring — no message per record; opening, replay and snapshots (once per actor start) go through
 * comlink. The contract is ActorStorage's: an append resolves once the storage confirmed it
 * (under `fsync: 'always'`, after the covering fsync).
 */
import { type Remote, wrap } from 'comlink';
import { ClosedError, deserializeError, InvalidArgumentError, type SerializedError } from '../errors.js';
import { BATCH_RECORDS_MAX, decodeRecords, readBatchHeader, validateRecord, valueBatchBytes, writeValueBatch } from '../wal/record-batch.js';
import { writeU32 } from '../wal/byte-codec.js';
import { attachWriter, RingConsumer, RingReader, type RingWriter } from '../ring/index.js';
import { portEndpoint } from '../threads/comlink-port.js';
import type { ActorLog, ActorLogOptions, ActorSnapshot, ActorStorage, AppendResult, LogKind, LogRecord, RecordInput } from './actor-storage.js';
import { EVENT_LOOP_READER } from './event-loop-reader.js';
import { encodeRecordInputs } from './record-wire.js';
import {
  type LogHandleInfo,
  STORAGE_ACKNOWLEDGE,
  STORAGE_APPEND,
  READ_FLAG_TOO_LARGE,
  READ_HEADER_BYTES,
  STORAGE_CONFIRMED,
  STORAGE_READ,
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
  readonly #api: Remote<StorageHostApi>;
  readonly #requests: RingWriter;
  readonly #responses: RingConsumer;
  readonly #generation: number;
  readonly #waiting = new Map<number, Waiting>();
  readonly #logs = new Map<string, Promise<RemoteActorLog>>();
  /** Requests that found the ring full, in order: a later request never overtakes them. */
  readonly #backlog: Backlogged[] = [];
  #drainingBacklog = false;
  #nextRequest = 1;
  #closed = false;

  constructor(connection: StorageConnection, durable: boolean) {
    this.durable = durable;
    this.#generation = connection.generation;
    this.#api = wrap<StorageHostApi>(portEndpoint(connection.port));
    this.#requests = attachWriter(connection.requests);
    this.#responses = new RingConsumer(new RingReader(connection.responses, EVENT_LOOP_READER), (record) => {
      // Answers meant for the host this one replaced are not ours.
      if (record.destination !== this.#generation) return;
      const waiting = this.#waiting.get(record.meta);
      if (waiting === undefined) return;
      this.#waiting.delete(record.meta);
      if (record.type === STORAGE_CONFIRMED || record.type === STORAGE_RECORDS) {
        waiting.resolve(record.type, record.copyPayload());
      } else {
        waiting.reject(deserializeError(JSON.parse(new TextDecoder().decode(record.payload())) as SerializedError));
      }
    });
  }

  openLog(name: string, options?: ActorLogOptions): Promise<ActorLog> {
    if (this.#closed) return Promise.reject(new ClosedError('storage is closed'));
    let log = this.#logs.get(name);
    if (log === undefined) {
      log = this.#api.openLog(name, options).then((info) => new RemoteActorLog(name, info, this, this.#api));
      this.#logs.set(name, log);
      log.catch(() => this.#logs.delete(name));
    }
    return log;
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
        this.#backlog.shift();
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
  readonly #nameBytes: Uint8Array;
  readonly #storage: RemoteActorStorage;
  readonly #api: Remote<StorageHostApi>;
  /** The storage thread's view of this log's trims (start offset, removals), shared memory. */
  readonly #trim: BigInt64Array;

  constructor(name: string, info: LogHandleInfo, storage: RemoteActorStorage, api: Remote<StorageHostApi>) {
    this.name = name;
    this.kind = info.kind;
    this.#handle = info.handle;
    this.#nameBytes = Buffer.from(name, 'utf8');
    this.#trim = new BigInt64Array(info.trim);
    this.#startOffset = info.startOffset;
    this.#nextOffset = info.nextOffset;
    this.#storage = storage;
    this.#api = api;
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
    const result = await this.#storage.request(STORAGE_APPEND, this.#handle, encodeRecordInputs(records, Date.now(), this.#nameBytes));
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
    const result = await this.#storage.requestWith(STORAGE_APPEND, this.#handle, bytes, (target, offset) =>
      writeValueBatch(target, offset, nameBytes, values, timestampMs, bytes),
    );
    this.#nextOffset = Math.max(this.#nextOffset, result.lastOffset + 1);
    return result;
  }

  async acknowledge(offsets: readonly number[]): Promise<void> {
    await this.#storage.request(STORAGE_ACKNOWLEDGE, this.#handle, new Uint8Array(Float64Array.from(offsets).buffer));
  }

  /**
   * Replays through the ring, a response record per chunk; a record too large for one goes
   * through comlink instead (replayChunk, one record).
   */
  async *replay(options: { fromOffset?: number } = {}): AsyncIterableIterator<LogRecord> {
    let from = options.fromOffset ?? 0;
    for (;;) {
      const chunk = await this.#storage.read(this.#handle, from, REPLAY_CHUNK_RECORDS);
      this.#startOffset = chunk.startOffset;
      this.#nextOffset = Math.max(this.#nextOffset, chunk.nextOffset);
      yield* chunk.records;
      if (chunk.next < 0) return;
      from = chunk.next;
      if (chunk.tooLarge) {
        const { records, next } = await this.#api.replayChunk(this.#handle, from, 1);
        yield* records;
        if (next === null) return;
        from = next;
      }
    }
  }

  offsetForTimestamp(timestampMs: number): Promise<number | null> {
    return this.#api.offsetForTimestamp(this.#handle, timestampMs);
  }

  writeSnapshot(snapshot: ActorSnapshot): Promise<void> {
    return this.#api.writeSnapshot(this.#handle, snapshot);
  }

  readSnapshot(): Promise<ActorSnapshot | null> {
    return this.#api.readSnapshot(this.#handle);
  }
}
