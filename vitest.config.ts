import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['{common,dev,db,worker,api,scripts}/test/**/*.test.ts'],
    globalSetup: ['dev/test-support/global-setup.ts'],
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // the JSON report lets .ci/run print one plain "N passed, N failed" line
    reporters: ['default', 'json'],
    outputFile: { json: '.artifacts/vitest-report.json' },
  },
});
