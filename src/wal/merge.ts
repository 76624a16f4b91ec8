/**
 * Merging small sealed segments: which adjacent ones become one file (segment-rewrite.ts does it).
 *
 * Reclaim rewrites a mostly dead segment with its live batches only, so a WAL whose logs keep a
 * little of every segment (a topic kept forever beside a busy queue) ends up as many small files:
 * the bytes follow live data, the file count does not, and every file costs a start its open and
 * scan, and two index files. Kafka's log cleaner groups small segments the same way
 * (`groupSegmentsBySize`).
 *
 * A run is a sequence of adjacent sealed segments, each under half of `segmentBytesMax`, whose
 * bytes together stay within `segmentBytesMax`; runs of two or more are merged. A merged segment
 * is a normal sealed segment: reclaim may rewrite it later, and it may merge again.
 */
import type { RewriteContext } from './segment-rewrite.js';
import { mergeSegments } from './segment-rewrite.js';
import type { Segment } from './segment.js';

export interface MergeResult {
  /** Segments that went into merged ones (a run of k counts k), and the merged segments made. */
  segmentsMerged: number;
  segmentsMade: number;
}

export interface MergeContext extends RewriteContext {
  /** The WAL's segments in LSN order, the newest (written to) last: it is never merged. */
  segments: readonly Segment[];
  segmentBytesMax: number;
}

/** Adjacent small sealed segments, in runs of two or more to merge. */
export function planMerges(segments: readonly Segment[], segmentBytesMax: number): Segment[][] {
  const runs: Segment[][] = [];
  let run: Segment[] = [];
  let bytes = 0;
  const close = () => {
    if (run.length >= 2) runs.push(run);
    run = [];
    bytes = 0;
  };
  for (const segment of segments.slice(0, -1)) {
    if (!segment.sealed || segment.size * 2 >= segmentBytesMax) {
      close();
      continue;
    }
    if (bytes + segment.size > segmentBytesMax) close();
    run.push(segment);
    bytes += segment.size;
  }
  close();
  return runs;
}

export async function mergeSmallSegments(context: MergeContext): Promise<MergeResult> {
  const result: MergeResult = { segmentsMerged: 0, segmentsMade: 0 };
  for (const run of planMerges(context.segments, context.segmentBytesMax)) {
    await mergeSegments(context, run);
    result.segmentsMerged += run.length;
    result.segmentsMade += 1;
  }
  return result;
}
