/**
 * Entry point of a topic group member's handler thread (`topic.process`): imports the user's
 * module once, then handles runs of records the member posts (one message per run:
 * src/broker/topic/topic-process.ts), reading them in place in the arena it was started with.
 * Runs of one partition are handled one after the other, in offset order; each record's handler
 * call finishes (its promise settles) before the next. The answer, one message per run, lists
 * the records whose handler threw.
 *
 * The handler gets `{ partition, offset, key, timestamp, body, headers }`, decoded here from the
 * arena (the body by the topic's codec): a plain object it may keep, since the record's memory
 * is let go once the run is answered.
 *
 * If this thread dies — the handler calls process.exit, throws outside a record, runs out of
 * memory — the member on the broker's thread leaves its group and the partitions move to the
 * other members, which handle the runs this thread had in hand again.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { getCodec } from '../src/broker/codec.js';
import { readHeaders, readKey, RECORD_TOMBSTONE, recordBodyStart, recordEnd, recordWord, TB_HEADER_BYTES, TB_LENGTH, wordBodyBytes } from '../src/broker/topic/topic-batch.js';
import type { MemberResult, MemberStop, MemberTask, TopicMemberWorkerData } from '../src/broker/topic/topic-process.js';
import { serializeError } from '../src/errors.js';
import { Arena } from '../src/log/arena.js';

export interface TopicMemberRecord {
  partition: number;
  offset: number;
  key: string | Uint8Array | null;
  timestamp: number;
  body: unknown;
  headers: Record<string, string>;
}

type Handler = (record: TopicMemberRecord) => unknown;

const data = workerData as TopicMemberWorkerData;
const port = parentPort!;
const arena = new Arena(data.arena);
const codec = getCodec(data.codec);
const progress = new Int32Array(data.progress);
/** Records without headers share one (frozen) empty object. */
const NO_HEADERS: Record<string, string> = Object.freeze({}) as Record<string, string>;
const module = (await import(data.handler)) as { default?: unknown };
const handler = module.default;
if (typeof handler !== 'function') throw new TypeError(`${data.handler} has no default export function to handle records`);

/** Per partition: the run being handled, if it waits for a handler's promise; later runs of the partition queue behind it. */
const busy = new Map<number, MemberTask[]>();
/** Per partition: runs up to this task id end after the record in hand (the partition was revoked from this member). */
const stops = new Map<number, number>();

port.on('message', (message: MemberTask | MemberStop) => {
  if ('stop' in message) {
    stops.set(message.partition, Math.max(stops.get(message.partition) ?? 0, message.upTo));
    return;
  }
  const task = message;
  const queued = busy.get(task.partition);
  if (queued !== undefined) {
    queued.push(task);
    return;
  }
  start(task);
});

/** Handles a run and the partition's runs queued behind it; sync handlers never leave this loop. */
function start(first: MemberTask): void {
  let task: MemberTask | undefined = first;
  while (task !== undefined) {
    const pending = handleRun(task, 0, -1, null);
    if (pending !== null) {
      if (!busy.has(task.partition)) busy.set(task.partition, []);
      const partition = task.partition;
      void pending.then(() => {
        const next = busy.get(partition)!.shift();
        if (next === undefined) busy.delete(partition);
        else start(next);
      });
      return;
    }
    task = busy.get(first.partition)?.shift();
  }
  busy.delete(first.partition);
}

/**
 * Records `from..` of the run (the first at `pos`; -1: the run's first record); answers when
 * done. Returns null when it finished synchronously, or a promise when a handler returned one.
 */
function handleRun(task: MemberTask, from: number, pos: number, failures: MemberResult['failures'] | null, copied: Uint8Array | null = null): Promise<void> | null {
  arena.ensure(task.batch + TB_HEADER_BYTES);
  const end = task.batch + arena.u32[(task.batch + TB_LENGTH) >>> 2]!;
  arena.ensure(end);
  // A raw body is a view of one copy of the run (a copy per run, not per record): the record
  // outlives the run's memory in the arena, which is let go once the run is answered.
  const raw = codec.name === 'raw';
  let copy = copied;
  if (raw && copy === null) {
    copy = new Uint8Array(end - task.record);
    copy.set(arena.bytes.subarray(task.record, end));
  }
  let at = pos < 0 ? task.record : pos;
  const first = task.baseOffset + task.index;
  const slot = 2 * task.partition;
  if (from === 0) {
    // This run is the one in hand now; none of its records is done yet. Plain stores: they are
    // read once this thread is dead (its exit orders them), never while it runs.
    progress[slot + 1] = 0;
    progress[slot] = task.id;
  }
  // A stop (the partition revoked) can only arrive between two turns of this thread's event
  // loop: here, or when a handler's promise settles and the run goes on.
  let i = from;
  const stopped = (stops.get(task.partition) ?? 0) >= task.id;
  for (; i < task.count && !stopped; i++) {
    const offset = first + i;
    const u32 = arena.u32;
    const word = recordWord(u32, at);
    const record = at;
    at = recordEnd(u32, at);
    let result: unknown;
    try {
      const plain = word < RECORD_TOMBSTONE;
      const start = plain ? record + 4 : recordBodyStart(u32, record, word);
      result = (handler as Handler)({
        partition: task.partition,
        offset,
        key: plain ? null : readKey(arena, record, word),
        timestamp: task.timestampMs,
        body: (word & RECORD_TOMBSTONE) !== 0 ? null : raw ? new Uint8Array(copy!.buffer, start - task.record, wordBodyBytes(word)) : codec.decodeAt(arena, start, start + wordBodyBytes(word)),
        headers: plain ? NO_HEADERS : readHeaders(arena, record, word),
      });
    } catch (error) {
      (failures ??= []).push({ offset, error: serializeError(error) });
      progress[slot + 1] = i + 1;
      continue;
    }
    if (result !== null && typeof result === 'object' && typeof (result as PromiseLike<unknown>).then === 'function') {
      const next = at;
      const done = i + 1;
      return Promise.resolve(result as PromiseLike<unknown>).then(
        () => {
          progress[slot + 1] = done;
          return handleRun(task, done, next, failures, copy) ?? undefined;
        },
        (error: unknown) => {
          (failures ??= []).push({ offset, error: serializeError(error) });
          progress[slot + 1] = done;
          return handleRun(task, done, next, failures, copy) ?? undefined;
        },
      );
    }
    progress[slot + 1] = i + 1;
  }
  const answer: MemberResult = failures === null || failures === undefined ? { id: task.id, handled: i } : { id: task.id, handled: i, failures };
  port.postMessage(answer);
  return null;
}

port.postMessage({ ready: true });
