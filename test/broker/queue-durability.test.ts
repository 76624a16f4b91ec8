// Proves what queues keep across failures: on a data directory, every confirmed message that was
// not acknowledged is there after a broker restart (and acknowledged ones are not); a second
// broker on the same directory is refused; and a queue actor crash or its host's death under a
// stream of confirmed publishes loses no confirmed message (each delivered at least once).
import { describe, expect, it } from 'vitest';
import { brokerScope } from '../support/broker-scope.js';
import { Broker } from 'baton';
import { until } from '../support/wait.js';

const scope = brokerScope();
let broker: Broker | null = null;
let dataDir: string | null = null;


describe('queue durability', () => {
  it('queue - unacknowledged confirmed messages survive a broker restart on the same dataDir; acked ones do not', async () => {
    dataDir = await scope.tempDir('queue');
    broker = await scope.start({ dataDir, workers: 2 });
    let q = await broker.queue('jobs', { maxPriority: 2 });
    await q.sendBatch(Array.from({ length: 50 }, (_, i) => ({ body: { n: i }, priority: i % 3 })));
    const acked: number[] = [];
    for await (const m of q.messages({ prefetch: 10 })) {
      acked.push((m.body as { n: number }).n);
      m.ack();
      if (acked.length === 20) break;
    }
    await expect(Broker.start({ dataDir, workers: 1 })).rejects.toMatchObject({ code: 'BATON_DATA_DIR_LOCKED' });
    await broker.close();

    broker = await scope.start({ dataDir, workers: 2 });
    q = await broker.queue('jobs', { maxPriority: 2 });
    expect(await q.stats()).toMatchObject({ ready: 30, unacked: 0 });
    const rest: number[] = [];
    for await (const m of q.messages()) {
      rest.push((m.body as { n: number }).n);
      m.ack();
      if (rest.length === 30) break;
    }
    expect(new Set([...acked, ...rest]).size).toBe(50);
    expect(rest.filter((n) => acked.includes(n))).toEqual([]);
  });

  it.each(['throw', 'exit', 'terminate'] as const)('queue - the queue actor failing (%s) under a stream of publishes loses no confirmed message', async (mode) => {
    broker = await scope.start({ workers: 2, supervisor: { backoffMs: [1, 10] } });
    const restarts: unknown[] = [];
    broker.on('restart', (e) => restarts.push(e));
    const q = await broker.queue('stream');
    const received = new Set<number>();
    const consumer = q.consume((m) => void received.add((m.body as { n: number }).n), { prefetch: 64 });
    const confirmed: number[] = [];
    let crashed = false;
    for (let n = 0; n < 3000; n++) {
      try {
        await q.send({ n });
        confirmed.push(n);
      } catch {
        // A publish in flight when the queue failed may be refused or time out: not confirmed.
      }
      if (n === 1000) {
        await broker.faults.crashActor('queue:stream', mode);
        crashed = true;
      }
    }
    expect(crashed).toBe(true);
    await until(() => restarts.length > 0, 'the restart');
    await until(() => confirmed.every((n) => received.has(n)), `every confirmed message (${confirmed.length})`);
    expect(confirmed.length).toBeGreaterThan(2900);
    await consumer.close();
  });
});

describe('queue durability: what a start finds expired', () => {
  it('queue - messages that expired while the broker was down are dead-lettered at its start, their bodies read back from disk first', async () => {
    // The queue actor dead-letters them during its start, before its declaration has returned
    // to the broker's thread; its request for an extent to read the bodies into was once dropped
    // then, and the queue waited for the answer forever (1 start in 4 in the crash soak's case).
    dataDir = await scope.tempDir('expired');
    const options = { dataDir, workers: 1, fsync: 'never' } as const;
    const queueOptions = { deadLetter: 'expired-dlq', messageTtlMs: 150, memoryBytes: 0 };
    let sent = 0;
    for (let start = 0; start < 4; start++) {
      broker = await scope.start(options);
      const dlq = await broker.queue('expired-dlq');
      const q = await broker.queue('expiring', queueOptions);
      await until(async () => (await dlq.stats()).ready === sent && (await q.stats()).ready === 0, `the ${sent} expired messages dead-lettered (start ${start})`, 10_000);
      for (let i = 0; i < 20; i++) await q.send({ start, i });
      sent += 20;
      await broker.close();
      broker = null;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  });
});
