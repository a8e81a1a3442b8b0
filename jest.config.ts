import type { Config } from 'jest';

const config: Config = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: {
    '^.+\\.ts$': ['@swc/jest', { jsc: { target: 'es2022', parser: { syntax: 'typescript' } } }],
  },
  // Subprocess tests (CLI, crash recovery) take seconds each; keep the default timeout honest.
  testTimeout: 30_000,
  // Two cores: more workers only fight over the CPU that subprocess tests need.
  maxWorkers: 2,
};

export default config;
