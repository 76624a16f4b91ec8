// Proves the queue message layout: a message round-trips with every field, whether its id is one
// the broker generated (sent as prefix bytes + sequence) or one the sender gave (sent as text);
// the scan finds the same end as the decoder; a generated id from another process's prefix reads
// back as that process wrote it. End to end: the ids sendBatch and send return are the ids
// consumers see, dead letters keep them, and they survive a restart on the same dataDir.
import { describe, expect, it } from 'vitest';
import { ID_PREFIX_BYTES, localMessageId, nextMessageSequence } from '../../src/broker/message-ids.js';
import {
  emptyQueueMessageFields,
  encodedQueueMessageBytes,
  encodeQueueMessage,
  type QueueMessage,
  readQueueMessage,
  scanQueueMessage,
} from '../../src/broker/queue-message.js';
import { brokerScope } from '../support/broker-scope.js';
import { until } from '../support/wait.js';

const scope = brokerScope();

function message(overrides: Partial<QueueMessage>): QueueMessage {
  return {
    id: 'given-id',
    body: new Uint8Array([1, 2, 3]),
    headers: { h: 'v', 'ü': 'ß' },
    priority: 3,
    timestampMs: 1_700_000_000_000,
    expiresAtMs: 0,
    notBeforeMs: 5,
    deliveries: 2,
    correlationId: 'corr',
    replyTo: 'reply',
    ...overrides,
  };
}

function roundTrip(original: QueueMessage): QueueMessage {
  const bytes = encodeQueueMessage(original);
  expect(bytes.byteLength).toBe(encodedQueueMessageBytes(original));
  const { message: decoded, end } = readQueueMessage(bytes, 0, true);
  expect(end).toBe(bytes.byteLength);
  expect(scanQueueMessage(bytes, new DataView(bytes.buffer), 0, emptyQueueMessageFields()).end).toBe(bytes.byteLength);
  return decoded;
}

describe('queue message layout', () => {
  it('queue message - a generated id travels as 16 bytes and reads back as the same text', () => {
    const sequence = nextMessageSequence();
    const generated = message({ id: localMessageId(sequence), idSequence: sequence });
    const given = message({ id: localMessageId(sequence) });
    const decoded = roundTrip(generated);
    const { idSequence: _, ...expected } = generated;
    expect(decoded).toStrictEqual(expected);
    expect(roundTrip(given)).toStrictEqual(given);
    // Smaller than the same id as text (2-byte length + its characters).
    expect(encodedQueueMessageBytes(generated)).toBe(encodedQueueMessageBytes(given) - (2 + given.id.length) + 16);
  });

  it("queue message - a generated id from another process's prefix reads as that process's text", () => {
    const local = encodeQueueMessage(message({ id: localMessageId(35), idSequence: 35 }));
    const foreign = local.slice();
    // The prefix travels right after the fixed fields.
    expect([...local.subarray(32, 40)]).toEqual([...ID_PREFIX_BYTES]);
    foreign.set([0xde, 0xad, 0xbe, 0xef, 0x00, 0x01, 0x02, 0x03], 32);
    expect(readQueueMessage(foreign, 0, false).message.id).toBe('deadbeef00010203-z');
    // And the local one again: the prefix cache follows the bytes, not the last call.
    expect(readQueueMessage(local, 0, false).message.id).toBe(localMessageId(35));
  });

  it('queue message - ids from sendBatch and send are the ids consumers and dead letters see, across a restart', async () => {
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
