// Proves exchange routing tables route like RabbitMQ's four exchange types: direct by equal key,
// topic by AMQP pattern, fanout to every binding, headers by x-match all/any; every route lists
// each destination once, sorted by name whatever the bind order; for any sequence of binds and
// unbinds on any type the router agrees with a model that tests every binding (fast-check);
// binding twice and unbinding what is not there are no-ops; bad bind arguments are
// BATON_INVALID_ARGUMENT and leave the table as it was.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type BindOptions, EXCHANGE_TYPES, ExchangeRouter, type ExchangeType } from '../../src/broker/exchange/exchange-routing.js';
import { headersMatch } from '../../src/broker/exchange/headers-match.js';
import { topicMatches } from '../../src/broker/exchange/topic-pattern.js';

const invalid = expect.objectContaining({ code: 'BATON_INVALID_ARGUMENT' });

describe('exchange routing', () => {
  it('exchange routing - direct: destinations bound with the exact key, sorted, each once', () => {
    const ex = new ExchangeRouter('direct');
    ex.bind('q-warn', { routingKey: 'warning' });
    ex.bind('q-all', { routingKey: 'error' });
    ex.bind('q-err', { routingKey: 'error' });
    ex.bind('q-all', { routingKey: 'warning' });
    ex.bind('q-empty', { routingKey: '' });
    expect(ex.route('error')).toEqual(['q-all', 'q-err']);
    expect(ex.route('warning')).toEqual(['q-all', 'q-warn']);
    expect(ex.route('')).toEqual(['q-empty']);
    expect(ex.route('info')).toEqual([]);
    expect(ex.route('error')).toBe(ex.route('error'));
    expect(Object.isFrozen(ex.route('error'))).toBe(true);
  });

  it('exchange routing - topic: AMQP patterns, a destination matched twice routed once', () => {
    const ex = new ExchangeRouter('topic');
    ex.bind('critical', { routingKey: '*.critical' });
    ex.bind('kern', { routingKey: 'kern.*' });
    ex.bind('all', { routingKey: '#' });
    ex.bind('kern', { routingKey: 'kern.#' });
    expect(ex.route('kern.critical')).toEqual(['all', 'critical', 'kern']);
    expect(ex.route('kern')).toEqual(['all', 'kern']);
    expect(ex.route('')).toEqual(['all']);
    expect(ex.bindings()).toHaveLength(4);
  });

  it('exchange routing - fanout: every destination, whatever the key and headers', () => {
    const ex = new ExchangeRouter('fanout');
    for (const d of ['b', 'a', 'c']) ex.bind(d);
    ex.bind('d', { routingKey: 'ignored' });
    expect(ex.route('anything', { h: '1' })).toEqual(['a', 'b', 'c', 'd']);
    expect(ex.bind('a', { routingKey: 'other' })).toBe(false);
    expect(ex.unbind('b')).toBe(true);
    expect(ex.route('')).toEqual(['a', 'c', 'd']);
  });

  it('exchange routing - headers: all and any; one destination under two bindings routed once', () => {
    const ex = new ExchangeRouter('headers');
    ex.bind('pdf-reports', { headers: { format: 'pdf', type: 'report' }, match: 'all' });
    ex.bind('pdf-or-report', { headers: { format: 'pdf', type: 'report' }, match: 'any' });
    ex.bind('everything', { headers: {} });
    ex.bind('pdf-or-report', { headers: { format: 'zip' } });
    expect(ex.route('', { format: 'pdf', type: 'report' })).toEqual(['everything', 'pdf-or-report', 'pdf-reports']);
    expect(ex.route('', { format: 'pdf' })).toEqual(['everything', 'pdf-or-report']);
    expect(ex.route('', { format: 'zip' })).toEqual(['everything', 'pdf-or-report']);
    expect(ex.route('key ignored', undefined)).toEqual(['everything']);
  });

  it('exchange routing - headers bindings are the same binding whatever the key order', () => {
    const ex = new ExchangeRouter('headers');
    expect(ex.bind('q', { headers: { a: '1', b: '2' } })).toBe(true);
    expect(ex.bind('q', { headers: { b: '2', a: '1' } })).toBe(false);
    expect(ex.bind('q', { headers: { b: '2', a: '1' }, match: 'any' })).toBe(true);
    expect(ex.size).toBe(2);
    expect(ex.unbind('q', { headers: { b: '2', a: '1' }, match: 'all' })).toBe(true);
    expect(ex.bindings()).toEqual([{ destination: 'q', headers: { b: '2', a: '1' }, match: 'any' }]);
  });

  it('exchange routing - binding twice and unbinding what is not bound are no-ops', () => {
    for (const type of EXCHANGE_TYPES) {
      const ex = new ExchangeRouter(type);
      const opts: BindOptions = type === 'headers' ? { headers: { a: '1' } } : type === 'fanout' ? {} : { routingKey: 'k' };
      expect(ex.bind('q', opts)).toBe(true);
      expect(ex.bind('q', opts)).toBe(false);
      expect(ex.size).toBe(1);
      expect(ex.unbind('other', opts)).toBe(false);
      expect(ex.unbind('q', opts)).toBe(true);
      expect(ex.unbind('q', opts)).toBe(false);
      expect(ex.size).toBe(0);
      expect(ex.bindings()).toEqual([]);
    }
  });

  /** The model: a list of bindings, each tested against the publish. */
  function modelRoute(type: ExchangeType, bindings: Array<[string, BindOptions]>, key: string, headers: Record<string, string> | undefined): string[] {
    const hit = bindings.filter(([, o]) => {
      switch (type) {
        case 'direct':
          return o.routingKey === key;
        case 'topic':
          return topicMatches(o.routingKey!, key);
        case 'fanout':
          return true;
        case 'headers':
          return headersMatch(o.headers ?? {}, o.match ?? 'all', headers);
      }
    });
    return [...new Set(hit.map(([d]) => d))].sort();
  }

  function sameBinding(type: ExchangeType, a: [string, BindOptions], b: [string, BindOptions]): boolean {
    if (a[0] !== b[0]) return false;
    if (type === 'fanout') return true;
    if (type !== 'headers') return a[1].routingKey === b[1].routingKey;
    const canon = (o: BindOptions) => JSON.stringify([o.match ?? 'all', Object.entries(o.headers ?? {}).sort()]);
    return canon(a[1]) === canon(b[1]);
  }

  for (const type of EXCHANGE_TYPES) {
    it(`exchange routing - ${type}: agrees with a model that tests every binding, through binds and unbinds (fast-check)`, () => {
      const destination = fc.constantFrom('q1', 'q2', 'q3', 't1');
      const key = fc.array(fc.constantFrom('a', 'b', ''), { maxLength: 3 }).map((w) => w.join('.'));
      const pattern = fc.array(fc.constantFrom('a', 'b', '*', '#'), { maxLength: 3 }).map((w) => w.join('.'));
      const headers = fc.dictionary(fc.constantFrom('x', 'y', 'z'), fc.constantFrom('1', '2'), { maxKeys: 3 });
      const options: fc.Arbitrary<BindOptions> =
        type === 'direct' ? key.map((routingKey) => ({ routingKey }))
        : type === 'topic' ? pattern.map((routingKey) => ({ routingKey }))
        : type === 'fanout' ? fc.constant({})
        : fc.record({ headers, match: fc.constantFrom('all' as const, 'any' as const) });
      const op = fc.oneof(
        fc.tuple(fc.constant('bind' as const), destination, options),
        fc.tuple(fc.constant('unbind' as const), destination, options),
        fc.tuple(fc.constant('route' as const), key, fc.option(headers, { nil: undefined })),
      );
      fc.assert(fc.property(fc.array(op, { minLength: 10, maxLength: 80 }), (ops) => {
        const ex = new ExchangeRouter(type);
        let model: Array<[string, BindOptions]> = [];
        for (const o of ops) {
          if (o[0] === 'route') {
            expect([...ex.route(o[1], o[2])]).toEqual(modelRoute(type, model, o[1], o[2]));
            continue;
          }
          const binding: [string, BindOptions] = [o[1], o[2] as BindOptions];
          const present = model.some((b) => sameBinding(type, b, binding));
          if (o[0] === 'bind') {
            expect(ex.bind(...binding)).toBe(!present);
            if (!present) model.push(binding);
          } else {
            expect(ex.unbind(...binding)).toBe(present);
            model = model.filter((b) => !sameBinding(type, b, binding));
          }
          expect(ex.size).toBe(model.length);
        }
      }), { numRuns: 300 });
    });
  }

  const bad: Array<[string, () => unknown]> = [
    ['an unknown exchange type', () => new ExchangeRouter('x-delayed' as ExchangeType)],
    ['an empty destination', () => new ExchangeRouter('fanout').bind('')],
    ['a destination that is not a string', () => new ExchangeRouter('fanout').bind(7 as unknown as string)],
    ['direct without a routingKey', () => new ExchangeRouter('direct').bind('q')],
    ['topic without a routingKey', () => new ExchangeRouter('topic').bind('q', {})],
    ['a routingKey that is not a string', () => new ExchangeRouter('direct').bind('q', { routingKey: 5 as unknown as string })],
    ['headers on a direct exchange', () => new ExchangeRouter('direct').bind('q', { routingKey: 'k', headers: { a: '1' } })],
    ['match on a fanout exchange', () => new ExchangeRouter('fanout').bind('q', { match: 'any' })],
    ['an unknown bind option', () => new ExchangeRouter('fanout').bind('q', { arguments: {} } as BindOptions)],
    ['options that are not an object', () => new ExchangeRouter('fanout').bind('q', 'k' as unknown as BindOptions)],
    ['a bad match', () => new ExchangeRouter('headers').bind('q', { headers: {}, match: 'every' as 'all' })],
    ['a header value that is not a string', () => new ExchangeRouter('headers').bind('q', { headers: { a: 1 as unknown as string } })],
    ['a routing key that is not a string at route', () => new ExchangeRouter('direct').route(undefined as unknown as string)],
    ['message headers that are not an object', () => new ExchangeRouter('headers').route('', 'a=1' as unknown as Record<string, string>)],
  ];
  for (const [what, call] of bad) {
    it(`exchange routing - ${what} is BATON_INVALID_ARGUMENT`, () => {
      expect(call).toThrow(invalid);
    });
  }

  it('exchange routing - a refused bind leaves the table as it was', () => {
    const ex = new ExchangeRouter('headers');
    ex.bind('q', { headers: { a: '1' } });
    expect(() => ex.bind('r', { headers: { 'x-match': 'any' } })).toThrow(invalid);
    expect(ex.size).toBe(1);
    expect(ex.route('', { a: '1' })).toEqual(['q']);
  });
});
