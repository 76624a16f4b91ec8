/**
 * The recovery checkpoint: how much of the newest segment is known to be on disk and valid.
 *
 * Every segment but the newest was fdatasynced before the next one was created (segment.ts),
 * so recovery trusts all of them. The checkpoint extends that trust into the newest segment:
 * bytes below `position` were synced and verified when it was written. Below it, a bad batch
 * is corruption (fail loudly); above it, a bad batch is a torn tail (truncate). Written with
 * `writeFileAtomic` (temp, fsync, rename, fsync directory) when a segment is sealed, after
 * recovery, and at a clean close.
 *
 * ```
 *  0       4       8               16              24              32      36      40      44
 * +-------+-------+---------------+---------------+---------------+-------+-------+-------+
 * | "BTCP"|version| segmentBaseLsn| position      | nextLsn       | epoch | flags | crc   |
 * +-------+-------+---------------+---------------+---------------+-------+-------+-------+
 * crc = zlib.crc32 of bytes [0, 40). flags bit 0: written by a clean close.
 * ```
 */
import path from 'node:path';
import { crc32 } from 'node:zlib';
import { CorruptLogError } from '../errors.js';
import { writeFileAtomic } from './atomic-file.js';
import { readU32, readU64, writeU32, writeU64 } from './byte-codec.js';
import type { FileLayer } from './file-layer.js';

export const CHECKPOINT_FILE = 'checkpoint';
const MAGIC = 0x50435442; // "BTCP" little-endian
const VERSION = 1;
const SEGMENT_OFFSET = 8;
const POSITION_OFFSET = 16;
const NEXT_LSN_OFFSET = 24;
const EPOCH_OFFSET = 32;
const FLAGS_OFFSET = 36;
const CRC_OFFSET = 40;
export const CHECKPOINT_BYTES = 44;
const FLAG_CLEAN = 1;

export interface Checkpoint {
  /** Base LSN of the newest segment when the checkpoint was written. */
  segmentBaseLsn: number;
  /** Bytes of that segment that were synced and valid. */
  position: number;
  nextLsn: number;
  writerEpoch: number;
  clean: boolean;
}

export function encodeCheckpoint(checkpoint: Checkpoint): Uint8Array {
  const buf = Buffer.alloc(CHECKPOINT_BYTES);
  writeU32(buf, 0, MAGIC);
  writeU32(buf, 4, VERSION);
  writeU64(buf, SEGMENT_OFFSET, checkpoint.segmentBaseLsn);
  writeU64(buf, POSITION_OFFSET, checkpoint.position);
  writeU64(buf, NEXT_LSN_OFFSET, checkpoint.nextLsn);
  writeU32(buf, EPOCH_OFFSET, checkpoint.writerEpoch);
  writeU32(buf, FLAGS_OFFSET, checkpoint.clean ? FLAG_CLEAN : 0);
  writeU32(buf, CRC_OFFSET, crc32(buf.subarray(0, CRC_OFFSET)));
  return buf;
}

/** Decodes a checkpoint; a damaged one is corruption (it was written atomically). */
export function decodeCheckpoint(bytes: Uint8Array, file: string): Checkpoint {
  const fail = (why: string) => new CorruptLogError(`checkpoint ${file} is damaged (${why}); it is written atomically, so the disk changed it: restore the data directory from a backup`);
  if (bytes.byteLength !== CHECKPOINT_BYTES) throw fail(`${bytes.byteLength} bytes, expected ${CHECKPOINT_BYTES}`);
  if (readU32(bytes, 0) !== MAGIC) throw fail('bad magic');
  if (readU32(bytes, CRC_OFFSET) !== crc32(bytes.subarray(0, CRC_OFFSET))) throw fail('CRC mismatch');
  if (readU32(bytes, 4) !== VERSION) throw fail(`unknown version ${readU32(bytes, 4)}`);
  const checkpoint: Checkpoint = {
    segmentBaseLsn: readU64(bytes, SEGMENT_OFFSET),
    position: readU64(bytes, POSITION_OFFSET),
    nextLsn: readU64(bytes, NEXT_LSN_OFFSET),
    writerEpoch: readU32(bytes, EPOCH_OFFSET),
    clean: (readU32(bytes, FLAGS_OFFSET) & FLAG_CLEAN) !== 0,
  };
  if (Number.isNaN(checkpoint.segmentBaseLsn) || Number.isNaN(checkpoint.position) || Number.isNaN(checkpoint.nextLsn)) throw fail('field above 2^53');
  return checkpoint;
}

export async function readCheckpoint(files: FileLayer, dataDir: string): Promise<Checkpoint | null> {
  const file = path.join(dataDir, CHECKPOINT_FILE);
  const bytes = await files.readFile(file);
  return bytes === null ? null : decodeCheckpoint(bytes, file);
}

export async function writeCheckpoint(files: FileLayer, dataDir: string, checkpoint: Checkpoint): Promise<void> {
  await writeFileAtomic(files, path.join(dataDir, CHECKPOINT_FILE), encodeCheckpoint(checkpoint));
}
