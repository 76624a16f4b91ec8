// Proves recovery from storage errors while the broker runs, from the public entry with real
// threads: after an EIO (injected through Broker.start's testing hook) or a real ENOSPC (a small
// tmpfs this test mounts, skipped where mounting is not allowed), the publish that hit it is
// refused with BATON_STORAGE_FAILED and never confirmed, the broker reports 'storage-failed' with
// the cause, reopens the log by itself ('storage-recovered'), and publishes work again; every
// confirmed message is delivered, before and after, and nothing is delivered that was not sent.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmdirSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Broker, Queue } from '../../src/index.js';
import { brokerScope } from '../support/broker-scope.js';
import { until } from '../support/wait.js';

const scope = brokerScope();

interface StorageEventSeen {
  type: string;
  reason: string;
}

function watchStorage(broker: Broker): StorageEventSeen[] {
  const events: StorageEventSeen[] = [];
  broker.on('storage-failed', (event: StorageEventSeen) => events.push(event));
  broker.on('storage-recovered', (event: StorageEventSeen) => events.push(event));
  return events;
}

/** Consumes until every confirmed number arrived; returns what arrived (each number once at least). */
async function drain(queue: Queue, confirmed: Set<number>, attempted: Set<number>): Promise<Set<number>> {
  const received = new Set<number>();
  const consumer = queue.consume((message) => {
    const { n } = message.body as { n: number };
    expect(attempted.has(n), `received ${n}, which was never sent`).toBe(true);
    received.add(n);
  });
  await until(() => [...confirmed].every((n) => received.has(n)), 'every confirmed message delivered');
  await consumer.close();
  return received;
}

/** Whether this process may mount a tmpfs (root with CAP_SYS_ADMIN): the reason when not. */
function tmpfsUnavailable(): string | null {
  if (process.platform !== 'linux') return 'not Linux';
  const dir = mkdtempSync(path.join(os.tmpdir(), 'baton-mount-probe-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', dir], { stdio: 'ignore' });
    execFileSync('umount', [dir], { stdio: 'ignore' });
    return null;
  } catch {
    return 'mounting a tmpfs is not allowed here (needs root)';
  } finally {
    rmdirSync(dir);
  }
}

describe('storage failure while running', () => {
  it('storage failure - an injected EIO on fdatasync: the publish is refused, the log is reopened, publishes go on, nothing confirmed is lost', async () => {
    const dataDir = await scope.tempDir('storage-eio');
    const broker = await scope.start({ workers: 1, dataDir, testing: { storageFaults: true } });
    const events = watchStorage(broker);
    const queue = await broker.queue('jobs');
    const attempted = new Set<number>();
    const confirmed = new Set<number>();
    const send = async (n: number) => {
      attempted.add(n);
      await queue.send({ n });
      confirmed.add(n);
    };
    for (let n = 0; n < 50; n++) await send(n);
    const topic = await broker.topic('events', { partitions: 1 });
    const records: number[] = [];
    for (let n = 0; n < 10; n++) records.push((await topic.send({ n })).offset);

    await broker.faults.failStorage({ op: 'datasync', code: 'EIO', times: 1 });
    const refused = await send(50).then(
      () => null,
      (error: unknown) => error as { code?: string; message: string },
    );
    expect(refused?.code).toBe('BATON_STORAGE_FAILED');
    expect(confirmed.has(50)).toBe(false);
    await until(() => events.some((e) => e.type === 'storage-recovered'), "the 'storage-recovered' event");
    expect(events[0]!.type).toBe('storage-failed');
    expect(events[0]!.reason).toMatch(/EIO/);
    const health = (await broker.stats()).storage.health;
    expect(health).toMatchObject({ state: 'ok', failures: 1, recoveries: 1 });

    // Publishes work again, to queues and topics.
    for (let n = 51; n < 100; n++) await send(n);
    for (let n = 10; n < 20; n++) records.push((await topic.send({ n })).offset);
    const received = await drain(queue, confirmed, attempted);
    expect(received.size).toBeGreaterThanOrEqual(99);
    // The topic holds every confirmed record, in order, at the offsets its sends were given.
    const read: { offset: number; n: number }[] = [];
    const subscription = topic.subscribe({ from: 'earliest' }, (message) => {
      read.push({ offset: message.offset, n: (message.body as { n: number }).n });
    });
    await until(() => read.length >= 20, 'the topic read back');
    await subscription.close();
    expect(read.map((r) => r.n)).toEqual(Array.from({ length: 20 }, (_, i) => i));
    expect(read.map((r) => r.offset)).toEqual(records);

    // And a restart finds exactly what was confirmed, all of it settled.
    await broker.close();
    const again = await scope.start({ workers: 1, dataDir });
    expect((await (await again.queue('jobs')).stats()).ready).toBe(0);
  }, 60_000);

  const noTmpfs = tmpfsUnavailable();
  it.skipIf(noTmpfs !== null)(`storage failure - a real full disk (ENOSPC on a small tmpfs): refused while full, recovered once space is freed${noTmpfs === null ? '' : ` [skipped: ${noTmpfs}]`}`, async () => {
    const mount = mkdtempSync(path.join(os.tmpdir(), 'baton-tmpfs-'));
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=8m', 'tmpfs', mount]);
    try {
      const dataDir = path.join(mount, 'data');
      const broker = await scope.start({ workers: 1, dataDir, segmentBytesMax: 256 * 1024 });
      const events = watchStorage(broker);
      const queue = await broker.queue('jobs', { codec: 'json' });
      // Leave about 300 KB free: a filler file takes the rest.
      const filler = path.join(mount, 'filler');
      const free = () => {
        const stats = statfsSync(mount);
        return stats.bavail * stats.bsize;
      };
      writeFileSync(filler, Buffer.alloc(Math.max(0, free() - 300 * 1024)));
      const attempted = new Set<number>();
      const confirmed = new Set<number>();
      const pad = 'x'.repeat(2000);
      let refused: { code?: string } | null = null;
      for (let n = 0; n < 2000 && refused === null; n++) {
        attempted.add(n);
        await queue.send({ n, pad }).then(
          () => confirmed.add(n),
          (error: unknown) => {
            refused = error as { code?: string };
          },
        );
      }
      expect(refused).not.toBeNull();
      expect(refused!.code).toBe('BATON_STORAGE_FAILED');
      expect(confirmed.size).toBeGreaterThan(20);
      await until(() => events.some((e) => e.type === 'storage-failed'), "the 'storage-failed' event");
      expect(events[0]!.reason).toMatch(/ENOSPC/);
      // Still full: no recovery yet, and publishes are refused.
      await new Promise((resolve) => setTimeout(resolve, 500));
      expect(events.some((e) => e.type === 'storage-recovered')).toBe(false);
      expect((await broker.stats()).storage.health.state).toBe('failed');

      rmSync(filler);
      await until(() => events.some((e) => e.type === 'storage-recovered'), "the 'storage-recovered' event once space is freed", 30_000);
      const next = 1_000_000;
      for (let n = next; n < next + 20; n++) {
        attempted.add(n);
        await queue.send({ n, pad });
        confirmed.add(n);
      }
      await drain(queue, confirmed, attempted);
      await broker.close();
    } finally {
      execFileSync('umount', [mount]);
      rmdirSync(mount);
    }
  }, 90_000);

  for (const mode of ['terminate', 'exit'] as const) {
    it(`storage failure - the storage thread dies (${mode}) under load: it is restarted, hosts reattach, nothing confirmed is lost`, async () => {
      const dataDir = await scope.tempDir(`storage-death-${mode}`);
      const broker = await scope.start({ workers: 2, dataDir });
      const events = watchStorage(broker);
      const queue = await broker.queue('jobs');
      const attempted = new Set<number>();
      const confirmed = new Set<number>();
      let refused = 0;
      let stop = false;
      let next = 0;
      let inFlight = 0;
      // Eight producers, each one send at a time with its confirm, until told to stop.
      const producers = Array.from({ length: 8 }, async () => {
        while (!stop) {
          const n = next++;
          attempted.add(n);
          inFlight++;
          await queue.send({ n }).finally(() => inFlight--).then(
            () => confirmed.add(n),
            (error: { code?: string }) => {
              if (error.code !== 'BATON_STORAGE_FAILED') throw error;
              refused++;
            },
          );
        }
      });
      const received = new Set<number>();
      const consumer = queue.consume((message) => {
        const { n } = message.body as { n: number };
        expect(attempted.has(n), `received ${n}, which was never sent`).toBe(true);
        received.add(n);
      });
      await until(() => confirmed.size >= 300, 'load before the crash');
      const beforeCrash = confirmed.size;
      await broker.faults.crashStorage(mode);
      await until(() => events.some((e) => e.type === 'storage-recovered'), "the 'storage-recovered' event");
      expect(events[0]!.type).toBe('storage-failed');
      expect(events[0]!.reason).toMatch(/storage thread exited/);
      // Publishes go on after the restart.
      const afterRecovery = confirmed.size;
      await until(() => confirmed.size >= afterRecovery + 300, 'load after the restart');
      stop = true;
      // Every send settles, confirmed or refused: none is left hanging by the restart.
      await until(() => inFlight === 0, 'every send settled');
      await Promise.all(producers);
      await until(() => [...confirmed].every((n) => received.has(n)), 'every confirmed message delivered');
      await consumer.close();
      expect(beforeCrash).toBeGreaterThanOrEqual(300);
      expect((await broker.stats()).storage.health.state).toBe('ok');
      // After a restart of the whole broker, what is left (deliveries whose acks died with the
      // thread come again: at least once) was sent, and nothing confirmed was lost on the way.
      await broker.close();
      const again = await scope.start({ workers: 2, dataDir });
      const left = await (await again.queue('jobs')).stats();
      const leftOver: number[] = [];
      const drainer = (await again.queue('jobs')).consume((message) => {
        leftOver.push((message.body as { n: number }).n);
      });
      await until(() => leftOver.length >= left.ready, 'what was left delivered');
      await drainer.close();
      for (const n of leftOver) expect(attempted.has(n), `left over ${n}, which was never sent`).toBe(true);
      expect(refused).toBeLessThan(attempted.size);
    }, 60_000);
  }
});
