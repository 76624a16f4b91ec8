/**
 * A queue's or topic's declared options, as compared when it is declared again: the resolved
 * options (defaults filled in, `codec` included; options without a default are absent when
 * omitted), flat and of primitive values. One comparison serves a redeclaration in the same
 * process and one after a restart (against the options recorded in the data directory,
 * declaration-store.ts), so that both call the same options "differing".
 */
import assert from 'node:assert/strict';

export type DeclaredOptions = Readonly<Record<string, string | number | boolean>>;

/** The options whose values differ, absent on one side counting as different from any value; sorted. */
export function differingOptions(recorded: DeclaredOptions, declared: DeclaredOptions): string[] {
  const keys = new Set([...Object.keys(recorded), ...Object.keys(declared)]);
  return [...keys].filter((key) => recorded[key] !== declared[key]).sort();
}

function shown(value: string | number | boolean | undefined): string {
  return value === undefined ? 'unset' : JSON.stringify(value);
}

/**
 * What differs and what to do, for a mismatch error: `maxPriority is 9, declared 2; declare it
 * with maxPriority 9` (`... without maxBytes` for one it was declared without). `differing` must not be empty.
 */
export function describeMismatch(recorded: DeclaredOptions, declared: DeclaredOptions, differing: readonly string[]): { differences: string; remedy: string } {
  assert.ok(differing.length > 0, 'a mismatch names at least one differing option');
  const differences = differing.map((key) => `${key} is ${shown(recorded[key])}, declared ${shown(declared[key])}`).join('; ');
  const given = differing.filter((key) => recorded[key] !== undefined).map((key) => `${key} ${shown(recorded[key])}`);
  const unset = differing.filter((key) => recorded[key] === undefined);
  const remedy = [given.length > 0 ? `with ${given.join(', ')}` : '', unset.length > 0 ? `without ${unset.join(', ')}` : ''].filter((part) => part !== '').join(' and ');
  return { differences, remedy: `declare it ${remedy}` };
}
