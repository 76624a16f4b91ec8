// Proves that `baton bench actor --quick --json` prints one document in the shape of docs/api.md with every
// row of the suite: dispatch with NOTE records for 1, 16 and 256 actors and with ADD records (the
// log path), each saying which side was the bottleneck; restart after a throw and after a host
// exit, with p50/p99 and the configured backoff; the idle rows with CPU in cores and memory per
// actor; and the declare rate. Figures are not asserted: speed lives in bench/, not in tests.
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
}

describe('cli - bench actor', () => {
  it('cli - bench actor --quick --json prints every row in the shape of docs/api.md', () => {
    const result = spawnSync(process.execPath, [cli, 'bench', 'actor', '--quick', '--json'], { encoding: 'utf8', timeout: 240_000 });
    expect(result.status, result.stderr).toBe(0);
    const report = JSON.parse(result.stdout) as { suite: string; results: Row[]; machine: { node: string; cpus: number } };
    expect(report.suite).toBe('actor');
    expect(report.machine.node).toBe(process.version);
    for (const row of report.results) {
      expect(Object.keys(row)).toEqual(expect.arrayContaining(['name', 'messages', 'msgsPerSec', 'mbPerSec', 'p50Us', 'p99Us']));
    }
    const names = report.results.map((r) => r.name);
    const find = (prefix: string, ...parts: string[]) => {
      const row = report.results.find((r) => r.name.startsWith(prefix) && parts.every((p) => r.name.includes(p)));
      expect(row, `${prefix} ${parts.join(' ')} in ${names.join(' | ')}`).toBeDefined();
      return row!;
    };

    const dispatch = [
      find('dispatch NOTE', ' 1 actor '),
      find('dispatch NOTE', ' 16 actors '),
      find('dispatch NOTE', ' 256 actors '),
      find('dispatch ADD', ' 16 actors '),
    ];
    for (const row of dispatch) {
      expect(row.messages).toBeGreaterThan(0);
      expect(row.msgsPerSec).toBeGreaterThan(0);
      expect(typeof row.extra?.senderBusyPerSec).toBe('number');
      expect(typeof row.extra?.fullWaits).toBe('number');
      expect(typeof row.extra?.cores).toBe('number');
      expect(['sender', 'hosts']).toContain(row.extra?.bottleneck);
    }

    const restarts = [find('restart: actor throws'), find('restart: host thread exits')];
    for (const row of restarts) {
      expect(row.messages).toBeGreaterThan(0);
      expect(row.p50Us).toBeGreaterThan(0);
      expect(row.p99Us!).toBeGreaterThanOrEqual(row.p50Us!);
      expect(typeof row.extra?.backoffMs).toBe('number');
    }

    const reference = find('idle: runtime with no actors');
    expect(typeof reference.extra?.cores).toBe('number');
    const idle = find('idle: ', 'idle actors');
    expect(typeof idle.extra?.cores).toBe('number');
    expect(idle.extra?.actors).toBeGreaterThan(0);
    expect(typeof idle.extra?.rssBytesPerActor).toBe('number');
    expect(typeof idle.extra?.mainHeapBytesPerActor).toBe('number');
    const declare = find('declare: ');
    expect(declare.msgsPerSec).toBeGreaterThan(0);
  });
});
