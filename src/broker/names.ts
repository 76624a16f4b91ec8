/**
 * Destination names. A queue, topic or exchange name becomes part of file names, actor ids
 * (`queue:<name>`, `topic:<name>/<partition>`) and tools' output, so it is checked once, where the
 * user hands it over, against a small safe charset:
 *
 *   - 1..180 characters of `[A-Za-z0-9._-]` (ASCII only, so characters and bytes agree; 180 leaves
 *     room for an actor id's `topic:` prefix and `/partition` suffix within the WAL's 200-byte log names);
 *   - not `.` or `..`, and no `..` anywhere (the WAL refuses log names containing `..`, so a name
 *     that passed here must not fail later, after the user was told it was fine);
 *   - so no `/`, `\`, `:` (the actor-id separator), NUL, whitespace or anything else.
 *
 * RabbitMQ accepts almost any UTF-8 name up to 255 bytes, Kafka `[a-zA-Z0-9._-]` up to 249
 * characters: we take Kafka's charset, which is what survives every file system and shell.
 *
 * A rejected name is reported with the rule it broke and the name itself, escaped with
 * `JSON.stringify` (and cut to a readable length), so NUL and control characters show as escapes
 * rather than garbling a terminal or a log line.
 */
import { InvalidNameError } from '../errors.js';

export type DestinationKind = 'queue' | 'topic' | 'exchange';

/** Longest destination name, in characters (= bytes: the charset is ASCII). */
export const DESTINATION_NAME_LENGTH_MAX = 180;

const DESTINATION_NAME_PATTERN = /^[A-Za-z0-9._-]+$/;
const DESTINATION_KINDS: ReadonlySet<string> = new Set(['queue', 'topic', 'exchange']);
/** Characters of a bad name quoted in an error message; the rest is elided. */
const QUOTED_NAME_LENGTH_MAX = 80;

/** The name as it is safe to print: JSON-escaped, cut to a readable length. */
function quote(value: unknown): string {
  if (typeof value !== 'string') return value === null ? 'null' : typeof value;
  const shown = value.length > QUOTED_NAME_LENGTH_MAX ? value.slice(0, QUOTED_NAME_LENGTH_MAX) : value;
  const quoted = JSON.stringify(shown);
  return value.length > QUOTED_NAME_LENGTH_MAX ? `${quoted}... (${value.length} characters)` : quoted;
}

/**
 * Returns `name` when it is a valid `kind` name; throws `InvalidNameError` (BATON_INVALID_NAME)
 * naming the rule and the (escaped) name otherwise. An unknown `kind` is a programming error of
 * the caller and throws the same class.
 */
export function validateDestinationName(kind: DestinationKind, name: unknown): string {
  if (!DESTINATION_KINDS.has(kind)) {
    throw new InvalidNameError(`destination kind must be 'queue', 'topic' or 'exchange', got ${quote(kind)}`);
  }
  const rule = `${kind} names are 1..${DESTINATION_NAME_LENGTH_MAX} characters of [A-Za-z0-9._-]`;
  if (typeof name !== 'string') {
    throw new InvalidNameError(`${kind} name must be a string, got ${quote(name)}: ${rule}`);
  }
  if (name.length === 0) {
    throw new InvalidNameError(`${kind} name must not be empty: ${rule}`);
  }
  if (name.length > DESTINATION_NAME_LENGTH_MAX) {
    throw new InvalidNameError(`${kind} name ${quote(name)} is too long: ${rule}`);
  }
  if (!DESTINATION_NAME_PATTERN.test(name)) {
    throw new InvalidNameError(`${kind} name ${quote(name)} has a character outside [A-Za-z0-9._-] (no '/', '\\', ':', NUL or whitespace): ${rule}`);
  }
  if (name === '.' || name === '..' || name.includes('..')) {
    throw new InvalidNameError(`${kind} name ${quote(name)} must not be '.' or '..' nor contain '..': ${rule}`);
  }
  return name;
}
