/**
 * The options each durable queue and each topic of a data directory was first declared with, so
 * that a declaration after a restart is checked against them as one in the same process is
 * (BATON_QUEUE_MISMATCH, BATON_TOPIC_MISMATCH). A queue's log can only be replayed with the
 * options it was written under (a message of priority 9 has no place in a queue of maxPriority
 * 2): refusing the differing declaration before the actor starts is what keeps the queue able to
 * start, with its messages, once declared as recorded.
 *
 * ```
 * dataDir/declarations/            0700
 *   queue%3Ajobs.json              0600  one file per queue or topic, named after its actor id
 *   topic%3Aevents.json
 *
 * {"version":1,"kind":"queue","name":"jobs","options":{"durable":true,"maxPriority":9,"overflow":"reject-publish","codec":"json"}}
 * ```
 *
 * Why a file per destination, beside the WAL and not in it: the options must be known on the
 * broker's thread BEFORE the actor is declared and replays its log (a record in the log would be
 * read by the very replay it has to configure, and a topic's options belong to no single
 * partition's log). A file per destination costs one small atomic write (atomic-file.ts: temp
 * file, fsync, rename, directory fsync) per first declaration, whatever the number of others,
 * and nothing when a declaration finds its record; a deleted queue removes its file. The files
 * are written once and read rarely, so they are JSON, readable with `cat`; being replaced
 * atomically, they are never torn, and one that does not parse is reported as corruption.
 *
 * Operations on one destination run one after another (a declaration's read-then-write is not
 * interleaved with another's of the same name).
 */
import path from 'node:path';
import { CorruptLogError, StorageFailedError } from '../errors.js';
import { writeFileAtomic } from '../wal/atomic-file.js';
import type { FileLayer } from '../wal/file-layer.js';
import type { DeclaredOptions } from './declared-options.js';

export const DECLARATIONS_DIR = 'declarations';
const VERSION = 1;

export type DeclarationKind = 'queue' | 'topic';

interface DeclarationFile {
  version: number;
  kind: DeclarationKind;
  name: string;
  options: DeclaredOptions;
}

export class DeclarationStore {
  readonly #files: FileLayer;
  readonly #dir: string;
  /** Per `kind:name`: the tail of its operations, so that they run in order. */
  readonly #tails = new Map<string, Promise<unknown>>();

  private constructor(files: FileLayer, dir: string) {
    this.#files = files;
    this.#dir = dir;
  }

  /** The store of `dataDir` (which the broker's WAL has opened and locked): creates its directory durably. */
  static async open(files: FileLayer, dataDir: string): Promise<DeclarationStore> {
    const dir = path.join(dataDir, DECLARATIONS_DIR);
    await storageStep(`creating ${dir}`, async () => {
      await files.mkdir(dir);
      await files.syncDir(dataDir);
    });
    return new DeclarationStore(files, dir);
  }

  /** The options recorded for this queue or topic, or null when none are. */
  recorded(kind: DeclarationKind, name: string): Promise<DeclaredOptions | null> {
    return this.#serial(kind, name, () => this.#read(kind, name));
  }

  /**
   * The options recorded for this queue or topic; none yet: records `options` (when `record`),
   * durably, and resolves with them (null when not recorded). The caller compares.
   */
  claim(kind: DeclarationKind, name: string, options: DeclaredOptions, record: boolean): Promise<DeclaredOptions | null> {
    return this.#serial(kind, name, async () => {
      const recorded = await this.#read(kind, name);
      if (recorded !== null || !record) return recorded;
      const file: DeclarationFile = { version: VERSION, kind, name, options };
      const target = this.#path(kind, name);
      await storageStep(`recording the options of ${kind} "${name}" in ${target}`, () => writeFileAtomic(this.#files, target, Buffer.from(`${JSON.stringify(file)}\n`)));
      return options;
    });
  }

  /** Forgets the options of a deleted queue, durably: it may be declared anew with others. */
  forget(kind: DeclarationKind, name: string): Promise<void> {
    return this.#serial(kind, name, () =>
      storageStep(`removing the options of ${kind} "${name}"`, async () => {
        await this.#files.remove(this.#path(kind, name));
        await this.#files.syncDir(this.#dir);
      }),
    );
  }

  #path(kind: DeclarationKind, name: string): string {
    return path.join(this.#dir, `${encodeURIComponent(`${kind}:${name}`)}.json`);
  }

  async #read(kind: DeclarationKind, name: string): Promise<DeclaredOptions | null> {
    const file = this.#path(kind, name);
    const bytes = await storageStep(`reading ${file}`, () => this.#files.readFile(file));
    if (bytes === null) return null;
    const damaged = (why: string) => new CorruptLogError(`declaration file ${file} is damaged (${why}); restore it from a backup, or delete it and declare the ${kind} with the options it had`);
    let parsed: unknown;
    try {
      parsed = JSON.parse(Buffer.from(bytes).toString('utf8'));
    } catch (error) {
      throw damaged((error as Error).message);
    }
    const content = parsed as Partial<DeclarationFile> | null;
    if (content === null || typeof content !== 'object' || content.version !== VERSION) throw damaged(`not a version ${VERSION} declaration`);
    if (content.kind !== kind || content.name !== name) throw damaged(`it names ${String(content.kind)} "${String(content.name)}"`);
    const options = content.options;
    if (options === null || typeof options !== 'object' || Array.isArray(options) || !Object.values(options).every((v) => ['string', 'number', 'boolean'].includes(typeof v))) {
      throw damaged('its options are not a flat object');
    }
    return options;
  }

  #serial<T>(kind: DeclarationKind, name: string, run: () => Promise<T>): Promise<T> {
    const key = `${kind}:${name}`;
    const result = (this.#tails.get(key) ?? Promise.resolve()).then(run, run);
    const tail = result.catch(() => undefined);
    this.#tails.set(key, tail);
    void tail.then(() => {
      if (this.#tails.get(key) === tail) this.#tails.delete(key);
    });
    return result;
  }
}

/** A file operation of the store; a failure of the file system is BATON_STORAGE_FAILED, saying what failed. */
async function storageStep<T>(what: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    if (error instanceof CorruptLogError || error instanceof StorageFailedError) throw error;
    throw new StorageFailedError(`${what}: ${(error as Error).message}; check the data directory's disk and permissions`, { cause: error });
  }
}
