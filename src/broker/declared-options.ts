/**
 * A queue's or topic's declared options, as compared when it is declared again: the resolved
 * options (defaults filled in, `codec` included; options without a default are absent when
 * omitted), flat and of primitive values. One comparison serves a redeclaration in the same
 * process and one after a restart (against the options recorded in the data directory,
 * declaration-store.ts), so that both call the same options "differing".
 */
export type DeclaredOptions = Readonly<Record<string, string | number | boolean>>;

/** The options whose values differ, absent on one side counting as different from any value; sorted. */
function differingOptions(recorded: DeclaredOptions, declared: DeclaredOptions): string[] {
  const keys = new Set([...Object.keys(recorded), ...Object.keys(declared)]);
  return [...keys].filter((key) => recorded[key] !== declared[key]).sort();
}

function shown(value: string | number | boolean | undefined): string {
  return value === undefined ? 'unset' : JSON.stringify(value);
}

/**
 * Null when `declared` matches `recorded`; else what differs and what to do, for a mismatch
 * error: `queue "jobs" exists with other options <where>: maxPriority is 9, declared 2; declare
 * it with maxPriority 9` (`... without maxBytes` for one it was declared without). `subject`
 * names the queue or topic; `where`: in this broker, or recorded in the data directory.
 */
export function mismatchMessage(subject: string, recorded: DeclaredOptions, declared: DeclaredOptions, where: string): string | null {
  const differing = differingOptions(recorded, declared);
  if (differing.length === 0) return null;
  const differences = differing.map((key) => `${key} is ${shown(recorded[key])}, declared ${shown(declared[key])}`).join('; ');
  const given = differing.filter((key) => recorded[key] !== undefined).map((key) => `${key} ${shown(recorded[key])}`);
  const unset = differing.filter((key) => recorded[key] === undefined);
  const remedy = [given.length > 0 ? `with ${given.join(', ')}` : '', unset.length > 0 ? `without ${unset.join(', ')}` : ''].filter((part) => part !== '').join(' and ');
  return `${subject} exists with other options ${where}: ${differences}; declare it ${remedy}`;
}
