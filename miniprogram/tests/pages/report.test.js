/**
 * @jest-environment jsdom
 */
const { loadPage, settle, tap, text } = require('./harness')
const { createFakeWx, createFakeApp } = require('./fakes')
const store = require('../../utils/store')

const SECRETARY = { id: 9, name: '李书记', roles: ['secretary'] }
const STATE = {
  month: '2026-05',
  status: null,
  due: '2026-06-05',
  overdue_months: ['2026-04'],
  months: ['2026-04', '2026-05']
}
const REPORTS = { items: [], state: STATE }

function setup(routes, chooseMedia) {
  const wx = createFakeWx()
  let n = 0
  wx.chooseMedia =
    chooseMedia ||
    jest.fn(opts =>
      opts.success({
        tempFiles: [
          { tempFilePath: `wxfile://tmp/r-${++n}.jpg`, size: 1000 },
          { tempFilePath: `wxfile://tmp/r-${++n}.jpg`, size: 1000 }
        ]
      })
    )
  const app = createFakeApp({
    wx,
    user: SECRETARY,
    routes: { 'GET /projects/41/reports': REPORTS, ...routes }
  })
  app.flushQueue = jest.fn(() => app.queue.flush())
  const page = loadPage('report', { wx, app })
  return { wx, app, page }
}

async function open(page) {
  page.instance.onLoad({ project_id: '41' })
  await page.instance.onShow()
  await settle()
}

function queued(app, kind) {
  return app.queue.items().filter(i => i.kind === kind)
}

test('this month opens with its due date, and overdue months are named', async () => {
  const { page } = setup()
  await open(page)
  expect(text(page, '#overdue')).toBe('逾期未报：2026-04，请尽快补报')
  expect(page.instance.data.month).toBe('2026-05')
  expect(page.instance.data.months.map(m => m.label)).toEqual([
    '2026-05（本期）',
    '2026-04（逾期）'
  ])
  expect(text(page, '#due')).toContain('2026-06-05')
})

test('photos go into the outbox as report photos and the report names them; all stays on the phone offline', async () => {
  const { page, app, wx } = setup({ 'PUT /projects/41/reports/2026-05': { offline: true } })
  await open(page)
  await tap(page, '#photos >>> #add-photo')
  page.instance.onText({ detail: { value: '合作社完成注册' } })
  await tap(page, '#save')
  const photos = queued(app, 'photo')
  expect(photos.map(p => p.target)).toEqual(['report', 'report'])
  expect(photos.every(p => p.file.indexOf('wxfile://usr/') === 0)).toBe(true)
  const report = queued(app, 'report')[0]
  expect(report).toMatchObject({
    project_id: 41,
    month: '2026-05',
    text: '合作社完成注册',
    submit: false,
    known_photo_ids: [],
    photo_local_ids: photos.map(p => p.client_id)
  })
  expect(store.loadReport(wx, 41, '2026-05')).toMatchObject({ text: '合作社完成注册' })
  expect(text(page, '#sync')).toBe('已保存在手机上，等待上传')
  expect(text(page, '#photos >>> #photo-0')).toContain('待上传')
})

test('handing in needs the progress text', async () => {
  const { page, app } = setup()
  await open(page)
  await tap(page, '#submit')
  expect(text(page, '#text-error')).toBe('请填写本月工作进展')
  expect(queued(app, 'report')).toEqual([])
})

test("once the server has the report and its photos the phone's copy goes", async () => {
  const { page, app, wx } = setup({
    'PUT /projects/41/reports/2026-05': { id: 3, status: 'submitted' }
  })
  let id = 600
  app.uploader.upload.mockImplementation(() => Promise.resolve({ id: ++id, status: 'ready' }))
  await open(page)
  await tap(page, '#photos >>> #add-photo')
  page.instance.onText({ detail: { value: '合作社完成注册' } })
  app.api.routes['GET /projects/41/reports'] = {
    items: [
      {
        id: 3,
        month: '2026-05',
        status: 'submitted',
        status_label: '已提交',
        text: '合作社完成注册',
        photos: []
      }
    ],
    state: { ...STATE, status: 'submitted' }
  }
  await page.instance.onSubmit()
  await settle()
  const put = app.api.request.mock.calls.find(c => c[0] === 'PUT')
  expect(put[2]).toMatchObject({ text: '合作社完成注册', photo_ids: [601, 602], submit: true })
  expect(store.loadReport(wx, 41, '2026-05')).toBeNull()
  expect(page.instance.data.month).toBe('2026-04')
  expect(text(page, '#history')).toContain('已提交')
})

test('handing in asks for the reminder and tells the server how many were accepted', async () => {
  const configPath = require.resolve('../../utils/config')
  jest.doMock(configPath, () => ({
    ...jest.requireActual('../../utils/config'),
    REPORT_TEMPLATE_ID: 'tmpl-r'
  }))
  try {
    const { page, app, wx } = setup({
      'POST /me/subscriptions': { template: 'report_reminder', credits: 1 },
      'PUT /projects/41/reports/2026-05': { offline: true }
    })
    wx.requestSubscribeMessage.mockImplementation(opts =>
      opts.success({ errMsg: 'requestSubscribeMessage:ok', 'tmpl-r': 'accept' })
    )
    await open(page)
    page.instance.onText({ detail: { value: '进展顺利' } })
    await tap(page, '#submit')
    expect(wx.requestSubscribeMessage.mock.calls[0][0].tmplIds).toEqual(['tmpl-r'])
    expect(app.api.request).toHaveBeenCalledWith('POST', '/me/subscriptions', {
      template: 'report_reminder',
      accepted: 1
    })
    expect(queued(app, 'report')[0].submit).toBe(true)
  } finally {
    jest.dontMock(configPath)
  }
})

test('a refused reminder is not reported to the server', async () => {
  const configPath = require.resolve('../../utils/config')
  jest.doMock(configPath, () => ({
    ...jest.requireActual('../../utils/config'),
    REPORT_TEMPLATE_ID: 'tmpl-r'
  }))
  try {
    const { page, app, wx } = setup()
    wx.requestSubscribeMessage.mockImplementation(opts => opts.success({ 'tmpl-r': 'reject' }))
    await open(page)
    await tap(page, '#remind')
    expect(app.api.request.mock.calls.some(c => c[1] === '/me/subscriptions')).toBe(false)
  } finally {
    jest.dontMock(configPath)
  }
})

test('a project not started yet owes no report', async () => {
  const { page } = setup({
    'GET /projects/41/reports': {
      items: [],
      state: { month: null, status: null, due: null, overdue_months: [], months: [] }
    }
  })
  await open(page)
  expect(text(page, '#not-started')).toBe('项目尚未开始实施，暂不需要填写月报')
  expect(page.querySelector('#submit')).toBeFalsy()
})

test('removing a photo still in the outbox drops it and its file', async () => {
  const { page, app } = setup()
  await open(page)
  await tap(page, '#photos >>> #add-photo')
  await tap(page, '#photos >>> #remove-0')
  expect(queued(app, 'photo')).toHaveLength(1)
  expect(app.files.remove).toHaveBeenCalledTimes(1)
  expect(page.instance.data.photos).toHaveLength(1)
})

test('report photos come from the camera only unless the project allows the album (item 17)', async () => {
  const { page, wx } = setup()
  page.instance.onLoad({ project_id: '41' })
  await page.instance.onShow()
  await settle()
  await tap(page, '#photos >>> #add-photo')
  expect(wx.chooseMedia.mock.calls[0][0].sourceType).toEqual(['camera'])
})
