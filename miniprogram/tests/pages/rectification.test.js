/**
 * @jest-environment jsdom
 */
const { loadPage, settle, tap, text } = require('./harness')
const { createFakeWx, createFakeApp } = require('./fakes')

const ORDER = {
  id: 12,
  items: ['公示栏未更新', '台账不全'],
  deadline: '2026-05-20',
  status: 'issued',
  status_label: '已下发',
  overdue: true,
  days_overdue: 3,
  project: { id: 41, title: '村集体经济增收项目' },
  response: null,
  note: null
}
const LIST = {
  items: [
    {
      ...ORDER,
      id: 13,
      deadline: '2026-06-30',
      overdue: false,
      days_overdue: 0,
      project: { id: 41, title: '村集体经济增收项目' }
    },
    ORDER,
    {
      ...ORDER,
      id: 14,
      status: 'responded',
      status_label: '已反馈',
      overdue: false,
      project: { id: 50, title: '别的项目' }
    }
  ],
  page: 1,
  per_page: 100,
  total: 3
}

function setup(routes) {
  const wx = createFakeWx()
  wx.chooseMedia = jest.fn(opts =>
    opts.success({ tempFiles: [{ tempFilePath: 'wxfile://tmp/z.jpg', size: 10 }] })
  )
  const app = createFakeApp({
    wx,
    user: { id: 9, roles: ['secretary'] },
    routes: {
      'GET /rectifications?page=1&per_page=100': LIST,
      'GET /rectifications/12': ORDER,
      ...routes
    }
  })
  app.flushQueue = jest.fn(() => app.queue.flush())
  const page = loadPage('rectification', { wx, app })
  return { wx, app, page }
}

test("the list shows a project's open orders, nearest deadline first, with how late they are", async () => {
  const { page, wx } = setup()
  page.instance.onLoad({ project_id: '41' })
  await page.instance.onShow()
  await settle()
  expect(page.instance.data.orders.map(o => o.id)).toEqual([12, 13])
  expect(text(page, '#deadline-12')).toBe('整改期限 2026-05-20（已逾期 3 天）')
  await tap(page, '#order-12')
  expect(wx.navigateTo).toHaveBeenCalledWith({ url: '/pages/rectification/rectification?id=12' })
})

test('an order shows its findings; the reply with a photo goes through the outbox once', async () => {
  const { page, app } = setup({ 'POST /rectifications/12/response': { offline: true } })
  page.instance.onLoad({ id: '12' })
  await page.instance.onShow()
  await settle()
  expect(text(page, '#finding-1')).toBe('2. 台账不全')
  await tap(page, '#photos >>> #add-photo')
  page.instance.onText({ detail: { value: '公示栏已更新，台账已补齐' } })
  await tap(page, '#respond')
  await tap(page, '#respond')
  const items = app.queue.items()
  expect(items.map(i => i.kind)).toEqual(['photo', 'rectification_response'])
  expect(items[0].target).toBe('rectification')
  expect(items[1]).toMatchObject({
    order_id: 12,
    text: '公示栏已更新，台账已补齐',
    photo_local_ids: [items[0].client_id]
  })
  expect(text(page, '#reply-state')).toBe('整改情况已保存在手机上，有信号后自动上传')
})

test('a reply needs text', async () => {
  const { page, app } = setup()
  page.instance.onLoad({ id: '12' })
  await page.instance.onShow()
  await tap(page, '#respond')
  expect(text(page, '#text-error')).toBe('请填写整改情况')
  expect(app.queue.items()).toEqual([])
})

test('an answered order shows the reply instead of the form', async () => {
  const { page } = setup({
    'GET /rectifications/12': {
      ...ORDER,
      status: 'responded',
      status_label: '已反馈',
      overdue: false,
      response: { text: '已整改', responded_at: '2026-05-10T02:00:00+00:00', photos: [] }
    }
  })
  page.instance.onLoad({ id: '12' })
  await page.instance.onShow()
  await settle()
  expect(text(page, '#response')).toContain('已整改')
  expect(page.querySelector('#respond')).toBeFalsy()
})

describe('item 17: reply photos', () => {
  test('camera only unless the project allows the album; each photo shows 拍摄于 HH:MM from the phone clock', async () => {
    const { page, wx } = setup()
    page.instance.onLoad({ id: '12' })
    await page.instance.onShow()
    await settle()
    await tap(page, '#photos >>> #add-photo')
    expect(wx.chooseMedia.mock.calls[0][0].sourceType).toEqual(['camera'])
    const stamp = require('../../utils/view').formatTime(page.instance.reply.photos[0].taken_at)
    expect(stamp).toMatch(/^\d\d:\d\d$/)
    expect(text(page, '#photos >>> #taken-0')).toBe(`拍摄于 ${stamp}`)
    expect(Math.abs(Date.parse(page.instance.reply.photos[0].taken_at) - Date.now())).toBeLessThan(
      60 * 1000
    )
  })

  test('an order whose project allows the album opens the album too', async () => {
    const { page, wx } = setup({
      'GET /rectifications/12': { ...ORDER, project: { ...ORDER.project, allow_album: true } }
    })
    page.instance.onLoad({ id: '12' })
    await page.instance.onShow()
    await settle()
    await tap(page, '#photos >>> #add-photo')
    expect(wx.chooseMedia.mock.calls[0][0].sourceType).toEqual(['album', 'camera'])
  })
})
