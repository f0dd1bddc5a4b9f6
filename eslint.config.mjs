import js from '@eslint/js';
import tseslint from 'typescript-eslint';

// Dependencies point one way: contracts ← tasks, infra, state-machines, client ← local ← test.
// Production code never imports the local runtime or the tests; the client ships to browsers and
// other teams' servers, so it never imports the task Lambdas or the CDK app; contracts import no
// other part at all.
const noImportOf = (...groups) => [
  'error',
  {
    patterns: groups.map(({ folders, why }) => ({
      group: folders.flatMap((folder) => [`**/${folder}`, `**/${folder}/**`]),
      message: why,
    })),
  },
];
const LOCAL_AND_TESTS = { folders: ['local', 'test'], why: 'production code must not depend on the local runtime or the tests' };
const TASKS_AND_INFRA = { folders: ['tasks', 'infra'], why: 'the client is a package of its own: share through contracts/ instead' };
const EVERY_PART = { folders: ['tasks', 'infra', 'client', 'local', 'test', 'state-machines', 'sql'], why: 'contracts/ imports no other part of the project' };

export default tseslint.config(
  { ignores: ['node_modules/', 'cdk.out/', 'coverage/', 'dist/', 'client/dist/', '**/*.js', '**/*.mjs'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
    },
  },
  {
    files: ['tasks/**/*.ts', 'infra/**/*.ts', 'state-machines/**/*.ts', 'sql/**/*.ts', 'ops/**/*.ts'],
    rules: { 'no-restricted-imports': noImportOf(LOCAL_AND_TESTS) },
  },
  {
    files: ['client/**/*.ts'],
    rules: { 'no-restricted-imports': noImportOf(LOCAL_AND_TESTS, TASKS_AND_INFRA) },
  },
  {
    files: ['contracts/**/*.ts'],
    rules: { 'no-restricted-imports': noImportOf(EVERY_PART) },
  },
);
