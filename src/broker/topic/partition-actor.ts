/**
 * The topic partition actor: one per partition (`topic:<name>/<p>`), on an actor host. Records
 * never pass through it: they lie in the arena (topic-batch.ts), encoded by the broker's thread.
 *
 * A logged partition (a dataDir, or a compacted topic) is its log (kind 'topic', with the
 * topic's retention and compaction options):
 * - PRODUCE names batches in the arena; each is appended to the log from there — byte for byte
 *   as one opaque WAL batch (the storage thread copies it), or, for a compacted topic, as WAL
 *   records with their keys, which compaction needs — and the PRODUCE is answered once the log
 *   confirmed it (after the covering fdatasync under fsync 'always').
 * - The producer (the broker's thread) assigns the offsets; the log's follow them (topic logs
 *   have no control batches), which every append checks. A PRODUCE is idempotent: held in the
 *   ring until confirmed (`context.hold`), it comes again to the next incarnation if this one
 *   fails, and batches the log already has are confirmed, not appended again. A PRODUCE whose
 *   first offset is past the log's end waits (the one before it is still coming back to this
 *   incarnation) and is refused if it stays so: the broker's thread then learns the log's end.
 * - FETCH reads batches back from the log into the extent the reader gave: opaque batches as
 *   they are (`readInto`), a compacted log's records re-encoded as topic batches (`replay`).
 * - Nothing is replayed at start: the log knows its offsets.
 *
 * A memory partition's actor is off the data path (its records never leave the arena); it has
 * nothing to do but be the partition's address.
 */
import assert from 'node:assert/strict';
import type { ActorBehavior, ActorContext, ActorRecord } from '../../actor/actor-behavior.js';
import type { ActorLog, LogRecord, RecordInput } from '../../wal/actor-storage.js';
import { MessageTooLargeError, serializeError } from '../../errors.js';
import type { Arena } from '../../log/arena.js';
import {
  ATTRIBUTE_KEY_STRING,
  batchBaseOffset,
  batchCount,
  batchLength,
  batchTimestamp,
  forEachHeader,
  isTopicBatch,
  keyBytesView,
  RECORD_KEY_STRING,
  RECORD_TOMBSTONE,
  recordBodyStart,
  recordEnd,
  recordWord,
  TB_HEADER_BYTES,
  wordBodyBytes,
  writeLoggedRecords,
} from './topic-batch.js';
import {
  CONFIRMED_BYTES,
  type Fetched,
  fetchedBytes,
  jsonBytes,
  type PartitionActorOptions,
  type PartitionOffsets,
  readFetch,
  readJson,
  readProduce,
  TopicRecord,
  writeConfirmed,
  writeFetched,
} from './topic-protocol.js';

/** How long a PRODUCE past the log's end waits for the ones before it before it is refused. */
const GAP_WAIT_MS = 2_000;
/** A compacted log's records go in appends of about this many bytes at most (a storage request is one ring record). */
const RECORD_APPEND_BYTES = 128 * 1024;
/** Records a compacted FETCH replays at most per answer. */
const REPLAY_RECORDS_MAX = 8192;

interface Batch {
  address: number;
  length: number;
  count: number;
  baseOffset: number;
  timestampMs: number;
}

interface Produce {
  meta: number;
  batches: Batch[];
  release: () => void;
  /** When a PRODUCE past the log's end gives up waiting. */
  deadlineMs: number;
}

export function createActor(options: unknown): ActorBehavior {
  return new PartitionActor(options as PartitionActorOptions);
}

class PartitionActor implements ActorBehavior {
  readonly #options: PartitionActorOptions;
  #context: ActorContext | null = null;
  #arena: Arena | null = null;
  #log: ActorLog | null = null;
  /** The offset the next append starts at: the log's end, plus what this incarnation appended meanwhile. */
  #expected = 0;
  /** Appends in flight, in order: a confirm is answered after the ones before it. */
  #chain: Promise<void> = Promise.resolve();
  /** PRODUCEs waiting for their turn (their first offset is past `#expected`). */
  #waiting: Produce[] = [];
  #gapTimer: (() => void) | null = null;

  constructor(options: PartitionActorOptions) {
    this.#options = options;
  }

  start(context: ActorContext): void {
    this.#context = context;
    if (this.#options.mode !== 'logged') return;
    assert.ok(context.arena !== null, 'a topic partition runs on a host with the arena');
    this.#arena = context.arena;
    this.#log = context.log;
    if (!this.#options.compact) assert.ok(context.log.appendArena !== undefined && context.log.readInto !== undefined, 'a logged topic partition needs a log of the storage thread');
    this.#expected = context.log.nextOffset;
  }

  receive(record: ActorRecord): void | Promise<void> {
    switch (record.type) {
      case TopicRecord.PRODUCE:
        this.#produce(record.meta, readProduce(record.payload));
        return;
      case TopicRecord.FETCH: {
        const { fromOffset, address, maxBytes } = readFetch(record.payload);
        this.#fetch(record.meta, fromOffset, address, maxBytes);
        return;
      }
      case TopicRecord.OFFSETS:
        return this.#offsets(record.meta, readJson<{ timestampMs?: number }>(record.payload));
      default:
        assert.fail(`partition ${this.#options.topic}/${this.#options.partition}: unknown record type ${record.type}`);
    }
  }

  async stop(): Promise<void> {
    this.#gapTimer?.();
    await this.#chain.catch(() => undefined);
  }

  #produce(meta: number, addresses: readonly number[]): void {
    assert.ok(this.#log !== null, `partition ${this.#options.topic}/${this.#options.partition} is a memory partition: it takes no PRODUCE`);
    const arena = this.#arena!;
    const batches = addresses.map((address): Batch => {
      arena.ensure(address + TB_HEADER_BYTES);
      const length = batchLength(arena.u32, address);
      arena.ensure(address + length);
      assert.ok(isTopicBatch(arena.bytes, arena.u32, address, arena.length), `partition ${this.#options.topic}/${this.#options.partition}: no topic batch at arena address ${address}`);
      return { address, length, count: batchCount(arena.u32, address), baseOffset: batchBaseOffset(arena.f64, address), timestampMs: batchTimestamp(arena.f64, address) };
    });
    for (let i = 1; i < batches.length; i++) assert.equal(batches[i]!.baseOffset, batches[i - 1]!.baseOffset + batches[i - 1]!.count, 'the batches of a PRODUCE have consecutive offsets');
    // Kept in the ring until confirmed: if this incarnation fails first, the next one gets it again.
    this.#waiting.push({ meta, batches, release: this.#context!.hold(), deadlineMs: Date.now() + GAP_WAIT_MS });
    this.#drain();
  }

  /** Appends the waiting PRODUCEs whose turn it is, in order; refuses those that waited too long. */
  #drain(): void {
    const log = this.#log!;
    this.#expected = Math.max(this.#expected, log.nextOffset);
    while (this.#waiting.length > 0) {
      const produce = this.#waiting[0]!;
      const first = produce.batches[0]!.baseOffset;
      const last = produce.batches[produce.batches.length - 1]!;
      const end = last.baseOffset + last.count;
      if (first > this.#expected) {
        if (Date.now() < produce.deadlineMs) {
          this.#armGapTimer(produce.deadlineMs);
          return;
        }
        this.#waiting.shift();
        this.#refuse(produce, new Error(`partition ${this.#options.topic}/${this.#options.partition}: a produce from offset ${first} while the log ends at ${this.#expected}; the broker re-learns the log's end`));
        continue;
      }
      this.#waiting.shift();
      if (end <= this.#expected) {
        // In the log already (this PRODUCE came again after a failure): confirmed after what is in flight.
        this.#chain = this.#chain.then(() => this.#confirm(produce, first, end));
        continue;
      }
      const appends: Promise<{ baseOffset: number; lastOffset: number }>[] = [];
      let ok = true;
      for (const batch of produce.batches) {
        if (batch.baseOffset + batch.count <= this.#expected) continue;
        if (batch.baseOffset !== this.#expected) {
          ok = false;
          break;
        }
        appends.push(...this.#append(batch));
        this.#expected += batch.count;
      }
      if (!ok) {
        this.#refuse(produce, new Error(`partition ${this.#options.topic}/${this.#options.partition}: a produce whose batches straddle the log's end (${this.#expected})`));
        continue;
      }
      const stored = Promise.all(appends);
      // The chain never rejects: a failure is answered (and fails the actor) where it happens.
      this.#chain = this.#chain
        .then(() => stored)
        .then(
          (results) => {
            try {
              let next = -1;
              for (const result of results) {
                // The log's offsets follow the producer's: topic logs have no control batches.
                assert.ok(next < 0 || result.baseOffset === next, `partition ${this.#options.topic}/${this.#options.partition}: appends confirmed out of order`);
                next = result.lastOffset + 1;
              }
            } catch (error) {
              this.#refuse(produce, error);
              this.#fail(error);
              return;
            }
            this.#confirm(produce, first, end);
          },
          (error: unknown) => {
            this.#refuse(produce, error);
            // Storage failed: fail the actor so that it restarts and takes up what is really in its log.
            this.#fail(error);
          },
        );
    }
    if (this.#gapTimer !== null) {
      this.#gapTimer();
      this.#gapTimer = null;
    }
  }

  /** A batch's appends: one opaque batch, or (compacted) its records, a few appends of them. */
  #append(batch: Batch): Promise<{ baseOffset: number; lastOffset: number }>[] {
    const log = this.#log!;
    if (!this.#options.compact) {
      return [
        log.appendArena!(batch.address, batch.length, batch.count, batch.timestampMs).then((result) => {
          assert.equal(result.baseOffset, batch.baseOffset, `partition ${this.#options.topic}/${this.#options.partition}: the log put a batch at ${result.baseOffset}, the producer at ${batch.baseOffset}`);
          return result;
        }),
      ];
    }
    const arena = this.#arena!;
    const appends: Promise<{ baseOffset: number; lastOffset: number }>[] = [];
    let records: RecordInput[] = [];
    let bytes = 0;
    let firstOffset = batch.baseOffset;
    const flush = () => {
      const at = firstOffset;
      appends.push(
        log.append(records).then((result) => {
          assert.equal(result.baseOffset, at, `partition ${this.#options.topic}/${this.#options.partition}: the log put records at ${result.baseOffset}, the producer at ${at}`);
          return result;
        }),
      );
      firstOffset += records.length;
      records = [];
      bytes = 0;
    };
    let pos = batch.address + TB_HEADER_BYTES;
    for (let i = 0; i < batch.count; i++) {
      const word = recordWord(arena.u32, pos);
      const start = recordBodyStart(arena.u32, pos, word);
      const headers: Array<[string, Uint8Array]> = [];
      forEachHeader(arena, pos, word, (name, from, to) => headers.push([name, arena.bytes.subarray(from, to)]));
      const key = keyBytesView(arena, pos, word);
      const value = (word & RECORD_TOMBSTONE) !== 0 ? null : arena.bytes.subarray(start, start + wordBodyBytes(word));
      const size = 64 + (key?.byteLength ?? 0) + (value?.byteLength ?? 0) + headers.reduce((n, [name, v]) => n + name.length * 3 + v.byteLength + 8, 0);
      if (records.length > 0 && bytes + size > RECORD_APPEND_BYTES) flush();
      records.push({ key, value, headers, timestampMs: batch.timestampMs, attributes: (word & RECORD_KEY_STRING) !== 0 ? ATTRIBUTE_KEY_STRING : 0 });
      bytes += size;
      pos = recordEnd(arena.u32, pos);
    }
    if (records.length > 0) flush();
    return appends;
  }

  #armGapTimer(deadlineMs: number): void {
    if (this.#gapTimer !== null) return;
    this.#gapTimer = this.#context!.setTimer(Math.max(1, deadlineMs - Date.now()), () => {
      this.#gapTimer = null;
      this.#drain();
    });
  }

  #confirm(produce: Produce, baseOffset: number, endOffset: number): void {
    this.#context!.replyWith(TopicRecord.CONFIRMED, CONFIRMED_BYTES, (bytes, at) => writeConfirmed(bytes, at, baseOffset, endOffset), produce.meta);
    produce.release();
  }

  #refuse(produce: Produce, error: unknown): void {
    this.#reply(produce.meta, { ok: false, error: serializeError(error) });
    produce.release();
  }

  #fetch(meta: number, fromOffset: number, address: number, maxBytes: number): void {
    const log = this.#log;
    assert.ok(log !== null, `partition ${this.#options.topic}/${this.#options.partition} is a memory partition: it has no log to read`);
    const read = this.#options.compact ? this.#replayInto(log, fromOffset, address, maxBytes) : this.#readInto(log, fromOffset, address, maxBytes);
    read.then(
      (fetched) => this.#context!.replyWith(TopicRecord.FETCHED, fetchedBytes(fetched.batches.length), (bytes, at) => writeFetched(bytes, at, fetched), meta),
      (error: unknown) => this.#reply(meta, { ok: false, error: serializeError(error) }),
    );
  }

  /** Opaque batches: the storage thread copies them into the reader's extent; checked here. */
  async #readInto(log: ActorLog, fromOffset: number, address: number, maxBytes: number): Promise<Fetched> {
    const result = await log.readInto!(fromOffset, address, maxBytes);
    const arena = this.#arena!;
    arena.ensure(address + maxBytes);
    const batches = result.batches.map((copied) => {
      const at = copied.at;
      assert.ok(isTopicBatch(arena.bytes, arena.u32, at, at + copied.length), `partition ${this.#options.topic}/${this.#options.partition}: the log's batch at offset ${copied.baseOffset} is not a topic batch`);
      assert.ok(batchBaseOffset(arena.f64, at) === copied.baseOffset && batchCount(arena.u32, at) === copied.count, `partition ${this.#options.topic}/${this.#options.partition}: the log's batch at offset ${copied.baseOffset} says it is at ${batchBaseOffset(arena.f64, at)}`);
      return at;
    });
    return { next: result.next, startOffset: log.startOffset, batches };
  }

  /** A compacted log: its records (with the gaps compaction left) re-encoded as topic batches in the reader's extent. */
  async #replayInto(log: ActorLog, fromOffset: number, address: number, maxBytes: number): Promise<Fetched> {
    const records: LogRecord[] = [];
    for await (const record of log.replay({ fromOffset })) {
      if (record.offset < fromOffset) continue;
      records.push(record);
      if (records.length >= REPLAY_RECORDS_MAX) break;
    }
    const arena = this.#arena!;
    arena.ensure(address + maxBytes);
    const batches: number[] = [];
    const { written } = writeLoggedRecords(arena, address, address + maxBytes, records, 0, batches);
    if (written === 0 && records.length > 0) {
      throw new MessageTooLargeError(`the record at offset ${records[0]!.offset} of ${this.#options.topic}/${this.#options.partition} does not fit a read of ${maxBytes} bytes`);
    }
    const next = written < records.length ? records[written]!.offset : records.length > 0 ? records[records.length - 1]!.offset + 1 : -1;
    return { next, startOffset: log.startOffset, batches };
  }

  async #offsets(meta: number, request: { timestampMs?: number }): Promise<void> {
    const log = this.#context!.log;
    try {
      // After the appends in flight: `next` is then where the log really ends.
      await this.#chain;
      const value: PartitionOffsets = {
        start: log.startOffset,
        next: log.nextOffset,
        forTimestamp: request.timestampMs === undefined ? null : await log.offsetForTimestamp(request.timestampMs),
      };
      this.#reply(meta, { ok: true, value });
    } catch (error) {
      this.#reply(meta, { ok: false, error: serializeError(error) });
    }
  }

  /** Fails the actor from outside a receive: it restarts and takes up what its log holds. */
  #fail(error: unknown): void {
    this.#context!.setTimer(0, () => {
      throw error;
    });
  }

  #reply(meta: number, result: unknown): void {
    if (meta !== 0) this.#context!.reply(TopicRecord.RESULT, jsonBytes(result), meta);
  }
}
