/**
 * @jest-environment node
 */
// A whole unannounced visit, driven through the mini-program's own utils against the real
// Flask server on 127.0.0.1 (SQLite, local photo storage) and the fake WeChat API: everything
// is recorded without signal, then sent through an interrupted upload, a refused ticket, a
// lost submit answer and an app restart; the server must end up with exactly one of each.

const fs = require('fs')
const path = require('path')
const { createNodeWx, send } = require('./node-wx')
const { startServers, registerProjectAndInspector, makeJpegs, callApi } = require('./servers')
const { createApi } = require('../../utils/api')
const { createFiles } = require('../../utils/files')
const { createUploader } = require('../../utils/uploader')
const { createQueue } = require('../../utils/queue')
const { createLocation } = require('../../utils/location')
const coord = require('../../utils/coord')
const { rfc3339 } = require('../../utils/time')

jest.setTimeout(60000)

// A village in Ji'an, Jiangxi (WGS-84), as the department registered it.
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

test('a visit recorded offline reaches the server exactly once through lost answers, refusals and a restart', async () => {
  // ---- the department sets up a village, a project, an inspector and an assignment ------------
  const { admin, village, project, inspector } = await registerProjectAndInspector(servers, VILLAGE)
  expect(inspector.invite_code).toBeTruthy()
  const assignment = await ok(
    'POST',
    '/admin/assignments',
    {
      inspector_ids: [inspector.id],
      project_id: project.id,
      village_id: village.id,
      check_items: ['公示栏', '工程进度']
    },
    admin
  )

  // ---- the inspector's phone: WeChat login + invite code, through utils/api -------------------
  const storage = new Map()
  const userData = path.join(servers.tmp, 'phone', 'usr')
  const camera = path.join(servers.tmp, 'phone', 'camera')
  const faults = { request: () => null, upload: () => null }
  const netLog = []
  const gcj = coord.wgs84ToGcj02(VILLAGE.lat, VILLAGE.lng)
  function boot() {
    const wx = createNodeWx({
      storage,
      userDataPath: userData,
      wechatUrl: servers.wechatUrl,
      openid: 'o-e2e-inspector',
      faults,
      log: netLog,
      position: { latitude: gcj.lat, longitude: gcj.lng, accuracy: 15 }
    })
    const api = createApi({ wx, baseUrl: servers.apiBase })
    const files = createFiles({ wx })
    const uploader = createUploader({
      wx,
      api,
      maxConcurrent: 3,
      sleep: () => new Promise(r => setTimeout(r, 5))
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
    return { wx, api, files, uploader, queue, location: createLocation({ wx }) }
  }
  let phone = boot()
  const me = await phone.api.bind(inspector.invite_code)
  expect(me).toMatchObject({ id: inspector.id, roles: ['inspector'] })
  const tasks = (await phone.api.request('GET', '/assignments')).data.items
  expect(tasks.map(t => t.id)).toContain(assignment.id)

  // ---- in the village, no signal: everything goes to the outbox --------------------------------
  faults.request = () => 'drop'
  faults.upload = () => 'drop'
  const q = phone.queue
  const lv = q.enqueue({
    kind: 'start_visit',
    assignment_id: assignment.id,
    started_at: rfc3339(new Date())
  }).local_visit
  const fix = await phone.location.freshFix({ timeoutMs: 3000 })
  expect(fix).toMatchObject({ coord_type: 'gcj02', accuracy: 15 })
  q.enqueue({
    kind: 'checkin',
    local_visit: lv,
    lat: fix.lat,
    lng: fix.lng,
    accuracy_m: fix.accuracy,
    coord_type: 'gcj02',
    client_time: fix.time
  })
  const shots = makeJpegs(servers.py, camera, 3, [VILLAGE.lat, VILLAGE.lng])
  const photos = shots.map(file =>
    q.enqueue({
      kind: 'photo',
      local_visit: lv,
      file,
      taken_at: rfc3339(new Date()),
      lat: fix.lat,
      lng: fix.lng,
      coord_type: 'gcj02'
    })
  )
  photos.forEach(p => expect(p.file.startsWith(userData + '/')).toBe(true)) // kept out of the camera's temp files
  q.enqueue({
    kind: 'interview',
    local_visit: lv,
    household: '2组刘家',
    answers: { 是否知道本村书记项目: '知道' },
    satisfaction: '满意',
    notes: '光伏板已安装'
  })
  q.enqueue({
    kind: 'checklist',
    local_visit: lv,
    items: [
      { item: '公示栏', result: 'pass' },
      { item: '工程进度', result: 'fail', note: '滞后两周' }
    ]
  })
  q.enqueue({ kind: 'submit', local_visit: lv })
  expect(q.pendingCount()).toBe(8)
  let result = await q.flush()
  expect(result).toMatchObject({ sent: 0, pending: 8, offline: true })

  // ---- signal returns, but badly ---------------------------------------------------------------
  const uploadsOf = file => netLog.filter(e => e.kind === 'upload' && e.file === file && !e.fault)
  faults.upload = ({ filePath }) => {
    // Photo 1: the connection drops halfway through the upload (once).
    if (
      filePath === photos[0].file &&
      !netLog.some(e => e.file === filePath && e.fault === 'interrupt')
    )
      return 'interrupt'
    // Photo 2: the storage refuses its ticket once (403), so the phone must get a new one.
    if (
      filePath === photos[1].file &&
      !netLog.some(e => e.file === filePath && e.fault === 'corrupt_signature')
    )
      return 'corrupt_signature'
    return null
  }
  let submitsLost = 0
  faults.request = ({ url }) =>
    /\/submit$/.test(url) && submitsLost++ === 0 ? 'lose_answer' : null
  result = await q.flush()
  // Everything but the submit's answer arrived; the submit itself reached the server.
  expect(result).toMatchObject({ offline: true, pending: 1 })
  expect(q.items().map(i => i.kind)).toEqual(['submit'])
  expect(netLog.find(e => e.fault === 'interrupt').status).toBe('cut')
  expect(netLog.find(e => e.fault === 'corrupt_signature').status).toBe(403)
  photos.forEach(p => expect(uploadsOf(p.file).filter(e => e.status === 204)).toHaveLength(1))

  // ---- the app is killed and opened again: the submit is retried from storage -------------------
  phone = boot()
  expect(phone.queue.pendingCount()).toBe(1)
  result = await phone.queue.flush()
  expect(result).toMatchObject({ pending: 0, failed: 0, offline: false })
  const visitId = phone.queue.serverVisitId(lv)
  const submits = netLog.filter(
    e => e.kind === 'request' && e.url === `/api/v1/visits/${visitId}/submit`
  )
  expect(submits.map(e => e.status)).toEqual([200, 200])
  expect(new Set(submits.map(e => e.client_id)).size).toBe(1)

  // Every write went out under one client_id; only renewals and retries repeated one.
  const writes = netLog.filter(
    e => e.kind === 'request' && e.method !== 'GET' && e.client_id && !e.fault
  )
  const firsts = {}
  writes.forEach(e => {
    ;(firsts[e.client_id] = firsts[e.client_id] || []).push(e.status)
  })
  Object.values(firsts).forEach(statuses => {
    expect(statuses.filter(s => s === 201).length).toBeLessThanOrEqual(1)
    statuses.forEach(s => expect([200, 201]).toContain(s))
  })
  // The originals stay for the photo strip until the page has the server's thumbnails, then go.
  const shown = phone.queue.shownFiles(lv)
  expect(Object.keys(shown).sort()).toEqual(photos.map(p => p.client_id).sort())
  phone.queue.releaseFiles(Object.keys(shown))
  expect(fs.readdirSync(userData)).toEqual([])

  // ---- the department reads the record ----------------------------------------------------------
  const visit = await ok('GET', `/visits/${visitId}`, undefined, admin, 200)
  expect(visit.status).toBe('submitted')
  expect(visit.client_id).toBe(lv)
  expect(visit.checkins).toHaveLength(1)
  // GCJ-02 from the phone, converted back by the server, lands on the village centre.
  expect(visit.checkins[0].within_geofence).toBe(true)
  expect(visit.checkins[0].distance_m).toBeLessThan(1)
  expect(visit.photos).toHaveLength(3)
  expect(visit.photos.map(p => p.status)).toEqual(['ready', 'ready', 'ready'])
  expect(visit.photos.map(p => p.client_id).sort()).toEqual(photos.map(p => p.client_id).sort())
  expect(visit.photos.every(p => !p.flags.includes('duplicate'))).toBe(true)
  expect(visit.photos_waiting).toEqual([])
  expect(visit.interviews).toHaveLength(1)
  expect(visit.interviews[0].household).toBe('2组刘家')
  expect(visit.checklist_versions).toBe(1)
  expect(visit.checklist.items.map(i => i.result)).toEqual(['pass', 'fail'])
  expect(visit.notes).toEqual([])

  // A photo the phone sent is really there: its thumbnail downloads.
  const thumb = await send(visit.photos[0].thumb_url, { method: 'GET', headers: {} })
  expect(thumb.statusCode).toBe(200)
  expect(thumb.body.subarray(0, 2)).toEqual(Buffer.from([0xff, 0xd8]))

  // After submit a remark is still accepted, once, through the same outbox.
  phone.queue.enqueue({ kind: 'note', local_visit: lv, text: '补充：村书记当日外出' })
  faults.request = ({ url }) =>
    /\/notes$/.test(url) && !netLog.some(e => e.fault === 'lose_answer' && /notes$/.test(e.url))
      ? 'lose_answer'
      : null
  await phone.queue.flush()
  await phone.queue.flush()
  const after = await ok('GET', `/visits/${visitId}`, undefined, admin, 200)
  expect(after.notes).toHaveLength(1)
  expect(after.photos).toHaveLength(3)
})
