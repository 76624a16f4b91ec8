// Proves what a consumer may rely on when it reads a delivery: a message acked before anything
// of it was read still reads back whole afterwards (id, headers, body, bytes), long after its
// memory was reused by later messages; `msg.bytes` is a copy that stays as it was; a message read
// in place (`msg.buffer` at `msg.bodyOffset`, `msg.bodyLength` bytes) holds its payload until it
// is settled, and reading it after that is a typed error (BATON_ALREADY_ACKED), never another
// message's bytes.
import { describe, expect, it } from 'vitest';
import type { QueueDelivery } from 'baton';
import { brokerScope } from '../support/broker-scope.js';
import { until } from '../support/wait.js';

// Freed message memory is overwritten at once (extent-allocator.ts): a read after free shows.
process.env['BATON_POISON_FREED'] = '1';
const scope = brokerScope();

describe('queue deliveries', () => {
  it('delivery - acked unread, it still reads back whole after its memory was reused; bytes is a copy', async () => {
    const broker = await scope.start({ workers: 2 });
    const q = await broker.queue('later');
    await q.sendBatch(Array.from({ length: 50 }, (_, n) => ({ body: { n, text: 'x'.repeat(n) }, headers: { n: String(n) }, id: `m-${n}` })));
    const kept: QueueDelivery[] = [];
    const c = q.consume((m) => {
      kept.push(m);
      m.ack();
    }, { ack: 'manual' });
    await until(() => kept.length === 50, 'the first messages');
    // Enough traffic after them that their extents are freed and written over.
    await q.sendBatch(Array.from({ length: 20_000 }, (_, n) => ({ other: n, filler: 'y'.repeat(100) })));
    await until(async () => (await q.stats()).ready === 0 && (await q.stats()).unacked === 0 && kept.length === 20_050, 'the filler');
    await c.close();
    for (let n = 0; n < 50; n++) {
      const m = kept[n]!;
      expect(m.id).toBe(`m-${n}`);
      expect(m.headers).toEqual({ n: String(n) });
      expect(m.body).toEqual({ n, text: 'x'.repeat(n) });
      expect(JSON.parse(Buffer.from(m.bytes).toString())).toEqual({ n, text: 'x'.repeat(n) });
    }
  });

  it('delivery - read in place until it is settled; after, reading it is BATON_ALREADY_ACKED', async () => {
    const broker = await scope.start({ workers: 2 });
    const q = await broker.queue('in-place', { codec: 'raw' });
    await q.sendBatch(Array.from({ length: 100 }, (_, n) => new Uint8Array([n, n, n])));
    const seen: number[] = [];
    let last: QueueDelivery | null = null;
    const c = q.consume((m) => {
      const at = m.bodyOffset;
      expect(m.bodyLength).toBe(3);
      seen.push(m.buffer[at]! + m.buffer[at + 1]! + m.buffer[at + 2]!);
      last = m;
    });
    await until(() => seen.length === 100, 'every message');
    await c.close();
    expect(seen).toEqual(Array.from({ length: 100 }, (_, n) => 3 * n));
    expect(() => last!.buffer).toThrow(expect.objectContaining({ code: 'BATON_ALREADY_ACKED' }));
    expect(() => last!.body).toThrow(expect.objectContaining({ code: 'BATON_ALREADY_ACKED' }));
  });
});
