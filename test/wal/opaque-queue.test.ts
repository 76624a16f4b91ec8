// Proves queue bookkeeping for opaque batches: acknowledgeRanges (and acknowledge, which keeps
// working beside it) hides fully acknowledged batches from replayBatchHeads and readBodiesInto
// and reports partial acknowledgements in `acked`, before and after a restart; delivery counts
// recorded with recordDeliveries survive a reopen, keep the latest count per offset, ignore
// acknowledged offsets, and are dropped once acknowledged (also across a restart, even when the
// acknowledgement went with a segment retention deleted); bad ranges and
// pairs are typed errors; and retention deletes the segments of a fully acknowledged queue log of
// opaque batches, its offsets surviving the deletion. Properties: the ack-range queries the
// readers use (covers, firstUnackedAt, within) agree with a set of offsets, and delivery pairs
// round-trip through their record encoding with the latest count per offset.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { BatchHead } from '../../src/wal/actor-storage.js';
import { AckRanges } from '../../src/wal/ack-ranges.js';
import { decodeDeliveryValue, encodeDeliveryValue, normalizeDeliveryPairs } from '../../src/wal/delivery-counts.js';
import { Wal } from '../../src/wal/wal.js';
import type { WalLog } from '../../src/wal/wal-log.js';
import { tempDir } from './helpers.js';

const body = (seed: number, length = 64) => new Uint8Array(length).fill(seed & 0xff);

async function heads(log: WalLog, fromOffset?: number): Promise<Array<Pick<BatchHead, 'baseOffset' | 'acked'>>> {
  const out: Array<Pick<BatchHead, 'baseOffset' | 'acked'>> = [];
  for await (const head of log.replayBatchHeads({ headBytes: 4, ...(fromOffset === undefined ? {} : { fromOffset }) })) out.push({ baseOffset: head.baseOffset, acked: head.acked });
  return out;
}

describe('wal opaque queues', () => {
  it('wal opaque queue - ack range queries agree with a set of offsets (property)', () => {
    const LIMIT = 120;
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(LIMIT - 1), fc.integer({ min: 1, max: 15 })), { maxLength: 20 }), fc.nat(LIMIT - 1), fc.integer({ min: 1, max: 30 }), (adds, start, length) => {
        const ranges = new AckRanges();
        const model = new Array<boolean>(LIMIT + 40).fill(false);
        for (const [from, n] of adds) {
          ranges.add(from, from + n);
          for (let o = from; o < from + n; o++) model[o] = true;
        }
        const end = start + length;
        expect(ranges.covers(start, end)).toBe(model.slice(start, end).every(Boolean));
        let firstUnacked = start;
        while (model[firstUnacked]) firstUnacked++;
        expect(ranges.firstUnackedAt(start)).toBe(firstUnacked);
        const within: number[] = [];
        for (let o = start; o < end; o++) {
          if (!model[o]) continue;
          if (within.length > 0 && within[within.length - 1] === o) within[within.length - 1] = o + 1;
          else within.push(o, o + 1);
        }
        expect(ranges.within(start, end)).toEqual(within);
      }),
      { numRuns: 300 },
    );
  });

  it('wal opaque queue - delivery pairs round-trip through their record value, the latest count per offset (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(1000), fc.nat(0xffff_ffff)), { minLength: 1, maxLength: 40 }), (list) => {
        const normalized = normalizeDeliveryPairs('queue:p', list.flat(), 1001);
        const latest = new Map<number, number>();
        for (const [offset, count] of list) latest.set(offset, count);
        expect(normalized).toEqual([...latest.entries()].sort((a, b) => a[0] - b[0]).flat());
        expect(decodeDeliveryValue(encodeDeliveryValue(normalized))).toEqual(normalized);
      }),
      { numRuns: 200 },
    );
  });

  it('wal opaque queue - acknowledgeRanges hides fully acked batches and reports partial acks, across a restart', async () => {
    const dir = tempDir();
    const wal = await Wal.open(dir, { retentionCheckIntervalMs: 0 });
    const queue = await wal.openLog('queue:r', { kind: 'queue' });
    for (let i = 0; i < 4; i++) await queue.appendOpaque(body(i), 10, i); // [0,10) [10,20) [20,30) [30,40)
    await queue.acknowledgeRanges([0, 10, 18, 20, 12, 15]); // out of order: sorted and merged
    expect(await heads(queue)).toEqual([
      { baseOffset: 10, acked: [12, 15, 18, 20] },
      { baseOffset: 20, acked: [] },
      { baseOffset: 30, acked: [] },
    ]);
    await queue.acknowledgeRanges([25, 26, 20, 24, 24, 25]); // adjacent ranges merge
    await queue.acknowledge([30, 31, 32, 33, 34, 35, 36, 37, 38, 39]); // offsets, as before
    expect(await heads(queue)).toEqual([
      { baseOffset: 10, acked: [12, 15, 18, 20] },
      { baseOffset: 20, acked: [20, 26] },
    ]);
    // Bodies too: a fully acknowledged batch is not copied.
    const target = new Uint8Array(1024);
    expect((await queue.readBodiesInto(0, target, 0, 1024)).batches.map((b) => b.baseOffset)).toEqual([10, 20]);
    await wal.close();

    const reopened = await Wal.open(dir, { retentionCheckIntervalMs: 0 });
    const again = await reopened.openLog('queue:r', { kind: 'queue' });
    expect(await heads(again)).toEqual([
      { baseOffset: 10, acked: [12, 15, 18, 20] },
      { baseOffset: 20, acked: [20, 26] },
    ]);
    expect(await heads(again, 25)).toEqual([{ baseOffset: 20, acked: [20, 26] }]);
    const next = again.nextOffset;
    await expect(again.acknowledgeRanges([5])).rejects.toMatchObject({ code: 'BATON_INVALID_ARGUMENT' });
    await expect(again.acknowledgeRanges([])).rejects.toMatchObject({ code: 'BATON_INVALID_ARGUMENT' });
    await expect(again.acknowledgeRanges([5, 5])).rejects.toMatchObject({ code: 'BATON_INVALID_ARGUMENT' });
    await expect(again.acknowledgeRanges([0, next + 1])).rejects.toMatchObject({ code: 'BATON_INVALID_ARGUMENT' });
    await expect(again.acknowledgeRanges([1.5, 3])).rejects.toMatchObject({ code: 'BATON_INVALID_ARGUMENT' });
    const state = await reopened.openLog('state:s');
    await state.appendOpaque(body(1), 2, 0);
    await expect(state.acknowledgeRanges([0, 1])).rejects.toMatchObject({ code: 'BATON_INVALID_ARGUMENT', message: expect.stringContaining('only queue logs') });
    // A state log's heads carry no ack information.
    expect(await heads(state)).toEqual([{ baseOffset: 0, acked: [] }]);
    await reopened.close();
  });

  it('wal opaque queue - delivery counts survive a reopen, keep the latest count, and are dropped once acknowledged', async () => {
    const dir = tempDir();
    const wal = await Wal.open(dir, { retentionCheckIntervalMs: 0 });
    const queue = await wal.openLog('queue:d', { kind: 'queue' });
    await queue.appendOpaque(body(1), 10, 0); // offsets 0..9
    await queue.recordDeliveries([3, 1, 1, 2, 3, 2]); // offset 3 twice: the later count wins
    expect(await queue.deliveryCounts()).toEqual([1, 2, 3, 2]);
    await queue.recordDeliveries([5, 1, 7, 4]);
    await queue.acknowledgeRanges([0, 4]);
    expect(await queue.deliveryCounts()).toEqual([5, 1, 7, 4]);
    // A delivery record control batch takes one offset, like an ack.
    expect(queue.nextOffset).toBe(13);
    await wal.close();

    const reopened = await Wal.open(dir, { retentionCheckIntervalMs: 0 });
    const again = await reopened.openLog('queue:d', { kind: 'queue' });
    expect(await again.deliveryCounts()).toEqual([5, 1, 7, 4]);
    await again.recordDeliveries([2, 9]); // 2 is acknowledged: ignored
    await again.recordDeliveries([7, 0, 5, 3]); // 0 forgets
    expect(await again.deliveryCounts()).toEqual([5, 3]);
    await again.acknowledge([5]);
    expect(await again.deliveryCounts()).toEqual([]);
    await expect(again.recordDeliveries([again.nextOffset, 1])).rejects.toMatchObject({ code: 'BATON_INVALID_ARGUMENT' });
    await expect(again.recordDeliveries([6, -1])).rejects.toMatchObject({ code: 'BATON_INVALID_ARGUMENT' });
    await expect(again.recordDeliveries([6])).rejects.toMatchObject({ code: 'BATON_INVALID_ARGUMENT' });
    const topic = await reopened.openLog('topic:t/0', { kind: 'topic' });
    await expect(topic.recordDeliveries([0, 1])).rejects.toMatchObject({ code: 'BATON_INVALID_ARGUMENT', message: expect.stringContaining('only queue logs') });
    await again.recordDeliveries([8, 2]);
    await reopened.close();

    const third = await Wal.open(dir, { retentionCheckIntervalMs: 0 });
    expect(await (await third.openLog('queue:d', { kind: 'queue' })).deliveryCounts()).toEqual([8, 2]);
    await third.close();
  });

  it('wal opaque queue - a stale delivery record whose acknowledgement retention deleted is not resurrected by recovery', async () => {
    const dir = tempDir();
    const options = { segmentBytesMax: 4096, retentionCheckIntervalMs: 0 } as const;
    const wal = await Wal.open(dir, options);
    const queue = await wal.openLog('queue:stale', { kind: 'queue' });
    await queue.appendOpaque(body(1, 1500), 5, 0);
    await queue.appendOpaque(body(2, 1500), 5, 0);
    await queue.acknowledgeRanges([0, 10]); // offset 10, still in the first segment
    await queue.appendOpaque(body(3, 1500), 5, 0); // rolls: offsets 11..15 in the second segment
    expect(wal.segments().length).toBe(2);
    await queue.recordDeliveries([3, 2]); // recorded after its ack: ignored
    expect(await queue.deliveryCounts()).toEqual([]);
    expect((await wal.enforceRetention()).segmentsDeleted).toBe(1); // the ack record goes with it
    await wal.close();
    const reopened = await Wal.open(dir, options);
    const again = await reopened.openLog('queue:stale', { kind: 'queue' });
    expect(again.startOffset).toBe(11);
    expect(await again.deliveryCounts()).toEqual([]);
    expect((await heads(again)).map((h) => h.baseOffset)).toEqual([11]);
    await reopened.close();
  });

  it('wal opaque queue - retention deletes the segments of a fully acknowledged queue log of opaque batches', async () => {
    const dir = tempDir();
    const wal = await Wal.open(dir, { segmentBytesMax: 4096, retentionCheckIntervalMs: 0 });
    const queue = await wal.openLog('queue:ret', { kind: 'queue' });
    for (let i = 0; i < 40; i++) await queue.appendOpaque(body(i, 300), 5, i); // batch i: [5i, 5i + 5)
    await queue.recordDeliveries([102, 1]);
    const segments = wal.segments().length;
    expect(segments).toBeGreaterThan(3);
    // The first half acknowledged: the segments holding only it go.
    await queue.acknowledgeRanges([0, 100]);
    const first = await wal.enforceRetention();
    expect(first.segmentsDeleted).toBeGreaterThan(0);
    expect(first.reasons.join(' ')).toContain('offset 100 unacknowledged');
    expect((await heads(queue))[0]).toEqual({ baseOffset: 100, acked: [] });
    expect(queue.startOffset).toBeGreaterThan(0);
    // All of it: every sealed segment goes.
    await queue.acknowledgeRanges([100, 200]);
    expect(await queue.deliveryCounts()).toEqual([]);
    const second = await wal.enforceRetention();
    expect(first.segmentsDeleted + second.segmentsDeleted).toBe(segments - 1);
    expect(wal.segments().length).toBe(1);
    expect(await heads(queue)).toEqual([]);
    const next = queue.nextOffset;
    await wal.close();

    const reopened = await Wal.open(dir, { segmentBytesMax: 4096, retentionCheckIntervalMs: 0 });
    const again = await reopened.openLog('queue:ret', { kind: 'queue' });
    expect(again.nextOffset).toBe(next);
    expect(await heads(again)).toEqual([]);
    expect(await again.appendOpaque(body(9), 2, 0)).toEqual({ baseOffset: next, lastOffset: next + 1 });
    await reopened.close();
  });
});
