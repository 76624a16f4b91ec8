/**
 * `baton bench topic`: partitioned topics end to end, beside peers measured in the same run.
 *
 * Rows run as the queue suite's (rounds.ts: full runs 1,000,000 records or 20 s a row, a warm-up
 * round discarded, median of 5; --quick 50,000, one round), with the same load (batch-driver.ts:
 * 4 producers, batches of 1,000, 4 in flight; keyless, so each batch sticks to one of the 4
 * partitions and the next moves on) and the same bodies (bodies.ts, JSON or raw, 64 or 256 B).
 * Every record is decoded and checked: order per producer within a partition, loss, duplicates
 * (sequence-check.ts). The group joins before the first send. `extra`: CPU ns per record by
 * thread, the main thread's GC share, `msgsPerFdatasync` on durable rows (row-cost.ts), ratios:
 *
 * - topic in memory {raw,json} 64 B, group of 1 (a subscription on the broker's thread)
 *   xFastq, xPostMessage; the clock stops when, after the last record was handled,
 *   `subscription.commit()` resolved (the group's committed positions cover every record).
 *   Raw bodies are read in place (`msg.buffer` / `msg.bodyOffset`), in every raw row but one:
 * - topic in memory raw 64 B, group of 1, msg.body copies        xFastq, xPostMessage
 * - topic durable {raw,json} 256 B, group of 1     xSqlite, xPostMessage; clock as above
 * - topic.process in memory raw 64 B, a group of 1 on 1 thread, and of 2 members on 2 threads
 *   (`topic.process(handler, { group, threads })`: each member's records handled on its own
 *   thread by bench/workers/check-handler.ts); the group of 2 carries vsGroupOf1. TopicProcess
 *   has no commit(): the clock stops at the last record handled (`extra.clock` says so). The same
 *   two again with a handler that also hashes each body (8 rounds of FNV-1a, ~2 µs of CPU): on 2
 *   cores a second member can only pay off when handling costs well above producing.
 * - peers: the postMessage queue (peers/postmessage-queue.ts), fastq on the main thread and the
 *   SQLite queue (the in-process and durable bars the queue suite uses).
 */
import type { BodyShape } from './bodies.js';
import { fastqSkipped, measureFastq } from './peers/fastq-queue.js';
import { measurePostMessageQueue } from './peers/postmessage-queue.js';
import { measureSqliteQueue, sqliteSkipped } from './peers/sqlite-queue.js';
import type { Suite } from './report.js';
import { type RowSpec, runRounds } from './rounds.js';
import { PARTITIONS, runTopicProcess, runTopicSubscribe, type TopicRead } from './topic-runs.js';

const RAW64: BodyShape = { codec: 'raw', size: 64 };
const JSON64: BodyShape = { codec: 'json', size: 64 };
const RAW256: BodyShape = { codec: 'raw', size: 256 };
const JSON256: BodyShape = { codec: 'json', size: 256 };

const shapeName = (shape: BodyShape) => `${shape.codec} ${shape.size} B`;
const postMessageRow = (shape: BodyShape) => `postMessage queue (peer) ${shapeName(shape)}`;
const fastqRow = (shape: BodyShape) => `fastq (peer) ${shapeName(shape)}, main thread`;
const sqliteRow = (shape: BodyShape) => `SQLite queue (peer) ${shapeName(shape)}, WAL, synchronous=FULL`;
const processRow = (members: number, hashRounds = 0) =>
  `topic.process in memory ${shapeName(RAW64)}, ${PARTITIONS} partitions, ${hashRounds > 0 ? `a handler hashing each body (${hashRounds} rounds of FNV-1a, ~2 µs), ` : ''}group of ${members} on ${members} thread${members > 1 ? 's' : ''}`;
/** The CPU-heavy handler's work: rounds of FNV-1a over the 64 B body, ~2 µs a record on this machine (bench/workers/check-handler.ts). */
const HASH_ROUNDS = 8;

async function rows(): Promise<RowSpec[]> {
  const noFastq = await fastqSkipped();
  const noSqlite = await sqliteSkipped();
  const specs: RowSpec[] = [];
  for (const shape of [RAW64, JSON64, RAW256, JSON256]) specs.push({ name: postMessageRow(shape), size: shape.size, run: (limits) => measurePostMessageQueue(shape, limits) });
  for (const shape of [RAW64, JSON64]) {
    specs.push(noFastq === null ? { name: fastqRow(shape), size: shape.size, run: (limits) => measureFastq(shape, limits) } : { name: fastqRow(shape), size: shape.size, skipped: noFastq });
  }
  for (const shape of [RAW256, JSON256]) {
    specs.push(noSqlite === null ? { name: sqliteRow(shape), size: shape.size, run: (limits) => measureSqliteQueue(shape, limits) } : { name: sqliteRow(shape), size: shape.size, skipped: noSqlite });
  }
  // Raw rows read bodies in place (msg.buffer: the fastest path, what raw is for); one row takes copies (msg.body).
  for (const [shape, durable, read] of [[RAW64, false, 'in-place'], [RAW64, false, 'copy'], [JSON64, false, 'in-place'], [RAW256, true, 'in-place'], [JSON256, true, 'in-place']] as const) {
    const name = `topic ${durable ? 'durable (fsync always)' : 'in memory'} ${shapeName(shape)}, ${PARTITIONS} partitions, group of 1${read === 'copy' ? ', msg.body copies' : ''}`;
    const ratios: Record<string, string> = durable ? { xSqlite: sqliteRow(shape), xPostMessage: postMessageRow(shape) } : { xFastq: fastqRow(shape), xPostMessage: postMessageRow(shape) };
    specs.push({ name, size: shape.size, ratios, run: (limits) => runTopicSubscribe(name, shape, durable, limits, read as TopicRead) });
  }
  // A handler that only checks the body, then one with CPU work per record (what handler threads
  // are for: on 2 cores a second member pays off only when handling costs well above producing).
  for (const hashRounds of [0, HASH_ROUNDS]) {
    for (const members of [1, 2]) {
      const name = processRow(members, hashRounds);
      const ratios: Record<string, string> = members === 1 ? { xPostMessage: postMessageRow(RAW64) } : { vsGroupOf1: processRow(1, hashRounds), xPostMessage: postMessageRow(RAW64) };
      specs.push({ name, size: RAW64.size, ratios, run: (limits) => runTopicProcess(name, RAW64, members, limits, hashRounds) });
    }
  }
  return specs;
}

export const topicSuite: Suite = async (options) => runRounds(await rows(), options);
