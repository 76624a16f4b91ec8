// Proves `baton inspect` on a log of opaque batches: the log's line counts their messages as
// records and a summary line gives "opaque, N messages, B bytes"; `--dump` lists each opaque
// batch as one line ("opaque, N messages, B bytes", never decoded) and each delivery-count batch
// as one line, beside the records of ordinary batches. Runs the compiled CLI (`npm run build`).
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { Wal } from '../../src/wal/wal.js';
import { tempDir, text } from './helpers.js';

const cli = fileURLToPath(new URL('../../dist/src/cli/main.js', import.meta.url));
const inspect = (...args: string[]) => spawnSync(process.execPath, [cli, 'inspect', ...args], { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });

describe('wal inspect opaque', () => {
  it('wal inspect opaque - lists opaque batches by messages and bytes, and delivery-count batches, without decoding bodies', async () => {
    const dir = tempDir();
    const wal = await Wal.open(dir);
    const queue = await wal.openLog('queue:o', { kind: 'queue' });
    await queue.appendOpaque(new Uint8Array(300).fill(0xab), 7, 1_000);
    await queue.appendOpaque(new Uint8Array(20).fill(0xcd), 2, 2_000);
    await queue.recordDeliveries([0, 1, 3, 2]);
    await queue.acknowledgeRanges([0, 2]);
    await (await wal.openLog('topic:t/0', { kind: 'topic' })).append([text('plain')]);
    await wal.close();

    const report = inspect('--data-dir', dir);
    expect(report.status, report.stderr).toBe(0);
    expect(report.stdout).toMatch(/queue:o\s+0\s+10\s+11/); // offsets 0..10: 9 messages, a delivery and an ack batch
    expect(report.stdout).toContain('2 opaque batch(es): opaque, 9 messages, 320 bytes; 1 delivery-count batch(es)');

    const dump = inspect('--data-dir', dir, '--dump');
    expect(dump.status, dump.stderr).toBe(0);
    expect(dump.stdout).toMatch(/queue:o @0 \S+ opaque, 7 messages, 300 bytes/);
    expect(dump.stdout).toMatch(/queue:o @7 \S+ opaque, 2 messages, 20 bytes/);
    expect(dump.stdout).toContain('queue:o @9: delivery-count batch, 2 offset(s)');
    expect(dump.stdout).toContain('queue:o @10: ack batch, 1 record(s)');
    expect(dump.stdout).toContain('utf8 "plain"');
  });
});
