/**
 * `baton bench ring`: thread-to-thread transports measured in one run, so that their ratios
 * mean something on a shared, noisy 2-core machine.
 *
 * Throughput (producer worker -> consumer worker, 16/64/256/1024 B, median of runs rotated
 * between transports): our single-producer ring (batches of 256, and one write per message),
 * our multi-producer ring with 1 and 2 producers, postMessage per message, postMessage of a
 * transferred batch of 1,024 framed messages, and ringbuf.js (SPSC, busy-polling).
 * Latency: ping-pong between two workers, one-way = round trip / 2, for the ring while spinning,
 * the ring parking every time, and postMessage. Idle: CPU of a parked consumer.
 * Micro-costs: tinybench on single-thread operations.
 */
import { performance } from 'node:perf_hooks';
import { MessageChannel, type MessagePort, Worker } from 'node:worker_threads';
import { RingBuffer } from 'ringbuf.js';
import { Bench } from 'tinybench';
import { allocateRing, attachWriter, RingConsumer, RingReader } from '../src/ring/index.js';
import { compiledFileUrl } from '../src/threads/worker-file.js';
import type { LatencyReport, PeerData, PeerRole, ThroughputReport } from './workers/ring-peer.js';
import { type BenchResult, measureIdleCores, median, quantileSorted, type Suite, type SuiteOptions } from './report.js';

const SIZES = [16, 64, 256, 1024] as const;
const RING_CAPACITY = 1 << 20;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

type TransportName = 'ring-sp-batch' | 'ring-sp-single' | 'ring-mp-1' | 'ring-mp-2' | 'postmessage' | 'postmessage-batch' | 'ringbufjs';

const TRANSPORTS: { name: TransportName; label: string }[] = [
  { name: 'ring-sp-batch', label: 'ring single-producer, batches of 256' },
  { name: 'ring-sp-single', label: 'ring single-producer, one write per message' },
  { name: 'ring-mp-1', label: 'ring multi-producer, 1 producer, batches of 256' },
  { name: 'ring-mp-2', label: 'ring multi-producer, 2 producers, batches of 256' },
  { name: 'postmessage', label: 'postMessage per message (peer)' },
  { name: 'postmessage-batch', label: 'postMessage, transferred batch of 1024 (peer)' },
  { name: 'ringbufjs', label: 'ringbuf.js SPSC, busy-poll (peer)' },
];

function messageCounts(transport: TransportName, size: number, quick: boolean): { warmup: number; count: number } {
  const scale = quick ? 8 : 1;
  let count: number;
  if (transport === 'postmessage') count = 200_000 / scale;
  else count = Math.min(4_000_000, Math.max(200_000, Math.round((256 * 2 ** 20) / size))) / scale;
  count = Math.round(count);
  return { warmup: Math.round(count / 4), count };
}

class PeerThread {
  readonly worker: Worker;
  readonly #messages: { kind: string }[] = [];
  #waiters: (() => void)[] = [];
  #failure: Error | undefined;

  constructor(data: Omit<PeerData, 'start'> & { start: SharedArrayBuffer }, transfer: MessagePort[] = []) {
    this.worker = new Worker(compiledFileUrl('bench/workers/ring-peer'), { workerData: data, transferList: transfer });
    this.worker.on('message', (m: { kind: string }) => this.#push(m));
    this.worker.on('error', (error) => {
      this.#failure = error;
      this.#push();
    });
    this.worker.on('exit', (code) => {
      this.#failure ??= new Error(`bench thread exited with code ${code}`);
      this.#push();
    });
  }

  async next<T>(kind: string): Promise<T> {
    for (;;) {
      const index = this.#messages.findIndex((m) => m.kind === kind);
      if (index >= 0) return this.#messages.splice(index, 1)[0] as T;
      if (this.#failure) throw this.#failure;
      await new Promise<void>((resolve) => this.#waiters.push(resolve));
    }
  }

  #push(message?: { kind: string }): void {
    if (message) this.#messages.push(message);
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const wake of waiters) wake();
  }
}

interface ThroughputSample {
  msgsPerSec: number;
  cores: number;
  parks: number;
  errors: number;
  messages: number;
}

async function measureThroughput(transport: TransportName, size: number, quick: boolean): Promise<ThroughputSample> {
  const { warmup, count } = messageCounts(transport, size, quick);
  const start = new SharedArrayBuffer(4);
  const base = { size, warmup, count, start };
  const threads: PeerThread[] = [];
  let consumer: PeerThread;
  const role = (r: PeerRole) => r;
  if (transport.startsWith('ring')) {
    const producers = transport === 'ring-mp-2' ? 2 : 1;
    const kind = transport.startsWith('ring-mp') ? 'multi-producer' : 'single-producer';
    const buffer = allocateRing({ capacity: RING_CAPACITY, kind });
    consumer = new PeerThread({ ...base, role: role('ring-consumer'), buffer, producers });
    for (let producer = 0; producer < producers; producer++) {
      threads.push(new PeerThread({ ...base, role: 'ring-producer', buffer, producer, batch: transport === 'ring-sp-single' ? 1 : 256 }));
    }
  } else if (transport === 'ringbufjs') {
    const buffer = RingBuffer.getStorageForCapacity(RING_CAPACITY, Uint8Array);
    consumer = new PeerThread({ ...base, role: 'ringbufjs-consumer', buffer });
    threads.push(new PeerThread({ ...base, role: 'ringbufjs-producer', buffer }));
  } else {
    const { port1, port2 } = new MessageChannel();
    const batch = transport === 'postmessage-batch';
    consumer = new PeerThread({ ...base, role: batch ? 'pm-batch-consumer' : 'pm-consumer', port: port2 }, [port2]);
    threads.push(new PeerThread({ ...base, role: batch ? 'pm-batch-producer' : 'pm-producer', port: port1 }, [port1]));
  }
  const all = [consumer, ...threads];
  try {
    await Promise.all(all.map((t) => t.next('ready')));
    const cpuBefore = process.cpuUsage();
    const wallBefore = performance.now();
    const flag = new Int32Array(start);
    Atomics.store(flag, 0, 1);
    Atomics.notify(flag, 0);
    const report = await consumer.next<ThroughputReport>('throughput');
    const cpu = process.cpuUsage(cpuBefore);
    const wallUs = (performance.now() - wallBefore) * 1000;
    return {
      msgsPerSec: count * (transport === 'ring-mp-2' ? 2 : 1) / report.seconds,
      cores: (cpu.user + cpu.system) / wallUs,
      parks: report.parks,
      errors: report.errors,
      messages: report.received,
    };
  } finally {
    await Promise.all(all.map((t) => t.worker.terminate()));
  }
}

async function throughputRows(options: SuiteOptions): Promise<BenchResult[]> {
  const runs = options.quick ? 1 : 3;
  const rows: BenchResult[] = [];
  for (const size of SIZES) {
    const samples = new Map<TransportName, ThroughputSample[]>();
    // Rotate between transports run by run, so that a noisy stretch hurts all of them alike.
    for (let run = 0; run < runs; run++) {
      for (const { name } of TRANSPORTS) {
        const sample = await measureThroughput(name, size, options.quick);
        if (sample.errors > 0) throw new Error(`${name} at ${size} B delivered ${sample.errors} messages out of order`);
        samples.set(name, [...(samples.get(name) ?? []), sample]);
        options.log(`  ${size} B ${name} run ${run + 1}/${runs}: ${(sample.msgsPerSec / 1e6).toFixed(2)} M msgs/s, ${sample.cores.toFixed(2)} cores`);
      }
    }
    const medianRate = (name: TransportName) => median(samples.get(name)!.map((s) => s.msgsPerSec));
    for (const { name, label } of TRANSPORTS) {
      const list = samples.get(name)!;
      const rate = medianRate(name);
      const extra: Record<string, number> = {
        min: Math.min(...list.map((s) => s.msgsPerSec)),
        max: Math.max(...list.map((s) => s.msgsPerSec)),
        cores: median(list.map((s) => s.cores)),
      };
      if (name.startsWith('ring-')) {
        extra.parks = median(list.map((s) => s.parks));
        extra.xPostMessage = rate / medianRate('postmessage');
        extra.xTransferBatch = rate / medianRate('postmessage-batch');
        extra.xRingbufjs = rate / medianRate('ringbufjs');
      }
      rows.push({
        name: `${size} B ${label}`,
        messages: list[0]!.messages,
        msgsPerSec: rate,
        mbPerSec: (rate * size) / 1e6,
        p50Us: null,
        p99Us: null,
        extra,
      });
    }
  }
  return rows;
}

type LatencyMode = 'ring-spin' | 'ring-park' | 'postmessage';

async function measureLatency(mode: LatencyMode, quick: boolean): Promise<Float64Array> {
  const count = quick ? 20_000 : 100_000;
  const base = { size: 64, warmup: quick ? 2_000 : 10_000, count, start: new SharedArrayBuffer(4) };
  let ping: PeerThread;
  let pong: PeerThread;
  if (mode === 'postmessage') {
    const { port1, port2 } = new MessageChannel();
    pong = new PeerThread({ ...base, role: 'pm-pong', port: port2 }, [port2]);
    ping = new PeerThread({ ...base, role: 'pm-ping', port: port1 }, [port1]);
  } else {
    const buffer = allocateRing({ capacity: 64 * 1024, kind: 'single-producer' });
    const replyBuffer = allocateRing({ capacity: 64 * 1024, kind: 'single-producer' });
    // Spinning: a budget far above one round trip, so neither side parks while the test runs.
    const spin = mode === 'ring-spin' ? 10_000_000 : 0;
    pong = new PeerThread({ ...base, role: 'ring-pong', buffer, replyBuffer, spin });
    ping = new PeerThread({ ...base, role: 'ring-ping', buffer, replyBuffer, spin });
  }
  try {
    await Promise.all([ping.next('ready'), pong.next('ready')]);
    const flag = new Int32Array(base.start);
    Atomics.store(flag, 0, 1);
    Atomics.notify(flag, 0);
    const { rttUs } = await ping.next<LatencyReport>('latency');
    return rttUs.sort();
  } finally {
    await Promise.all([ping.worker.terminate(), pong.worker.terminate()]);
  }
}

async function latencyRows(options: SuiteOptions): Promise<BenchResult[]> {
  const runs = options.quick ? 1 : 3;
  const modes: { mode: LatencyMode; label: string }[] = [
    { mode: 'ring-spin', label: 'latency one-way 64 B: ring, spinning' },
    { mode: 'ring-park', label: 'latency one-way 64 B: ring, parked (Atomics.wait/notify)' },
    { mode: 'postmessage', label: 'latency one-way 64 B: postMessage (peer)' },
  ];
  const percentiles = new Map<LatencyMode, { p50: number[]; p99: number[]; p999: number[] }>();
  for (let run = 0; run < runs; run++) {
    for (const { mode } of modes) {
      const sorted = await measureLatency(mode, options.quick);
      const entry = percentiles.get(mode) ?? { p50: [], p99: [], p999: [] };
      entry.p50.push(quantileSorted(sorted, 0.5) / 2);
      entry.p99.push(quantileSorted(sorted, 0.99) / 2);
      entry.p999.push(quantileSorted(sorted, 0.999) / 2);
      percentiles.set(mode, entry);
      options.log(`  latency ${mode} run ${run + 1}/${runs}: p50 ${(quantileSorted(sorted, 0.5) / 2).toFixed(2)} µs`);
    }
  }
  return modes.map(({ mode, label }) => {
    const entry = percentiles.get(mode)!;
    return {
      name: label,
      messages: options.quick ? 20_000 : 100_000,
      msgsPerSec: null,
      mbPerSec: null,
      p50Us: median(entry.p50),
      p99Us: median(entry.p99),
      extra: { p999Us: median(entry.p999) },
    };
  });
}

async function settledIdleCores(windowMs: number): Promise<number> {
  await sleep(200); // let start-up settle (JIT, GC)
  return measureIdleCores(windowMs);
}

async function idleRows(options: SuiteOptions): Promise<BenchResult[]> {
  const windowMs = options.quick ? 500 : 1000;
  const row = (name: string, cores: number): BenchResult => ({ name, messages: 0, msgsPerSec: null, mbPerSec: null, p50Us: null, p99Us: null, extra: { cores } });
  const rows: BenchResult[] = [];

  const baselineCores = await settledIdleCores(windowMs);
  rows.push(row('idle: process with no consumer (reference)', baselineCores));

  const buffer = allocateRing({ capacity: RING_CAPACITY, kind: 'single-producer' });
  const parked = new PeerThread({ role: 'idle-ring-consumer', size: 0, warmup: 0, count: 0, start: new SharedArrayBuffer(4), buffer });
  await parked.next('ready');
  rows.push(row('idle: ring consumer parked in a worker (Atomics.wait)', await settledIdleCores(windowMs)));
  new RingReader(buffer).close();
  await parked.next('done');
  await parked.worker.terminate();

  const mainBuffer = allocateRing({ capacity: RING_CAPACITY, kind: 'multi-producer' });
  const loop = new RingConsumer(new RingReader(mainBuffer), () => {});
  rows.push(row('idle: ring consumer parked on the main thread (Atomics.waitAsync)', await settledIdleCores(windowMs)));
  loop.stop();
  await loop.done;

  const stop = new SharedArrayBuffer(4);
  const spinner = new PeerThread({ role: 'idle-ringbufjs-consumer', size: 0, warmup: 0, count: 0, start: stop, buffer: RingBuffer.getStorageForCapacity(1024, Uint8Array) });
  await spinner.next('ready');
  rows.push(row('idle: ringbuf.js consumer polling an empty ring (peer)', await settledIdleCores(windowMs)));
  Atomics.store(new Int32Array(stop), 0, 1);
  await spinner.next('done');
  await spinner.worker.terminate();
  return rows;
}

async function microRows(options: SuiteOptions): Promise<BenchResult[]> {
  const bench = new Bench({ time: options.quick ? 100 : 400 });
  const payload = new Uint8Array(64);
  const ignore = () => {};
  for (const kind of ['single-producer', 'multi-producer'] as const) {
    const buffer = allocateRing({ capacity: 1 << 16, kind });
    const writer = attachWriter(buffer);
    const reader = new RingReader(buffer);
    bench.add(`micro: ${kind} tryWrite + drain of one 64 B record`, () => {
      writer.tryWrite(1, 1, payload);
      reader.drain(ignore);
    });
    const batch = Array.from({ length: 64 }, () => payload);
    bench.add(`micro: ${kind} tryWriteBatch of 64 x 64 B + drain`, () => {
      writer.tryWriteBatch(1, 1, batch);
      reader.drain(ignore);
    });
  }
  const ints = new Int32Array(new SharedArrayBuffer(1024));
  bench.add('micro: Atomics.notify with no waiter', () => {
    Atomics.notify(ints, 0, 1);
  });
  bench.add('micro: Atomics.store (a publication)', () => {
    Atomics.store(ints, 0, 1);
  });
  const target = new Uint8Array(new SharedArrayBuffer(4096));
  bench.add('micro: Uint8Array.set of 64 B into shared memory', () => {
    target.set(payload, 128);
  });
  await bench.run();
  return bench.tasks.map((task) => {
    const result = task.result;
    const nsPerOp = 'latency' in result ? result.latency.p50 * 1e6 : Number.NaN;
    return {
      name: task.name,
      messages: 'latency' in result ? result.latency.samplesCount : 0,
      msgsPerSec: 'throughput' in result ? result.throughput.p50 : null,
      mbPerSec: null,
      p50Us: null,
      p99Us: null,
      extra: { nsPerOp },
    };
  });
}

export const ringSuite: Suite = async (options) => {
  options.log('ring: throughput (producer worker -> consumer worker)');
  const results = await throughputRows(options);
  options.log('ring: ping-pong latency');
  results.push(...(await latencyRows(options)));
  options.log('ring: idle CPU');
  results.push(...(await idleRows(options)));
  options.log('ring: micro-costs (tinybench)');
  results.push(...(await microRows(options)));
  return results;
};
