// Proves that `baton bench queue topic --quick --json` prints one document per suite in API.md's
// shape: every queue row (64/256 B, memory/durable, 1/4 consumers) and topic row (64/256 B,
// memory/durable, a group of 1/2) measured, each with its ratio to the postMessage peer measured
// in the same run, and the peer rows themselves. Figures are not asserted: speed lives in bench/.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const cli = fileURLToPath(new URL('../../dist/src/cli/main.js', import.meta.url));

interface Row {
  name: string;
  messages: number;
  msgsPerSec: number | null;
  extra?: Record<string, unknown>;
}

describe('cli - bench queue and topic', () => {
  it('cli - bench queue topic --quick --json: every row measured beside the postMessage peer', () => {
    const result = spawnSync(process.execPath, [cli, 'bench', 'queue', 'topic', '--quick', '--json'], { encoding: 'utf8', timeout: 240_000 });
    expect(result.status, result.stderr).toBe(0);
    // One JSON document per suite, one after the other.
    const documents = result.stdout
      .trim()
      .split(/\n(?=\{)/)
      .map((text) => JSON.parse(text) as { suite: string; results: Row[] });
    expect(documents.map((d) => d.suite)).toEqual(['queue', 'topic']);
    const [queue, topic] = documents as unknown as [{ results: Row[] }, { results: Row[] }];
    const baton = (rows: Row[], prefix: string) => rows.filter((r) => r.name.startsWith(prefix));
    const peers = (rows: Row[]) => rows.filter((r) => r.name.startsWith('postMessage'));
    expect(baton(queue.results, 'queue ')).toHaveLength(8);
    expect(baton(topic.results, 'topic ')).toHaveLength(8);
    for (const { results, prefix } of [{ results: queue.results, prefix: 'queue ' }, { results: topic.results, prefix: 'topic ' }]) {
      expect(peers(results)).toHaveLength(2);
      for (const row of [...baton(results, prefix), ...peers(results)]) {
        expect(row.messages).toBeGreaterThan(0);
        expect(row.msgsPerSec).toBeGreaterThan(0);
      }
      for (const row of baton(results, prefix)) expect(row.extra?.xPostMessage).toBeGreaterThan(0);
    }
  });
});
