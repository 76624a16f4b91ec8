/**
 * Where actors live: which host thread runs each actor.
 *
 * An actor's first home is chosen by hashing its id over the hosts (or, as an option, the host
 * with the fewest actors), and that choice is then remembered, so an actor keeps its host across
 * broker restarts even if hashing would now say otherwise (Orleans' warning: hash placement is
 * not stable when membership changes, so hash only to choose, and persist the choice).
 *
 * With a data directory the choices are remembered in `placement.log` (placement-log.ts draws
 * its records): one small record appended per new home or forgotten actor, group-committed, so
 * n declarations write O(n) bytes with far fewer than n fdatasyncs; `place` resolves once the
 * home is durable. Opening replays it, truncates a torn last append, and rewrites it compacted
 * (atomically) when superseded and dead records outnumber the live ones twice over. A
 * `placement.json` of an older version is carried over into a new log, then removed.
 *
 * ```
 * dataDir/
 *   placement.log    0600  "BTPL", version, then records: crc | length | kind | host | id
 * ```
 *
 * Open it only while holding the data directory's lock (the supervisor opens it after the
 * storage thread took it): opening may truncate or rewrite the file.
 */
import path from 'node:path';
import { InvalidArgumentError } from '../errors.js';
import { type FileLayer, NodeFileLayer } from '../wal/file-layer.js';
import { LEGACY_PLACEMENT_FILE, readLegacyPlacement } from './placement-json.js';
import {
  encodeForget,
  encodePlace,
  HOSTS_MAX,
  PLACEMENT_LOG_FILE,
  PlacementLog,
  type PlacementLogContents,
  type PlacementLogStats,
  readPlacementLog,
  writePlacementLog,
} from './placement-log.js';

export type PlacementStrategy = 'hash' | 'least-loaded';

/** Opening compacts a log of more records than this that holds more than twice as many as are live. */
export const COMPACTION_RECORDS_MIN = 64;

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
  readonly #homes = new Map<string, number>();
  #log: PlacementLog | null = null;
  /** Homes chosen whose record is not durable yet: asking for one waits for it. */
  readonly #durable = new Map<string, Promise<void>>();

  private constructor(hosts: number, strategy: PlacementStrategy) {
    this.#hosts = hosts;
    this.#strategy = strategy;
  }

  /** Loads the remembered placement of `dataDir` (none without one). */
  static async open(options: { hosts: number; strategy?: PlacementStrategy; dataDir?: string }): Promise<Placement> {
    const { hosts } = options;
    if (!Number.isInteger(hosts) || hosts < 1 || hosts > HOSTS_MAX) throw new InvalidArgumentError(`workers must be an integer 1 .. ${HOSTS_MAX}, got ${hosts}`);
    const strategy = options.strategy ?? 'hash';
    if (strategy !== 'hash' && strategy !== 'least-loaded') {
      throw new InvalidArgumentError(`placement must be 'hash' or 'least-loaded', got ${String(strategy)}`);
    }
    const placement = new Placement(hosts, strategy);
    if (options.dataDir !== undefined) placement.#log = await placement.#load(new NodeFileLayer(), options.dataDir);
    return placement;
  }

  /** Replays (or migrates, or creates) the log into #homes and opens it for appending. */
  async #load(files: FileLayer, dataDir: string): Promise<PlacementLog> {
    const logFile = path.join(dataDir, PLACEMENT_LOG_FILE);
    const legacyFile = path.join(dataDir, LEGACY_PLACEMENT_FILE);
    let contents: PlacementLogContents | null = await readPlacementLog(files, logFile);
    // With a log, a legacy file beside it is what an interrupted migration left: the log already holds it.
    const legacy = contents === null ? await readLegacyPlacement(files, legacyFile) : null;
    for (const [id, host] of contents?.homes ?? legacy ?? []) {
      // A remembered host that no longer exists (fewer workers now): choose again.
      if (host < this.#hosts) this.#homes.set(id, host);
    }
    const live = this.#homes.size;
    if (contents === null || (contents.records > COMPACTION_RECORDS_MIN && contents.records > 2 * live)) {
      contents = await writePlacementLog(files, logFile, this.#homes);
    }
    if (legacy !== null || (await files.readdir(dataDir)).includes(LEGACY_PLACEMENT_FILE)) {
      // Only now that the log holding its homes is durable.
      await files.remove(legacyFile);
      await files.syncDir(dataDir);
    }
    return PlacementLog.open(files, logFile, contents);
  }

  get hosts(): number {
    return this.#hosts;
  }

  /** The host of `id`, choosing and remembering one if it has none; resolves once that home is durable. */
  async place(id: string): Promise<number> {
    const known = this.#homes.get(id);
    if (known !== undefined) {
      await this.#durable.get(id);
      return known;
    }
    const host = this.#strategy === 'hash' ? hashActorId(id) % this.#hosts : this.#leastLoaded();
    if (this.#log === null) {
      this.#homes.set(id, host);
      return host;
    }
    const record = encodePlace(id, host);
    this.#homes.set(id, host);
    const durable = this.#log.append(record);
    this.#durable.set(id, durable);
    try {
      await durable;
    } catch (error) {
      // Not remembered on disk, so not in memory either: the next try chooses again.
      if (this.#durable.get(id) === durable && this.#homes.get(id) === host) this.#homes.delete(id);
      throw error;
    } finally {
      if (this.#durable.get(id) === durable) this.#durable.delete(id);
    }
    return host;
  }

  hostOf(id: string): number | undefined {
    return this.#homes.get(id);
  }

  /** Forgets an actor that was deleted (not one that merely stopped). */
  async forget(id: string): Promise<void> {
    if (!this.#homes.delete(id)) return;
    if (this.#log !== null) await this.#log.append(encodeForget(id));
  }

  actorsOn(host: number): string[] {
    return [...this.#homes].filter(([, h]) => h === host).map(([id]) => id);
  }

  /** Records, bytes written, writes and fdatasyncs of `placement.log` since it was opened; null without a data directory. */
  logStats(): PlacementLogStats | null {
    return this.#log?.stats() ?? null;
  }

  /** Waits for the homes being written, then closes the log. */
  async close(): Promise<void> {
    await this.#log?.close();
  }

  #leastLoaded(): number {
    const load = new Array<number>(this.#hosts).fill(0);
    for (const host of this.#homes.values()) load[host]!++;
    return load.indexOf(Math.min(...load));
  }
}
