// Proves placement: hashing spreads ids and is the same in every process; least-loaded fills the
// emptiest host; a choice, once made, is remembered in the data directory and wins over hashing
// after a restart (even with another strategy); a remembered host that no longer exists is
// chosen again; bad options are typed errors.
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { hashActorId, Placement } from '../../src/actor/placement.js';

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

  it('placement - a choice is remembered in the data directory and wins after a restart', async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'baton-placement-'));
    const first = await Placement.open({ hosts: 3, strategy: 'least-loaded', dataDir: dir });
    const homes = new Map<string, number>();
    for (let i = 0; i < 6; i++) homes.set(`t${i}`, await first.place(`t${i}`));
    const file = path.join(dir, 'placement.json');
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect(JSON.parse(await readFile(file, 'utf8'))).toMatchObject({ version: 1 });
    // Reopened with hashing: the remembered homes win over what hashing would say.
    const second = await Placement.open({ hosts: 3, strategy: 'hash', dataDir: dir });
    for (const [id, host] of homes) expect(await second.place(id)).toBe(host);
    // With fewer hosts, an actor whose host is gone is placed again, by hashing.
    const third = await Placement.open({ hosts: 2, dataDir: dir });
    for (const [id, host] of homes) expect(await third.place(id)).toBe(host < 2 ? host : hashActorId(id) % 2);
    await third.forget('t0');
    expect(third.hostOf('t0')).toBeUndefined();
  });

  it('placement - bad options are BATON_INVALID_ARGUMENT', async () => {
    await expect(Placement.open({ hosts: 0 })).rejects.toMatchObject({ code: 'BATON_INVALID_ARGUMENT' });
    await expect(Placement.open({ hosts: 2, strategy: 'random' as never })).rejects.toMatchObject({ code: 'BATON_INVALID_ARGUMENT' });
  });
});
