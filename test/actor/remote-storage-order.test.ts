// Proves that a host's requests reach the storage thread in the order they were made, even when
// its request ring is full: a request that finds no room waits in line, and a smaller one made
// after it (which would fit) does not overtake it; each gets its own answer. Appends of one log
// are confirmed in the order they were sent, so this order is what keeps a queue's publishes in
// order. The storage side here is a ring reader on this thread that answers what it reads.
import { MessageChannel } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import { RemoteActorStorage } from '../../src/storage/remote-storage.js';
import { STORAGE_APPEND, STORAGE_CONFIRMED } from '../../src/storage/storage-protocol.js';
import { allocateRing, attachWriter, RingReader } from '../../src/ring/index.js';

const GENERATION = 7;
const opened: { storage: RemoteActorStorage; channel: MessageChannel }[] = [];

afterEach(async () => {
  for (const { storage, channel } of opened.splice(0)) {
    await storage.close();
    channel.port1.close();
    channel.port2.close();
  }
});

describe('remote storage requests', () => {
  it('remote storage - requests that find the ring full keep their order and each gets its answer', async () => {
    const requests = allocateRing({ capacity: 4096, kind: 'single-producer' });
    const responses = allocateRing({ capacity: 1 << 16, kind: 'single-producer' });
    const channel = new MessageChannel();
    const storage = new RemoteActorStorage({ requests, responses, port: channel.port1, generation: GENERATION }, false);
    opened.push({ storage, channel });

    // Bodies tagged by their bytes. A 400-byte body takes 424 bytes of ring: nine fill it to
    // 3,816 of 4,096, the tenth does not fit, and the eleventh (16 bytes: 40 of ring) would.
    const sizes = [...Array.from({ length: 10 }, () => 400), 16, 400, 8];
    const answers = sizes.map((size, i) => storage.request(STORAGE_APPEND, 1, new Uint8Array(size).fill(i + 1)));

    const reader = new RingReader(requests);
    const answerWriter = attachWriter(responses);
    const seen: number[] = [];
    while (seen.length < sizes.length) {
      reader.drain((record) => {
        const payload = record.payload();
        expect(new DataView(payload.buffer, payload.byteOffset).getUint32(0, true)).toBe(GENERATION);
        const tag = payload[4]!;
        seen.push(tag);
        expect(payload.byteLength).toBe(4 + sizes[tag - 1]!);
        expect(payload.subarray(4).every((byte) => byte === tag)).toBe(true);
        const offsets = new Float64Array([tag * 10, tag * 10 + 1]);
        expect(answerWriter.tryWrite(STORAGE_CONFIRMED, GENERATION, new Uint8Array(offsets.buffer), record.meta)).toBe(true);
      }, 2);
      // Let the waiting requests see the freed space.
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    expect(seen).toEqual(sizes.map((_, i) => i + 1));
    expect(await Promise.all(answers)).toEqual(sizes.map((_, i) => ({ baseOffset: (i + 1) * 10, lastOffset: (i + 1) * 10 + 1 })));
  });
});
