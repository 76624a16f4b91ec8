// A small rule set, each rule for a failure this code base can have (tsc --strict covers types,
// unused names and returns; dependency-cruiser covers imports):
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**'] },
  {
    files: ['src/**/*.ts', 'bench/**/*.ts', 'workers/**/*.ts', 'test/**/*.ts'],
    languageOptions: { parser: tseslint.parser, parserOptions: { project: ['./tsconfig.json', './tsconfig.test.json'], tsconfigRootDir: import.meta.dirname } },
    plugins: { '@typescript-eslint': tseslint.plugin },
    rules: {
      // A promise nobody awaits or catches: on a worker thread its rejection kills the thread.
      '@typescript-eslint/no-floating-promises': 'error',
      // An async function where a callback's result is used (a sort comparator, a filter).
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: false }],
      // `await` on something that is not a promise: a sign the call is not what it seems.
      '@typescript-eslint/await-thenable': 'error',
      // `any` turns the type checker off where it is most needed: at thread and wire boundaries.
      '@typescript-eslint/no-explicit-any': 'error',
      // `==` coerces; offsets and counts compared with it pass for the wrong reasons.
      eqeqeq: ['error', 'always', { null: 'ignore' }],
      // A debugger statement left in a thread stalls it under an inspector.
      'no-debugger': 'error',
    },
  },
);
