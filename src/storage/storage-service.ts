/**
 * The storage thread's service: it owns the broker's `ActorStorage` (the WAL of the data
 * directory, or memory storage) and serves every actor host. Living on its own thread, the
 * storage outlives the hosts: an actor whose host died replays its log on the replacement,
 * whether the storage is durable or memory-only. And one thread writing means one group
 * commit for all actors, as the WAL wants (Ra's single WAL writer).
 *
 * It is also the log cleaner (Kafka's is a thread of the broker too): every
 * `compactionIntervalMs` it runs one maintenance pass of the storage — retention, then
 * compaction of the sealed segments of `compact` logs — and publishes every open log's start
 * offset and removal count to the hosts through a small shared buffer per log, so that a
 * partition's tail cache never serves records the log dropped. The timer is a chain of
 * setTimeouts (a slow pass never overlaps the next), unref'd, and cleared on close.
 *
 * It shares the broker's arena (src/log/arena.ts) when it is given one: a queue's APPEND_ARENA
 * names a batch in the arena by its address and the service copies it from there into the
 * WAL's staging buffer (one copy, no bytes through the ring); READ_INTO copies stored bodies
 * back into a region of the arena the host chose. An address outside the arena is answered
 * FAILED, never followed.
 */
import assert from 'node:assert/strict';
import { expose } from 'comlink';
import { ClosedError, InvalidArgumentError, NotFoundError, serializeError, StorageFailedError } from '../errors.js';
import { Arena } from '../log/arena.js';
import { attachWriter, RingConsumer, RingReader, type RingRecord, type RingWriter } from '../ring/index.js';
import { portEndpoint } from '../threads/comlink-port.js';
import { threadUsage } from '../threads/thread-usage.js';
import type { ActorLog, ActorLogOptions, ActorSnapshot, ActorStorage, AppendResult, BatchHead, LogRecord, MaintenanceResult, ReadIntoResult } from '../wal/actor-storage.js';
import { EVENT_LOOP_READER } from '../threads/event-loop-reader.js';
import { decodeRecordInputs } from './record-wire.js';
import { BATCH_HEADER_BYTES, type BatchPlan, encodeBatch, planBatch } from '../wal/record-batch.js';
import { READ_INTO_BATCHES_MAX } from '../wal/wal-log.js';
import type { FaultyFileLayer } from '../wal/faulty-file-layer.js';
import type { WalOptions } from '../wal/wal.js';
import {
  APPEND_ARENA_ADDRESS,
  APPEND_ARENA_BYTES,
  APPEND_ARENA_COUNT,
  APPEND_ARENA_LENGTH,
  APPEND_ARENA_TIMESTAMP,
  COPIED_BATCH_SLOTS,
  COPIED_COUNT,
  COPIED_HEADER_SLOTS,
  COPIED_NEXT,
  type LogHandleInfo,
  READ_FLAG_TOO_LARGE,
  READ_HEADER_BYTES,
  READ_RESPONSE_BYTES_MAX,
  READ_INTO_ADDRESS,
  READ_INTO_BYTES,
  READ_INTO_FROM,
  READ_INTO_MAX_BYTES,
  STORAGE_ACK_RANGES,
  STORAGE_ACKNOWLEDGE,
  emptyMaintenanceStats,
  type MaintenanceStats,
  STORAGE_APPEND,
  STORAGE_APPEND_ARENA,
  STORAGE_CONFIRMED,
  STORAGE_COPIED,
  STORAGE_DELIVERIES,
  STORAGE_FAILED,
  STORAGE_READ,
  STORAGE_READ_INTO,
  STORAGE_RECORDS,
  type StorageConnection,
  type StorageEvent,
  type StorageFaultRule,
  type StorageHostApi,
  type StorageServiceApi,
  type StorageStats,
  TRIM_REMOVALS,
  TRIM_SLOTS,
  TRIM_START_OFFSET,
} from './storage-protocol.js';

/** Default time between two maintenance passes (retention, then compaction): Kafka's cleaner backs off 15 s. */
export const COMPACTION_INTERVAL_MS_DEFAULT = 30_000;

export interface StorageServiceOptions {
  /** Time between maintenance passes; 0: never (the storage's own timers only). Default 30000. */
  compactionIntervalMs?: number;
  /** The broker's arena (a growable SharedArrayBuffer): needed by APPEND_ARENA and READ_INTO. */
  arena?: SharedArrayBuffer;
  /**
   * Opens the storage again after it failed (a data directory's WAL: recovery reads what is
   * really on disk). Absent: a failure is final (memory storage never fails this way).
   */
  reopen?: () => Promise<ActorStorage>;
  /** Takes injected faults (`injectFault`); absent: fault injection is off. */
  faults?: FaultyFileLayer;
}

/** Backoff between attempts to reopen failed storage: 100 ms doubling to 5 s. */
const REOPEN_BACKOFF_MS: readonly [min: number, max: number] = [100, 5000];

/** Whether `error` is the storage failing (the WAL's writer stopped, or a file call's EIO/ENOSPC). */
function isStorageFailure(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === 'BATON_STORAGE_FAILED' || code === 'EIO' || code === 'ENOSPC' || code === 'EROFS' || code === 'EDQUOT';
}

/** What the storage thread (workers/storage.ts) is started with. */
export interface StorageWorkerData {
  dataDir?: string;
  wal?: Pick<WalOptions, 'fsync' | 'fsyncIntervalMs' | 'segmentBytesMax'>;
  /** Time between maintenance passes (retention, then compaction); 0: none. Default 30000. */
  compactionIntervalMs?: number;
  /** The broker's arena (src/log/arena.ts), shared: queues' opaque batches are copied from and into it. */
  arena?: SharedArrayBuffer;
  /** Open the WAL on a FaultyFileLayer and take `injectFault` (Broker.start({ testing: { storageFaults } })). */
  faultInjection?: boolean;
  /** A restarted storage thread: the data directory's lock is held by this process (the dead thread), adopt it. */
  adoptOwnLock?: boolean;
}

/** A COPIED answer stays within a response record, whatever a READ_INTO copied. */
assert.ok((COPIED_HEADER_SLOTS + COPIED_BATCH_SLOTS * READ_INTO_BATCHES_MAX) * 8 <= READ_RESPONSE_BYTES_MAX, 'a COPIED answer fits a response record');

/** A request's f64 values (ACKNOWLEDGE, ACK_RANGES, DELIVERIES), copied out of its unaligned body. */
function f64Values(body: Uint8Array): number[] {
  if (body.byteLength % 8 !== 0) throw new InvalidArgumentError(`a list of f64 values has ${body.byteLength} bytes, not a multiple of 8`);
  return Array.from(new Float64Array(body.buffer.slice(body.byteOffset, body.byteOffset + body.byteLength)));
}

function failurePayload(error: unknown): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(serializeError(error)));
}

interface HostLink {
  consumer: RingConsumer;
  responses: RingWriter;
}

export class StorageService implements StorageServiceApi {
  #storage: ActorStorage;
  readonly #logs: ActorLog[] = [];
  /** What each handle's log was opened with: a reopened storage opens them again. */
  readonly #logOptions: (ActorLogOptions | undefined)[] = [];
  readonly #listeners: ((event: StorageEvent) => void)[] = [];
  readonly #reopen: (() => Promise<ActorStorage>) | null;
  readonly #faults: FaultyFileLayer | null;
  /** Set from a storage failure until the storage is reopened; every request is refused meanwhile. */
  #failure: { reason: string; sinceMs: number } | null = null;
  readonly #health = { failures: 0, recoveries: 0, lastFailure: null as string | null };
  readonly #handles = new Map<string, number>();
  readonly #links = new Map<number, HostLink>();
  /** Per handle: the trim state shared with the hosts (TRIM_* slots). */
  readonly #trims: BigInt64Array[] = [];
  readonly #intervalMs: number;
  #timer: NodeJS.Timeout | null = null;
  #pass: Promise<void> | null = null;
  readonly #maintenance: MaintenanceStats = emptyMaintenanceStats();
  #closed = false;
  /** The shared arena, or null when the broker gave none (arena requests then fail). */
  readonly #arena: Arena | null;

  constructor(storage: ActorStorage, options: StorageServiceOptions = {}) {
    this.#storage = storage;
    this.#intervalMs = options.compactionIntervalMs ?? COMPACTION_INTERVAL_MS_DEFAULT;
    this.#arena = options.arena === undefined ? null : new Arena(options.arena);
    this.#reopen = options.reopen ?? null;
    this.#faults = options.faults ?? null;
    this.#schedule();
  }

  /**
   * The arena's bytes [address, address + length), checked: a range outside the arena (a stale
   * or foreign address, a host's bug) is an error for that request, not a read out of bounds.
   * Returns the arena's whole view (valid for the range; addresses are indexes into it).
   */
  #arenaRange(address: number, length: number, what: string): Uint8Array {
    const arena = this.#arena;
    if (arena === null) throw new InvalidArgumentError(`${what} names an arena address, but the storage thread has no arena: start it with workerData.arena (StorageServiceOptions.arena)`);
    if (!Number.isSafeInteger(address) || !Number.isSafeInteger(length) || address < 0 || length < 0 || address + length > arena.length) {
      throw new InvalidArgumentError(`${what}: arena range [${address}, ${address + length}) is outside the arena (${arena.length} bytes); the address is stale or not from this arena`);
    }
    arena.ensure(address + length);
    return arena.bytes;
  }

  /** What the maintenance passes did so far. */
  maintenanceStats(): MaintenanceStats {
    return { ...this.#maintenance };
  }

  /** Runs one maintenance pass now (after the one in progress, if any). */
  async maintainNow(): Promise<void> {
    while (this.#pass !== null) await this.#pass;
    if (this.#closed) return;
    this.#pass = this.#runPass();
    try {
      await this.#pass;
    } finally {
      this.#pass = null;
    }
  }

  #schedule(): void {
    if (this.#closed || this.#intervalMs === 0 || this.#storage.maintain === undefined) return;
    this.#timer = setTimeout(() => {
      this.#timer = null;
      // Never rejects: a failed pass is counted (#runPass) and the next one scheduled.
      void this.maintainNow().finally(() => this.#schedule());
    }, this.#intervalMs);
    // Maintenance never keeps a process alive.
    this.#timer.unref();
  }

  async #runPass(): Promise<void> {
    // Failed storage is being reopened: the next pass runs on the new one.
    if (this.#failure !== null) return;
    let result: MaintenanceResult;
    try {
      result = await this.#storage.maintain!();
    } catch (error) {
      // A failed pass is retried on the next tick: nothing was lost (segments are replaced or
      // deleted only once their successor is durable).
      this.#maintenance.failures += 1;
      this.#maintenance.lastError = (error as Error).message ?? String(error);
      return;
    } finally {
      this.#publishTrims();
    }
    this.#maintenance.passes += 1;
    this.#maintenance.segmentsDeleted += result.retention.segmentsDeleted;
    this.#maintenance.segmentsCompacted += result.compaction.segmentsRewritten;
    this.#maintenance.recordsRemoved += result.compaction.recordsRemoved;
    this.#maintenance.segmentsReclaimed += result.reclaim.segmentsRewritten + result.reclaim.segmentsDeleted;
    this.#maintenance.bytesReclaimed += result.reclaim.bytesBefore - result.reclaim.bytesAfter;
    this.#maintenance.segmentsMerged += result.merge.segmentsMerged;
  }

  /** Writes every open log's start offset, then its removal count, for the hosts to read. */
  #publishTrims(): void {
    this.#logs.forEach((log, handle) => this.#writeTrim(handle, log));
  }

  #writeTrim(handle: number, log: ActorLog): void {
    const trim = this.#trims[handle]!;
    Atomics.store(trim, TRIM_START_OFFSET, BigInt(log.startOffset));
    Atomics.store(trim, TRIM_REMOVALS, BigInt(log.removals ?? 0));
  }

  get durable(): boolean {
    return this.#storage.durable;
  }

  stats(): StorageStats {
    const storage = this.#storage as ActorStorage & { stats?: () => { writer: StorageStats['writer'] } };
    return {
      tid: threadUsage()?.tid ?? 0,
      durable: this.#storage.durable,
      writer: storage.stats === undefined ? null : { ...storage.stats().writer! },
      maintenance: this.maintenanceStats(),
      health: { state: this.#failure === null ? 'ok' : 'failed', ...this.#health },
    };
  }

  subscribe(listener: (event: StorageEvent) => void): void {
    this.#listeners.push(listener);
  }

  injectFault(rule: StorageFaultRule): void {
    if (this.#faults === null) throw new InvalidArgumentError('storage fault injection is off: start the broker with testing: { storageFaults: true } (and a dataDir)');
    this.#faults.inject(rule);
  }

  clearFaults(): void {
    this.#faults?.clear();
  }

  crash(): void {
    // After this call's answer: the thread ends as if its code had failed.
    setImmediate(() => process.exit(1));
  }

  #emit(event: StorageEvent): void {
    for (const listener of this.#listeners) {
      try {
        listener(event);
      } catch {
        // A listener on the other side of a port: its failure is its own.
      }
    }
  }

  /**
   * The storage failed (fsyncgate: the WAL's writer stops for good after a write or fsync
   * error). Refuse every request from now on, tell the supervisor, and reopen the storage in the
   * background: recovery reads what is really on disk.
   */
  #onFailure(error: unknown): void {
    if (this.#failure !== null || this.#closed || this.#reopen === null || !isStorageFailure(error)) return;
    const reason = (error as Error).message ?? String(error);
    this.#failure = { reason, sinceMs: Date.now() };
    this.#health.failures += 1;
    this.#health.lastFailure = reason;
    this.#emit({ type: 'failed', reason });
    void this.#recover();
  }

  /** Closes the failed storage, then reopens it with backoff until it opens and every open log opens again in it. */
  async #recover(): Promise<void> {
    // A pass in progress finishes (or fails) first: it holds the storage.
    await this.#pass?.catch(() => undefined);
    await this.#storage.close().catch(() => undefined);
    for (let attempt = 1; ; attempt++) {
      if (this.#closed) return;
      try {
        const storage = await this.#reopen!();
        let logs: ActorLog[];
        try {
          logs = [];
          for (let handle = 0; handle < this.#logs.length; handle++) logs.push(await storage.openLog(this.#logs[handle]!.name, this.#logOptions[handle]));
        } catch (error) {
          await storage.close().catch(() => undefined);
          throw error;
        }
        if (this.#closed) {
          await storage.close().catch(() => undefined);
          return;
        }
        this.#storage = storage;
        logs.forEach((log, handle) => {
          this.#logs[handle] = log;
          this.#writeTrim(handle, log);
        });
        const downMs = Date.now() - this.#failure!.sinceMs;
        const reason = this.#failure!.reason;
        this.#failure = null;
        this.#health.recoveries += 1;
        this.#emit({ type: 'recovered', reason, attempts: attempt, downMs });
        return;
      } catch (error) {
        this.#health.lastFailure = (error as Error).message ?? String(error);
        await new Promise((resolve) => setTimeout(resolve, Math.min(REOPEN_BACKOFF_MS[1], REOPEN_BACKOFF_MS[0] * 2 ** (attempt - 1))));
      }
    }
  }

  attachHost(index: number, connection: StorageConnection): void {
    if (this.#closed) throw new ClosedError('the storage service is closed');
    const previous = this.#links.get(index);
    // The same rings as the dead host's: keep consuming requests where it left off; answers go
    // out through a fresh writer (the old one's slot is ours, released here).
    const responses = previous?.responses ?? attachWriter(connection.responses);
    const consumer = previous?.consumer ?? new RingConsumer(new RingReader(connection.requests, EVENT_LOOP_READER), (record) => this.#onRequest(record, responses));
    this.#links.set(index, { consumer, responses });
    expose(this.#hostApi(), portEndpoint(connection.port));
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    // A pass in progress finishes first (the storage would wait for it anyway).
    await this.#pass?.catch(() => undefined);
    for (const link of this.#links.values()) {
      link.consumer.stop();
      await link.consumer.done;
    }
    await this.#storage.close();
  }

  #assertHealthy(): void {
    if (this.#failure !== null) {
      throw new StorageFailedError(`the log failed (${this.#failure.reason}) and is being reopened; retry after the broker's 'storage-recovered' event`);
    }
  }

  #log(handle: number): ActorLog {
    this.#assertHealthy();
    const log = this.#logs[handle];
    if (log === undefined) throw new NotFoundError(`no log with handle ${handle}`);
    return log;
  }

  #info(handle: number): LogHandleInfo {
    const log = this.#log(handle);
    return { handle, kind: log.kind, startOffset: log.startOffset, nextOffset: log.nextOffset, trim: this.#trims[handle]!.buffer as SharedArrayBuffer };
  }

  #hostApi(): StorageHostApi {
    return {
      openLog: async (name: string, options?: ActorLogOptions) => {
        this.#assertHealthy();
        let handle = this.#handles.get(name);
        if (handle === undefined) {
          const log = await this.#storage.openLog(name, options);
          handle = this.#handles.get(name);
          if (handle === undefined) {
            handle = this.#logs.push(log) - 1;
            this.#logOptions[handle] = options;
            this.#trims[handle] = new BigInt64Array(new SharedArrayBuffer(TRIM_SLOTS * 8));
            this.#writeTrim(handle, log);
            this.#handles.set(name, handle);
          }
        }
        return this.#info(handle);
      },
      info: (handle: number) => this.#info(handle),
      replayChunk: async (handle: number, fromOffset: number | undefined, recordsMax: number) => {
        const records: LogRecord[] = [];
        let next: number | null = null;
        for await (const record of this.#log(handle).replay(fromOffset === undefined ? {} : { fromOffset })) {
          if (records.length === recordsMax) {
            next = record.offset;
            break;
          }
          // Copies: a view would take its whole backing buffer through postMessage.
          records.push({
            ...record,
            key: record.key === null ? null : record.key.slice(),
            value: record.value === null ? null : record.value.slice(),
            headers: record.headers.map(([name, value]) => [name, value.slice()] as [string, Uint8Array]),
          });
        }
        return { records, next };
      },
      offsetForTimestamp: (handle: number, timestampMs: number) => this.#log(handle).offsetForTimestamp(timestampMs),
      replayHeadsChunk: async (handle: number, fromOffset: number | undefined, headBytes: number, batchesMax: number) => {
        const log = this.#log(handle);
        if (log.replayBatchHeads === undefined) throw new InvalidArgumentError(`log "${log.name}" has no opaque batches: its storage does not keep them`);
        const heads: BatchHead[] = [];
        let next: number | null = null;
        // One head more than asked for tells where the next chunk starts (or that none does).
        for await (const head of log.replayBatchHeads({ ...(fromOffset === undefined ? {} : { fromOffset }), headBytes })) {
          if (heads.length === batchesMax) {
            next = head.baseOffset;
            break;
          }
          heads.push(head);
        }
        return { heads, next };
      },
      deliveryCounts: (handle: number) => {
        const log = this.#log(handle);
        if (log.deliveryCounts === undefined) throw new InvalidArgumentError(`log "${log.name}" keeps no delivery counts: its storage does not record them`);
        return log.deliveryCounts();
      },
      writeSnapshot: (handle: number, snapshot: ActorSnapshot) => this.#log(handle).writeSnapshot(snapshot),
      readSnapshot: (handle: number) => this.#log(handle).readSnapshot(),
    };
  }

  /**
   * A READ: records from an offset, as one WAL batch in one response record (their offsets kept
   * as deltas, so compaction's gaps survive), up to `recordsMax` and READ_RESPONSE_BYTES_MAX.
   */
  async #read(log: ActorLog, body: Uint8Array, generation: number, requestId: number, responses: RingWriter): Promise<void> {
    try {
      const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
      const fromOffset = view.getFloat64(0, true);
      const recordsMax = view.getUint32(8, true);
      const nameBytes = Buffer.from(log.name, 'utf8');
      const records: LogRecord[] = [];
      // Record size bound: its fields plus a generous allowance for varints and the header.
      let bytes = READ_HEADER_BYTES + BATCH_HEADER_BYTES + nameBytes.byteLength;
      let next = -1;
      let flags = 0;
      for await (const record of log.replay({ fromOffset })) {
        let size = 48 + (record.key?.byteLength ?? 0) + (record.value?.byteLength ?? 0);
        for (const [name, value] of record.headers) size += 10 + Buffer.byteLength(name) + value.byteLength;
        if (records.length >= recordsMax || bytes + size > READ_RESPONSE_BYTES_MAX) {
          next = record.offset;
          if (records.length === 0) flags |= READ_FLAG_TOO_LARGE;
          break;
        }
        records.push(record);
        bytes += size;
      }
      let batchLength = 0;
      let plan: BatchPlan | null = null;
      let deltas: number[] = [];
      if (records.length > 0) {
        const base = records[0]!.offset;
        deltas = records.map((r) => r.offset - base);
        plan = planBatch(nameBytes, records, 0, deltas);
        batchLength = plan.batchLength;
      }
      const payload = Buffer.allocUnsafe(READ_HEADER_BYTES + batchLength);
      payload.writeDoubleLE(next, 0);
      payload.writeDoubleLE(log.startOffset, 8);
      payload.writeDoubleLE(log.nextOffset, 16);
      payload.writeUInt32LE(flags, 24);
      if (plan !== null) {
        encodeBatch(payload, READ_HEADER_BYTES, { attributes: 0, baseLsn: 0, logBaseOffset: records[0]!.offset, writerEpoch: 0, logName: nameBytes, checksum: false }, plan, records, 0, deltas);
      }
      await responses.write(STORAGE_RECORDS, generation, payload, requestId);
    } catch (error) {
      await responses.write(STORAGE_FAILED, generation, failurePayload(error), requestId).catch(() => undefined);
    }
  }

  /**
   * A READ_INTO: whole opaque bodies into the arena region the host named; answered COPIED with
   * where each body went, or FAILED (a region outside the arena, a first body larger than it).
   */
  async #readInto(log: ActorLog, body: Uint8Array, generation: number, requestId: number, responses: RingWriter): Promise<void> {
    try {
      if (body.byteLength !== READ_INTO_BYTES) throw new InvalidArgumentError(`a READ_INTO request has ${body.byteLength} bytes, not ${READ_INTO_BYTES}`);
      const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
      const fromOffset = view.getFloat64(READ_INTO_FROM, true);
      const address = view.getUint32(READ_INTO_ADDRESS, true);
      const maxBytes = view.getUint32(READ_INTO_MAX_BYTES, true);
      if (log.readBodiesInto === undefined) throw new InvalidArgumentError(`log "${log.name}" has no opaque batches: its storage does not keep them`);
      const target = this.#arenaRange(address, maxBytes, `readInto of "${log.name}"`);
      const result: ReadIntoResult = await log.readBodiesInto(fromOffset, target, address, maxBytes);
      assert.ok(result.batches.length <= READ_INTO_BATCHES_MAX, 'readBodiesInto keeps to its batch bound');
      const answer = new Float64Array(COPIED_HEADER_SLOTS + COPIED_BATCH_SLOTS * result.batches.length);
      answer[COPIED_NEXT] = result.next;
      answer[COPIED_COUNT] = result.batches.length;
      result.batches.forEach((batch, i) => {
        answer.set([batch.baseOffset, batch.count, batch.at, batch.length], COPIED_HEADER_SLOTS + COPIED_BATCH_SLOTS * i);
      });
      await responses.write(STORAGE_COPIED, generation, new Uint8Array(answer.buffer), requestId);
    } catch (error) {
      await responses.write(STORAGE_FAILED, generation, failurePayload(error), requestId).catch(() => undefined);
    }
  }

  /**
   * An APPEND_ARENA: the batch at arena [address, address + length) appended as one opaque batch.
   * Called synchronously from the ring handler, as APPEND is, so that the WAL stages appends in
   * ring order: the arena bytes are copied into the writer's staging buffer when the batch is
   * staged (the host keeps them until the append is answered).
   */
  #appendArena(log: ActorLog, body: Uint8Array): Promise<AppendResult> {
    if (body.byteLength !== APPEND_ARENA_BYTES) throw new InvalidArgumentError(`an APPEND_ARENA request has ${body.byteLength} bytes, not ${APPEND_ARENA_BYTES}`);
    const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
    const timestampMs = view.getFloat64(APPEND_ARENA_TIMESTAMP, true);
    const address = view.getUint32(APPEND_ARENA_ADDRESS, true);
    const length = view.getUint32(APPEND_ARENA_LENGTH, true);
    const count = view.getUint32(APPEND_ARENA_COUNT, true);
    if (log.appendOpaque === undefined) throw new InvalidArgumentError(`log "${log.name}" cannot take opaque batches: its storage does not keep them`);
    const arena = this.#arenaRange(address, length, `appendArena to "${log.name}"`);
    return log.appendOpaque(arena.subarray(address, address + length), count, timestampMs);
  }

  /** One request from a host ring. Its bytes are copied before this returns: the ring reuses them. */
  #onRequest(record: RingRecord, responses: RingWriter): void {
    const bytes = record.copyPayload();
    const generation = new DataView(bytes.buffer, bytes.byteOffset, 4).getUint32(0, true);
    const body = bytes.subarray(4);
    const requestId = record.meta;
    let done: Promise<AppendResult>;
    const noOffsets = (): AppendResult => ({ baseOffset: -1, lastOffset: -1 });
    try {
      const log = this.#log(record.destination);
      switch (record.type) {
        case STORAGE_APPEND:
          done = log.appendEncoded !== undefined ? log.appendEncoded(body) : log.append(decodeRecordInputs(body));
          break;
        case STORAGE_APPEND_ARENA:
          done = this.#appendArena(log, body);
          break;
        case STORAGE_READ:
          void this.#read(log, body, generation, requestId, responses);
          return;
        case STORAGE_READ_INTO:
          void this.#readInto(log, body, generation, requestId, responses);
          return;
        case STORAGE_ACKNOWLEDGE:
          done = log.acknowledge(f64Values(body)).then(noOffsets);
          break;
        case STORAGE_ACK_RANGES:
          if (log.acknowledgeRanges === undefined) throw new InvalidArgumentError(`log "${log.name}" cannot take acknowledgements by range: its storage does not`);
          done = log.acknowledgeRanges(f64Values(body)).then(noOffsets);
          break;
        case STORAGE_DELIVERIES:
          if (log.recordDeliveries === undefined) throw new InvalidArgumentError(`log "${log.name}" cannot record deliveries: its storage does not`);
          done = log.recordDeliveries(f64Values(body)).then(noOffsets);
          break;
        default:
          throw new Error(`unknown storage request type ${record.type}`);
      }
    } catch (error) {
      done = Promise.reject(error);
    }
    done.then(
      ({ baseOffset, lastOffset }) => {
        const answer = new Float64Array([baseOffset, lastOffset]);
        return responses.write(STORAGE_CONFIRMED, generation, new Uint8Array(answer.buffer), requestId);
      },
      (error: unknown) => {
        this.#onFailure(error);
        return responses.write(STORAGE_FAILED, generation, failurePayload(error), requestId);
      },
    ).catch(() => {
      // The responses ring closed: the service is shutting down.
    });
  }
}
