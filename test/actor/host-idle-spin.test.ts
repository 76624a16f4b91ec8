// Proves when an idle host spins on its inbox before parking: never while a receive is in flight
// (the spin would hold the event loop that the receive's promise needs, e.g. for its storage
// answer), and again once that receive settled (the in-flight count is back to zero). The host
// runs on the test's own thread; its polls are counted by wrapping Atomics.load, which every poll
// of the inbox calls. Counts, not times: no speed is asserted.
import { afterEach, describe, expect, it } from 'vitest';
import { ActorHost } from '../../src/actor/actor-host.js';
import { allocateHealth } from '../../src/actor/host-health.js';
import { MemoryStorage } from '../../src/storage/memory-storage.js';
import { allocateRing, attachWriter } from '../../src/ring/index.js';
import { workerFileUrl } from '../../src/threads/worker-file.js';
import { until } from '../support/wait.js';

const heldActor = () => workerFileUrl('fixtures/held-actor').href;
const load = Atomics.load;
let host: ActorHost | null = null;

afterEach(async () => {
  Atomics.load = load;
  for (const resolve of globalThis.batonHeldReceives ?? []) resolve();
  globalThis.batonHeldReceives = [];
  await host?.close();
  host = null;
});

/** Atomics.load calls on `ints` made while `during` runs. */
async function loadsOn(ints: Int32Array, during: () => Promise<void>): Promise<number> {
  let loads = 0;
  Atomics.load = ((array: Int32Array, index: number) => {
    if (array.buffer === ints.buffer) loads++;
    return load(array, index);
  }) as typeof Atomics.load;
  try {
    await during();
  } finally {
    Atomics.load = load;
  }
  return loads;
}

describe('host idle spin', () => {
  it('host - parks without spinning while a receive is in flight, and spins again once it settled', async () => {
    const inbox = allocateRing({ capacity: 1 << 16, kind: 'multi-producer' });
    const outbox = allocateRing({ capacity: 1 << 16, kind: 'multi-producer' });
    const inboxInts = new Int32Array(inbox);
    host = new ActorHost({ index: 0, inbox, outbox, health: allocateHealth(1) }, await MemoryStorage.open(), {
      actorFailed: () => {},
      undeliverable: () => {},
    });
    await host.startActor({ id: 'held', address: 1, module: heldActor(), restarts: 0 });
    host.run();
    const writer = attachWriter(inbox);
    expect(writer.tryWrite(1, 1, new Uint8Array(8))).toBe(true);
    await until(() => (globalThis.batonHeldReceives ?? []).length === 1, 'the receive to start');

    // The receive is in flight and the host is parked. Starting a second actor wakes it: it looks
    // around, finds nothing runnable, and parks again after a handful of polls — not after a spin
    // (the reader's default spin alone is at least 64 polls, the host's own 2048).
    const inFlight = await loadsOn(inboxInts, async () => {
      await host!.startActor({ id: 'other', address: 2, module: heldActor(), restarts: 0 });
      await new Promise((resolve) => setTimeout(resolve, 20));
    });
    expect(inFlight).toBeGreaterThan(0);
    expect(inFlight).toBeLessThan(32);

    // Settled: the host wakes, finds nothing to do, and spins before parking.
    const settled = await loadsOn(inboxInts, async () => {
      globalThis.batonHeldReceives!.shift()!();
      await new Promise((resolve) => setTimeout(resolve, 20));
    });
    expect(settled).toBeGreaterThanOrEqual(2048);
    writer.release();
  });
});
