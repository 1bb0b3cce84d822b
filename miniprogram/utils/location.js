// A fresh position for a check-in or a photo. wx.getLocation may answer a cached fix from
// minutes ago; continuous updates give fixes as the phone gets them, and the first good one
// (or the best one by the deadline) is taken. onLocationChange carries no timestamp: a fix is
// as fresh as the callback that brought it. Where startLocationUpdate is missing or not
// approved (开发管理→接口设置), wx.getLocation with isHighAccuracy is the fallback.

const { rfc3339 } = require('./time')

const GOOD_ACCURACY_M = 65
const DEFAULT_TIMEOUT_MS = 15000

const DENIED_RE = /auth|permission denied|deny|denied/i
const PRIVACY_RE = /privacy/i

function locationError(code, message, errMsg) {
  const err = new Error(message)
  err.code = code
  err.details = { errMsg: errMsg || '' }
  return err
}

/** The locator: createLocation({ wx, now?, timers? }) → { freshFix({ timeoutMs, maxAccuracyM }) }. */
function createLocation(options) {
  const wx = options.wx
  const now = options.now || (() => new Date())
  const timers = options.timers || {
    setTimeout: (fn, ms) => setTimeout(fn, ms),
    clearTimeout: t => clearTimeout(t)
  }
  let inFlight = null

  function nowMs() {
    const t = now()
    return t instanceof Date ? t.getTime() : t
  }

  function fix(res) {
    const accuracy = Number(res.accuracy !== undefined ? res.accuracy : res.horizontalAccuracy)
    return {
      lat: res.latitude,
      lng: res.longitude,
      accuracy: isNaN(accuracy) ? null : accuracy,
      coord_type: 'gcj02',
      time: rfc3339(nowMs())
    }
  }

  function acquire(timeoutMs, maxAccuracyM) {
    return new Promise((resolve, reject) => {
      const startedAt = nowMs()
      let best = null

      function failure(msg) {
        if (PRIVACY_RE.test(msg))
          return locationError(
            'privacy_denied',
            '尚未同意隐私保护指引，无法获取位置：请同意后重试',
            msg
          )
        if (DENIED_RE.test(msg))
          return locationError(
            'location_denied',
            '无法获取位置：请在设置中允许小程序使用位置信息',
            msg
          )
        return locationError(
          'location_unavailable',
          '无法获取位置：请打开手机定位（GPS）后重试',
          msg
        )
      }
      let done = false
      let timer = null

      function finish(result, error) {
        if (done) return
        done = true
        if (timer) timers.clearTimeout(timer)
        // Stop listening and stop the GPS: continuous updates drain the battery.
        try {
          wx.offLocationChange(listener)
        } catch (e) {
          /* older base library: nothing to remove */
        }
        try {
          wx.stopLocationUpdate({})
        } catch (e) {
          /* already stopped */
        }
        if (error) reject(error)
        else resolve(result)
      }

      function listener(res) {
        if (done || !res || typeof res.latitude !== 'number') return
        const f = fix(res)
        if (f.accuracy !== null && f.accuracy <= maxAccuracyM) {
          finish(f)
          return
        }
        if (
          !best ||
          (f.accuracy !== null && (best.accuracy === null || f.accuracy < best.accuracy))
        )
          best = f
      }

      function fallback() {
        // One high-accuracy fix from getLocation, stamped with the time it arrived.
        wx.getLocation({
          type: 'gcj02',
          isHighAccuracy: true,
          highAccuracyExpireTime: Math.max(3000, timeoutMs - (nowMs() - startedAt)),
          success: res => finish(fix(res)),
          fail: err => finish(null, failure((err && err.errMsg) || ''))
        })
      }

      if (
        typeof wx.startLocationUpdate !== 'function' ||
        typeof wx.onLocationChange !== 'function'
      ) {
        fallback()
      } else {
        wx.onLocationChange(listener)
        wx.startLocationUpdate({
          type: 'gcj02',
          fail: err => {
            const msg = (err && err.errMsg) || ''
            if (PRIVACY_RE.test(msg) || DENIED_RE.test(msg)) return finish(null, failure(msg))
            // Not approved for this mini-program, or not supported here: ask once instead.
            try {
              wx.offLocationChange(listener)
            } catch (e) {
              /* nothing registered */
            }
            fallback()
          }
        })
      }
      timer = timers.setTimeout(() => {
        if (best) finish(best)
        else finish(null, locationError('location_timeout', '定位超时：请到开阔处稍候再试', ''))
      }, timeoutMs)
    })
  }

  /** A fix newer than the call: the first with accuracy ≤ 65 m, else the best one at timeoutMs. */
  function freshFix(opts) {
    const o = opts || {}
    // One GPS session at a time: a second caller shares the fix being acquired.
    if (!inFlight) {
      inFlight = acquire(o.timeoutMs || DEFAULT_TIMEOUT_MS, o.maxAccuracyM || GOOD_ACCURACY_M)
      const clear = () => {
        inFlight = null
      }
      inFlight.then(clear, clear)
    }
    return inFlight
  }

  /** Send the inspector to the settings page to allow location (after a refusal); resolves whether it is allowed now. */
  function openSettings() {
    return new Promise(resolve => {
      wx.openSetting({
        success: res =>
          resolve(!!(res && res.authSetting && res.authSetting['scope.userLocation'])),
        fail: () => resolve(false)
      })
    })
  }

  return { freshFix, openSettings }
}

module.exports = { createLocation, GOOD_ACCURACY_M }
