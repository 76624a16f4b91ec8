// Proves tombstones on a compacted topic: `topic.tombstone(key)` appends a record with no body
// that readers see as `msg.tombstone` with `msg.body === null`; once compaction has run (small
// segments, a pass every 100 ms, tombstoneRetentionMs 0), a reader from earliest sees neither the
// key's values nor its tombstone, while other keys keep their newest value. A tombstone without a
// key, and tombstoneRetentionMs without compact, are typed errors.
import { describe, expect, it } from 'vitest';
import { brokerScope } from '../support/broker-scope.js';
import { Broker, type Topic } from 'baton';
import { sleep } from '../support/wait.js';

const scope = brokerScope();
let broker: Broker | null = null;

interface Seen {
  offset: number;
  key: unknown;
  tombstone: boolean;
  body: unknown;
}

/** A fresh reader from earliest up to `lastOffset`. */
async function readAll(topic: Topic, lastOffset: number): Promise<Seen[]> {
  const seen: Seen[] = [];
  let done!: () => void;
  const finished = new Promise<void>((resolve) => (done = resolve));
  const sub = topic.subscribe({ from: 'earliest' }, (m) => {
    seen.push({ offset: m.offset, key: m.key, tombstone: m.tombstone, body: m.body });
    if (m.offset >= lastOffset) done();
  });
  try {
    await Promise.race([finished, sleep(10_000).then(() => Promise.reject(new Error(`reader did not reach ${lastOffset}`)))]);
  } finally {
    await sub.close();
  }
  return seen;
}

describe('topic tombstones', () => {
  it('tombstone - readers see it; compaction removes the key, values and tombstone alike', async () => {
    broker = await scope.start({ workers: 1, segmentBytesMax: 4096, compactionIntervalMs: 100 });
    const t = await broker.topic('profiles', { partitions: 1, compact: true, tombstoneRetentionMs: 0 });
    await t.send({ name: 'ann', v: 1 }, { key: 'ann' });
    await t.send({ name: 'bob', v: 1 }, { key: 'bob' });
    await t.send({ name: 'ann', v: 2 }, { key: 'ann' });
    const { offset: tombstoneOffset } = await t.tombstone('ann');
    const before = await readAll(t, tombstoneOffset);
    expect(before.at(-1)).toEqual({ offset: tombstoneOffset, key: 'ann', tombstone: true, body: null });
    // Fill past a few segments so the tombstone's segment is sealed and compacted.
    let last = tombstoneOffset;
    for (let i = 0; i < 150; i++) last = (await t.send({ filler: i, pad: 'x'.repeat(40) }, { key: `filler-${i % 5}` })).offset;
    const deadline = Date.now() + 10_000;
    let after: Seen[] = [];
    for (;;) {
      after = await readAll(t, last);
      if (!after.some((s) => s.key === 'ann')) break;
      if (Date.now() > deadline) throw new Error(`compaction did not remove key ann: ${JSON.stringify(after.filter((s) => s.key === 'ann'))}`);
      await sleep(100);
    }
    expect(after.filter((s) => s.key === 'bob').map((s) => s.body)).toEqual([{ name: 'bob', v: 1 }]);
    expect(after.every((s) => !s.tombstone)).toBe(true);
    const offsets = after.map((s) => s.offset);
    expect(offsets).toEqual([...offsets].sort((a, b) => a - b));
  });

  it('tombstone - bad input is a typed error', async () => {
    broker = await scope.start({ workers: 1 });
    const t = await broker.topic('plain', { partitions: 1 });
    await expect(t.tombstone(undefined as never)).rejects.toMatchObject({ code: 'BATON_INVALID_ARGUMENT' });
    await expect(broker.topic('bad', { tombstoneRetentionMs: 10 })).rejects.toMatchObject({ code: 'BATON_INVALID_ARGUMENT' });
    expect((await t.send('still works')).offset).toBe(0);
  });
});
