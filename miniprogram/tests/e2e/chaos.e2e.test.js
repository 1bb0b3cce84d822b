/**
 * @jest-environment node
 */
// Issue 15's seeded chaos against the real Flask server (SQLite, local photo storage) on
// 127.0.0.1: 30 visits through drops, lost answers, kills, busy gateways, refused records
// (not an image, too large, file gone, invalid), assignments closed before the visit (refused)
// and after it started (taken late), and storage filled by other data. Every record the phone
// accepted is on the server exactly once, or shown failed with a reason.

const fs = require('fs')
const path = require('path')
const { createNodeWx } = require('./node-wx')
const { startServers, registerProjectAndInspector, makeJpegs, callApi } = require('./servers')
const { createApi } = require('../../utils/api')
const { createFiles } = require('../../utils/files')
const { createUploader } = require('../../utils/uploader')
const { createQueue } = require('../../utils/queue')
const { rfc3339 } = require('../../utils/time')
const { runChaos, accountedWithoutServer } = require('../support/chaos')

jest.setTimeout(300000)

const VILLAGE = { lat: 27.1145, lng: 114.9876 }
const VISITS = 30

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

test(`${VISITS} chaotic visits reach the real server exactly once, or are shown failed with a reason`, async () => {
  const { admin, village, project, inspector } = await registerProjectAndInspector(servers, VILLAGE)

  const storage = new Map()
  const userData = path.join(servers.tmp, 'phone', 'usr')
  const camera = path.join(servers.tmp, 'phone', 'camera')
  const pool = makeJpegs(servers.py, path.join(servers.tmp, 'pool'), 12, [VILLAGE.lat, VILLAGE.lng])
  fs.mkdirSync(camera, { recursive: true })
  const netLog = []
  const rules = []
  let offline = false
  const faults = {
    request: () => (offline ? 'drop' : rules.length ? rules.shift() : null),
    upload: () =>
      offline
        ? 'drop'
        : rules.length && typeof rules[0] === 'string' && rules[0] !== 'kill'
          ? rules.shift() === 'drop'
            ? 'drop'
            : 'interrupt'
          : null
  }
  function boot() {
    const wx = createNodeWx({
      storage,
      userDataPath: userData,
      wechatUrl: servers.wechatUrl,
      openid: 'o-chaos-inspector',
      faults,
      log: netLog
    })
    const api = createApi({ wx, baseUrl: servers.apiBase })
    const files = createFiles({ wx })
    const uploader = createUploader({
      wx,
      api,
      maxAttempts: 2,
      sleep: () => new Promise(r => setTimeout(r, 2))
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
    return { wx, api, queue }
  }
  let phone = boot()
  await phone.api.bind(inspector.invite_code)
  let maxKey = 0
  let shot = 0

  const world = {
    queue: () => phone.queue,
    dead: () => phone.wx.dead,
    restart: () => {
      maxKey = Math.max(maxKey, phone.wx.stats.storageMaxKeyBytes)
      phone = boot()
      phone.queue.prune()
    },
    // The real server keeps real time: Retry-After answers below ask for no wait.
    advance: () => {},
    isoNow: () => rfc3339(new Date()),
    assignment: async closing => {
      const a = await ok(
        'POST',
        '/admin/assignments',
        {
          inspector_ids: [inspector.id],
          project_id: project.id,
          village_id: village.id,
          check_items: ['公示栏']
        },
        admin
      )
      const close = () =>
        ok('PATCH', `/admin/assignments/${a.id}`, { status: 'closed' }, admin, 200)
      if (closing === 'before') await close()
      return { id: a.id, close }
    },
    photoFile: (n, bad) => {
      const p = path.join(camera, `shot-${shot++}.jpg`)
      if (bad) fs.writeFileSync(p, 'BAD not a photo')
      else fs.copyFileSync(pool[shot % pool.length], p)
      return p
    },
    deleteFile: p => fs.rmSync(p, { force: true }),
    setOffline: off => {
      offline = off
    },
    rule: action => rules.push(action),
    clearRules: () => {
      rules.length = 0
    },
    failNext: status => rules.push({ busy: status, retryAfter: 0 }),
    fillStorage: headroom => {
      const keys = []
      for (let k = 0; phone.wx.storageBytes() < 10 * 1024 * 1024 - headroom; k++) {
        const room = 10 * 1024 * 1024 - headroom - phone.wx.storageBytes()
        const key = `other.app.data.${k}`
        phone.wx.setStorageSync(key, 'x'.repeat(Math.max(1, Math.min(1000 * 1024, room - 64))))
        keys.push(key)
      }
      return keys
    },
    releaseStorage: keys => keys.forEach(k => phone.wx.removeStorageSync(k))
  }

  const { records, stats } = await runChaos(world, {
    visits: VISITS,
    batch: 5,
    steps: 12,
    seed: 15
  })
  const queue = world.queue()
  const left = new Map(queue.items().map(i => [i.client_id, i]))
  const created = {}
  netLog.forEach(e => {
    if (e.kind === 'request' && e.client_id && e.status === 201)
      created[e.client_id] = (created[e.client_id] || 0) + 1
  })

  // What the department sees: every visit the phone started, read back from the server.
  const lanes = Array.from(
    new Set(records.filter(r => r.kind === 'start_visit').map(r => r.local_visit))
  )
  const server = {}
  for (const lv of lanes) {
    const id = queue.serverVisitId(lv)
    if (id) server[lv] = await ok('GET', `/visits/${id}`, undefined, admin, 200)
  }
  const missing = new Set()
  Object.values(server).forEach(v => (v.missing || []).forEach(m => missing.add(m.client_id)))

  let confirmed = 0
  records.forEach(r => {
    if (accountedWithoutServer(r, left, missing)) return
    confirmed++
    const v = server[r.local_visit]
    expect({ cid: r.client_id, kind: r.kind, onServer: !!v }).toEqual({
      cid: r.client_id,
      kind: r.kind,
      onServer: true
    })
    if (r.kind === 'submit') return expect(v.status).toBe('submitted')
    expect({ cid: r.client_id, kind: r.kind, created: created[r.client_id] }).toEqual({
      cid: r.client_id,
      kind: r.kind,
      created: 1
    })
    const holder = { checkin: v.checkins, interview: v.interviews, note: v.notes, photo: v.photos }[
      r.kind
    ]
    if (holder)
      expect(
        holder.filter(x => x.client_id === r.client_id).map(x => x.status || 'stored')
      ).toEqual([r.kind === 'photo' ? 'ready' : 'stored'])
  })
  // No duplicates: the server holds exactly what the phone accounts for.
  Object.entries(server).forEach(([lv, v]) => {
    const mine = records.filter(
      r => r.local_visit === lv && !left.has(r.client_id) && !missing.has(r.client_id)
    )
    expect(v.checkins).toHaveLength(mine.filter(r => r.kind === 'checkin').length)
    expect(v.interviews).toHaveLength(mine.filter(r => r.kind === 'interview').length)
    expect(v.notes).toHaveLength(mine.filter(r => r.kind === 'note').length)
    expect(v.photos.filter(p => p.status === 'ready')).toHaveLength(
      mine.filter(r => r.kind === 'photo').length
    )
  })
  expect(Object.values(server).filter(v => (v.flags || []).includes('late_sync')).length).toBe(
    stats.closedAfter
  )
  expect(Math.max(maxKey, phone.wx.stats.storageMaxKeyBytes)).toBeLessThanOrEqual(1024 * 1024)
  expect(confirmed).toBeGreaterThan(VISITS * 4)
  expect(stats.kills + stats.drops + stats.lost).toBeGreaterThan(10)
  expect(stats.closedBefore + stats.closedAfter).toBeGreaterThan(0)
})
