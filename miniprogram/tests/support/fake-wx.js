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
//
// Like WeChat, storage holds at most 1 MB per key and 10 MB in all (always on: a write past
// either limit throws), a host missing from `domains` fails with "url not in domain list",
// `privacy: 'refused'` makes every private API fail as WeChat does before the 隐私保护指引 is
// agreed, and `link` (tests/support/weak-link.js) carries uploads at a bandwidth with drops.

const USER_DATA_PATH = 'wxfile://usr'
const { serialised, storedBytes, refusal, storageSizes } = require('./wx-storage')

function hostOf(url) {
  return (/^[a-z]+:\/\/([^/]+)/i.exec(String(url || '')) || [])[1] || ''
}

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
  const clock = opts.clock || null
  const link = opts.link || null
  let dead = false
  const rules = []
  const locationListeners = []
  const stats = {
    requests: 0,
    uploads: 0,
    uploadsActive: 0,
    uploadsMaxActive: 0,
    logins: 0,
    setStorage: 0,
    storageMaxBytes: 0,
    storageMaxKeyBytes: 0,
    storageRefused: 0,
    dirScans: 0
  }
  let privacyHandler = null

  // Callbacks arrive later, like real network answers; a killed app receives nothing.
  function later(fn, ms) {
    const run = () => {
      if (!dead) fn()
    }
    // With a virtual clock only delays run on it; answers without delay stay instant.
    if (clock && ms) clock.setTimeout(run, ms)
    else if (ms) setTimeout(run, ms)
    else setImmediate(run)
  }

  // Bytes per key, shared by every fake over the same storage (a restarted phone's flash).
  const sizes = storageSizes(storage)

  // A host WeChat would refuse: not on the list given for this kind of call.
  function refusedHost(kind, url) {
    const list = opts.domains && opts.domains[kind]
    return !!list && list.indexOf(hostOf(url)) < 0
  }

  // Before the user agreed to the privacy guide, private APIs fail (after asking the app).
  function privacyRefused(api, req) {
    if (opts.privacy !== 'refused') return false
    if (privacyHandler) privacyHandler(() => {}, { referrer: api })
    later(
      () =>
        req &&
        req.fail &&
        req.fail({ errMsg: `${api}:fail privacy permission is not authorized`, errno: 104 })
    )
    return true
  }

  function ruleFor(kind, req) {
    const r = rules.find(
      x => x.left > 0 && (!x.kind || x.kind === kind) && (!x.match || x.match(req))
    )
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

  // An upload over the simulated weak link: bytes flow at the link's shared bandwidth; a drop
  // fails it (and every other upload in flight) and the server never sees a partial object.
  function linkUpload(req, file, task, progressFns) {
    stats.uploadsActive++
    stats.uploadsMaxActive = Math.max(stats.uploadsMaxActive, stats.uploadsActive)
    link.start(
      file.data.length,
      (sent, total) => {
        if (!dead)
          progressFns.forEach(fn =>
            fn({
              progress: Math.floor((100 * sent) / total),
              totalBytesSent: sent,
              totalBytesExpectedToSend: total
            })
          )
      },
      failed => {
        stats.uploadsActive--
        if (dead) return
        if (failed) return req.fail && req.fail({ errMsg: 'uploadFile:fail interrupted' })
        const answer = server.handleUpload({
          url: req.url,
          name: req.name,
          formData: clone(req.formData),
          file: file.data
        })
        req.success && req.success({ statusCode: answer.statusCode, data: answer.data })
      }
    )
    return task
  }

  if (link && typeof link.onStatus === 'function') {
    link.onStatus(online => {
      if (!dead)
        wx.networkListeners
          .slice()
          .forEach(fn => fn({ isConnected: online, networkType: online ? '2g' : 'none' }))
    })
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
      // Serialised once: for its size and for the copy kept (what a later read gets back).
      const text = serialised(value)
      const bytes = storedBytes(key, text)
      const refused = refusal(bytes, sizes.total(key), opts.storageLimitBytes)
      if (refused) {
        stats.storageRefused++
        const e = new Error(refused)
        e.errMsg = refused
        throw e
      }
      stats.setStorage++
      sizes.record(key, bytes)
      storage.set(key, value === undefined ? undefined : JSON.parse(text))
      stats.storageMaxKeyBytes = Math.max(stats.storageMaxKeyBytes, bytes)
      stats.storageMaxBytes = Math.max(stats.storageMaxBytes, sizes.total())
    },
    /** Bytes in storage now (what counts against the 10 MB). */
    storageBytes() {
      return sizes.total()
    },
    removeStorageSync(key) {
      if (storage.has(key)) sizes.forget(key)
      storage.delete(key)
    },

    request(req) {
      stats.requests++
      const task = { abort() {} }
      if (dead) return task
      if (refusedHost('request', req.url)) {
        later(
          () => req.fail && req.fail({ errMsg: `request:fail url not in domain list, ${req.url}` })
        )
        return task
      }
      const action = net.offline ? 'drop' : ruleFor('request', req)
      if (action === 'drop') {
        later(() => req.fail && req.fail({ errMsg: 'request:fail timeout' }))
        return task
      }
      later(() => {
        const answer = server.handle({
          url: req.url,
          method: req.method,
          data: clone(req.data),
          header: clone(req.header)
        })
        if (action === 'lose_answer')
          return req.fail && req.fail({ errMsg: 'request:fail socket closed' })
        if (action === 'hang') return
        if (action === 'kill') {
          dead = true
          return
        }
        if (action && typeof action === 'object')
          return req.success && req.success(Object.assign({ header: {} }, action))
        req.success &&
          req.success({
            statusCode: answer.statusCode,
            data: answer.data,
            header: answer.header || {}
          })
      })
      return task
    },

    uploadFile(req) {
      stats.uploads++
      const progressFns = []
      const task = {
        onProgressUpdate: fn => progressFns.push(fn),
        offProgressUpdate() {},
        abort() {}
      }
      if (dead) return task
      if (refusedHost('uploadFile', req.url)) {
        later(
          () =>
            req.fail && req.fail({ errMsg: `uploadFile:fail url not in domain list, ${req.url}` })
        )
        return task
      }
      const action = net.offline ? 'drop' : ruleFor('upload', req)
      const file = fs.get(req.filePath)
      if (link && file && action !== 'drop') return linkUpload(req, file, task, progressFns)
      stats.uploadsActive++
      stats.uploadsMaxActive = Math.max(stats.uploadsMaxActive, stats.uploadsActive)
      const done = () => {
        stats.uploadsActive--
      }
      if (action === 'drop' || !file) {
        later(() => {
          done()
          req.fail &&
            req.fail({
              errMsg: file ? 'uploadFile:fail interrupted' : 'uploadFile:fail file not found'
            })
        })
        return task
      }
      // Half the file is reported sent, then the rest follows after the delay: scheduled one after the
      // other, so that on a busy machine the delay's timer cannot overtake the half-way report.
      later(() => {
        progressFns.forEach(fn =>
          fn({
            progress: 50,
            totalBytesSent: Math.floor(file.data.length / 2),
            totalBytesExpectedToSend: file.data.length
          })
        )
        later(finish, uploadDelayMs)
      })
      const finish = () => {
        done()
        const answer = server.handleUpload({
          url: req.url,
          name: req.name,
          formData: clone(req.formData),
          file: file.data
        })
        if (action === 'lose_answer')
          return req.fail && req.fail({ errMsg: 'uploadFile:fail socket closed' })
        if (action === 'hang') return
        if (action === 'kill') {
          dead = true
          return
        }
        progressFns.forEach(fn =>
          fn({
            progress: 100,
            totalBytesSent: file.data.length,
            totalBytesExpectedToSend: file.data.length
          })
        )
        req.success && req.success({ statusCode: answer.statusCode, data: answer.data })
      }
      return task
    },

    getNetworkType(req) {
      later(() => req && req.success && req.success({ networkType: net.offline ? 'none' : 'wifi' }))
    },
    onNetworkStatusChange(fn) {
      wx.networkListeners.push(fn)
    },
    networkListeners: [],
    /** Signal goes or comes back: WeChat tells the app. */
    setOnline(online) {
      net.offline = !online
      wx.networkListeners
        .slice()
        .forEach(fn => fn({ isConnected: online, networkType: online ? 'wifi' : 'none' }))
    },
    onNeedPrivacyAuthorization(fn) {
      privacyHandler = fn
    },
    requirePrivacyAuthorize(req) {
      if (opts.privacy === 'refused')
        later(
          () =>
            req &&
            req.fail &&
            req.fail({
              errMsg: 'requirePrivacyAuthorize:fail privacy permission is not authorized',
              errno: 104
            })
        )
      else later(() => req && req.success && req.success({}))
    },
    setKeepScreenOn(req) {
      wx.keepScreenOn = !!(req && req.keepScreenOn)
    },
    keepScreenOn: false,

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
            stats.dirScans++
            return Array.from(fs.entries())
              .filter(([p]) => p.indexOf(USER_DATA_PATH + '/') === 0)
              .map(([p, f]) => ({ path: p.slice(USER_DATA_PATH.length), stats: statsOf(f) }))
          }
          const f = fs.get(path)
          if (!f) throw fsError('statSync', path)
          return statsOf(f)
        },
        readdirSync(path) {
          if (path !== USER_DATA_PATH) throw fsError('readdirSync', path)
          stats.dirScans++
          return Array.from(fs.keys())
            .filter(p => p.indexOf(USER_DATA_PATH + '/') === 0)
            .map(p => p.slice(USER_DATA_PATH.length + 1))
        },
        stat(req) {
          const f = fs.get(req.path)
          later(() =>
            f
              ? req.success && req.success({ stats: statsOf(f) })
              : req.fail && req.fail({ errMsg: `stat:fail no such file ${req.path}` })
          )
        }
      }
    },

    startLocationUpdate(req) {
      if (privacyRefused('startLocationUpdate', req)) return
      if (opts.locationUpdateUnavailable) {
        // Not opened under 开发管理→接口设置, or an old base library.
        const errMsg =
          opts.locationUpdateUnavailable === true
            ? 'startLocationUpdate:fail the api need to be declared in the requiredPrivateInfos field in app.json/ext.json'
            : opts.locationUpdateUnavailable
        later(() => req.fail && req.fail({ errMsg }))
        return
      }
      wx.locationUpdating = true
      wx.locationType = req && req.type
      if (opts.locationDenied)
        later(() => req.fail && req.fail({ errMsg: 'startLocationUpdate:fail auth deny' }))
      else later(() => req && req.success && req.success({}))
    },
    getLocation(req) {
      stats.getLocation = (stats.getLocation || 0) + 1
      wx.lastGetLocation = req
      if (privacyRefused('getLocation', req)) return
      if (opts.locationDenied)
        return later(() => req.fail && req.fail({ errMsg: 'getLocation:fail auth deny' }))
      const fix = opts.position || { latitude: 27.1121, longitude: 114.9831, accuracy: 20 }
      later(() => req.success && req.success(Object.assign({}, fix)))
    },
    openSetting(req) {
      stats.openSetting = (stats.openSetting || 0) + 1
      later(() => req && req.success && req.success({ authSetting: {} }))
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
    /** Remove a file behind the app's back (the user cleared WeChat's cache). */
    deleteFile(path) {
      fs.delete(path)
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
  for (let i = 0; i < (turns || 20); i++)
    p = p.then(() => new Promise(resolve => setImmediate(resolve)))
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

module.exports = {
  createFakeWx,
  settle,
  waitFor,
  USER_DATA_PATH
}
