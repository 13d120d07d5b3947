// Lint rules for the whole monorepo. Formatting is prettier's (`npm run lint` checks both); the one
// layout rule here is the line width, for what prettier does not break: strings, comments, regexes.
import js from '@eslint/js';
import stylistic from '@stylistic/eslint-plugin';
import globals from 'globals';
import tseslint from 'typescript-eslint';

const LIBRARY_SOURCES = ['core/src/**/*.ts', 'plugins/*/src/**/*.ts', 'tools/*/src/**/*.ts', 'examples/*/src/**/*.ts'];
const TESTS = ['**/*.test.ts', '**/test-support.ts', '**/fixtures/**', 'test/**', 'bench/**', 'scripts/**'];

export default tseslint.config(
  { ignores: ['**/dist/**', '**/node_modules/**', '**/*.d.ts', 'coverage/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node } },
    plugins: { '@stylistic': stylistic },
    rules: {
      '@stylistic/max-len': ['error', { code: 140, tabWidth: 2, ignoreUrls: true }],
      // A closure may read a variable that is assigned once, after the closure is made.
      'prefer-const': ['error', { ignoreReadBeforeAssign: true }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
    },
  },
  {
    // A promise nobody awaits loses its rejection: in an engine that is a silently dropped tuple or a
    // container that never stops. These two rules need the type checker, so they run on the library
    // sources, which the packages' tsconfig files cover.
    files: LIBRARY_SOURCES,
    ignores: TESTS,
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: { arguments: false } }],
      // Library code logs through the injected logger; the CLI's io and the process entry points write to the terminal.
      'no-console': 'error',
    },
  },
  {
    files: ['core/src/main/**', 'core/src/cli/**', 'examples/*/src/**'],
    rules: { 'no-console': 'off' },
  },
);
