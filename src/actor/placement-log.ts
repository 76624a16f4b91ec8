/**
 * `placement.log`: the append-only file in which `Placement` remembers each actor's host.
 *
 * ```
 * file    0       4       8
 *         +-------+-------+----------+----------+---
 *         | "BTPL"|version| record 0 | record 1 | ...
 *         +-------+-------+----------+----------+---
 *
 * record  0       4       8      9      11
 *         +-------+-------+------+------+---------------------------+
 *         | crc   | length| kind | host | actor id (UTF-8)          |
 *         +-------+-------+------+------+---------------------------+
 *         little-endian. length = bytes after the length field (3 + id bytes).
 *         crc = zlib.crc32 of bytes [4, 8 + length): the length is covered too.
 *         kind 1 = place (the actor's home is `host`), 2 = forget (host 0).
 * ```
 *
 * Why length + CRC frames and not lines of JSON: a flipped byte inside a JSON line can still
 * parse as another id or host, and a line alone cannot say whether it was cut by a crash or
 * damaged later. A frame knows its length, so a record that runs past the end of the file is a
 * torn append, and its CRC catches damage anywhere else; it is also the WAL's own discipline
 * (record-batch.ts, checkpoint.ts). A record is 11 bytes plus the id.
 *
 * Reading, the first bad record ends the log. It is a torn tail — a crash mid-append, dropped
 * and truncated — when nothing written follows it: it runs past the end of the file, or fails
 * its CRC with only zeros (or nothing) after it, or is all zeros (the size grew before the data
 * reached the disk). A bad record with data after it is corruption: `CorruptLogError`.
 *
 * Appends are group-committed: records that arrive while a write + fdatasync is running go
 * together in the next one, and each append resolves once its record is durable.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { crc32 } from 'node:zlib';
import { ClosedError, CorruptLogError, InvalidArgumentError, StorageFailedError } from '../errors.js';
import { writeFileAtomic } from '../wal/atomic-file.js';
import { readU16, readU32, writeU16, writeU32 } from '../wal/byte-codec.js';
import type { FileLayer, WalFile } from '../wal/file-layer.js';

export const PLACEMENT_LOG_FILE = 'placement.log';
const MAGIC = 0x4c505442; // "BTPL" little-endian
const VERSION = 1;
const FILE_HEADER_BYTES = 8;
const RECORD_HEADER_BYTES = 8;
const CRC_COVERS_FROM = 4;
const KIND_PLACE = 1;
const KIND_FORGET = 2;
/** kind + host. */
const LENGTH_MIN = 3;
/** An actor id of up to 255 UTF-16 units is at most 765 UTF-8 bytes; room to spare. */
const ID_BYTES_MAX = 1024;
/** Hosts are numbered 0 .. HOSTS_MAX - 1 (u16). */
export const HOSTS_MAX = 0x1_0000;

/** What a placement log holds once replayed. */
export interface PlacementLogContents {
  /** Actor id → host, after every place and forget. */
  homes: Map<string, number>;
  /** Valid records in the file, live or not. */
  records: number;
  /** Bytes up to the end of the last valid record. */
  validBytes: number;
  /** Bytes past it: a torn tail, to be truncated. */
  tornBytes: number;
}

export interface PlacementLogStats {
  records: number;
  /** Bytes written by appends since the log was opened. */
  bytesWritten: number;
  writes: number;
  datasyncs: number;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

function encodeRecord(kind: number, host: number, id: string): Uint8Array {
  assert.ok(Number.isInteger(host) && host >= 0 && host < HOSTS_MAX, `placement host out of range: ${host}`);
  const idBytes = encoder.encode(id);
  if (idBytes.byteLength === 0 || idBytes.byteLength > ID_BYTES_MAX) {
    throw new InvalidArgumentError(`an actor id must be 1 .. ${ID_BYTES_MAX} UTF-8 bytes to be placed, got ${idBytes.byteLength}`);
  }
  const record = new Uint8Array(RECORD_HEADER_BYTES + LENGTH_MIN + idBytes.byteLength);
  writeU32(record, 4, LENGTH_MIN + idBytes.byteLength);
  record[8] = kind;
  writeU16(record, 9, host);
  record.set(idBytes, RECORD_HEADER_BYTES + LENGTH_MIN);
  writeU32(record, 0, crc32(record.subarray(CRC_COVERS_FROM)));
  return record;
}

export function encodePlace(id: string, host: number): Uint8Array {
  return encodeRecord(KIND_PLACE, host, id);
}

export function encodeForget(id: string): Uint8Array {
  return encodeRecord(KIND_FORGET, 0, id);
}

function isAllZero(bytes: Uint8Array, from: number): boolean {
  for (let i = from; i < bytes.byteLength; i++) if (bytes[i] !== 0) return false;
  return true;
}

/** Replays a placement log's bytes; `file` names it in errors. */
export function decodePlacementLog(bytes: Uint8Array, file: string): PlacementLogContents {
  const damaged = (at: number, why: string) =>
    new CorruptLogError(
      `placement log ${file} is damaged at byte ${at} (${why}): remove the file to have actors placed afresh ` +
        `(their messages and state are in the WAL, not here), or restore the data directory from a backup`,
    );
  if (bytes.byteLength < FILE_HEADER_BYTES) throw damaged(0, `${bytes.byteLength} bytes, shorter than its header; it is created atomically`);
  if (readU32(bytes, 0) !== MAGIC) throw damaged(0, 'bad magic: not a placement log');
  if (readU32(bytes, 4) !== VERSION) throw damaged(4, `unknown version ${readU32(bytes, 4)}`);
  const homes = new Map<string, number>();
  let records = 0;
  let at = FILE_HEADER_BYTES;
  const torn = () => ({ homes, records, validBytes: at, tornBytes: bytes.byteLength - at });
  while (at < bytes.byteLength) {
    if (bytes.byteLength - at < RECORD_HEADER_BYTES || isAllZero(bytes, at)) return torn();
    const length = readU32(bytes, at + 4);
    if (length < LENGTH_MIN || length > LENGTH_MIN + ID_BYTES_MAX) throw damaged(at, `record length ${length}, with data after it`);
    const end = at + RECORD_HEADER_BYTES + length;
    if (end > bytes.byteLength) return torn();
    if (readU32(bytes, at) !== crc32(bytes.subarray(at + CRC_COVERS_FROM, end))) {
      if (isAllZero(bytes, end)) return torn();
      throw damaged(at, 'CRC mismatch, with data after it');
    }
    // The CRC held: a bad field now is a writer's bug or another format, never a torn write.
    const kind = bytes[at + 8]!;
    const host = readU16(bytes, at + 9);
    let id: string;
    try {
      id = decoder.decode(bytes.subarray(at + RECORD_HEADER_BYTES + LENGTH_MIN, end));
    } catch {
      throw damaged(at, 'actor id is not UTF-8');
    }
    if (id.length === 0) throw damaged(at, 'empty actor id');
    if (kind === KIND_PLACE) homes.set(id, host);
    else if (kind === KIND_FORGET && host === 0) homes.delete(id);
    else throw damaged(at, `unknown record kind ${kind} (host ${host})`);
    records++;
    at = end;
  }
  return torn();
}

/** The replayed log at `file`, or null when there is none. */
export async function readPlacementLog(files: FileLayer, file: string): Promise<PlacementLogContents | null> {
  const bytes = await files.readFile(file);
  return bytes === null ? null : decodePlacementLog(bytes, file);
}

/** Replaces `file` with a log of exactly `homes`, atomically and durably (creation, migration, compaction); resolves its contents. */
export async function writePlacementLog(files: FileLayer, file: string, homes: ReadonlyMap<string, number>): Promise<PlacementLogContents> {
  const records = [...homes].map(([id, host]) => encodePlace(id, host));
  const bytes = new Uint8Array(FILE_HEADER_BYTES + records.reduce((sum, r) => sum + r.byteLength, 0));
  writeU32(bytes, 0, MAGIC);
  writeU32(bytes, 4, VERSION);
  let at = FILE_HEADER_BYTES;
  for (const record of records) {
    bytes.set(record, at);
    at += record.byteLength;
  }
  await files.mkdir(path.dirname(file));
  await writeFileAtomic(files, file, bytes);
  return { homes: new Map(homes), records: records.length, validBytes: bytes.byteLength, tornBytes: 0 };
}

interface Waiter {
  resolve: () => void;
  reject: (error: unknown) => void;
}

/** The open log: appends with group commit. */
export class PlacementLog {
  readonly #file: WalFile;
  /** Where the next write goes: the end of the last durable record. */
  #end: number;
  #pending: Uint8Array[] = [];
  #pendingBytes = 0;
  #waiters: Waiter[] = [];
  /** The write + fdatasync loop; `#flushRunning` is cleared in the same tick the loop sees nothing left. */
  #flushing: Promise<void> = Promise.resolve();
  #flushRunning = false;
  #failure: StorageFailedError | null = null;
  #closed = false;
  readonly #stats: PlacementLogStats;

  private constructor(file: WalFile, end: number, records: number) {
    this.#file = file;
    this.#end = end;
    this.#stats = { records, bytesWritten: 0, writes: 0, datasyncs: 0 };
  }

  /** Opens `file` (as read, `contents`) for appending, truncating its torn tail first. */
  static async open(files: FileLayer, file: string, contents: PlacementLogContents): Promise<PlacementLog> {
    const handle = await files.open(file, 'read-write');
    try {
      const size = await handle.size();
      assert.equal(size, contents.validBytes + contents.tornBytes, `${file} changed between reading and opening it`);
      if (contents.tornBytes > 0) {
        await handle.truncate(contents.validBytes);
        await handle.datasync();
      }
    } catch (error) {
      await handle.close();
      throw error;
    }
    return new PlacementLog(handle, contents.validBytes, contents.records);
  }

  stats(): PlacementLogStats {
    return { ...this.#stats };
  }

  /** Appends a record; resolves once it is durable. */
  append(record: Uint8Array): Promise<void> {
    if (this.#closed) return Promise.reject(new ClosedError(`placement log ${this.#file.path} is closed`));
    if (this.#failure !== null) return Promise.reject(this.#failure);
    return new Promise<void>((resolve, reject) => {
      this.#pending.push(record);
      this.#pendingBytes += record.byteLength;
      this.#waiters.push({ resolve, reject });
      if (!this.#flushRunning) {
        this.#flushRunning = true;
        this.#flushing = this.#flush();
      }
    });
  }

  /** Waits for the appends in flight, then closes the file. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#flushing;
    await this.#file.close();
  }

  /** Rounds until nothing waits. The flag is cleared in the same tick the loop finds nothing left, so no append is stranded. */
  async #flush(): Promise<void> {
    try {
      while (this.#waiters.length > 0) await this.#flushRound();
    } finally {
      this.#flushRunning = false;
    }
  }

  /** One write and one fdatasync, for everything that arrived before the round began. */
  async #flushRound(): Promise<void> {
    const batch = new Uint8Array(this.#pendingBytes);
    let at = 0;
    for (const record of this.#pending) {
      batch.set(record, at);
      at += record.byteLength;
    }
    const waiters = this.#waiters;
    const records = this.#pending.length;
    this.#pending = [];
    this.#pendingBytes = 0;
    this.#waiters = [];
    try {
      let written = 0;
      while (written < batch.byteLength) {
        written += await this.#file.write(batch, written, batch.byteLength - written, this.#end + written);
        this.#stats.writes++;
      }
      await this.#file.datasync();
      this.#stats.datasyncs++;
    } catch (error) {
      // What reached the file past #end is unknown: refuse appends until a restart reads it again.
      this.#failure = new StorageFailedError(
        `writing placement log ${this.#file.path} failed (${(error as Error).message}); actors can no longer be placed: fix the disk and restart the broker`,
        { cause: error },
      );
      for (const waiter of [...waiters, ...this.#waiters]) waiter.reject(this.#failure);
      this.#pending = [];
      this.#pendingBytes = 0;
      this.#waiters = [];
      return;
    }
    this.#end += batch.byteLength;
    this.#stats.records += records;
    this.#stats.bytesWritten += batch.byteLength;
    for (const waiter of waiters) waiter.resolve();
  }
}
