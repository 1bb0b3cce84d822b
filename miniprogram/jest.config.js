// `npm test` runs everything under tests/: the utils and end-to-end tests in plain Node, the
// page tests (tests/pages and anything else) in jsdom, which miniprogram-simulate needs.
// testTimeout: the default 5 s is for a quiet machine; scripts/test.sh runs jest beside pytest on
// the same 2 cores, where a page test that takes 0.3 s alone can take several seconds.
// transform {}: the code and the tests are plain CommonJS that Node runs as written (no `import`,
// no jest.mock to hoist), so babel-jest's pass over every file is skipped: 5 s of CPU a run on a
// clean machine, where jest's cache is empty.
module.exports = {
  testTimeout: 30000,
  projects: [
    {
      displayName: 'utils',
      testEnvironment: 'node',
      transform: {},
      testMatch: ['<rootDir>/tests/utils/**/*.test.js']
    },
    {
      displayName: 'e2e',
      testEnvironment: 'node',
      transform: {},
      testMatch: ['<rootDir>/tests/e2e/**/*.test.js'],
      // One migrated database with its admin for every end-to-end file (each starts from a copy).
      globalSetup: '<rootDir>/tests/e2e/global-setup.js',
      globalTeardown: '<rootDir>/tests/e2e/global-teardown.js'
    },
    {
      displayName: 'pages',
      testEnvironment: 'jsdom',
      transform: {},
      testMatch: ['<rootDir>/tests/**/*.test.js'],
      testPathIgnorePatterns: ['/node_modules/', '<rootDir>/tests/utils/', '<rootDir>/tests/e2e/']
    }
  ]
}
