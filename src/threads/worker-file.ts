import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/**
 * The URL of a compiled thread entry point, `dist/workers/<name>.js`.
 *
 * Worker threads always run compiled JavaScript, in tests, benchmarks and the installed package
 * alike: no TypeScript loader exists inside a worker. From the compiled tree
 * (`dist/src/threads/worker-file.js`) the entry is two folders up; from the TypeScript sources,
 * as vitest runs them, it is in `dist/` beside `src/` — which is why `npm test` builds first.
 */
export function workerFileUrl(name: string): URL {
  return compiledFileUrl(`workers/${name}`);
}

/**
 * The URL of any compiled module of the package, by its path from the package root without
 * extension (`src/broker/queue-actor`): for actor behavior modules that host threads import.
 */
export function compiledFileUrl(pathFromRoot: string): URL {
  const compiled = import.meta.url.endsWith('.js');
  const url = compiled
    ? new URL(`../../${pathFromRoot}.js`, import.meta.url)
    : new URL(`../../dist/${pathFromRoot}.js`, import.meta.url);
  if (!existsSync(fileURLToPath(url))) {
    throw new Error(`compiled module ${fileURLToPath(url)} is missing: run \`npm run build\` first`);
  }
  return url;
}
