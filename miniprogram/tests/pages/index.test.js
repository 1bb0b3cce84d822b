/**
 * @jest-environment jsdom
 */
const { loadPage, settle, tap, text } = require('./harness')
const { createFakeWx, createFakeApp } = require('./fakes')
const { projectUrlFromScan } = require('../../pages/index/index-logic')

const VILLAGER = { id: 5, name: '', roles: ['villager'] }
const INSPECTOR = { id: 1, name: '王督查', roles: ['inspector'] }

function setup(user, scan) {
  const wx = createFakeWx()
  if (scan) wx.scanCode = jest.fn(opts => opts.success(scan))
  const app = createFakeApp({ wx, user })
  const page = loadPage('index', { wx, app })
  return { wx, app, page }
}

test('an inspector goes straight to 今日任务', async () => {
  const { page, wx, app } = setup(INSPECTOR)
  await page.instance.onLoad({})
  expect(app.api.ensureLogin).toHaveBeenCalled()
  expect(wx.reLaunch).toHaveBeenCalledWith({ url: '/pages/tasks/tasks' })
})

test('a project secretary goes straight to 我的项目', async () => {
  const { page, wx } = setup({ id: 2, name: '李书记', roles: ['secretary'] })
  await page.instance.onLoad({})
  expect(wx.reLaunch).toHaveBeenCalledWith({ url: '/pages/workspace/workspace' })
})

test('a villager sees the scan hint, 我的反馈 and the staff binding link', async () => {
  const { page, wx } = setup(VILLAGER)
  await page.instance.onLoad({})
  await settle()
  expect(wx.reLaunch).not.toHaveBeenCalled()
  expect(text(page, '#scan')).toBe('扫描公示栏二维码')
  await tap(page, '#mine')
  expect(wx.navigateTo).toHaveBeenLastCalledWith({ url: '/pages/feedback-mine/feedback-mine' })
  await tap(page, '#bind')
  expect(wx.navigateTo).toHaveBeenLastCalledWith({ url: '/pages/bind/bind' })
})

test('scanning our mini-program code opens the project with its scene', async () => {
  const { page, wx } = setup(VILLAGER, {
    result: '',
    path: 'pages/project/project?scene=p0c.abcdef'
  })
  await page.instance.onLoad({})
  await settle()
  await tap(page, '#scan')
  expect(wx.navigateTo).toHaveBeenCalledWith({ url: '/pages/project/project?scene=p0c.abcdef' })
})

test('a code that is not a project code is explained', async () => {
  const { page, wx } = setup(VILLAGER, { result: 'https://example.com/shop' })
  await page.instance.onLoad({})
  await settle()
  await tap(page, '#scan')
  expect(wx.navigateTo).not.toHaveBeenCalled()
  expect(wx.showToast.mock.calls[0][0].title).toContain('不是书记项目公示栏的二维码')
})

test('scan results: encoded scene, plain public-page QR, unrelated path', () => {
  expect(projectUrlFromScan({ path: 'pages/project/project?scene=p1f.ab%2Ecd' })).toBe(
    `/pages/project/project?scene=${encodeURIComponent('p1f.ab.cd')}`
  )
  expect(projectUrlFromScan({ result: 'https://ducha.example.gov.cn/p/31' })).toBe(
    '/pages/project/project?id=31'
  )
  expect(projectUrlFromScan({ path: 'pages/tasks/tasks' })).toBeNull()
  expect(projectUrlFromScan(null)).toBeNull()
})

test('without signal a stored session still routes; without one an error and retry are shown', async () => {
  const { page, wx, app } = setup(INSPECTOR)
  app.api.ensureLogin.mockImplementation(() =>
    Promise.reject(Object.assign(new Error('x'), { offline: true }))
  )
  await page.instance.onLoad({})
  expect(wx.reLaunch).toHaveBeenCalledWith({ url: '/pages/tasks/tasks' })

  app.api.user.mockImplementation(() => null)
  await page.instance.onLoad({})
  await settle()
  expect(text(page, '#error')).toContain('网络不可用')
  expect(page.querySelector('#retry')).toBeTruthy()
})
