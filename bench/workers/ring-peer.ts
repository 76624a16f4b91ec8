/**
 * Benchmark thread for `baton bench ring`: one entry point, one role per run. Every role moves
 * the same messages — `size` bytes whose first 4 hold a sequence number the consumer checks —
 * so the transports are compared on equal work. Producers wait on a shared start flag so that
 * thread start-up is not timed; consumers time from the end of the warm-up to the last message.
 */
import { performance } from 'node:perf_hooks';
import { type MessagePort, parentPort, workerData } from 'node:worker_threads';
import { RingBuffer } from 'ringbuf.js';
import { attachWriter, consumeBlocking, RingReader, type RingRecord } from '../../src/ring/index.js';

export type PeerRole =
  | 'ring-producer'
  | 'ring-consumer'
  | 'pm-producer'
  | 'pm-consumer'
  | 'pm-batch-producer'
  | 'pm-batch-consumer'
  | 'ringbufjs-producer'
  | 'ringbufjs-consumer'
  | 'ring-ping'
  | 'ring-pong'
  | 'pm-ping'
  | 'pm-pong'
  | 'idle-ring-consumer'
  | 'idle-ringbufjs-consumer';

export interface PeerData {
  role: PeerRole;
  size: number;
  warmup: number;
  count: number;
  producer?: number;
  producers?: number;
  /** Records per ring batch write; 1 means one `writeBlocking` per message. */
  batch?: number;
  buffer?: SharedArrayBuffer;
  replyBuffer?: SharedArrayBuffer;
  port?: MessagePort;
  /** Int32 word 0: set to 1 to start the producers. */
  start: SharedArrayBuffer;
  /** Ping-pong: spin budget of the ring readers (0: park every time). */
  spin?: number;
}

export interface ThroughputReport {
  kind: 'throughput';
  seconds: number;
  received: number;
  errors: number;
  parks: number;
}

export interface LatencyReport {
  kind: 'latency';
  rttUs: Float64Array;
}

const data = workerData as PeerData;
const post = (message: unknown, transfer?: ArrayBuffer[]) => parentPort!.postMessage(message, transfer ?? []);

function waitForStart(): void {
  const flag = new Int32Array(data.start);
  post({ kind: 'ready' });
  while (Atomics.load(flag, 0) === 0) Atomics.wait(flag, 0, 0);
}

function writeId(bytes: Uint8Array, offset: number, id: number): void {
  bytes[offset] = id;
  bytes[offset + 1] = id >>> 8;
  bytes[offset + 2] = id >>> 16;
  bytes[offset + 3] = id >>> 24;
}

function readId(bytes: Uint8Array, offset: number): number {
  return (bytes[offset]! | (bytes[offset + 1]! << 8) | (bytes[offset + 2]! << 16) | (bytes[offset + 3]! << 24)) >>> 0;
}

/** Counts messages, checks their order per producer, and times the post-warm-up window. */
class Tally {
  received = 0;
  errors = 0;
  readonly #next: Uint32Array;
  readonly #warmupTotal: number;
  readonly total: number;
  #startedMs = 0;

  constructor(producers: number) {
    this.#next = new Uint32Array(producers);
    this.#warmupTotal = producers * data.warmup;
    this.total = producers * (data.warmup + data.count);
    if (this.#warmupTotal === 0) this.#startedMs = performance.now();
  }

  see(producer: number, id: number): void {
    if (id !== this.#next[producer]) this.errors++;
    this.#next[producer] = id + 1;
    if (++this.received === this.#warmupTotal) this.#startedMs = performance.now();
  }

  get done(): boolean {
    return this.received >= this.total;
  }

  report(parks = 0): ThroughputReport {
    return { kind: 'throughput', seconds: (performance.now() - this.#startedMs) / 1000, received: this.received, errors: this.errors, parks };
  }
}

function ringProducer(): void {
  const writer = attachWriter(data.buffer!);
  const producer = data.producer ?? 0;
  const total = data.warmup + data.count;
  const batch = data.batch ?? 256;
  const payloads = Array.from({ length: batch }, () => new Uint8Array(data.size));
  waitForStart();
  if (batch === 1) {
    const payload = payloads[0]!;
    for (let id = 0; id < total; id++) {
      writeId(payload, 0, id);
      writer.writeBlocking(producer, 0, payload);
    }
  } else {
    const tail = payloads.slice(0, total % batch);
    for (let id = 0; id < total; id += batch) {
      const chunk = total - id >= batch ? payloads : tail;
      for (let k = 0; k < chunk.length; k++) writeId(chunk[k]!, 0, id + k);
      writer.writeBatchBlocking(producer, 0, chunk);
    }
  }
  post({ kind: 'done' });
}

function ringConsumer(): void {
  const reader = new RingReader(data.buffer!);
  const tally = new Tally(data.producers ?? 1);
  const handle = (r: RingRecord) => tally.see(r.type, readId(r.bytes, r.offset));
  post({ kind: 'ready' });
  consumeBlocking(reader, handle, { shouldStop: () => tally.done });
  post(tally.report(reader.parks));
}

function pmProducer(): void {
  const port = data.port!;
  const payload = new Uint8Array(data.size);
  waitForStart();
  for (let id = 0; id < data.warmup + data.count; id++) {
    writeId(payload, 0, id);
    port.postMessage(payload);
  }
  post({ kind: 'done' });
}

function pmConsumer(): void {
  const port = data.port!;
  const tally = new Tally(1);
  port.on('message', (payload: Uint8Array) => {
    tally.see(0, readId(payload, 0));
    if (tally.done) {
      post(tally.report());
      port.close();
    }
  });
  post({ kind: 'ready' });
}

const FRAMES_PER_TRANSFER = 1024;
const frameBytes = (size: number) => (4 + size + 7) & ~7;

function pmBatchProducer(): void {
  const port = data.port!;
  const frame = frameBytes(data.size);
  const total = data.warmup + data.count;
  const payload = new Uint8Array(data.size);
  waitForStart();
  for (let id = 0; id < total; ) {
    const frames = Math.min(FRAMES_PER_TRANSFER, total - id);
    const buffer = new ArrayBuffer(frames * frame);
    const bytes = new Uint8Array(buffer);
    const view = new DataView(buffer);
    for (let k = 0; k < frames; k++, id++) {
      // Copy the message in, as every other transport does, then stamp its id.
      view.setUint32(k * frame, data.size, true);
      bytes.set(payload, k * frame + 4);
      writeId(bytes, k * frame + 4, id);
    }
    port.postMessage(buffer, [buffer]);
  }
  post({ kind: 'done' });
}

function pmBatchConsumer(): void {
  const port = data.port!;
  const tally = new Tally(1);
  port.on('message', (buffer: ArrayBuffer) => {
    const bytes = new Uint8Array(buffer);
    const view = new DataView(buffer);
    for (let offset = 0; offset < buffer.byteLength; ) {
      const length = view.getUint32(offset, true);
      tally.see(0, readId(bytes, offset + 4));
      offset += frameBytes(length);
    }
    if (tally.done) {
      post(tally.report());
      port.close();
    }
  });
  post({ kind: 'ready' });
}

function ringbufjsProducer(): void {
  const ring = new RingBuffer(data.buffer!, Uint8Array);
  const payload = new Uint8Array(data.size);
  waitForStart();
  for (let id = 0; id < data.warmup + data.count; id++) {
    writeId(payload, 0, id);
    // ringbuf.js writes partial arrays and has no blocking wait: spin until the record fits.
    while (ring.available_write() < data.size);
    ring.push(payload, data.size);
  }
  post({ kind: 'done' });
}

function ringbufjsConsumer(): void {
  const ring = new RingBuffer(data.buffer!, Uint8Array);
  const tally = new Tally(1);
  const payload = new Uint8Array(data.size);
  post({ kind: 'ready' });
  while (!tally.done) {
    if (ring.available_read() < data.size) continue; // busy-poll: ringbuf.js cannot park
    ring.pop(payload, data.size);
    tally.see(0, readId(payload, 0));
  }
  post(tally.report());
}

function ringPing(): void {
  const writer = attachWriter(data.buffer!);
  const reader = new RingReader(data.replyBuffer!, { spinMin: data.spin ?? 0, spinMax: data.spin ?? 0 });
  const payload = new Uint8Array(data.size);
  const rounds = data.warmup + data.count;
  const rttUs = new Float64Array(data.count);
  const ignore = () => {};
  waitForStart();
  for (let round = 0; round < rounds; round++) {
    writeId(payload, 0, round);
    const sentMs = performance.now();
    writer.writeBlocking(0, 0, payload);
    while (reader.drain(ignore, 1) === 0) reader.waitForRecords();
    if (round >= data.warmup) rttUs[round - data.warmup] = (performance.now() - sentMs) * 1000;
  }
  writer.close();
  post({ kind: 'latency', rttUs } satisfies LatencyReport, [rttUs.buffer as ArrayBuffer]);
}

function ringPong(): void {
  const reader = new RingReader(data.buffer!, { spinMin: data.spin ?? 0, spinMax: data.spin ?? 0 });
  const writer = attachWriter(data.replyBuffer!);
  const payload = new Uint8Array(data.size);
  post({ kind: 'ready' });
  consumeBlocking(reader, (r) => {
    payload.set(r.bytes.subarray(r.offset, r.offset + 4));
    writer.writeBlocking(0, 0, payload);
  });
}

function pmPing(): void {
  const port = data.port!;
  const payload = new Uint8Array(data.size);
  const rounds = data.warmup + data.count;
  const rttUs = new Float64Array(data.count);
  let round = 0;
  let sentMs = 0;
  const send = () => {
    writeId(payload, 0, round);
    sentMs = performance.now();
    port.postMessage(payload);
  };
  port.on('message', () => {
    if (round >= data.warmup) rttUs[round - data.warmup] = (performance.now() - sentMs) * 1000;
    if (++round < rounds) return send();
    port.close();
    post({ kind: 'latency', rttUs } satisfies LatencyReport, [rttUs.buffer as ArrayBuffer]);
  });
  waitForStart();
  send();
}

function pmPong(): void {
  const port = data.port!;
  port.on('message', (payload: Uint8Array) => port.postMessage(payload));
  post({ kind: 'ready' });
}

function idleRingConsumer(): void {
  const reader = new RingReader(data.buffer!);
  post({ kind: 'ready' });
  consumeBlocking(reader, () => {});
  post({ kind: 'done' });
}

function idleRingbufjsConsumer(): void {
  const ring = new RingBuffer(data.buffer!, Uint8Array);
  const stop = new Int32Array(data.start);
  post({ kind: 'ready' });
  while (Atomics.load(stop, 0) === 0) ring.available_read();
  post({ kind: 'done' });
}

const roles: Record<PeerRole, () => void> = {
  'ring-producer': ringProducer,
  'ring-consumer': ringConsumer,
  'pm-producer': pmProducer,
  'pm-consumer': pmConsumer,
  'pm-batch-producer': pmBatchProducer,
  'pm-batch-consumer': pmBatchConsumer,
  'ringbufjs-producer': ringbufjsProducer,
  'ringbufjs-consumer': ringbufjsConsumer,
  'ring-ping': ringPing,
  'ring-pong': ringPong,
  'pm-ping': pmPing,
  'pm-pong': pmPong,
  'idle-ring-consumer': idleRingConsumer,
  'idle-ringbufjs-consumer': idleRingbufjsConsumer,
};

const run = roles[data.role];
if (run === undefined) throw new Error(`unknown bench role ${String(data.role)}`);
run();
