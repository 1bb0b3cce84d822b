// The outbox: every write an inspector or villager makes goes here first, is saved in storage
// at once, and leaves only when the server answered 2xx. Each write carries a client_id fixed
// when it was queued, so a write whose answer was lost is simply sent again and the server
// answers it as a retry: nothing is lost and nothing is stored twice, whatever the signal
// does or when the app is killed.

const { uuid4 } = require('./uuid')
const { rfc3339 } = require('./time')
const { apiError, isTransient } = require('./api')

const STORAGE_KEY = 'outbox.v1'
// Each visit's items and ids live under a key of their own: WeChat allows 1 MB per key and
// 10 MB in all, and one key for everything grows past the first with a few dozen visits.
const VISIT_KEY_PREFIX = 'outbox.visit.'
// A visit the server confirmed entirely is forgotten this long after its last answer.
const RETENTION_MS = 30 * 24 * 3600 * 1000
// An uploaded visit photo's original stays this long for the photo strip, unless released.
const SHOWN_FILE_MS = 24 * 3600 * 1000
const LANE_RETRY_BASE_MS = 5000
const LANE_RETRY_MAX_MS = 5 * 60 * 1000
const KINDS = [
  'start_visit',
  'checkin',
  'photo',
  'interview',
  'checklist',
  'note',
  'submit',
  'feedback',
  'application',
  'application_edit',
  'transition',
  'report',
  'rectification_response'
]
const VISIT_KINDS = ['start_visit', 'checkin', 'interview', 'checklist', 'note', 'submit']
// A project's own writes (its application and its moves) go in order, one lane per project.
const PROJECT_KINDS = ['application', 'application_edit', 'transition']
// Writes that name photos queued before them and wait until those are on the server.
const PHOTO_WAITERS = ['feedback', 'report', 'rectification_response']
// Photos that belong to no visit: where their ticket comes from, and the lane they travel in.
const PHOTO_TARGETS = ['report', 'rectification']
const MAX_RESULTS = 100
const RETRY_BASE_MS = 5000
const RETRY_MAX_MS = 5 * 60 * 1000

function clone(x) {
  return x === undefined ? undefined : JSON.parse(JSON.stringify(x))
}

function emptyState() {
  return {
    version: 2,
    items: [],
    visits: {},
    projects: {},
    submitted: {},
    photos: {},
    results: {},
    result_order: [],
    touched: {},
    shown_files: {},
    last_sync: null,
    batch: null
  }
}

// What a submit may list as given up (the server's `missing` kinds).
const MISSING_KINDS = ['photo', 'interview', 'checkin', 'checklist', 'note']

// Fields the page may still change on a queued photo (a fix that came late, no fix at all).
const PATCHABLE = ['lat', 'lng', 'coord_type', 'accuracy_m', 'no_fix', 'awaiting_fix']

// Only the fields the server takes, and no nulls: its schemas refuse unknown or null fields.
function pick(source, fields) {
  const out = {}
  fields.forEach(f => {
    if (source[f] !== undefined && source[f] !== null) out[f] = source[f]
  })
  return out
}

/** The lane an item travels in: items of one lane go in order, lanes are independent. */
function laneOf(item) {
  if (item.kind === 'feedback' || item.feedback) return 'feedback'
  if (item.kind === 'report' || item.target === 'report') return 'report'
  if (item.kind === 'rectification_response' || item.target === 'rectification')
    return 'rectification'
  if (PROJECT_KINDS.indexOf(item.kind) >= 0)
    return `project:${item.local_project || item.project_id}`
  return item.local_visit
}

// A visit's photo has a visit to wait for; the others (feedback, report, rectification) do not.
function isVisitPhoto(item) {
  return item.kind === 'photo' && !item.feedback && !item.target
}

/** The outbox: createQueue({ wx, api, uploader, files, now }) → { enqueue, items, pendingCount, flush, onChange, ... }. */
function createQueue(options) {
  const wx = options.wx
  const api = options.api
  const uploader = options.uploader
  const files = options.files || null
  const now = options.now || (() => new Date())
  const newId = options.uuid || (() => uuid4())
  const timers = options.timers || {
    setTimeout: (fn, ms) => setTimeout(fn, ms),
    clearTimeout: t => clearTimeout(t)
  }
  const autoRetry = options.autoRetry !== false
  const flushOnEnqueue = options.flushOnEnqueue !== false

  const listeners = []
  const sending = {} // item id → true while its request is out (memory only: a restart resends)
  const progress = {} // item id → upload progress 0–100 (memory only)
  const written = {} // storage key → the JSON last written there (unchanged keys are not rewritten)
  const state = load()
  const laneWait = {} // lane → {until, reason} after an HTTP 429/5xx (memory only)
  let offlineNow = false
  let flushing = null
  let rerun = false
  let retryTimer = null
  let soonTimer = null
  let transientPasses = 0

  function nowMs() {
    const t = now()
    return t instanceof Date ? t.getTime() : t
  }

  function read(key) {
    const raw = wx.getStorageSync(key)
    return raw && typeof raw === 'object' ? raw : raw ? JSON.parse(raw) : null
  }

  function load() {
    const s = read(STORAGE_KEY)
    const base = emptyState()
    if (!s) return base
    const out = Object.assign(base, s, {
      items: Array.isArray(s.items) ? s.items : [],
      projects: s.projects || {}
    })
    // Version 1 kept every visit in this key; version 2 lists the visits stored under their own keys.
    ;(s.visit_keys || []).forEach(lv => {
      const v = read(VISIT_KEY_PREFIX + lv)
      if (!v) return
      written[VISIT_KEY_PREFIX + lv] = JSON.stringify(v)
      out.items = out.items.concat(v.items || [])
      if (v.visit_id) out.visits[lv] = v.visit_id
      if (v.submitted_at) out.submitted[lv] = v.submitted_at
      if (v.touched_at) out.touched[lv] = v.touched_at
      if (v.closed) out.closed = Object.assign(out.closed || {}, { [lv]: v.closed })
    })
    delete out.visit_keys
    out.items.forEach(i => {
      // The app was killed while a photo waited for its fix: no fix is coming any more.
      if (i.awaiting_fix) {
        i.awaiting_fix = false
        i.no_fix = true
      }
    })
    return out
  }

  function visitLanes() {
    const lanes = {}
    Object.keys(state.visits).forEach(lv => {
      lanes[lv] = true
    })
    Object.keys(state.submitted).forEach(lv => {
      lanes[lv] = true
    })
    Object.keys(state.closed || {}).forEach(lv => {
      lanes[lv] = true
    })
    state.items.forEach(i => {
      if (i.local_visit && !i.feedback && !i.target && laneOf(i) === i.local_visit)
        lanes[i.local_visit] = true
    })
    return Object.keys(lanes)
  }

  function writeKey(key, value) {
    const text = JSON.stringify(value)
    if (written[key] === text) return
    wx.setStorageSync(key, value)
    written[key] = text
  }

  // Written synchronously after every change: the moment a call returns, the write survives
  // the app being killed. A full storage throws here, so the caller learns it was not kept.
  // Visit keys go first: the main key names them, and must never name one not yet written.
  function save(onlyLane) {
    // The hot paths (an answer, a progress state) change one visit: write just that one.
    if (onlyLane && written[VISIT_KEY_PREFIX + onlyLane] !== undefined) return saveLane(onlyLane)
    const lanes = visitLanes()
    const byLane = {}
    lanes.forEach(lv => {
      byLane[lv] = []
    })
    const rest = []
    state.items.forEach(i => {
      const l = laneOf(i)
      if (byLane[l]) byLane[l].push(i)
      else rest.push(i)
    })
    lanes.forEach(lv => {
      writeKey(VISIT_KEY_PREFIX + lv, {
        items: byLane[lv],
        visit_id: state.visits[lv] || null,
        submitted_at: state.submitted[lv] || null,
        touched_at: state.touched[lv] || null,
        closed: (state.closed && state.closed[lv]) || null
      })
    })
    const main = Object.assign({}, state, {
      items: rest,
      visits: {},
      submitted: {},
      touched: {},
      closed: {},
      visit_keys: lanes
    })
    writeKey(STORAGE_KEY, main)
    Object.keys(written).forEach(key => {
      if (key.indexOf(VISIT_KEY_PREFIX) === 0 && !byLane[key.slice(VISIT_KEY_PREFIX.length)]) {
        wx.removeStorageSync(key)
        delete written[key]
      }
    })
  }

  function saveLane(lv) {
    writeKey(VISIT_KEY_PREFIX + lv, {
      items: state.items.filter(i => laneOf(i) === lv),
      visit_id: state.visits[lv] || null,
      submitted_at: state.submitted[lv] || null,
      touched_at: state.touched[lv] || null,
      closed: (state.closed && state.closed[lv]) || null
    })
    const main = Object.assign({}, state, {
      items: state.items.filter(i => {
        const l = laneOf(i)
        return !(written[VISIT_KEY_PREFIX + l] !== undefined)
      }),
      visits: {},
      submitted: {},
      touched: {},
      closed: {},
      visit_keys: Object.keys(written)
        .filter(k => k.indexOf(VISIT_KEY_PREFIX) === 0)
        .map(k => k.slice(VISIT_KEY_PREFIX.length))
    })
    writeKey(STORAGE_KEY, main)
  }

  function find(id) {
    return state.items.find(i => i.id === id) || null
  }

  function view(item) {
    const out = clone(item)
    out.status = item.status === 'failed' ? 'failed' : sending[item.id] ? 'sending' : 'pending'
    out.progress = progress[item.id] || 0
    return out
  }

  function snapshot() {
    return { pending: pendingCount(), failed: failedCount(), items: items() }
  }

  function emit() {
    if (!listeners.length) return
    const snap = snapshot()
    listeners.slice().forEach(fn => {
      try {
        fn(snap)
      } catch (e) {
        // A page's listener must not break the outbox.
      }
    })
  }

  function remember(clientId, result) {
    state.results[clientId] = result
    state.result_order = (state.result_order || []).concat([clientId])
    while (state.result_order.length > MAX_RESULTS) delete state.results[state.result_order.shift()]
  }

  function validate(action) {
    if (!action || KINDS.indexOf(action.kind) < 0)
      throw new Error(`unknown queue action kind: ${action && action.kind}`)
    const visitBound = VISIT_KINDS.indexOf(action.kind) >= 0 || isVisitPhoto(action)
    if (visitBound && action.kind !== 'start_visit' && !action.local_visit)
      throw new Error(`${action.kind} needs local_visit`)
    if (action.kind === 'start_visit' && !action.assignment_id)
      throw new Error('start_visit needs assignment_id')
    if (action.kind === 'photo' && !action.file) throw new Error('photo needs file')
    if (action.kind === 'feedback' && !action.project_id)
      throw new Error('feedback needs project_id')
    if (action.kind === 'photo' && action.target && PHOTO_TARGETS.indexOf(action.target) < 0)
      throw new Error(`unknown photo target: ${action.target}`)
    if (
      action.kind === 'application' &&
      !(action.fields && action.fields.title && action.fields.year)
    )
      throw new Error('application needs fields.title and fields.year')
    if (
      (action.kind === 'application_edit' || action.kind === 'transition') &&
      !action.local_project &&
      !action.project_id
    )
      throw new Error(`${action.kind} needs local_project or project_id`)
    if (action.kind === 'application_edit' && !action.fields)
      throw new Error('application_edit needs fields')
    if (action.kind === 'transition' && !action.action) throw new Error('transition needs action')
    if (
      action.kind === 'report' &&
      !(action.project_id && /^\d{4}-\d{2}$/.test(action.month || ''))
    )
      throw new Error('report needs project_id and month')
    if (action.kind === 'rectification_response' && !action.order_id)
      throw new Error('rectification_response needs order_id')
  }

  /** Save a write in the outbox (synchronously) and return the queued item with its client_id. */
  function enqueue(action) {
    validate(action)
    const item = clone(action)
    if (item.kind === 'start_visit') {
      // The start_visit's client_id is the visit's local name until the server gives an id.
      item.client_id = item.local_visit || item.client_id || newId()
      item.local_visit = item.client_id
      if (!item.started_at) item.started_at = rfc3339(now())
    } else if (item.kind === 'application') {
      // Like start_visit: the application's client_id names the project until the server's id is known.
      item.client_id = item.local_project || item.client_id || newId()
      item.local_project = item.client_id
    } else {
      item.client_id = item.client_id || newId()
    }
    if (item.kind === 'submit') {
      const open = state.items.find(i => i.kind === 'submit' && i.local_visit === item.local_visit)
      if (open) return view(open)
    }
    if (item.kind === 'photo' && files && !files.isKept(item.file)) {
      // Camera temp files do not survive the app: keep the original before queuing it.
      try {
        item.file = files.keep(item.file)
      } catch (e) {
        throw apiError({
          code: 'file_keep_failed',
          message: '照片未能保存到手机，存储空间可能不足，请清理后重拍',
          details: { errMsg: String((e && (e.errMsg || e.message)) || e) }
        })
      }
    }
    item.id = item.client_id
    item.status = 'pending'
    item.attempts = 0
    item.error = null
    item.queued_at = rfc3339(now())
    if (item.kind === 'photo' && !item.size && files && typeof files.size === 'function')
      item.size = files.size(item.file) || undefined
    // Anything added to a visit while its submit still waits goes before the submit, so the
    // submit really comes last (a retaken photo, a late interview).
    let at = state.items.length
    if (item.kind !== 'submit' && item.local_visit) {
      const submitAt = state.items.findIndex(
        i => i.kind === 'submit' && i.local_visit === item.local_visit
      )
      if (submitAt >= 0) at = submitAt
    }
    state.items.splice(at, 0, item)
    const batchBefore = state.batch
    if (item.kind === 'photo') countPhoto(item)
    try {
      save()
    } catch (e) {
      state.items.splice(at, 1)
      state.batch = batchBefore
      try {
        save() // what was written before the refusal is put back as it was
      } catch (e3) {
        // Nothing more to do: the refusal below says the write was not kept.
      }
      if (item.kind === 'photo' && files && item.file !== action.file) {
        try {
          files.remove(item.file)
        } catch (e2) {
          /* the orphan sweep gets it at the next start */
        }
      }
      throw apiError({
        code: 'storage_full',
        message: '手机存储空间不足，记录未能保存，请清理后重试'
      })
    }
    emit()
    if (flushing) rerun = true
    else if (flushOnEnqueue) flushSoon()
    return view(item)
  }

  /** Every queued item in sending order, with status pending | sending | failed, progress and error. */
  function items() {
    return state.items.map(view)
  }

  /** How many writes still wait for the server (failed ones excluded); optionally of one visit. */
  function pendingCount(localVisit) {
    return state.items.filter(
      i => i.status !== 'failed' && (!localVisit || i.local_visit === localVisit)
    ).length
  }

  /** How many writes the server refused and the user has to look at; optionally of one visit. */
  function failedCount(localVisit) {
    return state.items.filter(
      i => i.status === 'failed' && (!localVisit || i.local_visit === localVisit)
    ).length
  }

  /** Listen to every change (fn gets {pending, failed, items}); returns the unsubscribe function. */
  function onChange(fn) {
    listeners.push(fn)
    return () => {
      const i = listeners.indexOf(fn)
      if (i >= 0) listeners.splice(i, 1)
    }
  }

  function markFailed(item, err) {
    const cur = find(item.id)
    if (!cur) return
    cur.status = 'failed'
    cur.error = {
      code: err.code || 'error',
      message: err.message || '提交失败',
      status: err.status || 0,
      details: err.details || {}
    }
    save(laneOf(cur))
  }

  function removeItem(id) {
    const at = state.items.findIndex(i => i.id === id)
    if (at >= 0) state.items.splice(at, 1)
    delete progress[id]
  }

  // Overall progress since the outbox last had no photo: photos done/total and bytes.
  function countPhoto(item) {
    const b = state.batch || { photos_total: 0, photos_done: 0, bytes_total: 0, bytes_done: 0 }
    b.photos_total++
    b.bytes_total += item.size || 0
    state.batch = b
  }

  function photoDone(item) {
    const b = state.batch
    if (!b) return
    b.photos_done = Math.min(b.photos_total, b.photos_done + 1)
    b.bytes_done = Math.min(b.bytes_total, b.bytes_done + (item.size || 0))
    if (!state.items.some(i => i.kind === 'photo')) state.batch = null
  }

  function touch(item) {
    state.last_sync = rfc3339(now())
    if (item.local_visit && laneOf(item) === item.local_visit)
      state.touched[item.local_visit] = nowMs()
  }

  function projectIdOf(item) {
    return item.project_id || state.projects[item.local_project] || null
  }

  function bodyOf(item) {
    const sentAt = rfc3339(now())
    const base = { client_id: item.client_id, sent_at: sentAt }
    const vid = state.visits[item.local_visit]
    const pid = projectIdOf(item)
    switch (item.kind) {
      case 'start_visit':
        return {
          method: 'POST',
          path: '/visits',
          body: Object.assign(base, pick(item, ['assignment_id', 'started_at']))
        }
      case 'checkin':
        return {
          method: 'POST',
          path: `/visits/${vid}/checkins`,
          body: Object.assign(
            base,
            pick(item, ['lat', 'lng', 'accuracy_m', 'coord_type', 'client_time'])
          )
        }
      case 'interview':
        return {
          method: 'POST',
          path: `/visits/${vid}/interviews`,
          body: Object.assign(base, pick(item, ['household', 'answers', 'satisfaction', 'notes']))
        }
      case 'checklist':
        return {
          method: 'PUT',
          path: `/visits/${vid}/checklist`,
          body: Object.assign(base, pick(item, ['items']))
        }
      case 'note':
        return {
          method: 'POST',
          path: `/visits/${vid}/notes`,
          body: Object.assign(base, pick(item, ['text']))
        }
      case 'submit':
        return {
          method: 'POST',
          path: `/visits/${vid}/submit`,
          body:
            item.missing && item.missing.length
              ? Object.assign(base, { missing: item.missing })
              : base
        }
      case 'feedback':
        return {
          method: 'POST',
          path: `/public/projects/${item.project_id}/feedback`,
          body: Object.assign(
            base,
            pick(item, [
              'rating',
              'category',
              'text',
              'photo_ids',
              'contact_phone',
              'anonymous',
              'notify'
            ])
          )
        }
      case 'application':
        return {
          method: 'POST',
          path: '/projects/applications',
          body: Object.assign(base, pick(item.fields, Object.keys(item.fields)))
        }
      case 'application_edit':
        // A whole-form save without a client_id: sending it twice leaves the same draft.
        return {
          method: 'PATCH',
          path: `/projects/${pid}/application`,
          body: pick(item.fields, Object.keys(item.fields))
        }
      case 'transition':
        return {
          method: 'POST',
          path: `/projects/${pid}/transitions`,
          body: Object.assign(base, pick(item, ['action', 'opinion']))
        }
      case 'report':
        // The server keys a report by project and month: saving the same content again is a no-op.
        return {
          method: 'PUT',
          path: `/projects/${item.project_id}/reports/${item.month}`,
          body: Object.assign({ sent_at: sentAt }, pick(item, ['text', 'photo_ids', 'submit']))
        }
      case 'rectification_response':
        return {
          method: 'POST',
          path: `/rectifications/${item.order_id}/response`,
          body: Object.assign(base, pick(item, ['text', 'photo_ids']))
        }
    }
    throw new Error(`no request for ${item.kind}`)
  }

  // What the server's answer means for the rest of the outbox.
  function applyAnswer(item, data) {
    if (item.kind === 'start_visit') state.visits[item.local_visit] = data.id
    if (item.kind === 'submit') {
      state.submitted[item.local_visit] = data.submitted_at || rfc3339(now())
      // The server recorded what was given up: those refused items are done with.
      ;(item.missing || []).forEach(m => {
        const gone = find(m.client_id)
        if (!gone || gone.status !== 'failed') return
        removeItem(gone.id)
        if (gone.kind === 'photo') dropFile(gone.file)
      })
    }
    const short = item.kind === 'submit' && data.evidence_short
    const result = { kind: item.kind, id: data && data.id, local_visit: item.local_visit || null }
    if (item.kind === 'application') state.projects[item.local_project] = data.id
    if (item.kind === 'feedback')
      Object.assign(result, {
        receipt_no: data.receipt_no,
        status: data.status,
        status_label: data.status_label
      })
    if (PROJECT_KINDS.indexOf(item.kind) >= 0)
      Object.assign(result, {
        id: data.id,
        local_project: item.local_project || null,
        status: data.status
      })
    if (item.kind === 'report')
      Object.assign(result, { project_id: item.project_id, month: item.month, status: data.status })
    if (item.kind === 'rectification_response') Object.assign(result, { status: data.status })
    if (short) result.evidence_short = short
    remember(item.client_id, result)
  }

  // One pass over the outbox; `halt` stops new work once the network (or server) is out.
  function pass() {
    const run = { halted: null, sent: 0, failed: 0 }
    const lanes = {}
    const order = []
    state.items.forEach(i => {
      if (sending[i.id]) return // still out from an earlier pass: never send one write twice at once
      const lane = laneOf(i)
      if (!lanes[lane]) {
        lanes[lane] = []
        order.push(lane)
      }
      lanes[lane].push(i.id)
    })
    return Promise.all(order.map(lane => runLane(lane, lanes[lane], run))).then(() => run)
  }

  function halt(run, err) {
    if (!run.halted) run.halted = err
  }

  // Send one JSON write; resolves 'done' | 'failed' | 'transient'.
  function send(item, run) {
    const req = bodyOf(item)
    sending[item.id] = true
    const cur = find(item.id)
    if (cur) {
      cur.attempts = (cur.attempts || 0) + 1
      save(laneOf(item))
    }
    emit()
    return api.request(req.method, req.path, req.body).then(
      res => {
        delete sending[item.id]
        removeItem(item.id)
        applyAnswer(item, res.data || {})
        answered(item)
        save(item.kind === 'start_visit' ? null : laneOf(item))
        run.sent++
        emit()
        return 'done'
      },
      err => {
        delete sending[item.id]
        return failedSend(item, err, run)
      }
    )
  }

  // A send that got no answer or a 429/5xx holds its lane and is sent again ('transient'); one the
  // server refused stays visible as failed, with the reason ('failed').
  function failedSend(item, err, run) {
    if (isTransient(err)) {
      troubled(item, err, run)
      emit()
      return 'transient'
    }
    refused(item, err, run)
    emit()
    return 'failed'
  }

  function answered(item) {
    offlineNow = false
    delete laneWait[laneOf(item)]
    touch(item)
  }

  // No signal stops everything; an HTTP 429/5xx only holds this item's lane, as long as the
  // server's Retry-After asks (else 5 s, doubling up to 5 min).
  function troubled(item, err, run) {
    if (err.offline) {
      offlineNow = true
      halt(run, err)
      return
    }
    offlineNow = false // the server answered: the phone is online, the server is busy
    const lane = laneOf(item)
    const prior = laneWait[lane]
    const n = prior ? prior.n + 1 : 1
    const ms =
      typeof err.retryAfterMs === 'number'
        ? err.retryAfterMs
        : Math.min(LANE_RETRY_MAX_MS, LANE_RETRY_BASE_MS * Math.pow(2, n - 1))
    laneWait[lane] = { until: nowMs() + ms, n, status: err.status || 0, code: err.code || '' }
    run.waiting = true
  }

  function refused(item, err, run) {
    if (err.status) offlineNow = false
    markFailed(item, err)
    run.failed++
    // A visit its assignment's close refused: nothing else of it can go either, and retrying
    // on its own will not help; every record is shown failed with the same reason.
    if (item.kind === 'start_visit' && err.code === 'assignment_closed') {
      state.closed = Object.assign(state.closed || {}, {
        [item.local_visit]: { code: err.code, message: err.message, details: err.details || {} }
      })
      state.items
        .filter(i => laneOf(i) === item.local_visit && i.id !== item.id && i.status !== 'failed')
        .forEach(i => {
          if (sending[i.id]) return
          i.status = 'failed'
          i.error = {
            code: err.code,
            message: err.message,
            status: err.status || 409,
            details: err.details || {}
          }
          run.failed++
        })
      save()
    }
  }

  function sendPhoto(item, visitId, run) {
    sending[item.id] = true
    progress[item.id] = 0
    emit()
    let lastEmitted = 0
    const onProgress = p => {
      progress[item.id] = p
      // Progress events come many times a second; pages only need visible steps.
      if (p >= 100 || p - lastEmitted >= 5) {
        lastEmitted = p
        emit()
      }
    }
    const onState = patch => {
      const cur = find(item.id)
      if (!cur) return
      Object.assign(cur, patch)
      save(laneOf(item))
    }
    const cur = find(item.id)
    const job = Object.assign({}, cur, visitId ? { visit_id: visitId } : {})
    return uploader.upload(job, onProgress, onState).then(
      photo => {
        delete sending[item.id]
        removeItem(item.id)
        state.photos[item.client_id] = photo.id
        remember(item.client_id, {
          kind: 'photo',
          id: photo.id,
          local_visit: item.local_visit || null,
          status: photo.status,
          flags: photo.flags || []
        })
        answered(item)
        photoDone(item)
        // Only now, with the server holding a verified copy, may the original go; a visit's
        // photo strip still shows it until the server's thumbnail is at hand.
        if (isVisitPhoto(item))
          state.shown_files[item.client_id] = {
            file: item.file,
            at: nowMs(),
            local_visit: item.local_visit
          }
        save(laneOf(item))
        if (!isVisitPhoto(item)) dropFile(item.file)
        run.sent++
        emit()
        return 'done'
      },
      err => {
        delete sending[item.id]
        delete progress[item.id]
        // Refused (not a photo, too large, file gone, host not configured): the file is kept so the
        // inspector can look at it and retake.
        return failedSend(item, err, run)
      }
    )
  }

  function dropFile(path) {
    if (!files || !path) return
    try {
      files.remove(path)
    } catch (e) {
      // A file that cannot be deleted wastes space but loses nothing; the sweep at start retries.
    }
  }

  // Something earlier in the lane still holds this item; a submit the inspector allowed to go
  // past refused items only waits for what can still arrive.
  function earlierInLane(item) {
    const lane = laneOf(item)
    for (const i of state.items) {
      if (i.id === item.id) return false
      if (laneOf(i) !== lane) continue
      if (item.allow_missing && i.status === 'failed') continue
      return true
    }
    return false
  }

  // What a submit past refused items tells the server is missing: fixed at the first send, so
  // a retry says exactly the same.
  function fixMissing(item) {
    if (!item.allow_missing || item.missing) return
    item.missing = state.items
      .filter(
        i =>
          laneOf(i) === laneOf(item) &&
          i.status === 'failed' &&
          i.id !== item.id &&
          MISSING_KINDS.indexOf(i.kind) >= 0
      )
      .slice(0, 100)
      .map(i => ({
        kind: i.kind,
        client_id: i.client_id,
        reason: String((i.error && i.error.message) || '未能上传').slice(0, 500)
      }))
    save()
  }

  async function runLane(lane, ids, run) {
    const photoJobs = []
    const wait = laneWait[lane]
    if (wait && wait.until > nowMs()) {
      run.waiting = true
      return
    }
    for (const id of ids) {
      if (run.halted || (laneWait[lane] && laneWait[lane].until > nowMs())) break
      const item = find(id)
      if (!item || item.status === 'failed' || sending[id]) continue
      if (item.kind === 'photo' && item.awaiting_fix) continue
      if (item.kind === 'photo') {
        const visitId = isVisitPhoto(item) ? state.visits[item.local_visit] : null
        if (isVisitPhoto(item) && !visitId) {
          if (!hasStart(item.local_visit)) markUnknownVisit(item, run)
          continue
        }
        photoJobs.push(sendPhoto(item, visitId, run))
        continue
      }
      if (PHOTO_WAITERS.indexOf(item.kind) >= 0) {
        await Promise.all(photoJobs)
        if (run.halted || !find(id)) break
        const refs = item.photo_local_ids || []
        // Its photos must be on the server first; a photo still queued (or failed) holds it.
        if (refs.some(cid => state.items.some(i => i.client_id === cid))) continue
        if (!item.photo_ids) {
          // Fixed once: a retry must say exactly what the first attempt said. Photos already on
          // the server (a report saved before) come first, in the order the page listed them.
          item.photo_ids = (item.known_photo_ids || []).concat(
            refs.map(cid => state.photos[cid]).filter(Boolean)
          )
          save()
        }
        await send(item, run)
        continue
      }
      if (PROJECT_KINDS.indexOf(item.kind) >= 0) {
        if (item.kind !== 'application' && !projectIdOf(item)) {
          if (!hasApplication(item.local_project)) markUnknownProject(item, run)
          continue
        }
        const outcome = await send(item, run)
        if (outcome === 'transient') break
        continue
      }
      if (item.kind !== 'start_visit' && !state.visits[item.local_visit]) {
        if (!hasStart(item.local_visit)) markUnknownVisit(item, run)
        continue
      }
      if (item.kind === 'submit') {
        // Submit closes the visit: everything before it, photos included, must be in first.
        await Promise.all(photoJobs)
        if (run.halted || !find(id)) break
        if (earlierInLane(item)) continue
        fixMissing(item)
      }
      const outcome = await send(item, run)
      if (outcome === 'transient') break
    }
    await Promise.all(photoJobs)
  }

  function hasApplication(localProject) {
    return state.items.some(i => i.kind === 'application' && i.local_project === localProject)
  }

  function markUnknownProject(item, run) {
    markFailed(item, { code: 'project_unknown', message: '找不到这份申报表的草稿记录，请重新填写' })
    run.failed++
    emit()
  }

  function hasStart(localVisit) {
    return state.items.some(i => i.kind === 'start_visit' && i.local_visit === localVisit)
  }

  function markUnknownVisit(item, run) {
    markFailed(item, { code: 'visit_unknown', message: '找不到这次暗访的开始记录，请重新开始暗访' })
    run.failed++
    emit()
  }

  function earliestWait() {
    const t = nowMs()
    const ahead = Object.keys(laneWait)
      .map(l => laneWait[l].until)
      .filter(u => u > t)
    return ahead.length ? Math.min.apply(null, ahead) - t : null
  }

  // Offline: back off 5 s … 5 min; lanes held by the server: wake when the first may go again.
  function scheduleRetry(offline) {
    if (!autoRetry || retryTimer) return
    let ms
    if (offline) {
      transientPasses++
      ms =
        Math.min(RETRY_MAX_MS, RETRY_BASE_MS * Math.pow(2, transientPasses - 1)) *
        (0.75 + Math.random() * 0.5)
    } else {
      ms = earliestWait()
      if (ms === null) return
    }
    retryTimer = timers.setTimeout(() => {
      retryTimer = null
      flush()
    }, ms)
    // Node (tests) must not stay alive for a retry timer; WeChat has no unref.
    if (retryTimer && typeof retryTimer.unref === 'function') retryTimer.unref()
  }

  function flushSoon() {
    if (soonTimer) return
    soonTimer = timers.setTimeout(() => {
      soonTimer = null
      flush()
    }, 0)
    if (soonTimer && typeof soonTimer.unref === 'function') soonTimer.unref()
  }

  /** Send what waits, in order per visit; resolves {sent, failed, pending, offline} and never rejects. */
  function flush() {
    if (flushing) {
      rerun = true
      return flushing
    }
    if (retryTimer) {
      timers.clearTimeout(retryTimer)
      retryTimer = null
    }
    const total = { sent: 0, failed: 0 }
    let last = null
    const loop = () =>
      pass().then(run => {
        total.sent += run.sent
        total.failed += run.failed
        last = run
        if (rerun && !run.halted) {
          rerun = false
          return loop()
        }
        return run
      })
    flushing = loop().then(
      run => {
        flushing = null
        rerun = false
        if (run.halted) scheduleRetry(true)
        else {
          transientPasses = 0
          scheduleRetry(false)
        }
        return {
          sent: total.sent,
          failed: total.failed,
          pending: pendingCount(),
          offline: !!(last && last.halted && last.halted.offline),
          error: last && last.halted ? last.halted : null,
          waiting: earliestWait() !== null
        }
      },
      err => {
        flushing = null
        throw err
      }
    )
    return flushing
  }

  /** Put a failed item back in line (after the user fixed the cause); true when it was failed. */
  function retry(id) {
    const item = find(id)
    if (!item || item.status !== 'failed') return false
    item.status = 'pending'
    item.error = null
    if (item.kind === 'start_visit' && state.closed && state.closed[item.local_visit]) {
      // Asking again (the assignment may have been reopened): the whole visit goes back in line.
      delete state.closed[item.local_visit]
      state.items.forEach(i => {
        if (laneOf(i) === item.local_visit && i.error && i.error.code === 'assignment_closed') {
          i.status = 'pending'
          i.error = null
        }
      })
    }
    save()
    emit()
    if (flushOnEnqueue) flushSoon()
    return true
  }

  /** Drop an item the user gave up on (not while it is being sent); a photo's kept file goes too. */
  function remove(id) {
    const item = find(id)
    if (!item || sending[id]) return false
    removeItem(id)
    if (item.kind === 'photo' && state.batch) {
      state.batch.photos_total = Math.max(0, state.batch.photos_total - 1)
      state.batch.bytes_total = Math.max(0, state.batch.bytes_total - (item.size || 0))
      if (!state.items.some(i => i.kind === 'photo')) state.batch = null
    }
    save()
    if (item.kind === 'photo') dropFile(item.file)
    emit()
    return true
  }

  /** Resume photos the server lists in a visit's photos_waiting that are still in this outbox. */
  function resumeWaiting(photosWaiting) {
    let n = 0
    ;(photosWaiting || []).forEach(w => {
      const item = state.items.find(i => i.kind === 'photo' && i.client_id === w.client_id)
      if (!item) return
      n++
      item.photo_id = w.id
      // The server still waits for it: a refusal that said something else (a proxy's 404, a
      // 409 from a race) is worth another try; a refused photo, a missing file or a
      // configuration error is not, until the inspector acts.
      const e = item.error
      if (
        item.status === 'failed' &&
        e &&
        e.status >= 400 &&
        e.status < 500 &&
        e.status !== 422 &&
        e.status !== 413
      ) {
        item.status = 'pending'
        item.error = null
      }
    })
    if (n) {
      save()
      emit()
      if (flushOnEnqueue) flushSoon()
    }
    return n
  }

  /** How many writes of one lane still wait for the server (failed ones included); see laneOf. */
  function laneCount(lane) {
    return state.items.filter(i => laneOf(i) === lane).length
  }

  /** The server's id of a project known by its local_project, or null before its application went through. */
  function serverProjectId(localProject) {
    return state.projects[localProject] || null
  }

  /** The server's id of a visit known by its local_visit, or null before start_visit went through. */
  function serverVisitId(localVisit) {
    return state.visits[localVisit] || null
  }

  /** When the server accepted this visit's submit (RFC 3339), or null. */
  function submittedAt(localVisit) {
    return state.submitted[localVisit] || null
  }

  /** The server's answer summary for a sent write ({kind, id, receipt_no…}), or null. */
  function result(clientId) {
    return state.results[clientId] || null
  }

  /** Change a queued photo's position fields (a late fix, or none: no_fix) before it is sent. */
  function update(id, patch) {
    const item = find(id)
    if (!item || sending[id]) return false
    Object.keys(patch || {}).forEach(k => {
      if (PATCHABLE.indexOf(k) < 0) throw new Error(`cannot update ${k} of a queued item`)
      item[k] = patch[k]
    })
    save()
    emit()
    if (flushOnEnqueue) flushSoon()
    return true
  }

  /**
   * The inspector confirmed a submit without the refused items of this visit: the submit goes
   * once nothing else waits, telling the server what is missing. True when a submit waits.
   */
  function allowMissing(localVisit) {
    const submit = state.items.find(i => i.kind === 'submit' && i.local_visit === localVisit)
    if (!submit) return false
    submit.allow_missing = true
    if (submit.status === 'failed' && submit.error && submit.error.code !== 'assignment_closed') {
      submit.status = 'pending'
      submit.error = null
    }
    save()
    emit()
    if (flushOnEnqueue) flushSoon()
    return true
  }

  /** What the sync panel shows: {offline, last_sync, batch, waits: {lane: {until, status, code}}}. */
  function status() {
    const t = nowMs()
    const waits = {}
    Object.keys(laneWait).forEach(l => {
      if (laneWait[l].until > t) waits[l] = Object.assign({}, laneWait[l])
    })
    const batch = state.batch ? Object.assign({}, state.batch) : null
    if (batch) {
      // Bytes of photos in flight count as sent as far as their progress goes.
      state.items.forEach(i => {
        if (i.kind === 'photo' && sending[i.id] && progress[i.id])
          batch.bytes_done += Math.round(((i.size || 0) * progress[i.id]) / 100)
      })
      batch.bytes_done = Math.min(batch.bytes_total, batch.bytes_done)
    }
    return { offline: offlineNow, last_sync: state.last_sync || null, batch, waits, now: t }
  }

  /** Why a visit was refused as a whole (its assignment closed before it started), or null. */
  function closedVisit(localVisit) {
    return (state.closed && state.closed[localVisit]) || null
  }

  /** Kept originals of uploaded visit photos still on the phone: {client_id: path}. */
  function shownFiles(localVisit) {
    const out = {}
    Object.keys(state.shown_files).forEach(cid => {
      const f = state.shown_files[cid]
      if (!localVisit || f.local_visit === localVisit) out[cid] = f.file
    })
    return out
  }

  /** The page has the server's thumbnails of these uploaded photos: their originals may go. */
  function releaseFiles(clientIds) {
    let n = 0
    ;(clientIds || []).forEach(cid => {
      const f = state.shown_files[cid]
      if (!f) return
      delete state.shown_files[cid]
      dropFile(f.file)
      n++
    })
    if (n) save()
    return n
  }

  /**
   * Housekeeping at start: forget visits the server confirmed entirely more than 30 days ago,
   * drop shown originals after a day, and delete kept files that nothing refers to (a photo
   * kept just before a save failed, or before the app was killed).
   */
  function prune() {
    const t = nowMs()
    const busy = {}
    state.items.forEach(i => {
      busy[laneOf(i)] = true
    })
    Object.keys(state.shown_files).forEach(cid => {
      if (t - state.shown_files[cid].at > SHOWN_FILE_MS) releaseFiles([cid])
    })
    Object.keys(state.touched).forEach(lv => {
      if (busy[lv] || !state.submitted[lv] || t - state.touched[lv] < RETENTION_MS) return
      delete state.visits[lv]
      delete state.submitted[lv]
      delete state.touched[lv]
      Object.keys(state.photos).forEach(cid => {
        if (state.results[cid] && state.results[cid].local_visit === lv) delete state.photos[cid]
      })
    })
    // Server ids of photos no queued write names any more.
    const named = {}
    state.items.forEach(i =>
      (i.photo_local_ids || []).forEach(cid => {
        named[cid] = true
      })
    )
    Object.keys(state.photos).forEach(cid => {
      if (!named[cid] && !state.results[cid]) delete state.photos[cid]
    })
    save()
    let orphans = 0
    if (files && typeof files.listKept === 'function') {
      const used = {}
      state.items.forEach(i => {
        if (i.file) used[i.file] = true
      })
      Object.keys(state.shown_files).forEach(cid => {
        used[state.shown_files[cid].file] = true
      })
      ;(options.keepFiles ? options.keepFiles() : []).forEach(p => {
        used[p] = true
      })
      files.listKept().forEach(path => {
        if (used[path]) return
        dropFile(path)
        orphans++
      })
    }
    return { orphans }
  }

  /** The app came back to the foreground: whatever waits for signal goes at once. */
  function resume() {
    transientPasses = 0
    if (uploader && typeof uploader.wake === 'function') uploader.wake()
    return flush()
  }

  /** Stop retry timers (tests, or before replacing the queue). */
  function dispose() {
    if (retryTimer) timers.clearTimeout(retryTimer)
    if (soonTimer) timers.clearTimeout(soonTimer)
    retryTimer = soonTimer = null
  }

  return {
    enqueue,
    items,
    pendingCount,
    failedCount,
    flush,
    onChange,
    update,
    allowMissing,
    status,
    closedVisit,
    shownFiles,
    releaseFiles,
    prune,
    resume,
    retry,
    remove,
    resumeWaiting,
    serverVisitId,
    serverProjectId,
    laneCount,
    submittedAt,
    result,
    dispose
  }
}

module.exports = { createQueue, laneOf, STORAGE_KEY, VISIT_KEY_PREFIX, RETENTION_MS }
