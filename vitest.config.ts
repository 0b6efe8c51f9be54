import { defineConfig, type TestProjectInlineConfiguration } from 'vitest/config';

/**
 * Two projects: every test runs on SQLite, and again on PostgreSQL when
 * TEST_DATABASE_URL names a server (each test harness creates its own database there).
 */
const projects: TestProjectInlineConfiguration[] = [
  { extends: true as const, test: { name: 'sqlite', env: { SWITCHBOARD_TEST_STORE: 'sqlite' } } },
  ...(process.env.TEST_DATABASE_URL
    ? [{ extends: true as const, test: { name: 'postgres', env: { SWITCHBOARD_TEST_STORE: 'postgres' } } }]
    : []),
];

export default defineConfig({
  test: {
    // The SDK's tests too: they run against a real server on each store.
    include: ['test/**/*.test.ts', 'packages/sdk/test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    projects,
  },
});
