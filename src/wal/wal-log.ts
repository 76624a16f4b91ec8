/**
 * `WalLog`: one actor's log inside the data directory's shared WAL (the `ActorLog` contract in
 * src/actor/actor-storage.ts). It validates and encodes appends, hands them to the shared
 * writer, and replays from the segment files through the in-memory batch directory.
 *
 * Replay re-reads what is on disk and checks every batch's CRC again as it reads it (CRCs are
 * checked on every read, not only at recovery), and that the batch is the one the directory
 * expects: a mismatch is `CorruptLogError` with the file and offset.
 */
import type { ActorLog, ActorSnapshot, AppendResult, LogRecord, RecordInput } from '../actor/actor-storage.js';
import { CorruptLogError, InvalidArgumentError, MessageTooLargeError } from '../errors.js';
import { encodeAckRanges, toAckRanges } from './ack-ranges.js';
import { MalformedError } from './byte-codec.js';
import type { FileLayer } from './file-layer.js';
import { BATCH_FLAG_CONTROL, type LogKind, type LogState } from './log-state.js';
import { BATCH_ATTR_CONTROL, BATCH_RECORDS_MAX, type BatchHeader, checkBatch, decodeRecords, encodeBatch, planBatch, readBatchHeader, restampBatch, validateRecord } from './record-batch.js';
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

interface ReadWindow {
  segment: Segment;
  generation: number;
  start: number;
  end: number;
  buf: Buffer;
}

/** Reads bytes [position, position+length) of a segment, through a read-ahead window. */
export async function readSegmentRange(files: FileLayer, segment: Segment, position: number, length: number, window: ReadWindow | null): Promise<{ buf: Buffer; at: number; window: ReadWindow }> {
  if (window !== null && window.segment === segment && window.generation === segment.generation && position >= window.start && position + length <= window.end) {
    return { buf: window.buf, at: position - window.start, window };
  }
  const want = Math.max(length, Math.min(READ_AHEAD_BYTES, segment.size - position));
  // A fresh buffer per window: records handed out from the previous window stay valid.
  const buf = Buffer.allocUnsafe(want);
  const file = await segment.reader(files);
  let got = 0;
  while (got < want) {
    const n = await file.read(buf, got, want - got, position + got);
    if (n === 0) break;
    got += n;
  }
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
    const placed = await this.#core.writer().submit({ log: this.#state, length, span: lastOffsetDelta + 1, maxTimestampMs, ackRanges: null, encode });
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

  async acknowledge(offsets: readonly number[]): Promise<void> {
    this.#core.assertOpen();
    if (this.kind !== 'queue') throw new InvalidArgumentError(`log "${this.name}" is a ${this.kind} log: only queue logs take acknowledgements`);
    if (!Array.isArray(offsets) || offsets.length === 0) throw new InvalidArgumentError('acknowledge needs a non-empty array of offsets');
    for (const offset of offsets) {
      if (!Number.isSafeInteger(offset) || offset < 0 || offset >= this.#state.nextOffset) {
        throw new InvalidArgumentError(`cannot acknowledge offset ${String(offset)} of "${this.name}": its offsets are 0..${this.#state.nextOffset - 1}`);
      }
    }
    const ranges = toAckRanges(offsets);
    const value = encodeAckRanges(ranges);
    const records: RecordInput[] = [{ value }];
    const nowMs = Date.now();
    const plan = planBatch(this.#state.nameBytes, records, nowMs);
    const nameBytes = this.#state.nameBytes;
    const epoch = this.#core.writerEpoch;
    await this.#core.writer().submit({
      log: this.#state,
      length: plan.batchLength,
      span: 1,
      maxTimestampMs: plan.maxTimestampMs,
      ackRanges: ranges,
      encode: (buf, pos, lsn, logBaseOffset) => {
        encodeBatch(buf, pos, { attributes: BATCH_ATTR_CONTROL, baseLsn: lsn, logBaseOffset, writerEpoch: epoch, logName: nameBytes }, plan, records, nowMs);
      },
    });
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
      if (segment === undefined || (row.flags & BATCH_FLAG_CONTROL) !== 0) {
        next = row.logBaseOffset + row.span; // deleted by retention meanwhile, or an ack record
        continue;
      }
      const read = await readSegmentRange(this.#core.files, segment, row.position, row.length, window);
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
