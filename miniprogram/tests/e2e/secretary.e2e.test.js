/**
 * @jest-environment node
 */
// A project secretary's year, through the mini-program's own utils against the real Flask
// server: an application saved without signal and then through a lost answer (one draft on the
// server), submitted; approved and started; this month's report with two photos, one upload cut
// halfway and resumed after an app restart — the server ends with one submitted report and two
// ready photos.

const path = require('path')
const { createNodeWx } = require('./node-wx')
const { startServers, registerVillage, makeJpegs, callApi } = require('./servers')
const { createApi } = require('../../utils/api')
const { createFiles } = require('../../utils/files')
const { createUploader } = require('../../utils/uploader')
const { createQueue } = require('../../utils/queue')
const { uuid4 } = require('../../utils/uuid')
const { rfc3339 } = require('../../utils/time')
const applicationLogic = require('../../pages/application/application-logic')
const reportLogic = require('../../pages/report/report-logic')

jest.setTimeout(60000)

const VILLAGE = { lat: 27.1145, lng: 114.9876 }

let servers

function ok(method, pathName, body, token, expected) {
  return callApi(servers.apiBase, method, pathName, body, token, expected)
}

beforeAll(async () => {
  servers = await startServers()
})

afterAll(async () => {
  if (servers) await servers.stop()
})

test('a secretary applies offline, submits, and hands in a monthly report with two photos through a cut upload', async () => {
  // ---- the department: a village, its party branch and the branch's secretary ---------------------
  const { admin, township, village } = await registerVillage(servers, {
    townshipName: '永阳镇',
    villageName: '江南村',
    point: VILLAGE
  })
  const org = await ok(
    'POST',
    '/admin/organizations',
    { name: '江南村党支部', township_id: township.id, village_id: village.id },
    admin
  )
  const secretary = await ok(
    'POST',
    '/admin/users',
    { name: '李书记', role: 'secretary', organization_ids: [org.id], issue_invite: true },
    admin
  )

  // ---- the secretary's phone ---------------------------------------------------------------------
  const storage = new Map()
  const userData = path.join(servers.tmp, 'phone', 'usr')
  const faults = { request: () => null, upload: () => null }
  const netLog = []
  function boot() {
    const wx = createNodeWx({
      storage,
      userDataPath: userData,
      wechatUrl: servers.wechatUrl,
      openid: 'o-e2e-secretary',
      faults,
      log: netLog
    })
    const api = createApi({ wx, baseUrl: servers.apiBase })
    const files = createFiles({ wx })
    // One attempt per flush: a cut upload ends the flush, as a lost signal would.
    const uploader = createUploader({
      wx,
      api,
      maxConcurrent: 3,
      maxAttempts: 1,
      sleep: () => Promise.resolve()
    })
    const queue = createQueue({
      wx,
      api,
      uploader,
      files,
      now: () => new Date(),
      autoRetry: false,
      flushOnEnqueue: false
    })
    return { wx, api, files, queue }
  }
  let phone = boot()
  expect(await phone.api.bind(secretary.invite_code)).toMatchObject({
    id: secretary.id,
    roles: ['secretary']
  })
  const options = (await phone.api.request('GET', '/projects/application-options')).data
  expect(options.organizations.map(o => o.id)).toEqual([org.id])

  // ---- the application, written where there is no signal ------------------------------------------
  let form = {
    ...applicationLogic.emptyForm(2026),
    title: '村集体经济增收项目',
    organization_id: org.id,
    domain: '农村',
    selection: '自选',
    category: '重点性',
    village_ids: [village.id]
  }
  faults.request = () => 'drop'
  const created = phone.queue.enqueue({
    kind: 'application',
    fields: applicationLogic.applicationFields(form)
  })
  expect(await phone.queue.flush()).toMatchObject({ sent: 0, offline: true })

  // Signal returns, but the answer to the application is lost once.
  let lost = 0
  faults.request = ({ url }) =>
    /\/projects\/applications$/.test(url) && lost++ === 0 ? 'lose_answer' : null
  expect(await phone.queue.flush()).toMatchObject({ offline: true, pending: 1 })
  form = {
    ...form,
    problem: '村集体经济薄弱，年收入不足5万元',
    targets: ['村集体年收入达到10万元'],
    steps: [
      { name: '成立合作社', deadline: '2026-03-31' },
      { name: '建成加工厂', deadline: '2026-09-30' }
    ],
    responsible: {
      主管领导: '张镇长',
      牵头书记: '李书记',
      联系组工干部: '王干部',
      工作队伍: '驻村工作队'
    }
  }
  phone.queue.enqueue({
    kind: 'application_edit',
    local_project: created.local_project,
    fields: applicationLogic.applicationFields(form)
  })
  expect(await phone.queue.flush()).toMatchObject({ pending: 0, failed: 0, offline: false })
  const projectId = phone.queue.serverProjectId(created.local_project)
  const creates = netLog.filter(
    e => e.kind === 'request' && e.url === '/api/v1/projects/applications' && e.fault !== 'drop'
  )
  expect(creates.map(e => [e.status, e.fault])).toEqual([
    [201, 'lose_answer'],
    [200, null]
  ])
  expect(new Set(creates.map(e => e.client_id))).toEqual(new Set([created.client_id]))
  const mine = (await phone.api.request('GET', '/projects/mine')).data.items
  expect(mine.map(p => p.id)).toEqual([projectId])
  expect((await phone.api.request('GET', `/projects/${projectId}`)).data.missing).toEqual([])

  // Submitted once, though the tap is repeated with the same client_id.
  const submitId = uuid4()
  for (let i = 0; i < 2; i++) {
    const res = await phone.api.request('POST', `/projects/${projectId}/transitions`, {
      client_id: submitId,
      sent_at: rfc3339(new Date()),
      action: 'submit'
    })
    expect(res.data.status).toBe('submitted')
  }

  // ---- the department decides; the secretary starts the project ------------------------------------
  await ok(
    'POST',
    `/projects/${projectId}/transitions`,
    { action: 'unit_approve', opinion: '材料齐全' },
    admin,
    200
  )
  await ok(
    'POST',
    `/projects/${projectId}/transitions`,
    { action: 'approve', opinion: '同意立项', score: 90 },
    admin,
    200
  )
  await phone.api.request('POST', `/projects/${projectId}/transitions`, {
    client_id: uuid4(),
    sent_at: rfc3339(new Date()),
    action: 'start'
  })

  // ---- this month's report with two photos; the first upload is cut halfway -----------------------
  const state = (await phone.api.request('GET', `/projects/${projectId}/reports`)).data.state
  expect(state).toMatchObject({ status: null, overdue_months: [] })
  const shots = makeJpegs(servers.py, path.join(servers.tmp, 'phone', 'camera'), 2, [
    VILLAGE.lat,
    VILLAGE.lng
  ])
  const photos = shots.map(file =>
    phone.queue.enqueue({ kind: 'photo', target: 'report', file, taken_at: rfc3339(new Date()) })
  )
  phone.queue.enqueue(
    reportLogic.reportAction(
      projectId,
      state.month,
      '合作社完成注册，加工厂开工',
      photos.map(p => ({ client_id: p.client_id })),
      phone.queue,
      true
    )
  )
  faults.request = () => null
  faults.upload = ({ filePath }) =>
    filePath === photos[0].file && !netLog.some(e => e.fault === 'interrupt') ? 'interrupt' : null
  let result = await phone.queue.flush()
  expect(result).toMatchObject({ offline: true })
  expect(phone.queue.items().map(i => i.kind)).toEqual(['photo', 'report'])
  expect(netLog.find(e => e.fault === 'interrupt').status).toBe('cut')

  // The app is killed and opened again: the cut photo resumes from storage, then the report goes.
  phone = boot()
  result = await phone.queue.flush()
  expect(result).toMatchObject({ pending: 0, failed: 0, offline: false })
  const tickets = netLog.filter(
    e => e.kind === 'request' && e.url === '/api/v1/projects/reports/photos' && !e.fault
  )
  expect(tickets.filter(e => e.status === 201)).toHaveLength(2)
  expect(new Set(tickets.map(e => e.client_id)).size).toBe(2)

  // ---- what the department reads -----------------------------------------------------------------
  const reports = await ok('GET', `/projects/${projectId}/reports`, undefined, admin, 200)
  expect(reports.items).toHaveLength(1)
  expect(reports.items[0]).toMatchObject({
    month: state.month,
    status: 'submitted',
    text: '合作社完成注册，加工厂开工'
  })
  expect(reports.items[0].photos.map(p => p.status)).toEqual(['ready', 'ready'])
  expect(reports.state.status).toBe('submitted')
  const detail = await ok('GET', `/projects/${projectId}`, undefined, admin, 200)
  expect(detail.reviews.map(r => r.action)).toEqual(['submit', 'unit_approve', 'approve', 'start'])
})
