/**
 * Body codecs: what `send(body)` turns into payload bytes, and what `msg.body` is made from them.
 * Every destination has one (`json` by default, `msgpack`, `raw`); `msg.bytes` is always the
 * payload itself and `msg.body` is `codec.decode(msg.bytes)`.
 *
 * The rules, the same under every codec so that nothing depends on which one a destination has:
 *
 * | body passed to send     | json                              | msgpack                         | raw                         |
 * |-------------------------|-----------------------------------|---------------------------------|-----------------------------|
 * | `Uint8Array` (Buffer)   | the payload as is: must be UTF-8 JSON text | the payload as is: must be one MessagePack value | the payload as is |
 * | `string`                | a JSON string (`"hi"` → `"\"hi\""`) | a MessagePack str             | its UTF-8 bytes             |
 * | any other value         | `JSON.stringify(body)`            | MessagePack (msgpackr)          | CodecError                  |
 *
 * - **A `Uint8Array` is the payload, already encoded.** This is what amqplib, KafkaJS and the NATS
 *   clients do (a Buffer *is* the message), it lets a producer encode off the hot thread, and it
 *   makes forwarding exact: re-sending a received `msg.bytes` to a destination with the same codec
 *   yields the same `msg.body` (dead-lettering and shovelling move bytes, never re-encode). The
 *   bytes are checked to decode, so a payload that no consumer could read is refused at `send`
 *   (CodecError) instead of failing every delivery later. They are returned as they are, not
 *   copied: the caller copies them into the ring or the log before the send resolves.
 * - **A string is a value under json and msgpack**, so `send('hi')` gives `msg.body === 'hi'`
 *   as BullMQ users expect; under raw it is its UTF-8 bytes, and `msg.body` is those bytes.
 * - **json is JSON.stringify / JSON.parse**, with their semantics (as BullMQ's job data): what
 *   stringify does to a value - `toJSON()` (Dates become ISO strings), `undefined` and function
 *   properties omitted, `NaN`/`Infinity` as `null`, `-0` as `0`, Maps and Sets as `{}` - is what the
 *   consumer sees. For JSON values (null, booleans, finite numbers, strings, arrays and plain
 *   objects of them) `msg.body` deep-equals the body sent. Refused (CodecError, the cause
 *   attached): a body with no JSON text at all (`undefined`, a function, a symbol), a BigInt
 *   anywhere, a cycle.
 * - **msgpack is msgpackr in standard mode** (plain maps, no record extension, no structured
 *   clone), so other MessagePack decoders read the payloads. Refused: `undefined`, functions and
 *   symbols at the top, cycles and nesting too deep for the stack, a BigInt outside 64 bits.
 *   BigInts within 64 bits round-trip as BigInts (int64 decodes as a BigInt); Dates round-trip as
 *   Dates (the standard timestamp extension); Maps decode as objects, Sets as arrays; a nested
 *   `undefined` round-trips as msgpackr's undefined extension (a nested function becomes it too);
 *   `-0` becomes `0`. Only a top-level string is checked for lone surrogates: msgpackr replaces
 *   them in nested strings. msgpackr's optional native addon (msgpackr-extract) only speeds up
 *   string decoding; without it the bytes and values are the same (tested).
 * - **raw takes bytes or strings only**; a string must be well-formed UTF-16 (no lone
 *   surrogate: it would not come back). `decode` returns the payload itself, not a copy: under raw
 *   `msg.body` is `msg.bytes`, a `Uint8Array` (wrap it with `Buffer.from(b.buffer, b.byteOffset,
 *   b.length)` for `.toString()`).
 *
 * Encoded bytes may be views into a shared pool (Node's Buffer pool, msgpackr's output buffer):
 * read or copy them, do not keep them for long or transfer their `.buffer`.
 */
import { C1, Packr } from 'msgpackr';
import { CodecError, InvalidArgumentError } from '../errors.js';
import type { ArenaView } from '../log/arena.js';

export type CodecName = 'json' | 'msgpack' | 'raw';

export interface Codec {
  readonly name: CodecName;
  /** Payload bytes for `body` (see the table at the top); CodecError when it cannot be encoded. */
  encode(body: unknown): Uint8Array;
  /**
   * The payload for `body` as `encode` makes it, but as text where it is text (JSON, a raw
   * string), so that a producer writes it into the arena as UTF-8 with no buffer in between.
   */
  toPayload(body: unknown): string | Uint8Array;
  /** The body for payload `bytes`; CodecError when they are not a payload of this codec. */
  decode(bytes: Uint8Array): unknown;
  /**
   * The body of a payload at `[start, end)` of the arena, checked when it was sent: read in place
   * (raw: a copy, so that the body outlives the message's memory).
   */
  decodeAt(arena: ArenaView, start: number, end: number): unknown;
}

export const CODEC_NAMES: readonly CodecName[] = Object.freeze(['json', 'msgpack', 'raw']);

/**
 * msgpackr's options, exported so a test can run the same configuration in a process without the
 * native addon. Standard MessagePack only: maps, not records; no structured clone; int64 as BigInt
 * so a BigInt sent comes back a BigInt (msgpackr writes non-32-bit numbers as float64, so no
 * number turns into a BigInt).
 */
export const MSGPACK_OPTIONS = Object.freeze({
  useRecords: false,
  mapsAsObjects: true,
  moreTypes: false,
  structuredClone: false,
  bundleStrings: false,
  // fixmap/map16/map32 by key count: smaller payloads, and objects over 65,535 keys encode at all
  // (msgpackr's default always writes map16), for 5-10 % of encoding speed.
  variableMapSize: true,
  int64AsType: 'bigint',
} as const);

function describeBody(body: unknown): string {
  if (body === null) return 'null';
  if (body instanceof Uint8Array) return `${body.constructor.name}(${body.length})`;
  if (typeof body === 'object') return (body as object).constructor?.name ?? 'object';
  return typeof body;
}

function toBytes(text: string): Uint8Array {
  return Buffer.from(text, 'utf8');
}

/** Throws UTF-8 decoding errors instead of inserting U+FFFD: a payload is either text or refused. */
const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function decodeUtf8(bytes: Uint8Array, codec: CodecName): string {
  try {
    return strictUtf8.decode(bytes);
  } catch (cause) {
    throw new CodecError(`${codec} payload of ${bytes.length} bytes is not valid UTF-8`, { cause });
  }
}

function encodeString(body: string, codec: CodecName): string {
  if (!body.isWellFormed()) {
    throw new CodecError(`${codec} cannot encode a string with a lone surrogate (it would not decode to the same string): fix the string, or send bytes`);
  }
  return body;
}

function refuseNonValue(body: unknown, codec: CodecName): void {
  if (body === undefined || typeof body === 'function' || typeof body === 'symbol') {
    throw new CodecError(`${codec} cannot encode a body of type ${typeof body}: send a value, a string or bytes`);
  }
}

const jsonCodec: Codec = Object.freeze({
  name: 'json' as const,
  encode(body: unknown): Uint8Array {
    const payload = jsonCodec.toPayload(body);
    return typeof payload === 'string' ? toBytes(payload) : payload;
  },
  toPayload(body: unknown): string | Uint8Array {
    if (body instanceof Uint8Array) {
      jsonCodec.decode(body);
      return body;
    }
    refuseNonValue(body, 'json');
    let text: string | undefined;
    try {
      text = JSON.stringify(body);
    } catch (cause) {
      // TypeError for a BigInt or a cycle; RangeError for nesting too deep for the stack.
      throw new CodecError(`json cannot encode this ${describeBody(body)} body (${(cause as Error).message}): send JSON-able values, or use the msgpack codec`, { cause });
    }
    if (text === undefined) {
      // toJSON() returned undefined, a function or a symbol.
      throw new CodecError(`json cannot encode this ${describeBody(body)} body: JSON.stringify gives no text for it`);
    }
    return text;
  },
  decodeAt(arena: ArenaView, start: number, end: number): unknown {
    const text = arena.buffer.utf8Slice(start, end);
    try {
      return JSON.parse(text);
    } catch (cause) {
      throw new CodecError(`json payload of ${end - start} bytes is not JSON (${(cause as Error).message})`, { cause });
    }
  },
  decode(bytes: Uint8Array): unknown {
    const text = decodeUtf8(bytes, 'json');
    try {
      return JSON.parse(text);
    } catch (cause) {
      throw new CodecError(`json payload of ${bytes.length} bytes is not JSON (${(cause as Error).message})`, { cause });
    }
  },
});

const packr = new Packr(MSGPACK_OPTIONS);
/**
 * msgpackr renames a map key `__proto__` to `__proto_` when it builds objects (its guard against
 * prototype pollution), so such a body would not come back as sent. A payload that holds those
 * bytes is decoded to Maps instead and turned into objects here, the key defined as an own
 * property (no prototype is touched). Found by the round-trip property test.
 */
const mapsPackr = new Packr({ ...MSGPACK_OPTIONS, mapsAsObjects: false });
const PROTO_KEY = Buffer.from('__proto__');

function mapsToObjects(value: unknown): unknown {
  if (value instanceof Map) {
    const object: Record<string, unknown> = {};
    for (const [key, item] of value) Object.defineProperty(object, String(key), { value: mapsToObjects(item), enumerable: true, writable: true, configurable: true });
    return object;
  }
  if (Array.isArray(value)) return value.map(mapsToObjects);
  return value;
}

const msgpackCodec: Codec = Object.freeze({
  name: 'msgpack' as const,
  toPayload(body: unknown): string | Uint8Array {
    return msgpackCodec.encode(body);
  },
  decodeAt(arena: ArenaView, start: number, end: number): unknown {
    return msgpackCodec.decode(arena.bytes.subarray(start, end));
  },
  encode(body: unknown): Uint8Array {
    if (body instanceof Uint8Array) {
      msgpackCodec.decode(body);
      return body;
    }
    refuseNonValue(body, 'msgpack');
    if (typeof body === 'string') encodeString(body, 'msgpack');
    try {
      return packr.pack(body);
    } catch (cause) {
      // RangeError for a cycle (stack), a BigInt beyond 64 bits; Error for a nested symbol.
      throw new CodecError(`msgpack cannot encode this ${describeBody(body)} body (${(cause as Error).message})`, { cause });
    }
  },
  decode(bytes: Uint8Array): unknown {
    let value: unknown;
    try {
      // Throws on trailing bytes, truncation and unknown extensions.
      const protoKey = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).indexOf(PROTO_KEY) >= 0;
      value = protoKey ? mapsToObjects(mapsPackr.unpack(bytes)) : packr.unpack(bytes);
    } catch (cause) {
      throw new CodecError(`msgpack payload of ${bytes.length} bytes is not one MessagePack value (${(cause as Error).message})`, { cause });
    }
    // 0xc1 is "never used" in MessagePack; msgpackr decodes it to a marker instead of failing.
    if (value === C1) throw new CodecError(`msgpack payload of ${bytes.length} bytes is the reserved byte 0xc1`);
    return value;
  },
});

const rawCodec: Codec = Object.freeze({
  name: 'raw' as const,
  encode(body: unknown): Uint8Array {
    const payload = rawCodec.toPayload(body);
    return typeof payload === 'string' ? toBytes(payload) : payload;
  },
  toPayload(body: unknown): string | Uint8Array {
    if (body instanceof Uint8Array) return body;
    if (typeof body === 'string') return encodeString(body, 'raw');
    throw new CodecError(`raw takes a Uint8Array or a string, got ${describeBody(body)}: encode it yourself, or use the json or msgpack codec`);
  },
  decodeAt(arena: ArenaView, start: number, end: number): unknown {
    // Pooled, as Buffer.from makes small copies (see queue-delivery.ts copyOut).
    const copy = Buffer.allocUnsafe(end - start);
    arena.buffer.copy(copy, 0, start, end);
    return copy;
  },
  decode(bytes: Uint8Array): unknown {
    return bytes;
  },
});

const CODECS: Readonly<Record<CodecName, Codec>> = Object.freeze({ json: jsonCodec, msgpack: msgpackCodec, raw: rawCodec });

/** The codec called `name`; InvalidArgumentError (BATON_INVALID_ARGUMENT) for any other name. */
export function getCodec(name: CodecName): Codec {
  if (typeof name !== 'string' || !Object.hasOwn(CODECS, name)) {
    throw new InvalidArgumentError(`codec must be 'json', 'msgpack' or 'raw', got ${typeof name === 'string' ? JSON.stringify(name) : String(name)}`);
  }
  return CODECS[name];
}
