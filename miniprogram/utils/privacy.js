// WeChat's 用户隐私保护指引: before the user agreed, location and the camera fail. WeChat asks the
// app (onNeedPrivacyAuthorization) when such an API is called; the page on screen shows why the
// permission is needed, and an agree button (open-type="agreePrivacyAuthorization") or a refusal
// answers WeChat. A refusal keeps the app working where it can (interviews, checklist, notes).

const WHY = {
  location: '签到和现场照片需要位置信息，用于核验是否到达督查现场',
  camera: '现场照片只能用相机拍摄，需要使用相机',
  default: '督查记录需要使用位置信息和相机'
}

function whyOf(referrer) {
  const r = String(referrer || '')
  if (/location/i.test(r)) return WHY.location
  if (/media|camera|image|photo/i.test(r)) return WHY.camera
  return WHY.default
}

/** The privacy gate: createPrivacy({ wx }) → { install, need, agree, refuse, onChange, refused }. */
function createPrivacy(options) {
  const wx = options.wx
  const listeners = []
  let pending = null // {resolve, why}
  let refused = false

  function emit() {
    listeners.slice().forEach(fn => fn(need()))
  }

  /** Register with WeChat (once, in App.onLaunch); older base libraries have no such API. */
  function install() {
    if (typeof wx.onNeedPrivacyAuthorization !== 'function') return false
    wx.onNeedPrivacyAuthorization((resolve, eventInfo) => {
      pending = { resolve, why: whyOf(eventInfo && eventInfo.referrer) }
      emit()
    })
    return true
  }

  /** What the page should show now: null, or {asking: true, why} or {refused: true, text}. */
  function need() {
    if (pending) return { asking: true, why: pending.why }
    if (refused)
      return {
        refused: true,
        text: '未同意隐私保护指引：无法签到和拍照（需要位置信息和相机，用于核验是否到达现场）。走访记录、检查结果和备注仍可填写；点“查看并同意”后可继续签到和拍照。'
      }
    return null
  }

  /** The user tapped the agree button (open-type="agreePrivacyAuthorization", id agree-privacy). */
  function agree(buttonId) {
    refused = false
    if (pending) pending.resolve({ buttonId: buttonId || 'agree-privacy', event: 'agree' })
    pending = null
    emit()
  }

  /** The user declined: WeChat fails the call, and the page explains what does not work. */
  function refuse() {
    refused = true
    if (pending) pending.resolve({ event: 'disagree' })
    pending = null
    emit()
  }

  /** Ask again (the user wants to agree after a refusal): WeChat shows the request once more. */
  function ask() {
    if (typeof wx.requirePrivacyAuthorize !== 'function') return Promise.resolve(false)
    return new Promise(resolve =>
      wx.requirePrivacyAuthorize({
        success: () => {
          refused = false
          emit()
          resolve(true)
        },
        fail: () => resolve(false)
      })
    )
  }

  /** Listen to changes of need(); returns the unsubscribe function. */
  function onChange(fn) {
    listeners.push(fn)
    return () => {
      const i = listeners.indexOf(fn)
      if (i >= 0) listeners.splice(i, 1)
    }
  }

  return { install, need, agree, refuse, ask, onChange, isRefused: () => refused }
}

module.exports = { createPrivacy, whyOf }
