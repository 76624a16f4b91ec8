// Proves the storage thread's pass-through append: a batch an actor host encoded
// (encodeRecordInputs) is written with its LSN, offset and CRC stamped, replays record for record
// after a restart (CRCs checked on recovery), interleaves with ordinary appends, and a batch for
// another log or a compacted log's record without a key is refused with its typed error.
import { describe, expect, it } from 'vitest';
import { encodeRecordInputs } from '../../src/storage/record-wire.js';
import { Wal } from '../../src/wal/wal.js';
import { collect, tempDir, text } from './helpers.js';

const name = (log: string) => Buffer.from(log, 'utf8');

describe('wal appendEncoded', () => {
  it('wal appendEncoded - encoded batches and plain appends share offsets and replay after a restart', async () => {
    const dir = tempDir();
    const wal = await Wal.open(dir);
    const log = await wal.openLog('queue:pass', { kind: 'queue' });
    const first = await log.appendEncoded!(encodeRecordInputs([text('a'), { value: Buffer.from('b'), key: Buffer.from('k'), headers: [['h', Buffer.from('v')]] }], 1_000, name('queue:pass')));
    expect(first).toEqual({ baseOffset: 0, lastOffset: 1 });
    expect(await log.append([text('c')])).toEqual({ baseOffset: 2, lastOffset: 2 });
    expect(await log.appendEncoded!(encodeRecordInputs([text('d'), text('e')], 2_000, name('queue:pass')))).toEqual({ baseOffset: 3, lastOffset: 4 });
    await log.acknowledge([2]);
    await wal.close();

    const reopened = await Wal.open(dir);
    const again = await reopened.openLog('queue:pass', { kind: 'queue' });
    const records = await collect(again.replay());
    expect(records.map((r) => [r.offset, Buffer.from(r.value!).toString()])).toEqual([
      [0, 'a'],
      [1, 'b'],
      [3, 'd'],
      [4, 'e'],
    ]);
    expect(Buffer.from(records[1]!.key!).toString()).toBe('k');
    expect(records[1]!.headers.map(([h, v]) => [h, Buffer.from(v).toString()])).toEqual([['h', 'v']]);
    expect(records[0]!.timestampMs).toBe(1_000);
    expect(records[2]!.timestampMs).toBe(2_000);
    await reopened.close();
  });

  it('wal appendEncoded - a batch encoded for another log, or a compacted record without a key, is refused and nothing is written', async () => {
    const dir = tempDir();
    const wal = await Wal.open(dir);
    const log = await wal.openLog('topic:t/0', { kind: 'topic' });
    await expect(log.appendEncoded!(encodeRecordInputs([text('x')], 1, name('topic:other/0')))).rejects.toMatchObject({ code: 'BATON_INVALID_ARGUMENT' });
    await expect(log.appendEncoded!(new Uint8Array(10))).rejects.toMatchObject({ code: 'BATON_INVALID_ARGUMENT' });
    const compacted = await wal.openLog('topic:kv/0', { kind: 'topic', compact: true });
    await expect(compacted.appendEncoded!(encodeRecordInputs([text('no key')], 1, name('topic:kv/0')))).rejects.toMatchObject({ code: 'BATON_INVALID_ARGUMENT' });
    expect(await compacted.appendEncoded!(encodeRecordInputs([text('v', 'k')], 1, name('topic:kv/0')))).toEqual({ baseOffset: 0, lastOffset: 0 });
    expect(log.nextOffset).toBe(0);
    expect((await collect(compacted.replay())).map((r) => Buffer.from(r.value!).toString())).toEqual(['v']);
    await wal.close();
  });
});
