/**
 * The topic partition actor: one per partition (`topic:<name>/<p>`), on an actor host. Its log
 * (kind 'topic', with the topic's retention and compaction options) is the partition: PRODUCE
 * appends a batch and answers with its offsets once the append is confirmed; FETCH reads from an
 * offset. Nothing is replayed at start: the log knows its own start and next offsets, and reads go
 * to it (or to the tail cache), so a restart costs nothing however long the partition is.
 *
 * Flow control is pull: a subscriber asks for at most `recordsMax` records / `bytesMax` bytes
 * from an offset and asks again when it has taken them (topic-subscription.ts), so the actor never
 * holds per-subscriber state beyond a parked long poll. Records appended recently are served from
 * a bounded in-memory tail cache (the common case: subscribers keeping up); older ones are read
 * back from the log (one storage round trip per chunk, not per record). Retention and compaction
 * (run by the storage thread) remove records from the log: when the log's `removals` count
 * changes, the cache is dropped, so a reader never gets from it a record the log no longer has.
 */
import assert from 'node:assert';
import type { ActorBehavior, ActorContext, ActorRecord } from '../actor/actor-behavior.js';
import { serializeError } from '../errors.js';
import { type PartitionActorOptions, type PartitionOffsets, TopicRecord } from './topic-protocol.js';
import { decodeTopicRecords, encodedTopicRecordBytes, fromLogRecord, type TopicRecordData, toRecordInput, writeTopicRecord } from './topic-record.js';

/**
 * Bounds of the tail cache, in records and in payload bytes (at most about 8 MiB plus 32k small
 * objects per busy partition): past either, the oldest are dropped
 * (they stay in the log). Sized for a subscriber a few hundred milliseconds behind a fast
 * producer; one further behind reads from the log, a storage round trip per chunk.
 */
const TAIL_CACHE_RECORDS_MAX = 32_768;
const TAIL_CACHE_BYTES_MAX = 8 * 1024 * 1024;

interface ParkedFetch {
  meta: number;
  offset: number;
  recordsMax: number;
  bytesMax: number;
  cancel: () => void;
}

const encoder = new TextEncoder();

export function createActor(options: unknown): ActorBehavior {
  return new PartitionActor(options as PartitionActorOptions);
}

class PartitionActor implements ActorBehavior {
  readonly #options: PartitionActorOptions;
  #context: ActorContext | null = null;
  /** The tail cache: consecutive offsets from `#cacheStart`, oldest first. */
  #cache: TopicRecordData[] = [];
  #cacheStart = 0;
  /** Payload bytes (bodies and keys) in the tail cache. */
  #cacheBytes = 0;
  /** The log's `removals` when the cache was last checked against it. */
  #removals = 0;
  #parked: ParkedFetch[] = [];

  constructor(options: PartitionActorOptions) {
    this.#options = options;
  }

  start(context: ActorContext): void {
    this.#context = context;
    this.#cacheStart = context.log.nextOffset;
    this.#removals = context.log.removals ?? 0;
  }

  receive(record: ActorRecord, context: ActorContext): void | Promise<void> {
    switch (record.type) {
      case TopicRecord.PRODUCE:
        return this.#produce(record.payload, record.meta, context);
      case TopicRecord.FETCH: {
        const view = new DataView(record.payload.buffer, record.payload.byteOffset, record.payload.byteLength);
        return this.#fetch(record.meta, view.getFloat64(0, true), view.getUint32(8, true), view.getUint32(12, true), view.getUint32(16, true), context);
      }
      case TopicRecord.OFFSETS:
        return this.#offsets(record.meta, JSON.parse(Buffer.from(record.payload).toString('utf8')) as { timestampMs?: number }, context);
      default:
        return assert.fail(`partition ${this.#options.topic}/${this.#options.partition}: unknown record type ${record.type}`);
    }
  }

  stop(): void {
    for (const parked of this.#parked) parked.cancel();
    this.#parked = [];
  }

  async #produce(payload: Uint8Array, meta: number, context: ActorContext): Promise<void> {
    try {
      // One copy of the payload (the ring's space is released after the receive); records are views into it.
      const records = decodeTopicRecords(payload.slice(), 0);
      assert(records.length > 0, 'an empty produce');
      const { baseOffset, lastOffset } = await context.log.append(records.map(toRecordInput));
      this.#reply(meta, { ok: true, value: { baseOffset, lastOffset } });
      // Offsets of one append are consecutive; a gap (never expected) restarts the cache there.
      if (baseOffset !== this.#cacheStart + this.#cache.length) this.#clearCache(baseOffset);
      for (let i = 0; i < records.length; i++) {
        const r = records[i]!;
        r.offset = baseOffset + i;
        this.#cache.push(r);
        this.#cacheBytes += recordBytes(r);
      }
      if (this.#cache.length > TAIL_CACHE_RECORDS_MAX || this.#cacheBytes > TAIL_CACHE_BYTES_MAX) this.#trimCache();
      await this.#wakeParked(context);
    } catch (error) {
      this.#reply(meta, { ok: false, error: serializeError(error) });
    }
  }

  async #fetch(meta: number, offset: number, recordsMax: number, bytesMax: number, waitMs: number, context: ActorContext): Promise<void> {
    if (offset >= context.log.nextOffset && waitMs > 0) {
      const parked: ParkedFetch = { meta, offset, recordsMax, bytesMax, cancel: () => undefined };
      parked.cancel = context.setTimer(waitMs, () => {
        this.#parked = this.#parked.filter((p) => p !== parked);
        this.#answerFetch(meta, [], Math.max(offset, context.log.startOffset));
      });
      this.#parked.push(parked);
      return;
    }
    const records = await this.#read(offset, recordsMax, bytesMax, context);
    const next = records.length > 0 ? records[records.length - 1]!.offset + 1 : Math.max(offset, context.log.startOffset);
    this.#answerFetch(meta, records, next);
  }

  async #wakeParked(context: ActorContext): Promise<void> {
    const ready = this.#parked.filter((p) => p.offset < context.log.nextOffset);
    if (ready.length === 0) return;
    this.#parked = this.#parked.filter((p) => p.offset >= context.log.nextOffset);
    for (const parked of ready) {
      parked.cancel();
      const records = await this.#read(parked.offset, parked.recordsMax, parked.bytesMax, context);
      this.#answerFetch(parked.meta, records, records.length > 0 ? records[records.length - 1]!.offset + 1 : parked.offset);
    }
  }

  /** Records from `offset`: from the tail cache when it covers it, else from the log (offsets may have gaps there: compaction). */
  async #read(offset: number, recordsMax: number, bytesMax: number, context: ActorContext): Promise<TopicRecordData[]> {
    const removals = context.log.removals ?? 0;
    if (removals !== this.#removals) {
      // Retention or compaction removed records the cache may hold: start it afresh at the tail.
      this.#removals = removals;
      this.#clearCache(context.log.nextOffset);
    }
    const records: TopicRecordData[] = [];
    let bytes = 0;
    const fits = (record: TopicRecordData) => {
      const size = encodedTopicRecordBytes(record);
      // The first record always goes, whatever its size: a fetch must make progress.
      if (records.length > 0 && (records.length >= recordsMax || bytes + size > bytesMax)) return false;
      records.push(record);
      bytes += size;
      return true;
    };
    if (offset >= this.#cacheStart && this.#cache.length > 0) {
      for (let i = offset - this.#cacheStart; i < this.#cache.length; i++) if (!fits(this.#cache[i]!)) break;
      return records;
    }
    for await (const logRecord of context.log.replay({ fromOffset: Math.max(offset, context.log.startOffset) })) {
      if (logRecord.offset < offset) continue;
      if (!fits(fromLogRecord(logRecord))) break;
    }
    return records;
  }

  #clearCache(start: number): void {
    this.#cache = [];
    this.#cacheStart = start;
    this.#cacheBytes = 0;
  }

  /** Drops the oldest records down to three quarters of both bounds (one slice, not one per produce). */
  #trimCache(): void {
    let drop = 0;
    let bytes = this.#cacheBytes;
    while (drop < this.#cache.length && (this.#cache.length - drop > (TAIL_CACHE_RECORDS_MAX * 3) / 4 || bytes > (TAIL_CACHE_BYTES_MAX * 3) / 4)) {
      bytes -= recordBytes(this.#cache[drop]!);
      drop++;
    }
    this.#cache = this.#cache.slice(drop);
    this.#cacheStart += drop;
    this.#cacheBytes = bytes;
  }

  async #offsets(meta: number, request: { timestampMs?: number }, context: ActorContext): Promise<void> {
    try {
      const value: PartitionOffsets = {
        start: context.log.startOffset,
        next: context.log.nextOffset,
        forTimestamp: request.timestampMs === undefined ? null : await context.log.offsetForTimestamp(request.timestampMs),
      };
      this.#reply(meta, { ok: true, value });
    } catch (error) {
      this.#reply(meta, { ok: false, error: serializeError(error) });
    }
  }

  #answerFetch(meta: number, records: readonly TopicRecordData[], nextOffset: number): void {
    let bytes = 12;
    for (const record of records) bytes += encodedTopicRecordBytes(record);
    const payload = new Uint8Array(bytes);
    const view = new DataView(payload.buffer);
    view.setFloat64(0, nextOffset, true);
    view.setUint32(8, records.length, true);
    let p = 12;
    for (const record of records) p = writeTopicRecord(record, payload, p, view);
    this.#context!.reply(TopicRecord.RECORDS, payload, meta);
  }

  #reply(meta: number, result: unknown): void {
    if (meta !== 0) this.#context!.reply(TopicRecord.RESULT, encoder.encode(JSON.stringify(result)), meta);
  }
}

function recordBytes(record: TopicRecordData): number {
  return record.body.byteLength + (record.key?.byteLength ?? 0);
}
