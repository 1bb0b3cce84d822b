/**
 * @jest-environment node
 */
// The pages' *-logic.js are pure: they get values and return values, and never reach the phone
// (storage, UI, network) through `wx` — utils/ does that and the page passes the values in.
const fs = require('fs')
const path = require('path')
const { Linter } = require('eslint')
const { ROOT } = require('./harness')

const PAGES = path.join(ROOT, 'pages')
const LOGIC_FILES = fs
  .readdirSync(PAGES)
  .map(page => path.join(PAGES, page, `${page}-logic.js`))
  .filter(file => fs.existsSync(file))

// Any use of the name, as a global or a parameter; comments and strings do not count.
const NO_WX = [
  {
    languageOptions: { ecmaVersion: 'latest', sourceType: 'commonjs' },
    rules: {
      'no-restricted-syntax': [
        'error',
        { selector: 'Identifier[name=/^(wx|getApp)$/]', message: 'logic files stay pure' }
      ]
    }
  }
]

/** "line:column name" of every use of wx/getApp in the source. */
function uses(source) {
  return new Linter()
    .verify(source, NO_WX)
    .map(
      m =>
        `${m.line}:${m.column} ${m.fatal ? m.message : source.split('\n')[m.line - 1].slice(m.column - 1, m.endColumn - 1)}`
    )
}

test('every page with rules of its own has them in a *-logic.js', () => {
  expect(LOGIC_FILES.length).toBeGreaterThanOrEqual(12)
})

test('the check sees wx used as a global and as a parameter, and not in comments', () => {
  expect(uses('function a(wx) { return wx.getStorageSync("k") }')).toEqual(['1:12 wx', '1:25 wx'])
  expect(uses('// wx.scanCode\nconst b = getApp().queue')).toEqual(['2:11 getApp'])
  expect(uses('/** wx.openLocation options */ const c = "wx."')).toEqual([])
})

test.each(LOGIC_FILES.map(f => [path.relative(ROOT, f), f]))(
  '%s does not reach wx or getApp',
  (name, file) => {
    expect(uses(fs.readFileSync(file, 'utf8'))).toEqual([])
  }
)
