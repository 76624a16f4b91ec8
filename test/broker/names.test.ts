// Proves destination names are safe to put in file names and actor ids: exactly the names of
// 1..180 characters of [A-Za-z0-9._-] other than '.', '..' and names containing '..' are accepted
// (checked against a written-out model over generated strings), everything else - '/', '\', ':',
// NUL, whitespace, non-ASCII, empty, too long, not a string - is BATON_INVALID_NAME with a message
// that names the rule and shows the bad name escaped.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DESTINATION_NAME_LENGTH_MAX, type DestinationKind, validateDestinationName } from '../../src/broker/names.js';
import { InvalidNameError } from '../../src/errors.js';

const KINDS: DestinationKind[] = ['queue', 'topic', 'exchange'];
const SAFE = 'abcXYZ019._-';

/** The rule, written out character by character. */
function isValidModel(name: string): boolean {
  if (name.length < 1 || name.length > 180) return false;
  for (const ch of name) {
    const c = ch.codePointAt(0)!;
    const ok = (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || ch === '.' || ch === '_' || ch === '-';
    if (!ok) return false;
  }
  return name !== '.' && !name.includes('..');
}

function rejection(call: () => unknown): InvalidNameError {
  try {
    call();
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidNameError);
    expect((error as InvalidNameError).code).toBe('BATON_INVALID_NAME');
    return error as InvalidNameError;
  }
  throw new Error('expected a BATON_INVALID_NAME rejection');
}

describe('destination names', () => {
  it('names - typical queue, topic and exchange names are accepted and returned unchanged', () => {
    for (const kind of KINDS) {
      for (const name of ['orders', 'Orders.v2', 'dead_letters', 'a', 'x-1.y_2', '-', '_', '.hidden', 'a.', 'a'.repeat(DESTINATION_NAME_LENGTH_MAX)]) {
        expect(validateDestinationName(kind, name)).toBe(name);
      }
    }
  });

  const bad: Array<[string, unknown, RegExp]> = [
    ['the empty name', '', /must not be empty/],
    ['"."', '.', /must not be '\.' or '\.\.'/],
    ['".."', '..', /must not be '\.' or '\.\.'/],
    ['a name containing ".."', 'a..b', /contain '\.\.'/],
    ['a slash', 'a/b', /outside \[A-Za-z0-9\._-\]/],
    ['a path escape', '../etc', /outside/],
    ['a backslash', 'a\\b', /outside/],
    ['a colon', 'queue:x', /outside/],
    ['NUL', 'a\u0000b', /outside/],
    ['a space', 'a b', /outside/],
    ['a tab', 'a\tb', /outside/],
    ['a newline', 'a\nb', /outside/],
    ['non-ASCII letters', 'café', /outside/],
    ['181 characters', 'a'.repeat(DESTINATION_NAME_LENGTH_MAX + 1), /too long/],
    ['a number', 42, /must be a string/],
    ['undefined', undefined, /must be a string/],
    ['null', null, /must be a string, got null/],
  ];
  for (const [what, name, message] of bad) {
    it(`names - ${what} is BATON_INVALID_NAME naming the rule`, () => {
      for (const kind of KINDS) {
        const error = rejection(() => validateDestinationName(kind, name));
        expect(error.message).toMatch(message);
        expect(error.message).toContain(`${kind} name`);
        expect(error.message).toContain('[A-Za-z0-9._-]');
      }
    });
  }

  it('names - the bad name is shown escaped: NUL, newlines and quotes cannot garble the message', () => {
    const error = rejection(() => validateDestinationName('queue', 'a\u0000b\n"c'));
    expect(error.message).toContain(JSON.stringify('a\u0000b\n"c'));
    expect(error.message).not.toMatch(/[\u0000\n]/);
  });

  it('names - a very long bad name is quoted cut short with its length', () => {
    const error = rejection(() => validateDestinationName('topic', 'x'.repeat(5000)));
    expect(error.message.length).toBeLessThan(400);
    expect(error.message).toContain('5000 characters');
  });

  it('names - an unknown kind is BATON_INVALID_NAME', () => {
    rejection(() => validateDestinationName('stream' as DestinationKind, 'orders'));
  });

  it('names - accepted exactly when the written-out rule accepts (fast-check)', () => {
    const nearlySafe = fc.string({ unit: fc.constantFrom(...SAFE, '/', '\\', ':', '\u0000', ' ', 'é', '..'), minLength: 0, maxLength: 12 });
    const anyString = fc.string({ unit: 'grapheme-composite', maxLength: 8 });
    const long = fc.integer({ min: 195, max: 205 }).map((n) => 'a'.repeat(n));
    fc.assert(
      fc.property(fc.oneof(nearlySafe, anyString, long), fc.constantFrom(...KINDS), (name, kind) => {
        if (isValidModel(name)) expect(validateDestinationName(kind, name)).toBe(name);
        else rejection(() => validateDestinationName(kind, name));
      }),
      { numRuns: 2000 },
    );
  });
});
