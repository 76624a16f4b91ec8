// Proves `baton inspect --dump` on a data directory written by a broker: queue messages are
// decoded from the queue batch layout (id, headers, body as JSON / UTF-8 / hex), NAME limits
// the dump to one log; on a corrupted segment the report names the file and byte offset, the
// dump still prints what precedes the damage, and the exit status is 3; --dump with --json is
// a one-line usage error (exit 2). Listing and CRC checks themselves: test/wal/inspect.test.ts.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { Broker } from '../../src/broker/broker.js';

const cli = fileURLToPath(new URL('../../dist/src/cli/main.js', import.meta.url));
const inspect = (...args: string[]) => spawnSync(process.execPath, [cli, 'inspect', ...args], { encoding: 'utf8' });

async function fill(): Promise<string> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'baton-dump-'));
  const broker = await Broker.start({ dataDir: dir, workers: 1 });
  const orders = await broker.queue('orders');
  await orders.send({ n: 1 }, { id: 'order-1', headers: { region: 'eu' }, priority: 0 });
  await orders.send('plain text', { id: 'order-2', correlationId: 'c-9' });
  const bin = await broker.queue('bin', { codec: 'raw' });
  await bin.send(new Uint8Array([0, 1, 2, 255]), { id: 'bin-1' });
  await broker.close();
  return dir;
}

describe('cli - inspect --dump', () => {
  it('cli - inspect --dump decodes queue messages; NAME limits it to one log', async () => {
    const dir = await fill();
    const all = inspect('--data-dir', dir, '--dump');
    expect(all.status, all.stderr).toBe(0);
    expect(all.stdout).toMatch(/queue:orders @0 \S+ id=order-1 headers=\{"region":"eu"\} body=json \{"n":1\}/);
    expect(all.stdout).toMatch(/queue:orders @1 \S+ id=order-2 correlationId=c-9 body=json "plain text"/);
    expect(all.stdout).toMatch(/queue:bin @0 \S+ id=bin-1 body=hex 000102ff/);
    expect(all.stdout).toContain('3 record(s) dumped');
    const one = inspect('--data-dir', dir, 'queue:bin', '--dump');
    expect(one.status).toBe(0);
    expect(one.stdout).not.toContain('queue:orders @');
    expect(one.stdout).toContain('1 record(s) dumped');
  }, 60_000);

  it('cli - inspect --dump on a corrupted segment: file and offset, what precedes the damage, exit 3', async () => {
    const dir = await fill();
    const walDir = path.join(dir, 'wal');
    const file = path.join(walDir, readdirSync(walDir).filter((n) => n.endsWith('.log')).sort()[0]!);
    const bytes = readFileSync(file);
    const at = bytes.indexOf(Buffer.from('bin-1'));
    expect(at).toBeGreaterThan(0);
    bytes[at]! ^= 0x20; // inside the last message's batch: its CRC no longer matches
    writeFileSync(file, bytes);
    const result = inspect('--data-dir', dir, '--dump');
    expect(result.status).toBe(3);
    expect(result.stdout).toMatch(new RegExp(`(CORRUPT|torn tail).*${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} at byte offset \\d+`));
    expect(result.stdout).toContain('id=order-1');
    expect(result.stdout).not.toContain('id=bin-1');
  }, 60_000);

  it('cli - inspect --dump decodes topic batches record by record (key, headers, body); compacted topics show their WAL records', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'baton-dump-'));
    const broker = await Broker.start({ dataDir: dir, workers: 1 });
    const clicks = await broker.topic('clicks', { partitions: 1 });
    await clicks.sendBatch([{ body: { page: '/' }, key: 'user-7', headers: { via: 'web' } }, { body: 'plain' }]);
    const profiles = await broker.topic('profiles', { partitions: 1, compact: true });
    await profiles.send({ name: 'ann' }, { key: 'ann' });
    await profiles.tombstone('ann');
    await broker.close();
    const result = inspect('--data-dir', dir, '--dump');
    expect(result.status, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/topic:clicks\/0 @0 \S+ key="user-7" headers=\{"via":"web"\} body=json \{"page":"\/"\}/);
    expect(result.stdout).toMatch(/topic:clicks\/0 @1 \S+ body=json "plain"/);
    expect(result.stdout).toMatch(/topic:profiles\/0 @0 \S+ key=utf8 "ann" value=json \{"name":"ann"\}/);
    expect(result.stdout).toMatch(/topic:profiles\/0 @1 \S+ key=utf8 "ann" value=null/);
  }, 60_000);

  it('cli - inspect --dump --json is a one-line usage error, exit 2; --help documents --dump', () => {
    const both = inspect('--data-dir', '/tmp', '--dump', '--json');
    expect(both.status).toBe(2);
    expect(both.stderr.trim().split('\n')).toEqual(['baton: inspect: --dump and --json do not go together']);
    const help = inspect('--help');
    expect(help.status).toBe(0);
    expect(help.stdout).toContain('--dump');
  });
});
