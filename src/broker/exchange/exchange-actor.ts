/**
 * The exchange actor (`exchange:<name>`): the durable owner of an exchange's bindings. Each bind
 * and unbind is appended to its log before it is answered, and a (re)start replays them in
 * order, which rebuilds the same routing table. Every SNAPSHOT_EVERY changes the whole table is
 * written as a snapshot, so a restart replays at most that many records and the WAL can reclaim
 * the older ones (the log is a 'state' log). Publishing does not go through this actor: the
 * broker thread routes with a mirror of the table (exchange.ts), so a publish costs no extra hop.
 *
 * Records (meta: request id, answered by RESULT as for queues):
 *   BIND     JSON { destination, options }
 *   UNBIND   JSON { destination, options }
 *   BINDINGS (empty)   -> the bindings, in bind order
 */
import assert from 'node:assert';
import type { ActorBehavior, ActorContext, ActorRecord } from '../../actor/actor-behavior.js';
import { serializeError } from '../../errors.js';
import { type BindOptions, type ExchangeBinding, ExchangeRouter, type ExchangeType } from './exchange-routing.js';
import { QueueRecord } from '../queue/queue-protocol.js';

export const ExchangeRecord = Object.freeze({
  BIND: 120,
  UNBIND: 121,
  BINDINGS: 122,
});

export interface ExchangeActorOptions {
  name: string;
  type: ExchangeType;
}

interface BindingChange {
  op: 'bind' | 'unbind';
  destination: string;
  options: BindOptions;
}

/** Binding changes between snapshots of the table. */
const SNAPSHOT_EVERY = 100;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function createActor(options: unknown): ActorBehavior {
  const { name, type } = options as ExchangeActorOptions;
  const router = new ExchangeRouter(type);
  const apply = (change: BindingChange): boolean => (change.op === 'bind' ? router.bind(change.destination, change.options) : router.unbind(change.destination, change.options));
  const answer = (context: ActorContext, meta: number, result: unknown) => {
    if (meta !== 0) context.reply(QueueRecord.RESULT, encoder.encode(JSON.stringify(result)), meta);
  };
  let sinceSnapshot = 0;
  return {
    async start(context) {
      const snapshot = await context.log.readSnapshot();
      if (snapshot !== null) {
        for (const { destination, ...options } of JSON.parse(decoder.decode(snapshot.state)) as ExchangeBinding[]) router.bind(destination, options);
      }
      for await (const record of context.log.replay(snapshot === null ? {} : { fromOffset: snapshot.offset })) {
        if (record.value !== null) apply(JSON.parse(decoder.decode(record.value)) as BindingChange);
      }
    },
    async receive(record: ActorRecord, context: ActorContext) {
      const meta = record.meta;
      switch (record.type) {
        case ExchangeRecord.BIND:
        case ExchangeRecord.UNBIND: {
          const request = JSON.parse(decoder.decode(record.payload)) as { destination: string; options: BindOptions };
          const change: BindingChange = { op: record.type === ExchangeRecord.BIND ? 'bind' : 'unbind', destination: request.destination, options: request.options };
          let changed: boolean;
          try {
            // The router checks the binding before it changes anything: a refused one changes nothing.
            changed = apply(change);
          } catch (error) {
            return answer(context, meta, { ok: false, error: serializeError(error) });
          }
          // A failed append fails the actor (it throws out of receive): the restart replays the
          // log, so the table never holds a binding the log does not.
          if (changed) {
            const { lastOffset } = await context.log.append([{ value: encoder.encode(JSON.stringify(change)) }]);
            if (++sinceSnapshot >= SNAPSHOT_EVERY) {
              sinceSnapshot = 0;
              await context.log.writeSnapshot({ offset: lastOffset + 1, state: encoder.encode(JSON.stringify(router.bindings())) });
            }
          }
          return answer(context, meta, { ok: true, value: { changed } });
        }
        case ExchangeRecord.BINDINGS:
          return answer(context, meta, { ok: true, value: router.bindings() });
        default:
          return assert.fail(`exchange ${name}: unknown record type ${record.type}`);
      }
    },
  };
}
