// Proves the body codecs keep their contract: under json and msgpack any JSON value sent comes back
// deep-equal (fast-check), strings come back as the same string, and a Uint8Array is the payload
// itself under every codec (returned untouched, so re-sending msg.bytes is exact) but only when the
// codec can decode it; raw takes bytes and strings only and decodes to the payload itself;
// un-encodable bodies (functions, symbols, undefined, BigInt under json, cycles, numbers under raw,
// lone surrogates) and undecodable bytes (bad UTF-8, not JSON, trailing or truncated MessagePack,
// 0xc1, unknown extensions) are BATON_CODEC with the cause attached; an unknown codec name is
// BATON_INVALID_ARGUMENT; and msgpackr gives the same bytes and values without its native addon.
import { execFileSync } from 'node:child_process';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CODEC_NAMES, type CodecName, getCodec, MSGPACK_OPTIONS } from '../../src/broker/codec.js';
import { CodecError } from '../../src/errors.js';

const json = getCodec('json');
const msgpack = getCodec('msgpack');
const raw = getCodec('raw');
const utf8 = (s: string) => new Uint8Array(Buffer.from(s, 'utf8'));

function codecError(call: () => unknown): CodecError {
  try {
    call();
  } catch (error) {
    expect(error).toBeInstanceOf(CodecError);
    expect((error as CodecError).code).toBe('BATON_CODEC');
    return error as CodecError;
  }
  throw new Error('expected a BATON_CODEC rejection');
}

/** JSON values without -0, which JSON itself writes as 0. */
const jsonValue = fc.jsonValue().map((v) => JSON.parse(JSON.stringify(v)) as unknown);

describe('codec lookup', () => {
  it('codec - each name gives its codec, and the same one every time', () => {
    for (const name of CODEC_NAMES) {
      expect(getCodec(name).name).toBe(name);
      expect(getCodec(name)).toBe(getCodec(name));
    }
  });

  for (const bad of ['JSON', 'protobuf', '', 'toString', '__proto__', undefined, 1]) {
    it(`codec - the name ${JSON.stringify(bad) ?? String(bad)} is BATON_INVALID_ARGUMENT`, () => {
      expect(() => getCodec(bad as CodecName)).toThrow(expect.objectContaining({ code: 'BATON_INVALID_ARGUMENT' }));
    });
  }
});

describe('codec json', () => {
  it('codec json - any JSON value round-trips deep-equal (fast-check)', () => {
    fc.assert(fc.property(jsonValue, (value) => {
      expect(json.decode(json.encode(value))).toStrictEqual(value);
    }), { numRuns: 500 });
  });

  it('codec json - the payload is the JSON text in UTF-8, strings included', () => {
    expect(Buffer.from(json.encode({ a: [1, 'é'] })).toString()).toBe('{"a":[1,"é"]}');
    expect(Buffer.from(json.encode('hi')).toString()).toBe('"hi"');
    expect(json.decode(json.encode('hi'))).toBe('hi');
    expect(json.decode(json.encode('a\ud800b'))).toBe('a\ud800b');
  });

  it('codec json - JSON.stringify semantics: toJSON, omitted undefined, NaN as null', () => {
    const body = { at: new Date(0), gone: undefined, fn: () => 1, n: Number.NaN, list: [undefined] };
    expect(json.decode(json.encode(body))).toStrictEqual({ at: '1970-01-01T00:00:00.000Z', n: null, list: [null] });
  });

  it('codec json - a Uint8Array is the payload as is when it is JSON text, and decodes', () => {
    const bytes = utf8('{"id":7}');
    expect(json.encode(bytes)).toBe(bytes);
    expect(json.decode(json.encode(bytes))).toStrictEqual({ id: 7 });
  });

  it('codec json - a Uint8Array that is not JSON text is refused at encode', () => {
    codecError(() => json.encode(utf8('not json')));
    codecError(() => json.encode(new Uint8Array([0xff, 0xfe])));
    codecError(() => json.encode(Buffer.alloc(0)));
  });

  const unencodable: Array<[string, unknown]> = [
    ['a function', () => 1],
    ['a symbol', Symbol('s')],
    ['undefined', undefined],
    ['a BigInt', 1n],
    ['a nested BigInt', { n: [2n] }],
    ['an object whose toJSON returns undefined', { toJSON: () => undefined }],
  ];
  for (const [what, body] of unencodable) {
    it(`codec json - ${what} is BATON_CODEC`, () => {
      codecError(() => json.encode(body));
    });
  }

  it('codec json - a cycle is BATON_CODEC with the TypeError as cause', () => {
    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic.self = cyclic;
    const error = codecError(() => json.encode(cyclic));
    expect(error.cause).toBeInstanceOf(TypeError);
    expect(error.message).toMatch(/circular/i);
  });

  const undecodable: Array<[string, Uint8Array]> = [
    ['invalid UTF-8', new Uint8Array([0x22, 0xc3, 0x28, 0x22])],
    ['a truncated document', utf8('{"a":')],
    ['two documents', utf8('1 2')],
    ['no bytes', new Uint8Array(0)],
  ];
  for (const [what, bytes] of undecodable) {
    it(`codec json - decoding ${what} is BATON_CODEC with a cause`, () => {
      expect(codecError(() => json.decode(bytes)).cause).toBeDefined();
    });
  }
});

describe('codec msgpack', () => {
  it('codec msgpack - any JSON value round-trips deep-equal (fast-check)', () => {
    fc.assert(fc.property(jsonValue, (value) => {
      expect(msgpack.decode(msgpack.encode(value))).toStrictEqual(value);
    }), { numRuns: 500 });
  });

  it('codec msgpack - a "__proto__" key comes back as an own key, no prototype touched (msgpackr renames it otherwise)', () => {
    const value = JSON.parse('{"__proto__": {"polluted": true}, "list": [{"__proto__": 2}, "x"], "__proto_": 1}') as Record<string, unknown>;
    const back = msgpack.decode(msgpack.encode(value)) as Record<string, unknown>;
    expect(back).toStrictEqual(value);
    expect(Object.keys(back)).toEqual(['__proto__', 'list', '__proto_']);
    expect(Object.getPrototypeOf(back)).toBe(Object.prototype);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('codec msgpack - strings, NaN, 64-bit BigInts and Dates round-trip', () => {
    for (const value of ['hi', '', Number.NaN, 2 ** 53 + 2, 12n, -(2n ** 63n), 2n ** 64n - 1n, new Date(1234)]) {
      expect(msgpack.decode(msgpack.encode(value))).toStrictEqual(value);
    }
  });

  it('codec msgpack - standard MessagePack: a map, not a record', () => {
    expect([...msgpack.encode({ a: 1 })]).toEqual([0x81, 0xa1, 0x61, 0x01]);
    expect([...msgpack.encode('hi')]).toEqual([0xa2, 0x68, 0x69]);
  });

  it('codec msgpack - an object with more than 65,535 keys round-trips (map32)', () => {
    const wide = Object.fromEntries(Array.from({ length: 70_000 }, (_, i) => [`k${i}`, i]));
    expect(msgpack.decode(msgpack.encode(wide))).toStrictEqual(wide);
  });

  it('codec msgpack - a Uint8Array is the payload as is when it is one MessagePack value', () => {
    const bytes = new Uint8Array([0x92, 0x01, 0xa1, 0x78]);
    expect(msgpack.encode(bytes)).toBe(bytes);
    expect(msgpack.decode(bytes)).toStrictEqual([1, 'x']);
  });

  it('codec msgpack - a payload that is a view at an offset of a larger buffer decodes', () => {
    const payload = msgpack.encode({ k: 'v' });
    const backing = new Uint8Array(payload.length + 16).fill(0xc1);
    backing.set(payload, 8);
    expect(msgpack.decode(backing.subarray(8, 8 + payload.length))).toStrictEqual({ k: 'v' });
  });

  const unencodable: Array<[string, unknown]> = [
    ['a function', () => 1],
    ['a symbol', Symbol('s')],
    ['undefined', undefined],
    ['a BigInt beyond 64 bits', 2n ** 64n],
    ['a string with a lone surrogate', 'a\ud800'],
    ['a nested symbol', { s: Symbol('s') }],
  ];
  for (const [what, body] of unencodable) {
    it(`codec msgpack - ${what} is BATON_CODEC`, () => {
      codecError(() => msgpack.encode(body));
    });
  }

  it('codec msgpack - a cycle is BATON_CODEC with the stack overflow as cause', () => {
    const cyclic: unknown[] = [];
    cyclic.push(cyclic);
    expect(codecError(() => msgpack.encode(cyclic)).cause).toBeInstanceOf(RangeError);
  });

  const undecodable: Array<[string, number[]]> = [
    ['trailing bytes', [0x01, 0x02]],
    ['a truncated array', [0x92, 0x01]],
    ['no bytes', []],
    ['the reserved byte 0xc1', [0xc1]],
    ['an unknown extension', [0xd4, 0x05, 0x00]],
    ['a str longer than the payload', [0xd9, 0x10, 0x61]],
  ];
  for (const [what, bytes] of undecodable) {
    it(`codec msgpack - decoding ${what} is BATON_CODEC, and so is encoding it as a payload`, () => {
      codecError(() => msgpack.decode(new Uint8Array(bytes)));
      codecError(() => msgpack.encode(new Uint8Array(bytes)));
    });
  }

  it('codec msgpack - msgpackr without its native addon gives the same bytes and values', () => {
    const sample = { s: 'héllo'.repeat(20), n: [1, -1, 2 ** 40, 0.5], b: true, z: null, long: 'x'.repeat(300), k: 12n };
    const script = `
      import { Packr, isNativeAccelerationEnabled } from 'msgpackr';
      const packr = new Packr(${JSON.stringify(MSGPACK_OPTIONS)});
      const sample = { s: 'héllo'.repeat(20), n: [1, -1, 2 ** 40, 0.5], b: true, z: null, long: 'x'.repeat(300), k: 12n };
      const bytes = packr.pack(sample);
      const back = packr.unpack(bytes);
      process.stdout.write(JSON.stringify({ native: isNativeAccelerationEnabled, hex: Buffer.from(bytes).toString('hex'), back: { ...back, k: String(back.k) } }));`;
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], {
      cwd: new URL('../..', import.meta.url),
      env: { ...process.env, MSGPACKR_NATIVE_ACCELERATION_DISABLED: 'true' },
      encoding: 'utf8',
    });
    const child = JSON.parse(out) as { native: boolean; hex: string; back: Record<string, unknown> };
    expect(child.native).toBe(false);
    expect(child.hex).toBe(Buffer.from(msgpack.encode(sample)).toString('hex'));
    expect(child.back).toStrictEqual({ ...sample, k: '12' });
  });
});

describe('codec raw', () => {
  it('codec raw - bytes are the payload and the body, the very same array', () => {
    const bytes = new Uint8Array([0, 255, 7]);
    expect(raw.encode(bytes)).toBe(bytes);
    expect(raw.decode(bytes)).toBe(bytes);
  });

  it('codec raw - a string is its UTF-8 bytes, and the body is those bytes', () => {
    const body = raw.decode(raw.encode('héllo'));
    expect(body).toBeInstanceOf(Uint8Array);
    expect(Buffer.from(body as Uint8Array).toString('utf8')).toBe('héllo');
  });

  it('codec raw - any bytes round-trip untouched (fast-check)', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 256 }), (bytes) => {
      expect([...(raw.decode(raw.encode(bytes)) as Uint8Array)]).toEqual([...bytes]);
    }));
  });

  for (const [what, body] of [['a number', 42], ['an object', { a: 1 }], ['null', null], ['undefined', undefined], ['an ArrayBuffer', new ArrayBuffer(4)], ['a string with a lone surrogate', 'a\udc00']] as Array<[string, unknown]>) {
    it(`codec raw - ${what} is BATON_CODEC`, () => {
      codecError(() => raw.encode(body));
    });
  }
});

describe('codec forwarding', () => {
  it('codec - re-sending msg.bytes gives the same payload and body under every codec (fast-check)', () => {
    const bodies = fc.oneof(jsonValue, fc.string(), fc.uint8Array({ maxLength: 64 }));
    fc.assert(fc.property(fc.constantFrom(...CODEC_NAMES), bodies, (name, body) => {
      const codec = getCodec(name);
      let bytes: Uint8Array;
      try {
        bytes = codec.encode(body);
      } catch (error) {
        // Only raw refuses JSON values; arbitrary bytes may not be JSON or MessagePack.
        expect(error).toBeInstanceOf(CodecError);
        expect(name === 'raw' ? typeof body !== 'string' && !(body instanceof Uint8Array) : body instanceof Uint8Array).toBe(true);
        return;
      }
      expect(codec.encode(bytes)).toBe(bytes);
      expect(codec.decode(codec.encode(bytes))).toStrictEqual(codec.decode(bytes));
    }), { numRuns: 500 });
  });
});
