// The one door to the server: JSON over wx.request with the bearer token, a transparent
// WeChat re-login on 401, and errors shaped so pages can show them and the queue can decide
// whether retrying could help.

const TOKEN_KEY = 'auth.token'
const USER_KEY = 'auth.user'
const DEFAULT_TIMEOUT_MS = 20000

const OFFLINE_MESSAGE = '网络不可用，已保存在手机上，有信号后会自动上传'

/** An Error carrying the server's {code, message, details}, the HTTP status and the raw body. */
function apiError(fields) {
  const err = new Error(fields.message || '请求失败，请稍后重试')
  err.name = 'ApiError'
  err.status = fields.status || 0
  err.code = fields.code || 'request_failed'
  err.details = fields.details || {}
  err.data = fields.data
  err.offline = !!fields.offline
  return err
}

// WeChat refuses, without any network, a host missing from the mini-program's 服务器域名 list
// and any private API before the user agreed to the 隐私保护指引; both fail like no signal
// would, but waiting for signal cannot fix them.
const DOMAIN_RE = /not in domain list|domain list|url not in|合法域名/i
const PRIVACY_RE = /privacy|隐私/i

/** A configuration error (host missing from the domain list, privacy guide not agreed), or null. */
function platformError(errMsg) {
  const msg = String(errMsg || '')
  const host = (/https?:\/\/([^/\s"']+)/.exec(msg) || [])[1] || ''
  if (DOMAIN_RE.test(msg)) {
    return apiError({
      code: 'domain_not_configured',
      status: 0,
      message: `服务器域名未配置${host ? `（${host}）` : ''}：请联系管理员在小程序后台“开发管理→服务器域名”中添加`,
      details: { errMsg: msg, host }
    })
  }
  if (PRIVACY_RE.test(msg)) {
    return apiError({
      code: 'privacy_denied',
      status: 0,
      message: '尚未同意隐私保护指引，无法使用此功能：请在弹窗中同意后重试',
      details: { errMsg: msg }
    })
  }
  return null
}

/** The rejection for a request that never got an answer (no signal, timeout, DNS, TLS). */
function offlineError(errMsg) {
  return (
    platformError(errMsg) ||
    apiError({
      offline: true,
      code: 'offline',
      message: OFFLINE_MESSAGE,
      details: { errMsg: errMsg || '' }
    })
  )
}

/** Milliseconds a Retry-After header (seconds or an HTTP date) asks to wait, or null. */
function retryAfterMs(header, nowMs) {
  const h = header || {}
  const key = Object.keys(h).find(k => k.toLowerCase() === 'retry-after')
  if (!key) return null
  const v = String(h[key]).trim()
  if (/^\d+$/.test(v)) return Number(v) * 1000
  const t = Date.parse(v)
  return isNaN(t) ? null : Math.max(0, t - (nowMs === undefined ? Date.now() : nowMs))
}

// A server error body is {"error": {code, message, details}}; a proxy's HTML page is not.
function errorFromResponse(status, data, header) {
  const body = data && typeof data === 'object' ? data.error : null
  let err
  if (body && typeof body === 'object') {
    err = apiError({ status, code: body.code, message: body.message, details: body.details, data })
  } else {
    const message =
      status >= 500 ? `服务器暂时不可用（${status}），请稍后重试` : `请求失败（${status}）`
    err = apiError({ status, code: `http_${status}`, message, data })
  }
  err.retryAfterMs = retryAfterMs(header)
  return err
}

function joinUrl(baseUrl, path) {
  if (/^https?:\/\//.test(path)) return path
  const base = String(baseUrl || '').replace(/\/+$/, '')
  let p = path.charAt(0) === '/' ? path : '/' + path
  // Paths are relative to /api/v1; tolerate callers who spell the prefix out as well.
  if (/\/api\/v1$/.test(base) && p.indexOf('/api/v1/') === 0) p = p.slice('/api/v1'.length)
  return base + p
}

/** The API client: createApi({ wx, baseUrl, timeoutMs? }) → { request, ensureLogin, bind, user, ... }. */
function createApi(options) {
  const wx = options.wx
  const baseUrl = options.baseUrl
  const timeoutMs = options.timeoutMs || DEFAULT_TIMEOUT_MS
  let loginInFlight = null

  function token() {
    return wx.getStorageSync(TOKEN_KEY) || ''
  }

  function saveSession(data) {
    wx.setStorageSync(TOKEN_KEY, data.token)
    wx.setStorageSync(USER_KEY, data.user || null)
    return data.user || null
  }

  // One HTTP exchange; resolves {status, data, header} for any answer, rejects only offline.
  function send(method, path, data, auth) {
    return new Promise((resolve, reject) => {
      const header = { 'content-type': 'application/json' }
      const t = auth ? token() : ''
      if (t) header.Authorization = 'Bearer ' + t
      const req = {
        url: joinUrl(baseUrl, path),
        method: String(method || 'GET').toUpperCase(),
        header,
        timeout: timeoutMs,
        dataType: 'json',
        success: res =>
          resolve({ status: res.statusCode, data: res.data, header: res.header || {} }),
        fail: err => reject(offlineError(err && err.errMsg))
      }
      if (data !== undefined && data !== null) req.data = data
      wx.request(req)
    })
  }

  function wxLogin() {
    return new Promise((resolve, reject) => {
      wx.login({
        success: res =>
          res && res.code
            ? resolve(res.code)
            : reject(apiError({ code: 'wx_login_failed', message: '微信登录失败，请稍后重试' })),
        // wx.login needs the network too: without signal it is the same as being offline.
        fail: err => reject(offlineError(err && err.errMsg))
      })
    })
  }

  // wx.login → POST /auth/wechat; concurrent callers share one login so codes are not wasted.
  function login() {
    if (!loginInFlight) {
      loginInFlight = wxLogin()
        .then(code => send('POST', '/auth/wechat', { code }, false))
        .then(res => {
          if (res.status >= 200 && res.status < 300 && res.data && res.data.token)
            return saveSession(res.data)
          throw errorFromResponse(res.status, res.data)
        })
      const clear = () => {
        loginInFlight = null
      }
      loginInFlight.then(clear, clear)
    }
    return loginInFlight
  }

  /** Send a JSON request; resolves {status, data} on 2xx, rejects an ApiError (or {offline:true}). */
  function request(method, path, data, opts) {
    const auth = !(opts && opts.auth === false)
    const sentWith = auth ? token() : ''
    return send(method, path, data, auth)
      .then(res => {
        if (res.status === 401 && auth) {
          // The token expired or was revoked (e.g. after binding): log in again once and retry.
          // Another request may already have renewed it; then just retry with the new one.
          const renewed = token() && token() !== sentWith ? Promise.resolve() : login()
          return renewed.then(() => send(method, path, data, auth))
        }
        return res
      })
      .then(res => {
        if (res.status >= 200 && res.status < 300) return { status: res.status, data: res.data }
        throw errorFromResponse(res.status, res.data, res.header)
      })
  }

  /** A logged-in user: the stored one, or a fresh WeChat login; resolves the user. */
  function ensureLogin() {
    if (token()) return Promise.resolve(user())
    return login()
  }

  /** Bind this WeChat to the staff account of a one-time invite code; resolves the staff user. */
  function bind(inviteCode) {
    return ensureLogin()
      .then(() => request('POST', '/auth/bind', { invite_code: String(inviteCode || '').trim() }))
      .then(res => saveSession(res.data))
  }

  /** The logged-in user {id, name, roles} as last answered by the server, or null. */
  function user() {
    return wx.getStorageSync(USER_KEY) || null
  }

  /** Forget the session (the next request logs in through WeChat again). */
  function logout() {
    wx.removeStorageSync(TOKEN_KEY)
    wx.removeStorageSync(USER_KEY)
  }

  /** Ask the server who we are (GET /auth/me) and remember it; resolves the user. */
  function refreshUser() {
    return request('GET', '/auth/me').then(res => {
      wx.setStorageSync(USER_KEY, res.data)
      return res.data
    })
  }

  return {
    request,
    ensureLogin,
    bind,
    user,
    logout,
    refreshUser,
    baseUrl,
    url: path => joinUrl(baseUrl, path)
  }
}

/** True when retrying the same request later may succeed (offline, timeouts, 5xx, 429, 401). */
function isTransient(err) {
  if (!err) return false
  if (err.offline) return true
  const s = err.status
  return s === 401 || s === 408 || s === 429 || s >= 500
}

module.exports = {
  createApi,
  apiError,
  offlineError,
  platformError,
  retryAfterMs,
  isTransient,
  TOKEN_KEY,
  USER_KEY
}
