/**
 * The functions `baton repl` puts in scope beside `broker`, and the names it completes. Every
 * helper is a thin layer over the public Broker API; what they print goes to the REPL's output.
 * Long-running helpers (`tail`, `load`) register an AbortController so that Ctrl-C stops them
 * (the REPL's SIGINT handler calls `stopRunning()`), and resolve normally when stopped.
 */
import { inspect } from 'node:util';
import type { Broker } from '../broker/broker.js';
import type { Queue } from '../broker/queue/queue.js';
import { InvalidArgumentError } from '../errors.js';
import type { Colors } from './colors.js';
import { type LoadOptions, runLoad } from './load-workload.js';

export interface ReplIo {
  write(text: string): void;
  /** True when progress lines may replace each other in place (a TTY). */
  inPlace: boolean;
  colors: Colors;
}

/** What `.help` prints about the helpers: signature and one line each. */
export const HELPER_DOCS: readonly [signature: string, about: string][] = [
  ['broker', 'the started Broker (docs/api.md): broker.queue(), broker.stats(), broker.on(...), broker.close()'],
  ['queue(name, opts?)', 'declare (or get) a queue; opts as broker.queue: durable, codec, maxPriority, deadLetter, ...'],
  ['topic(name, opts?)', 'declare a topic'],
  ['exchange(name, type, opts?)', 'declare an exchange'],
  ['send(name, body, opts?)', 'send to a queue or topic, or publish to an exchange (routing key: opts.routingKey)'],
  ['tail(name, { seconds?, count? }?)', 'print arriving messages (a queue: consumed; a topic: read from its latest offset) until Ctrl-C, the time or the count'],
  ['stats(name?)', 'ready / unacked / consumers / delayed / bytes per queue, as a table'],
  ['purge(name)', 'drop a queue\'s ready messages; resolves to { purged }'],
  ['load({ to, rate?, size?, seconds?, consumers?, batch?, inflight?, prefetch?, ack? })', 'drive a workload: live progress a second, then throughput and a latency histogram (Ctrl-C stops it)'],
  ['names()', 'the destinations known to this session'],
];

/** Rows rendered as an aligned text table when the REPL prints them. */
export class Table<Row extends Record<string, unknown>> extends Array<Row> {
  static override get [Symbol.species](): ArrayConstructor {
    return Array;
  }

  [inspect.custom](): string {
    return renderTable(this);
  }
}

/** The part of a topic that `tail` uses (topics are feature-detected: this CLI also runs against brokers without them). */
interface TailableTopic {
  subscribe(
    options: { from: 'latest' },
    handler: (message: { partition: number; offset: number; key?: unknown; timestamp: number; headers: Record<string, string>; body: unknown; bytes: Uint8Array }) => unknown,
  ): { close(): Promise<unknown> };
}

export function renderTable(rows: readonly Record<string, unknown>[]): string {
  if (rows.length === 0) return '(none)';
  const header = Object.keys(rows[0]!);
  const cells = rows.map((row) => header.map((key) => cellText(row[key])));
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((r) => r[i]!.length)));
  const numeric = header.map((_, i) => rows.every((row) => typeof row[header[i]!] === 'number'));
  const line = (values: string[]) => values.map((v, i) => (numeric[i] ? v.padStart(widths[i]!) : v.padEnd(widths[i]!))).join('  ').trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...cells.map(line)].join('\n');
}

function cellText(value: unknown): string {
  if (value === undefined || value === null) return '-';
  return typeof value === 'string' ? value : inspect(value, { breakLength: Infinity, compact: true });
}

type AnyDestination = { send?: (...args: unknown[]) => Promise<unknown>; publish?: (...args: unknown[]) => Promise<unknown> };
type Declare = (...args: unknown[]) => Promise<unknown>;

export class ReplHelpers {
  readonly #broker: Broker;
  readonly #io: ReplIo;
  readonly #queues = new Map<string, Queue>();
  readonly #topics = new Map<string, unknown>();
  readonly #exchanges = new Map<string, unknown>();
  readonly #running = new Set<AbortController>();

  constructor(broker: Broker, io: ReplIo) {
    this.#broker = broker;
    this.#io = io;
    // Destinations declared through `broker` directly are remembered too (for names and stats):
    // the instance's methods are wrapped in this session only, the Broker class is untouched.
    const record = <T>(method: string, into: Map<string, T>) => {
      const target = broker as unknown as Record<string, unknown>;
      const original = target[method];
      if (typeof original !== 'function') return;
      const bound = (original as Declare).bind(broker);
      target[method] = async (...args: unknown[]) => {
        const destination = (await bound(...args)) as T;
        if (typeof args[0] === 'string') into.set(args[0], destination);
        return destination;
      };
    };
    record('queue', this.#queues);
    record('topic', this.#topics);
    record('exchange', this.#exchanges);
  }

  get hasTopics(): boolean {
    return typeof (this.#broker as unknown as { topic?: unknown }).topic === 'function';
  }

  get hasExchanges(): boolean {
    return typeof (this.#broker as unknown as { exchange?: unknown }).exchange === 'function';
  }

  /** True while a `tail` or `load` runs. */
  get running(): boolean {
    return this.#running.size > 0;
  }

  /** Stops every running `tail` and `load` (Ctrl-C); they resolve with what they did. */
  stopRunning(): void {
    for (const controller of this.#running) controller.abort();
  }

  /** Names known to this session: declared here, through `broker`, or seen as actors. */
  async names(): Promise<string[]> {
    const names = new Set<string>([...this.#queues.keys(), ...this.#topics.keys(), ...this.#exchanges.keys()]);
    try {
      for (const actor of (await this.#broker.stats()).actors) {
        const match = /^(?:queue|topic|exchange):([^/]+)/.exec(actor.id);
        if (match !== null) names.add(match[1]!);
      }
    } catch {
      // A closed broker has no actors to list.
    }
    return [...names].sort();
  }

  /** The functions put in the REPL's context. */
  context(): Record<string, unknown> {
    const broker = this.#broker as unknown as Record<string, Declare>;
    const context: Record<string, unknown> = {
      queue: (name: string, options?: object) => broker['queue']!(name, options),
      send: (name: string, body: unknown, options?: object) => this.send(name, body, options),
      tail: (name: string, options?: { seconds?: number; count?: number }) => this.tail(name, options),
      stats: (name?: string) => this.stats(name),
      purge: async (name: string) => (await this.#queue(name)).purge(),
      load: (options: LoadOptions) => this.load(options),
      names: () => this.names(),
    };
    if (this.hasTopics) context['topic'] = (...args: unknown[]) => broker['topic']!(...args);
    if (this.hasExchanges) context['exchange'] = (...args: unknown[]) => broker['exchange']!(...args);
    return context;
  }

  async send(name: string, body: unknown, options?: object): Promise<unknown> {
    if (typeof name !== 'string') throw new InvalidArgumentError('send(name, body, opts?): name must be a string');
    const topic = this.#topics.get(name) as AnyDestination | undefined;
    if (topic?.send !== undefined) return topic.send.call(topic, body, options);
    const exchange = this.#exchanges.get(name) as AnyDestination | undefined;
    if (exchange?.publish !== undefined) {
      // An exchange takes its routing key from the options: send('logs', body, { routingKey: 'a.b' }).
      const { routingKey = '', ...rest } = (options ?? {}) as { routingKey?: string };
      return exchange.publish.call(exchange, routingKey, body, rest);
    }
    return (await this.#queue(name)).send(body, options);
  }

  /**
   * Prints arriving messages until Ctrl-C, `seconds` or `count`: a queue is consumed (acked as
   * printed); a topic is read from its latest offset (nothing committed).
   */
  async tail(name: string, options: { seconds?: number; count?: number } = {}): Promise<{ received: number }> {
    const { seconds, count } = options;
    if (seconds !== undefined && !(typeof seconds === 'number' && seconds > 0)) throw new InvalidArgumentError('tail: seconds must be a number > 0');
    if (count !== undefined && !(Number.isInteger(count) && count > 0)) throw new InvalidArgumentError('tail: count must be an integer > 0');
    const topic = this.#topics.get(name) as TailableTopic | undefined;
    const queue = topic === undefined ? await this.#queue(name) : undefined;
    const c = this.#io.colors;
    const controller = this.#track();
    let received = 0;
    this.#io.write(c.dim(`tailing ${name}${seconds === undefined ? '' : ` for ${seconds} s`}${count === undefined ? '' : `, ${count} messages`} (Ctrl-C stops)\n`));
    const print = (label: string, timestamp: number, headers: Record<string, string>, decode: () => unknown, bytes: Uint8Array) => {
      received += 1;
      const shownHeaders = Object.keys(headers).length === 0 ? '' : ` ${c.dim(inspect(headers, { breakLength: Infinity }))}`;
      let body: string;
      try {
        body = inspect(decode(), { breakLength: Infinity, depth: 4, colors: c.enabled, maxStringLength: 500 });
      } catch {
        body = `<${bytes.byteLength} bytes, not decodable>`;
      }
      this.#io.write(`${c.dim(new Date(timestamp).toISOString().slice(11, 23))} ${c.cyan(label)}${shownHeaders} ${body}\n`);
      if (count !== undefined && received >= count) controller.abort();
    };
    let close: () => Promise<unknown>;
    if (topic !== undefined) {
      const subscription = topic.subscribe({ from: 'latest' }, (message) => {
        if (controller.signal.aborted) return;
        const keyText = message.key === null || message.key === undefined ? '' : String(message.key);
        const key = keyText === '' ? '' : ` ${keyText}`;
        print(`${message.partition}/${message.offset}${key}`, message.timestamp, message.headers, () => message.body, message.bytes);
      });
      close = () => subscription.close();
    } else {
      const consumer = queue!.consume(
        (message) => {
          if (controller.signal.aborted) throw new Error('tail stopped'); // requeued: not shown, not lost
          print(message.id, message.timestamp, message.headers, () => message.body, message.bytes);
        },
        { ack: 'auto', prefetch: count ?? 64 },
      );
      close = () => consumer.close();
    }
    const timer = seconds === undefined ? undefined : setTimeout(() => controller.abort(), seconds * 1000);
    try {
      await new Promise<void>((resolve) => controller.signal.addEventListener('abort', () => resolve(), { once: true }));
    } finally {
      clearTimeout(timer);
      this.#running.delete(controller);
      await close().catch(() => undefined);
    }
    return { received };
  }

  async stats(name?: string): Promise<Table<Record<string, unknown>>> {
    const names = name === undefined ? (await this.names()).filter((n) => this.#queues.has(n) || !(this.#topics.has(n) || this.#exchanges.has(n))) : [name];
    const table = new Table<Record<string, unknown>>();
    for (const queueName of names) {
      const known = this.#queues.get(queueName);
      if (known === undefined && name === undefined) continue; // seen as an actor, declared elsewhere: no handle
      const queue = known ?? (await this.#queue(queueName));
      const s = await queue.stats();
      table.push({ queue: queueName, ready: s.ready, unacked: s.unacked, delayed: s.delayed, consumers: s.consumers, readyBytes: s.readyBytes, durable: queue.options.durable ? 'yes' : 'no', codec: queue.codec.name });
    }
    return table;
  }

  async load(options: LoadOptions): Promise<unknown> {
    const controller = this.#track();
    let progressShown = false;
    try {
      const summary = await runLoad(this.#broker, options, {
        colors: this.#io.colors,
        signal: controller.signal,
        progress: (line) => {
          progressShown = true;
          this.#io.write(this.#io.inPlace ? `\r\x1b[K${line}` : `${line}\n`);
        },
      });
      if (progressShown && this.#io.inPlace) this.#io.write('\n');
      return summary;
    } finally {
      this.#running.delete(controller);
    }
  }

  #track(): AbortController {
    const controller = new AbortController();
    this.#running.add(controller);
    return controller;
  }

  async #queue(name: string): Promise<Queue> {
    if (typeof name !== 'string') throw new InvalidArgumentError('a destination name must be a string');
    return this.#queues.get(name) ?? (await (this.#broker as unknown as Record<string, Declare>)['queue']!(name)) as Queue;
  }
}
