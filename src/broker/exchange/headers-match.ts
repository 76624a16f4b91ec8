/**
 * Headers-exchange matching (`match: 'all' | 'any'`), RabbitMQ's `x-match` semantics
 * (rabbit_exchange_type_headers:headers_match):
 *
 *   - `all` (the default): every header of the binding is present in the message with an equal
 *     value; extra message headers do not matter. A binding with **no** headers therefore matches
 *     **every** message (RabbitMQ starts `AllMatch` at true and nothing falsifies it).
 *   - `any`: at least one header of the binding is present with an equal value. A binding with no
 *     headers matches **no** message (RabbitMQ starts `AnyMatch` at false).
 *
 * Names and values are compared exactly (case-sensitive, as RabbitMQ compares binaries); values
 * are strings, as `headers?: Record<string, string>` in the API. Only own properties count, so a
 * header called `toString` or `__proto__` is an ordinary header.
 *
 * Where we differ: RabbitMQ puts `x-match` among the binding's arguments and so skips every
 * binding argument starting with `x-` (unless `all-with-x`/`any-with-x`). Here `match` is its own
 * option, so every binding header is matched as written, `x-` ones included; a binding header
 * named `x-match` is refused (InvalidArgumentError) because it is the RabbitMQ habit of putting
 * the match mode among the headers, which would otherwise silently mean "match a header called
 * x-match".
 */
import { InvalidArgumentError } from '../../errors.js';

export type HeadersMatchMode = 'all' | 'any';

export type Headers = Readonly<Record<string, string>>;

/** A binding's headers, validated and laid out as parallel arrays for matching. */
export interface HeadersPattern {
  readonly match: HeadersMatchMode;
  readonly names: readonly string[];
  readonly values: readonly string[];
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

/**
 * Checks that `value` is a plain object of string values (or undefined, which is `{}`) and returns
 * it; InvalidArgumentError naming `what` and the first bad entry otherwise.
 */
export function validateHeaders(what: string, value: unknown): Headers {
  if (value === undefined) return Object.freeze({});
  if (!isPlainObject(value)) {
    throw new InvalidArgumentError(`${what} must be an object of string values like { format: 'pdf' }, got ${value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value}`);
  }
  for (const name of Object.keys(value)) {
    if (typeof value[name] !== 'string') {
      throw new InvalidArgumentError(`${what}: header ${JSON.stringify(name)} must have a string value, got ${typeof value[name]}`);
    }
  }
  return value as Headers;
}

/** Validates a binding's `headers` and `match` (default 'all') into a pattern. */
export function compileHeadersPattern(headers: unknown, match: unknown = 'all'): HeadersPattern {
  if (match !== 'all' && match !== 'any') {
    throw new InvalidArgumentError(`match must be 'all' or 'any', got ${typeof match === 'string' ? JSON.stringify(match) : String(match)}`);
  }
  const valid = validateHeaders('binding headers', headers);
  if (Object.hasOwn(valid, 'x-match')) {
    throw new InvalidArgumentError("binding headers must not contain 'x-match': pass match: 'all' | 'any' as its own option");
  }
  const names = Object.keys(valid);
  return Object.freeze({ match, names: Object.freeze(names), values: Object.freeze(names.map((n) => valid[n]!)) });
}

/** Whether a message with `headers` (undefined: none) matches the binding `pattern`. */
export function headersPatternMatches(pattern: HeadersPattern, headers: Headers | undefined): boolean {
  const { names, values } = pattern;
  if (pattern.match === 'all') {
    if (names.length === 0) return true;
    if (headers === undefined) return false;
    for (let i = 0; i < names.length; i++) {
      const name = names[i]!;
      if (!Object.hasOwn(headers, name) || headers[name] !== values[i]) return false;
    }
    return true;
  }
  if (headers === undefined) return false;
  for (let i = 0; i < names.length; i++) {
    const name = names[i]!;
    if (Object.hasOwn(headers, name) && headers[name] === values[i]) return true;
  }
  return false;
}

/** One-shot form: compiles the binding and matches it. */
export function headersMatch(bindingHeaders: Headers, match: HeadersMatchMode, headers: Headers | undefined): boolean {
  return headersPatternMatches(compileHeadersPattern(bindingHeaders, match), headers);
}
