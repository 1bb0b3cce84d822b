// `wx` on Node for the end-to-end test: wx.request and wx.uploadFile over real HTTP (a
// multipart body built like WeChat's: form fields first, then the file), wx.login through the
// fake WeChat server's code_for control endpoint, storage in a Map that a restarted phone
// shares, and a FileSystemManager on a real directory.
//
// `faults` lets the test break the network the way villages do:
//   faults.request(req) → 'drop' (never sent) | 'lose_answer' (server answered, phone never heard)
//                         | 'kill' (server answered, the app was killed before it heard)
//                         | {busy: 503 | 429, retryAfter} (a gateway answered busy; never sent)
//   faults.upload(req)  → 'drop' | 'interrupt' (connection cut halfway through the body)
//                         | 'corrupt_signature' (the storage refuses the ticket: 403)

const fs = require('fs')
const http = require('http')
const path = require('path')
const crypto = require('crypto')
const { serialised, storedBytes, refusal, storageSizes } = require('../support/wx-storage')

function clone(x) {
  return x === undefined ? undefined : JSON.parse(JSON.stringify(x))
}

function send(url, { method, headers, body, onProgress, cutAt }) {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers, agent: false }, res => {
      const chunks = []
      res.on('data', c => chunks.push(c))
      res.on('end', () =>
        resolve({ statusCode: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) })
      )
      res.on('error', reject)
    })
    req.on('error', reject)
    if (!body) return req.end()
    // Written in pieces so progress can be reported, and so a connection can be cut halfway.
    const step = 64 * 1024
    let sent = 0
    const pump = () => {
      while (sent < body.length) {
        if (cutAt !== undefined && sent >= cutAt) {
          req.destroy(new Error('interrupted'))
          return
        }
        const piece = body.subarray(sent, Math.min(body.length, sent + step))
        sent += piece.length
        if (onProgress) onProgress(sent, body.length)
        if (!req.write(piece)) {
          req.once('drain', pump)
          return
        }
      }
      req.end()
    }
    pump()
  })
}

function parseJsonMaybe(buf, contentType) {
  const text = buf.toString('utf8')
  if (!text) return ''
  // wx.request with dataType json parses whatever it can, like WeChat does.
  try {
    return JSON.parse(text)
  } catch (e) {
    return /json/.test(contentType || '') ? text : text
  }
}

function multipart(fields, fileField, fileName, fileBytes, fileType) {
  const boundary = '----wxNodeShim' + crypto.randomBytes(8).toString('hex')
  const parts = []
  Object.keys(fields || {}).forEach(k => {
    parts.push(
      Buffer.from(
        `--${boundary}\r\nContent-Disposition: form-data; name="${k}"\r\n\r\n${fields[k]}\r\n`
      )
    )
  })
  parts.push(
    Buffer.from(
      `--${boundary}\r\nContent-Disposition: form-data; name="${fileField}"; filename="${fileName}"\r\nContent-Type: ${fileType}\r\n\r\n`
    )
  )
  parts.push(fileBytes)
  parts.push(Buffer.from(`\r\n--${boundary}--\r\n`))
  return { body: Buffer.concat(parts), contentType: `multipart/form-data; boundary=${boundary}` }
}

/**
 * A Node `wx`: createNodeWx({ storage: Map, userDataPath, wechatUrl, openid, faults, log }).
 * Storage keeps WeChat's limits (1 MB per key, 10 MB in all); after kill() nothing calls back.
 */
function createNodeWx(options) {
  const storage = options.storage
  const userDataPath = options.userDataPath
  const faults = options.faults || {}
  const log = options.log || []
  const stats = { storageMaxKeyBytes: 0, storageRefused: 0 }
  let dead = false
  fs.mkdirSync(userDataPath, { recursive: true })

  // Bytes per key, shared by every wx over the same storage (a restarted phone's flash).
  const sizes = storageSizes(storage)

  // A killed app hears nothing more.
  const alive =
    fn =>
    (...args) => {
      if (!dead && fn) fn(...args)
    }

  const wx = {
    env: { USER_DATA_PATH: userDataPath },
    log,
    stats,
    kill() {
      dead = true
    },
    get dead() {
      return dead
    },
    storageBytes() {
      return sizes.total()
    },

    getStorageSync(key) {
      return storage.has(key) ? clone(storage.get(key)) : ''
    },
    setStorageSync(key, value) {
      if (dead) return
      // Serialised once: for its size and for the copy kept (what a later read gets back).
      const text = serialised(value)
      const bytes = storedBytes(key, text)
      const refused = refusal(bytes, sizes.total(key))
      if (refused) {
        stats.storageRefused++
        throw Object.assign(new Error(refused), { errMsg: refused })
      }
      stats.storageMaxKeyBytes = Math.max(stats.storageMaxKeyBytes, bytes)
      sizes.record(key, bytes)
      storage.set(key, value === undefined ? undefined : JSON.parse(text))
    },
    removeStorageSync(key) {
      if (storage.has(key)) sizes.forget(key)
      storage.delete(key)
    },

    request(req) {
      const method = (req.method || 'GET').toUpperCase()
      let url = req.url
      let body
      const headers = Object.assign({}, req.header || {})
      if (req.data !== undefined && method === 'GET') {
        const q = new URLSearchParams(req.data).toString()
        if (q) url += (url.indexOf('?') >= 0 ? '&' : '?') + q
      } else if (req.data !== undefined) {
        body = Buffer.from(JSON.stringify(req.data))
        headers['content-type'] = 'application/json'
        headers['content-length'] = body.length
      }
      if (dead) return { abort() {} }
      const fault = faults.request ? faults.request({ method, url, data: req.data }) : null
      const entry = {
        kind: 'request',
        method,
        url: url.replace(/^https?:\/\/[^/]+/, ''),
        client_id: req.data && req.data.client_id,
        fault
      }
      log.push(entry)
      const fail = alive(req.fail)
      const success = alive(req.success)
      if (fault === 'drop') {
        setImmediate(() => fail({ errMsg: 'request:fail timeout' }))
        return { abort() {} }
      }
      if (fault && fault.busy) {
        entry.status = fault.busy
        const data = {
          error: {
            code: fault.busy === 429 ? 'rate_limited' : 'service_unavailable',
            message: '服务器繁忙，请稍后重试',
            details: {}
          }
        }
        setImmediate(() =>
          success({
            statusCode: fault.busy,
            data,
            header: { 'retry-after': String(fault.retryAfter || 0) }
          })
        )
        return { abort() {} }
      }
      send(url, { method, headers, body }).then(
        res => {
          entry.status = res.statusCode
          if (fault === 'kill') {
            dead = true
            return
          }
          if (fault === 'lose_answer') return fail({ errMsg: 'request:fail socket closed' })
          success({
            statusCode: res.statusCode,
            data: parseJsonMaybe(res.body, res.headers['content-type']),
            header: res.headers
          })
        },
        err => fail({ errMsg: `request:fail ${err.message}` })
      )
      return { abort() {} }
    },

    uploadFile(req) {
      const progressFns = []
      const task = { onProgressUpdate: fn => progressFns.push(fn), abort() {} }
      if (dead) return task
      req = Object.assign({}, req, { success: alive(req.success), fail: alive(req.fail) })
      const fields = Object.assign({}, req.formData || {})
      const fault = faults.upload
        ? faults.upload({ url: req.url, filePath: req.filePath, formData: fields })
        : null
      const entry = {
        kind: 'upload',
        url: req.url.replace(/^https?:\/\/[^/]+/, ''),
        file: req.filePath,
        fault
      }
      log.push(entry)
      if (fault === 'corrupt_signature')
        fields.signature = (fields.signature[0] === 'A' ? 'B' : 'A') + fields.signature.slice(1)
      let bytes
      try {
        bytes = fs.readFileSync(req.filePath)
      } catch (e) {
        setImmediate(() => req.fail && req.fail({ errMsg: 'uploadFile:fail file not found' }))
        return task
      }
      if (fault === 'drop') {
        setImmediate(() => req.fail && req.fail({ errMsg: 'uploadFile:fail timeout' }))
        return task
      }
      const type = /\.png$/i.test(req.filePath) ? 'image/png' : 'image/jpeg'
      const form = multipart(fields, req.name || 'file', path.basename(req.filePath), bytes, type)
      send(req.url, {
        method: 'POST',
        headers: { 'content-type': form.contentType, 'content-length': form.body.length },
        body: form.body,
        cutAt: fault === 'interrupt' ? Math.floor(form.body.length / 2) : undefined,
        onProgress: (sent, total) =>
          progressFns.forEach(fn =>
            fn({
              progress: Math.floor((sent / total) * 100),
              totalBytesSent: sent,
              totalBytesExpectedToSend: total
            })
          )
      }).then(
        res => {
          entry.status = res.statusCode
          req.success &&
            req.success({ statusCode: res.statusCode, data: res.body.toString('utf8') })
        },
        err => {
          entry.status = 'cut'
          req.fail && req.fail({ errMsg: `uploadFile:fail ${err.message}` })
        }
      )
      return task
    },

    login(req) {
      if (dead) return
      req = Object.assign({}, req, { success: alive(req.success), fail: alive(req.fail) })
      const body = Buffer.from(JSON.stringify({ openid: options.openid }))
      send(`${options.wechatUrl}/__fake__/code_for`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'content-length': body.length },
        body
      }).then(
        res => {
          const code = JSON.parse(res.body.toString('utf8')).result
          req.success && req.success({ code, errMsg: 'login:ok' })
        },
        err => req.fail && req.fail({ errMsg: `login:fail ${err.message}` })
      )
    },

    getFileSystemManager() {
      const statsOf = st => ({
        size: st.size,
        isDirectory: () => st.isDirectory(),
        isFile: () => st.isFile()
      })
      const walk = (dir, base) =>
        fs.readdirSync(dir).flatMap(name => {
          const p = path.join(dir, name)
          const st = fs.statSync(p)
          const rel = base + '/' + name
          return st.isDirectory()
            ? [{ path: rel, stats: statsOf(st) }].concat(walk(p, rel))
            : [{ path: rel, stats: statsOf(st) }]
        })
      return {
        saveFileSync(tempFilePath, filePath) {
          fs.copyFileSync(tempFilePath, filePath)
          fs.unlinkSync(tempFilePath)
          return filePath
        },
        unlinkSync(p) {
          try {
            fs.unlinkSync(p)
          } catch (e) {
            const err = new Error(`unlinkSync:fail no such file or directory ${p}`)
            err.errMsg = err.message
            throw err
          }
        },
        statSync(p, recursive) {
          const st = fs.statSync(p)
          if (st.isDirectory() && recursive) return walk(p, '')
          return statsOf(st)
        },
        readdirSync(p) {
          return fs.readdirSync(p)
        },
        stat(req) {
          fs.stat(req.path, (err, st) => {
            if (dead) return
            if (err) return req.fail && req.fail({ errMsg: `stat:fail ${err.message}` })
            req.success && req.success({ stats: statsOf(st) })
          })
        }
      }
    },

    // One fixed position, reported continuously once updates start (the phone stands in the village).
    startLocationUpdate(req) {
      wx._updating = true
      setImmediate(() => req && req.success && req.success({}))
      const tick = () => {
        if (!wx._updating) return
        wx._listeners.forEach(fn => fn(Object.assign({}, options.position)))
        setTimeout(tick, 2)
      }
      setTimeout(tick, 2)
    },
    stopLocationUpdate() {
      wx._updating = false
    },
    onLocationChange(fn) {
      wx._listeners.push(fn)
    },
    offLocationChange(fn) {
      wx._listeners = wx._listeners.filter(x => x !== fn)
    },
    _listeners: [],
    _updating: false
  }
  return wx
}

module.exports = { createNodeWx, send }
