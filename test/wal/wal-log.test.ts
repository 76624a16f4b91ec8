// Proves the ActorLog contract on the WAL: a queue's log records acknowledgements so that
// replay (also after a restart) yields exactly the unacknowledged messages; snapshots round-trip
// and a damaged one is reported; offsets continue across restarts; timestamps find offsets; and
// every bad argument is refused with its typed error code.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Wal } from '../../src/wal/wal.js';
import { collect, tempDir, text, values } from './helpers.js';

describe('wal log', () => {
  it('wal log - a queue replays exactly its unacknowledged messages, before and after a restart', async () => {
    const dir = tempDir();
    const wal = await Wal.open(dir);
    const queue = await wal.openLog('queue:orders', { kind: 'queue' });
    await queue.append(Array.from({ length: 10 }, (_, i) => text(`m${i}`)));
    await queue.acknowledge([0, 1, 2]);
    await queue.acknowledge([7, 5]);
    await queue.append([text('m11')]); // offset 12: offsets 10 and 11 are the two ack records
    await queue.acknowledge([12, 3, 3]);
    const expected = ['m4', 'm6', 'm8', 'm9'];
    expect(await values(queue.replay())).toEqual(expected);
    expect((await collect(queue.replay())).map((r) => r.offset)).toEqual([4, 6, 8, 9]);
    await wal.close();
    const reopened = await Wal.open(dir);
    const again = await reopened.openLog('queue:orders', { kind: 'queue' });
    expect(await values(again.replay())).toEqual(expected);
    expect(again.nextOffset).toBe(14);
    await reopened.close();
  });

  it('wal log - offsets continue across restarts and replay starts where asked', async () => {
    const dir = tempDir();
    for (let round = 0; round < 3; round++) {
      const wal = await Wal.open(dir);
      const log = await wal.openLog('topic:t/0', { kind: 'topic' });
      const result = await log.append([text(`a${round}`), text(`b${round}`)]);
      expect(result).toEqual({ baseOffset: round * 2, lastOffset: round * 2 + 1 });
      await wal.close();
    }
    const wal = await Wal.open(dir);
    const log = await wal.openLog('topic:t/0', { kind: 'topic' });
    expect(await values(log.replay({ fromOffset: 3 }))).toEqual(['b1', 'a2', 'b2']);
    expect(await values(log.replay({ fromOffset: 99 }))).toEqual([]);
    expect(wal.logNames()).toEqual(['topic:t/0']);
    await wal.close();
  });

  it('wal log - snapshots round-trip, survive restarts, and a damaged one is corruption', async () => {
    const dir = tempDir();
    const wal = await Wal.open(dir);
    const log = await wal.openLog('group:g');
    expect(await log.readSnapshot()).toBeNull();
    await log.append([text('a'), text('b')]);
    await log.writeSnapshot({ offset: 2, state: Buffer.from('state-1') });
    await log.writeSnapshot({ offset: 2, state: Buffer.from('state-2') });
    await wal.close();
    const reopened = await Wal.open(dir);
    const again = await reopened.openLog('group:g');
    const snapshot = await again.readSnapshot();
    expect(snapshot?.offset).toBe(2);
    expect(Buffer.from(snapshot!.state).toString()).toBe('state-2');
    const file = path.join(dir, 'snapshots', readdirSync(path.join(dir, 'snapshots'))[0]!);
    expect(path.basename(file)).toBe('group%3Ag.snap');
    const bytes = readFileSync(file);
    bytes[bytes.byteLength - 1]! ^= 1;
    writeFileSync(file, bytes);
    await expect(again.readSnapshot()).rejects.toMatchObject({ code: 'BATON_CORRUPT_LOG', message: expect.stringContaining(file) });
    await reopened.close();
  });

  it('wal log - offsetForTimestamp finds the first record at or after a time', async () => {
    const dir = tempDir();
    const wal = await Wal.open(dir, { indexIntervalBytes: 64 });
    const log = await wal.openLog('topic:time', { kind: 'topic' });
    for (let i = 0; i < 20; i++) await log.append([{ value: Buffer.from(`t${i}`), timestampMs: 1_000 + i * 10 }]);
    expect(await log.offsetForTimestamp(0)).toBe(0);
    expect(await log.offsetForTimestamp(1_055)).toBe(6);
    expect(await log.offsetForTimestamp(1_190)).toBe(19);
    expect(await log.offsetForTimestamp(5_000)).toBeNull();
    await wal.close();
  });

  it('wal log - bad arguments are refused with typed errors', async () => {
    const dir = tempDir();
    await expect(Wal.open(dir, { fsync: 'sometimes' as never })).rejects.toMatchObject({ code: 'BATON_INVALID_ARGUMENT' });
    await expect(Wal.open(dir, { segmentBytesMax: 10 })).rejects.toMatchObject({ code: 'BATON_INVALID_ARGUMENT' });
    await expect(Wal.open(dir, { fsyncIntervalMs: 0 })).rejects.toMatchObject({ code: 'BATON_INVALID_ARGUMENT' });
    await expect(Wal.open('')).rejects.toMatchObject({ code: 'BATON_INVALID_ARGUMENT' });
    const wal = await Wal.open(dir, { batchBytesMax: 4096 });
    for (const name of ['', 'has space', '../x', 'é', 'x'.repeat(201)]) {
      await expect(wal.openLog(name)).rejects.toMatchObject({ code: 'BATON_INVALID_NAME' });
    }
    await expect(wal.openLog('q', { kind: 'stack' as never })).rejects.toMatchObject({ code: 'BATON_INVALID_ARGUMENT' });
    await expect(wal.openLog('q', { kind: 'queue', retentionMs: 5 })).rejects.toMatchObject({ code: 'BATON_INVALID_ARGUMENT' });
    await expect(wal.openLog('t', { kind: 'topic', retentionBytes: -1 })).rejects.toMatchObject({ code: 'BATON_INVALID_ARGUMENT' });
    const queue = await wal.openLog('q', { kind: 'queue' });
    await expect(wal.openLog('q', { kind: 'topic' })).rejects.toMatchObject({ code: 'BATON_INVALID_ARGUMENT' });
    expect(await wal.openLog('q', { kind: 'queue' })).toBe(queue);
    await expect(queue.append([])).rejects.toMatchObject({ code: 'BATON_INVALID_ARGUMENT' });
    await expect(queue.append([{ value: 'text' as never }])).rejects.toMatchObject({ code: 'BATON_INVALID_ARGUMENT' });
    await expect(queue.append([{ value: null, attributes: 256 }])).rejects.toMatchObject({ code: 'BATON_INVALID_ARGUMENT' });
    await expect(queue.append([{ value: null, timestampMs: -1 }])).rejects.toMatchObject({ code: 'BATON_INVALID_ARGUMENT' });
    await expect(queue.append([{ value: null, headers: [['k', 'v' as never]] }])).rejects.toMatchObject({ code: 'BATON_INVALID_ARGUMENT' });
    await expect(queue.append([{ value: new Uint8Array(5000) }])).rejects.toMatchObject({ code: 'BATON_MESSAGE_TOO_LARGE' });
    await expect(queue.acknowledge([0])).rejects.toMatchObject({ code: 'BATON_INVALID_ARGUMENT' }); // nothing appended yet
    await queue.append([text('x')]);
    await expect(queue.acknowledge([1.5])).rejects.toMatchObject({ code: 'BATON_INVALID_ARGUMENT' });
    await expect(queue.writeSnapshot({ offset: 9, state: new Uint8Array() })).rejects.toMatchObject({ code: 'BATON_INVALID_ARGUMENT' });
    await expect(collect(queue.replay({ fromOffset: -1 }))).rejects.toMatchObject({ code: 'BATON_INVALID_ARGUMENT' });
    const state = await wal.openLog('s');
    await expect(state.acknowledge([0])).rejects.toMatchObject({ code: 'BATON_INVALID_ARGUMENT' });
    const compacted = await wal.openLog('c', { kind: 'topic', compact: true });
    await expect(compacted.append([text('no key')])).rejects.toMatchObject({ code: 'BATON_INVALID_ARGUMENT' });
    await wal.close();
    await expect(queue.append([text('late')])).rejects.toMatchObject({ code: 'BATON_CLOSED' });
    await expect(wal.openLog('q2')).rejects.toMatchObject({ code: 'BATON_CLOSED' });
    await expect(collect(queue.replay())).rejects.toMatchObject({ code: 'BATON_CLOSED' });
  });
});
