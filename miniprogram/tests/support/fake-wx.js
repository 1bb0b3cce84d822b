// A fake `wx` for the utils tests: storage and files in Maps that a "restarted" fake can
// share (the phone's flash survives a kill), wx.request / wx.uploadFile routed to a fake
// server with scriptable network trouble, wx.login, and continuous location updates.
//
// Network trouble is scripted per request with wx.net.rule({ match, action, times }):
//   'drop'        the request never reaches the server; fail callback (no signal)
//   'lose_answer' the server handles it, the answer is lost; fail callback
//   'hang'        the server handles it, no callback ever (a request still out)
//   'kill'        the server handles it, then the app is killed before the answer arrives
// wx.net.offline = true makes every call fail at once. After wx.kill() nothing calls back.

const USER_DATA_PATH = 'wxfile://usr'

function clone(x) {
  return x === undefined ? undefined : JSON.parse(JSON.stringify(x))
}

function fsError(op, path) {
  const e = new Error(`${op}:fail no such file or directory ${path}`)
  e.errMsg = e.message
  return e
}

/** A fake wx: createFakeWx({ server, storage?: Map, fs?: Map, openid?, uploadDelayMs? }). */
function createFakeWx(options) {
  const opts = options || {}
  const server = opts.server
  const storage = opts.storage || new Map()
  const fs = opts.fs || new Map()
  const openid = opts.openid || 'openid-phone-1'
  const uploadDelayMs = opts.uploadDelayMs === undefined ? 2 : opts.uploadDelayMs
  let dead = false
  const rules = []
  const locationListeners = []
  const stats = { requests: 0, uploads: 0, uploadsActive: 0, uploadsMaxActive: 0, logins: 0, setStorage: 0 }

  // Callbacks arrive later, like real network answers; a killed app receives nothing.
  function later(fn, ms) {
    const run = () => { if (!dead) fn() }
    if (ms) setTimeout(run, ms)
    else setImmediate(run)
  }

  function ruleFor(kind, req) {
    const r = rules.find(x => x.left > 0 && (!x.kind || x.kind === kind) && (!x.match || x.match(req)))
    if (!r) return null
    r.left--
    return r.action
  }

  const net = {
    offline: false,
    /** Add a one-shot (or `times`) network rule; kind 'request' | 'upload' | 'login' or any. */
    rule(r) {
      rules.push({ match: r.match, action: r.action, kind: r.kind, left: r.times || 1 })
    },
    clear() {
      rules.length = 0
    }
  }

  const wx = {
    env: { USER_DATA_PATH },
    net,
    stats,
    storage,
    fs,

    getStorageSync(key) {
      return storage.has(key) ? clone(storage.get(key)) : ''
    },
    setStorageSync(key, value) {
      if (dead) return // a killed app writes nothing more
      if (opts.storageLimitBytes && JSON.stringify(value).length > opts.storageLimitBytes) {
        const e = new Error('setStorageSync:fail exceed storage max size 10Mb')
        e.errMsg = e.message
        throw e
      }
      stats.setStorage++
      storage.set(key, clone(value))
    },
    removeStorageSync(key) {
      storage.delete(key)
    },

    request(req) {
      stats.requests++
      const task = { abort() {} }
      if (dead) return task
      const action = net.offline ? 'drop' : ruleFor('request', req)
      if (action === 'drop') {
        later(() => req.fail && req.fail({ errMsg: 'request:fail timeout' }))
        return task
      }
      later(() => {
        const answer = server.handle({ url: req.url, method: req.method, data: clone(req.data), header: clone(req.header) })
        if (action === 'lose_answer') return req.fail && req.fail({ errMsg: 'request:fail socket closed' })
        if (action === 'hang') return
        if (action === 'kill') {
          dead = true
          return
        }
        if (action && typeof action === 'object') return req.success && req.success(Object.assign({ header: {} }, action))
        req.success && req.success({ statusCode: answer.statusCode, data: answer.data, header: {} })
      })
      return task
    },

    uploadFile(req) {
      stats.uploads++
      const progressFns = []
      const task = { onProgressUpdate: fn => progressFns.push(fn), offProgressUpdate() {}, abort() {} }
      if (dead) return task
      const action = net.offline ? 'drop' : ruleFor('upload', req)
      const file = fs.get(req.filePath)
      stats.uploadsActive++
      stats.uploadsMaxActive = Math.max(stats.uploadsMaxActive, stats.uploadsActive)
      const done = () => { stats.uploadsActive-- }
      if (action === 'drop' || !file) {
        later(() => {
          done()
          req.fail && req.fail({ errMsg: file ? 'uploadFile:fail interrupted' : 'uploadFile:fail file not found' })
        })
        return task
      }
      later(() => {
        progressFns.forEach(fn => fn({ progress: 50, totalBytesSent: Math.floor(file.data.length / 2), totalBytesExpectedToSend: file.data.length }))
      })
      later(() => {
        done()
        const answer = server.handleUpload({ url: req.url, name: req.name, formData: clone(req.formData), file: file.data })
        if (action === 'lose_answer') return req.fail && req.fail({ errMsg: 'uploadFile:fail socket closed' })
        if (action === 'hang') return
        if (action === 'kill') {
          dead = true
          return
        }
        progressFns.forEach(fn => fn({ progress: 100, totalBytesSent: file.data.length, totalBytesExpectedToSend: file.data.length }))
        req.success && req.success({ statusCode: answer.statusCode, data: answer.data })
      }, uploadDelayMs)
      return task
    },

    login(req) {
      stats.logins++
      if (dead) return
      const action = net.offline ? 'drop' : ruleFor('login', req)
      later(() => {
        if (action === 'drop') return req.fail && req.fail({ errMsg: 'login:fail network' })
        req.success && req.success({ code: server.codeFor(openid), errMsg: 'login:ok' })
      })
    },

    getFileSystemManager() {
      const statsOf = f => ({ size: f.data.length, isDirectory: () => false, isFile: () => true })
      return {
        saveFileSync(tempFilePath, filePath) {
          const f = fs.get(tempFilePath)
          if (!f) throw fsError('saveFileSync', tempFilePath)
          const target = filePath || `${USER_DATA_PATH}/saved-${fs.size}`
          fs.delete(tempFilePath) // saveFile moves the temp file
          fs.set(target, f)
          return target
        },
        unlinkSync(path) {
          if (!fs.has(path)) throw fsError('unlinkSync', path)
          fs.delete(path)
        },
        statSync(path, recursive) {
          if (path === USER_DATA_PATH) {
            if (!recursive) return { size: 0, isDirectory: () => true, isFile: () => false }
            return Array.from(fs.entries())
              .filter(([p]) => p.indexOf(USER_DATA_PATH + '/') === 0)
              .map(([p, f]) => ({ path: p.slice(USER_DATA_PATH.length), stats: statsOf(f) }))
          }
          const f = fs.get(path)
          if (!f) throw fsError('statSync', path)
          return statsOf(f)
        },
        stat(req) {
          const f = fs.get(req.path)
          later(() => (f ? req.success && req.success({ stats: statsOf(f) }) : req.fail && req.fail({ errMsg: `stat:fail no such file ${req.path}` })))
        }
      }
    },

    startLocationUpdate(req) {
      wx.locationUpdating = true
      wx.locationType = req && req.type
      if (opts.locationDenied) later(() => req.fail && req.fail({ errMsg: 'startLocationUpdate:fail auth deny' }))
      else later(() => req && req.success && req.success({}))
    },
    stopLocationUpdate() {
      wx.locationUpdating = false
    },
    onLocationChange(fn) {
      locationListeners.push(fn)
    },
    offLocationChange(fn) {
      const i = locationListeners.indexOf(fn)
      if (i >= 0) locationListeners.splice(i, 1)
    },
    locationUpdating: false,

    // ---- test controls ----------------------------------------------------------------------

    /** A camera temp file with these bytes; returns its path. */
    putTempFile(path, data) {
      fs.set(path, { data: Buffer.from(data) })
      return path
    },
    /** Deliver a location update to every listener. */
    emitLocation(res) {
      locationListeners.slice().forEach(fn => fn(res))
    },
    locationListenerCount() {
      return locationListeners.length
    },
    /** The app is killed: no callback arrives any more, no storage write happens. */
    kill() {
      dead = true
    },
    get dead() {
      return dead
    }
  }
  return wx
}

/** Let pending fake callbacks run (a few macrotask turns and a few ms for upload delays). */
function settle(turns) {
  let p = new Promise(resolve => setTimeout(resolve, 5))
  for (let i = 0; i < (turns || 20); i++) p = p.then(() => new Promise(resolve => setImmediate(resolve)))
  return p
}

/** Resolve once cond() is true (checked every turn); reject after timeoutMs. */
function waitFor(cond, timeoutMs) {
  const deadline = Date.now() + (timeoutMs || 2000)
  return new Promise((resolve, reject) => {
    const check = () => {
      if (cond()) return resolve()
      if (Date.now() > deadline) return reject(new Error('waitFor: condition never became true'))
      setTimeout(check, 1)
    }
    check()
  })
}

module.exports = { createFakeWx, settle, waitFor, USER_DATA_PATH }
