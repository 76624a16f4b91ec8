// Proves headers matching has RabbitMQ's x-match semantics: 'all' needs every binding header
// present with an equal value, 'any' at least one; a binding with no headers matches every
// message under 'all' and none under 'any' (as rabbit_exchange_type_headers starts AllMatch true
// and AnyMatch false); names and values compare exactly; only own properties count; both agree
// with a written-out model for any headers (fast-check); bad headers, a bad match and an
// 'x-match' binding header are BATON_INVALID_ARGUMENT.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compileHeadersPattern, type Headers, headersMatch, headersPatternMatches } from '../../src/broker/exchange/headers-match.js';

function model(binding: Headers, match: 'all' | 'any', headers: Headers | undefined): boolean {
  const entries = Object.entries(binding);
  const has = ([k, v]: [string, string]) => headers !== undefined && Object.prototype.hasOwnProperty.call(headers, k) && headers[k] === v;
  return match === 'all' ? entries.every(has) : entries.some(has);
}

describe('headers match', () => {
  const binding = { format: 'pdf', type: 'report' };

  it('headers match - all: every binding header present and equal; extra message headers ignored', () => {
    expect(headersMatch(binding, 'all', { format: 'pdf', type: 'report', extra: 'x' })).toBe(true);
    expect(headersMatch(binding, 'all', { format: 'pdf' })).toBe(false);
    expect(headersMatch(binding, 'all', { format: 'pdf', type: 'log' })).toBe(false);
    expect(headersMatch(binding, 'all', undefined)).toBe(false);
  });

  it('headers match - any: one binding header present and equal is enough', () => {
    expect(headersMatch(binding, 'any', { format: 'pdf' })).toBe(true);
    expect(headersMatch(binding, 'any', { type: 'report', format: 'zip' })).toBe(true);
    expect(headersMatch(binding, 'any', { format: 'zip' })).toBe(false);
    expect(headersMatch(binding, 'any', {})).toBe(false);
    expect(headersMatch(binding, 'any', undefined)).toBe(false);
  });

  it('headers match - a binding with no headers matches everything under all and nothing under any', () => {
    for (const headers of [undefined, {}, { a: '1' }] as Array<Headers | undefined>) {
      expect(headersMatch({}, 'all', headers)).toBe(true);
      expect(headersMatch({}, 'any', headers)).toBe(false);
    }
  });

  it('headers match - the default match is all', () => {
    expect(compileHeadersPattern({ a: '1' }).match).toBe('all');
    expect(compileHeadersPattern(undefined).names).toEqual([]);
  });

  it('headers match - names and values compare exactly: case, empty strings, x- headers', () => {
    expect(headersMatch({ Format: 'pdf' }, 'all', { format: 'pdf' })).toBe(false);
    expect(headersMatch({ format: 'PDF' }, 'all', { format: 'pdf' })).toBe(false);
    expect(headersMatch({ a: '' }, 'all', { a: '' })).toBe(true);
    expect(headersMatch({ a: '' }, 'all', {})).toBe(false);
    expect(headersMatch({ 'x-tenant': 'a' }, 'all', { 'x-tenant': 'b' })).toBe(false);
  });

  it('headers match - inherited properties are not headers', () => {
    expect(headersMatch({ toString: 'x' }, 'any', {})).toBe(false);
    expect(headersMatch({ toString: 'x' }, 'all', { toString: 'x' })).toBe(true);
    const message = Object.create({ format: 'pdf' }) as Headers;
    expect(headersMatch({ format: 'pdf' }, 'all', message)).toBe(false);
    const withProtoKey = JSON.parse('{"__proto__":"p"}') as Headers;
    expect(headersMatch(withProtoKey, 'all', JSON.parse('{"__proto__":"p"}') as Headers)).toBe(true);
    expect(headersMatch(withProtoKey, 'all', {})).toBe(false);
  });

  it('headers match - agrees with a written-out model for any binding and message (fast-check)', () => {
    const name = fc.constantFrom('a', 'b', 'c', 'x-d', 'toString');
    const value = fc.constantFrom('1', '2', '');
    const headers = fc.dictionary(name, value, { maxKeys: 5 });
    fc.assert(fc.property(headers, fc.constantFrom('all' as const, 'any' as const), fc.option(headers, { nil: undefined }), (b, match, m) => {
      const pattern = compileHeadersPattern(b, match);
      expect(headersPatternMatches(pattern, m)).toBe(model(b, match, m));
    }), { numRuns: 2000 });
  });

  const bad: Array<[string, unknown, unknown]> = [
    ['a match of "some"', {}, 'some'],
    ['a match of "x-any"', {}, 'x-any'],
    ['headers that are an array', ['a'], 'all'],
    ['headers that are a string', 'a=1', 'all'],
    ['headers that are null', null, 'all'],
    ['headers that are a Map', new Map([['a', '1']]), 'all'],
    ['a number header value', { a: 1 }, 'all'],
    ['an undefined header value', { a: undefined }, 'any'],
    ["an 'x-match' binding header", { 'x-match': 'any', a: '1' }, 'all'],
  ];
  for (const [what, headers, match] of bad) {
    it(`headers match - ${what} is BATON_INVALID_ARGUMENT`, () => {
      expect(() => compileHeadersPattern(headers, match)).toThrow(expect.objectContaining({ code: 'BATON_INVALID_ARGUMENT' }));
    });
  }
});
