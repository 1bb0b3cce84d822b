/**
 * @jest-environment jsdom
 */
const { loadPage, settle, tap, text } = require('./harness')
const { createFakeWx, createFakeApp } = require('./fakes')
const store = require('../../utils/store')

const SECRETARY = { id: 9, name: '李书记', roles: ['secretary'] }
const MINE = {
  items: [
    {
      id: 41,
      title: '村集体经济增收项目',
      year: 2026,
      status: 'in_progress',
      status_label: '实施中',
      editable: false,
      places: [{ kind: 'village', id: 11, name: '江南村' }],
      actions: [],
      report: {
        month: '2026-05',
        status: null,
        due: '2026-06-05',
        overdue_months: ['2026-03', '2026-04']
      },
      rectifications: { open: 2, overdue: 1, next_deadline: '2026-05-20' },
      feedback_waiting: 3
    },
    {
      id: 42,
      title: '党群服务中心提升',
      year: 2026,
      status: 'approved',
      status_label: '已立项',
      editable: false,
      places: [],
      actions: ['start'],
      report: { month: null, status: null, due: null, overdue_months: [] },
      rectifications: { open: 0, overdue: 0, next_deadline: null },
      feedback_waiting: 0
    },
    {
      id: 43,
      title: '蜜柚产业二期',
      year: 2027,
      status: 'draft',
      status_label: '草稿',
      editable: true,
      places: [],
      actions: ['submit'],
      report: { month: null, status: null, due: null, overdue_months: [] },
      rectifications: { open: 0, overdue: 0, next_deadline: null },
      feedback_waiting: 0
    }
  ]
}

function setup(routes) {
  const wx = createFakeWx()
  const app = createFakeApp({
    wx,
    user: SECRETARY,
    routes: routes || { 'GET /projects/mine': MINE }
  })
  const page = loadPage('workspace', { wx, app })
  return { wx, app, page }
}

async function show(page) {
  page.instance.onLoad({})
  await page.instance.onShow()
  await settle()
}

test('a running project shows its report due, overdue months, open orders and waiting feedback', async () => {
  const { page } = setup()
  await show(page)
  expect(text(page, '#status-41')).toBe('实施中')
  expect(text(page, '#report-41')).toBe('2026-05 月报未填写，2026-06-05 前提交')
  expect(text(page, '#overdue-41')).toBe('逾期未报：2026-03、2026-04')
  expect(text(page, '#orders-41')).toBe('待整改 2 项，最近期限 2026-05-20（1 项已逾期）')
  expect(page.querySelector('#orders-41').dom.className).toContain('tag-danger')
  expect(text(page, '#feedback-41')).toBe('群众意见待办理 3 条')
  expect(text(page, '#sum-reports')).toContain('2')
})

test('the buttons lead to the report, the orders, the feedback and a new application', async () => {
  const { page, wx } = setup()
  await show(page)
  await tap(page, '#open-report-41')
  expect(wx.navigateTo).toHaveBeenLastCalledWith({ url: '/pages/report/report?project_id=41' })
  await tap(page, '#open-orders-41')
  expect(wx.navigateTo).toHaveBeenLastCalledWith({
    url: '/pages/rectification/rectification?project_id=41'
  })
  await tap(page, '#open-feedback-41')
  expect(wx.navigateTo).toHaveBeenLastCalledWith({
    url: '/pages/project-feedback/project-feedback?project_id=41'
  })
  await tap(page, '#new')
  expect(wx.navigateTo).toHaveBeenLastCalledWith({ url: '/pages/application/application' })
  expect(page.querySelector('#open-report-42')).toBeFalsy()
})

test('drafts are listed apart, with those only on this phone marked 未上传', async () => {
  const { page, wx, app } = setup()
  store.saveDraft(wx, 'lp-1', {
    local_project: 'lp-1',
    form: { title: '新申报' },
    saved_at: '2026-05-04T09:30:00+08:00'
  })
  await show(page)
  expect(page.querySelector('#project-43')).toBeFalsy()
  expect(text(page, '#draft-43')).toContain('蜜柚产业二期')
  expect(text(page, '#local-draft-0')).toContain('新申报')
  expect(text(page, '#local-draft-0')).toContain('未上传 · 2026-05-04 09:30')
  await tap(page, '#local-draft-0')
  expect(wx.navigateTo).toHaveBeenLastCalledWith({
    url: '/pages/application/application?local=lp-1'
  })
  await tap(page, '#draft-43')
  expect(wx.navigateTo).toHaveBeenLastCalledWith({ url: '/pages/application/application?id=43' })
  expect(app.api.request).toHaveBeenCalledWith('GET', '/projects/mine', undefined, undefined)
})

test('an approved project is started from its card', async () => {
  const { page, app } = setup({
    'GET /projects/mine': MINE,
    'POST /projects/42/transitions': { id: 42, status: 'in_progress' }
  })
  await show(page)
  await tap(page, '#start-42')
  await settle()
  const call = app.api.request.mock.calls.find(c => c[1] === '/projects/42/transitions')
  expect(call[2]).toMatchObject({ action: 'start', client_id: expect.any(String) })
})

test('without signal the last list stays, saying how old it is', async () => {
  const { page, app } = setup()
  await show(page)
  app.api.routes['GET /projects/mine'] = { offline: true }
  await page.instance.onShow()
  await settle()
  expect(text(page, '#offline')).toContain('网络不可用')
  expect(text(page, '#offline')).toContain('显示的是')
  expect(text(page, '#status-41')).toBe('实施中')
})
