// Proves that `baton bench ring --json` prints one document in the shape of docs/api.md, with every
// transport, every message size, the latency and idle rows, and the peers beside Baton, all
// measured in the same run; and that bad arguments fail with a message and exit code 2, without
// a stack trace. Figures are not asserted: speed lives in bench/, not in tests.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const cli = fileURLToPath(new URL('../../dist/src/cli/main.js', import.meta.url));
const run = (...args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', timeout: 240_000 });

describe('cli - bench ring', () => {
  it('cli - bench ring --quick --json prints the shape of docs/api.md with all peers', () => {
    const result = run('bench', 'ring', '--quick', '--json');
    expect(result.status, result.stderr).toBe(0);
    const report = JSON.parse(result.stdout) as {
      suite: string;
      results: { name: string; messages: number; msgsPerSec: number | null; mbPerSec: number | null; p50Us: number | null; p99Us: number | null; extra?: Record<string, unknown> }[];
      machine: { node: string; cpus: number };
    };
    expect(report.suite).toBe('ring');
    expect(report.machine.node).toBe(process.version);
    expect(report.machine.cpus).toBeGreaterThan(0);
    for (const row of report.results) {
      expect(Object.keys(row)).toEqual(expect.arrayContaining(['name', 'messages', 'msgsPerSec', 'mbPerSec', 'p50Us', 'p99Us']));
    }
    const names = report.results.map((r) => r.name);
    for (const size of [16, 64, 256, 1024]) {
      for (const transport of ['ring single-producer, batches of 256', 'ring multi-producer, 2 producers', 'postMessage per message (peer)', 'postMessage, transferred batch', 'ringbuf.js']) {
        const row = report.results.find((r) => r.name.startsWith(`${size} B `) && r.name.includes(transport));
        expect(row, `${size} B ${transport} in ${names.join(' | ')}`).toBeDefined();
        expect(row!.msgsPerSec).toBeGreaterThan(0);
        expect(row!.mbPerSec).toBeCloseTo((row!.msgsPerSec! * size) / 1e6, 3);
      }
    }
    const latency = report.results.filter((r) => r.name.startsWith('latency'));
    expect(latency.map((r) => r.name)).toEqual([
      'latency one-way 64 B: ring, spinning',
      'latency one-way 64 B: ring, parked (Atomics.wait/notify)',
      'latency one-way 64 B: postMessage (peer)',
    ]);
    for (const row of latency) {
      expect(row.p50Us).toBeGreaterThan(0);
      expect(row.p99Us!).toBeGreaterThanOrEqual(row.p50Us!);
    }
    const idle = report.results.filter((r) => r.name.startsWith('idle'));
    expect(idle.length).toBe(4);
    for (const row of idle) expect(typeof row.extra?.cores).toBe('number');
  });

  it('cli - an unknown suite is a one-line error with exit code 2', () => {
    const result = run('bench', 'nonesuch');
    expect(result.status).toBe(2);
    expect(result.stderr).toMatch(/unknown bench suite "nonesuch"; known suites: ring/);
    expect(result.stderr).not.toMatch(/\n\s+at /);
  });

  it('cli - an unknown option and an unknown command exit 2 without a stack trace', () => {
    for (const args of [['bench', '--frobnicate'], ['frobnicate']]) {
      const result = run(...args);
      expect(result.status).toBe(2);
      expect(result.stderr).toMatch(/^baton: /);
      expect(result.stderr).not.toMatch(/\n\s+at /);
    }
  });

  it('cli - --help documents the command and exits 0', () => {
    const result = run('bench', '--help');
    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(/Usage: baton bench/);
  });
});
