// Proves the data directory lock and permissions: a second open of a directory in use fails with
// BATON_DATA_DIR_LOCKED (in this process or another), a lock left by a dead process or a
// half-written one is taken over, and the WAL creates its directories 0700 and files 0600.
import { spawn, spawnSync } from 'node:child_process';
import { readdirSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Wal } from '../../src/wal/wal.js';
import { tempDir, text } from './helpers.js';

describe('wal data dir lock', () => {
  it('wal data dir lock - a second open of a directory in use fails until the first closes', async () => {
    const dir = tempDir();
    const wal = await Wal.open(dir);
    await expect(Wal.open(dir)).rejects.toMatchObject({ code: 'BATON_DATA_DIR_LOCKED', message: expect.stringContaining(String(process.pid)) });
    await wal.close();
    const again = await Wal.open(dir);
    await again.close();
  });

  it('wal data dir lock - a lock held by a live process blocks; once it dies, the lock is taken over', async () => {
    const dir = tempDir();
    const holder = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' });
    await new Promise((resolve) => holder.once('spawn', resolve));
    const stat = (await import('node:fs')).readFileSync(`/proc/${holder.pid}/stat`, 'utf8');
    const startTicks = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]);
    writeFileSync(path.join(dir, 'LOCK'), JSON.stringify({ pid: holder.pid, startTicks, host: (await import('node:os')).hostname() }));
    await expect(Wal.open(dir)).rejects.toMatchObject({ code: 'BATON_DATA_DIR_LOCKED', message: expect.stringContaining(String(holder.pid)) });
    holder.kill('SIGKILL');
    await new Promise((resolve) => holder.once('exit', resolve));
    const wal = await Wal.open(dir);
    await wal.close();
  });

  it('wal data dir lock - a stale lock (dead pid, reused pid, or half-written) is recovered', async () => {
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']).stdout.toString();
    const os = await import('node:os');
    for (const content of [
      JSON.stringify({ pid: Number(dead), startTicks: 1, host: os.hostname() }),
      JSON.stringify({ pid: process.pid, startTicks: 1, host: os.hostname() }), // our pid, another start time
      '',
      '{"pid":',
    ]) {
      const dir = tempDir();
      writeFileSync(path.join(dir, 'LOCK'), content);
      const wal = await Wal.open(dir);
      await wal.close();
      expect(readdirSync(dir).filter((n) => n.startsWith('LOCK'))).toEqual([]);
    }
  });

  it('wal data dir lock - directories are created 0700 and files 0600', async () => {
    const root = tempDir();
    const dir = path.join(root, 'data');
    const wal = await Wal.open(dir, { segmentBytesMax: 4096 });
    const log = await wal.openLog('m');
    for (let i = 0; i < 30; i++) await log.append([text('z'.repeat(300))]);
    await log.writeSnapshot({ offset: 1, state: new Uint8Array([1]) });
    const lockMode = statSync(path.join(dir, 'LOCK')).mode & 0o777;
    await wal.close();
    expect(lockMode).toBe(0o600);
    const walk = (p: string): string[] => [p, ...(statSync(p).isDirectory() ? readdirSync(p).flatMap((n) => walk(path.join(p, n))) : [])];
    const entries = walk(dir);
    expect(entries.length).toBeGreaterThan(8);
    for (const entry of entries) {
      const st = statSync(entry);
      expect({ entry, mode: st.mode & 0o777 }).toEqual({ entry, mode: st.isDirectory() ? 0o700 : 0o600 });
    }
  });
});
