// Proves `baton bench peers --quick --json --plot FILE`: one document in the shape of docs/api.md where
// every broker peer (NATS core, JetStream, RabbitMQ, Redis Streams, BullMQ) has a publish and a
// consume row that is either measured or listed as skipped with a reason (never a failure),
// Baton's rows carry the ratio to each measured peer, and the plot is a well-formed SVG with a
// bar or a "skipped" note per row; and that a bad --plot is one line with exit code 2. Whether a
// peer is reachable depends on the machine, so both outcomes are accepted; figures are not asserted.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const cli = fileURLToPath(new URL('../../dist/src/cli/main.js', import.meta.url));
const run = (...args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', timeout: 240_000 });

interface Row { name: string; messages: number; msgsPerSec: number | null; mbPerSec: number | null; p50Us: number | null; p99Us: number | null; extra?: Record<string, unknown>; skipped?: string }

describe('cli - bench peers and --plot', () => {
  it('cli - bench peers --quick --json: every peer measured or skipped, ratios on Baton rows, a valid SVG plot', () => {
    const svgFile = path.join(mkdtempSync(path.join(os.tmpdir(), 'baton-plot-')), 'peers.svg');
    const result = run('bench', 'peers', '--quick', '--json', '--plot', svgFile);
    expect(result.status, result.stderr).toBe(0);
    const report = JSON.parse(result.stdout) as { suite: string; results: Row[]; machine: { node: string } };
    expect(report.suite).toBe('peers');
    for (const row of report.results) {
      expect(Object.keys(row)).toEqual(expect.arrayContaining(['name', 'messages', 'msgsPerSec', 'mbPerSec', 'p50Us', 'p99Us']));
      if (row.skipped === undefined) {
        expect(row.msgsPerSec, row.name).toBeGreaterThan(0);
        expect(row.mbPerSec!).toBeCloseTo((row.msgsPerSec! * 256) / 1e6, 3);
      } else {
        expect(row.skipped.length, row.name).toBeGreaterThan(0);
        expect(row.msgsPerSec).toBeNull();
      }
    }
    const peers = [['NATS core', 'NatsCore', false], ['NATS JetStream', 'JetStream', true], ['RabbitMQ', 'RabbitMQ', true], ['Redis Streams', 'RedisStreams', true], ['BullMQ', 'BullMQ', true]] as const;
    for (const [label, key, durable] of peers) {
      for (const op of ['publish', 'consume']) {
        const row = report.results.find((r) => r.name.startsWith(label) && r.name.endsWith(`${op} 256 B`));
        expect(row, `${label} ${op}`).toBeDefined();
        const baton = report.results.find((r) => r.name.startsWith(durable ? 'Baton queue (durable' : 'Baton queue (memory)') && r.name.endsWith(`${op} 256 B`))!;
        expect(baton.msgsPerSec).toBeGreaterThan(0);
        if (row!.skipped === undefined) expect(baton.extra?.[`x${key}`] as number).toBeCloseTo(baton.msgsPerSec! / row!.msgsPerSec!, 6);
        else expect(baton.extra?.[`x${key}`]).toBeUndefined();
      }
    }
    const svg = readFileSync(svgFile, 'utf8');
    expect(svg.startsWith('<?xml version="1.0" encoding="UTF-8"?>\n<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg.trimEnd().endsWith('</svg>')).toBe(true);
    // Well formed: every element closed, text escaped.
    const opened = svg.match(/<(svg|text|style)[\s>]/g)!.length;
    const closed = svg.match(/<\/(svg|text|style)>/g)!.length;
    expect(opened).toBe(closed);
    expect(svg).not.toMatch(/&(?!lt;|gt;|amp;|quot;|apos;)/);
    const measured = report.results.filter((r) => r.skipped === undefined).length;
    expect(svg.match(/<rect [^>]*class="(baton|peer)"/g)!.length).toBe(measured);
    expect((svg.match(/class="skipped"/g) ?? []).length).toBe(report.results.length - measured);
    expect(result.stderr).toContain(`plot written to ${svgFile}`);
  }, 240_000);

  it('cli - bench --plot into a missing directory or not .svg is one line with exit code 2', () => {
    for (const [file, message] of [['/nonexistent/dir/x.svg', /--plot: no directory for/], [path.join(os.tmpdir(), 'x.png'), /--plot writes SVG/]] as const) {
      const result = run('bench', 'ring', '--quick', '--plot', file);
      expect(result.status).toBe(2);
      expect(result.stderr).toMatch(message);
      expect(result.stderr.trim().split('\n')).toHaveLength(1);
    }
  });
});
