// Proves message ids end to end: the ids sendBatch and send return are the ids consumers and
// dead letters see, across a broker restart on the same data directory; a generated id is the
// producing process's prefix and counter, and a batch written by another process (another
// prefix) reads as that process's text, the prefix cache following the bytes, not the last call.
import { describe, expect, it } from 'vitest';
import { getCodec } from '../../src/broker/codec.js';
import { ID_PREFIX_BYTES, localMessageId } from '../../src/broker/message-ids.js';
import { encodeQueueItems, messageId, QB_HEADER_BYTES, QB_ID_BASE, QB_ID_PREFIX } from '../../src/broker/queue/queue-batch.js';
import { Arena, ARENA_GROW_BYTES } from '../../src/log/arena.js';
import { ExtentAllocator } from '../../src/log/extent-allocator.js';
import { ExtentTableWriter } from '../../src/log/extent-table.js';
import { LogWriter } from '../../src/log/log-writer.js';
import { brokerScope } from '../support/broker-scope.js';
import { until } from '../support/wait.js';

const scope = brokerScope();

describe('queue ids', () => {
  it('queue ids - a generated id is this process\'s prefix and counter; another prefix reads as its own text', () => {
    const arena = Arena.create(ARENA_GROW_BYTES);
    const allocator = new ExtentAllocator(arena);
    const writer = new LogWriter(arena, allocator, new ExtentTableWriter(arena, allocator));
    const [local] = encodeQueueItems({ name: 'q', arena, writer, codec: getCodec('raw'), maxPriority: 0 }, ['a', 'b'], Date.now());
    const base = arena.f64[(local!.address + QB_ID_BASE) >>> 3]!;
    const record0 = local!.address + QB_HEADER_BYTES;
    expect(messageId(arena, local!.address, 0, record0)).toBe(localMessageId(base));
    expect([...arena.bytes.subarray(local!.address + QB_ID_PREFIX, local!.address + QB_ID_PREFIX + 8)]).toEqual([...ID_PREFIX_BYTES]);
    const [foreign] = encodeQueueItems({ name: 'q', arena, writer, codec: getCodec('raw'), maxPriority: 0 }, ['c'], Date.now());
    arena.bytes.set([0xde, 0xad, 0xbe, 0xef, 0x00, 0x01, 0x02, 0x03], foreign!.address + QB_ID_PREFIX);
    arena.f64[(foreign!.address + QB_ID_BASE) >>> 3] = 35;
    expect(messageId(arena, foreign!.address, 0, foreign!.address + QB_HEADER_BYTES)).toBe('deadbeef00010203-z');
    expect(messageId(arena, local!.address, 0, record0)).toBe(localMessageId(base));
  });

  it('queue ids - ids from sendBatch and send are the ids consumers and dead letters see, across a restart', async () => {
    const dataDir = await scope.tempDir('message-ids');
    let broker = await scope.start({ workers: 1, dataDir });
    await broker.queue('ids-dead');
    let q = await broker.queue('ids', { deadLetter: 'ids-dead' });
    const { ids } = await q.sendBatch(['a', { body: 'b', priority: 0 }, 'c']);
    const { id: single } = await q.send('d');
    const { id: given } = await q.send('e', { id: 'mine' });
    const sent = [...ids, single, given];
    expect(new Set(sent).size).toBe(5);
    expect(given).toBe('mine');
    await broker.close();

    broker = await scope.start({ workers: 1, dataDir });
    const dead = await broker.queue('ids-dead');
    q = await broker.queue('ids', { deadLetter: 'ids-dead' });
    const seen: string[] = [];
    const consumer = q.consume(
      (m) => {
        seen.push(m.id);
        if (m.body === 'c') m.nack({ requeue: false });
        else m.ack();
      },
      { ack: 'manual' },
    );
    await until(() => seen.length === 5, 'five deliveries after the restart');
    expect(seen).toEqual(sent);
    await consumer.close();
    const deadIds: string[] = [];
    const deadConsumer = dead.consume((m) => void deadIds.push(m.id));
    await until(() => deadIds.length === 1, 'the dead letter');
    expect(deadIds).toEqual([ids[2]]);
    await deadConsumer.close();
  });
});
