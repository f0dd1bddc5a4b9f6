import type { Config } from 'jest';

const config: Config = {
  preset: 'ts-jest',
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  setupFiles: ['<rootDir>/test/setup/polyfills.ts'],
  testTimeout: 60_000,
  // Jest's defaults plus sql: a query is imported from its .sql file, as the Lambda bundle does.
  moduleFileExtensions: ['js', 'mjs', 'cjs', 'jsx', 'ts', 'tsx', 'json', 'node', 'sql'],
  transform: {
    '^.+\\.ts$': 'ts-jest',
    '^.+\\.sql$': '<rootDir>/test/support/sql-text-transform.cjs',
  },
};

export default config;
