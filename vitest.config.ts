import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['{db,worker,api,scripts}/test/**/*.test.ts'],
    globalSetup: ['db/test-support/global-setup.ts'],
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 60_000,
    hookTimeout: 120_000,
  },
});
