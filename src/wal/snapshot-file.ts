/**
 * An actor's snapshot: its state as of a log offset, so that a restart replays only what came
 * after, and retention can release the segments before it. One file per log,
 * `snapshots/<encodeURIComponent(name)>.snap`, replaced atomically (atomic-file.ts).
 *
 * ```
 *  0       4       8               16      20      24
 * +-------+-------+---------------+-------+-------+------------------+
 * | "BTSN"|version| offset (u64)  | bytes | crc   | state (bytes)    |
 * +-------+-------+---------------+-------+-------+------------------+
 * crc = zlib.crc32 of bytes [0, 20) followed by the state.
 * ```
 *
 * A damaged snapshot is corruption (it was written atomically), reported with its file, never
 * replaced by an empty state.
 */
import path from 'node:path';
import { crc32 } from 'node:zlib';
import type { ActorSnapshot } from './actor-storage.js';
import { CorruptLogError } from '../errors.js';
import { writeFileAtomic } from './atomic-file.js';
import { readU32, readU64, writeU32, writeU64 } from './byte-codec.js';
import type { FileLayer } from './file-layer.js';

export const SNAPSHOT_DIR = 'snapshots';
const MAGIC = 0x4e535442; // "BTSN" little-endian
const VERSION = 1;
const OFFSET_OFFSET = 8;
const BYTES_OFFSET = 16;
const CRC_OFFSET = 20;
export const SNAPSHOT_HEADER_BYTES = 24;

export function snapshotPath(dataDir: string, logName: string): string {
  return path.join(dataDir, SNAPSHOT_DIR, `${encodeURIComponent(logName)}.snap`);
}

export function encodeSnapshot(snapshot: ActorSnapshot): Uint8Array {
  const out = Buffer.alloc(SNAPSHOT_HEADER_BYTES + snapshot.state.byteLength);
  writeU32(out, 0, MAGIC);
  writeU32(out, 4, VERSION);
  writeU64(out, OFFSET_OFFSET, snapshot.offset);
  writeU32(out, BYTES_OFFSET, snapshot.state.byteLength);
  out.set(snapshot.state, SNAPSHOT_HEADER_BYTES);
  writeU32(out, CRC_OFFSET, crc32(out.subarray(SNAPSHOT_HEADER_BYTES), crc32(out.subarray(0, CRC_OFFSET))));
  return out;
}

export function decodeSnapshot(bytes: Uint8Array, file: string): ActorSnapshot {
  const fail = (why: string) => new CorruptLogError(`snapshot ${file} is damaged at byte offset 0 (${why}); restore it from a backup or delete it to replay the whole log`);
  if (bytes.byteLength < SNAPSHOT_HEADER_BYTES) throw fail(`${bytes.byteLength} bytes, shorter than its header`);
  if (readU32(bytes, 0) !== MAGIC) throw fail('bad magic');
  const length = readU32(bytes, BYTES_OFFSET);
  if (SNAPSHOT_HEADER_BYTES + length !== bytes.byteLength) throw fail(`state length ${length} disagrees with the file size`);
  const crc = crc32(bytes.subarray(SNAPSHOT_HEADER_BYTES), crc32(bytes.subarray(0, CRC_OFFSET)));
  if (crc !== readU32(bytes, CRC_OFFSET)) throw fail('CRC mismatch');
  if (readU32(bytes, 4) !== VERSION) throw fail(`unknown version ${readU32(bytes, 4)}`);
  const offset = readU64(bytes, OFFSET_OFFSET);
  if (Number.isNaN(offset)) throw fail('offset above 2^53');
  return { offset, state: bytes.subarray(SNAPSHOT_HEADER_BYTES) };
}

export async function writeSnapshotFile(files: FileLayer, dataDir: string, logName: string, snapshot: ActorSnapshot): Promise<void> {
  await writeFileAtomic(files, snapshotPath(dataDir, logName), encodeSnapshot(snapshot));
}

export async function readSnapshotFile(files: FileLayer, dataDir: string, logName: string): Promise<ActorSnapshot | null> {
  const file = snapshotPath(dataDir, logName);
  const bytes = await files.readFile(file);
  return bytes === null ? null : decodeSnapshot(bytes, file);
}
