/**
 * The whole-broker crash harness: a child process (bench/workers/broker-crash-child.ts) starts a
 * Broker on one data directory, declares durable queues (priorities, delays, TTLs, a dead-letter
 * queue, maxDeliveries), a topic with a consumer group committing offsets and an exchange routing
 * to both, and runs a workload; the parent kills it with SIGKILL at a random moment (while it
 * loads, or while it starts and recovers), starts the next child on the same directory, and so
 * on; the last cycle (and every `drainEvery`-th) drains without a kill and reads the topic again.
 *
 * The checker, in the style of Jepsen's total-queue, follows what each child reported (stdout
 * lines, see the child's header) and fails the run on the first cycle that breaks a promise
 * users rely on:
 *   - lost = confirmed - received is empty: every confirmed queue message is received by its
 *     queue or the dead-letter queue by the drain (a poison one: by the dead-letter queue);
 *   - unexpected = received - attempted is empty, and each delivery is in a queue it was sent to
 *     (or the dead-letter queue, for a reason it can have), whole, with its priority, not before
 *     its delay; nothing comes back after a clean drain; no acked message comes back within a life;
 *   - the group's committed offsets never go backwards: after each restart it resumes every
 *     partition at or above every offset a commit() confirmed, and never past a record it did
 *     not handle; within a life it reads each partition in order without gaps;
 *   - every confirmed topic record is readable from the earliest offset at the drain, each
 *     offset always holds the same record, and no record is there twice;
 *   - exchanges route each publish to every bound destination, and a binding made once is
 *     restored by every later start;
 *   - the data directory stays bounded: after every cycle, at most twice the topic's live bytes
 *     (reclaim rewrites a sealed segment once half of it is dead) plus a fixed allowance, while
 *     more queue traffic than that whole limit goes through (the test asserts it).
 *
 * test/broker/broker-crash.test.ts runs 30 cycles; `npm run soak` runs this file directly for
 * 1,000, draining every 100 (`node dist/bench/broker-crash-soak.js --cycles 1000 [--seed N]`).
 * On a failure the data directory is kept (its path is in the error); BATON_CRASH_LINES=<dir>
 * also keeps every child's lines there (cycle-<n>.txt), to see what the checker saw.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { compiledFileUrl } from '../src/threads/worker-file.js';
import { makeRandom } from './prng.js';
import { onLines } from './child-lines.js';

export interface BrokerCrashOptions {
  cycles: number;
  seed: number;
  /** Also drain (no kill; full check) every this many cycles; the last cycle always drains. */
  drainEvery?: number;
  /** The broker's segmentBytesMax: small, so reclaim has sealed segments to work on. */
  segmentBytesMax?: number;
  /** The broker's compactionIntervalMs (maintenance passes: retention, reclaim, compaction). */
  compactionIntervalMs?: number;
  /** Progress: a line every `logEvery` cycles (default 50) and after each drain. */
  log?: (line: string) => void;
  logEvery?: number;
}

export interface BrokerCrashReport {
  cycles: number;
  /** Children killed with SIGKILL; before they said READY (starting, recovering); after READY with confirms in that life. */
  kills: number;
  killsDuringStartup: number;
  killsDuringLoad: number;
  drains: number;
  attempted: number;
  confirmed: number;
  /** Sends that rejected, and 'consumer-error' events other than poison's (none expected; reported, not failed on). */
  refused: number;
  consumerErrors: number;
  firstConsumerError: string;
  /** Deliveries by `jobs` and `routed`, and by the dead-letter queue (by reason). */
  queueDeliveries: number;
  deadLetters: number;
  deadLettersExpired: number;
  deadLettersPoison: number;
  /** At least once at work: deliveries of a message its queue delivered in an earlier life, and second copies in the dead-letter queue. */
  redelivered: number;
  /** The highest deliveryCount a source queue reported (maxDeliveries is 3). */
  maxDeliveryCount: number;
  topicConfirmed: number;
  groupRecords: number;
  /** Records the group handled again after a restart (since its last commit). */
  groupReplayed: number;
  commitsClaimed: number;
  finalRecordsRead: number;
  lost: number;
  unexpected: number;
  /** Largest data directory seen after a cycle, the limit at the end (the largest: the topic only grows), queue bytes sent (at least). */
  maxDataDirBytes: number;
  dataDirLimitBytes: number;
  queueBytesSent: number;
  /** Spawn to READY (node, broker start, recovery, declarations), over the lives that got there. */
  startupMsMean: number;
  startupMsMax: number;
}

/**
 * Bytes the data directory may hold beyond twice the topic's live bytes (see `diskLimit`). 512 KiB
 * was once exceeded by 34 KB at cycle 4 (a burst of load sealed more segments between two passes
 * while the topic was still small); without reclaim the directory passes 1 MiB within a few cycles.
 */
export const DISK_ALLOWANCE_BYTES = 1024 * 1024;
/**
 * A topic record's bytes on disk beyond its pad, at most, when it is sent alone: WAL batch
 * header 56 + log name `topic:events/N` 14; topic batch header 32 + padding to 8 (7); record
 * word 4, key (length 4 + at most 13 + padding 3), body `{"id":"<cycle>.<seq>","pad":"..."}`
 * (18 + id <= 10, + padding 3). 166; rounded up for the segments' index entries.
 */
const TOPIC_RECORD_OVERHEAD_BYTES = 176;
/** A queue message's bytes beyond its pad, at least (body frame 18, id >= 3, length word 4): for the queue traffic the disk bound is up against. */
const QUEUE_MESSAGE_MIN_OVERHEAD_BYTES = 25;
const PARTITIONS = 3;
const POLICIES = ['always', 'interval', 'never'] as const;
const READY_TIMEOUT_MS = 60_000;
const DRAIN_TIMEOUT_MS = 120_000;

/** The child's exchange bindings: `order.#` -> queue `routed`, `*.created` -> topic `events`. */
const ROUTES: Record<string, { queue: 'routed' | null; toTopic: boolean }> = {
  'order.created': { queue: 'routed', toTopic: true },
  'order.shipped': { queue: 'routed', toTopic: false },
  'user.created': { queue: null, toTopic: true },
};

/** Those bindings as the child reports them (`BINDINGS`), sorted. */
const EXPECTED_BINDINGS = 'events=*.created,routed=order.#';

/** What was attempted with one id, and where it was received since. */
class Attempt {
  confirmed = false;
  /** Cycle of the latest delivery by its queue / by the dead-letter queue; -1: none yet. */
  inQueue = -1;
  inDead = -1;
  /** Read by the drain's read from the earliest offset (the latest drain). */
  finalRead = -1;
  constructor(
    readonly cycle: number,
    readonly queue: 'jobs' | 'routed' | null,
    readonly toTopic: boolean,
    readonly routes: number,
    readonly priority: number,
    readonly delayMs: number,
    readonly ttlMs: number,
    readonly poison: boolean,
    readonly padLength: number,
    readonly atMs: number,
  ) {}
}

/** `<cycle>.<seq>` as one number. */
function idNumber(id: string): number {
  const dot = id.indexOf('.');
  const cycle = Number(id.slice(0, dot));
  const seq = Number(id.slice(dot + 1));
  if (dot < 0 || !Number.isInteger(cycle) || !Number.isInteger(seq)) return Number.NaN;
  return cycle * 1_000_000 + seq;
}

/** Follows the children's reports across cycles; collects violations of what users rely on. */
export class BrokerCrashChecker {
  readonly violations: string[] = [];
  readonly #attempts = new Map<number, Attempt>();
  /** Ids of cycles below this were settled by a clean drain, and forgotten. */
  #closedBelow = 0;
  #cycle = -1;
  /** Per partition: the id at each offset, as far as seen. */
  readonly #topicIds: number[][] = Array.from({ length: PARTITIONS }, () => []);
  /** Per topic id: where it was seen (partition * 2^40 + offset). */
  readonly #topicPlace = new Map<number, number>();
  /** Per partition: the highest offset the group handled in any life, the highest a commit confirmed, the latest resume. */
  readonly #handled = new Array<number>(PARTITIONS).fill(-1);
  readonly #committed = new Array<number>(PARTITIONS).fill(0);
  readonly #resumed = new Array<number>(PARTITIONS).fill(0);
  /** This life: the last offset handled per partition (-1: none yet), the last read by the drain, its partition ends. */
  #lifeLast: number[] = [];
  #finalLast: number[] = [];
  #ends: Array<number | null> = [];
  #drained: boolean | null = null;
  /** A life said BOUND: the exchange's bindings are logged, and every later life must restore them. */
  #bound = false;
  #confirmsThisLife = 0;
  topicBytes = 0;
  firstConsumerError = '';
  readonly report = {
    attempted: 0,
    confirmed: 0,
    refused: 0,
    consumerErrors: 0,
    queueDeliveries: 0,
    deadLetters: 0,
    deadLettersExpired: 0,
    deadLettersPoison: 0,
    redelivered: 0,
    maxDeliveryCount: 0,
    topicConfirmed: 0,
    groupRecords: 0,
    groupReplayed: 0,
    commitsClaimed: 0,
    finalRecordsRead: 0,
    lost: 0,
    unexpected: 0,
    queueBytesSent: 0,
  };

  beginLife(cycle: number): void {
    this.#cycle = cycle;
    this.#lifeLast = new Array<number>(PARTITIONS).fill(-1);
    this.#finalLast = new Array<number>(PARTITIONS).fill(-1);
    this.#ends = new Array<number | null>(PARTITIONS).fill(null);
    this.#drained = null;
    this.#confirmsThisLife = 0;
  }

  get confirmsThisLife(): number {
    return this.#confirmsThisLife;
  }

  get drained(): boolean | null {
    return this.#drained;
  }

  #violation(text: string): void {
    if (this.violations.length < 1000) this.violations.push(`cycle ${this.#cycle}: ${text}`);
  }

  /** One line of the child's stdout. */
  line(text: string): void {
    const f = text.split(' ');
    switch (f[0]) {
      case 'READY':
        return;
      case 'BINDINGS':
        if (this.#bound && f[1] !== EXPECTED_BINDINGS) this.#violation(`the exchange restored the bindings "${f[1] ?? ''}", a life before had bound ${EXPECTED_BINDINGS}`);
        return;
      case 'BOUND':
        this.#bound = true;
        return;
      case 'K':
        return this.#commit(Number(f[1]), Number(f[2]));
      case 'A':
        return this.#attempt(f);
      case 'C':
        return this.#confirm(f);
      case 'F':
        this.report.refused++;
        return;
      case 'X':
        if (this.report.consumerErrors++ === 0) this.firstConsumerError = text.slice(2);
        return;
      case 'R':
        return this.#queueDelivery(f);
      case 'T':
        return this.#groupRecord(Number(f[1]), Number(f[2]), f[3]!, Number(f[4]));
      case 'E':
        return this.#finalRecord(Number(f[1]), Number(f[2]), f[3]!, Number(f[4]));
      case 'END':
        this.#ends[Number(f[1])] = Number(f[2]);
        return;
      case 'DRAINED':
        this.#drained = f[1] === '1';
        return;
      default:
        this.#violation(`unknown line from the child: ${text.slice(0, 80)}`);
    }
  }

  #attempt(f: string[]): void {
    const [, id, dest, prio, delay, ttl, poison, pad, at] = f;
    const n = idNumber(id!);
    let queue: 'jobs' | 'routed' | null = null;
    let toTopic = false;
    let routes = 1;
    if (dest === 'q:jobs') queue = 'jobs';
    else if (dest === 't:events') toTopic = true;
    else {
      const route = ROUTES[dest!.slice(2)];
      if (route === undefined) throw new Error(`the child used routing key ${dest}, which the checker does not know`);
      ({ queue, toTopic } = route);
      routes = (queue === null ? 0 : 1) + (toTopic ? 1 : 0);
    }
    if (this.#attempts.has(n)) this.#violation(`id ${id} attempted twice`);
    const attempt = new Attempt(this.#cycle, queue, toTopic, routes, Number(prio), Number(delay), Number(ttl), poison === '1', Number(pad), Number(at));
    this.#attempts.set(n, attempt);
    this.report.attempted++;
    if (queue !== null) this.report.queueBytesSent += attempt.padLength + QUEUE_MESSAGE_MIN_OVERHEAD_BYTES;
    if (toTopic) this.topicBytes += attempt.padLength + TOPIC_RECORD_OVERHEAD_BYTES;
  }

  #confirm(f: string[]): void {
    const attempt = this.#attempts.get(idNumber(f[1]!));
    if (attempt === undefined) return this.#violation(`confirm of ${f[1]}, never attempted`);
    attempt.confirmed = true;
    this.report.confirmed++;
    this.#confirmsThisLife++;
    if (attempt.toTopic) this.report.topicConfirmed++;
    if (f.length === 4) this.#place(Number(f[2]), Number(f[3]), f[1]!, 'its send result');
    else if (Number(f[2]) !== attempt.routes) this.#violation(`exchange publish of ${f[1]} routed to ${f[2]} destinations, its routing key matches ${attempt.routes}`);
  }

  /** The attempt a received id names; a violation if it was never attempted (or settled by a clean drain). */
  #attemptOf(id: string, where: string): Attempt | undefined {
    const n = idNumber(id);
    const attempt = this.#attempts.get(n);
    if (attempt !== undefined) return attempt;
    if (Math.floor(n / 1_000_000) < this.#closedBelow) this.#violation(`${where} received ${id}, settled before a clean drain: it came back`);
    else {
      this.report.unexpected++;
      this.#violation(`${where} received ${id}, never attempted (unexpected)`);
    }
    return undefined;
  }

  #queueDelivery(f: string[]): void {
    const [, queue, id, prio, deliveries, pad, at, reason, source] = f;
    const attempt = this.#attemptOf(id!, `queue ${queue}`);
    if (attempt === undefined) return;
    if (Number(pad) !== attempt.padLength) this.#violation(`queue ${queue} delivered ${id} with a pad of ${pad} bytes, sent with ${attempt.padLength}`);
    if (Number(prio) !== attempt.priority) this.#violation(`queue ${queue} delivered ${id} with priority ${prio}, sent with ${attempt.priority}`);
    if (queue === 'dead') {
      this.report.deadLetters++;
      if (source !== attempt.queue) this.#violation(`dead-letter queue received ${id} from "${source}", it was sent to ${attempt.queue ?? 'no queue'}`);
      // Poison is refused until maxDeliveries; a TTL can expire; any message can reach the
      // delivery limit if lives end while it is delivered and not yet acked.
      if (reason === 'expired') {
        this.report.deadLettersExpired++;
        if (attempt.ttlMs === 0) this.#violation(`${id} dead-lettered as expired, sent without a TTL`);
      } else if (reason !== 'delivery-limit') this.#violation(`${id} dead-lettered for "${reason}", which nothing in this workload causes`);
      if (attempt.poison) this.report.deadLettersPoison++;
      // Not checked for once per life: a life that died after the dead-letter queue confirmed a
      // copy and before its queue recorded it gone leaves two copies, both delivered in the next.
      if (attempt.inDead >= 0) this.report.redelivered++;
      attempt.inDead = this.#cycle;
      return;
    }
    this.report.queueDeliveries++;
    this.report.maxDeliveryCount = Math.max(this.report.maxDeliveryCount, Number(deliveries));
    if (queue !== attempt.queue) return this.#violation(`queue ${queue} delivered ${id}, which was sent to ${attempt.queue ?? 'no queue'}`);
    if (attempt.delayMs > 0 && Number(at) < attempt.atMs + attempt.delayMs) {
      this.#violation(`queue ${queue} delivered ${id} ${attempt.atMs + attempt.delayMs - Number(at)} ms before its delay of ${attempt.delayMs} ms was up`);
    }
    // Poison is nacked and comes back by design; anything else was acked, and comes back only after a crash.
    if (!attempt.poison && attempt.inQueue === this.#cycle) this.#violation(`queue ${queue} delivered ${id} twice in one life, acked the first time`);
    if (!attempt.poison && attempt.inQueue >= 0 && attempt.inQueue < this.#cycle) this.report.redelivered++;
    attempt.inQueue = this.#cycle;
  }

  /** `id` at partition/offset: the same record wherever it is seen; no record at two places. */
  #place(partition: number, offset: number, id: string, seenBy: string): void {
    const n = idNumber(id);
    const ids = this.#topicIds[partition];
    if (ids === undefined || !Number.isInteger(offset) || offset < 0) return this.#violation(`${seenBy}: ${id} at partition ${partition} offset ${offset}, out of range`);
    const there = ids[offset];
    if (there === undefined) ids[offset] = n;
    else if (there !== n) this.#violation(`${seenBy}: partition ${partition} offset ${offset} holds ${id}, it held ${Math.floor(there / 1_000_000)}.${there % 1_000_000} before`);
    const place = partition * 2 ** 40 + offset;
    const known = this.#topicPlace.get(n);
    if (known === undefined) this.#topicPlace.set(n, place);
    else if (known !== place) this.#violation(`${seenBy}: ${id} at partition ${partition} offset ${offset}, and at partition ${Math.floor(known / 2 ** 40)} offset ${known % 2 ** 40}: appended twice`);
  }

  #topicRecord(partition: number, offset: number, id: string, pad: number, seenBy: string): void {
    this.#place(partition, offset, id, seenBy);
    if (Math.floor(idNumber(id) / 1_000_000) < this.#closedBelow) return;
    const attempt = this.#attemptOf(id, seenBy);
    if (attempt === undefined) return;
    if (!attempt.toTopic) this.#violation(`${seenBy}: ${id} is in the topic, it was not sent there`);
    if (pad !== attempt.padLength) this.#violation(`${seenBy}: ${id} has a pad of ${pad} bytes, sent with ${attempt.padLength}`);
    if (seenBy === 'final read') attempt.finalRead = this.#cycle;
  }

  #groupRecord(partition: number, offset: number, id: string, pad: number): void {
    this.report.groupRecords++;
    this.#topicRecord(partition, offset, id, pad, 'group');
    const last = this.#lifeLast[partition]!;
    if (last < 0) {
      // The first record of this partition in this life: the group resumed at its committed offset.
      if (offset < this.#committed[partition]!) this.#violation(`the group resumed partition ${partition} at offset ${offset}, below ${this.#committed[partition]}, which a commit() confirmed: the committed offset went backwards`);
      if (offset < this.#resumed[partition]!) this.#violation(`the group resumed partition ${partition} at offset ${offset}, below its resume point ${this.#resumed[partition]} of an earlier life: the committed offset went backwards`);
      if (offset > this.#handled[partition]! + 1) this.#violation(`the group resumed partition ${partition} at offset ${offset}, past ${this.#handled[partition]! + 1}, which it never handled: records skipped`);
      this.report.groupReplayed += Math.max(0, this.#handled[partition]! + 1 - offset);
      this.#resumed[partition] = Math.max(this.#resumed[partition]!, offset);
    } else if (offset !== last + 1) {
      this.#violation(`the group handled partition ${partition} offset ${offset} after ${last}: out of order or a gap`);
    }
    this.#lifeLast[partition] = offset;
    this.#handled[partition] = Math.max(this.#handled[partition]!, offset);
  }

  #commit(partition: number, offset: number): void {
    this.report.commitsClaimed++;
    if (offset > this.#handled[partition]! + 1) this.#violation(`a commit of partition ${partition} at ${offset}, past what the group handled`);
    this.#committed[partition] = Math.max(this.#committed[partition]!, offset);
  }

  #finalRecord(partition: number, offset: number, id: string, pad: number): void {
    this.report.finalRecordsRead++;
    this.#topicRecord(partition, offset, id, pad, 'final read');
    // No retention, no compaction: the log holds every offset from 0.
    if (offset !== this.#finalLast[partition]! + 1) this.#violation(`the read from the earliest offset got partition ${partition} offset ${offset} after ${this.#finalLast[partition]}`);
    this.#finalLast[partition] = offset;
  }

  /** After a drain: nothing confirmed is missing, every partition was read whole and handled by the group. */
  verifyDrained(): void {
    if (this.#drained !== true) this.#violation('the drain did not settle within 30 s (queues not empty, or the group behind)');
    for (let p = 0; p < PARTITIONS; p++) {
      const end = this.#ends[p];
      if (end === null || end === undefined) {
        this.#violation(`the drain reported no end for partition ${p}`);
        continue;
      }
      if (this.#finalLast[p]! + 1 !== end) this.#violation(`the read from the earliest offset reached partition ${p} offset ${this.#finalLast[p]! + 1} of ${end}`);
      if (this.#handled[p]! + 1 !== end) this.#violation(`the group handled partition ${p} up to ${this.#handled[p]! + 1} of ${end}`);
    }
    const lost: string[] = [];
    for (const [n, attempt] of this.#attempts) {
      if (!attempt.confirmed) continue;
      const id = `${Math.floor(n / 1_000_000)}.${n % 1_000_000}`;
      if (attempt.queue !== null) {
        // A poison message must reach the dead-letter queue; any other, its queue or (delivery limit, expiry) the dead-letter queue.
        const received = attempt.poison ? attempt.inDead >= 0 : attempt.inQueue >= 0 || attempt.inDead >= 0;
        if (!received) lost.push(`${id} (queue ${attempt.queue}${attempt.poison ? ', poison' : ''}${attempt.delayMs > 0 ? `, delay ${attempt.delayMs}` : ''}${attempt.ttlMs > 0 ? `, ttl ${attempt.ttlMs}` : ''}, sent in cycle ${attempt.cycle})`);
      }
      if (attempt.toTopic && attempt.finalRead !== this.#cycle) lost.push(`${id} (topic, sent in cycle ${attempt.cycle})`);
    }
    this.report.lost += lost.length;
    if (lost.length > 0) this.#violation(`lost: ${lost.length} confirmed, never received: ${lost.slice(0, 20).join(', ')}`);
    // Settled: forget this epoch's messages; any of them seen again is a resurrection.
    this.#closedBelow = this.#cycle + 1;
    this.#attempts.clear();
  }
}

interface Life {
  ready: boolean;
  readyAfterMs: number;
  killed: boolean;
  stderr: string;
}

/** Runs one child to its end: killed after `killAfterReadyMs` (or `killAfterSpawnMs`, whatever it is doing then), or to its own exit when draining. */
function runLife(args: string[], checker: BrokerCrashChecker, kill: { afterReadyMs: number } | { afterSpawnMs: number } | null, transcript: string[] | null): Promise<Life> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(process.execPath, [fileURLToPath(compiledFileUrl('bench/workers/broker-crash-child')), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    const life: Life = { ready: false, readyAfterMs: 0, killed: false, stderr: '' };
    let failure = '';
    const killNow = () => {
      if (life.killed || child.exitCode !== null) return;
      life.killed = true;
      process.kill(child.pid!, 'SIGKILL');
    };
    const giveUp = (why: string) => {
      failure = why;
      killNow();
    };
    // A kill planned from the spawn happens whatever the child is doing by then (if it said
    // READY first, that is a kill during the load).
    const startupKill = kill !== null && 'afterSpawnMs' in kill ? setTimeout(killNow, kill.afterSpawnMs) : undefined;
    const readyTimeout = setTimeout(() => giveUp(`no READY within ${READY_TIMEOUT_MS} ms (a crash loop or a hang in recovery?)`), READY_TIMEOUT_MS);
    const drainTimeout = kill === null ? setTimeout(() => giveUp(`the drain did not end within ${DRAIN_TIMEOUT_MS} ms`), DRAIN_TIMEOUT_MS) : undefined;
    let loadKill: NodeJS.Timeout | undefined;
    onLines(child.stdout, (line) => {
      if (line.startsWith('READY') && !life.ready) {
        life.ready = true;
        life.readyAfterMs = performance.now() - started;
        clearTimeout(readyTimeout);
        if (kill !== null && 'afterReadyMs' in kill) loadKill = setTimeout(killNow, kill.afterReadyMs);
      }
      checker.line(line);
      if (transcript !== null) transcript.push(line);
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      if (life.stderr.length < 20_000) life.stderr += chunk;
    });
    child.on('error', reject);
    // 'close', not 'exit': every line the child wrote before it died is read first.
    child.on('close', (code, signal) => {
      for (const timer of [startupKill, readyTimeout, drainTimeout, loadKill]) clearTimeout(timer);
      if (failure !== '') reject(new Error(`${failure}\n${life.stderr}`));
      else if (kill !== null && signal !== 'SIGKILL') reject(new Error(`the child exited by itself (code ${code}, signal ${signal}):\n${life.stderr}`));
      else if (kill === null && code !== 0) reject(new Error(`the draining child failed (code ${code}, signal ${signal}):\n${life.stderr}`));
      else resolve(life);
    });
  });
}

function directoryBytes(dir: string): number {
  let sum = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    try {
      sum += entry.isDirectory() ? directoryBytes(full) : statSync(full).size;
    } catch {
      // A file renamed or removed while we looked (none should be: the child is dead).
    }
  }
  return sum;
}

/**
 * The most the data directory may hold: the topic's records stay (no retention), and a sealed
 * segment is rewritten once at least half of it is dead, so they take at most twice their bytes;
 * everything else that is live or not yet reclaimed fits DISK_ALLOWANCE_BYTES: the segment being
 * written and those sealed since the last pass (a few of segmentBytesMax), the queues' leftovers
 * at the kill (delayed, TTL'd, poison and unacked messages: tens of KB), the group's commit log
 * until its snapshot (at most 1,000 commits of ~150 B), the exchange's bindings, declarations,
 * checkpoint, indexes.
 */
export function diskLimit(topicBytes: number): number {
  return 2 * topicBytes + DISK_ALLOWANCE_BYTES;
}

export async function runBrokerCrashCycles(options: BrokerCrashOptions): Promise<BrokerCrashReport> {
  const random = makeRandom(options.seed);
  const segmentBytesMax = options.segmentBytesMax ?? 32 * 1024;
  const compactionIntervalMs = options.compactionIntervalMs ?? 100;
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'baton-broker-crash-'));
  const checker = new BrokerCrashChecker();
  const transcriptDir = process.env.BATON_CRASH_LINES;
  const report: BrokerCrashReport = {
    cycles: 0,
    kills: 0,
    killsDuringStartup: 0,
    killsDuringLoad: 0,
    drains: 0,
    ...checker.report,
    firstConsumerError: '',
    maxDataDirBytes: 0,
    dataDirLimitBytes: 0,
    startupMsMean: 0,
    startupMsMax: 0,
  };
  let startupMsSum = 0;
  let startups = 0;
  let failed = false;
  try {
    for (let cycle = 0; cycle < options.cycles; cycle++) {
      const draining = cycle === options.cycles - 1 || (options.drainEvery !== undefined && (cycle + 1) % options.drainEvery === 0);
      const policy = POLICIES[Math.floor(random() * POLICIES.length)]!;
      // Kill moments: every fifth cycle while starting (recovery, declarations, consumers
      // joining), anywhere in the time a start has taken so far; the others 50 .. 1,500 ms into the load.
      const duringStartup = cycle % 5 === 2;
      const typicalStartupMs = startups === 0 ? 1000 : startupMsSum / startups;
      const kill = draining ? null : duringStartup ? { afterSpawnMs: Math.floor(random() * typicalStartupMs) } : { afterReadyMs: 50 + Math.floor(random() * 1450) };
      const childSeed = Math.floor(random() * 2 ** 31);
      checker.beginLife(cycle);
      let life: Life;
      try {
        const transcript = transcriptDir === undefined ? null : [];
        try {
          life = await runLife([dataDir, draining ? 'drain' : 'load', String(cycle), String(childSeed), policy, String(segmentBytesMax), String(compactionIntervalMs)], checker, kill, transcript);
        } finally {
          if (transcript !== null) writeFileSync(path.join(transcriptDir!, `cycle-${cycle}.txt`), `${transcript.join('\n')}\n`);
        }
        if (draining) checker.verifyDrained();
      } catch (error) {
        failed = true;
        throw new Error(`broker crash cycle ${cycle} (seed ${options.seed}, fsync ${policy}, dir ${dataDir}): ${(error as Error).message}`, { cause: error });
      }
      const bytes = directoryBytes(dataDir);
      const limit = diskLimit(checker.topicBytes);
      if (bytes > limit) checker.violations.push(`cycle ${cycle}: the data directory holds ${bytes} bytes, above its limit of ${limit} (2 x ${checker.topicBytes} topic bytes + ${DISK_ALLOWANCE_BYTES})`);
      if (checker.violations.length > 0) {
        failed = true;
        throw new Error(`broker crash cycle ${cycle} (seed ${options.seed}, fsync ${policy}, dir ${dataDir} kept): ${checker.violations.length} violations:\n${checker.violations.slice(0, 30).join('\n')}`);
      }
      report.cycles++;
      if (life.ready) {
        startups++;
        startupMsSum += life.readyAfterMs;
        report.startupMsMean = Math.round(startupMsSum / startups);
        report.startupMsMax = Math.max(report.startupMsMax, Math.round(life.readyAfterMs));
      }
      if (draining) report.drains++;
      else {
        report.kills++;
        if (!life.ready) report.killsDuringStartup++;
        else if (checker.confirmsThisLife > 0) report.killsDuringLoad++;
      }
      report.maxDataDirBytes = Math.max(report.maxDataDirBytes, bytes);
      report.dataDirLimitBytes = limit;
      if (options.log !== undefined && ((cycle + 1) % (options.logEvery ?? 50) === 0 || draining)) {
        options.log(`cycle ${cycle + 1} (fsync ${policy}, ${life.ready ? `${checker.confirmsThisLife} confirms` : 'killed while starting'}, data dir ${bytes} of ${limit} bytes): ${JSON.stringify({ ...report, ...checker.report })}`);
      }
    }
  } finally {
    // Kept after a failure, for `baton inspect --data-dir` and a look at what the checker saw.
    if (!failed) rmSync(dataDir, { recursive: true, force: true });
  }
  return Object.assign(report, checker.report, { firstConsumerError: checker.firstConsumerError });
}

// `node dist/bench/broker-crash-soak.js --cycles 1000 [--seed N] [--drain-every 100]`
if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  const arg = (name: string, fallback: number) => {
    const i = process.argv.indexOf(name);
    return i >= 0 ? Number(process.argv[i + 1]) : fallback;
  };
  const seed = arg('--seed', Date.now() % 2 ** 31);
  const cycles = arg('--cycles', 1000);
  const drainEvery = arg('--drain-every', 100);
  process.stderr.write(`broker crash soak: ${cycles} cycles, a drain every ${drainEvery}, seed ${seed}\n`);
  const started = Date.now();
  runBrokerCrashCycles({ cycles, seed, drainEvery, log: (line) => process.stderr.write(`${line}\n`) }).then(
    (report) => {
      process.stdout.write(`${JSON.stringify({ ...report, seed, seconds: (Date.now() - started) / 1000 })}\n`);
    },
    (error: unknown) => {
      process.stderr.write(`${(error as Error).stack}\n`);
      process.exitCode = 1;
    },
  );
}
