/**
 * @jest-environment node
 */
// Issue 15's seeded chaos over 300 visits against the fake server: kills, drops, lost
// answers, busy answers with Retry-After, refused records, assignments closing mid-visit and
// storage filled by other data. Every record the phone accepted reaches the server exactly
// once or is shown failed with a reason, and the outbox never passes WeChat's storage limits.
const { bootPhone, photoBytes } = require('../support/phone')
const { createFakeServer } = require('../support/fake-server')
const { KEY_LIMIT_BYTES, TOTAL_LIMIT_BYTES } = require('../support/wx-storage')
const { runChaos, accountedWithoutServer } = require('../support/chaos')
const { STORAGE_KEY, VISIT_KEY_PREFIX } = require('../../utils/queue')

jest.setTimeout(240000)

function fakeWorld(server, user, disk) {
  let phone = bootPhone(server, disk, { uploader: { maxAttempts: 2 }, wx: { uploadDelayMs: 0 } })
  const peak = { key: 0, outbox: 0 }
  const watch = () => {
    let outbox = 0
    disk.storage.forEach((v, k) => {
      if (k === STORAGE_KEY || k.indexOf(VISIT_KEY_PREFIX) === 0)
        outbox += Buffer.byteLength(JSON.stringify(v))
    })
    peak.outbox = Math.max(peak.outbox, outbox)
    peak.key = Math.max(peak.key, phone.wx.stats.storageMaxKeyBytes)
  }
  return {
    phone: () => phone,
    peak,
    queue: () => phone.queue,
    dead: () => phone.wx.dead,
    restart: () => {
      watch()
      phone = bootPhone(server, disk, { uploader: { maxAttempts: 2 }, wx: { uploadDelayMs: 0 } })
      phone.queue.prune()
    },
    advance: ms => server.advance(ms),
    isoNow: () => new Date(server.now()).toISOString(),
    assignment: closing => {
      const a = server.addAssignment([user.id])
      if (closing === 'before') server.closeAssignment(a.id, server.now() - 60 * 1000)
      return { id: a.id, close: () => server.closeAssignment(a.id) }
    },
    photoFile: (n, bad) =>
      phone.wx.putTempFile(`wxfile://tmp/chaos-${n}.jpg`, bad ? 'BAD not a photo' : photoBytes(n)),
    deleteFile: path => phone.wx.deleteFile(path),
    setOffline: off => {
      phone.wx.net.offline = off
    },
    rule: action => phone.wx.net.rule({ action }),
    clearRules: () => {
      phone.wx.net.clear()
      watch()
    },
    failNext: (status, retryAfter) =>
      server.failNext(
        /./,
        status,
        status === 429 ? 'rate_limited' : 'storage_unavailable',
        1,
        retryAfter
      ),
    fillStorage: headroom => {
      const keys = []
      for (let k = 0; phone.wx.storageBytes() < TOTAL_LIMIT_BYTES - headroom; k++) {
        const room = TOTAL_LIMIT_BYTES - headroom - phone.wx.storageBytes()
        const key = `other.app.data.${k}`
        phone.wx.setStorageSync(key, 'x'.repeat(Math.max(1, Math.min(1000 * 1024, room - 64))))
        keys.push(key)
      }
      return keys
    },
    releaseStorage: keys => keys.forEach(k => phone.wx.removeStorageSync(k))
  }
}

test('300 visits through kills, drops, busy servers, refusals, closed assignments and full storage', async () => {
  const server = createFakeServer()
  const { user, invite } = server.addUser(['inspector'], '李督查')
  const disk = { storage: new Map(), fs: new Map() }
  const world = fakeWorld(server, user, disk)
  await world.phone().api.bind(invite)
  server.log.length = 0

  const { records, stats } = await runChaos(world, {
    visits: Number(process.env.CHAOS_VISITS || 300),
    batch: 10,
    seed: 20261206
  })
  const queue = world.queue()
  const left = new Map(queue.items().map(i => [i.client_id, i]))
  const missing = new Set()
  server.visits.forEach(v => (v.missing || []).forEach(m => missing.add(m.client_id)))
  const created = {}
  server.log.forEach(e => {
    if (e.client_id && e.status === 201) created[e.client_id] = (created[e.client_id] || 0) + 1
  })

  const confirmed = {
    start_visit: 0,
    checkin: 0,
    photo: 0,
    interview: 0,
    checklist: 0,
    note: 0,
    submit: 0
  }
  records.forEach(r => {
    if (accountedWithoutServer(r, left, missing)) return
    confirmed[r.kind]++
    if (r.kind === 'submit') {
      expect(
        server.visits.get(queue.serverVisitId(r.local_visit)) ||
          Array.from(server.visits.values()).find(v => v.client_id === r.local_visit)
      ).toMatchObject({ status: 'submitted' })
      return
    }
    // Created exactly once; every other arrival was answered as a retry.
    expect({ cid: r.client_id, kind: r.kind, created: created[r.client_id] }).toEqual({
      cid: r.client_id,
      kind: r.kind,
      created: 1
    })
    if (r.kind === 'photo') {
      expect(
        Array.from(server.photos.values())
          .filter(p => p.client_id === r.client_id)
          .map(p => p.status)
      ).toEqual(['ready'])
    }
  })
  // Nothing on the server that the phone does not account for: no duplicates.
  expect(server.visits.size).toBe(confirmed.start_visit)
  expect(server.checkins.size).toBe(confirmed.checkin)
  expect(server.interviews.size).toBe(confirmed.interview)
  expect(server.checklists.size).toBe(confirmed.checklist)
  expect(server.notes.size).toBe(confirmed.note)
  expect(Array.from(server.photos.values()).filter(p => p.status === 'ready')).toHaveLength(
    confirmed.photo
  )
  expect(Array.from(server.visits.values()).filter(v => v.status === 'submitted')).toHaveLength(
    confirmed.submit
  )
  expect(
    Array.from(server.visits.values()).filter(v => v.flags.indexOf('late_sync') >= 0).length
  ).toBeGreaterThanOrEqual(stats.closedAfter - 2)

  // The outbox never came near WeChat's limits, even with other data filling storage.
  expect(world.peak.key).toBeLessThanOrEqual(KEY_LIMIT_BYTES)
  expect(world.peak.outbox).toBeLessThan(1024 * 1024)
  // The scenario really went through all of it.
  expect(
    records.filter(r => r.kind === 'start_visit').length + stats.refusedAtEntry
  ).toBeGreaterThanOrEqual(300)
  expect(stats.kills).toBeGreaterThan(20)
  expect(stats.closedBefore).toBeGreaterThan(5)
  expect(stats.closedAfter).toBeGreaterThan(5)
  expect(stats.pressure).toBeGreaterThan(3)
  expect(missing.size).toBeGreaterThan(10)
  expect(confirmed.submit).toBeGreaterThan(250)
})
