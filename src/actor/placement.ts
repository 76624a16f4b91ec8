/**
 * Where actors live: which host thread runs each actor.
 *
 * An actor's first home is chosen by hashing its id over the hosts (or, as an option, the host
 * with the fewest actors), and that choice is then remembered: with a data directory in
 * `placement.json` (written atomically), so an actor keeps its host across broker restarts
 * even if hashing would now say otherwise (Orleans' warning: hash placement is not stable when
 * membership changes, so hash only to choose, and persist the choice).
 */
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { InvalidArgumentError } from '../errors.js';
import { writeFileAtomic } from '../wal/atomic-file.js';
import { DIR_MODE, NodeFileLayer } from '../wal/file-layer.js';

export type PlacementStrategy = 'hash' | 'least-loaded';

interface PlacementFile {
  version: 1;
  actors: Record<string, number>;
}

/** FNV-1a over the UTF-16 code units: stable across processes and versions. */
export function hashActorId(id: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < id.length; i++) {
    hash ^= id.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

export class Placement {
  readonly #hosts: number;
  readonly #strategy: PlacementStrategy;
  readonly #file: string | null;
  readonly #homes = new Map<string, number>();
  #writing: Promise<void> = Promise.resolve();

  private constructor(hosts: number, strategy: PlacementStrategy, file: string | null) {
    this.#hosts = hosts;
    this.#strategy = strategy;
    this.#file = file;
  }

  /** Loads the remembered placement of `dataDir` (none without one). */
  static async open(options: { hosts: number; strategy?: PlacementStrategy; dataDir?: string }): Promise<Placement> {
    const { hosts } = options;
    if (!Number.isInteger(hosts) || hosts < 1) throw new InvalidArgumentError(`workers must be a positive integer, got ${hosts}`);
    const strategy = options.strategy ?? 'hash';
    if (strategy !== 'hash' && strategy !== 'least-loaded') {
      throw new InvalidArgumentError(`placement must be 'hash' or 'least-loaded', got ${String(strategy)}`);
    }
    const file = options.dataDir === undefined ? null : path.join(options.dataDir, 'placement.json');
    const placement = new Placement(hosts, strategy, file);
    if (file !== null) {
      let text: string | null = null;
      try {
        text = await readFile(file, 'utf8');
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      }
      if (text !== null) {
        const saved = JSON.parse(text) as PlacementFile;
        for (const [id, host] of Object.entries(saved.actors)) {
          // A remembered host that no longer exists (fewer workers now): choose again.
          if (Number.isInteger(host) && host >= 0 && host < hosts) placement.#homes.set(id, host);
        }
      }
    }
    return placement;
  }

  get hosts(): number {
    return this.#hosts;
  }

  /** The host of `id`, choosing and remembering one if it has none. */
  async place(id: string): Promise<number> {
    const known = this.#homes.get(id);
    if (known !== undefined) return known;
    const host = this.#strategy === 'hash' ? hashActorId(id) % this.#hosts : this.#leastLoaded();
    this.#homes.set(id, host);
    await this.#save();
    return host;
  }

  hostOf(id: string): number | undefined {
    return this.#homes.get(id);
  }

  /** Forgets an actor that was deleted (not one that merely stopped). */
  async forget(id: string): Promise<void> {
    if (this.#homes.delete(id)) await this.#save();
  }

  actorsOn(host: number): string[] {
    return [...this.#homes].filter(([, h]) => h === host).map(([id]) => id);
  }

  #leastLoaded(): number {
    const load = new Array<number>(this.#hosts).fill(0);
    for (const host of this.#homes.values()) load[host]!++;
    return load.indexOf(Math.min(...load));
  }

  /** Atomic and durable (temp file, fsync, rename, fsync the directory): a crash leaves the old map or the new one. */
  async #save(): Promise<void> {
    const file = this.#file;
    if (file === null) return;
    const snapshot: PlacementFile = { version: 1, actors: Object.fromEntries(this.#homes) };
    const write = async () => {
      await mkdir(path.dirname(file), { recursive: true, mode: DIR_MODE });
      await writeFileAtomic(new NodeFileLayer(), file, new TextEncoder().encode(JSON.stringify(snapshot)));
    };
    // Saves run one after another, each writing the newest map.
    this.#writing = this.#writing.then(write, write);
    await this.#writing;
  }
}
