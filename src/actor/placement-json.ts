/**
 * `placement.json`: where placement was remembered before `placement.log`, rewritten whole on
 * every declaration: `{ "version": 1, "actors": { "<actor id>": <host>, ... } }`. Read once, to
 * carry its homes over into the log (placement.ts), and then removed.
 */
import { CorruptLogError } from '../errors.js';
import type { FileLayer } from '../wal/file-layer.js';

export const LEGACY_PLACEMENT_FILE = 'placement.json';

/** The homes of the legacy file at `file`, or null when there is none. */
export async function readLegacyPlacement(files: FileLayer, file: string): Promise<Map<string, number> | null> {
  const bytes = await files.readFile(file);
  if (bytes === null) return null;
  const damaged = (why: string) =>
    new CorruptLogError(
      `placement file ${file} is damaged (${why}); it was written atomically, so the disk changed it: remove it to have actors ` +
        `placed afresh (their messages and state are in the WAL, not here), or restore the data directory from a backup`,
    );
  let saved: unknown;
  try {
    saved = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (error) {
    throw damaged((error as Error).message);
  }
  const actors = (saved as { actors?: unknown } | null)?.actors;
  if ((saved as { version?: unknown } | null)?.version !== 1 || typeof actors !== 'object' || actors === null || Array.isArray(actors)) {
    throw damaged('not { version: 1, actors: { id: host } }');
  }
  const homes = new Map<string, number>();
  for (const [id, host] of Object.entries(actors)) {
    if (!(Number.isInteger(host) && (host as number) >= 0)) throw damaged(`actor ${JSON.stringify(id)} has host ${JSON.stringify(host)}`);
    homes.set(id, host as number);
  }
  return homes;
}
