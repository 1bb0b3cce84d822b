// An in-memory stand-in for the Flask API, as far as the phone can tell: the same paths,
// status codes, error bodies and client_id rules (first call 201, retry 200 with the same
// object, reuse with another body 409 client_id_conflict, writes after submit 409
// visit_submitted), photo tickets that expire, an object store that checks them, and a log
// of every request so tests can count what reached the server.
//
// Issue 15's contract (notes/i15-contract.md) too: assignments that close (a visit started
// before the close and arriving within LATE_SYNC_DAYS is accepted and flagged late_sync, one
// started after is refused 409 assignment_closed), photo tickets with no_fix / compressed,
// 413 photo_too_large with details.max_bytes, submit with a `missing` list and the evidence
// policy (evidence_short), and 429/503 answers carrying Retry-After.

const crypto = require('crypto')

const API = 'https://api.test/api/v1'
const STORAGE_URL = 'https://storage.test/upload'
const TICKET_SECONDS = 15 * 60
const LATE_SYNC_DAYS = 14
const MAX_PHOTO_BYTES = 15 * 1024 * 1024
const MAX_MISSING = 100

class HttpError extends Error {
  constructor(status, code, message, details, header) {
    super(message || code)
    this.status = status
    this.code = code
    this.details = details || {}
    this.header = header || {}
  }
}

const MESSAGES = {
  validation_failed: '提交的数据不完整或格式不正确',
  token_invalid: '登录已失效,请重新登录',
  unauthorized: '请先登录',
  forbidden: '没有权限进行此操作',
  not_found: '找不到该记录',
  client_id_conflict: '该编号已用于另一条不同的记录,请勿重复使用',
  visit_submitted: '该次暗访已提交,不能再修改',
  invite_invalid: '邀请码无效或已过期',
  photo_not_uploaded: '照片尚未上传完成,请稍后重试',
  photo_not_image: '文件不是图片',
  photo_too_large: '照片文件过大',
  assignment_closed: '该督查任务已结束，不能再开始暗访',
  rate_limited: '请求过于频繁，请稍后再试',
  storage_unavailable: '照片存储暂时不可用,请稍后重试,已保存的内容不会丢失',
  internal_error: '服务器内部错误,请稍后重试'
}

function err(status, code, details, message) {
  return new HttpError(status, code, message || MESSAGES[code] || code, details)
}

function stable(value) {
  if (Array.isArray(value)) return `[${value.map(stable).join(',')}]`
  if (value && typeof value === 'object') {
    return `{${Object.keys(value)
      .sort()
      .map(k => `${JSON.stringify(k)}:${stable(value[k])}`)
      .join(',')}}`
  }
  return JSON.stringify(value)
}

function bodyHash(kind, target, body) {
  const rest = Object.assign({}, body)
  delete rest.sent_at // a retry is sent later, with a later clock
  return crypto
    .createHash('sha256')
    .update(stable([kind, target, rest]))
    .digest('hex')
}

function required(body, fields) {
  if (!body || typeof body !== 'object') throw err(400, 'validation_failed', { field: null })
  for (const f of fields) {
    if (body[f] === undefined || body[f] === null || body[f] === '')
      throw err(400, 'validation_failed', { field: f })
  }
}

/** A fake API server; handle() takes a wx.request-like call, handleUpload() a wx.uploadFile one. */
function createFakeServer(options) {
  const opts = options || {}
  let clockMs = opts.nowMs || Date.parse('2026-05-04T01:30:00Z')
  const maxPhotoBytes = opts.maxPhotoBytes || MAX_PHOTO_BYTES
  const s = {
    apiBase: API,
    log: [],
    uploads: [],
    users: new Map(),
    tokens: new Map(),
    codes: new Map(),
    invites: new Map(),
    writes: new Map(),
    visits: new Map(),
    checkins: new Map(),
    photos: new Map(),
    interviews: new Map(),
    checklists: new Map(),
    notes: new Map(),
    feedback: new Map(),
    objects: new Map(),
    tickets: new Map(),
    assignments: new Map(),
    failures: []
  }
  let nextId = 1
  const id = () => nextId++

  s.now = () => clockMs
  s.advance = ms => {
    clockMs += ms
  }

  /** A staff user with roles; returns {user, invite} (the one-time invite code). */
  s.addUser = function (roles, name) {
    const user = { id: id(), name: name || 'user', roles, openid: null, active: true }
    s.users.set(user.id, user)
    const invite = `INV${user.id}${crypto.randomBytes(3).toString('hex').toUpperCase()}`
    s.invites.set(invite, user.id)
    return { user, invite }
  }

  /** An open assignment of inspectors (user ids). */
  s.addAssignment = function (inspectorIds, extra) {
    const a = Object.assign(
      {
        id: id(),
        inspector_ids: inspectorIds,
        status: 'open',
        check_items: ['公示栏', '台账'],
        closed_at: null,
        evidence_policy: { min_photos: 2, min_interviews: 1 }
      },
      extra || {}
    )
    s.assignments.set(a.id, a)
    return a
  }

  /** The department closes an assignment now (or at atMs): /assignments stops listing it. */
  s.closeAssignment = function (assignmentId, atMs) {
    const a = s.assignments.get(assignmentId)
    a.status = 'closed'
    a.closed_at = new Date(atMs === undefined ? clockMs : atMs).toISOString()
    return a
  }

  /** A wx.login code that the server exchanges for this openid (as code2Session). */
  s.codeFor = function (openid) {
    const code = `code-${crypto.randomBytes(6).toString('hex')}`
    s.codes.set(code, openid)
    return code
  }

  /** Every token issued so far stops working (401 token_invalid). */
  s.expireTokens = function () {
    s.tokens.clear()
  }

  /** Every ticket issued so far is past its expiry (uploads with it answer 403 upload_expired). */
  s.expireTickets = function () {
    for (const t of s.tickets.values()) t.expires = clockMs - 1
  }

  /** The next request whose path matches answers {status, code} instead (e.g. 503). */
  s.failNext = function (pathPattern, status, code, times, retryAfterSeconds) {
    s.failures.push({
      re: pathPattern,
      status,
      code,
      left: times || 1,
      retryAfter: retryAfterSeconds
    })
  }

  function issueToken(user) {
    const token = `tok-${user.id}-${crypto.randomBytes(6).toString('hex')}`
    s.tokens.set(token, user.id)
    return { token, user: { id: user.id, name: user.name, roles: user.roles } }
  }

  function caller(header) {
    const auth = (header && (header.Authorization || header.authorization)) || ''
    const m = /^Bearer (.+)$/.exec(auth)
    if (!m) throw err(401, 'unauthorized')
    const uid = s.tokens.get(m[1])
    const user = uid && s.users.get(uid)
    if (!user || !user.active) throw err(401, 'token_invalid')
    return user
  }

  function run(user, kind, target, body, create, load) {
    const digest = bodyHash(kind, target, body)
    const prior = s.writes.get(body.client_id)
    if (prior) {
      if (prior.userId !== user.id || prior.kind !== kind || prior.hash !== digest) {
        throw err(409, 'client_id_conflict', { client_id: body.client_id, kind: prior.kind })
      }
      return [load(prior.objectId), 200]
    }
    const obj = create()
    s.writes.set(body.client_id, { kind, hash: digest, objectId: obj.id, userId: user.id })
    return [obj, 201]
  }

  function visitFor(user, vid) {
    const v = s.visits.get(Number(vid))
    const a = v && s.assignments.get(v.assignment_id)
    if (!v || !a || a.inspector_ids.indexOf(user.id) < 0)
      throw err(404, 'not_found', { id: Number(vid) })
    return v
  }

  function ensureOpen(v) {
    if (v.status === 'submitted') throw err(409, 'visit_submitted', { visit_id: v.id })
  }

  function ticketFor(photo) {
    const n = crypto.randomBytes(4).toString('hex')
    const policy = `policy-${photo.id}-${n}`
    const signature = `sig-${n}`
    s.tickets.set(policy, { signature, key: photo.key, expires: clockMs + TICKET_SECONDS * 1000 })
    return {
      url: STORAGE_URL,
      fields: { key: photo.key, 'Content-Type': photo.content_type, policy, signature },
      expires_at: new Date(clockMs + TICKET_SECONDS * 1000).toISOString(),
      file_field: 'file'
    }
  }

  function photoView(p) {
    return {
      id: p.id,
      client_id: p.client_id,
      status: p.status,
      owner_kind: p.owner_kind,
      owner_id: p.owner_id,
      size: p.size || null,
      flags: p.flags || [],
      reject_code: p.reject_code || null,
      reject_reason: p.reject_reason || null,
      thumb_url:
        p.status === 'ready'
          ? `https://download.test/${p.key}?thumb&sig=${crypto.randomBytes(3).toString('hex')}`
          : null
    }
  }

  function newPhoto(user, body, ownerKind, ownerId) {
    const p = {
      id: id(),
      client_id: body.client_id,
      status: 'pending',
      owner_kind: ownerKind,
      owner_id: ownerId,
      uploader_id: user.id,
      content_type: body.content_type,
      declared_size: body.size,
      key: `photos/${ownerKind}/${crypto.randomBytes(8).toString('hex')}.jpg`,
      flags: [].concat(
        body.no_fix === true ? ['no_fix'] : [],
        body.compressed === true ? ['compressed'] : []
      ),
      taken_at: body.taken_at || null,
      lat: body.lat === undefined ? null : body.lat,
      lng: body.lng === undefined ? null : body.lng
    }
    s.photos.set(p.id, p)
    return p
  }

  function ticketAnswer(photo, status) {
    return [
      {
        photo_id: photo.id,
        photo: photoView(photo),
        upload: photo.status === 'pending' ? ticketFor(photo) : null
      },
      status
    ]
  }

  const routes = [
    [
      'POST',
      /^\/auth\/wechat$/,
      req => {
        required(req.data, ['code'])
        const openid = s.codes.get(req.data.code)
        if (!openid) throw err(400, 'wechat_code_invalid', {}, '微信登录失败,请重试')
        s.codes.delete(req.data.code)
        let user = Array.from(s.users.values()).find(u => u.openid === openid && u.active)
        if (!user) {
          user = { id: id(), name: '群众', roles: ['villager'], openid, active: true }
          s.users.set(user.id, user)
        }
        return [issueToken(user), 200]
      },
      false
    ],
    [
      'POST',
      /^\/auth\/bind$/,
      (req, user) => {
        required(req.data, ['invite_code'])
        const targetId = s.invites.get(req.data.invite_code)
        const target = targetId && s.users.get(targetId)
        if (!target) throw err(400, 'invite_invalid')
        target.openid = user.openid
        user.openid = null
        user.active = false
        s.invites.delete(req.data.invite_code)
        return [issueToken(target), 200]
      }
    ],
    [
      'GET',
      /^\/auth\/me$/,
      (req, user) => [{ id: user.id, name: user.name, roles: user.roles }, 200]
    ],
    [
      'GET',
      /^\/assignments$/,
      (req, user) => [
        {
          items: Array.from(s.assignments.values()).filter(
            a => a.inspector_ids.indexOf(user.id) >= 0 && a.status === 'open'
          )
        },
        200
      ]
    ],
    [
      'POST',
      /^\/visits$/,
      (req, user) => {
        required(req.data, ['client_id', 'assignment_id', 'started_at'])
        const a = s.assignments.get(req.data.assignment_id)
        if (!a || a.inspector_ids.indexOf(user.id) < 0)
          throw err(404, 'not_found', { assignment_id: req.data.assignment_id })
        let late = null
        if (a.closed_at) {
          const closed = Date.parse(a.closed_at)
          const started = Date.parse(req.data.started_at)
          if (!(started < closed) || clockMs - closed > LATE_SYNC_DAYS * 86400 * 1000) {
            throw err(409, 'assignment_closed', { assignment_id: a.id, closed_at: a.closed_at })
          }
          late = Math.round((clockMs - closed) / 1000)
        }
        return run(
          user,
          'visit.start',
          a.id,
          req.data,
          () => {
            const v = {
              id: id(),
              assignment_id: a.id,
              status: 'in_progress',
              client_id: req.data.client_id,
              started_at: req.data.started_at,
              submitted_at: null,
              flags: late === null ? [] : ['late_sync'],
              late_sync_seconds: late,
              missing: [],
              evidence_short: null
            }
            s.visits.set(v.id, v)
            return v
          },
          i => s.visits.get(i)
        )
      }
    ],
    [
      'POST',
      /^\/visits\/(\d+)\/checkins$/,
      (req, user, m) => {
        const v = visitFor(user, m[1])
        required(req.data, ['client_id', 'sent_at', 'lat', 'lng', 'accuracy_m', 'client_time'])
        return run(
          user,
          'visit.checkin',
          v.id,
          req.data,
          () => {
            ensureOpen(v)
            const c = Object.assign({ id: id(), visit_id: v.id }, req.data)
            s.checkins.set(c.id, c)
            return c
          },
          i => s.checkins.get(i)
        )
      }
    ],
    [
      'POST',
      /^\/visits\/(\d+)\/photos$/,
      (req, user, m) => {
        const v = visitFor(user, m[1])
        required(
          req.data,
          ['client_id', 'content_type', 'size', 'taken_at'].concat(
            req.data && req.data.no_fix === true ? [] : ['lat', 'lng']
          )
        )
        if (req.data.size > maxPhotoBytes)
          throw err(413, 'photo_too_large', { max_bytes: maxPhotoBytes, size: req.data.size })
        const [photo, status] = run(
          user,
          'photo.ticket',
          ['visit', v.id],
          req.data,
          () => {
            ensureOpen(v)
            return newPhoto(user, req.data, 'visit', v.id)
          },
          i => s.photos.get(i)
        )
        return ticketAnswer(photo, status)
      }
    ],
    [
      'POST',
      /^\/visits\/(\d+)\/interviews$/,
      (req, user, m) => {
        const v = visitFor(user, m[1])
        required(req.data, ['client_id', 'sent_at', 'household', 'satisfaction'])
        return run(
          user,
          'visit.interview',
          v.id,
          req.data,
          () => {
            ensureOpen(v)
            const it = Object.assign({ id: id(), visit_id: v.id }, req.data)
            s.interviews.set(it.id, it)
            return it
          },
          i => s.interviews.get(i)
        )
      }
    ],
    [
      'PUT',
      /^\/visits\/(\d+)\/checklist$/,
      (req, user, m) => {
        const v = visitFor(user, m[1])
        required(req.data, ['client_id', 'sent_at', 'items'])
        return run(
          user,
          'visit.checklist',
          v.id,
          req.data,
          () => {
            ensureOpen(v)
            const c = Object.assign({ id: id(), visit_id: v.id }, req.data)
            s.checklists.set(c.id, c)
            return c
          },
          i => s.checklists.get(i)
        )
      }
    ],
    [
      'POST',
      /^\/visits\/(\d+)\/notes$/,
      (req, user, m) => {
        const v = visitFor(user, m[1])
        required(req.data, ['client_id', 'sent_at', 'text'])
        return run(
          user,
          'visit.note',
          v.id,
          req.data,
          () => {
            const n = Object.assign({ id: id(), visit_id: v.id }, req.data)
            s.notes.set(n.id, n)
            return n
          },
          i => s.notes.get(i)
        )
      }
    ],
    [
      'POST',
      /^\/visits\/(\d+)\/submit$/,
      (req, user, m) => {
        const v = visitFor(user, m[1])
        required(req.data, ['client_id'])
        const missing = req.data.missing === undefined ? [] : req.data.missing
        if (
          !Array.isArray(missing) ||
          missing.length > MAX_MISSING ||
          missing.some(
            m =>
              !m ||
              ['photo', 'interview', 'checkin', 'checklist', 'note'].indexOf(m.kind) < 0 ||
              !m.client_id ||
              typeof m.reason !== 'string'
          )
        ) {
          throw err(400, 'validation_failed', { field: 'missing' })
        }
        if (v.status === 'submitted') return [v, 200]
        const [out] = run(
          user,
          'visit.submit',
          v.id,
          req.data,
          () => {
            v.status = 'submitted'
            v.submitted_at = new Date(clockMs).toISOString()
            v.missing = missing
            const a = s.assignments.get(v.assignment_id)
            const policy = a.evidence_policy || { min_photos: 2, min_interviews: 1 }
            const photos = Array.from(s.photos.values()).filter(
              p => p.owner_kind === 'visit' && p.owner_id === v.id && p.status !== 'rejected'
            ).length
            const interviews = Array.from(s.interviews.values()).filter(
              i => i.visit_id === v.id
            ).length
            const short = {}
            if (photos < policy.min_photos)
              short.photos = { required: policy.min_photos, got: photos }
            if (interviews < policy.min_interviews)
              short.interviews = { required: policy.min_interviews, got: interviews }
            v.evidence_short = Object.keys(short).length ? short : null
            if (v.evidence_short) v.flags = v.flags.concat(['evidence_short'])
            return v
          },
          i => s.visits.get(i)
        )
        return [out, 200]
      }
    ],
    [
      'GET',
      /^\/visits\/(\d+)$/,
      (req, user, m) => {
        const v = visitFor(user, m[1])
        const of = map => Array.from(map.values()).filter(x => x.visit_id === v.id)
        const photos = Array.from(s.photos.values()).filter(
          p => p.owner_kind === 'visit' && p.owner_id === v.id
        )
        return [
          Object.assign({}, v, {
            checkins: of(s.checkins),
            interviews: of(s.interviews),
            notes: of(s.notes),
            checklist_versions: of(s.checklists).length,
            photos: photos.map(photoView),
            photos_waiting: photos
              .filter(p => p.status === 'pending')
              .map(p => ({ id: p.id, client_id: p.client_id }))
          }),
          200
        ]
      }
    ],
    [
      'POST',
      /^\/photos\/(\d+)\/complete$/,
      (req, user, m) => {
        const p = s.photos.get(Number(m[1]))
        if (
          !p ||
          (p.owner_kind === 'visit'
            ? s.assignments
                .get(s.visits.get(p.owner_id).assignment_id)
                .inspector_ids.indexOf(user.id) < 0
            : p.uploader_id !== user.id)
        ) {
          throw err(404, 'not_found', { id: Number(m[1]) })
        }
        if (p.status === 'rejected')
          throw err(422, p.reject_code, { photo_id: p.id, reason: p.reject_code }, p.reject_reason)
        if (p.status === 'ready') return [photoView(p), 200]
        const obj = s.objects.get(p.key)
        if (!obj) throw err(409, 'photo_not_uploaded', { photo_id: p.id })
        if (obj.slice(0, 3).toString() === 'BAD') {
          s.objects.delete(p.key)
          Object.assign(p, {
            status: 'rejected',
            reject_code: 'photo_not_image',
            reject_reason: '文件不是图片'
          })
          throw err(
            422,
            'photo_not_image',
            { photo_id: p.id, reason: 'photo_not_image' },
            p.reject_reason
          )
        }
        Object.assign(p, { status: 'ready', size: obj.length, flags: p.flags || [] })
        return [photoView(p), 200]
      }
    ],
    [
      'POST',
      /^\/feedback\/photos$/,
      (req, user) => {
        required(req.data, ['client_id', 'content_type', 'size'])
        if (req.data.size > maxPhotoBytes)
          throw err(413, 'photo_too_large', { max_bytes: maxPhotoBytes, size: req.data.size })
        const [photo, status] = run(
          user,
          'feedback.photo',
          'feedback',
          req.data,
          () => newPhoto(user, req.data, 'feedback_draft', user.id),
          i => s.photos.get(i)
        )
        return ticketAnswer(photo, status)
      }
    ],
    [
      'POST',
      /^\/public\/projects\/(\d+)\/feedback$/,
      (req, user, m) => {
        required(req.data, ['client_id', 'sent_at', 'rating', 'category', 'text'])
        const projectId = Number(m[1])
        const [fb, status] = run(
          user,
          'feedback',
          projectId,
          req.data,
          () => {
            const ids = req.data.photo_ids || []
            const bad = ids.filter(
              i =>
                !s.photos.has(i) ||
                s.photos.get(i).uploader_id !== user.id ||
                s.photos.get(i).owner_kind !== 'feedback_draft'
            )
            if (bad.length)
              throw err(400, 'validation_failed', { field: 'photo_ids', photo_ids: bad })
            if (ids.some(i => s.photos.get(i).status !== 'ready'))
              throw err(409, 'photo_not_uploaded', {})
            const f = {
              id: id(),
              project_id: projectId,
              user_id: user.id,
              receipt_no: `FK${1000 + nextId}`,
              status: 'received',
              photo_ids: ids,
              text: req.data.text
            }
            ids.forEach(i =>
              Object.assign(s.photos.get(i), { owner_kind: 'feedback', owner_id: f.id })
            )
            s.feedback.set(f.id, f)
            return f
          },
          i => s.feedback.get(i)
        )
        return [
          { id: fb.id, receipt_no: fb.receipt_no, status: fb.status, status_label: '已收到' },
          status
        ]
      }
    ]
  ]

  /** Answer one API call: {method, url, data, header} → {statusCode, data}. */
  s.handle = function (req) {
    const path = req.url.replace(API, '').split('?')[0]
    const method = (req.method || 'GET').toUpperCase()
    const data = req.data === undefined ? undefined : JSON.parse(JSON.stringify(req.data))
    const entry = { method, path, body: data, client_id: data && data.client_id, status: 0 }
    s.log.push(entry)
    let answer
    try {
      const f = s.failures.find(x => x.left > 0 && x.re.test(path))
      if (f) {
        f.left--
        entry.injected = true
        throw new HttpError(
          f.status,
          f.code,
          MESSAGES[f.code] || f.code,
          {},
          f.retryAfter === undefined ? {} : { 'Retry-After': String(f.retryAfter) }
        )
      }
      const route = routes.find(r => r[0] === method && r[1].test(path))
      if (!route) throw err(404, 'not_found')
      const user = route[3] === false ? null : caller(req.header)
      const out = route[2]({ method, path, data, header: req.header }, user, path.match(route[1]))
      answer = { statusCode: out[1], data: JSON.parse(JSON.stringify(out[0])), header: {} }
    } catch (e) {
      if (!(e instanceof HttpError)) throw e
      answer = {
        statusCode: e.status,
        data: { error: { code: e.code, message: e.message, details: e.details } },
        header: e.header
      }
    }
    entry.status = answer.statusCode
    return answer
  }

  /** Accept one multipart upload to the storage URL: {url, name, formData, file: Buffer}. */
  s.handleUpload = function (req) {
    const entry = { url: req.url, key: req.formData && req.formData.key, status: 0 }
    s.uploads.push(entry)
    const f = req.formData || {}
    const t = s.tickets.get(f.policy)
    let answer
    if (req.url !== STORAGE_URL) answer = { statusCode: 404, data: '' }
    else if (!t || t.signature !== f.signature || t.key !== f.key) {
      answer = {
        statusCode: 403,
        data: JSON.stringify({
          error: {
            code: 'upload_signature_invalid',
            message: '上传凭证无效，请重新获取后再上传',
            details: {}
          }
        })
      }
    } else if (clockMs >= t.expires) {
      answer = {
        statusCode: 403,
        data: JSON.stringify({
          error: {
            code: 'upload_expired',
            message: '上传凭证已过期，请重新获取后再上传',
            details: {}
          }
        })
      }
    } else if (req.name !== 'file' || !req.file || !req.file.length) {
      answer = {
        statusCode: 400,
        data: JSON.stringify({ error: { code: 'upload_empty', message: '文件为空', details: {} } })
      }
    } else {
      s.objects.set(f.key, Buffer.from(req.file))
      answer = { statusCode: 204, data: '' }
    }
    entry.status = answer.statusCode
    return answer
  }

  /** Requests to a path (regex) that carried this client_id, with their answers' statuses. */
  s.calls = function (pathRe, clientId) {
    return s.log.filter(e => pathRe.test(e.path) && (!clientId || e.client_id === clientId))
  }

  return s
}

module.exports = { createFakeServer, API, STORAGE_URL }
