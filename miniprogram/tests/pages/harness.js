// Renders a page with miniprogram-simulate: the page's Page({...}) is registered as a custom
// component (data + every function as a method), with a fake `wx` and getApp() installed as globals.
const path = require('path')
const simulate = require('miniprogram-simulate')

const ROOT = path.resolve(__dirname, '../..')

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
  const id = simulate.load(path.join(ROOT, 'pages', name, name), { rootPath: ROOT })
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

module.exports = { ROOT, loadPage, settle, tap, text }
