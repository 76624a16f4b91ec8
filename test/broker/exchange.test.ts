// Proves exchanges from the public entry: direct, topic (AMQP words: * one, # zero or more),
// fanout and headers (all/any) route each publish to the bound queues, and the promise resolves
// with the count routed (0 reported as 'unroutable'); bindings are logged by the exchange actor
// and survive a broker restart on the same dataDir; bad input is a typed error.
import { describe, expect, it } from 'vitest';
import { brokerScope } from '../support/broker-scope.js';
import { Broker, type Queue } from 'baton';

const scope = brokerScope();
let broker: Broker | null = null;
let dataDir: string | null = null;

async function drain(queue: Queue): Promise<unknown[]> {
  const { ready } = await queue.stats();
  const bodies: unknown[] = [];
  if (ready === 0) return bodies;
  for await (const m of queue.messages()) {
    bodies.push(m.body);
    m.ack();
    if (bodies.length === ready) break;
  }
  return bodies;
}

describe('exchanges', () => {
  it('exchange - direct, topic, fanout and headers route to the matching bound queues and count them', async () => {
    broker = await scope.start({ workers: 2 });
    const unroutable: unknown[] = [];
    broker.on('unroutable', (e) => unroutable.push(e));
    const [a, b, c] = await Promise.all(['qa', 'qb', 'qc'].map((n) => broker!.queue(n)));

    const direct = await broker.exchange('direct-x', { type: 'direct' });
    await direct.bind('qa', { routingKey: 'red' });
    await direct.bind('qb', { routingKey: 'green' });
    await direct.bind('qc', { routingKey: 'green' });
    expect(await direct.publish('red', 'r1')).toBe(1);
    expect(await direct.publish('green', 'g1')).toBe(2);
    expect(await direct.publish('blue', 'b1')).toBe(0);
    expect(unroutable).toEqual([{ exchange: 'direct-x', routingKey: 'blue' }]);
    expect([await drain(a!), await drain(b!), await drain(c!)]).toEqual([['r1'], ['g1'], ['g1']]);

    const topic = await broker.exchange('topic-x', { type: 'topic' });
    await topic.bind('qa', { routingKey: 'kern.*' });
    await topic.bind('qb', { routingKey: '*.critical' });
    await topic.bind('qc', { routingKey: 'kern.#' });
    expect(await topic.publish('kern.critical', 1)).toBe(3);
    expect(await topic.publish('kern', 2)).toBe(1); // only kern.# (# matches zero words)
    expect(await topic.publish('app.critical', 3)).toBe(1);
    expect(await topic.publish('kern.disk.full', 4)).toBe(1);
    expect([await drain(a!), await drain(b!), await drain(c!)]).toEqual([[1], [1, 3], [1, 2, 4]]);

    const fanout = await broker.exchange('fan-x', { type: 'fanout' });
    for (const q of ['qa', 'qb', 'qc']) await fanout.bind(q);
    expect(await fanout.publish('ignored', 'all')).toBe(3);
    expect([await drain(a!), await drain(b!), await drain(c!)]).toEqual([['all'], ['all'], ['all']]);

    const headers = await broker.exchange('head-x', { type: 'headers' });
    await headers.bind('qa', { headers: { format: 'pdf', type: 'report' }, match: 'all' });
    await headers.bind('qb', { headers: { format: 'pdf', type: 'log' }, match: 'any' });
    expect(await headers.publish('', 'h1', { headers: { format: 'pdf', type: 'report' } })).toBe(2);
    expect(await headers.publish('', 'h2', { headers: { format: 'pdf' } })).toBe(1);
    expect(await headers.publish('', 'h3', { headers: { type: 'log' } })).toBe(1);
    const [ha, hb] = [await drain(a!), await drain(b!)];
    expect(ha).toEqual(['h1']);
    expect(hb).toEqual(['h1', 'h2', 'h3']);
    // The message headers travel with the message.
    await headers.publish('', 'h4', { headers: { format: 'pdf', type: 'report', extra: 'x' } });
    for await (const m of a!.messages()) {
      expect(m.headers).toMatchObject({ format: 'pdf', extra: 'x' });
      m.ack();
      break;
    }
  });

  it('exchange - a bound topic gets the publish, keyed by the routing key', async () => {
    broker = await scope.start({ workers: 1 });
    const events = await broker.topic('events', { partitions: 2 });
    const fan = await broker.exchange('to-topic', { type: 'fanout' });
    await fan.bind('events');
    expect(await fan.publish('user-7', { clicked: true }, { headers: { source: 'web' } })).toBe(1);
    const seen: { key: unknown; body: unknown; headers: unknown }[] = [];
    const sub = events.subscribe({ from: 'earliest' }, (m) => void seen.push({ key: m.key, body: m.body, headers: m.headers }));
    const deadline = Date.now() + 10_000;
    while (seen.length === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
    await sub.close();
    expect(seen).toEqual([{ key: 'user-7', body: { clicked: true }, headers: { source: 'web' } }]);
  });

  it('exchange - bindings survive a broker restart on the same dataDir', async () => {
    dataDir = await scope.tempDir('exchange');
    broker = await scope.start({ dataDir, workers: 1 });
    await broker.queue('audit');
    const logs = await broker.exchange('logs', { type: 'topic' });
    await logs.bind('audit', { routingKey: 'security.#' });
    await logs.bind('audit', { routingKey: 'temp.#' });
    await logs.unbind('audit', { routingKey: 'temp.#' });
    await broker.close();

    broker = await scope.start({ dataDir, workers: 1 });
    const audit = await broker.queue('audit');
    const again = await broker.exchange('logs', { type: 'topic' });
    expect(again.bindings()).toEqual([{ destination: 'audit', routingKey: 'security.#' }]);
    expect(await again.publish('security.login.failed', { user: 'x' })).toBe(1);
    expect(await again.publish('temp.reading', 21)).toBe(0);
    expect(await drain(audit)).toEqual([{ user: 'x' }]);
  });

  it('exchange - bad input is a typed error and routing keeps working', async () => {
    broker = await scope.start({ workers: 1 });
    await expect(broker.exchange('x', { type: 'round-robin' as never })).rejects.toMatchObject({ code: 'BATON_INVALID_ARGUMENT' });
    await expect(broker.exchange('a/b', { type: 'direct' })).rejects.toMatchObject({ code: 'BATON_INVALID_NAME' });
    const ex = await broker.exchange('ex', { type: 'direct' });
    await expect(broker.exchange('ex', { type: 'fanout' })).rejects.toMatchObject({ code: 'BATON_INVALID_ARGUMENT' });
    await expect(ex.bind('nowhere', { routingKey: 'k' })).rejects.toMatchObject({ code: 'BATON_NOT_FOUND' });
    const q = await broker.queue('target');
    await expect(ex.bind('target', { headers: { a: 'b' } } as never)).rejects.toMatchObject({ code: 'BATON_INVALID_ARGUMENT' });
    await expect(ex.bind('target', {})).rejects.toMatchObject({ code: 'BATON_INVALID_ARGUMENT' });
    await expect(ex.publish(42 as never, 'x')).rejects.toMatchObject({ code: 'BATON_INVALID_ARGUMENT' });
    await ex.bind('target', { routingKey: 'k' });
    expect(await ex.publish('k', 'kept')).toBe(1);
    expect(await drain(q)).toEqual(['kept']);
  });
});
