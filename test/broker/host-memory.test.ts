// Proves host threads have a heap limit and a long queue stays within it: a durable queue of
// 200,000 one-message batches (~80 MB of metadata if all were known: 398 B each, bench/queue-heap.ts) in 64 MiB hosts is sent, survives a broker restart and is delivered
// whole (its batches past memoryBatches paged from the log, at the start too); and a host that
// does run out of memory (paging disabled) is restarted by the supervisor, not the process.
import { describe, expect, it } from 'vitest';
import type { Broker, Queue } from 'baton';
import { brokerScope } from '../support/broker-scope.js';
import { until } from '../support/wait.js';

const scope = brokerScope();
const BATCHES = 200_000;

/** One batch per message: each send goes out on its own turn of the event loop (not awaited: confirms come in behind). */
async function sendSeparately(queue: Queue, count: number, stop: () => boolean = () => false): Promise<number> {
  let sent = 0;
  let failed: unknown = null;
  for (; sent < count && !stop(); sent++) {
    queue.send({ n: sent }).catch((error: unknown) => (failed ??= error));
    await new Promise(setImmediate);
  }
  if (stop()) return sent;
  await queue.send({ n: sent }).catch((error: unknown) => (failed ??= error));
  if (failed !== null) throw failed;
  return sent + 1;
}

describe('host heap limit (hostHeapMb)', () => {
  it('queue - a durable queue of more one-message batches than a 64 MiB host could know restarts and delivers them all', { timeout: 120_000 }, async () => {
    const dataDir = await scope.tempDir('host-heap');
    // 64 MiB: besides what it knows, a host holds the publishes it has read and not yet confirmed
    // (bounded by its 4 MiB inbox ring); at 32 MiB this test failed once on a loaded machine.
    const options = { dataDir, workers: 1, fsync: 'never', hostHeapMb: 64 } as const;
    let broker: Broker = await scope.start(options);
    let q = await broker.queue('long', { memoryBatches: 1000 });
    const total = await sendSeparately(q, BATCHES);
    expect((await q.stats()).ready).toBe(total);
    await broker.close();

    broker = await scope.start(options);
    const events: string[] = [];
    broker.on('restart', (e: { actor: string; reason: string }) => events.push(`${e.actor}: ${e.reason}`));
    q = await broker.queue('long', { memoryBatches: 1000 });
    const stats = await q.stats();
    expect(stats.ready).toBe(total);
    expect(stats.paged).toBeGreaterThanOrEqual(total - 1000);
    let next = 0;
    let outOfOrder = 0;
    const consumer = q.consume(
      (m) => {
        if ((m.body as { n: number }).n !== next) outOfOrder++;
        next++;
      },
      { prefetch: 256 },
    );
    await until(() => next >= total, `${total} messages`, 90_000);
    await consumer.close();
    expect(outOfOrder).toBe(0);
    expect(events).toEqual([]);
  });

  it('queue - a host past hostHeapMb is replaced by the supervisor and the process goes on', { timeout: 120_000 }, async () => {
    const broker = await scope.start({ dataDir: await scope.tempDir('host-oom'), workers: 1, fsync: 'never', hostHeapMb: 32, supervisor: { maxRestarts: 1 } });
    const stopped: string[] = [];
    broker.on('actor-stopped', (e: { reason: string }) => stopped.push(e.reason));
    // Paging off: every batch is known in memory, so the host's heap runs out.
    const q = await broker.queue('unbounded', { memoryBatches: 2 ** 31 });
    await sendSeparately(q, 2_000_000, () => stopped.length > 0);
    await until(() => stopped.length > 0, 'the queue actor to be stopped', 60_000);
    expect(stopped[0]).toMatch(/ran out of memory/);
    // The broker itself is fine: another queue on a new host works.
    const other = await broker.queue('other', { durable: false });
    await other.send({ ok: true });
    expect((await other.stats()).ready).toBe(1);
  });
});
