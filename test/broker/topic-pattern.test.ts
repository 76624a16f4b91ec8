// Proves topic routing has RabbitMQ's AMQP semantics: RabbitMQ's own routing test table
// (rabbitmq/rabbitmq-server deps/rabbit/test/routing_SUITE.erl, topic1: 26 bindings, 12 keys,
// then again after removing bindings) routes the same through TopicRoutingTable and topicMatches;
// the edge cases from RabbitMQ's docs hold ('#' alone matches everything including "", 'a.#'
// matches 'a', '*' does not match "", words may be empty); the trie agrees with topicMatches over
// any bindings, keys, unbinds (fast-check), and topicMatches agrees with a regular-expression
// model; unbinding prunes the trie back to nothing; '#.#.#...' against long keys stays fast.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TopicRoutingTable, topicMatches, topicWords } from '../../src/broker/exchange/topic-pattern.js';

/** A pattern as a regular expression over the key with a leading '.', RabbitMQ semantics. */
function regexModel(pattern: string, key: string): boolean {
  // Each key word is '.' + word; "" has no words. '*' is one word, '#' any number of words.
  const keyText = topicWords(key).map((w) => '.' + w).join('');
  const source = topicWords(pattern)
    .map((w) => (w === '*' ? '\\.[^.]*' : w === '#' ? '(?:\\.[^.]*)*' : '\\.' + w.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
    .join('');
  return new RegExp(`^${source}$`).test(keyText);
}

// RabbitMQ routing_SUITE topic1 bindings (t27 bound once: our bindings carry no arguments).
const RABBIT_BINDINGS: Array<[string, string]> = [
  ['a.b.c', 't1'], ['a.*.c', 't2'], ['a.#.b', 't3'], ['a.b.b.c', 't4'], ['#', 't5'], ['#.#', 't6'], ['#.b', 't7'],
  ['*.*', 't8'], ['a.*', 't9'], ['*.b.c', 't10'], ['a.#', 't11'], ['a.#.#', 't12'], ['b.b.c', 't13'], ['a.b.b', 't14'],
  ['a.b', 't15'], ['b.c', 't16'], ['', 't17'], ['*.*.*', 't18'], ['vodka.martini', 't19'], ['a.b.c', 't20'],
  ['*.#', 't21'], ['#.*.#', 't22'], ['*.#.#', 't23'], ['#.#.#', 't24'], ['*', 't25'], ['#.b.#', 't26'], ['args-test', 't27'],
];
const RABBIT_ROUTES: Array<[string, string[]]> = [
  ['a.b.c', ['t1', 't2', 't5', 't6', 't10', 't11', 't12', 't18', 't20', 't21', 't22', 't23', 't24', 't26']],
  ['a.b', ['t3', 't5', 't6', 't7', 't8', 't9', 't11', 't12', 't15', 't21', 't22', 't23', 't24', 't26']],
  ['a.b.b', ['t3', 't5', 't6', 't7', 't11', 't12', 't14', 't18', 't21', 't22', 't23', 't24', 't26']],
  ['', ['t5', 't6', 't17', 't24']],
  ['b.c.c', ['t5', 't6', 't18', 't21', 't22', 't23', 't24', 't26']],
  ['a.a.a.a.a', ['t5', 't6', 't11', 't12', 't21', 't22', 't23', 't24']],
  ['vodka.gin', ['t5', 't6', 't8', 't21', 't22', 't23', 't24']],
  ['vodka.martini', ['t5', 't6', 't8', 't19', 't21', 't22', 't23', 't24']],
  ['b.b.c', ['t5', 't6', 't10', 't13', 't18', 't21', 't22', 't23', 't24', 't26']],
  ['nothing.here.at.all', ['t5', 't6', 't21', 't22', 't23', 't24']],
  ['oneword', ['t5', 't6', 't21', 't22', 't23', 't24', 't25']],
  ['args-test', ['t5', 't6', 't21', 't22', 't23', 't24', 't25', 't27']],
];
// After removing bindings 1, 5, 11, 19 and 21 (a.b.c→t1, #→t5, a.#→t11, vodka.martini→t19, *.#→t21).
const RABBIT_ROUTES_AFTER_REMOVAL: Array<[string, string[]]> = [
  ['a.b.c', ['t2', 't6', 't10', 't12', 't18', 't20', 't22', 't23', 't24', 't26']],
  ['a.b', ['t3', 't6', 't7', 't8', 't9', 't12', 't15', 't22', 't23', 't24', 't26']],
  ['a.b.b', ['t3', 't6', 't7', 't12', 't14', 't18', 't22', 't23', 't24', 't26']],
  ['', ['t6', 't17', 't24']],
  ['b.c.c', ['t6', 't18', 't22', 't23', 't24', 't26']],
  ['a.a.a.a.a', ['t6', 't12', 't22', 't23', 't24']],
  ['vodka.gin', ['t6', 't8', 't22', 't23', 't24']],
  ['vodka.martini', ['t6', 't8', 't22', 't23', 't24']],
  ['b.b.c', ['t6', 't10', 't13', 't18', 't22', 't23', 't24', 't26']],
  ['nothing.here.at.all', ['t6', 't22', 't23', 't24']],
  ['oneword', ['t6', 't22', 't23', 't24', 't25']],
  ['args-test', ['t6', 't22', 't23', 't24', 't25', 't27']],
];
const sorted = (xs: Iterable<string>) => [...xs].sort();

describe('topic matching', () => {
  it("topic - RabbitMQ's routing_SUITE table routes the same through the trie and topicMatches", () => {
    const table = new TopicRoutingTable();
    for (const [pattern, q] of RABBIT_BINDINGS) table.bind(pattern, q);
    for (const [key, expected] of RABBIT_ROUTES) {
      expect(sorted(table.route(key)), key).toEqual(sorted(expected));
      expect(sorted(RABBIT_BINDINGS.filter(([p]) => topicMatches(p, key)).map(([, q]) => q)), key).toEqual(sorted(expected));
    }
    for (const n of [1, 5, 11, 19, 21]) expect(table.unbind(...RABBIT_BINDINGS[n - 1]!)).toBe(true);
    for (const [key, expected] of RABBIT_ROUTES_AFTER_REMOVAL) expect(sorted(table.route(key)), key).toEqual(sorted(expected));
  });

  const cases: Array<[string, string, boolean]> = [
    ['#', '', true],
    ['#', 'a', true],
    ['#', 'a.b.c', true],
    ['#', '.', true],
    ['a.#', 'a', true],
    ['a.#', 'a.b.c', true],
    ['a.#', 'b', false],
    ['#.a', 'a', true],
    ['a.#.b', 'a.b', true],
    ['*', '', false],
    ['*', 'a', true],
    ['*', 'a.b', false],
    ['*.*', '.', true],
    ['a.*', 'a.', true],
    ['a.*.b', 'a..b', true],
    ['a..b', 'a..b', true],
    ['a..b', 'a.b', false],
    ['', '', true],
    ['', 'a', false],
    ['a*', 'ab', false],
    ['a*', 'a*', true],
    ['#b', 'b', false],
    ['#.#', '', true],
    ['*.#', '', false],
    ['stock.*.nyse', 'stock.usd.nyse', true],
    ['*.orange.*', 'quick.orange.rabbit', true],
    ['*.*.rabbit', 'quick.orange.male.rabbit', false],
    ['lazy.#', 'lazy.orange.male.rabbit', true],
  ];
  for (const [pattern, key, expected] of cases) {
    it(`topic - ${JSON.stringify(pattern)} ${expected ? 'matches' : 'does not match'} ${JSON.stringify(key)}`, () => {
      expect(topicMatches(pattern, key)).toBe(expected);
      expect(regexModel(pattern, key)).toBe(expected);
      const table = new TopicRoutingTable();
      table.bind(pattern, 'q');
      expect(table.route(key).has('q')).toBe(expected);
    });
  }

  const word = fc.constantFrom('a', 'b', '', 'c');
  const patternWord = fc.constantFrom('a', 'b', '', '*', '#', '*', '#');
  const key = fc.array(word, { maxLength: 6 }).map((ws) => ws.join('.'));
  const pattern = fc.array(patternWord, { maxLength: 6 }).map((ws) => ws.join('.'));

  it('topic - topicMatches agrees with a regular-expression model (fast-check)', () => {
    fc.assert(fc.property(pattern, key, (p, k) => {
      expect(topicMatches(p, k)).toBe(regexModel(p, k));
    }), { numRuns: 5000 });
  });

  it('topic - the trie routes exactly the destinations whose pattern matches, through binds and unbinds (fast-check)', () => {
    const op = fc.oneof(
      fc.record({ kind: fc.constant('bind' as const), pattern, destination: fc.constantFrom('q1', 'q2', 'q3', 'q4') }),
      fc.record({ kind: fc.constant('unbind' as const), pattern, destination: fc.constantFrom('q1', 'q2', 'q3', 'q4') }),
      fc.record({ kind: fc.constant('route' as const), key }),
    );
    fc.assert(fc.property(fc.array(op, { minLength: 10, maxLength: 80 }), (ops) => {
      const table = new TopicRoutingTable();
      const model = new Set<string>(); // "pattern\u0000destination"
      for (const o of ops) {
        if (o.kind === 'bind') {
          const id = `${o.pattern}\u0000${o.destination}`;
          expect(table.bind(o.pattern, o.destination)).toBe(!model.has(id));
          model.add(id);
        } else if (o.kind === 'unbind') {
          const id = `${o.pattern}\u0000${o.destination}`;
          expect(table.unbind(o.pattern, o.destination)).toBe(model.has(id));
          model.delete(id);
        } else {
          const expected = new Set([...model].map((id) => id.split('\u0000') as [string, string]).filter(([p]) => topicMatches(p, o.key)).map(([, d]) => d));
          expect(sorted(table.route(o.key))).toEqual(sorted(expected));
        }
        expect(table.size).toBe(model.size);
      }
      expect(new Set([...table.bindings()].map(([p, d]) => `${p}\u0000${d}`))).toEqual(model);
    }), { numRuns: 500 });
  });

  it('topic - unbinding everything prunes the trie: no binding and no route remains', () => {
    const table = new TopicRoutingTable();
    const patterns = ['a.b.c', 'a.#', '#', '*.b', 'a..', '', 'x.*.#.y'];
    for (const p of patterns) table.bind(p, 'q');
    for (const p of patterns) expect(table.unbind(p, 'q')).toBe(true);
    expect(table.size).toBe(0);
    expect([...table.bindings()]).toEqual([]);
    for (const k of ['a.b.c', '', 'x.1.2.y']) expect(table.route(k).size).toBe(0);
    expect(table.unbind('a.b.c', 'q')).toBe(false);
  });

  it('topic - many # against a long key routes in bounded work (no exponential backtracking)', () => {
    const table = new TopicRoutingTable();
    const hashes = Array.from({ length: 12 }, () => '#').join('.');
    table.bind(`${hashes}.z`, 'never');
    table.bind(`${hashes}.w0`, 'hit');
    const longKey = Array.from({ length: 64 }, (_, i) => `w${i % 8}`).join('.');
    // 12 '#'s over 64 words would be ~64^12 paths naively; memoized it is 12 · 65 states.
    expect(sorted(table.route(longKey))).toEqual([]);
    expect(sorted(table.route(longKey + '.w0'))).toEqual(['hit']);
    expect(topicMatches(`${hashes}.z`, longKey)).toBe(false);
  });

  it('topic - a destination bound with several matching patterns is routed once', () => {
    const table = new TopicRoutingTable();
    for (const p of ['#', 'a.*', 'a.b', '*.b']) table.bind(p, 'q');
    expect([...table.route('a.b')]).toEqual(['q']);
  });

  for (const [what, call] of [
    ['a pattern that is not a string', () => new TopicRoutingTable().bind(1 as unknown as string, 'q')],
    ['a destination that is not a string', () => new TopicRoutingTable().bind('a', undefined as unknown as string)],
    ['a routing key that is not a string', () => new TopicRoutingTable().route(null as unknown as string)],
    ['topicMatches with a non-string key', () => topicMatches('#', 5 as unknown as string)],
  ] as Array<[string, () => unknown]>) {
    it(`topic - ${what} is BATON_INVALID_ARGUMENT`, () => {
      expect(call).toThrow(expect.objectContaining({ code: 'BATON_INVALID_ARGUMENT' }));
    });
  }
});
