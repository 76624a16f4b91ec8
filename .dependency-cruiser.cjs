/**
 * The house rules, checked by `npm run check` and in CI (.ci/run): no circles, and imports only
 * go down the layers below (a module may import its own layer and the ones under it).
 *
 *   workers/                the runtime's thread entry points: use everything
 *   src/cli/, src/index.ts, the command line, the public entry, and the benchmarks and soaks
 *   bench/                  (`baton bench` runs them: a product feature, beside the CLI)
 *   src/broker/             queues, topics, exchanges: the broker's thread and its actors
 *   src/actor/              runtime, hosts, supervision, placement
 *   src/storage/            the storage thread: its service, its ring protocol, the hosts' side
 *   src/wal/                the write-ahead log
 *   src/log/                arena, extents: shared memory for message bodies
 *   src/ring/, src/threads/ rings and thread plumbing (worker files, comlink ports, ring readers)
 *   src/errors.ts           the error taxonomy
 */
const layers = ['src/errors\\.ts', 'src/(ring|threads)/', 'src/log/', 'src/wal/', 'src/storage/', 'src/actor/', 'src/broker/', '(src/cli/|src/index\\.ts|bench/)', 'workers/'];

const upward = layers.slice(0, -1).map((layer, i) => ({
  name: `no-upward-from-${layer.replace(/[^a-z]+/g, '-').replace(/^-|-$/g, '')}`,
  comment: `${layer} may import only its own layer and those below it`,
  severity: 'error',
  from: { path: `^${layer}` },
  to: { path: `^(${layers.slice(i + 1).join('|')})` },
}));

module.exports = {
  forbidden: [
    { name: 'no-circular', severity: 'error', comment: 'a circle of imports hides which module is the base', from: {}, to: { circular: true } },
    ...upward,
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    includeOnly: '^(src|bench|workers)/',
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    moduleSystems: ['es6'],
  },
};
