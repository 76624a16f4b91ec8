/**
 * Benchmark actor for `baton bench actor`: the counter-actor fixture's approach cut to what the
 * benchmark needs, and shipped (dist/bench/workers/) so that the suite runs in the installed
 * package. Record types:
 *   NOTE  counted in memory only, no log write: dispatch cost alone
 *   ADD   appended to the actor's log (one record, the payload as value), then counted
 *   COUNT replies with the counts, in 3 little-endian u32: notes, adds (replayed ones included),
 *         restarts (of this incarnation's start), with the request's meta
 * `start` replays the log to rebuild `adds`, as a real actor rebuilds its state.
 */
import type { ActorBehavior, ActorContext, ActorRecord } from '../../src/actor/actor-behavior.js';

export const NOTE = 1;
export const ADD = 2;
export const COUNT = 3;

export interface BenchActorCounts {
  notes: number;
  adds: number;
  restarts: number;
}

export function decodeCounts(payload: Uint8Array): BenchActorCounts {
  const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  return { notes: view.getUint32(0, true), adds: view.getUint32(4, true), restarts: view.getUint32(8, true) };
}

export function createActor(): ActorBehavior {
  let notes = 0;
  let adds = 0;
  // One reply buffer per actor: context.reply copies it into the ring (or queues a copy).
  const counts = new Uint8Array(12);
  const view = new DataView(counts.buffer);
  return {
    async start(context: ActorContext) {
      for await (const _ of context.log.replay()) adds++;
    },
    receive(record: ActorRecord, context: ActorContext) {
      switch (record.type) {
        case NOTE:
          notes++;
          return;
        case ADD:
          // The payload is a ring view, valid until the append's promise settles: the log copies it.
          return context.log.append([{ value: record.payload }]).then(() => {
            adds++;
          });
        case COUNT:
          view.setUint32(0, notes, true);
          view.setUint32(4, adds, true);
          view.setUint32(8, context.restarts, true);
          context.reply(COUNT, counts, record.meta);
          return;
        default:
          throw new Error(`bench actor ${context.id}: unknown record type ${record.type}`);
      }
    },
  };
}
