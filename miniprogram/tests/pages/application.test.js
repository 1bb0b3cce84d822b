/**
 * @jest-environment jsdom
 */
const { loadPage, settle, tap, text } = require('./harness')
const { createFakeWx, createFakeApp } = require('./fakes')
const logic = require('../../pages/application/application-logic')
const store = require('../../utils/store')

const SECRETARY = { id: 9, name: '李书记', roles: ['secretary'] }
const OPTIONS = {
  organizations: [{ id: 3, name: '江南村党支部', domain: '农村', township_id: 1, village_id: 11 }],
  villages: [
    { id: 11, name: '江南村', township_id: 1 },
    { id: 12, name: '东村', township_id: 1 }
  ],
  sites: [{ id: 5, name: '高新区党群服务中心', township_id: 1 }]
}
const MISSING = [{ field: 'problem', message: '请说明项目要解决的问题' }]

function detail(extra) {
  return {
    id: 41,
    title: '村集体经济增收项目',
    year: 2026,
    status: 'draft',
    status_label: '草稿',
    editable: true,
    actions: ['submit'],
    organization: { id: 3, name: '江南村党支部' },
    places: [{ kind: 'village', id: 11, name: '江南村' }],
    domain: '农村',
    problem: '',
    targets: [],
    steps: [],
    responsible: {},
    missing: MISSING,
    reviews: [],
    ...extra
  }
}

function setup(routes) {
  const wx = createFakeWx()
  const app = createFakeApp({
    wx,
    user: SECRETARY,
    routes: { 'GET /projects/application-options': OPTIONS, ...routes }
  })
  app.flushQueue = jest.fn(() => app.queue.flush())
  const page = loadPage('application', { wx, app })
  return { wx, app, page }
}

function fill(page, form) {
  const p = page.instance
  p.onTitle({ detail: { value: form.title } })
  if (form.problem) p.onProblem({ detail: { value: form.problem } })
  if (form.target)
    p.onTarget({ currentTarget: { dataset: { index: 0 } }, detail: { value: form.target } })
  if (form.step) {
    p.onStepName({ currentTarget: { dataset: { index: 0 } }, detail: { value: form.step[0] } })
    p.onStepDeadline({ currentTarget: { dataset: { index: 0 } }, detail: { value: form.step[1] } })
  }
  logic.RESPONSIBLE_ROLES.forEach((role, i) => {
    if (form.people)
      p.onResponsible({ currentTarget: { dataset: { role } }, detail: { value: form.people[i] } })
  })
}

const COMPLETE = {
  title: '村集体经济增收项目',
  problem: '集体收入不足5万元',
  target: '年收入10万元',
  step: ['成立合作社', '2026-03-31'],
  people: ['张镇长', '李书记', '王干部', '驻村工作队']
}

test('a new application names the own organization and its village by default', async () => {
  const { page } = setup()
  await page.instance.onLoad({})
  await settle()
  expect(text(page, '#organization')).toBe('江南村党支部')
  expect(page.instance.data.form).toMatchObject({
    organization_id: 3,
    domain: '农村',
    village_ids: [11]
  })
  expect(page.querySelector('#village-11').dom.className).toContain('choice-on')
})

test('saving without signal keeps the draft on the phone and queues it under one client_id', async () => {
  const { page, app, wx } = setup({ 'POST /projects/applications': { offline: true } })
  await page.instance.onLoad({})
  fill(page, { title: '村集体经济增收项目' })
  await page.instance.onSave()
  await page.instance.onSave()
  const items = app.queue.items()
  expect(items.map(i => i.kind)).toEqual(['application', 'application_edit'])
  expect(items[1].local_project).toBe(items[0].client_id)
  expect(items[0].fields).toMatchObject({
    title: '村集体经济增收项目',
    year: expect.any(Number),
    organization_id: 3,
    village_ids: [11]
  })
  const kept = store.loadDrafts(wx)[items[0].client_id]
  expect(kept.form.title).toBe('村集体经济增收项目')
  expect(text(page, '#sync')).toBe('草稿已保存在手机上，等待上传')
  expect(wx.showToast).toHaveBeenLastCalledWith({ title: '已保存在手机上', icon: 'none' })
})

test("once the server has the draft the phone's copy goes and the server's missing list shows", async () => {
  const { page, app, wx } = setup({
    'POST /projects/applications': { id: 41, status: 'draft' },
    'GET /projects/41': detail()
  })
  await page.instance.onLoad({})
  fill(page, { title: '村集体经济增收项目' })
  await page.instance.onSave()
  await settle()
  expect(app.queue.items()).toEqual([])
  expect(store.loadDrafts(wx)).toEqual({})
  expect(text(page, '#missing')).toContain('请说明项目要解决的问题')
  expect(page.querySelector('#sync')).toBeFalsy()
})

test('a title is needed before anything is saved', async () => {
  const { page, app } = setup()
  await page.instance.onLoad({})
  page.instance.onTitle({ detail: { value: '  ' } })
  await tap(page, '#save')
  expect(text(page, '#title-error')).toBe('请先填写项目名称')
  expect(app.queue.items()).toEqual([])
})

test('submitting an incomplete form lists what is missing and sends nothing', async () => {
  const { page, app, wx } = setup()
  await page.instance.onLoad({})
  fill(page, { title: '村集体经济增收项目' })
  await tap(page, '#submit')
  expect(wx.showModal.mock.calls[0][0].title).toBe('申报表还不完整')
  expect(wx.showModal.mock.calls[0][0].content).toContain(
    '请填写主管领导、牵头书记、联系组工干部、工作队伍'
  )
  expect(app.queue.items()).toEqual([])
})

test('a complete draft is submitted once the server holds it', async () => {
  const { page, app } = setup({
    'POST /projects/applications': { id: 41, status: 'draft' },
    'POST /projects/41/transitions': detail({
      status: 'submitted',
      status_label: '待归口单位审核',
      editable: false,
      missing: []
    }),
    'GET /projects/41': detail({
      status: 'submitted',
      status_label: '待归口单位审核',
      editable: false,
      actions: ['withdraw'],
      missing: []
    })
  })
  await page.instance.onLoad({})
  fill(page, COMPLETE)
  await page.instance.onSubmit()
  const call = app.api.request.mock.calls.find(c => c[1] === '/projects/41/transitions')
  expect(call[2]).toMatchObject({ action: 'submit', client_id: expect.any(String) })
  expect(text(page, '#status')).toBe('待归口单位审核')
  expect(page.querySelector('#submit')).toBeFalsy()
  expect(page.querySelector('#withdraw')).toBeTruthy()
})

test("the server's 422 shows what it found missing, in Chinese", async () => {
  const { page, wx } = setup({
    'GET /projects/41': detail(),
    'PATCH /projects/41/application': detail(),
    'POST /projects/41/transitions': {
      __status: 422,
      data: {
        error: {
          code: 'application_incomplete',
          message: '申报表还不完整',
          details: { missing: [{ field: 'village_ids', message: '请选择项目实施的村或单位地点' }] }
        }
      }
    }
  })
  await page.instance.onLoad({ id: '41' })
  fill(page, COMPLETE)
  await page.instance.onSubmit()
  expect(wx.showModal).toHaveBeenLastCalledWith(
    expect.objectContaining({
      title: '未能提交',
      content: '申报表还不完整：\n· 请选择项目实施的村或单位地点'
    })
  )
  expect(text(page, '#missing')).toContain('请选择项目实施的村或单位地点')
})

test('a 409 says the project moved on', async () => {
  const { page, wx } = setup({
    'GET /projects/41': detail(),
    'PATCH /projects/41/application': detail(),
    'POST /projects/41/transitions': {
      __status: 409,
      data: {
        error: {
          code: 'illegal_transition',
          message: '项目当前为“待归口单位审核”,不能执行“提交申报”'
        }
      }
    }
  })
  await page.instance.onLoad({ id: '41' })
  fill(page, COMPLETE)
  await page.instance.onSubmit()
  expect(wx.showModal.mock.calls.pop()[0].content).toBe(
    '项目当前为“待归口单位审核”,不能执行“提交申报”'
  )
})

test('without signal the submit waits and says the draft is safe', async () => {
  const { page, wx, app } = setup({ 'POST /projects/applications': { offline: true } })
  await page.instance.onLoad({})
  fill(page, COMPLETE)
  await page.instance.onSubmit()
  expect(wx.showModal.mock.calls.pop()[0].content).toContain('草稿已保存在手机上')
  expect(app.api.request.mock.calls.some(c => /transitions/.test(c[1]))).toBe(false)
})

test('a server draft opens with its fields and the last review opinion', async () => {
  const { page } = setup({
    'GET /projects/41': detail({
      problem: '收入低',
      reviews: [{ action: 'return', action_label: '退回修改', opinion: '目标请量化' }]
    })
  })
  await page.instance.onLoad({ id: '41' })
  await settle()
  expect(page.instance.data.form.problem).toBe('收入低')
  expect(text(page, '#opinion')).toBe('退回修改：目标请量化')
})
