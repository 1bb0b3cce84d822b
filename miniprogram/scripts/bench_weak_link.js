#!/usr/bin/env node
// Benchmark (not a test): one visit of 10 photos of 4 MB over a 1 Mbit/s link that drops 3
// times at seeded uniform moments (each drop fails every upload in flight and cuts the link for
// 10 s), run through the real queue and uploader on the fake `wx` in virtual time. Prints the
// time until every photo is ready against the ideal (bytes / bandwidth) and the bytes put on
// the wire against the bytes needed, for a fixed 3 uploads at once (before issue 15 item 14)
// and for adaptive concurrency (after). Goal: ≤ 1.3× the ideal time and ≤ 1.3× the bytes.
//
//   node scripts/bench_weak_link.js [seeds=5] [photos=10] [mb=4] [mbit=1] [drops=3]

const { createApi } = require('../utils/api')
const { createFiles } = require('../utils/files')
const { createUploader } = require('../utils/uploader')
const { createQueue } = require('../utils/queue')
const { createFakeWx } = require('../tests/support/fake-wx')
const { createFakeServer, API } = require('../tests/support/fake-server')
const { createClock, createLink, seeded } = require('../tests/support/weak-link')

const [SEEDS, PHOTOS, MB, MBIT, DROPS] = [5, 10, 4, 1, 3].map(
  (d, i) => Number(process.argv[2 + i]) || d
)
const PHOTO_BYTES = MB * 1024 * 1024
const BANDWIDTH_BPS = MBIT * 1e6
const IDEAL_S = (PHOTOS * PHOTO_BYTES * 8) / BANDWIDTH_BPS

async function runOnce(seed, adaptive) {
  const rand = seeded(seed)
  const drops = Array.from({ length: DROPS }, () => Math.floor(rand() * IDEAL_S * 1000)).sort(
    (a, b) => a - b
  )
  const server = createFakeServer({ maxPhotoBytes: 64 * 1024 * 1024 })
  const { user, invite } = server.addUser(['inspector'], '李督查')
  const assignment = server.addAssignment([user.id])
  const clock = createClock(0)
  const link = createLink({
    clock,
    bandwidthBps: BANDWIDTH_BPS,
    latencyMs: 300,
    drops,
    cutMs: 10000
  })
  const wx = createFakeWx({ server, clock, link })
  const api = createApi({ wx, baseUrl: API })
  await api.bind(invite)
  const files = createFiles({ wx })
  const sleep = ms => new Promise(resolve => clock.setTimeout(resolve, ms))
  const uploader = createUploader({
    wx,
    api,
    maxConcurrent: 3,
    adaptive,
    sleep,
    now: () => clock.now()
  })
  const timers = {
    setTimeout: (fn, ms) => clock.setTimeout(fn, ms),
    clearTimeout: id => clock.clearTimeout(id)
  }
  const queue = createQueue({
    wx,
    api,
    uploader,
    files,
    now: () => new Date(server.now() + clock.now()),
    timers,
    flushOnEnqueue: false
  })
  // As app.js: when the signal is back, resume at once.
  wx.onNetworkStatusChange(res => {
    if (res.isConnected) queue.resume()
  })
  const lv = queue.enqueue({ kind: 'start_visit', assignment_id: assignment.id }).local_visit
  for (let i = 0; i < PHOTOS; i++) {
    const path = wx.putTempFile(`wxfile://tmp/bench-${i}.jpg`, Buffer.alloc(PHOTO_BYTES, i + 1))
    queue.enqueue({
      kind: 'photo',
      local_visit: lv,
      file: path,
      taken_at: new Date().toISOString(),
      lat: 27.11,
      lng: 114.99,
      coord_type: 'gcj02'
    })
  }
  const ready = () =>
    Array.from(server.photos.values()).filter(p => p.status === 'ready').length === PHOTOS
  queue.flush()
  const finished = await clock.runUntil(ready, 20 * IDEAL_S * 1000)
  queue.dispose()
  return {
    finished,
    seconds: clock.now() / 1000,
    bytes: link.stats.bytesOnWire,
    failedUploads: link.stats.failedUploads,
    maxInFlight: wx.stats.uploadsMaxActive
  }
}

function fmt(x, d) {
  return x.toFixed(d === undefined ? 2 : d)
}

async function main() {
  const needed = PHOTOS * PHOTO_BYTES
  console.log(
    `weak link: ${PHOTOS} photos × ${MB} MB at ${MBIT} Mbit/s, ${DROPS} drops (10 s cut each), ideal ${fmt(IDEAL_S, 1)} s, ${fmt(needed / 1e6, 1)} MB`
  )
  console.log(
    '| mode | seed | all ready (s) | × ideal | sent (MB) | × needed | uploads failed | max in flight |'
  )
  console.log('|---|---|---|---|---|---|---|---|')
  const sums = {}
  for (const [name, adaptive] of [
    ['fixed 3 (before)', false],
    ['adaptive (after)', true]
  ]) {
    sums[name] = { t: 0, b: 0 }
    for (let s = 1; s <= SEEDS; s++) {
      const r = await runOnce(1000 + s, adaptive)
      const t = r.seconds / IDEAL_S
      const b = r.bytes / needed
      sums[name].t += t
      sums[name].b += b
      console.log(
        `| ${name} | ${1000 + s} | ${r.finished ? fmt(r.seconds, 1) : 'not done'} | ${fmt(t)} | ${fmt(r.bytes / 1e6, 1)} | ${fmt(b)} | ${r.failedUploads} | ${r.maxInFlight} |`
      )
    }
  }
  console.log('')
  console.log('| mode | mean × ideal time | mean × bytes needed | goal ≤ 1.30 both |')
  console.log('|---|---|---|---|')
  Object.keys(sums).forEach(name => {
    const t = sums[name].t / SEEDS
    const b = sums[name].b / SEEDS
    console.log(`| ${name} | ${fmt(t)} | ${fmt(b)} | ${t <= 1.3 && b <= 1.3 ? 'met' : 'missed'} |`)
  })
}

main().catch(e => {
  console.error(e)
  process.exit(1)
})
