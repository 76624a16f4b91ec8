/**
 * `baton bench actor`: the actor runtime (src/actor/) as the broker will use it, with the real
 * threads — the main thread sending, the actor hosts (default: one per core), the supervisor
 * thread and the storage thread (memory storage: no disk in these figures).
 *
 * Rows:
 * - dispatch: records/s from the main thread through the hosts' inbox rings to actors, for 1, 16
 *   and 256 actors spread over the hosts, with NOTE records (counted in memory, no log write:
 *   scheduling alone) and with ADD records to 16 actors (each appended to its actor's log
 *   through the storage thread: the cost of persistence). Timed from the first send to the
 *   actors' replies to a COUNT request sent after the last record, which show that every record
 *   arrived. The main thread sends with `trySend` and falls back to `await send` when a ring is
 *   full; `senderBusyPerSec` is the rate the sender alone would sustain (records over the time it
 *   spent sending, waits for ring space left out), `senderShare` the part of the run it spent
 *   sending, and `fullWaits` counts its waits: when it waited, or when the hosts were still
 *   working long after the last send (`senderShare` well under 1), the hosts were the bottleneck;
 *   when it sent all along and never waited, the sender was.
 * - restart: from `faults.crashActor(id, 'throw')` to the actor's answer to a request (the
 *   request waits in its mailbox while it restarts), and from `faults.crashActor(id, 'exit')`
 *   (its host thread exits) to the answers of every actor of that host, restarted on a fresh
 *   thread. Backoff is fixed at 1 ms (reported), so the figures are the machinery's own.
 * - idle: process CPU (all threads, in cores) over a window with a runtime and no actors, and
 *   with 10,000 declared, idle actors; memory per actor as the whole process's RSS delta (all
 *   threads) and the main thread's heap delta, over the count; and the declare rate.
 */
import v8 from 'node:v8';
import vm from 'node:vm';
import { performance } from 'node:perf_hooks';
import { ActorRuntime, type RuntimeEvent } from '../src/actor/actor-runtime.js';
import type { ActorAddress } from '../src/actor/runtime-protocol.js';
import { compiledFileUrl } from '../src/threads/worker-file.js';
import { ADD, COUNT, decodeCounts, NOTE, type BenchActorCounts } from './workers/bench-actor.js';
import { type BenchResult, median, quantileSorted, type Suite, type SuiteOptions, measureIdleCores } from './report.js';

const PAYLOAD_BYTES = 16;
/** Pause before each host death: long enough for the supervisor's new warm spare to be ready. */
const HOST_DEATH_SPACING_MS = 500;
const RESTART_BACKOFF_MS = 1;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const empty = new Uint8Array(0);

function benchActorModule(): string {
  return compiledFileUrl('bench/workers/bench-actor').href;
}

/** A full GC of the main thread's heap, where the flag can be set: memory deltas without garbage. */
function collectGarbage(): void {
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc') as (() => void) | undefined;
  gc?.();
}

async function countsOf(runtime: ActorRuntime, id: string): Promise<BenchActorCounts> {
  return decodeCounts((await runtime.request(id, COUNT, empty, { timeoutMs: 60_000 })).payload);
}

async function totals(runtime: ActorRuntime, ids: readonly string[]): Promise<{ notes: number; adds: number }> {
  const all = await Promise.all(ids.map((id) => countsOf(runtime, id)));
  return { notes: all.reduce((n, c) => n + c.notes, 0), adds: all.reduce((n, c) => n + c.adds, 0) };
}

async function declareAll(runtime: ActorRuntime, ids: readonly string[], inFlight: number): Promise<ActorAddress[]> {
  const module = benchActorModule();
  const addresses: ActorAddress[] = new Array(ids.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(inFlight, ids.length) }, async () => {
      while (next < ids.length) {
        const index = next++;
        addresses[index] = await runtime.declare(ids[index]!, { module });
      }
    }),
  );
  return addresses;
}

// --- dispatch ---------------------------------------------------------------------------------

interface DispatchSample {
  msgsPerSec: number;
  senderBusyPerSec: number;
  /** Share of the run the sender spent sending (not waiting for ring space). */
  senderShare: number;
  fullWaits: number;
  /** Fraction of the run the main thread's event loop was busy (sending, mostly). */
  mainBusy: number;
  /** Process CPU over the run, all threads. */
  cores: number;
}

async function measureDispatch(runtime: ActorRuntime, ids: readonly string[], type: number, count: number): Promise<DispatchSample> {
  const payload = new Uint8Array(PAYLOAD_BYTES);
  const before = await totals(runtime, ids);
  const actors = ids.length;
  let fullWaits = 0;
  let waitMs = 0;
  const elu = performance.eventLoopUtilization();
  const cpu = process.cpuUsage();
  const started = performance.now();
  for (let i = 0; i < count; i++) {
    const id = ids[i % actors]!;
    if (!runtime.trySend(id, type, payload)) {
      fullWaits++;
      const waitStarted = performance.now();
      await runtime.send(id, type, payload);
      waitMs += performance.now() - waitStarted;
    }
  }
  const sentMs = performance.now() - started;
  const after = await totals(runtime, ids);
  const elapsedMs = performance.now() - started;
  const cpuUs = process.cpuUsage(cpu);
  const busy = performance.eventLoopUtilization(elu);
  const arrived = type === NOTE ? after.notes - before.notes : after.adds - before.adds;
  if (arrived !== count) throw new Error(`dispatch: ${count} records sent, the actors counted ${arrived}`);
  return {
    msgsPerSec: count / (elapsedMs / 1000),
    senderBusyPerSec: count / ((sentMs - waitMs) / 1000),
    senderShare: (sentMs - waitMs) / elapsedMs,
    fullWaits,
    mainBusy: busy.utilization,
    cores: (cpuUs.user + cpuUs.system) / (elapsedMs * 1000),
  };
}

async function dispatchRows(options: SuiteOptions): Promise<BenchResult[]> {
  const runs = options.quick ? 3 : 5;
  const noteCount = options.quick ? 200_000 : 1_000_000;
  const addCount = options.quick ? 50_000 : 100_000;
  const runtime = await ActorRuntime.start();
  try {
    const ids = Array.from({ length: 256 }, (_, i) => `dispatch-${i}`);
    const addresses = await declareAll(runtime, ids, 32);
    const hostsUsed = (actors: number) => new Set(addresses.slice(0, actors).map((a) => a.host)).size;
    const cases = [
      { label: 'NOTE (in memory, no log)', type: NOTE, actors: 1, count: noteCount },
      { label: 'NOTE (in memory, no log)', type: NOTE, actors: 16, count: noteCount },
      { label: 'NOTE (in memory, no log)', type: NOTE, actors: 256, count: noteCount },
      { label: 'ADD (appended to the log, memory storage)', type: ADD, actors: 16, count: addCount },
    ];
    const samples = cases.map(() => [] as DispatchSample[]);
    // Warm-up: the JIT of every path involved, on all three sides.
    for (const c of cases) await measureDispatch(runtime, ids.slice(0, c.actors), c.type, Math.round(c.count / 10));
    // Rotate between cases run by run, so that a noisy stretch of the shared machine hurts all alike.
    for (let run = 0; run < runs; run++) {
      for (const [index, c] of cases.entries()) {
        const sample = await measureDispatch(runtime, ids.slice(0, c.actors), c.type, c.count);
        samples[index]!.push(sample);
        options.log(
          `  dispatch ${c.type === NOTE ? 'NOTE' : 'ADD'} x ${c.actors} actors run ${run + 1}/${runs}: ${(sample.msgsPerSec / 1e6).toFixed(2)} M records/s` +
            ` (sender alone ${(sample.senderBusyPerSec / 1e6).toFixed(2)} M/s, sending ${(sample.senderShare * 100).toFixed(0)} % of the run,` +
            ` ${sample.fullWaits} waits for ring space), ${sample.cores.toFixed(2)} cores`,
        );
      }
    }
    return cases.map((c, index) => {
      const list = samples[index]!;
      const rate = median(list.map((s) => s.msgsPerSec));
      const fullWaits = median(list.map((s) => s.fullWaits));
      const senderShare = median(list.map((s) => s.senderShare));
      // The sender is the bottleneck when it sent all the time and never found a ring full; the
      // hosts (with the storage thread, for ADD) are when it had to wait for ring space, or when
      // they were still working long after the last record was sent.
      const bottleneck = fullWaits === 0 && senderShare > 0.8 ? 'sender' : 'hosts';
      return {
        name: `dispatch ${c.label}, ${c.actors} actor${c.actors === 1 ? '' : 's'} on ${hostsUsed(c.actors)} of ${runtime.workers} hosts, ${PAYLOAD_BYTES} B`,
        messages: c.count,
        msgsPerSec: rate,
        mbPerSec: (rate * PAYLOAD_BYTES) / 1e6,
        p50Us: null,
        p99Us: null,
        extra: {
          min: Math.min(...list.map((s) => s.msgsPerSec)),
          max: Math.max(...list.map((s) => s.msgsPerSec)),
          senderBusyPerSec: median(list.map((s) => s.senderBusyPerSec)),
          fullWaits,
          senderShare,
          mainBusy: median(list.map((s) => s.mainBusy)),
          cores: median(list.map((s) => s.cores)),
          bottleneck,
        },
      };
    });
  } finally {
    await runtime.close();
  }
}

// --- restart ----------------------------------------------------------------------------------

function waitForEvents(runtime: ActorRuntime, type: RuntimeEvent['type'], accept: (event: RuntimeEvent) => boolean, count: number, timeoutMs = 30_000): Promise<void> {
  return new Promise((resolve, reject) => {
    let seen = 0;
    const timer = setTimeout(() => {
      runtime.off(type, listener);
      reject(new Error(`restart bench: timed out waiting for ${count} '${type}' events (saw ${seen})`));
    }, timeoutMs);
    const listener = (event: RuntimeEvent) => {
      if (!accept(event) || ++seen < count) return;
      clearTimeout(timer);
      runtime.off(type, listener);
      resolve();
    };
    runtime.on(type, listener);
  });
}

function latencyRow(name: string, samplesUs: number[], extra: Record<string, number | string>): BenchResult {
  const sorted = Float64Array.from(samplesUs).sort();
  return {
    name,
    messages: sorted.length,
    msgsPerSec: null,
    mbPerSec: null,
    p50Us: quantileSorted(sorted, 0.5),
    p99Us: quantileSorted(sorted, 0.99),
    extra: { minUs: sorted[0]!, maxUs: sorted[sorted.length - 1]!, ...extra },
  };
}

async function restartRows(options: SuiteOptions): Promise<BenchResult[]> {
  const actorSamples = options.quick ? 20 : 60;
  const hostSamples = options.quick ? 6 : 20;
  const actorCount = 16;
  const logRecords = 100;
  const runtime = await ActorRuntime.start({
    supervisor: {
      // High enough that no sample stops an actor: the figure is the restart, not the intensity limit.
      maxRestarts: 10_000,
      withinMs: 60_000,
      backoff: { minMs: RESTART_BACKOFF_MS, maxMs: RESTART_BACKOFF_MS, randomFactor: 0 },
    },
  });
  try {
    const ids = Array.from({ length: actorCount }, (_, i) => `restart-${i}`);
    const addresses = await declareAll(runtime, ids, actorCount);
    // A log to replay on every restart, as a queue actor has.
    const value = new Uint8Array(PAYLOAD_BYTES);
    for (const id of ids) for (let i = 0; i < logRecords; i++) await runtime.send(id, ADD, value);
    const restarts = new Map<string, number>();
    for (const id of ids) {
      const counts = await countsOf(runtime, id);
      if (counts.adds !== logRecords) throw new Error(`restart bench: ${id} has ${counts.adds} log records, expected ${logRecords}`);
      restarts.set(id, counts.restarts);
    }

    // (a) an actor's handler fails: that actor alone restarts on its host.
    const actorUs: number[] = [];
    const faultCallUs: number[] = [];
    for (let sample = 0; sample < actorSamples; sample++) {
      const id = ids[sample % ids.length]!;
      const restarted = waitForEvents(runtime, 'restart', (e) => e.type === 'restart' && e.actor === id, 1);
      const started = performance.now();
      await runtime.faults.crashActor(id, 'throw');
      const faulted = performance.now();
      const counts = await countsOf(runtime, id);
      const servedUs = (performance.now() - started) * 1000;
      await restarted;
      if (counts.restarts !== restarts.get(id)! + 1 || counts.adds !== logRecords) {
        throw new Error(`restart bench: ${id} answered with ${JSON.stringify(counts)} after its crash`);
      }
      restarts.set(id, counts.restarts);
      actorUs.push(servedUs);
      faultCallUs.push((faulted - started) * 1000);
    }
    options.log(`  restart after a throw: p50 ${(median(actorUs) / 1000).toFixed(2)} ms over ${actorSamples} samples`);

    // (b) a host thread exits: all of its actors restart on a fresh thread.
    const hostUs: number[] = [];
    const hostActors: number[] = [];
    for (let sample = 0; sample < hostSamples; sample++) {
      // Host deaths spaced out, as they come in practice: the supervisor's warm spare (started
      // after the previous death took the last one) is ready again.
      await sleep(HOST_DEATH_SPACING_MS);
      const host = sample % runtime.workers;
      const onHost = addresses.filter((a) => a.host === host).map((a) => a.id);
      if (onHost.length === 0) continue;
      const replaced = waitForEvents(runtime, 'host-restart', (e) => e.type === 'host-restart' && e.host === host, 1);
      const restarted = waitForEvents(runtime, 'restart', (e) => e.type === 'restart' && onHost.includes(e.actor), onHost.length);
      const started = performance.now();
      await runtime.faults.crashActor(onHost[0]!, 'exit');
      // Ask only once the old thread is gone, so that it cannot be the one answering.
      await replaced;
      const answers = await Promise.all(onHost.map((id) => countsOf(runtime, id)));
      const servedUs = (performance.now() - started) * 1000;
      await restarted;
      for (const [i, id] of onHost.entries()) {
        const counts = answers[i]!;
        if (counts.restarts !== restarts.get(id)! + 1 || counts.adds !== logRecords) {
          throw new Error(`restart bench: ${id} answered with ${JSON.stringify(counts)} after its host died`);
        }
        restarts.set(id, counts.restarts);
      }
      hostUs.push(servedUs);
      hostActors.push(onHost.length);
    }
    options.log(`  restart after a host exit: p50 ${(median(hostUs) / 1000).toFixed(2)} ms over ${hostUs.length} samples`);

    return [
      latencyRow(`restart: actor throws -> serving again (backoff ${RESTART_BACKOFF_MS} ms, ${logRecords} log records replayed)`, actorUs, {
        backoffMs: RESTART_BACKOFF_MS,
        logRecords,
        faultCallP50Us: median(faultCallUs),
        targetP99Us: 50_000,
      }),
      latencyRow(`restart: host thread exits -> all its actors serving again on a fresh thread (backoff ${RESTART_BACKOFF_MS} ms)`, hostUs, {
        backoffMs: RESTART_BACKOFF_MS,
        logRecords,
        actorsOnHost: median(hostActors),
        spacingMs: HOST_DEATH_SPACING_MS,
        targetP99Us: 50_000,
      }),
    ];
  } finally {
    await runtime.close();
  }
}

// --- idle -------------------------------------------------------------------------------------


async function idleRows(options: SuiteOptions): Promise<BenchResult[]> {
  const count = options.quick ? 2_000 : 10_000;
  const inFlight = 64;
  const windowMs = 1000;
  const runtime = await ActorRuntime.start();
  try {
    await sleep(300); // let start-up settle (JIT, GC)
    const referenceCores = await measureIdleCores(windowMs);
    collectGarbage();
    const memoryBefore = process.memoryUsage();

    const ids = Array.from({ length: count }, (_, i) => `idle-${i}`);
    const started = performance.now();
    await declareAll(runtime, ids, inFlight);
    const declareSeconds = (performance.now() - started) / 1000;
    options.log(`  declared ${count} actors in ${declareSeconds.toFixed(2)} s (${inFlight} declarations in flight)`);

    await sleep(500); // timers and GC of the declarations, off the window
    const idleCores = await measureIdleCores(windowMs);
    collectGarbage();
    const memoryAfter = process.memoryUsage();
    const stats = await runtime.stats();
    const running = stats.actors.filter((a) => a.state === 'running').length;
    if (running !== count) throw new Error(`idle bench: ${running} of ${count} actors running`);

    const idleRow = (name: string, cores: number, extra: Record<string, number | string> = {}): BenchResult => ({
      name,
      messages: 0,
      msgsPerSec: null,
      mbPerSec: null,
      p50Us: null,
      p99Us: null,
      extra: { cores, windowMs, ...extra },
    });
    return [
      idleRow(`idle: runtime with no actors, ${runtime.workers} hosts parked (reference)`, referenceCores),
      idleRow(`idle: ${count} idle actors on ${runtime.workers} hosts`, idleCores, {
        actors: count,
        targetCores: 0,
        rssBytesPerActor: (memoryAfter.rss - memoryBefore.rss) / count,
        mainHeapBytesPerActor: (memoryAfter.heapUsed - memoryBefore.heapUsed) / count,
        memoryNote: 'rss: whole process, all threads; heap: main thread only',
      }),
      {
        name: `declare: ${count} actors, ${inFlight} declarations in flight`,
        messages: count,
        msgsPerSec: count / declareSeconds,
        mbPerSec: null,
        p50Us: null,
        p99Us: null,
        extra: { seconds: declareSeconds, inFlight },
      },
    ];
  } finally {
    await runtime.close();
  }
}

export const actorSuite: Suite = async (options) => {
  options.log('actor: dispatch (main thread -> host inbox rings -> actors)');
  const results = await dispatchRows(options);
  options.log('actor: restart, crash to serving again');
  results.push(...(await restartRows(options)));
  options.log('actor: idle actors');
  results.push(...(await idleRows(options)));
  return results;
};
