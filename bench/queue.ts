/**
 * `baton bench queue`: queues end to end, beside their peers measured in the same run.
 *
 * Throughput rows (rounds.ts: full runs 1,000,000 messages or 20 s a row, a warm-up round
 * discarded, median of 5; --quick 50,000 messages, one round). Load (batch-driver.ts): 4
 * producers, each sending batches of 1,000 and waiting for a batch's confirm before its next (4
 * batches in flight), for Baton and every peer alike. Bodies (bodies.ts) are distinct and carry
 * producer and sequence: JSON (`{ p, s, pad }`, codec 'json', the JSON text 64 or 256 B) or raw
 * (a Uint8Array of 64 or 256 B, codec 'raw'). Every consumer decodes every body and checks order
 * per producer, loss and duplicates (sequence-check.ts); a failed check fails the suite. Consumers
 * have prefetch 2,000, ack 'auto'. The clock runs from the first send until, after the last
 * message was handled, `queue.stats()` shows nothing ready and nothing unacked (the broker holds
 * the last ack). `extra` of each row: CPU ns per message by thread (row-cost.ts: main, the
 * broker's threads once stats() names them, handler threads, other), the main thread's GC share,
 * `msgsPerFdatasync` on durable rows (null until stats() counts fdatasyncs), and ratios:
 *
 * - queue in memory {json,raw} {64,256} B, 1 consumer          xFastq, xPostMessage
 *   (raw bodies are read in place, `msg.buffer` / `msg.bodyOffset`, in every raw row but one:)
 * - queue in memory raw 64 B, 1 consumer, msg.body copies        xFastq, xPostMessage
 * - queue in memory raw 64 B, 4 consumers                       xPostMessage
 * - queue in memory raw 64 B, consumeBatch (when Queue has it)  xFastq, xPostMessage
 * - queue durable {json,raw} {64,256} B, 1 consumer             xSqlite, xPostMessage
 * - queue durable raw 256 B, 4 consumers                        xSqlite, xPostMessage
 * - queue.process json 64 B, 2 threads (the handler decodes and checks on pool threads)  xPiscina
 * - 64 queues in memory raw 64 B, a consumer each (batches round robin over the queues, the count
 *   rounded up to whole rounds of 64 batches): aggregate rate, vs1Queue = over the 1-queue row
 * - peers: fastq on the main thread (peers/fastq-queue.ts), a hand-written postMessage queue
 *   (peers/postmessage-queue.ts), SQLite in WAL mode with synchronous=FULL (peers/sqlite-queue.ts),
 *   piscina with a task per message (peers/piscina-pool.ts). A peer not installed: a skipped row.
 *
 * Latency rows (latency.ts; msgs/s empty): single sends of 64 B raw paced at 1,000 and 10,000/s
 * by a timer (open loop, no spinning), publish -> handler p50/p99/p99.9, in memory
 * (p99OverPostMessage: over the p99 of a postMessage round trip under the same pacer at the same
 * rate) and durable (p99OverFdatasync: over a 4 KiB append + fdatasync's p99), beside those
 * measured in the same run. Interleaved rounds (5; --quick 1): each round measures fdatasync, the
 * postMessage round trip, memory and durable one after the other (0.5 s of warm-up each, then 2 s
 * at 10,000/s, 4 s at 1,000/s); a row is the median of its rounds, a ratio the median of the
 * rounds' ratios.
 *
 * Idle rows (idle.ts): a broker with a queue, a consumer, a topic and a group, after a burst and
 * 1.5 s of quiet: cores used over 5 s (--quick 1 s), every thread of the process counted.
 *
 * Memory rows (rss-growth.ts; msgs/s empty): RSS bytes per queued 64 B raw message, no consumer,
 * 1,000,000 (and, in full runs, 10,000,000) messages, each measured in a fresh child process
 * started with --expose-gc (collected before each reading): in memory (and that minus the body),
 * and durable with memoryBytes 16 MiB (bodies on disk).
 */
import { BATCH } from './batch-driver.js';
import { type BodyCodec, type BodyShape } from './bodies.js';
import { withBroker } from './broker-fixture.js';
import { idleCores } from './idle.js';
import { batonLatency, fdatasyncLatency, type LatencyFigures, postMessageRoundTrip } from './latency.js';
import { fastqSkipped, measureFastq } from './peers/fastq-queue.js';
import { measurePiscina } from './peers/piscina-pool.js';
import { measurePostMessageQueue } from './peers/postmessage-queue.js';
import { measureSqliteQueue, sqliteSkipped } from './peers/sqlite-queue.js';
import { consumeBatchOf, runQueue, runQueueProcess } from './queue-runs.js';
import { type BenchResult, median, type Suite, type SuiteOptions } from './report.js';
import { type Extra, type RowSpec, runRounds } from './rounds.js';
import { RSS_BODY_BYTES, rssGrowthInChild } from './rss-growth.js';

const SHAPES: BodyShape[] = (['json', 'raw'] as BodyCodec[]).flatMap((codec) => [64, 256].map((size) => ({ codec, size })));
const RAW64: BodyShape = { codec: 'raw', size: 64 };
const RAW256: BodyShape = { codec: 'raw', size: 256 };
const JSON64: BodyShape = { codec: 'json', size: 64 };
const SCALE_QUEUES = 64;

const shapeName = (shape: BodyShape) => `${shape.codec} ${shape.size} B`;
const fastqRow = (shape: BodyShape) => `fastq (peer) ${shapeName(shape)}, main thread`;
const postMessageRow = (shape: BodyShape) => `postMessage queue (peer) ${shapeName(shape)}`;
const sqliteRow = (shape: BodyShape) => `SQLite queue (peer) ${shapeName(shape)}, WAL, synchronous=FULL`;
const piscinaRow = (shape: BodyShape) => `piscina (peer) ${shapeName(shape)}, a task per message, 2 threads`;
const memoryRow = (shape: BodyShape, consumers: number) => `queue in memory ${shapeName(shape)}, ${consumers} consumer${consumers > 1 ? 's' : ''}`;
const durableRow = (shape: BodyShape, consumers: number) => `queue durable (fsync always) ${shapeName(shape)}, ${consumers} consumer${consumers > 1 ? 's' : ''}`;

async function throughputRows(): Promise<RowSpec[]> {
  const noFastq = await fastqSkipped();
  const noSqlite = await sqliteSkipped();
  const rows: RowSpec[] = [];
  for (const shape of SHAPES) {
    rows.push(noFastq === null ? { name: fastqRow(shape), size: shape.size, run: (limits) => measureFastq(shape, limits) } : { name: fastqRow(shape), size: shape.size, skipped: noFastq });
  }
  for (const shape of SHAPES) rows.push({ name: postMessageRow(shape), size: shape.size, run: (limits) => measurePostMessageQueue(shape, limits) });
  for (const shape of SHAPES) {
    rows.push(noSqlite === null ? { name: sqliteRow(shape), size: shape.size, run: (limits) => measureSqliteQueue(shape, limits) } : { name: sqliteRow(shape), size: shape.size, skipped: noSqlite });
  }
  rows.push({ name: piscinaRow(JSON64), size: 64, run: (limits) => measurePiscina(JSON64, limits) });
  // Raw rows read bodies in place (msg.buffer: the fastest path, what raw is for); one row takes copies (msg.body).
  const baton = (name: string, shape: BodyShape, durable: boolean, consumers: number, ratios: Record<string, string>, api: 'consume' | 'consumeBatch' = 'consume', queues = 1, read: 'copy' | 'in-place' = 'in-place'): RowSpec => ({
    name,
    size: shape.size,
    ratios,
    run: (limits) => runQueue(name, { shape, durable, queues, consumers, api, read }, limits),
  });
  for (const shape of SHAPES) rows.push(baton(memoryRow(shape, 1), shape, false, 1, { xFastq: fastqRow(shape), xPostMessage: postMessageRow(shape) }));
  const copyName = `${memoryRow(RAW64, 1)}, msg.body copies`;
  rows.push(baton(copyName, RAW64, false, 1, { xFastq: fastqRow(RAW64), xPostMessage: postMessageRow(RAW64) }, 'consume', 1, 'copy'));
  rows.push(baton(memoryRow(RAW64, 4), RAW64, false, 4, { xPostMessage: postMessageRow(RAW64) }));
  const batchName = `queue in memory ${shapeName(RAW64)}, consumeBatch (maxBatch 1000)`;
  rows.push(
    (await hasConsumeBatch())
      ? baton(batchName, RAW64, false, 1, { xFastq: fastqRow(RAW64), xPostMessage: postMessageRow(RAW64) }, 'consumeBatch')
      : { name: batchName, size: 64, skipped: 'queue.consumeBatch is not there yet' },
  );
  for (const shape of SHAPES) rows.push(baton(durableRow(shape, 1), shape, true, 1, { xSqlite: sqliteRow(shape), xPostMessage: postMessageRow(shape) }));
  rows.push(baton(durableRow(RAW256, 4), RAW256, true, 4, { xSqlite: sqliteRow(RAW256), xPostMessage: postMessageRow(RAW256) }));
  const processName = `queue.process in memory ${shapeName(JSON64)}, 2 threads`;
  rows.push({ name: processName, size: 64, ratios: { xPiscina: piscinaRow(JSON64) }, run: (limits) => runQueueProcess(processName, JSON64, 2, limits) });
  // Whole rounds of one batch per queue (within the deadline), so that every queue gets its share.
  const scaleName = `${SCALE_QUEUES} queues in memory ${shapeName(RAW64)}, a consumer each`;
  const perRound = SCALE_QUEUES * BATCH;
  rows.push({
    name: scaleName,
    size: RAW64.size,
    ratios: { vs1Queue: memoryRow(RAW64, 1), xPostMessage: postMessageRow(RAW64) },
    // Read in place, as the 1-queue row it is compared with (it took copies, its bar did not).
    run: (limits) => runQueue(scaleName, { shape: RAW64, durable: false, queues: SCALE_QUEUES, consumers: 1, api: 'consume', read: 'in-place' }, { ...limits, maxMessages: Math.ceil(limits.maxMessages / perRound) * perRound }),
  });
  return rows;
}

/** Whether queues have the batch consumer API yet: asked of a real queue. */
function hasConsumeBatch(): Promise<boolean> {
  return withBroker(false, 'probe', async (broker) => consumeBatchOf(await broker.queue('probe')) !== undefined);
}

function latencyRow(name: string, figures: LatencyFigures, extra: Extra = {}): BenchResult {
  return { name, messages: figures.samples, msgsPerSec: null, mbPerSec: null, p50Us: figures.p50Us, p99Us: figures.p99Us, extra: { p999Us: figures.p999Us, ...extra } };
}

/** Median of each figure over rounds. */
function medianFigures(rounds: readonly LatencyFigures[]): LatencyFigures {
  return {
    p50Us: median(rounds.map((f) => f.p50Us)),
    p99Us: median(rounds.map((f) => f.p99Us)),
    p999Us: median(rounds.map((f) => f.p999Us)),
    samples: rounds.reduce((n, f) => n + f.samples, 0),
  };
}

/** A round's p99s as text, for the row's extra (the spread behind the median). */
function p99List(rounds: readonly LatencyFigures[]): string {
  return rounds.map((f) => f.p99Us.toFixed(0)).join(' ');
}

/**
 * Latency rows in interleaved rounds: at each rate, a round measures fdatasync, the postMessage
 * round trip, Baton in memory and Baton durable one after the other, so that a noisy second of
 * this shared machine falls on all of them alike. A row gives the median of its rounds' figures;
 * its ratio is the median of the rounds' ratios (each against its bar of the same round).
 */
async function latencyRows(options: SuiteOptions): Promise<BenchResult[]> {
  const rounds = options.quick ? 1 : 5;
  const warmupSeconds = options.quick ? 0.2 : 0.5;
  const rows: BenchResult[] = [];
  const fdatasyncRounds: LatencyFigures[] = [];
  for (const rate of [1_000, 10_000]) {
    // A p99 needs samples: at 1,000/s a round runs longer.
    const seconds = options.quick ? 1 : rate < 10_000 ? 4 : 2;
    const paced = `paced ${rate.toLocaleString('en-US')}/s`;
    const roundTrips: LatencyFigures[] = [];
    const baton = { memory: [] as LatencyFigures[], durable: [] as LatencyFigures[] };
    const ratios = { memory: [] as number[], durable: [] as number[] };
    const extras = { memory: [] as Extra[], durable: [] as Extra[] };
    const bars = { memory: [] as LatencyFigures[], durable: [] as LatencyFigures[] };
    for (let round = 0; round < rounds; round++) {
      const fdatasync = fdatasyncLatency(options.quick ? 300 : 500);
      fdatasyncRounds.push(fdatasync);
      const roundTrip = await postMessageRoundTrip(rate, rate * seconds, rate * warmupSeconds);
      roundTrips.push(roundTrip.figures);
      for (const durable of [false, true]) {
        const kind = durable ? 'durable' : 'memory';
        const { figures, extra } = await batonLatency(`latency ${kind} ${paced}`, durable, rate, rate * seconds, rate * warmupSeconds);
        baton[kind].push(figures);
        const bar = durable ? fdatasync : roundTrip.figures;
        bars[kind].push(bar);
        ratios[kind].push(figures.p99Us / bar.p99Us);
        extras[kind].push(extra);
      }
      options.log(
        `  latency ${paced}, round ${round + 1}/${rounds}: p99 postMessage ${roundTrip.figures.p99Us.toFixed(0)} µs, memory ${baton.memory[round]!.p99Us.toFixed(0)} µs, ` +
          `fdatasync ${fdatasync.p99Us.toFixed(0)} µs, durable ${baton.durable[round]!.p99Us.toFixed(0)} µs`,
      );
    }
    rows.push(latencyRow(`postMessage round trip (peer) 64 B, ${paced}`, medianFigures(roundTrips), { rounds, p99UsByRound: p99List(roundTrips) }));
    for (const durable of [false, true]) {
      const kind = durable ? 'durable' : 'memory';
      const name = `queue latency ${durable ? 'durable (fsync always)' : 'in memory'} raw 64 B, send() ${paced}, publish -> handler`;
      const ratio: Extra = durable ? { p99OverFdatasync: median(ratios.durable) } : { p99OverPostMessage: median(ratios.memory) };
      // Costs and rates of the median round (by p99).
      const order = baton[kind].map((f, i) => [f.p99Us, i] as const).sort((a, b) => a[0] - b[0]);
      const middle = order[order.length >> 1]![1];
      rows.push(latencyRow(name, medianFigures(baton[kind]), { ...ratio, rounds, p99UsByRound: p99List(baton[kind]), barP99UsByRound: p99List(bars[kind]), ...extras[kind][middle] }));
    }
  }
  rows.unshift(latencyRow('fdatasync (peer) 4 KiB appended to a file', medianFigures(fdatasyncRounds), { rounds: fdatasyncRounds.length, p99UsByRound: p99List(fdatasyncRounds) }));
  return rows;
}

async function memoryRows(options: SuiteOptions): Promise<BenchResult[]> {
  const rows: BenchResult[] = [];
  for (const count of options.quick ? [1_000_000] : [1_000_000, 10_000_000]) {
    for (const durable of [false, true]) {
      const name = `queue RSS ${durable ? 'durable, memoryBytes 16 MiB' : 'in memory'}, ${count.toLocaleString('en-US')} x ${RSS_BODY_BYTES} B raw queued`;
      const { bytesPerMsg, extra, seconds } = await rssGrowthInChild(durable, count, options.quick ? 2_000 : 5_000);
      options.log(`  ${name}: ${bytesPerMsg.toFixed(0)} B/msg (sent in ${seconds.toFixed(1)} s)`);
      rows.push({ name, messages: count, msgsPerSec: null, mbPerSec: null, p50Us: null, p99Us: null, extra: { rssBytesPerMsg: bytesPerMsg, ...extra } });
    }
  }
  return rows;
}

async function idleRows(options: SuiteOptions): Promise<BenchResult[]> {
  const rows: BenchResult[] = [];
  for (const durable of [false, true]) {
    const name = `broker idle ${durable ? 'durable' : 'in memory'}: a queue with a consumer and a topic with a group, after a burst, cores used`;
    const { cores, windowMs } = await idleCores(durable, options.quick ? 1_000 : 5_000);
    options.log(`  ${name}: ${cores.toFixed(4)}`);
    rows.push({ name, messages: 0, msgsPerSec: null, mbPerSec: null, p50Us: null, p99Us: null, extra: { cores, windowMs } });
  }
  return rows;
}

export const queueSuite: Suite = async (options) => [
  ...(await runRounds(await throughputRows(), options)),
  ...(await latencyRows(options)),
  ...(await memoryRows(options)),
  ...(await idleRows(options)),
];
