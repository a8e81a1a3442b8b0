import type { Config } from 'jest';

const config: Config = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: {
    // Transpile only (isolatedModules): `npm run lint` runs tsc over the tests for the types.
    '^.+\\.ts$': ['ts-jest', { tsconfig: { isolatedModules: true } }],
  },
  // Subprocess tests (CLI, crash recovery) take seconds each; keep the default timeout honest.
  testTimeout: 30_000,
  // An SQS-compatible server (fauxqs) for the SQS broker's tests: TASKQ_TEST_SQS_ENDPOINT.
  globalSetup: '<rootDir>/test/setup/sqsServer.mjs',
  globalTeardown: '<rootDir>/test/setup/sqsServerStop.mjs',
  // Two cores: more workers only fight over the CPU that subprocess tests need.
  maxWorkers: 2,
  // The browser tests last (see the file).
  testSequencer: '<rootDir>/test/setup/testSequencer.js',
};

export default config;
