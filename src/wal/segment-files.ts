/**
 * A segment's files as a group: removing them together, and the file a merge commits through
 * (`<first>.log.merge-<last base>`, segment-rewrite.ts mergeSegments), which recovery completes.
 */
import path from 'node:path';
import type { FileLayer } from './file-layer.js';
import { parseSegmentFileName, Segment } from './segment.js';

const MERGE_FILE = /^(\d{20})\.log\.merge-(\d{20})$/;

export function mergeFileName(firstPath: string, lastBase: number): string {
  return `${firstPath}.merge-${String(lastBase).padStart(20, '0')}`;
}

/**
 * Recovery's part of a merge: a committed `.merge-` file replaces its first segment and every
 * segment up to the last base it names (those still there are deleted first). Returns how many
 * merges it completed.
 */
export async function completeMerges(files: FileLayer, walDir: string, names: readonly string[], indexIntervalBytes: number): Promise<number> {
  let completed = 0;
  for (const name of names) {
    const match = MERGE_FILE.exec(name);
    if (match === null) continue;
    const firstBase = Number(match[1]);
    const lastBase = Number(match[2]);
    for (const other of names) {
      const base = parseSegmentFileName(other);
      if (base !== null && base > firstBase && base <= lastBase) await removeSegmentFiles(files, new Segment(walDir, base, indexIntervalBytes));
    }
    const first = new Segment(walDir, firstBase, indexIntervalBytes);
    // Its index files describe the old first segment: recovery writes them again.
    await files.remove(first.offsetIndexPath);
    await files.remove(first.timeIndexPath);
    await files.rename(path.join(walDir, name), first.path);
    await files.syncDir(walDir);
    completed += 1;
  }
  return completed;
}

/** A segment's files, index files first: no index outlives its segment. */
export async function removeSegmentFiles(files: FileLayer, segment: Segment): Promise<void> {
  await files.remove(segment.offsetIndexPath);
  await files.remove(segment.timeIndexPath);
  await files.remove(segment.path);
}
