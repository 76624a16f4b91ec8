/**
 * `WalLog`: one actor's log inside the data directory's shared WAL (the `ActorLog` contract in
 * actor-storage.ts). It validates and encodes appends, hands them to the shared
 * writer, and replays from the segment files through the in-memory batch directory.
 *
 * Replay re-reads what is on disk and checks every batch's CRC again as it reads it (CRCs are
 * checked on every read, not only at recovery), and that the batch is the one the directory
 * expects: a mismatch is `CorruptLogError` with the file and offset.
 *
 * Opaque batches (a queue's arena batches, stored byte for byte) have their own readers:
 * `replayBatchHeads` (metadata and the first bytes of each body) and `readBodiesInto` (whole
 * bodies, CRC checked). `replay` skips them, and they skip record batches, so a log that holds
 * both (written before and after the arena) is read whole by calling both.
 */
import type { ActorLog, ActorSnapshot, AppendResult, BatchHead, CopiedBatch, LogKind, LogRecord, ReadIntoResult, RecordInput } from './actor-storage.js';
import { CorruptLogError, InvalidArgumentError, MessageTooLargeError } from '../errors.js';
import { encodeAckRanges, toAckRanges, toAckRangesFromFlat } from './ack-ranges.js';
import { MalformedError, readU16 } from './byte-codec.js';
import { encodeDeliveryValue, normalizeDeliveryPairs } from './delivery-counts.js';
import type { FileLayer } from './file-layer.js';
import { BATCH_FLAG_CONTROL, BATCH_FLAG_OPAQUE, type BatchLocation, type LogState } from './log-state.js';
import {
  BATCH_ATTR_CONTROL,
  BATCH_ATTR_DELIVERIES,
  BATCH_ATTR_OPAQUE,
  BATCH_LOG_NAME_BYTES_OFFSET,
  BATCH_RECORDS_MAX,
  type BatchHeader,
  batchBodyStart,
  checkBatch,
  decodeRecords,
  encodeBatch,
  encodeOpaqueBatch,
  opaqueBatchBytes,
  planBatch,
  readBatchHeader,
  restampBatch,
  validateRecord,
} from './record-batch.js';
import type { Segment } from './segment.js';
import { readSnapshotFile, writeSnapshotFile } from './snapshot-file.js';
import type { BatchRequest, WalWriter } from './wal-writer.js';

/** What a log needs from its WAL. */
export interface WalCore {
  readonly files: FileLayer;
  readonly dataDir: string;
  readonly batchBytesMax: number;
  readonly writerEpoch: number;
  writer(): WalWriter;
  segment(baseLsn: number): Segment | undefined;
  /** Throws `ClosedError` once the WAL is closing or closed. */
  assertOpen(): void;
  /** Runs `task` after every earlier maintenance task (snapshots, retention, compaction). */
  serialize<T>(task: () => Promise<T>): Promise<T>;
}

const READ_AHEAD_BYTES = 1 << 20;
/**
 * Bodies one `readBodiesInto` copies at most, whatever `maxBytes` allows: bounds the work of one
 * call and the size of its answer (a ring record of 4 numbers a batch, storage-protocol.ts).
 */
export const READ_INTO_BATCHES_MAX = 2048;
/** Bodies start 8-aligned in the target (the arena's views read f64 and u32 fields in place). */
const READ_INTO_ALIGN = 8;
/** `replayBatchHeads` copies at most this much of each body. */
export const HEAD_BYTES_MAX = 64 * 1024;

interface ReadWindow {
  segment: Segment;
  generation: number;
  start: number;
  end: number;
  buf: Buffer;
}

/** Reads bytes [position, position+length) of a segment, through a read-ahead window. */
/**
 * Reads [position, position + length) of a segment (through a read-ahead window). Null when the
 * segment was retired by maintenance before or while reading: the position came from a directory
 * row of the old file, so the caller looks the batch up again.
 */
export async function readSegmentRange(files: FileLayer, segment: Segment, position: number, length: number, window: ReadWindow | null): Promise<{ buf: Buffer; at: number; window: ReadWindow } | null> {
  if (segment.retired) return null;
  if (window !== null && window.segment === segment && window.generation === segment.generation && position >= window.start && position + length <= window.end) {
    return { buf: window.buf, at: position - window.start, window };
  }
  const want = Math.max(length, Math.min(READ_AHEAD_BYTES, segment.size - position));
  // A fresh buffer per window: records handed out from the previous window stay valid.
  const buf = Buffer.allocUnsafe(want);
  let got = 0;
  try {
    const file = await segment.reader(files);
    while (got < want) {
      const n = await file.read(buf, got, want - got, position + got);
      if (n === 0) break;
      got += n;
    }
  } catch (error) {
    if (segment.retired) return null; // its descriptor was closed, or its file deleted, meanwhile
    throw error;
  }
  if (segment.retired) return null;
  if (got < length) {
    throw new CorruptLogError(`WAL segment ${segment.path} ends at byte offset ${position + got}, inside a batch of ${length} bytes at ${position} that was confirmed: the file was truncated`);
  }
  const next: ReadWindow = { segment, generation: segment.generation, start: position, end: position + got, buf };
  return { buf, at: 0, window: next };
}

export class WalLog implements ActorLog {
  readonly #core: WalCore;
  readonly #state: LogState;

  constructor(core: WalCore, state: LogState) {
    this.#core = core;
    this.#state = state;
  }

  get name(): string {
    return this.#state.name;
  }

  get kind(): LogKind {
    return this.#state.policy?.kind ?? 'state';
  }

  get startOffset(): number {
    return this.#state.startOffset;
  }

  get nextOffset(): number {
    return this.#state.nextOffset;
  }

  get removals(): number {
    return this.#state.removals;
  }

  async append(records: readonly RecordInput[]): Promise<AppendResult> {
    this.#core.assertOpen();
    if (!Array.isArray(records) || records.length === 0) throw new InvalidArgumentError(`append to "${this.name}" needs a non-empty array of records`);
    if (records.length > BATCH_RECORDS_MAX) throw new InvalidArgumentError(`append to "${this.name}": ${records.length} records, more than ${BATCH_RECORDS_MAX} in one batch`);
    const compact = this.#state.policy?.compact ?? false;
    for (let i = 0; i < records.length; i++) validateRecord(records[i]!, i, compact);
    const nowMs = Date.now();
    const plan = planBatch(this.#state.nameBytes, records, nowMs);
    const nameBytes = this.#state.nameBytes;
    const epoch = this.#core.writerEpoch;
    return this.#submitRecords(plan.batchLength, plan.lastOffsetDelta, plan.maxTimestampMs, (buf, pos, lsn, logBaseOffset) => {
      encodeBatch(buf, pos, { attributes: 0, baseLsn: lsn, logBaseOffset, writerEpoch: epoch, logName: nameBytes }, plan, records, nowMs);
    });
  }

  /** Submits a batch of records (not an acknowledgement) to the writer once its size is checked; resolves with its offsets. */
  async #submitRecords(length: number, lastOffsetDelta: number, maxTimestampMs: number, encode: BatchRequest['encode']): Promise<AppendResult> {
    if (length > this.#core.batchBytesMax) {
      throw new MessageTooLargeError(`append to "${this.name}" encodes to ${length} bytes, more than batchBytesMax ${this.#core.batchBytesMax}: split it`);
    }
    const placed = await this.#core.writer().submit({ log: this.#state, length, span: lastOffsetDelta + 1, maxTimestampMs, ackRanges: null, deliveries: null, flags: 0, encode });
    return { baseOffset: placed.logBaseOffset, lastOffset: placed.logBaseOffset + placed.span - 1 };
  }

  appendValues(values: readonly Uint8Array[]): Promise<AppendResult> {
    return this.append(values.map((value) => ({ value })));
  }

  /**
   * Appends a batch an actor host already encoded (`encodeRecordInputs`: this log's name, no
   * CRC): the writer stamps its LSN, offset and CRC and copies the records as they are. A
   * compacted log decodes it and appends the records, so that each is checked for its key.
   */
  async appendEncoded(batch: Uint8Array): Promise<AppendResult> {
    this.#core.assertOpen();
    let header: BatchHeader;
    try {
      header = readBatchHeader(batch, 0);
    } catch (error) {
      throw new InvalidArgumentError(`append to "${this.name}": malformed batch (${(error as Error).message})`);
    }
    if (header.logName !== this.name || header.batchLength !== batch.byteLength || header.attributes !== 0 || header.recordCount > BATCH_RECORDS_MAX) {
      throw new InvalidArgumentError(`append to "${this.name}": the batch is for "${header.logName}", ${header.batchLength} bytes of ${batch.byteLength}, attributes ${header.attributes}`);
    }
    if (this.#state.policy?.compact ?? false) return this.append(decodeRecords(batch, 0, header));
    const epoch = this.#core.writerEpoch;
    return this.#submitRecords(header.batchLength, header.lastOffsetDelta, header.maxTimestampMs, (buf, pos, lsn, logBaseOffset) =>
      restampBatch(buf, pos, batch, lsn, logBaseOffset, epoch),
    );
  }

  /**
   * One opaque batch of `count` messages (record-batch.ts): `body` is copied into the writer's
   * staging buffer as it is, when the batch is staged (so keep it unchanged until this settles).
   */
  async appendOpaque(body: Uint8Array, count: number, timestampMs: number): Promise<AppendResult> {
    this.#core.assertOpen();
    if (!(body instanceof Uint8Array) || body.byteLength === 0) throw new InvalidArgumentError(`appendOpaque to "${this.name}" needs a non-empty Uint8Array body`);
    if (!Number.isSafeInteger(count) || count < 1 || count > BATCH_RECORDS_MAX) {
      throw new InvalidArgumentError(`appendOpaque to "${this.name}": count must be an integer 1..${BATCH_RECORDS_MAX}, got ${String(count)}`);
    }
    if (!Number.isSafeInteger(timestampMs) || timestampMs < 0) {
      throw new InvalidArgumentError(`appendOpaque to "${this.name}": timestampMs must be a non-negative integer, got ${String(timestampMs)}`);
    }
    if (this.#state.policy?.compact ?? false) {
      throw new InvalidArgumentError(`log "${this.name}" is compacted by key: an opaque batch has no keys; append records instead`);
    }
    const nameBytes = this.#state.nameBytes;
    const length = opaqueBatchBytes(nameBytes, body.byteLength);
    if (length > this.#core.batchBytesMax) {
      throw new MessageTooLargeError(`opaque batch for "${this.name}" is ${length} bytes, more than batchBytesMax ${this.#core.batchBytesMax}: split it`);
    }
    const epoch = this.#core.writerEpoch;
    const placed = await this.#core.writer().submit({
      log: this.#state,
      length,
      span: count,
      maxTimestampMs: timestampMs,
      ackRanges: null,
      deliveries: null,
      flags: BATCH_FLAG_OPAQUE,
      encode: (buf, pos, lsn, logBaseOffset) => {
        encodeOpaqueBatch(buf, pos, { attributes: BATCH_ATTR_OPAQUE, baseLsn: lsn, logBaseOffset, writerEpoch: epoch, logName: nameBytes }, body, count, timestampMs);
      },
    });
    return { baseOffset: placed.logBaseOffset, lastOffset: placed.logBaseOffset + placed.span - 1 };
  }

  async acknowledge(offsets: readonly number[]): Promise<void> {
    this.#core.assertOpen();
    this.#assertQueue('take acknowledgements');
    if (!Array.isArray(offsets) || offsets.length === 0) throw new InvalidArgumentError('acknowledge needs a non-empty array of offsets');
    for (const offset of offsets) {
      if (!Number.isSafeInteger(offset) || offset < 0 || offset >= this.#state.nextOffset) {
        throw new InvalidArgumentError(`cannot acknowledge offset ${String(offset)} of "${this.name}": its offsets are 0..${this.#state.nextOffset - 1}`);
      }
    }
    const ranges = toAckRanges(offsets);
    await this.#submitControl(BATCH_ATTR_CONTROL, encodeAckRanges(ranges), ranges, null);
  }

  async acknowledgeRanges(ranges: readonly number[]): Promise<void> {
    this.#core.assertOpen();
    this.#assertQueue('take acknowledgements');
    const merged = toAckRangesFromFlat(this.name, ranges, this.#state.nextOffset);
    // Lazy: confirmed by the next fdatasync that covers it, not one of its own (wal-writer.ts).
    await this.#submitControl(BATCH_ATTR_CONTROL, encodeAckRanges(merged), merged, null, true);
  }

  async recordDeliveries(pairs: readonly number[]): Promise<void> {
    this.#core.assertOpen();
    this.#assertQueue('record deliveries');
    const normalized = normalizeDeliveryPairs(this.name, pairs, this.#state.nextOffset);
    await this.#submitControl(BATCH_ATTR_CONTROL | BATCH_ATTR_DELIVERIES, encodeDeliveryValue(normalized), null, normalized);
  }

  async deliveryCounts(): Promise<number[]> {
    this.#core.assertOpen();
    return this.#state.deliveries.toPairs();
  }

  #assertQueue(what: string): void {
    if (this.kind !== 'queue') throw new InvalidArgumentError(`log "${this.name}" is a ${this.kind} log: only queue logs ${what}`);
  }

  /** A control batch of one record holding `value`; it takes one offset, which it acknowledges itself. */
  async #submitControl(attributes: number, value: Uint8Array, ackRanges: Array<[number, number]> | null, deliveries: readonly number[] | null, lazy = false): Promise<void> {
    const records: RecordInput[] = [{ value }];
    const nowMs = Date.now();
    const plan = planBatch(this.#state.nameBytes, records, nowMs);
    if (plan.batchLength > this.#core.batchBytesMax) {
      throw new MessageTooLargeError(`a control batch for "${this.name}" encodes to ${plan.batchLength} bytes, more than batchBytesMax ${this.#core.batchBytesMax}: send fewer ranges or pairs at a time`);
    }
    const nameBytes = this.#state.nameBytes;
    const epoch = this.#core.writerEpoch;
    await this.#core.writer().submit({
      log: this.#state,
      length: plan.batchLength,
      span: 1,
      maxTimestampMs: plan.maxTimestampMs,
      ackRanges,
      deliveries,
      flags: BATCH_FLAG_CONTROL,
      lazy,
      encode: (buf, pos, lsn, logBaseOffset) => {
        encodeBatch(buf, pos, { attributes, baseLsn: lsn, logBaseOffset, writerEpoch: epoch, logName: nameBytes }, plan, records, nowMs);
      },
    });
  }

  /**
   * The next opaque batch at or after `offset` that a reader of bodies wants (queue logs: one with
   * an unacknowledged offset), or null at the end. Retention may delete rows between two calls:
   * callers look the row up again each time, by offset.
   */
  #nextOpaqueRow(offset: number): BatchLocation | null {
    const state = this.#state;
    const queue = this.kind === 'queue';
    let next = offset;
    for (;;) {
      const index = state.batches.findByOffset(next);
      if (index >= state.batches.count) return null;
      const row = state.batches.at(index);
      const end = row.logBaseOffset + row.span;
      // The batch holding `offset` counts whole: it is read if any of its offsets is unacknowledged.
      const wanted = (row.flags & BATCH_FLAG_OPAQUE) !== 0 && !(queue && state.acked.covers(row.logBaseOffset, end));
      // A row whose segment retention deleted meanwhile is gone.
      if (wanted && this.#core.segment(row.segmentBaseLsn) !== undefined) return row;
      // Past a fully acknowledged stretch in one step (a queue's acknowledged prefix can be long).
      next = queue ? state.acked.firstUnackedAt(end) : end;
    }
  }

  /** A CorruptLogError for a batch of this log that read back wrong. */
  #corrupt(segment: Segment, row: BatchLocation, reason: string): CorruptLogError {
    return new CorruptLogError(`corrupt WAL segment ${segment.path} at byte offset ${row.position}: ${reason} (read back for log "${this.name}")`);
  }

  /** The header of the opaque batch `row` names, read at `buf[at]`; anything else there is corruption. */
  #opaqueHeader(segment: Segment, row: BatchLocation, buf: Uint8Array, at: number): BatchHeader {
    let header: BatchHeader;
    try {
      header = readBatchHeader(buf, at);
    } catch (error) {
      if (error instanceof MalformedError) throw this.#corrupt(segment, row, error.message);
      throw error;
    }
    if (header.logName !== this.name || header.logBaseOffset !== row.logBaseOffset || header.batchLength !== row.length || (header.attributes & BATCH_ATTR_OPAQUE) === 0 || header.recordCount !== row.span) {
      throw this.#corrupt(segment, row, `expected an opaque batch of "${this.name}" at offset ${row.logBaseOffset} (${row.span} messages, ${row.length} bytes), found "${header.logName}" at ${header.logBaseOffset} (${header.recordCount} records, ${header.batchLength} bytes, attributes ${header.attributes})`);
    }
    return header;
  }

  /**
   * Heads of the opaque batches (ActorLog.replayBatchHeads). Only the header, the log name and
   * the first `headBytes` of each body are read: a restart of a queue of millions of messages
   * reads its metadata, not its bodies. So the CRC, which covers the whole batch, is not checked
   * here (recovery checked every batch when the WAL opened, and `readBodiesInto` checks each
   * batch it copies); the header is checked against the directory instead.
   */
  async *replayBatchHeads(options: { fromOffset?: number; headBytes: number }): AsyncIterableIterator<BatchHead> {
    const from = options?.fromOffset ?? 0;
    const headBytes = options?.headBytes;
    if (!Number.isSafeInteger(from) || from < 0) throw new InvalidArgumentError(`replayBatchHeads fromOffset must be a non-negative integer, got ${String(from)}`);
    if (!Number.isSafeInteger(headBytes) || headBytes < 0 || headBytes > HEAD_BYTES_MAX) {
      throw new InvalidArgumentError(`replayBatchHeads headBytes must be an integer 0..${HEAD_BYTES_MAX}, got ${String(headBytes)}`);
    }
    const state = this.#state;
    const queue = this.kind === 'queue';
    const bodyStart = batchBodyStart(state.nameBytes.byteLength);
    let next = Math.max(from, state.startOffset);
    let window: ReadWindow | null = null;
    for (;;) {
      this.#core.assertOpen();
      const row = this.#nextOpaqueRow(next);
      if (row === null) return;
      const segment = this.#core.segment(row.segmentBaseLsn)!;
      const bodyBytes = row.length - bodyStart;
      const take = Math.min(headBytes, bodyBytes);
      const read = await readSegmentRange(this.#core.files, segment, row.position, bodyStart + take, window);
      if (read === null) continue; // rewritten meanwhile: look the batch up again
      next = row.logBaseOffset + row.span;
      window = read.window;
      // The name's length first: the header reader takes the name from the bytes read.
      if (readU16(read.buf, read.at + BATCH_LOG_NAME_BYTES_OFFSET) !== state.nameBytes.byteLength) throw this.#corrupt(segment, row, 'the log name length differs from the directory\'s');
      const header = this.#opaqueHeader(segment, row, read.buf, read.at);
      const headStart = read.at + bodyStart;
      yield {
        baseOffset: row.logBaseOffset,
        count: row.span,
        bodyBytes,
        timestampMs: header.firstTimestampMs,
        // A copy (Buffer#slice would be a view of the read window).
        head: new Uint8Array(read.buf.subarray(headStart, headStart + take)),
        acked: queue ? state.acked.within(row.logBaseOffset, row.logBaseOffset + row.span) : [],
      };
    }
  }

  /**
   * Copies whole opaque bodies into `target` (ActorLog.readBodiesInto). Each batch is read whole
   * and its CRC checked before its body is copied: a corrupt batch is CorruptLogError, never
   * bytes handed out. `target` is any byte array; the storage thread passes the arena's, so that
   * positions in it are arena addresses.
   */
  async readBodiesInto(fromOffset: number, target: Uint8Array, address: number, maxBytes: number): Promise<ReadIntoResult> {
    this.#core.assertOpen();
    if (!Number.isSafeInteger(fromOffset) || fromOffset < 0) throw new InvalidArgumentError(`readInto fromOffset must be a non-negative integer, got ${String(fromOffset)}`);
    if (!(target instanceof Uint8Array)) throw new InvalidArgumentError('readInto needs a Uint8Array target');
    if (!Number.isSafeInteger(address) || !Number.isSafeInteger(maxBytes) || address < 0 || maxBytes < 0 || address + maxBytes > target.byteLength) {
      throw new InvalidArgumentError(`readInto region [${String(address)}, +${String(maxBytes)}) is not inside its target of ${target.byteLength} bytes`);
    }
    const state = this.#state;
    const end = address + maxBytes;
    const bodyStart = batchBodyStart(state.nameBytes.byteLength);
    const batches: CopiedBatch[] = [];
    let position = address;
    let next = Math.max(fromOffset, state.startOffset);
    let window: ReadWindow | null = null;
    for (;;) {
      const row = this.#nextOpaqueRow(next);
      if (row === null) return { batches, next: -1 };
      const bodyBytes = row.length - bodyStart;
      const at = alignUp(position, READ_INTO_ALIGN);
      if (at + bodyBytes > end || batches.length === READ_INTO_BATCHES_MAX) {
        if (batches.length === 0) {
          throw new MessageTooLargeError(
            `the opaque batch at offset ${row.logBaseOffset} of "${this.name}" has a ${bodyBytes}-byte body, more than fits in [${address}, ${end}) (8-aligned from ${at}): read it into a region of at least ${bodyBytes + (at - address)} bytes`,
          );
        }
        return { batches, next };
      }
      const segment = this.#core.segment(row.segmentBaseLsn)!;
      const read = await readSegmentRange(this.#core.files, segment, row.position, row.length, window);
      if (read === null) continue; // rewritten meanwhile: look the batch up again
      window = read.window;
      const check = checkBatch(read.buf, read.at, row.length, this.#core.batchBytesMax);
      if (!check.ok) throw this.#corrupt(segment, row, check.reason);
      this.#opaqueHeader(segment, row, read.buf, read.at);
      this.#core.assertOpen();
      target.set(read.buf.subarray(read.at + bodyStart, read.at + row.length), at);
      batches.push({ baseOffset: row.logBaseOffset, count: row.span, at, length: bodyBytes });
      position = at + bodyBytes;
      next = row.logBaseOffset + row.span;
    }
  }

  async *replay(options: { fromOffset?: number } = {}): AsyncIterableIterator<LogRecord> {
    const from = options.fromOffset ?? 0;
    if (!Number.isSafeInteger(from) || from < 0) throw new InvalidArgumentError(`replay fromOffset must be a non-negative integer, got ${String(from)}`);
    const state = this.#state;
    const queue = this.kind === 'queue';
    let next = Math.max(from, state.startOffset);
    let window: ReadWindow | null = null;
    for (;;) {
      this.#core.assertOpen();
      const index = state.batches.findByOffset(next);
      if (index >= state.batches.count) return;
      const row = state.batches.at(index);
      const segment = this.#core.segment(row.segmentBaseLsn);
      if (segment === undefined || (row.flags & (BATCH_FLAG_CONTROL | BATCH_FLAG_OPAQUE)) !== 0) {
        // Deleted by retention meanwhile, a control batch, or an opaque batch (replayBatchHeads reads those).
        next = row.logBaseOffset + row.span;
        continue;
      }
      const read = await readSegmentRange(this.#core.files, segment, row.position, row.length, window);
      if (read === null) continue; // rewritten meanwhile: look the batch up again
      window = read.window;
      const check = checkBatch(read.buf, read.at, row.length, this.#core.batchBytesMax);
      const fail = (reason: string) => new CorruptLogError(`corrupt WAL segment ${segment.path} at byte offset ${row.position}: ${reason} (read back for log "${state.name}")`);
      if (!check.ok) throw fail(check.reason);
      let records: LogRecord[];
      try {
        const header = readBatchHeader(read.buf, read.at);
        if (header.logName !== state.name || header.logBaseOffset !== row.logBaseOffset || check.batchLength !== row.length) {
          throw fail(`expected a batch of "${state.name}" at offset ${row.logBaseOffset}, found "${header.logName}" at ${header.logBaseOffset}`);
        }
        records = decodeRecords(read.buf, read.at, header);
      } catch (error) {
        if (error instanceof MalformedError) throw fail(error.message);
        throw error;
      }
      for (const record of records) {
        if (record.offset < next) continue;
        if (queue && state.acked.has(record.offset)) continue;
        yield record;
      }
      next = row.logBaseOffset + row.span;
    }
  }

  async offsetForTimestamp(timestampMs: number): Promise<number | null> {
    if (!Number.isFinite(timestampMs)) throw new InvalidArgumentError(`timestampMs must be a number, got ${String(timestampMs)}`);
    const state = this.#state;
    // Batches hold their newest timestamp: the first batch reaching the time holds the record.
    for (let i = 0; i < state.batches.count; i++) {
      const row = state.batches.at(i);
      if ((row.flags & BATCH_FLAG_CONTROL) !== 0 || row.maxTimestampMs < timestampMs) continue;
      // Every message of an opaque batch has the batch's timestamp.
      if ((row.flags & BATCH_FLAG_OPAQUE) !== 0) return row.logBaseOffset;
      for await (const record of this.replay({ fromOffset: row.logBaseOffset })) {
        if (record.timestampMs >= timestampMs) return record.offset;
        if (record.offset >= row.logBaseOffset + row.span) break;
      }
    }
    return null;
  }

  async writeSnapshot(snapshot: ActorSnapshot): Promise<void> {
    this.#core.assertOpen();
    if (!Number.isSafeInteger(snapshot?.offset) || snapshot.offset < 0 || snapshot.offset > this.#state.nextOffset) {
      throw new InvalidArgumentError(`snapshot offset must be an integer 0..${this.#state.nextOffset} (the log's next offset), got ${String(snapshot?.offset)}`);
    }
    if (!(snapshot.state instanceof Uint8Array)) throw new InvalidArgumentError('snapshot state must be a Uint8Array');
    await this.#core.serialize(async () => {
      await writeSnapshotFile(this.#core.files, this.#core.dataDir, this.name, snapshot);
      this.#state.snapshotOffset = snapshot.offset;
    });
  }

  async readSnapshot(): Promise<ActorSnapshot | null> {
    this.#core.assertOpen();
    return readSnapshotFile(this.#core.files, this.#core.dataDir, this.name);
  }
}

function alignUp(value: number, alignment: number): number {
  return Math.ceil(value / alignment) * alignment;
}
