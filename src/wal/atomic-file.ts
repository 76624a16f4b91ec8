/**
 * Replaces a small file atomically and durably: write a temp file, fsync it, rename it over the
 * target, fsync the directory. A crash at any point leaves either the old file or the new one,
 * never a mixture, and once this resolves the new one survives power loss. The directory fsync
 * is not optional: ALICE (OSDI '14) found applications that assumed a rename was durable without
 * it and lost the file.
 */
import path from 'node:path';
import type { FileLayer } from './file-layer.js';

export const TEMP_SUFFIX = '.tmp';

export async function writeFileAtomic(files: FileLayer, target: string, bytes: Uint8Array): Promise<void> {
  const temp = `${target}${TEMP_SUFFIX}`;
  await files.remove(temp);
  const file = await files.open(temp, 'create-new');
  try {
    let written = 0;
    while (written < bytes.byteLength) {
      written += await file.write(bytes, written, bytes.byteLength - written, written);
    }
    await file.sync();
  } finally {
    await file.close();
  }
  await files.rename(temp, target);
  await files.syncDir(path.dirname(target));
}
