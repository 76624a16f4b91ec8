/**
 * Peers that are devDependencies (fastq, better-sqlite3) are not installed with the published
 * package: a peer whose module does not load is a skipped row with the reason, never a crash.
 */

export type Optional<T> = { module: T; skipped?: undefined } | { module?: undefined; skipped: string };

/** The module, or why it could not be loaded (`install <name> to compare`). */
export async function optionalImport<T>(name: string): Promise<Optional<T>> {
  try {
    // A specifier in a variable: TypeScript neither resolves it nor asks for its types.
    const specifier: string = name;
    return { module: (await import(specifier)) as T };
  } catch (error) {
    const code = (error as { code?: string }).code;
    return { skipped: code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND' ? `install ${name} to compare` : `${name} did not load: ${(error as Error).message}` };
  }
}
