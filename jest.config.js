// jest in native ESM mode (see ../shared/context/temporal-ts-notes.md §2.5): run with
// NODE_OPTIONS=--experimental-vm-modules (the npm scripts do).
import { createDefaultEsmPreset } from 'ts-jest';

const preset = createDefaultEsmPreset({ tsconfig: { isolatedModules: true } });

export default {
  ...preset,
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  globalSetup: '<rootDir>/test/support/global-setup.ts',
  // Client connections stay open until the process ends (see test/support/keep-connections.ts).
  setupFiles: ['<rootDir>/test/support/keep-connections.ts'],
  forceExit: true,
  globalTeardown: '<rootDir>/test/support/global-teardown.ts',
  testTimeout: 120_000,
  verbose: true,
  reporters: ['default', '<rootDir>/test/support/summary-reporter.cjs'],
};
