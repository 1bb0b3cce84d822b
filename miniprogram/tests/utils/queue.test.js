/**
 * @jest-environment node
 */
// The outbox's promise: nothing entered is lost and nothing is stored twice, across offline
// periods, lost answers, refusals and the app being killed at any moment.
const { inspectorPhone, photoBytes } = require('../support/phone')
const { settle, waitFor } = require('../support/fake-wx')
const { STORAGE_KEY, VISIT_KEY_PREFIX } = require('../../utils/queue')

const TMP = 'wxfile://tmp'

// A visit started on the phone for an assignment; answers its local_visit.
function startVisit(phone, assignmentId) {
  return phone.queue.enqueue({ kind: 'start_visit', assignment_id: assignmentId }).local_visit
}

function fiveActions(queue, assignmentId) {
  const start = queue.enqueue({ kind: 'start_visit', assignment_id: assignmentId })
  const lv = start.local_visit
  queue.enqueue({
    kind: 'checkin',
    local_visit: lv,
    lat: 27.11,
    lng: 114.99,
    accuracy_m: 12,
    coord_type: 'gcj02',
    client_time: '2026-05-04T09:31:00+08:00'
  })
  queue.enqueue({
    kind: 'interview',
    local_visit: lv,
    household: '3组王家',
    answers: { 是否知道本村书记项目: '知道' },
    satisfaction: '满意',
    notes: ''
  })
  queue.enqueue({ kind: 'checklist', local_visit: lv, items: [{ item: '公示栏', result: 'pass' }] })
  queue.enqueue({ kind: 'note', local_visit: lv, text: '村部无人值守' })
  return lv
}

function objectCount(server) {
  return (
    server.visits.size +
    server.checkins.size +
    server.interviews.size +
    server.checklists.size +
    server.notes.size
  )
}

// Every client_id reached the server; only its first arrival created (201), the rest were
// answered as retries (200).
function expectExactlyOnce(server) {
  const byId = {}
  server.log
    .filter(e => e.client_id && e.method !== 'GET' && !e.injected)
    .forEach(e => {
      ;(byId[e.client_id] = byId[e.client_id] || []).push(e.status)
    })
  for (const [cid, statuses] of Object.entries(byId)) {
    const created = statuses.filter(s => s === 201).length
    const isSubmit = server.log.some(e => e.client_id === cid && /\/submit$/.test(e.path))
    if (!isSubmit) expect({ cid, created }).toEqual({ cid, created: 1 })
    expect(statuses.every(s => s === 200 || s === 201)).toBe(true)
  }
  return byId
}

describe('offline, lost answers and restarts', () => {
  test('five actions enqueued offline survive in storage and are not sent', async () => {
    const { phone, assignment, server } = await inspectorPhone()
    phone.wx.net.offline = true
    fiveActions(phone.queue, assignment.id)
    expect(phone.queue.pendingCount()).toBe(5)
    const result = await phone.queue.flush()
    expect(result).toMatchObject({ sent: 0, pending: 5, offline: true })
    expect(server.log.filter(e => e.status)).toHaveLength(0)
    const lv = phone.queue.items()[0].local_visit
    expect(phone.wx.storage.get(STORAGE_KEY).visit_keys).toEqual([lv])
    expect(phone.wx.storage.get(VISIT_KEY_PREFIX + lv).items).toHaveLength(5)
    const ids = phone.queue.items().map(i => i.client_id)
    expect(new Set(ids).size).toBe(5)
  })

  test('lost answer, then a kill mid-flush, then a restart: each write stored exactly once', async () => {
    const { phone, assignment, server, restart } = await inspectorPhone()
    phone.wx.net.offline = true
    fiveActions(phone.queue, assignment.id)
    const queued = phone.queue.items().map(i => i.client_id)

    // Signal returns: start_visit goes through, the check-in's answer is lost on the way back.
    phone.wx.net.offline = false
    phone.wx.net.rule({
      kind: 'request',
      match: r => /checkins$/.test(r.url),
      action: 'lose_answer'
    })
    let r = await phone.queue.flush()
    expect(r).toMatchObject({ sent: 1, pending: 4, offline: true })

    // Next try: the check-in is resent (a retry), the interview is stored, and the app is
    // killed before that answer arrives.
    phone.wx.net.rule({ kind: 'request', match: r => /interviews$/.test(r.url), action: 'kill' })
    phone.queue.flush().catch(() => {}) // never settles: the app dies mid-flush
    await waitFor(() => phone.wx.dead)
    expect(server.interviews.size).toBe(1)

    const again = restart()
    expect(again.queue.items().map(i => i.client_id)).toEqual(queued.slice(2))
    r = await again.queue.flush()
    expect(r).toMatchObject({ pending: 0, failed: 0 })
    expect(again.queue.items()).toEqual([])

    const seen = expectExactlyOnce(server)
    expect(Object.keys(seen).sort()).toEqual(queued.slice().sort())
    expect(seen[queued[1]]).toEqual([201, 200]) // the check-in whose answer was lost
    expect(seen[queued[2]]).toEqual([201, 200]) // the interview answered after the restart
    expect(objectCount(server)).toBe(5)
    expect(server.checkins.size).toBe(1)
  })

  test('two visits in flight, server stored both, app killed before either answer: restart resends as retries', async () => {
    const { phone, server, user, restart } = await inspectorPhone()
    const a2 = server.addAssignment([user.id])
    const a1 = Array.from(server.assignments.values())[0]
    phone.wx.net.offline = true
    const lvA = startVisit(phone, a1.id)
    const lvB = startVisit(phone, a2.id)
    phone.queue.enqueue({
      kind: 'checkin',
      local_visit: lvA,
      lat: 27.1,
      lng: 114.9,
      accuracy_m: 8,
      client_time: '2026-05-04T09:31:00+08:00'
    })
    phone.queue.enqueue({ kind: 'note', local_visit: lvB, text: '到村' })
    phone.queue.enqueue({ kind: 'submit', local_visit: lvA })
    phone.wx.net.offline = false
    phone.wx.net.rule({ kind: 'request', match: r => /\/visits$/.test(r.url), action: 'hang' })
    phone.wx.net.rule({ kind: 'request', match: r => /\/visits$/.test(r.url), action: 'kill' })
    phone.queue.flush().catch(() => {}) // never settles: the app dies mid-flush
    await waitFor(() => phone.wx.dead)
    expect(server.visits.size).toBe(2) // stored, answers never arrived

    const again = restart()
    expect(again.queue.pendingCount()).toBe(5)
    await again.queue.flush()
    expect(again.queue.pendingCount()).toBe(0)
    expect(
      server
        .calls(/^\/visits$/)
        .map(c => c.status)
        .sort()
    ).toEqual([200, 200, 201, 201])
    expect(server.visits.size).toBe(2)
    expect(server.checkins.size + server.notes.size).toBe(2)
    const visitA = server.visits.get(again.queue.serverVisitId(lvA))
    expect(visitA.status).toBe('submitted')
    expect(again.queue.submittedAt(lvA)).toBeTruthy()
    expect(server.visits.get(again.queue.serverVisitId(lvB)).status).toBe('in_progress')
    expectExactlyOnce(server)
  })

  test('sent_at is the send time; client_id and the rest of the body never change', async () => {
    const { phone, assignment, server } = await inspectorPhone()
    const lv = phone.queue.enqueue({
      kind: 'start_visit',
      assignment_id: assignment.id,
      started_at: '2026-05-04T09:30:00+08:00'
    }).local_visit
    server.advance(60 * 1000)
    phone.wx.net.rule({
      kind: 'request',
      match: r => /\/visits$/.test(r.url),
      action: 'lose_answer'
    })
    await phone.queue.flush()
    server.advance(10 * 60 * 1000)
    await phone.queue.flush()
    const calls = server.calls(/^\/visits$/)
    expect(calls.map(c => c.status)).toEqual([201, 200])
    expect(calls[0].client_id).toBe(lv)
    expect(calls[1].client_id).toBe(lv)
    expect(Date.parse(calls[1].body.sent_at) - Date.parse(calls[0].body.sent_at)).toBe(
      10 * 60 * 1000
    )
    const strip = b => Object.assign({}, b, { sent_at: undefined })
    expect(strip(calls[1].body)).toEqual(strip(calls[0].body))
    expect(calls[0].body.sent_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d$/)
  })

  // The seeded chaos run lives in tests/utils/chaos.test.js (300 visits, issue 15).
})

describe('ordering within a visit', () => {
  test('a check-in never overtakes its start_visit, even when start_visit fails first', async () => {
    const { phone, assignment, server } = await inspectorPhone()
    const lv = startVisit(phone, assignment.id)
    phone.queue.enqueue({
      kind: 'checkin',
      local_visit: lv,
      lat: 27.1,
      lng: 114.9,
      accuracy_m: 8,
      client_time: '2026-05-04T09:31:00+08:00'
    })
    server.failNext(/^\/visits$/, 503, 'internal_error')
    await phone.queue.flush()
    expect(server.log.map(e => e.path)).toEqual(['/visits'])
    server.advance(10 * 1000) // past the lane's backoff
    await phone.queue.flush()
    expect(server.log.map(e => e.path)).toEqual([
      '/visits',
      '/visits',
      `/visits/${phone.queue.serverVisitId(lv)}/checkins`
    ])
  })

  test('submit waits for every photo of its visit; a later interview is slotted before a waiting submit', async () => {
    const { phone, assignment, server } = await inspectorPhone()
    const lv = startVisit(phone, assignment.id)
    phone.wx.putTempFile(`${TMP}/a.jpg`, photoBytes('a'))
    phone.queue.enqueue({
      kind: 'photo',
      local_visit: lv,
      file: `${TMP}/a.jpg`,
      taken_at: '2026-05-04T09:40:00+08:00',
      lat: 27.11,
      lng: 114.99
    })
    phone.queue.enqueue({ kind: 'submit', local_visit: lv })
    const late = phone.queue.enqueue({
      kind: 'interview',
      local_visit: lv,
      household: '李家',
      satisfaction: '基本满意'
    })
    expect(phone.queue.items().map(i => i.kind)).toEqual([
      'start_visit',
      'photo',
      'interview',
      'submit'
    ])
    // The first upload is interrupted: the submit must not go out before the photo is in.
    phone.wx.net.rule({ kind: 'upload', action: 'drop' })
    await phone.queue.flush()
    const submitAt = server.log.findIndex(e => /submit$/.test(e.path))
    const completeAt = server.log.findIndex(e => /complete$/.test(e.path) && e.status === 200)
    const interviewAt = server.log.findIndex(e => e.client_id === late.client_id)
    expect(completeAt).toBeGreaterThan(-1)
    expect(submitAt).toBeGreaterThan(completeAt)
    expect(submitAt).toBeGreaterThan(interviewAt)
    expect(server.visits.get(phone.queue.serverVisitId(lv)).status).toBe('submitted')
  })

  test('a failed item holds the submit back (visibly) until it is retried or removed', async () => {
    const { phone, assignment, server } = await inspectorPhone()
    const lv = startVisit(phone, assignment.id)
    const bad = phone.queue.enqueue({
      kind: 'interview',
      local_visit: lv,
      household: '',
      satisfaction: '满意'
    })
    phone.queue.enqueue({ kind: 'note', local_visit: lv, text: '后续事项照常发送' })
    phone.queue.enqueue({ kind: 'submit', local_visit: lv })
    await phone.queue.flush()
    const items = phone.queue.items()
    expect(items.map(i => [i.kind, i.status])).toEqual([
      ['interview', 'failed'],
      ['submit', 'pending']
    ])
    expect(items[0].error).toMatchObject({
      status: 400,
      code: 'validation_failed',
      message: '提交的数据不完整或格式不正确'
    })
    expect(server.notes.size).toBe(1)
    expect(phone.queue.pendingCount()).toBe(1)
    expect(phone.queue.failedCount()).toBe(1)
    // Not retried forever: another flush does not send it again.
    const before = server.log.length
    await phone.queue.flush()
    expect(server.log.length).toBe(before)
    expect(phone.queue.remove(bad.id)).toBe(true)
    await phone.queue.flush()
    expect(phone.queue.items()).toEqual([])
    expect(server.visits.get(phone.queue.serverVisitId(lv)).status).toBe('submitted')
  })
})

describe('refusals', () => {
  test('409 client_id_conflict is kept as failed, shown with the server message, and can be retried', async () => {
    const { phone, assignment, server } = await inspectorPhone()
    const lv = startVisit(phone, assignment.id)
    await phone.queue.flush()
    const note = phone.queue.enqueue({
      kind: 'note',
      local_visit: lv,
      text: '第一条',
      client_id: '0b6b8c1e-2a7d-4b43-9d55-b8d2a3f4c111'
    })
    await phone.queue.flush()
    const clash = phone.queue.enqueue({
      kind: 'note',
      local_visit: lv,
      text: '另一条',
      client_id: '0b6b8c1e-2a7d-4b43-9d55-b8d2a3f4c111'
    })
    await phone.queue.flush()
    expect(phone.queue.items()).toEqual([
      expect.objectContaining({
        id: clash.id,
        status: 'failed',
        error: expect.objectContaining({ code: 'client_id_conflict', status: 409 })
      })
    ])
    expect(server.notes.size).toBe(1)
    expect(note.client_id).toBe(clash.client_id)
    server.log.length = 0
    await phone.queue.flush()
    expect(server.log).toHaveLength(0)
    expect(phone.queue.retry(clash.id)).toBe(true)
    expect(phone.queue.items()[0].status).toBe('pending')
    await phone.queue.flush()
    expect(server.log).toHaveLength(1)
    expect(phone.queue.failedCount()).toBe(1)
  })

  test('after submit a note is still accepted, a new photo is refused visit_submitted and kept', async () => {
    const { phone, assignment, server } = await inspectorPhone()
    const lv = startVisit(phone, assignment.id)
    phone.queue.enqueue({ kind: 'submit', local_visit: lv })
    await phone.queue.flush()
    phone.queue.enqueue({ kind: 'note', local_visit: lv, text: '补充：村书记外出' })
    phone.wx.putTempFile(`${TMP}/late.jpg`, photoBytes('late'))
    const photo = phone.queue.enqueue({
      kind: 'photo',
      local_visit: lv,
      file: `${TMP}/late.jpg`,
      taken_at: '2026-05-04T11:00:00+08:00',
      lat: 27.1,
      lng: 114.9
    })
    await phone.queue.flush()
    expect(server.notes.size).toBe(1)
    const left = phone.queue.items()
    expect(left).toEqual([
      expect.objectContaining({
        id: photo.id,
        status: 'failed',
        error: expect.objectContaining({ code: 'visit_submitted' })
      })
    ])
    expect(phone.files.size(left[0].file)).toBeGreaterThan(0)
  })

  test('a photo the server rejects is failed and its file kept for a retake', async () => {
    const { phone, assignment, server } = await inspectorPhone()
    const lv = startVisit(phone, assignment.id)
    phone.wx.putTempFile(`${TMP}/bad.jpg`, 'BAD not an image')
    const item = phone.queue.enqueue({
      kind: 'photo',
      local_visit: lv,
      file: `${TMP}/bad.jpg`,
      taken_at: '2026-05-04T09:40:00+08:00',
      lat: 27.1,
      lng: 114.9
    })
    expect(item.file.startsWith(phone.wx.env.USER_DATA_PATH + '/')).toBe(true)
    await phone.queue.flush()
    const [failed] = phone.queue.items()
    expect(failed).toMatchObject({
      status: 'failed',
      error: { code: 'photo_not_image', status: 422, message: '文件不是图片' }
    })
    expect(phone.files.size(failed.file)).toBe('BAD not an image'.length)
    expect(Array.from(server.photos.values())[0].status).toBe('rejected')
    phone.queue.remove(failed.id)
    expect(phone.files.size(failed.file)).toBeNull()
  })
})

describe('photos', () => {
  test('the original is kept at enqueue and deleted only after complete answered ready', async () => {
    const { phone, assignment, server, restart } = await inspectorPhone()
    const lv = startVisit(phone, assignment.id)
    phone.wx.putTempFile(`${TMP}/p.jpg`, photoBytes('p'))
    const item = phone.queue.enqueue({
      kind: 'photo',
      local_visit: lv,
      file: `${TMP}/p.jpg`,
      taken_at: '2026-05-04T09:40:00+08:00',
      lat: 27.1,
      lng: 114.9,
      coord_type: 'gcj02'
    })
    expect(phone.wx.fs.has(`${TMP}/p.jpg`)).toBe(false)
    expect(phone.wx.fs.has(item.file)).toBe(true)
    // The app is killed while complete is out: the server verified it, the phone never heard.
    phone.wx.net.rule({ kind: 'request', match: r => /complete$/.test(r.url), action: 'kill' })
    phone.queue.flush().catch(() => {}) // never settles: the app dies mid-flush
    await waitFor(() => phone.wx.dead)
    expect(Array.from(server.photos.values())[0].status).toBe('ready')
    expect(phone.wx.fs.has(item.file)).toBe(true)
    const again = restart()
    const [resumed] = again.queue.items()
    expect(resumed).toMatchObject({ photo_id: expect.any(Number), uploaded: true })
    await again.queue.flush()
    expect(again.queue.items()).toEqual([])
    // Kept for the photo strip until the page has the server's thumbnail.
    expect(again.queue.shownFiles(lv)).toEqual({ [item.client_id]: item.file })
    expect(again.queue.releaseFiles([item.client_id])).toBe(1)
    expect(phone.wx.fs.has(item.file)).toBe(false)
    expect(server.photos.size).toBe(1)
    expect(server.uploads).toHaveLength(1) // resumed at complete, not uploaded again
    expect(again.queue.result(item.client_id)).toMatchObject({
      kind: 'photo',
      id: resumed.photo_id
    })
  })

  test('progress is reported per photo and listeners hear about it', async () => {
    const { phone, assignment } = await inspectorPhone()
    const lv = startVisit(phone, assignment.id)
    phone.wx.putTempFile(`${TMP}/q.jpg`, photoBytes('q'))
    phone.queue.enqueue({
      kind: 'photo',
      local_visit: lv,
      file: `${TMP}/q.jpg`,
      taken_at: '2026-05-04T09:40:00+08:00',
      lat: 27.1,
      lng: 114.9
    })
    const seen = []
    const off = phone.queue.onChange(s => {
      const p = s.items.find(i => i.kind === 'photo')
      if (p) seen.push([p.status, p.progress])
    })
    await phone.queue.flush()
    expect(seen).toContainEqual(['sending', 50])
    expect(seen).toContainEqual(['sending', 100])
    off()
    phone.queue.enqueue({ kind: 'note', local_visit: lv, text: 'x' })
    expect(seen[seen.length - 1]).toEqual(['sending', 100])
  })

  test('photos_waiting from the server resumes a queued photo that was marked failed by a transient trouble', async () => {
    const { phone, assignment, server } = await inspectorPhone()
    const lv = startVisit(phone, assignment.id)
    phone.wx.putTempFile(`${TMP}/w.jpg`, photoBytes('w'))
    const item = phone.queue.enqueue({
      kind: 'photo',
      local_visit: lv,
      file: `${TMP}/w.jpg`,
      taken_at: '2026-05-04T09:40:00+08:00',
      lat: 27.1,
      lng: 114.9
    })
    server.failNext(/complete$/, 404, 'not_found') // e.g. a proxy hiccup answered 404
    await phone.queue.flush()
    expect(phone.queue.items()[0].status).toBe('failed')
    const detail = await phone.api.request('GET', `/visits/${phone.queue.serverVisitId(lv)}`)
    expect(detail.data.photos_waiting).toEqual([
      { id: expect.any(Number), client_id: item.client_id }
    ])
    expect(phone.queue.resumeWaiting(detail.data.photos_waiting)).toBe(1)
    await phone.queue.flush()
    expect(phone.queue.items()).toEqual([])
    expect(Array.from(server.photos.values()).map(p => p.status)).toEqual(['ready'])
  })
})

describe('feedback', () => {
  test('a villager feedback waits for its photos and sends their server ids', async () => {
    const { phone, server } = await inspectorPhone()
    phone.wx.putTempFile(`${TMP}/f1.jpg`, photoBytes('f1'))
    phone.wx.putTempFile(`${TMP}/f2.jpg`, photoBytes('f2'))
    const p1 = phone.queue.enqueue({ kind: 'photo', feedback: true, file: `${TMP}/f1.jpg` })
    const p2 = phone.queue.enqueue({ kind: 'photo', feedback: true, file: `${TMP}/f2.jpg` })
    const fb = phone.queue.enqueue({
      kind: 'feedback',
      project_id: 7,
      rating: 'concern',
      category: 'progress',
      text: '路灯还没装',
      photo_local_ids: [p1.client_id, p2.client_id],
      contact_phone: null,
      anonymous: true,
      notify: false
    })
    phone.wx.net.rule({
      kind: 'request',
      match: r => /feedback$/.test(r.url),
      action: 'lose_answer'
    })
    await phone.queue.flush()
    await phone.queue.flush()
    const calls = server.calls(/feedback$/)
    expect(calls.map(c => c.status)).toEqual([201, 200])
    const ids = [phone.queue.result(p1.client_id).id, phone.queue.result(p2.client_id).id]
    expect(calls[0].body.photo_ids).toEqual(ids)
    expect(calls[0].body).not.toHaveProperty('contact_phone')
    expect(calls[0].body).not.toHaveProperty('photo_local_ids')
    expect(server.feedback.size).toBe(1)
    expect(phone.queue.result(fb.client_id)).toMatchObject({
      kind: 'feedback',
      receipt_no: expect.stringMatching(/^FK/)
    })
  })
})

describe('housekeeping', () => {
  test('onChange listeners get {pending, failed, items} and can unsubscribe', async () => {
    const { phone, assignment } = await inspectorPhone()
    const calls = []
    const off = phone.queue.onChange(s => calls.push(s.pending))
    phone.queue.enqueue({ kind: 'start_visit', assignment_id: assignment.id })
    expect(calls).toEqual([1])
    off()
    await phone.queue.flush()
    expect(calls).toEqual([1])
    expect(phone.queue.pendingCount()).toBe(0)
  })

  test('a second submit for the same visit is not queued twice', async () => {
    const { phone, assignment } = await inspectorPhone()
    const lv = startVisit(phone, assignment.id)
    const s1 = phone.queue.enqueue({ kind: 'submit', local_visit: lv })
    const s2 = phone.queue.enqueue({ kind: 'submit', local_visit: lv })
    expect(s2.id).toBe(s1.id)
    expect(phone.queue.pendingCount()).toBe(2)
  })

  test('a full storage refuses the write loudly instead of pretending it was kept', async () => {
    const { phone, assignment, restart } = await inspectorPhone()
    const lv = startVisit(phone, assignment.id)
    // Other keys fill WeChat's 10 MB up to a few hundred bytes.
    for (let k = 0; phone.wx.storageBytes() < 10 * 1024 * 1024 - 1100 * 1024; k++)
      phone.wx.setStorageSync(`junk.${k}`, 'x'.repeat(1000 * 1024))
    phone.wx.setStorageSync(
      'junk.last',
      'x'.repeat(10 * 1024 * 1024 - phone.wx.storageBytes() - 600)
    )
    expect(() =>
      phone.queue.enqueue({ kind: 'note', local_visit: lv, text: '很长的备注'.repeat(100) })
    ).toThrow(expect.objectContaining({ code: 'storage_full' }))
    expect(phone.queue.pendingCount()).toBe(1)
    expect(restart().queue.pendingCount()).toBe(1)
  })

  test('programming errors in actions are caught at enqueue', async () => {
    const { phone } = await inspectorPhone()
    expect(() => phone.queue.enqueue({ kind: 'launch' })).toThrow(/unknown/)
    expect(() => phone.queue.enqueue({ kind: 'checkin', lat: 1 })).toThrow(/local_visit/)
    expect(() => phone.queue.enqueue({ kind: 'photo', local_visit: 'x' })).toThrow(/file/)
  })

  test('after a network failure a retry is scheduled with backoff, and it flushes', async () => {
    const timers = []
    const { assignment, server, restart } = await inspectorPhone()
    const q = restart({
      queue: {
        autoRetry: true,
        timers: {
          setTimeout: (fn, ms) => {
            timers.push({ fn, ms })
            return timers.length
          },
          clearTimeout: () => {}
        }
      }
    }).queue
    q.enqueue({ kind: 'start_visit', assignment_id: assignment.id })
    expect(q.pendingCount()).toBe(1)
    server.failNext(/^\/visits$/, 503, 'internal_error')
    await q.flush()
    expect(timers).toHaveLength(1)
    expect(timers[0].ms).toBe(5000) // the lane's first backoff, no Retry-After given
    server.advance(timers[0].ms)
    timers[0].fn()
    await settle()
    await q.flush()
    expect(q.pendingCount()).toBe(0)
    expect(server.visits.size).toBe(1)
  })

  test('flushOnEnqueue sends without an explicit flush', async () => {
    const { assignment, server, restart } = await inspectorPhone()
    const p = restart({ queue: { flushOnEnqueue: true } })
    p.queue.enqueue({ kind: 'start_visit', assignment_id: assignment.id })
    await settle(30)
    await p.queue.flush()
    expect(server.visits.size).toBe(1)
    expect(p.queue.pendingCount()).toBe(0)
  })
})

describe('issue 15: lanes back off on their own (item 5)', () => {
  test('a 429 with Retry-After holds only its visit; the other visit goes on; the wait is as long as asked', async () => {
    const timers = []
    const { server, user, assignment, restart } = await inspectorPhone()
    const other = server.addAssignment([user.id])
    const phone = restart({
      queue: {
        autoRetry: true,
        timers: {
          setTimeout: (fn, ms) => {
            timers.push({ fn, ms })
            return timers.length
          },
          clearTimeout: () => {}
        }
      }
    })
    const lvA = startVisit(phone, assignment.id)
    const lvB = startVisit(phone, other.id)
    phone.queue.enqueue({ kind: 'note', local_visit: lvA, text: 'A' })
    phone.queue.enqueue({ kind: 'note', local_visit: lvB, text: 'B' })
    server.failNext(/^\/visits$/, 429, 'rate_limited', 1, 120)
    const r = await phone.queue.flush()
    expect(r).toMatchObject({ offline: false, waiting: true })
    expect(phone.queue.serverVisitId(lvB)).toBeTruthy()
    expect(server.notes.size).toBe(1)
    expect(phone.queue.serverVisitId(lvA)).toBeNull()
    expect(timers.map(t => t.ms)).toEqual([120000])
    expect(phone.queue.status().waits[lvA]).toMatchObject({ status: 429 })
    server.advance(60 * 1000)
    await phone.queue.flush()
    expect(phone.queue.serverVisitId(lvA)).toBeNull() // still inside the asked wait
    server.advance(61 * 1000)
    await phone.queue.flush()
    expect(server.notes.size).toBe(2)
    expect(phone.queue.pendingCount()).toBe(0)
  })

  test('no signal still stops every lane at once', async () => {
    const { phone, server, user, assignment } = await inspectorPhone()
    const other = server.addAssignment([user.id])
    phone.queue.enqueue({ kind: 'start_visit', assignment_id: assignment.id })
    phone.queue.enqueue({ kind: 'start_visit', assignment_id: other.id })
    phone.wx.net.rule({ kind: 'request', action: 'drop', times: 2 })
    const r = await phone.queue.flush()
    expect(r).toMatchObject({ offline: true, pending: 2, waiting: false })
    expect(server.log).toHaveLength(0)
    expect(phone.queue.status().offline).toBe(true)
  })
})

describe('issue 15: storage (item 9)', () => {
  test('sixty visits with long notes fit: each visit has its own key, none near 1 MB', async () => {
    const { phone, server, user } = await inspectorPhone()
    phone.wx.net.offline = true
    for (let v = 0; v < 60; v++) {
      const a = server.addAssignment([user.id])
      const lv = startVisit(phone, a.id)
      for (let k = 0; k < 4; k++)
        phone.queue.enqueue({
          kind: 'note',
          local_visit: lv,
          text: `第${k}条：${'村部无人值守，'.repeat(400)}`
        })
    }
    expect(phone.queue.pendingCount()).toBe(300)
    expect(phone.wx.stats.storageMaxKeyBytes).toBeLessThan(200 * 1024)
    expect(phone.wx.stats.storageRefused).toBe(0)
  })

  test('visits the server confirmed are forgotten after 30 days; recent ones and busy ones stay', async () => {
    const { phone, server, user, assignment, restart } = await inspectorPhone()
    const old = startVisit(phone, assignment.id)
    phone.queue.enqueue({ kind: 'submit', local_visit: old })
    await phone.queue.flush()
    server.advance(31 * 24 * 3600 * 1000)
    const a2 = server.addAssignment([user.id])
    const fresh = startVisit(phone, a2.id)
    phone.queue.enqueue({ kind: 'submit', local_visit: fresh })
    await phone.queue.flush()
    expect(phone.wx.storage.has(VISIT_KEY_PREFIX + old)).toBe(true)
    const again = restart()
    again.queue.prune()
    expect(phone.wx.storage.has(VISIT_KEY_PREFIX + old)).toBe(false)
    expect(again.queue.serverVisitId(old)).toBeNull()
    expect(again.queue.submittedAt(fresh)).toBeTruthy()
    expect(phone.wx.storage.get(STORAGE_KEY).visit_keys).toEqual([fresh])
  })

  test('a file kept before the app died (never queued) is deleted at start; queued ones stay', async () => {
    const { phone, assignment, restart } = await inspectorPhone()
    phone.wx.net.offline = true
    const lv = startVisit(phone, assignment.id)
    phone.wx.putTempFile(`${TMP}/k.jpg`, photoBytes('k'))
    const queued = phone.queue.enqueue({
      kind: 'photo',
      local_visit: lv,
      file: `${TMP}/k.jpg`,
      taken_at: '2026-05-04T09:40:00+08:00',
      lat: 27.1,
      lng: 114.9
    })
    const orphan = phone.files.keep(phone.wx.putTempFile(`${TMP}/o.jpg`, photoBytes('o')))
    phone.wx.kill()
    const again = restart()
    expect(again.queue.prune()).toEqual({ orphans: 1 })
    expect(phone.wx.fs.has(orphan)).toBe(false)
    expect(phone.wx.fs.has(queued.file)).toBe(true)
  })

  test('the photo file kept for a save that storage refused is not left behind', async () => {
    const { phone, assignment } = await inspectorPhone()
    const lv = startVisit(phone, assignment.id)
    for (let k = 0; phone.wx.storageBytes() < 10 * 1024 * 1024 - 1100 * 1024; k++)
      phone.wx.setStorageSync(`junk.${k}`, 'x'.repeat(1000 * 1024))
    phone.wx.setStorageSync(
      'junk.last',
      'x'.repeat(10 * 1024 * 1024 - phone.wx.storageBytes() - 200)
    )
    phone.wx.putTempFile(`${TMP}/full.jpg`, photoBytes('full'))
    expect(() =>
      phone.queue.enqueue({
        kind: 'photo',
        local_visit: lv,
        file: `${TMP}/full.jpg`,
        taken_at: '2026-05-04T09:40:00+08:00',
        lat: 27.1,
        lng: 114.9
      })
    ).toThrow(expect.objectContaining({ code: 'storage_full' }))
    expect(phone.files.listKept()).toEqual([])
  })
})
