/**
 * @jest-environment jsdom
 */
const { loadPage, settle, tap, text } = require('./harness')
const { createFakeWx, createFakeApp } = require('./fakes')

const ASSIGNMENTS = [
  {
    id: 7,
    status: 'open',
    due_date: '2030-06-30',
    project: { id: 3, title: '村级光伏发电项目', year: 2024 },
    village: { id: 11, name: '东村', gcj02: { lat: 27.1, lng: 114.9 } },
    place: {
      kind: 'village',
      id: 11,
      name: '东村',
      label: '城关镇 东村',
      lat: 27.115,
      lng: 114.978,
      gcj02: { lat: 27.1121, lng: 114.9831 },
      radius_m: 800
    },
    check_items: ['项目公示栏是否张贴', '实施进度是否与计划一致'],
    visits: []
  },
  {
    id: 8,
    status: 'open',
    due_date: '2000-01-01',
    project: { id: 4, title: '村道亮化工程', year: 2024 },
    village: { id: 12, name: '西村' },
    place: {
      kind: 'village',
      id: 12,
      name: '西村',
      label: '城关镇 西村',
      lat: 27.2,
      lng: 115.0,
      gcj02: { lat: 27.197, lng: 115.005 },
      radius_m: 600
    },
    check_items_sealed: true,
    check_items_count: 4,
    visits: []
  }
]

function setup(routes) {
  const wx = createFakeWx()
  const app = createFakeApp({
    wx,
    routes: routes || { 'GET /assignments': { items: ASSIGNMENTS } }
  })
  const page = loadPage('tasks', { wx, app })
  return { wx, app, page }
}

async function show(page) {
  page.instance.onLoad({})
  await page.instance.onShow()
  await settle()
}

test('renders every open assignment with village, project, due date and check items', async () => {
  const { page } = setup()
  await show(page)
  const first = text(page, '#task-7')
  expect(first).toContain('东村')
  expect(first).toContain('城关镇 东村')
  expect(first).toContain('村级光伏发电项目')
  expect(first).toContain('截止 2030-06-30')
  expect(first).toContain('督查事项 2 项')
  expect(text(page, '#task-8')).toContain('已过期')
})

test('sealed check items are shown as a count only', async () => {
  const { page } = setup()
  await show(page)
  expect(text(page, '#task-8')).toContain('督查事项 4 项（密封')
})

test('导航 opens wx.openLocation at the place GCJ-02 point with type gcj02', async () => {
  const { page, wx } = setup()
  await show(page)
  await tap(page, '#nav-7')
  expect(wx.openLocation).toHaveBeenCalledTimes(1)
  expect(wx.openLocation.mock.calls[0][0]).toMatchObject({
    latitude: 27.1121,
    longitude: 114.9831,
    type: 'gcj02',
    name: '东村',
    address: '城关镇 东村'
  })
})

test('assignments with their check items are cached and shown offline', async () => {
  const { page, wx, app } = setup()
  await show(page)
  expect(wx.getStorageSync('assignments.v1').items[0].check_items).toEqual(
    ASSIGNMENTS[0].check_items
  )

  app.api.routes['GET /assignments'] = { offline: true }
  await page.instance.onShow()
  await settle()
  expect(text(page, '#task-7')).toContain('村级光伏发电项目')
  expect(text(page, '#offline')).toContain('网络不可用')
})

test('shows the pending counter and follows queue changes', async () => {
  const { page, app } = setup()
  await show(page)
  expect(page.querySelector('#pending')).toBeFalsy()
  app.queue.enqueue({ kind: 'start_visit', assignment_id: 7 })
  await settle()
  expect(text(page, '#pending')).toBe('待上传 1 项')
})

test('opening a task goes to the visit page of that assignment', async () => {
  const { page, wx } = setup()
  await show(page)
  await tap(page, '#open-7')
  expect(wx.navigateTo).toHaveBeenCalledWith({ url: '/pages/visit/visit?assignment_id=7' })
})
