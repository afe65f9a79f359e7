// Lint rules that keep the architecture honest: core/ and workflows/ are deterministic and
// may not import Node built-ins, activities, or client libraries (they run in Temporal's
// workflow sandbox, or are pure domain logic imported by it).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import { builtinModules } from 'node:module';
import globals from 'globals';

const nodeBuiltins = builtinModules.flatMap((m) => [m, `node:${m}`]);
const forbiddenInDeterministicCode = {
  paths: nodeBuiltins.map((name) => ({
    name,
    message: 'core/ and workflows/ must stay deterministic: no Node built-ins. Move effects to activities/.',
  })),
  patterns: [
    { group: ['**/activities/*', '**/activities'], allowTypeImports: true,
      message: 'Workflows may import activities as types only (import type ...).' },
    { group: ['**/api/*', '**/cli/*', '**/worker/*', '**/testbed/*'],
      message: 'core/ and workflows/ may not depend on entry points.' },
    { group: ['@temporalio/client', '@temporalio/worker', '@temporalio/activity', '@temporalio/testing',
              '@kubernetes/*', 'octokit', '@octokit/*', 'simple-git', 'fastify', 'pino', 'commander', 'zod'],
      message: 'No client or I/O libraries in core/ or workflows/: they belong in activities/, api/, cli/ or worker/.' },
  ],
};

// The production processes (worker/, api/, cli/, runtime/) and activities/ never stand on the test
// rig: the test bed passes its addresses through the environment (runtime/config.ts).
const noTestRig = {
  patterns: [
    { group: ['**/testbed/*', '**/testbed', '**/test/*', '**/test'],
      message: 'Production code may not import the test bed or tests: take the setting from the runtime config (runtime/config.ts), which the test bed sets through the environment.' },
  ],
};

export default tseslint.config(
  { ignores: ['node_modules/**', 'dist/**', 'coverage/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  // The console's own script runs in the browser.
  { files: ['api/console/static/**/*.js'], languageOptions: { sourceType: 'script', globals: globals.browser } },
  {
    files: ['**/*.ts'],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    files: ['core/**/*.ts', 'workflows/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', forbiddenInDeterministicCode] },
  },
  {
    files: ['core/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        ...forbiddenInDeterministicCode,
        patterns: [...forbiddenInDeterministicCode.patterns,
          { group: ['@temporalio/*', '**/workflows/*'], message: 'core/ is pure domain logic: no Temporal imports.' }],
      }],
    },
  },
  {
    files: ['worker/**/*.ts', 'api/**/*.ts', 'activities/**/*.ts', 'cli/**/*.ts', 'runtime/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', noTestRig] },
  },
  { files: ['**/*.js', '**/*.mjs', '**/*.cjs'], languageOptions: { globals: { process: 'readonly', console: 'readonly', module: 'writable', require: 'readonly' } } },
  // core/config.ts is the one core module allowed the (pure) schema library; the workflow bundle never imports it.
  { files: ['core/config.ts'], rules: { 'no-restricted-imports': 'off' } },
);
