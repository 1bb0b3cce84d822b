/**
 * @jest-environment jsdom
 */
const fs = require('fs')
const path = require('path')
const { ROOT } = require('./harness')
const { createFakeWx } = require('./fakes')

function launch() {
  const wx = createFakeWx({ env: { USER_DATA_PATH: 'wxfile://usr' } })
  let def = null
  global.wx = wx
  global.App = d => { def = d }
  jest.isolateModules(() => require(path.join(ROOT, 'app.js')))
  def.onLaunch()
  return { wx, app: def }
}

describe('app.js', () => {
  test('builds the services once, with the real utils, for getApp()', () => {
    const { app } = launch()
    expect(typeof app.api.ensureLogin).toBe('function')
    expect(typeof app.files.nearCap).toBe('function')
    expect(typeof app.uploader.upload).toBe('function')
    expect(typeof app.queue.enqueue).toBe('function')
    expect(typeof app.location.freshFix).toBe('function')
    expect(app.api.baseUrl).toMatch(/\/api\/v1$/)
  })

  test('flushes the queue on show and when the network comes back', () => {
    const { app, wx } = launch()
    const flush = jest.spyOn(app.queue, 'flush').mockImplementation(() => Promise.resolve({}))
    app.onShow()
    expect(flush).toHaveBeenCalledTimes(1)
    const listener = wx.onNetworkStatusChange.mock.calls[0][0]
    listener({ isConnected: false, networkType: 'none' })
    expect(flush).toHaveBeenCalledTimes(1)
    listener({ isConnected: true, networkType: '4g' })
    expect(flush).toHaveBeenCalledTimes(2)
  })
})

describe('app.json and the project files', () => {
  const appJson = JSON.parse(fs.readFileSync(path.join(ROOT, 'app.json'), 'utf8'))

  test('every page has its four same-named files', () => {
    expect(appJson.pages[0]).toBe('pages/index/index')
    appJson.pages.forEach(page => {
      ['js', 'json', 'wxml', 'wxss'].forEach(ext => {
        expect(fs.existsSync(path.join(ROOT, `${page}.${ext}`))).toBe(true)
      })
    })
  })

  test('declares the location APIs and says why it needs the location', () => {
    expect(appJson.window.navigationBarTitleText).toBe('书记项目督查')
    expect(appJson.requiredPrivateInfos).toEqual(expect.arrayContaining(['getLocation', 'startLocationUpdate', 'onLocationChange']))
    expect(appJson.permission['scope.userLocation'].desc).toBe('用于暗访签到时核验是否到达项目现场')
    expect(appJson.requiredBackgroundModes).toBeUndefined()
  })

  test('project.config.json has the placeholder appid and the root', () => {
    const cfg = JSON.parse(fs.readFileSync(path.join(ROOT, 'project.config.json'), 'utf8'))
    expect(cfg.appid).toBe('touristappid')
    expect(cfg.miniprogramRoot).toBe('./')
  })

  test('no secret is shipped in the mini-program', () => {
    const files = []
    const walk = dir => fs.readdirSync(dir, { withFileTypes: true }).forEach(e => {
      if (['node_modules', 'tests'].includes(e.name)) return
      const p = path.join(dir, e.name)
      if (e.isDirectory()) walk(p)
      else if (/\.(js|json|wxml|wxss)$/.test(e.name) && !/package(-lock)?\.json$/.test(e.name)) files.push(p)
    })
    walk(ROOT)
    files.forEach(f => {
      const src = fs.readFileSync(f, 'utf8')
      expect([f, /app_?secret|secret_?key|AKIA[0-9A-Z]{16}|\b[0-9a-f]{32}\b/i.test(src)]).toEqual([f, false])
    })
  })
})
