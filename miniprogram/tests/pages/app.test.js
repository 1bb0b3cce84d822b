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
  global.App = d => {
    def = d
  }
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
    const resume = jest.spyOn(app.queue, 'resume').mockImplementation(() => Promise.resolve({}))
    app.onShow()
    expect(resume).toHaveBeenCalledTimes(1)
    expect(app.online).toBe(true)
    const listener = wx.onNetworkStatusChange.mock.calls[0][0]
    listener({ isConnected: false, networkType: 'none' })
    expect(resume).toHaveBeenCalledTimes(1)
    expect(app.online).toBe(false)
    listener({ isConnected: true, networkType: '4g' })
    expect(resume).toHaveBeenCalledTimes(2)
    expect(flush).toHaveBeenCalledTimes(0)
  })

  test('back in the foreground the uploader wakes from its backoff at once (item 13)', () => {
    const { app } = launch()
    const wake = jest.spyOn(app.uploader, 'wake')
    jest.spyOn(app.queue, 'flush').mockImplementation(() => Promise.resolve({}))
    app.onShow()
    expect(wake).toHaveBeenCalledTimes(1)
  })

  test("registers for WeChat's privacy authorization at launch (item 11)", () => {
    const { app, wx } = launch()
    expect(wx.onNeedPrivacyAuthorization).toHaveBeenCalledTimes(1)
    const resolve = jest.fn()
    wx.onNeedPrivacyAuthorization.mock.calls[0][0](resolve, { referrer: 'startLocationUpdate' })
    expect(app.privacy.need()).toEqual({ asking: true, why: expect.stringContaining('位置') })
    app.privacy.refuse()
    expect(resolve).toHaveBeenCalledWith({ event: 'disagree' })
    expect(app.privacy.need().text).toContain('走访记录')
  })
})

describe('app.json and the project files', () => {
  const appJson = JSON.parse(fs.readFileSync(path.join(ROOT, 'app.json'), 'utf8'))

  test('every page has its four same-named files', () => {
    expect(appJson.pages[0]).toBe('pages/index/index')
    appJson.pages.forEach(page => {
      ;['js', 'json', 'wxml', 'wxss'].forEach(ext => {
        expect(fs.existsSync(path.join(ROOT, `${page}.${ext}`))).toBe(true)
      })
    })
  })

  test('declares exactly the private location APIs the code calls, and says why (item 12)', () => {
    expect(appJson.window.navigationBarTitleText).toBe('书记项目督查')
    const PRIVATE = [
      'getLocation',
      'startLocationUpdate',
      'onLocationChange',
      'chooseLocation',
      'choosePoi',
      'chooseAddress',
      'getFuzzyLocation',
      'startLocationUpdateBackground',
      'onLocationChangeError'
    ]
    const src = ['utils', 'pages']
      .map(d => fs.readdirSync(path.join(ROOT, d), { recursive: true }))
      .reduce(
        (all, names, i) =>
          all.concat(
            names.filter(n => /\.js$/.test(n)).map(n => path.join(ROOT, ['utils', 'pages'][i], n))
          ),
        []
      )
      .map(f => fs.readFileSync(f, 'utf8'))
      .join('\n')
    const used = PRIVATE.filter(api => new RegExp(`wx\\.${api}\\(`).test(src)).sort()
    expect(appJson.requiredPrivateInfos.slice().sort()).toEqual(used)
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
    const walk = dir =>
      fs.readdirSync(dir, { withFileTypes: true }).forEach(e => {
        if (['node_modules', 'tests'].includes(e.name)) return
        const p = path.join(dir, e.name)
        if (e.isDirectory()) walk(p)
        else if (/\.(js|json|wxml|wxss)$/.test(e.name) && !/package(-lock)?\.json$/.test(e.name))
          files.push(p)
      })
    walk(ROOT)
    files.forEach(f => {
      const src = fs.readFileSync(f, 'utf8')
      expect([f, /app_?secret|secret_?key|AKIA[0-9A-Z]{16}|\b[0-9a-f]{32}\b/i.test(src)]).toEqual([
        f,
        false
      ])
    })
  })
})
