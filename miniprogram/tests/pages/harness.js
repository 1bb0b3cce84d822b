// Renders a page with miniprogram-simulate: the page's Page({...}) is registered as a custom
// component (data + every function as a method), with a fake `wx` and getApp() installed as globals.
const fs = require('fs')
const path = require('path')
const simulate = require('miniprogram-simulate')

const ROOT = path.resolve(__dirname, '../..')

/** The mini-program's files ending in `ext`, relative to ROOT, node_modules left out. */
function filesEnding(ext, dir = '') {
  return fs.readdirSync(path.join(ROOT, dir), { withFileTypes: true }).flatMap(entry => {
    const rel = dir ? `${dir}/${entry.name}` : entry.name
    if (entry.isDirectory()) return rel === 'node_modules' ? [] : filesEnding(ext, rel)
    return entry.name.endsWith(ext) ? [rel] : []
  })
}

let options = null

/**
 * What simulate.load needs for our pages and components. Its compiler (wcc) is handed every template
 * of the mini-program: left to find them, it globs the whole folder on each test file's first load,
 * descending into node_modules (glob's `ignore` there filters files, not folders): 4 s of CPU in all
 * for the page tests.
 */
function simulateOptions() {
  if (!options)
    options = {
      rootPath: ROOT,
      compilerOptions: { wxmlList: filesEnding('.wxml'), wxsList: filesEnding('.wxs') }
    }
  return options
}

function pageToComponent(def) {
  const methods = {}
  Object.keys(def).forEach(key => {
    if (typeof def[key] === 'function') methods[key] = def[key]
  })
  return { data: JSON.parse(JSON.stringify(def.data || {})), methods }
}

/** Load, render and attach pages/<name>/<name>; the returned wrapper has .instance, .querySelector… */
function loadPage(name, { wx, app }) {
  global.wx = wx
  global.getApp = () => app
  global.Page = def => global.Component(pageToComponent(def))
  // simulate runs the page's js through require(); a fresh registry makes every load run it again
  jest.resetModules()
  const id = simulate.load(path.join(ROOT, 'pages', name, name), simulateOptions())
  const page = simulate.render(id)
  page.attach(document.createElement('parent-wrapper'))
  return page
}

/** Let pending promise callbacks run. */
function settle() {
  return new Promise(resolve => setTimeout(resolve, 0))
}

/** Tap the element matching selector inside the page. */
async function tap(page, selector) {
  const el = page.querySelector(selector)
  if (!el) throw new Error(`nothing matches ${selector}`)
  el.dispatchEvent('tap')
  await settle()
}

/** The rendered text of the page (or of one element). */
function text(page, selector) {
  const el = selector ? page.querySelector(selector) : page
  if (!el) throw new Error(`nothing matches ${selector}`)
  return el.dom.textContent.replace(/\s+/g, ' ').trim()
}

module.exports = { ROOT, simulateOptions, loadPage, settle, tap, text }
