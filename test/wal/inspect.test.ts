// Proves `baton inspect`: on a sound data directory it lists segments and logs with offsets and
// sizes and exits 0; with NAME it shows only that log; a corrupt sealed segment is reported with
// its file and byte offset and exit status 3; a torn tail is reported but is not corruption.
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { Wal } from '../../src/wal/wal.js';
import { tempDir, text } from './helpers.js';

const cli = fileURLToPath(new URL('../../dist/src/cli/main.js', import.meta.url));
const inspect = (...args: string[]) => spawnSync(process.execPath, [cli, 'inspect', ...args], { encoding: 'utf8' });

async function fill(dir: string): Promise<void> {
  const wal = await Wal.open(dir, { segmentBytesMax: 4096 });
  const a = await wal.openLog('queue:a', { kind: 'queue' });
  const b = await wal.openLog('topic:b/0', { kind: 'topic' });
  for (let i = 0; i < 30; i++) {
    await a.append([text(`a${i}`.padEnd(200, '.'))]);
    await b.append([text(`b${i}`), text(`b${i}'`)]);
  }
  await a.acknowledge([0, 1, 2]);
  await wal.close();
}

describe('wal inspect', () => {
  it('wal inspect - lists segments, logs, offsets and sizes of a sound directory and exits 0', async () => {
    const dir = tempDir();
    await fill(dir);
    const result = inspect('--data-dir', dir);
    expect(result.status, result.stderr).toBe(0);
    for (const file of readdirSync(path.join(dir, 'wal')).filter((n) => n.endsWith('.log'))) expect(result.stdout).toContain(file);
    expect(result.stdout).toMatch(/queue:a\s+0\s+30\s+31/); // offsets 0..30 (30 messages, 1 ack), 31 records
    expect(result.stdout).toMatch(/topic:b\/0\s+0\s+59\s+60/);
    expect(result.stdout).toContain('no problems found');
    const only = inspect('--data-dir', dir, 'topic:b/0', '--json');
    const report = JSON.parse(only.stdout) as { logs: Array<{ name: string }> };
    expect(report.logs.map((l) => l.name)).toEqual(['topic:b/0']);
  });

  it('wal inspect - reports a corrupt sealed segment with file and offset and exits 3', async () => {
    const dir = tempDir();
    await fill(dir);
    const file = path.join(dir, 'wal', readdirSync(path.join(dir, 'wal')).filter((n) => n.endsWith('.log')).sort()[0]!);
    const bytes = readFileSync(file);
    bytes[100]! ^= 0x40;
    writeFileSync(file, bytes);
    const result = inspect('--data-dir', dir);
    expect(result.status).toBe(3);
    expect(result.stdout).toContain(`CORRUPT: ${file} at byte offset 0`);
  });

  it('wal inspect - a torn tail is reported but is not corruption; bad usage exits 2', async () => {
    const dir = tempDir();
    const wal = await Wal.open(dir);
    await (await wal.openLog('x')).append([text('x')]);
    await wal.close();
    // An unclean stop: the checkpoint trusts nothing of the newest segment, which ends in garbage.
    const { encodeCheckpoint, readCheckpoint } = await import('../../src/wal/checkpoint.js');
    const { NodeFileLayer } = await import('../../src/wal/file-layer.js');
    const cp = (await readCheckpoint(new NodeFileLayer(), dir))!;
    writeFileSync(path.join(dir, 'checkpoint'), encodeCheckpoint({ ...cp, position: 0, clean: false }));
    const file = path.join(dir, 'wal', '00000000000000000000.log');
    writeFileSync(file, Buffer.concat([readFileSync(file), Buffer.from('garbage')]));
    const result = inspect('--data-dir', dir);
    expect(result.status).toBe(0);
    expect(result.stdout).toContain('torn tail');
    expect(inspect().status).toBe(2);
  });
});
