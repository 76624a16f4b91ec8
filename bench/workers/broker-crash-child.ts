/**
 * Child process of the whole-broker crash suite (bench/broker-crash-soak.ts,
 * test/broker/broker-crash.test.ts, `npm run soak`): it starts a Broker on a data directory that
 * outlives it, declares the same destinations every time, and runs a workload until its parent
 * kills it with SIGKILL ('load'), or drains what is left and exits by itself ('drain').
 *
 * Destinations (same options every cycle, so a restart recovers them):
 *   queue `dead`    the dead-letter queue of both queues below
 *   queue `jobs`    priorities 0..9, deadLetter `dead`, maxDeliveries 3, manual acks
 *   queue `routed`  same options, auto acks; fed by the exchange
 *   topic `events`  3 partitions; consumer group `audit` committing offsets
 *   exchange `router` (topic type): `order.#` -> routed, `*.created` -> events, so
 *     `order.created` goes to both, `order.shipped` to the queue, `user.created` to the topic.
 * Messages carry distinct ids (`<cycle>.<seq>`) in their bodies, some with a priority, a small
 * delay, a TTL (expiry dead-letters them, which the checker allows), or marked poison: the
 * consumers refuse those (nack, or a throwing auto-ack handler) until maxDeliveries sends them
 * to `dead`.
 *
 * What it did is reported on stdout, one line per fact; stdout to a pipe is synchronous on
 * Linux, so once the parent reads a line, the fact happened before the kill:
 *   BINDINGS <destination=key,...>      the exchange's bindings as restored, before this life binds
 *   BOUND                               both bindings are in place (logged)
 *   READY <ms>                          declared, consumers started (ms since the process began)
 *   A <id> <dest> <prio> <delayMs> <ttlMs> <poison> <padLength> <atMs>   before the send is called
 *   C <id> <routed> | C <id> <partition> <offset>           after its promise resolved
 *   F <id> <code>                       the send was refused (it may still have been appended)
 *   R <queue> <id> <prio> <deliveries> <padLength> <atMs> [<x-death-reason> <x-death-queue>]
 *                                       a queue delivery, written before it is acked or nacked
 *   T <partition> <offset> <id> <padLength>   a record handed to the group's handler
 *   K <partition> <offset>              the group's committed offset is at least this (commit() resolved)
 *   X <message>                         a 'consumer-error' event other than poison's
 *   E <partition> <offset> <id> <padLength>   drain: a record read again from the earliest offset
 *   END <partition> <next>              drain: the partition's next offset
 *   DRAINED <settled 0|1>               drain: done (1: every queue empty and the group caught up)
 * <dest> is `q:jobs`, `t:events` or `x:<routing key>`. Bodies are `{ id, pad, poison? }`, the
 * pad of a length drawn per message: the parent checks each delivery against its attempt.
 *
 * argv: dataDir mode(load|drain) cycle seed fsync segmentBytesMax compactionIntervalMs
 */
import { Broker, type QueueDelivery, type TopicMessage } from '../../src/index.js';
import { makeRandom } from '../prng.js';

const [dataDir, mode, cycleArg, seedArg, fsync, segmentArg, intervalArg] = process.argv.slice(2);
if (dataDir === undefined || (mode !== 'load' && mode !== 'drain') || fsync === undefined) {
  process.stderr.write('usage: broker-crash-child dataDir load|drain cycle seed fsync segmentBytesMax compactionIntervalMs\n');
  process.exit(2);
}
const cycle = Number(cycleArg);
const random = makeRandom(Number(seedArg ?? 1));
const between = (min: number, max: number) => min + Math.floor(random() * (max - min + 1));
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const say = (line: string): void => {
  process.stdout.write(`${line}\n`);
};

interface Body {
  id: string;
  pad: string;
  poison?: true;
}

const PARTITIONS = 3;
const broker = await Broker.start({
  dataDir,
  workers: 2,
  fsync: fsync as 'always' | 'interval' | 'never',
  fsyncIntervalMs: 5,
  segmentBytesMax: Number(segmentArg),
  compactionIntervalMs: Number(intervalArg),
});
// The dead-letter queue first: dead letters are sent to it through this broker.
const dead = await broker.queue('dead', { maxPriority: 9 });
const queueOptions = { maxPriority: 9, deadLetter: 'dead', maxDeliveries: 3 };
const jobs = await broker.queue('jobs', queueOptions);
const routed = await broker.queue('routed', queueOptions);
const events = await broker.topic('events', { partitions: PARTITIONS });
const router = await broker.exchange('router', { type: 'topic' });
// What the exchange restored from the data directory, before this life binds: once a life has
// said BOUND, every later one must find both bindings here.
say(`BINDINGS ${router.bindings().map((b) => `${b.destination}=${b.routingKey}`).sort().join(',')}`);
// Binding again is a no-op: every life binds, so a kill before the first bind is harmless.
await router.bind('routed', { routingKey: 'order.#' });
await router.bind('events', { routingKey: '*.created' });
say('BOUND');

function received(queue: string, msg: QueueDelivery): Body {
  const body = msg.body as Body;
  const death = queue === 'dead' ? ` ${msg.headers['x-death-reason']} ${msg.headers['x-death-queue']}` : '';
  say(`R ${queue} ${body.id} ${msg.priority} ${msg.deliveryCount} ${body.pad.length} ${Date.now()}${death}`);
  return body;
}
// Manual acks, some of them a little later, so that a kill finds deliveries unacknowledged.
jobs.consume(
  (msg) => {
    const body = received('jobs', msg);
    if (body.poison === true) msg.nack({ requeue: true });
    else if (random() < 0.3) setTimeout(() => msg.ack(), between(1, 20));
    else msg.ack();
  },
  { ack: 'manual', prefetch: 16 },
);
// Auto acks: a throwing handler is a nack, so poison goes to `dead` after maxDeliveries.
routed.consume(
  (msg) => {
    if (received('routed', msg).poison === true) throw new Error('poison');
  },
  { ack: 'auto', prefetch: 32 },
);
dead.consume((msg) => void received('dead', msg), { ack: 'auto', prefetch: 32 });
// Poison's throws are reported here by design; anything else (a failed commit, say) is told to the parent.
broker.on('consumer-error', (event: { error?: unknown }) => {
  const text = event.error instanceof Error ? event.error.message : String(event.error);
  if (text !== 'poison') say(`X ${text.replace(/\s+/g, ' ').slice(0, 200)}`);
});

// The group's handler is synchronous: the reader reports a run's position to the group when the
// run's last handler returns, in the same turn, so whenever the commit loop below takes a copy
// of `handled`, the group has it already and commit() makes at least that durable.
const handled = new Array<number>(PARTITIONS).fill(-1);
const group = events.subscribe({ group: 'audit', from: 'earliest' }, (msg: TopicMessage) => {
  const body = msg.body as Body;
  say(`T ${msg.partition} ${msg.offset} ${body.id} ${body.pad.length}`);
  handled[msg.partition] = msg.offset + 1;
});
say(`READY ${Math.round(performance.now())}`);

let committing = true;
const commitLoop = (async () => {
  const claimed = new Array<number>(PARTITIONS).fill(-1);
  while (committing) {
    await sleep(between(30, 200));
    const reached = [...handled];
    await group.commit();
    for (let p = 0; p < PARTITIONS; p++) {
      if (reached[p]! > claimed[p]!) say(`K ${p} ${reached[p]}`);
      claimed[p] = Math.max(claimed[p]!, reached[p]!);
    }
  }
})();

if (mode === 'load') await produceForever();
else await drain();

async function produceForever(): Promise<never> {
  let seq = 0;
  const nextId = () => `${cycle}.${seq++}`;
  const inFlight = new Set<Promise<void>>();
  const track = (id: string, sent: Promise<string>) => {
    const done = sent.then(
      (confirm) => say(`C ${id} ${confirm}`),
      (error: unknown) => say(`F ${id} ${(error as { code?: string }).code ?? 'error'}`),
    );
    const settled: Promise<void> = done.finally(() => {
      inFlight.delete(settled);
    });
    inFlight.add(settled);
  };
  /** Reports the attempt and makes its body; the pad's length varies and is reported, so a delivery shows its body arrived whole. */
  const attempt = (id: string, dest: string, prio: number, delayMs: number, ttlMs: number, poison: boolean): Body => {
    // Queue messages are the larger part of the traffic (what reclaim must keep off the disk);
    // topic records, kept forever, stay small.
    const padLength = dest === 'q:jobs' || dest === 'x:order.shipped' ? between(0, 1000) : between(0, 100);
    say(`A ${id} ${dest} ${prio} ${delayMs} ${ttlMs} ${poison ? 1 : 0} ${padLength} ${Date.now()}`);
    return { id, pad: 'x'.repeat(padLength), ...(poison ? { poison: true as const } : {}) };
  };
  const queueExtras = () => {
    const roll = random();
    return {
      priority: random() < 0.5 ? between(1, 9) : 0,
      delayMs: roll < 0.12 ? between(10, 250) : 0,
      ttlMs: roll >= 0.12 && roll < 0.24 ? between(50, 1500) : 0,
    };
  };
  const sendOptions = (x: { priority: number; delayMs: number; ttlMs: number }) => ({
    ...(x.priority > 0 ? { priority: x.priority } : {}),
    ...(x.delayMs > 0 ? { delayMs: x.delayMs } : {}),
    ...(x.ttlMs > 0 ? { ttlMs: x.ttlMs } : {}),
  });
  for (;;) {
    while (inFlight.size >= 8) await Promise.race(inFlight);
    const kind = random();
    if (kind < 0.45) {
      const id = nextId();
      const x = queueExtras();
      const poison = x.ttlMs === 0 && random() < 0.05;
      const body = attempt(id, 'q:jobs', x.priority, x.delayMs, x.ttlMs, poison);
      track(id, jobs.send(body, sendOptions(x)).then(() => '1'));
    } else if (kind < 0.6) {
      // One confirm for the batch: each of its messages is confirmed by it.
      const items = Array.from({ length: between(2, 8) }, () => ({ id: nextId(), ...queueExtras() }));
      const bodies = items.map((item) => attempt(item.id, 'q:jobs', item.priority, item.delayMs, item.ttlMs, false));
      const batch = jobs.sendBatch(items.map((item, i) => ({ body: bodies[i], ...sendOptions(item) })));
      for (const item of items) track(item.id, batch.then(() => '1'));
    } else if (kind < 0.85) {
      const id = nextId();
      const key = ['order.created', 'order.shipped', 'order.shipped', 'user.created'][between(0, 3)]!;
      const x = key === 'order.shipped' ? queueExtras() : { priority: random() < 0.5 ? between(1, 9) : 0, delayMs: 0, ttlMs: 0 };
      const poison = key === 'order.shipped' && x.ttlMs === 0 && random() < 0.05;
      const body = attempt(id, `x:${key}`, x.priority, x.delayMs, x.ttlMs, poison);
      track(id, router.publish(key, body, sendOptions(x)).then(String));
    } else if (kind < 0.95) {
      const id = nextId();
      const body = attempt(id, 't:events', 0, 0, 0, false);
      track(id, events.send(body, { key: `k${seq % 11}` }).then((r) => `${r.partition} ${r.offset}`));
    } else {
      const ids = Array.from({ length: between(2, 5) }, nextId);
      const bodies = ids.map((id) => attempt(id, 't:events', 0, 0, 0, false));
      const batch = events.sendBatch(bodies.map((body, i) => ({ body, key: `k${i}` })));
      ids.forEach((id, i) => track(id, batch.then((results) => `${results[i]!.partition} ${results[i]!.offset}`)));
    }
    // Paced: a few hundred messages a second, so the consumers keep up and a cycle's traffic is bounded.
    if (random() < 0.3) await sleep(between(1, 6));
  }
}

/** No producing: consume until every queue is empty and the group caught up, read the topic from the start, exit. */
async function drain(): Promise<void> {
  const deadline = Date.now() + 30_000;
  let quietChecks = 0;
  let settled = false;
  while (Date.now() < deadline) {
    await sleep(200);
    const stats = await Promise.all([jobs, routed, dead].map((q) => q.stats()));
    const empty = stats.every((s) => s.ready === 0 && s.unacked === 0 && s.delayed === 0 && s.parked === 0);
    const ends = await Promise.all(Array.from({ length: PARTITIONS }, (_, p) => events.offsets(p)));
    const caughtUp = ends.every((o, p) => group.position(p) === o.next);
    quietChecks = empty && caughtUp ? quietChecks + 1 : 0;
    // Three quiet looks in a row: a dead letter on its way between queues shows in one of them.
    if (quietChecks >= 3) {
      settled = true;
      break;
    }
  }
  committing = false;
  await commitLoop;
  await group.close();
  const ends = await Promise.all(Array.from({ length: PARTITIONS }, (_, p) => events.offsets(p)));
  const reached = new Array<number>(PARTITIONS).fill(0);
  const reader = events.subscribe({ from: 'earliest' }, (msg: TopicMessage) => {
    const body = msg.body as Body;
    say(`E ${msg.partition} ${msg.offset} ${body.id} ${body.pad.length}`);
    reached[msg.partition] = msg.offset + 1;
  });
  const readDeadline = Date.now() + 30_000;
  while (reached.some((r, p) => r < ends[p]!.next) && Date.now() < readDeadline) await sleep(20);
  await reader.close();
  ends.forEach((o, p) => say(`END ${p} ${o.next}`));
  await broker.close();
  say(`DRAINED ${settled ? 1 : 0}`);
  process.exit(0);
}
