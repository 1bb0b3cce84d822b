// One photo through the pipeline: ticket (same client_id on every ask) → wx.uploadFile straight
// to storage → complete. Every step can be repeated safely, so the uploader simply retries:
// a lost answer, an expired ticket or an upload the server did not see all end in the same
// single photo on the server.

const { apiError, isTransient, platformError } = require('./api')
const { rfc3339 } = require('./time')

const CONTENT_TYPES = {
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  png: 'image/png',
  webp: 'image/webp'
}
// A ticket this close to expiry is renewed before use: the upload itself takes time.
const TICKET_MARGIN_MS = 30 * 1000
const MAX_RENEWALS = 3
const MAX_REUPLOADS = 3
const UPLOAD_TIMEOUT_MS = 5 * 60 * 1000
// Adaptive concurrency (bytes per second measured over all uploads in flight): below SLOW one
// photo at a time (a drop then loses one partial upload, not three), above FAST up to the max.
const SLOW_BPS = 256 * 1024
const FAST_BPS = 1024 * 1024
const MEASURE_WINDOW_MS = 4000
const MEASURE_MIN_MS = 1000
const FILE_GONE_RE = /no such file|not exist|not found|ENOENT/i

/** The refusal for a kept original that is no longer on the phone (cleared cache, deleted). */
function fileMissingError(path) {
  return apiError({
    code: 'photo_file_missing',
    message: '照片原图已不在手机上（可能被清理），请重新拍摄',
    details: { file: path }
  })
}

/** The content type the server expects for a photo file, from its extension (JPEG by default). */
function contentTypeOf(path) {
  const m = /\.([A-Za-z0-9]+)$/.exec(String(path || ''))
  return (m && CONTENT_TYPES[m[1].toLowerCase()]) || 'image/jpeg'
}

function parseBody(data) {
  if (data && typeof data === 'object') return data
  try {
    return JSON.parse(data)
  } catch (e) {
    return null
  }
}

/**
 * The uploader: createUploader({ wx, api, maxConcurrent: 3, adaptive: true, sleep?, now?, maxAttempts? })
 * → { upload, activeCount, limit, wake }.
 */
function createUploader(options) {
  const wx = options.wx
  const api = options.api
  const maxConcurrent = options.maxConcurrent || 3
  const adaptive = options.adaptive !== false
  const maxAttempts = options.maxAttempts || 5
  const baseDelayMs = options.baseDelayMs === undefined ? 1000 : options.baseDelayMs
  const maxDelayMs = options.maxDelayMs || 30000
  const sleep = options.sleep || (ms => new Promise(resolve => setTimeout(resolve, ms)))
  const now = options.now || (() => Date.now())
  const nowMs = () => {
    const t = now()
    return t instanceof Date ? t.getTime() : t
  }

  let active = 0
  const waiting = []
  const sleepers = []
  // Throughput samples {at, bytes} from progress events of every upload; the limit follows them.
  const samples = []
  let current = adaptive ? 1 : maxConcurrent

  // At most `limit()` photos in flight: WeChat allows 10 concurrent requests in all, and on a
  // weak link uploads in parallel only share the bandwidth while a drop loses all of them.
  function acquire() {
    if (active < limit()) {
      active++
      return Promise.resolve()
    }
    return new Promise(resolve => waiting.push(resolve))
  }

  function release() {
    active--
    pump()
  }

  function pump() {
    while (waiting.length && active < limit()) {
      active++
      waiting.shift()()
    }
  }

  /** How many photos may be in flight now: 1 on a slow link, up to maxConcurrent on a good one. */
  function limit() {
    return current
  }

  function measure(bytes) {
    const t = nowMs()
    samples.push({ at: t, bytes })
    while (samples.length && t - samples[0].at > MEASURE_WINDOW_MS) samples.shift()
    if (!adaptive || samples.length < 2) return
    const span = Math.max(1, t - samples[0].at)
    if (span < MEASURE_MIN_MS) return
    const bps = (samples.slice(1).reduce((n, x) => n + x.bytes, 0) * 1000) / span
    const next = bps < SLOW_BPS ? 1 : bps < FAST_BPS ? Math.min(2, maxConcurrent) : maxConcurrent
    if (next !== current) {
      current = next
      pump()
    }
  }

  // Backoff sleeps end early when the app is back in the foreground (wake).
  function nap(ms) {
    return new Promise(resolve => {
      let done = false
      const finish = () => {
        if (done) return
        done = true
        const i = sleepers.indexOf(finish)
        if (i >= 0) sleepers.splice(i, 1)
        resolve()
      }
      sleepers.push(finish)
      Promise.resolve(sleep(ms)).then(finish, finish)
    })
  }

  /** Cut every backoff sleep short: retry now (the app came back to the foreground). */
  function wake() {
    sleepers.slice().forEach(fn => fn())
  }

  function fileSize(path) {
    return new Promise((resolve, reject) => {
      wx.getFileSystemManager().stat({
        path,
        success: res => resolve(res.stats.size),
        fail: () => reject(fileMissingError(path))
      })
    })
  }

  function ticketRequest(item, size) {
    const body = {
      client_id: item.client_id,
      sent_at: rfc3339(now()),
      content_type: item.content_type || contentTypeOf(item.file),
      size
    }
    if (item.feedback) {
      if (item.compressed) body.compressed = true
      return { path: '/feedback/photos', body }
    }
    if (item.target) {
      // A report's or a rectification reply's photo: capture time and place when the phone knows them.
      if (item.taken_at) body.taken_at = item.taken_at
      if (typeof item.lat === 'number' && typeof item.lng === 'number')
        Object.assign(body, { lat: item.lat, lng: item.lng })
      if (item.coord_type && body.lat !== undefined) body.coord_type = item.coord_type
      return {
        path: item.target === 'report' ? '/projects/reports/photos' : '/rectifications/photos',
        body
      }
    }
    body.taken_at = item.taken_at
    if (item.compressed) body.compressed = true
    if (item.no_fix || typeof item.lat !== 'number') {
      // No position arrived: the photo is still evidence, flagged as such by the server.
      body.no_fix = true
      return { path: `/visits/${item.visit_id}/photos`, body }
    }
    body.lat = item.lat
    body.lng = item.lng
    if (item.coord_type) body.coord_type = item.coord_type
    return { path: `/visits/${item.visit_id}/photos`, body }
  }

  function uploadOnce(ticket, filePath, onProgress) {
    return new Promise((resolve, reject) => {
      const task = wx.uploadFile({
        url: ticket.url,
        filePath,
        name: ticket.file_field || 'file',
        formData: ticket.fields || {},
        timeout: UPLOAD_TIMEOUT_MS,
        success: res => resolve({ status: res.statusCode, data: res.data }),
        fail: err => {
          const msg = (err && err.errMsg) || ''
          // A missing file and a host off the domain list fail like no signal; neither is.
          if (FILE_GONE_RE.test(msg) && !/domain/i.test(msg))
            return reject(fileMissingError(filePath))
          reject(
            platformError(msg) ||
              apiError({
                offline: true,
                code: 'offline',
                message: '网络不可用，照片稍后自动上传',
                details: { errMsg: msg }
              })
          )
        }
      })
      let lastSent = 0
      if (task && typeof task.onProgressUpdate === 'function') {
        task.onProgressUpdate(p => {
          const sent = p.totalBytesSent || 0
          if (sent > lastSent) measure(sent - lastSent)
          lastSent = sent
          if (onProgress) onProgress(p.progress, { sent, total: p.totalBytesExpectedToSend })
        })
      }
    })
  }

  // Judged by the phone's clock, which may be wrong by hours: a ticket just received is always
  // tried (a real expiry then answers 403 and is renewed), only one held across a retry is
  // renewed up front when the clock says it ran out.
  function ticketStale(ticket) {
    const t = Date.parse(ticket.expires_at)
    return (
      !isNaN(t) && nowMs() - ticket.received_at > TICKET_MARGIN_MS && t - nowMs() < TICKET_MARGIN_MS
    )
  }

  function backoff(n) {
    const ms = Math.min(maxDelayMs, baseDelayMs * Math.pow(2, n - 1))
    return ms * (0.75 + Math.random() * 0.5)
  }

  function rejectedError(photo) {
    return apiError({
      status: 422,
      code: photo.reject_code || 'photo_rejected',
      message: photo.reject_reason || '照片未通过校验，请重新拍摄',
      details: { photo_id: photo.id }
    })
  }

  async function run(item, onProgress, onState) {
    const progress = (p, extra) => {
      if (onProgress) onProgress(p, extra)
    }
    const state = patch => {
      if (onState) onState(patch)
    }
    let photoId = item.photo_id || null
    let uploaded = !!(item.uploaded && photoId)
    let ticket = null
    let failures = 0
    let renewals = 0
    let reuploads = 0
    let size = item.size || null
    for (;;) {
      try {
        if (!uploaded) {
          // The original is looked at before every upload, known size or not: a file the
          // user's cleanup removed must be reported, not retried as if offline.
          const onDisk = await fileSize(item.file)
          if (!size) size = onDisk
          if (!ticket || ticketStale(ticket)) {
            const req = ticketRequest(item, size)
            const ans = (await api.request('POST', req.path, req.body)).data
            photoId = ans.photo_id
            state({ photo_id: photoId, size })
            if (ans.photo && ans.photo.status === 'rejected') throw rejectedError(ans.photo)
            if (!ans.upload) {
              // Already uploaded and verified (a retry after a lost answer): just confirm.
              uploaded = true
            }
            ticket = ans.upload ? Object.assign({}, ans.upload, { received_at: nowMs() }) : null
          }
          if (!uploaded) {
            progress(0)
            const res = await uploadOnce(ticket, item.file, progress)
            if (res.status >= 200 && res.status < 300) {
              uploaded = true
              progress(100)
              state({ uploaded: true })
            } else if (res.status === 409) {
              // upload_sealed: the server already verified and sealed this photo's upload (an
              // earlier send landed); nothing may replace it, so go straight to complete.
              uploaded = true
              state({ uploaded: true })
            } else if (res.status === 403 && renewals < MAX_RENEWALS) {
              // Expired or refused signature: a fresh ticket for the same photo (same client_id).
              renewals++
              ticket = null
              continue
            } else {
              const body = parseBody(res.data)
              const e = body && body.error
              throw apiError({
                status: res.status,
                code: (e && e.code) || `upload_${res.status}`,
                message: (e && e.message) || `照片上传失败（${res.status}）`,
                details: e && e.details,
                data: body || res.data
              })
            }
          }
        }
        const done = await api.request('POST', `/photos/${photoId}/complete`)
        return done.data
      } catch (err) {
        if (err && err.code === 'photo_not_uploaded' && reuploads < MAX_REUPLOADS) {
          // The server has no object (an upload answer was lost before it landed): send again.
          reuploads++
          uploaded = false
          state({ uploaded: false })
          continue
        }
        if (!isTransient(err)) throw err
        failures++
        if (failures >= maxAttempts) throw err
        await nap(
          Math.max(backoff(failures), typeof err.retryAfterMs === 'number' ? err.retryAfterMs : 0)
        )
      }
    }
  }

  /** Ticket → upload → complete for one photo item; resolves the ready photo, rejects an ApiError. */
  function upload(item, onProgress, onState) {
    return acquire()
      .then(() => run(item, onProgress, onState))
      .then(
        photo => {
          release()
          return photo
        },
        err => {
          release()
          throw err
        }
      )
  }

  /** How many photos are being uploaded right now. */
  function activeCount() {
    return active
  }

  return { upload, activeCount, limit, wake }
}

module.exports = { createUploader, contentTypeOf }
