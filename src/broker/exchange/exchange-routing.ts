/**
 * An exchange's routing table: which destinations (queues and topics, by name) a publish with a
 * routing key and headers goes to. Pure state, owned by the exchange actor; the actor logs the
 * bind/unbind calls and replays them in order, which rebuilds the same table.
 *
 * | type      | binding identity                   | a publish goes to the destinations...       | per publish |
 * |-----------|------------------------------------|----------------------------------------------|-------------|
 * | `direct`  | destination + routingKey           | bound with a routingKey equal to the key     | O(1) lookup |
 * | `topic`   | destination + routingKey (pattern) | whose pattern matches the key (topic-pattern.ts) | trie walk |
 * | `fanout`  | destination                        | all of them; key and headers ignored         | none        |
 * | `headers` | destination + headers + match      | whose headers match (headers-match.ts)       | every binding (as RabbitMQ) |
 *
 * `route` returns each destination once, sorted by name (plain code-unit order), so the result
 * depends on the bindings only, not on the order they were made in. The array is read-only: for
 * direct and fanout exchanges it is a cached frozen array shared between calls (no allocation per
 * publish); for topic and headers exchanges a new one.
 *
 * Binding options are checked (InvalidArgumentError): `direct` and `topic` need a `routingKey`
 * string (`''` is a key like any other, as in AMQP); `headers` take `headers` and `match`
 * (default 'all'); options that mean nothing for the type are refused rather than silently
 * ignored (`headers` or `match` on a direct, topic or fanout exchange, an unknown option), except
 * a `routingKey` on `fanout` and `headers` exchanges, which RabbitMQ clients always send and
 * RabbitMQ ignores.
 * Binding twice is a no-op (false); unbinding a binding that is not there is a no-op (false).
 * Destination names are checked to be non-empty strings; that they exist is the broker's business.
 */
import { InvalidArgumentError } from '../../errors.js';
import { compileHeadersPattern, type Headers, type HeadersMatchMode, type HeadersPattern, headersPatternMatches } from './headers-match.js';
import { TopicRoutingTable } from './topic-pattern.js';

export type ExchangeType = 'direct' | 'topic' | 'fanout' | 'headers';

export const EXCHANGE_TYPES: readonly ExchangeType[] = Object.freeze(['direct', 'topic', 'fanout', 'headers']);

export interface BindOptions {
  routingKey?: string;
  headers?: Record<string, string>;
  match?: HeadersMatchMode;
}

/** One binding as listed by `bindings()`. */
export interface ExchangeBinding {
  destination: string;
  routingKey?: string;
  headers?: Headers;
  match?: HeadersMatchMode;
}

const BIND_OPTION_KEYS: ReadonlySet<string> = new Set(['routingKey', 'headers', 'match']);
const EMPTY: readonly string[] = Object.freeze([]);

interface HeadersBinding {
  readonly id: string;
  readonly destination: string;
  readonly headers: Headers;
  readonly pattern: HeadersPattern;
}

/** Inserts `value` into the sorted `array` unless present; returns a new frozen array, or null if present. */
function sortedWith(array: readonly string[], value: string): readonly string[] | null {
  let lo = 0;
  let hi = array.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (array[mid]! < value) lo = mid + 1;
    else hi = mid;
  }
  if (array[lo] === value) return null;
  return Object.freeze([...array.slice(0, lo), value, ...array.slice(lo)]);
}

function sortedWithout(array: readonly string[], value: string): readonly string[] | null {
  const at = array.indexOf(value);
  if (at < 0) return null;
  return Object.freeze([...array.slice(0, at), ...array.slice(at + 1)]);
}

function byName(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export class ExchangeRouter {
  readonly type: ExchangeType;
  /** direct: routing key → sorted destinations. */
  readonly #direct = new Map<string, readonly string[]>();
  /** topic: the pattern trie. */
  readonly #topic = new TopicRoutingTable();
  /** fanout: sorted destinations. */
  #fanout: readonly string[] = EMPTY;
  /** headers: binding id → binding, in bind order. */
  readonly #headers = new Map<string, HeadersBinding>();
  #size = 0;

  constructor(type: ExchangeType) {
    if (!EXCHANGE_TYPES.includes(type)) {
      throw new InvalidArgumentError(`exchange type must be 'direct', 'topic', 'fanout' or 'headers', got ${typeof type === 'string' ? JSON.stringify(type) : String(type)}`);
    }
    this.type = type;
  }

  /** Number of bindings. */
  get size(): number {
    return this.#size;
  }

  /** Binds `destination`; false if the same binding already exists. */
  bind(destination: string, options: BindOptions = {}): boolean {
    const added = this.#apply('bind', destination, options);
    if (added) this.#size++;
    return added;
  }

  /** Removes the binding `bind(destination, options)` made; false if there was none. */
  unbind(destination: string, options: BindOptions = {}): boolean {
    const removed = this.#apply('unbind', destination, options);
    if (removed) this.#size--;
    return removed;
  }

  /**
   * The destinations a publish with `routingKey` and `headers` goes to: each once, sorted by name,
   * read-only (see the top of this file). Empty when nothing matches: the publish is unroutable.
   */
  route(routingKey: string, headers?: Headers): readonly string[] {
    if (typeof routingKey !== 'string') {
      throw new InvalidArgumentError(`routing key must be a string, got ${routingKey === null ? 'null' : typeof routingKey}`);
    }
    switch (this.type) {
      case 'direct':
        return this.#direct.get(routingKey) ?? EMPTY;
      case 'fanout':
        return this.#fanout;
      case 'topic': {
        const matched = this.#topic.route(routingKey);
        return matched.size === 0 ? EMPTY : [...matched].sort(byName);
      }
      case 'headers': {
        if (headers !== undefined && (headers === null || typeof headers !== 'object')) {
          throw new InvalidArgumentError(`message headers must be an object of string values, got ${headers === null ? 'null' : typeof headers}`);
        }
        const matched = new Set<string>();
        for (const binding of this.#headers.values()) {
          if (!matched.has(binding.destination) && headersPatternMatches(binding.pattern, headers)) matched.add(binding.destination);
        }
        return matched.size === 0 ? EMPTY : [...matched].sort(byName);
      }
    }
  }

  /** Every binding, for stats and for checking a replay; allocates. */
  bindings(): ExchangeBinding[] {
    switch (this.type) {
      case 'direct':
        return [...this.#direct].flatMap(([routingKey, destinations]) => destinations.map((destination) => ({ destination, routingKey })));
      case 'topic':
        return [...this.#topic.bindings()].map(([routingKey, destination]) => ({ destination, routingKey }));
      case 'fanout':
        return this.#fanout.map((destination) => ({ destination }));
      case 'headers':
        return [...this.#headers.values()].map(({ destination, headers, pattern }) => ({ destination, headers, match: pattern.match }));
    }
  }

  #apply(op: 'bind' | 'unbind', destination: string, options: BindOptions): boolean {
    if (typeof destination !== 'string' || destination.length === 0) {
      throw new InvalidArgumentError(`${op}: the destination must be a queue or topic name, got ${typeof destination === 'string' ? 'an empty string' : String(destination)}`);
    }
    if (options === null || typeof options !== 'object' || Array.isArray(options)) {
      throw new InvalidArgumentError(`${op} options must be an object like { routingKey, headers, match }, got ${options === null ? 'null' : typeof options}`);
    }
    for (const key of Object.keys(options)) {
      if (!BIND_OPTION_KEYS.has(key)) throw new InvalidArgumentError(`unknown ${op} option ${JSON.stringify(key)}: use routingKey, headers or match`);
    }
    const { routingKey, headers, match } = options;
    if (routingKey !== undefined && typeof routingKey !== 'string') {
      throw new InvalidArgumentError(`${op}: routingKey must be a string, got ${routingKey === null ? 'null' : typeof routingKey}`);
    }
    if (this.type !== 'headers' && (headers !== undefined || match !== undefined)) {
      throw new InvalidArgumentError(`${op}: headers and match apply to headers exchanges only; this exchange is ${this.type}`);
    }
    switch (this.type) {
      case 'direct': {
        if (routingKey === undefined) throw new InvalidArgumentError(`${op} on a direct exchange needs a routingKey ('' is allowed)`);
        const current = this.#direct.get(routingKey) ?? EMPTY;
        const next = op === 'bind' ? sortedWith(current, destination) : sortedWithout(current, destination);
        if (next === null) return false;
        if (next.length === 0) this.#direct.delete(routingKey);
        else this.#direct.set(routingKey, next);
        return true;
      }
      case 'topic':
        if (routingKey === undefined) throw new InvalidArgumentError(`${op} on a topic exchange needs a routingKey pattern ('#' for every key)`);
        return op === 'bind' ? this.#topic.bind(routingKey, destination) : this.#topic.unbind(routingKey, destination);
      case 'fanout': {
        const next = op === 'bind' ? sortedWith(this.#fanout, destination) : sortedWithout(this.#fanout, destination);
        if (next === null) return false;
        this.#fanout = next;
        return true;
      }
      case 'headers': {
        const pattern = compileHeadersPattern(headers, match ?? 'all');
        const valid = (headers ?? {}) as Headers;
        // Identity: destination, match and the header set regardless of key order.
        const id = JSON.stringify([destination, pattern.match, pattern.names.map((n, i) => [n, pattern.values[i]]).sort((a, b) => byName(a[0]!, b[0]!))]);
        if (op === 'unbind') return this.#headers.delete(id);
        if (this.#headers.has(id)) return false;
        this.#headers.set(id, { id, destination, headers: Object.freeze({ ...valid }), pattern });
        return true;
      }
    }
  }
}
