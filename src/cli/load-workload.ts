/**
 * `runLoad`: the REPL's `load({ to, rate, size, seconds, consumers, ... })`. Publishes to a queue
 * at a target rate (or as fast as confirms allow) while consumers drain it, reports progress once
 * a second (rates, backlog, latency percentiles of that second) and ends with a summary:
 * throughput and the latency histogram of the whole run.
 *
 * Latency is end to end, publish call to handler, measured on this thread's clock: each batch
 * carries its send time in a header. With `consumers: 0` nothing consumes, and the latency is
 * the publish confirm's instead.
 *
 * Bounds: at most `inflight` unconfirmed batches of `batch` messages, so memory stays flat when
 * the broker falls behind the rate (the shortfall shows as a send rate below target); the drain
 * after the last publish waits at most DRAIN_MS.
 */
import { inspect } from 'node:util';
import { performance } from 'node:perf_hooks';
import type { Broker } from '../broker/broker.js';
import type { Queue } from '../broker/queue/queue.js';
import type { QueueConsumer } from '../broker/queue/queue-consumer.js';
import { InvalidArgumentError } from '../errors.js';
import type { Colors } from './colors.js';
import { LatencyHistogram } from './hdr-histogram.js';

export interface LoadOptions {
  /** Queue to publish to; declared with default options when it does not exist. */
  to: string;
  /** Messages per second; 0 (default): as fast as confirms allow. */
  rate?: number;
  /** Payload bytes, default 256. */
  size?: number;
  /** Publishing time, default 10. */
  seconds?: number;
  /** Consumers on the queue for the run, default 1; 0 publishes only. */
  consumers?: number;
  /** Messages per `sendBatch`, default 64 (with a rate: at most this many per 10 ms tick). */
  batch?: number;
  /** Unconfirmed batches at once, default 8. */
  inflight?: number;
  /** Consumer prefetch, default 512. */
  prefetch?: number;
  ack?: 'auto' | 'none';
}

export interface LoadIo {
  /** One progress line a second; the caller decides whether it replaces the last one. */
  progress(line: string): void;
  colors: Colors;
  signal: AbortSignal;
}

const SENT_HEADER = 'x-load-sent-us';
const DRAIN_MS = 5_000;
const TICK_MS = 10;
const LOAD_KEYS = new Set(['to', 'rate', 'size', 'seconds', 'consumers', 'batch', 'inflight', 'prefetch', 'ack']);

/** The result of a run; the REPL prints it through `util.inspect` as the summary. */
export class LoadSummary {
  readonly to: string;
  readonly seconds: number;
  readonly sent: number;
  readonly received: number;
  readonly sizeBytes: number;
  readonly sendPerSec: number;
  readonly receivePerSec: number;
  readonly mbPerSec: number;
  readonly latency: { kind: 'end-to-end' | 'confirm'; p50Us: number; p90Us: number; p99Us: number; p999Us: number; maxUs: number; meanUs: number; count: number };
  readonly stoppedEarly: boolean;
  readonly errors: number;
  readonly #histogram: LatencyHistogram;
  readonly #colors: Colors;

  constructor(fields: Omit<LoadSummary, 'latency' | typeof inspect.custom | 'format'>, histogram: LatencyHistogram, kind: 'end-to-end' | 'confirm', colors: Colors) {
    this.to = fields.to;
    this.seconds = fields.seconds;
    this.sent = fields.sent;
    this.received = fields.received;
    this.sizeBytes = fields.sizeBytes;
    this.sendPerSec = fields.sendPerSec;
    this.receivePerSec = fields.receivePerSec;
    this.mbPerSec = fields.mbPerSec;
    this.stoppedEarly = fields.stoppedEarly;
    this.errors = fields.errors;
    this.latency = {
      kind,
      p50Us: histogram.percentile(0.5),
      p90Us: histogram.percentile(0.9),
      p99Us: histogram.percentile(0.99),
      p999Us: histogram.percentile(0.999),
      maxUs: histogram.max,
      meanUs: histogram.mean,
      count: histogram.count,
    };
    this.#histogram = histogram;
    this.#colors = colors;
  }

  format(): string {
    const c = this.#colors;
    const l = this.latency;
    const lines = [
      c.bold(`load summary: ${this.to}, ${this.seconds.toFixed(1)} s${this.stoppedEarly ? ' (stopped early)' : ''}`),
      `  sent      ${String(this.sent).padStart(10)} msgs  ${formatRate(this.sendPerSec)} msgs/s  ${this.mbPerSec.toFixed(1)} MB/s (${this.sizeBytes} B payloads)`,
      `  received  ${String(this.received).padStart(10)} msgs  ${formatRate(this.receivePerSec)} msgs/s`,
    ];
    if (this.errors > 0) lines.push(c.red(`  errors    ${this.errors} failed publishes`));
    if (l.count === 0) {
      lines.push('  latency   no samples');
      return lines.join('\n');
    }
    lines.push(`  latency (${l.kind}, ${l.count} samples): p50 ${formatUs(l.p50Us)}  p90 ${formatUs(l.p90Us)}  p99 ${formatUs(l.p99Us)}  p99.9 ${formatUs(l.p999Us)}  max ${formatUs(l.maxUs)}  mean ${formatUs(l.meanUs)}`);
    const ranges = this.#histogram.ranges();
    const most = Math.max(...ranges.map((r) => r.count));
    for (const range of ranges) {
      const bar = '#'.repeat(Math.round((range.count / most) * 40));
      const share = ((range.count / l.count) * 100).toFixed(1).padStart(5);
      lines.push(`  ${formatUs(range.fromUs).padStart(9)} .. ${formatUs(range.toUs).padEnd(9)} ${share} %  ${c.cyan(bar)}`);
    }
    return lines.join('\n');
  }

  [inspect.custom](): string {
    return this.format();
  }
}

export function formatUs(us: number): string {
  if (!Number.isFinite(us)) return '-';
  if (us >= 1e6) return `${(us / 1e6).toFixed(2)} s`;
  if (us >= 1e3) return `${(us / 1e3).toFixed(us >= 1e4 ? 0 : 1)} ms`;
  return `${us.toFixed(0)} µs`;
}

export function formatRate(perSec: number): string {
  if (!Number.isFinite(perSec)) return '-';
  if (perSec >= 1e6) return `${(perSec / 1e6).toFixed(2)}M`;
  if (perSec >= 1e3) return `${(perSec / 1e3).toFixed(1)}k`;
  return perSec.toFixed(0);
}

function checkOptions(options: LoadOptions): Required<Omit<LoadOptions, 'to'>> & { to: string } {
  if (options === null || typeof options !== 'object') throw new InvalidArgumentError('load takes an object: load({ to, rate, size, seconds, consumers })');
  for (const key of Object.keys(options)) if (!LOAD_KEYS.has(key)) throw new InvalidArgumentError(`unknown load option ${JSON.stringify(key)}; known: ${[...LOAD_KEYS].join(', ')}`);
  if (typeof options.to !== 'string' || options.to.length === 0) throw new InvalidArgumentError('load needs { to: "queue name" }');
  const number = (key: keyof LoadOptions, fallback: number, min: number, max: number, integer: boolean) => {
    const value = options[key] ?? fallback;
    if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max || (integer && !Number.isInteger(value))) {
      throw new InvalidArgumentError(`load: ${key} must be ${integer ? 'an integer' : 'a number'} ${min} .. ${max}, got ${String(value)}`);
    }
    return value;
  };
  const ack = options.ack ?? 'auto';
  if (ack !== 'auto' && ack !== 'none') throw new InvalidArgumentError(`load: ack must be 'auto' or 'none', got ${String(ack)}`);
  return {
    to: options.to,
    rate: number('rate', 0, 0, 10_000_000, false),
    size: number('size', 256, 0, 16 * 2 ** 20, true),
    seconds: number('seconds', 10, 0.1, 86_400, false),
    consumers: number('consumers', 1, 0, 64, true),
    batch: number('batch', 64, 1, 10_000, true),
    inflight: number('inflight', 8, 1, 1_000, true),
    prefetch: number('prefetch', 512, 1, 65_535, true),
    ack,
  };
}

/** A payload of exactly `size` bytes (as near as the codec allows) that the queue's codec accepts. */
function payloadFor(queue: Queue, size: number): Uint8Array {
  if (queue.codec.name === 'raw') return new Uint8Array(size).fill(0x78);
  for (let overhead = 0; overhead <= 5; overhead++) {
    const bytes = queue.codec.encode('x'.repeat(Math.max(0, size - overhead)));
    if (bytes.byteLength === size) return bytes;
  }
  return queue.codec.encode('x'.repeat(Math.max(0, size - 2)));
}

export async function runLoad(broker: Broker, input: LoadOptions, io: LoadIo): Promise<LoadSummary> {
  const options = checkOptions(input);
  const queue = await broker.queue(options.to);
  const payload = payloadFor(queue, options.size);
  const total = new LatencyHistogram();
  const second = new LatencyHistogram();
  const kind = options.consumers > 0 ? 'end-to-end' : 'confirm';
  const c = io.colors;
  let sent = 0;
  let received = 0;
  let errors = 0;
  let inflight = 0;
  let inflightMessages = 0;
  let publishing = true;
  const consumers: QueueConsumer[] = [];
  const onMessage = (message: { headers: Record<string, string> }) => {
    received += 1;
    const sentUs = Number(message.headers[SENT_HEADER]);
    const latencyUs = performance.now() * 1000 - sentUs;
    total.record(latencyUs);
    second.record(latencyUs);
  };
  for (let i = 0; i < options.consumers; i++) consumers.push(queue.consume(onMessage, { ack: options.ack, prefetch: options.prefetch, concurrency: options.prefetch }));

  let wakeProducer: (() => void) | null = null;
  const publish = (count: number) => {
    inflight += 1;
    inflightMessages += count;
    const sentUs = performance.now() * 1000;
    const headers = { [SENT_HEADER]: sentUs.toFixed(0) };
    const items = Array.from({ length: count }, () => ({ body: payload, headers }));
    void queue.sendBatch(items).then(
      () => {
        sent += count;
        if (kind === 'confirm') {
          const latencyUs = performance.now() * 1000 - sentUs;
          for (let i = 0; i < count; i++) {
            total.record(latencyUs);
            second.record(latencyUs);
          }
        }
      },
      () => {
        errors += 1;
      },
    ).finally(() => {
      inflight -= 1;
      inflightMessages -= count;
      wakeProducer?.();
    });
  };

  const started = performance.now();
  const endAt = started + options.seconds * 1000;
  let lastTick = started;
  let lastSent = 0;
  let lastReceived = 0;
  const report = setInterval(() => {
    const now = performance.now();
    const dt = (now - lastTick) / 1000;
    lastTick = now;
    const line = [
      c.dim(`${((now - started) / 1000).toFixed(0).padStart(3)}s`),
      `send ${formatRate((sent - lastSent) / dt).padStart(7)}/s`,
      `recv ${formatRate((received - lastReceived) / dt).padStart(7)}/s`,
      `backlog ${String(Math.max(0, sent - received)).padStart(7)}`,
      `p50 ${formatUs(second.percentile(0.5)).padStart(8)}`,
      `p99 ${formatUs(second.percentile(0.99)).padStart(8)}`,
      `max ${formatUs(second.max).padStart(8)}`,
    ].join('  ');
    lastSent = sent;
    lastReceived = received;
    second.reset();
    io.progress(line);
  }, 1000);

  try {
    // Publishing: with a rate, every tick sends what is due (capped by `inflight`); without,
    // `inflight` batches are kept in flight.
    while (publishing && !io.signal.aborted && performance.now() < endAt) {
      if (options.rate > 0) {
        const due = Math.floor(((performance.now() - started) / 1000) * options.rate) - sent - inflightMessages;
        let remaining = Math.max(0, due);
        while (remaining > 0 && inflight < options.inflight) {
          const count = Math.min(options.batch, remaining);
          publish(count);
          remaining -= count;
        }
        await sleep(TICK_MS, io.signal);
      } else {
        while (inflight < options.inflight) publish(options.batch);
        await sleep(TICK_MS, io.signal, (wake) => (wakeProducer = wake));
        wakeProducer = null;
      }
    }
    publishing = false;
    const publishedAt = performance.now();
    // Drain: the last confirms, then the consumers catch up (bounded).
    while (!io.signal.aborted && performance.now() - publishedAt < DRAIN_MS && (inflight > 0 || (options.consumers > 0 && received < sent))) await sleep(TICK_MS, io.signal);
  } finally {
    clearInterval(report);
    await Promise.all(consumers.map((consumer) => consumer.close().catch(() => undefined)));
  }
  const seconds = (performance.now() - started) / 1000;
  const publishSeconds = Math.min(seconds, options.seconds);
  return new LoadSummary(
    {
      to: options.to,
      seconds,
      sent,
      received,
      sizeBytes: payload.byteLength,
      sendPerSec: sent / publishSeconds,
      receivePerSec: received / seconds,
      mbPerSec: (sent * payload.byteLength) / publishSeconds / 1e6,
      stoppedEarly: io.signal.aborted,
      errors,
    },
    total,
    kind,
    c,
  );
}

/** Resolves after `ms`, on abort, or when the function handed to `onWake` is called. */
function sleep(ms: number, signal: AbortSignal, onWake?: (wake: () => void) => void): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    onWake?.(done);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
