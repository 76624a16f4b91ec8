// Proves what survives a host thread's death, against both storages (memory-only, in the storage
// thread; and the WAL in a data directory): after `process.exit` in a host, every actor on it
// restarts on a fresh host thread and keeps its state, while actors on other hosts are not
// touched; after `terminate()` under a stream of records, no record that was committed to the
// ring is lost (delivered at least once).
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ActorRuntime, type RuntimeEvent } from '../../src/actor/actor-runtime.js';
import { workerFileUrl } from '../../src/threads/worker-file.js';
import { ADD, type CounterState, GET, SLOW_ADD, u32 } from '../../workers/fixtures/counter-actor.js';
import { sleep, until } from '../support/wait.js';

const counter = () => workerFileUrl('fixtures/counter-actor').href;
let runtime: ActorRuntime | null = null;
let dataDir: string | null = null;

afterEach(async () => {
  await runtime?.close();
  runtime = null;
  if (dataDir !== null) await rm(dataDir, { recursive: true, force: true });
  dataDir = null;
});

async function stateOf(rt: ActorRuntime, id: string): Promise<CounterState> {
  const reply = await rt.request(id, GET, new Uint8Array(0), { timeoutMs: 20_000 });
  return JSON.parse(new TextDecoder().decode(reply.payload)) as CounterState;
}

async function start(storage: 'memory' | 'wal'): Promise<ActorRuntime> {
  if (storage === 'wal') dataDir = await mkdtemp(path.join(os.tmpdir(), 'baton-host-death-'));
  return ActorRuntime.start({ workers: 2, supervisor: { backoff: { minMs: 1, maxMs: 10 } }, ...(dataDir ? { dataDir } : {}) });
}

describe.each(['memory', 'wal'] as const)('host death (%s storage)', (storage) => {
  it('host death - process.exit in a host: its actors restart on a fresh thread with their state; the other host is untouched', async () => {
    runtime = await start(storage);
    const restarts: RuntimeEvent[] = [];
    runtime.on('restart', (event: RuntimeEvent) => restarts.push(event));
    const ids = Array.from({ length: 6 }, (_, i) => `acc-${i}`);
    for (const id of ids) await runtime.declare(id, { module: counter() });
    for (let i = 0; i < 300; i++) await runtime.send(ids[i % 6]!, ADD, u32(i));
    const before = new Map<string, CounterState>();
    for (const id of ids) before.set(id, await stateOf(runtime, id));
    const stats = await runtime.stats();
    const victimHost = stats.actors.find((a) => a.id === 'acc-0')!.worker;
    const onVictim = stats.actors.filter((a) => a.worker === victimHost).map((a) => a.id);
    const others = ids.filter((id) => !onVictim.includes(id));
    const oldThread = stats.workers[victimHost]!.threadId;

    await runtime.faults.crashActor('acc-0', 'exit');
    await until(() => restarts.length === onVictim.length, 'every actor of the dead host to restart');
    expect(restarts.map((e) => (e as { actor: string }).actor).sort()).toEqual([...onVictim].sort());
    expect((restarts[0] as { reason: string }).reason).toMatch(/exited with code 1/);
    const after = await runtime.stats();
    expect(after.workers[victimHost]!.threadId).not.toBe(oldThread);
    expect(after.workers[victimHost]!.restarts).toBe(1);
    for (const id of onVictim) {
      const state = await stateOf(runtime, id);
      expect({ count: state.count, sum: state.sum }).toEqual({ count: before.get(id)!.count, sum: before.get(id)!.sum });
      expect(state.restarts).toBe(1);
    }
    for (const id of others) expect(await stateOf(runtime, id)).toEqual(before.get(id));
  });

  it('host death - a host terminated from outside while inside a receive: that record is delivered again, not dropped', async () => {
    runtime = await start(storage);
    await runtime.declare('slow', { module: counter() });
    const slowHost = (await runtime.stats()).actors.find((a) => a.id === 'slow')!.worker;
    const payload = new Uint8Array(8);
    new DataView(payload.buffer).setUint32(0, 42, true);
    new DataView(payload.buffer).setUint32(4, 1_000, true);
    await runtime.send('slow', SLOW_ADD, payload);
    await sleep(300); // the host is now inside that receive
    await runtime.faults.crashActor('slow', 'terminate');
    await until(async () => (await runtime!.stats()).workers[slowHost]!.restarts === 1, 'the host to be replaced');
    await until(async () => (await stateOf(runtime!, 'slow')).sum === 42, 'the record to be received again');
    expect(await stateOf(runtime, 'slow')).toMatchObject({ count: 1, sum: 42, restarts: 1 });
  });

  // A longer budget than the default: on a loaded 2-core machine the stream, the replacement and
  // the replay of 8,000 records can approach a minute; a real hang still fails on its own deadline.
  it('host death - terminate() under a stream of records: every record committed to the ring is delivered', { timeout: 150_000 }, async () => {
    runtime = await start(storage);
    const ids = ['s-0', 's-1', 's-2', 's-3'];
    for (const id of ids) await runtime.declare(id, { module: counter() });
    const victimHost = (await runtime.stats()).actors.find((a) => a.id === 's-0')!.worker;
    const sent = new Map<string, number[]>(ids.map((id) => [id, []]));
    const total = 8_000;
    let killedAt = -1;
    for (let value = 0; value < total; value++) {
      const id = ids[value % ids.length]!;
      await runtime.send(id, ADD, u32(value));
      sent.get(id)!.push(value);
      if (value % 64 === 0) await sleep(0);
      // Kill the host in mid-stream; records keep going into its inbox while it is replaced.
      if (value === total / 4) {
        killedAt = value;
        await runtime.faults.crashActor('s-0', 'terminate');
      }
    }
    expect(killedAt).toBe(total / 4);
    await until(async () => (await runtime!.stats()).workers[victimHost]!.restarts === 1, 'the host to be replaced');
    for (const id of ids) {
      const values = sent.get(id)!;
      await until(async () => (await stateOf(runtime!, id)).distinct === values.length, `${id} to have every value (${values.length})`, 60_000);
      const state = await stateOf(runtime, id);
      // At least once: each committed record counted, some perhaps twice (finished but not yet released when the host died).
      expect(state.count).toBeGreaterThanOrEqual(values.length);
      expect(state.distinct).toBe(values.length);
    }
  });
});
