// Proves the host's cooperative scheduling, on the test's own thread: an actor flooded with
// records cannot starve its neighbour (each gets at most TURN_RECORDS_MAX per turn, round robin);
// records keep their order per actor; ring space is released only up to the oldest record not
// yet finished; records for an actor nobody runs are counted as undeliverable, not silently lost.
import { afterEach, describe, expect, it } from 'vitest';
import { ActorHost, TURN_RECORDS_MAX } from '../../src/actor/actor-host.js';
import { allocateHealth } from '../../src/actor/host-health.js';
import { MemoryStorage } from '../../src/storage/memory-storage.js';
import { allocateRing, attachWriter } from '../../src/ring/index.js';
import { workerFileUrl } from '../../src/threads/worker-file.js';
import { until } from '../support/wait.js';

const orderActor = () => workerFileUrl('fixtures/order-actor').href;
let host: ActorHost | null = null;

afterEach(async () => {
  await host?.close();
  host = null;
  globalThis.batonReceiveOrder = [];
});

describe('host scheduling', () => {
  it('host - a flooded actor does not starve its neighbour; order per actor is kept', async () => {
    const inbox = allocateRing({ capacity: 1 << 20, kind: 'multi-producer' });
    const outbox = allocateRing({ capacity: 1 << 16, kind: 'multi-producer' });
    const undeliverable: number[] = [];
    host = new ActorHost({ index: 0, inbox, outbox, health: allocateHealth(1) }, await MemoryStorage.open(), {
      actorFailed: () => {},
      undeliverable: (destination, count) => undeliverable.push(destination, count),
    });
    await host.startActor({ id: 'flood', address: 1, module: orderActor(), options: { name: 'flood' }, restarts: 0 });
    await host.startActor({ id: 'quiet', address: 2, module: orderActor(), options: { name: 'quiet' }, restarts: 0 });
    globalThis.batonReceiveOrder = [];
    const writer = attachWriter(inbox);
    const payload = new Uint8Array(8);
    for (let i = 0; i < 1000; i++) expect(writer.tryWrite(1, 1, payload, i)).toBe(true);
    expect(writer.tryWrite(1, 2, payload, 0)).toBe(true);
    expect(writer.tryWrite(1, 99, payload, 0)).toBe(true);
    host.run();
    await until(() => globalThis.batonReceiveOrder!.length === 1001, 'every record');
    const order = globalThis.batonReceiveOrder!;
    // The quiet actor's one record, written after 1000 of the flood's, is handled in the first round.
    expect(order.indexOf('quiet:0')).toBe(TURN_RECORDS_MAX);
    expect(order.filter((x) => x.startsWith('flood:'))).toEqual(Array.from({ length: 1000 }, (_, i) => `flood:${i}`));
    await until(() => writer.usedBytes() === 0, 'the ring to be released');
    await until(() => undeliverable.length > 0, 'the undeliverable report');
    expect(undeliverable).toEqual([99, 1]);
    expect(host.stats(0)).toMatchObject({ recordsIn: 1002, undeliverable: 1 });
    writer.release();
  });
});
