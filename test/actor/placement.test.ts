// Proves placement: hashing spreads ids and is the same in every process; least-loaded fills the
// emptiest host; a choice, once made, is remembered in the data directory's placement.log and
// wins over hashing after a restart (even with another strategy); a remembered host that no
// longer exists is chosen again; place resolves once the home is durable; n declarations append
// O(n) bytes with group-committed fdatasyncs; a torn tail is dropped, a damaged middle is a typed
// error; opening compacts a mostly dead log; placement.json is migrated; bad options are typed
// errors. Real files in a temp directory throughout.
import { appendFile, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { encodePlace } from '../../src/actor/placement-log.js';
import { hashActorId, Placement } from '../../src/actor/placement.js';
import { CorruptLogError } from '../../src/errors.js';

let dir: string | null = null;
afterEach(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
  dir = null;
});

describe('placement', () => {
  it('placement - hashing is FNV-1a of the id, spreads ids over the hosts, and does not depend on order', async () => {
    expect(hashActorId('')).toBe(0x811c9dc5);
    expect(hashActorId('a')).toBe(0xe40c292c);
    const a = await Placement.open({ hosts: 4 });
    const b = await Placement.open({ hosts: 4 });
    const ids = Array.from({ length: 400 }, (_, i) => `queue:q${i}`);
    const homes = await Promise.all(ids.map((id) => a.place(id)));
    expect(await Promise.all([...ids].reverse().map((id) => b.place(id)))).toEqual([...homes].reverse());
    const load = [0, 1, 2, 3].map((h) => homes.filter((x) => x === h).length);
    for (const n of load) expect(n).toBeGreaterThan(60);
  });

  it('placement - least-loaded puts each new actor on the emptiest host', async () => {
    const p = await Placement.open({ hosts: 3, strategy: 'least-loaded' });
    const homes = [];
    for (let i = 0; i < 9; i++) homes.push(await p.place(`a${i}`));
    expect(homes).toEqual([0, 1, 2, 0, 1, 2, 0, 1, 2]);
    expect(p.actorsOn(1)).toEqual(['a1', 'a4', 'a7']);
  });

  it('placement - a choice is remembered in placement.log and wins after a restart', async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'baton-placement-'));
    const first = await Placement.open({ hosts: 3, strategy: 'least-loaded', dataDir: dir });
    const homes = new Map<string, number>();
    for (let i = 0; i < 6; i++) homes.set(`t${i}`, await first.place(`t${i}`));
    await first.close();
    const file = path.join(dir, 'placement.log');
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect(await readdir(dir)).toEqual(['placement.log']);
    // Reopened with hashing: the remembered homes win over what hashing would say.
    const second = await Placement.open({ hosts: 3, strategy: 'hash', dataDir: dir });
    for (const [id, host] of homes) expect(await second.place(id)).toBe(host);
    await second.close();
    // With fewer hosts, an actor whose host is gone is placed again, by hashing.
    const third = await Placement.open({ hosts: 2, dataDir: dir });
    for (const [id, host] of homes) expect(await third.place(id)).toBe(host < 2 ? host : hashActorId(id) % 2);
    await third.forget('t0');
    expect(third.hostOf('t0')).toBeUndefined();
    await third.close();
    const fourth = await Placement.open({ hosts: 2, dataDir: dir });
    expect(fourth.hostOf('t0')).toBeUndefined();
    for (const [id, host] of homes) if (id !== 't0') expect(fourth.hostOf(id)).toBe(host < 2 ? host : hashActorId(id) % 2);
    await fourth.close();
    await expect(fourth.place('late')).rejects.toMatchObject({ code: 'BATON_CLOSED' });
  });

  it('placement - place resolves once the home is on disk, also for a second caller asking while it is written', async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'baton-placement-'));
    const file = path.join(dir, 'placement.log');
    const p = await Placement.open({ hosts: 4, dataDir: dir });
    const empty = (await stat(file)).size;
    // What the log had synced when each caller got its answer: the second, which finds the home
    // already chosen, must wait for the same fdatasync as the first.
    const syncedWhenAnswered = (host: number) => ({ host, datasyncs: p.logStats()!.datasyncs });
    const first = p.place('queue:orders').then(syncedWhenAnswered);
    const second = p.place('queue:orders').then(syncedWhenAnswered);
    const host = hashActorId('queue:orders') % 4;
    expect(await second).toEqual({ host, datasyncs: 1 });
    expect(await first).toEqual({ host, datasyncs: 1 });
    expect((await stat(file)).size).toBe(empty + encodePlace('queue:orders', host).byteLength);
    await p.close();
  });

  it('placement - 10,000 declarations append O(n) bytes with far fewer fdatasyncs than declarations', async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'baton-placement-'));
    const n = 10_000;
    const ids = Array.from({ length: n }, (_, i) => `queue:q${i}`);
    const p = await Placement.open({ hosts: 8, dataDir: dir });
    const homes = await Promise.all(ids.map((id) => p.place(id)));
    const stats = p.logStats()!;
    expect(stats.records).toBe(n);
    expect(stats.bytesWritten).toBeLessThanOrEqual(32 * n);
    expect(stats.datasyncs).toBeGreaterThan(0);
    expect(stats.datasyncs).toBeLessThan(n / 100);
    await p.close();
    expect((await stat(path.join(dir, 'placement.log'))).size).toBeLessThanOrEqual(8 + 32 * n);
    const reopened = await Placement.open({ hosts: 8, dataDir: dir });
    expect(ids.map((id) => reopened.hostOf(id))).toEqual(homes);
    await reopened.close();
  });

  it('placement - a torn last append (half a record, or zeros) is dropped and truncated; the rest is kept', async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'baton-placement-'));
    const file = path.join(dir, 'placement.log');
    const p = await Placement.open({ hosts: 4, dataDir: dir });
    for (let i = 0; i < 5; i++) await p.place(`a${i}`);
    await p.close();
    const whole = (await stat(file)).size;
    for (const tail of [encodePlace('queue:torn', 1).subarray(0, 12), new Uint8Array(4096)]) {
      await appendFile(file, tail);
      const reopened = await Placement.open({ hosts: 4, dataDir: dir });
      expect((await stat(file)).size).toBe(whole);
      expect([0, 1, 2, 3, 4].map((i) => reopened.hostOf(`a${i}`))).toEqual([0, 1, 2, 3, 4].map((i) => hashActorId(`a${i}`) % 4));
      expect(reopened.hostOf('queue:torn')).toBeUndefined();
      await reopened.close();
    }
    // Appends go on from the truncation point.
    const again = await Placement.open({ hosts: 4, dataDir: dir });
    await again.place('after');
    await again.close();
    const last = await Placement.open({ hosts: 4, dataDir: dir });
    expect(last.hostOf('after')).toBe(hashActorId('after') % 4);
    expect(last.logStats()!.records).toBe(6);
    await last.close();
  });

  it('placement - a damaged record with records after it is BATON_CORRUPT_LOG naming the file and offset', async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'baton-placement-'));
    const file = path.join(dir, 'placement.log');
    const p = await Placement.open({ hosts: 4, dataDir: dir });
    for (let i = 0; i < 5; i++) await p.place(`actor-${i}`);
    await p.close();
    const bytes = await readFile(file);
    const recordBytes = encodePlace('actor-0', 0).byteLength;
    const second = 8 + recordBytes;
    bytes[second + recordBytes - 1] = bytes[second + recordBytes - 1]! ^ 0x01; // the last byte of the second record's id
    await writeFile(file, bytes);
    const opening = Placement.open({ hosts: 4, dataDir: dir });
    await expect(opening).rejects.toBeInstanceOf(CorruptLogError);
    await expect(opening).rejects.toMatchObject({ code: 'BATON_CORRUPT_LOG', message: expect.stringContaining(`${file} is damaged at byte ${second}`) });
    // The file is left as it was, for a person to look at.
    expect(await readFile(file)).toEqual(bytes);
  });

  it('placement - opening compacts a log whose dead records outnumber the live ones twice, through an atomic rewrite', async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'baton-placement-'));
    const file = path.join(dir, 'placement.log');
    const small = await Placement.open({ hosts: 4, dataDir: dir });
    for (let i = 0; i < 10; i++) await small.place(`s${i}`);
    for (let i = 1; i < 10; i++) await small.forget(`s${i}`);
    await small.close();
    // 19 records, 1 live: too few to be worth a rewrite.
    const kept = await Placement.open({ hosts: 4, dataDir: dir });
    expect(kept.logStats()!.records).toBe(19);
    await Promise.all(Array.from({ length: 200 }, (_, i) => kept.place(`b${i}`)));
    await Promise.all(Array.from({ length: 190 }, (_, i) => kept.forget(`b${i}`)));
    await kept.close();
    const before = (await stat(file)).size;
    const compacted = await Placement.open({ hosts: 4, dataDir: dir });
    expect(compacted.logStats()!.records).toBe(11);
    expect((await stat(file)).size).toBeLessThan(before / 10);
    expect(compacted.hostOf('s0')).toBe(hashActorId('s0') % 4);
    for (let i = 0; i < 200; i++) expect(compacted.hostOf(`b${i}`)).toBe(i < 190 ? undefined : hashActorId(`b${i}`) % 4);
    await compacted.close();
    expect(await readdir(dir)).toEqual(['placement.log']);
  });

  it('placement - a placement.json is carried over into placement.log and removed; a damaged one is BATON_CORRUPT_LOG', async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'baton-placement-'));
    const legacy = path.join(dir, 'placement.json');
    await writeFile(legacy, JSON.stringify({ version: 1, actors: { 'queue:a': 2, 'queue:b': 0, gone: 7 } }));
    const migrated = await Placement.open({ hosts: 4, dataDir: dir });
    expect(await readdir(dir)).toEqual(['placement.log']);
    expect([migrated.hostOf('queue:a'), migrated.hostOf('queue:b'), migrated.hostOf('gone')]).toEqual([2, 0, undefined]);
    await migrated.close();
    const reopened = await Placement.open({ hosts: 4, dataDir: dir });
    expect([reopened.hostOf('queue:a'), reopened.hostOf('queue:b')]).toEqual([2, 0]);
    await reopened.close();
    // A placement.json beside a log is what a migration interrupted before its removal left: the log wins.
    await writeFile(legacy, JSON.stringify({ version: 1, actors: { 'queue:a': 1 } }));
    const interrupted = await Placement.open({ hosts: 4, dataDir: dir });
    expect(interrupted.hostOf('queue:a')).toBe(2);
    expect(await readdir(dir)).toEqual(['placement.log']);
    await interrupted.close();

    for (const damaged of ['{"version":1,"actors":{"queue:a":', '{"version":2,"actors":{}}', '{"version":1,"actors":{"queue:a":"one"}}']) {
      const other = await mkdtemp(path.join(os.tmpdir(), 'baton-placement-'));
      try {
        await writeFile(path.join(other, 'placement.json'), damaged);
        await expect(Placement.open({ hosts: 4, dataDir: other })).rejects.toMatchObject({ code: 'BATON_CORRUPT_LOG', message: expect.stringContaining('placement.json is damaged') });
        expect(await readdir(other)).toEqual(['placement.json']);
      } finally {
        await rm(other, { recursive: true, force: true });
      }
    }
  });

  it('placement - bad options are BATON_INVALID_ARGUMENT', async () => {
    await expect(Placement.open({ hosts: 0 })).rejects.toMatchObject({ code: 'BATON_INVALID_ARGUMENT' });
    await expect(Placement.open({ hosts: 2, strategy: 'random' as never })).rejects.toMatchObject({ code: 'BATON_INVALID_ARGUMENT' });
  });
});
