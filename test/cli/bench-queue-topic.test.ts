// Proves that `baton bench queue topic --quick --json` prints one document per suite in the
// shape docs/api.md gives, with every row of the queue and topic suites (bench/queue.ts,
// bench/topic.ts) either measured — its bodies decoded and checked, or the run would have
// failed — or, for a peer that is not installed (fastq, better-sqlite3) or an API not there
// yet (queue.consumeBatch), listed as skipped; and that each Baton row carries its ratio to every relevant peer measured in the same
// run, its CPU and GC figures, and (latency, memory rows) its own figures. Figures are not
// asserted: speed lives in bench/.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const cli = fileURLToPath(new URL('../../dist/src/cli/main.js', import.meta.url));

interface Row {
  name: string;
  messages: number;
  msgsPerSec: number | null;
  mbPerSec: number | null;
  p50Us: number | null;
  p99Us: number | null;
  extra?: Record<string, unknown>;
  skipped?: string;
}

const shapes = ['json 64 B', 'json 256 B', 'raw 64 B', 'raw 256 B'];

function find(rows: Row[], start: string): Row {
  const row = rows.find((r) => r.name.startsWith(start));
  expect(row, `a row "${start}..."`).toBeDefined();
  return row!;
}

/** A throughput row: measured (count, rate, cost figures) or skipped with a reason. */
function expectThroughput(row: Row): void {
  expect(Object.keys(row)).toEqual(expect.arrayContaining(['name', 'messages', 'msgsPerSec', 'mbPerSec', 'p50Us', 'p99Us']));
  if (row.skipped !== undefined) {
    expect(row.skipped.length, row.name).toBeGreaterThan(0);
    expect(row.msgsPerSec).toBeNull();
    return;
  }
  expect(row.messages, row.name).toBeGreaterThan(0);
  expect(row.msgsPerSec, row.name).toBeGreaterThan(0);
  expect(row.extra, row.name).toHaveProperty('cpuMainNsPerMsg');
  expect(row.extra, row.name).toHaveProperty('cpuOtherNsPerMsg');
  expect(row.extra?.gcShareMain, row.name).toBeGreaterThanOrEqual(0);
}

/** Each ratio key is there exactly when its peer row was measured, and equals the quotient of the rates. */
function expectRatios(rows: Row[], row: Row, ratios: Record<string, string>): void {
  for (const [key, peerStart] of Object.entries(ratios)) {
    const peer = find(rows, peerStart);
    if (peer.skipped !== undefined) {
      expect(row.extra?.[key], `${row.name} ${key}`).toBeUndefined();
      continue;
    }
    expect(row.extra?.[key] as number, `${row.name} ${key}`).toBeCloseTo(row.msgsPerSec! / peer.msgsPerSec!, 6);
  }
}

describe('cli - bench queue and topic', () => {
  it('cli - bench queue topic --quick --json: every row measured or skipped, checked, with ratios to the peers of the same run', () => {
    const result = spawnSync(process.execPath, [cli, 'bench', 'queue', 'topic', '--quick', '--json'], { encoding: 'utf8', timeout: 400_000 });
    expect(result.status, result.stderr).toBe(0);
    // One JSON document per suite, one after the other.
    const documents = result.stdout
      .trim()
      .split(/\n(?=\{)/)
      .map((text) => JSON.parse(text) as { suite: string; results: Row[] });
    expect(documents.map((d) => d.suite)).toEqual(['queue', 'topic']);
    const [{ results: queue }, { results: topic }] = documents as unknown as [{ results: Row[] }, { results: Row[] }];

    // Queue peers: postMessage and piscina always run; fastq and SQLite are devDependencies.
    for (const shape of shapes) {
      expect(find(queue, `postMessage queue (peer) ${shape}`).msgsPerSec).toBeGreaterThan(0);
      for (const start of [`fastq (peer) ${shape}`, `SQLite queue (peer) ${shape}`]) {
        const row = find(queue, start);
        expectThroughput(row);
        if (row.skipped !== undefined) expect(row.skipped).toMatch(/^install |did not/);
      }
    }
    expectThroughput(find(queue, 'piscina (peer) json 64 B'));
    expect(find(queue, 'piscina (peer) json 64 B').msgsPerSec).toBeGreaterThan(0);

    // Queue Baton rows and the peers each is compared with.
    const queueRows: Array<[string, Record<string, string>]> = [
      ...shapes.map((shape): [string, Record<string, string>] => [`queue in memory ${shape}, 1 consumer`, { xFastq: `fastq (peer) ${shape}`, xPostMessage: `postMessage queue (peer) ${shape}` }]),
      ['queue in memory raw 64 B, 4 consumers', { xPostMessage: 'postMessage queue (peer) raw 64 B' }],
      ...shapes.map((shape): [string, Record<string, string>] => [`queue durable (fsync always) ${shape}, 1 consumer`, { xSqlite: `SQLite queue (peer) ${shape}`, xPostMessage: `postMessage queue (peer) ${shape}` }]),
      ['queue durable (fsync always) raw 256 B, 4 consumers', { xSqlite: 'SQLite queue (peer) raw 256 B', xPostMessage: 'postMessage queue (peer) raw 256 B' }],
      ['queue.process in memory json 64 B, 2 threads', { xPiscina: 'piscina (peer) json 64 B' }],
      ['64 queues in memory raw 64 B', { vs1Queue: 'queue in memory raw 64 B, 1 consumer', xPostMessage: 'postMessage queue (peer) raw 64 B' }],
    ];
    for (const [start, ratios] of queueRows) {
      const row = find(queue, start);
      expect(row.skipped, row.name).toBeUndefined();
      expectThroughput(row);
      expectRatios(queue, row, ratios);
      if (row.name.includes('durable')) expect(row.extra, row.name).toHaveProperty('msgsPerFdatasync');
    }
    const handlers = find(queue, 'queue.process in memory json 64 B');
    // Where /proc gives per-thread CPU, the handler threads have a figure of their own.
    if (handlers.extra?.cpuMainNsPerMsg !== null) expect(handlers.extra?.cpuHandlersNsPerMsg, 'handler threads named').toBeGreaterThanOrEqual(0);
    // The batch consumer row runs once queues have consumeBatch; until then it is listed as skipped.
    const batch = find(queue, 'queue in memory raw 64 B, consumeBatch');
    expectThroughput(batch);
    if (batch.skipped === undefined) expectRatios(queue, batch, { xFastq: 'fastq (peer) raw 64 B', xPostMessage: 'postMessage queue (peer) raw 64 B' });

    // Latency: the bars (a postMessage round trip at each rate, under the same pacer; fdatasync),
    // and four Baton rows with p50/p99/p99.9 and the ratio of their p99 to their bar's.
    const fdatasync = find(queue, 'fdatasync (peer)');
    for (const durable of [false, true]) {
      for (const rate of ['1,000', '10,000']) {
        const roundTrip = find(queue, `postMessage round trip (peer) 64 B, paced ${rate}/s`);
        for (const bar of [roundTrip, fdatasync]) {
          expect(bar.p50Us).toBeGreaterThan(0);
          expect(bar.p99Us).toBeGreaterThanOrEqual(bar.p50Us!);
        }
        const row = find(queue, `queue latency ${durable ? 'durable (fsync always)' : 'in memory'} raw 64 B, send() paced ${rate}/s`);
        expect(row.msgsPerSec).toBeNull();
        expect(row.p50Us, row.name).toBeGreaterThan(0);
        expect(row.p99Us!, row.name).toBeGreaterThanOrEqual(row.p50Us!);
        expect(row.extra?.p999Us as number, row.name).toBeGreaterThanOrEqual(row.p99Us!);
        const key = durable ? 'p99OverFdatasync' : 'p99OverPostMessage';
        // The ratio is the median over rounds of each round's p99 over its bar's in that round.
        const byRound = (list: unknown) => String(list).split(' ').map(Number);
        const p99s = byRound(row.extra?.p99UsByRound);
        const bars = byRound(row.extra?.barP99UsByRound);
        expect(p99s.length, row.name).toBe(row.extra?.rounds);
        expect(bars.length, row.name).toBe(p99s.length);
        const perRound = p99s.map((p99, i) => p99 / bars[i]!).sort((a, b) => a - b);
        const expected = perRound.length % 2 === 1 ? perRound[perRound.length >> 1]! : (perRound[perRound.length / 2 - 1]! + perRound[perRound.length / 2]!) / 2;
        expect(Math.abs((row.extra?.[key] as number) / expected - 1), `${row.name}: ${key}`).toBeLessThan(0.01);
        if (p99s.length === 1) expect(row.p99Us!, row.name).toBeCloseTo(p99s[0]!, -1);
      }
    }

    // Memory: 1,000,000 queued (the 10,000,000 rows are for full runs only).
    for (const start of ['queue RSS in memory, 1,000,000 x 64 B', 'queue RSS durable, memoryBytes 16 MiB, 1,000,000 x 64 B']) {
      const row = find(queue, start);
      expect(row.msgsPerSec).toBeNull();
      expect(row.extra?.rssBytesPerMsg as number, row.name).toBeGreaterThan(0);
      expect(row.extra?.queued).toBe(1_000_000);
    }
    expect(queue.some((r) => r.name.includes('10,000,000'))).toBe(false);
    // Idle: measured in memory and durable (a figure of cores, however small; no spinning thread).
    for (const start of ['broker idle in memory', 'broker idle durable']) {
      const row = find(queue, start);
      expect(row.extra?.cores as number, row.name).toBeGreaterThanOrEqual(0);
      expect(row.extra?.cores as number, row.name).toBeLessThan(0.5);
    }

    // Topic: peers, then the Baton rows with their ratios.
    for (const shape of shapes) expect(find(topic, `postMessage queue (peer) ${shape}`).msgsPerSec).toBeGreaterThan(0);
    for (const start of ['fastq (peer) raw 64 B', 'fastq (peer) json 64 B', 'SQLite queue (peer) raw 256 B', 'SQLite queue (peer) json 256 B']) expectThroughput(find(topic, start));
    const topicRows: Array<[string, Record<string, string>]> = [
      ...['raw 64 B', 'json 64 B'].map((shape): [string, Record<string, string>] => [`topic in memory ${shape}, 4 partitions, group of 1`, { xFastq: `fastq (peer) ${shape}`, xPostMessage: `postMessage queue (peer) ${shape}` }]),
      ...['raw 256 B', 'json 256 B'].map((shape): [string, Record<string, string>] => [`topic durable (fsync always) ${shape}, 4 partitions, group of 1`, { xSqlite: `SQLite queue (peer) ${shape}`, xPostMessage: `postMessage queue (peer) ${shape}` }]),
      ['topic.process in memory raw 64 B, 4 partitions, group of 1 on 1 thread', { xPostMessage: 'postMessage queue (peer) raw 64 B' }],
      ['topic.process in memory raw 64 B, 4 partitions, group of 2 on 2 threads', { vsGroupOf1: 'topic.process in memory raw 64 B, 4 partitions, group of 1', xPostMessage: 'postMessage queue (peer) raw 64 B' }],
      // The same with a CPU-heavy handler (hashing each body).
      ['topic.process in memory raw 64 B, 4 partitions, a handler hashing each body (8 rounds of FNV-1a, ~2 µs), group of 1 on 1 thread', { xPostMessage: 'postMessage queue (peer) raw 64 B' }],
      [
        'topic.process in memory raw 64 B, 4 partitions, a handler hashing each body (8 rounds of FNV-1a, ~2 µs), group of 2 on 2 threads',
        { vsGroupOf1: 'topic.process in memory raw 64 B, 4 partitions, a handler hashing each body (8 rounds of FNV-1a, ~2 µs), group of 1', xPostMessage: 'postMessage queue (peer) raw 64 B' },
      ],
    ];
    for (const [start, ratios] of topicRows) {
      const row = find(topic, start);
      expect(row.skipped, row.name).toBeUndefined();
      expectThroughput(row);
      expectRatios(topic, row, ratios);
      if (row.name.startsWith('topic.process')) expect(row.extra?.clock).toMatch(/last record handled/);
    }
  }, 420_000);
});
