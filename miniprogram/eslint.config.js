// ESLint (flat config) for the mini-program: its JavaScript, the tests and scripts on Node, and the
// WXML templates through eslint-plugin-wxml's parser. Formatting is prettier's (prettier.config.js).
const js = require('@eslint/js')
const globals = require('globals')
const wxml = require('eslint-plugin-wxml')
const wxmlParser = require('@wxml/parser')

// What WeChat's runtime provides to app, page and component code.
const MINIPROGRAM_GLOBALS = {
  wx: 'readonly',
  App: 'readonly',
  Page: 'readonly',
  Component: 'readonly',
  Behavior: 'readonly',
  getApp: 'readonly',
  getCurrentPages: 'readonly'
}

module.exports = [
  { ignores: ['node_modules/**', 'test-artifacts/**'] },
  {
    files: ['**/*.js'],
    ...js.configs.recommended,
    languageOptions: {
      ecmaVersion: 2020,
      sourceType: 'commonjs',
      globals: {
        ...globals.es2020,
        ...globals.commonjs,
        ...MINIPROGRAM_GLOBALS,
        console: 'readonly',
        setTimeout: 'readonly',
        clearTimeout: 'readonly',
        setInterval: 'readonly',
        clearInterval: 'readonly'
      }
    },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      ...js.configs.recommended.rules,
      eqeqeq: ['error', 'always', { null: 'ignore' }],
      'no-var': 'error',
      'prefer-const': 'error',
      // caughtErrors 'none': about twenty catches drop their error on purpose (a file already gone,
      // an answer that is not JSON, an older base library); the unused name there changes nothing.
      'no-unused-vars': ['error', { args: 'after-used', caughtErrors: 'none' }]
    }
  },
  {
    // Pure rules: the page passes values in; wx and getApp stay in the page and utils/.
    files: ['pages/**/*-logic.js'],
    rules: {
      'no-restricted-syntax': [
        'error',
        {
          selector: 'Identifier[name=/^(wx|getApp)$/]',
          message: 'A *-logic.js stays pure: pass the value in (storage lives in utils/store.js).'
        }
      ]
    }
  },
  {
    files: [
      'tests/**/*.js',
      'scripts/**/*.js',
      'jest.config.js',
      'eslint.config.js',
      'prettier.config.js'
    ],
    languageOptions: { ecmaVersion: 2022, globals: { ...globals.node, ...globals.jest } }
  },
  {
    // jsdom tests touch the page's document.
    files: ['tests/pages/**/*.js', 'tests/components/**/*.js'],
    languageOptions: { globals: { ...globals.browser } }
  },
  {
    files: ['**/*.wxml'],
    plugins: { wxml },
    languageOptions: { parser: wxmlParser },
    rules: {
      'wxml/report-wxml-syntax-error': 'error',
      'wxml/report-interpolation-error': 'error',
      'wxml/no-duplicate-attributes': 'error',
      // Not no-dot-this-in-wx-key: wx:key="*this" is WeChat's documented key for a list of strings.
      'wxml/wx-key': 'error',
      'wxml/no-wx-for-with-wx-else': 'error',
      'wxml/no-unexpected-string-bool': 'error',
      'wxml/no-inconsistent-tagname': 'error'
    }
  }
]
