// A fake `wx` (storage in memory, every API a jest mock) and the app's services around the real queue.
const { createQueue } = require('../../utils/queue')
const { createPrivacy } = require('../../utils/privacy')
const { serialised, storedBytes, refusal } = require('../support/wx-storage')

// WeChat's limits, always on (tests/support/wx-storage.js); storage holds the serialised strings.
function checkedSet(storage, key, value) {
  const text = serialised(value)
  const bytes = storedBytes(key, text)
  const others = Object.keys(storage)
    .filter(k => k !== key)
    .reduce((n, k) => n + Buffer.byteLength(k) + Buffer.byteLength(storage[k]), 0)
  const refused = refusal(bytes, others)
  if (refused) throw Object.assign(new Error(refused), { errMsg: refused })
  storage[key] = text
}

function createFakeWx(overrides = {}) {
  const storage = {}
  const wx = {
    storage,
    getStorageSync: jest.fn(key => (key in storage ? JSON.parse(storage[key]) : '')),
    setStorageSync: jest.fn((key, value) => checkedSet(storage, key, value)),
    removeStorageSync: jest.fn(key => {
      delete storage[key]
    }),
    showToast: jest.fn(),
    showLoading: jest.fn(),
    hideLoading: jest.fn(),
    showModal: jest.fn(opts => {
      if (opts.success) opts.success({ confirm: true, cancel: false })
    }),
    openLocation: jest.fn(),
    navigateTo: jest.fn(),
    redirectTo: jest.fn(),
    reLaunch: jest.fn(),
    navigateBack: jest.fn(),
    stopPullDownRefresh: jest.fn(),
    chooseMedia: jest.fn(),
    scanCode: jest.fn(),
    previewImage: jest.fn(),
    requestSubscribeMessage: jest.fn(opts => {
      if (opts.success) opts.success({ errMsg: 'requestSubscribeMessage:ok' })
    }),
    getAccountInfoSync: jest.fn(() => ({ miniProgram: { envVersion: 'develop' } })),
    onNetworkStatusChange: jest.fn(),
    getNetworkType: jest.fn(opts => {
      if (opts && opts.success) opts.success({ networkType: 'wifi' })
    }),
    setKeepScreenOn: jest.fn(),
    setClipboardData: jest.fn(opts => {
      if (opts && opts.success) opts.success({})
    }),
    compressImage: jest.fn(opts => {
      if (opts && opts.success) opts.success({ tempFilePath: `${opts.src}.compressed.jpg` })
    }),
    openSetting: jest.fn(opts => {
      if (opts && opts.success) opts.success({ authSetting: {} })
    }),
    onNeedPrivacyAuthorization: jest.fn(),
    getStorageInfoSync: jest.fn(() => ({
      keys: Object.keys(storage),
      currentSize: Math.ceil(
        Object.keys(storage).reduce((n, k) => n + storage[k].length, 0) / 1024
      ),
      limitSize: 10240
    })),
    ...overrides
  }
  return wx
}

function httpError(status, data) {
  const body = data && data.error
  return Object.assign(new Error((body && body.message) || `请求失败（${status}）`), {
    status,
    data,
    code: body && body.code,
    details: (body && body.details) || {}
  })
}

/**
 * An api answering from a {"METHOD /path": answer} table like the real one: 2xx resolves
 * {status, data}; {__status, data} rejects with that HTTP error; {offline: true} rejects offline.
 */
function createFakeApi(routes = {}, user = { id: 1, name: '测试', roles: ['inspector'] }) {
  return {
    routes,
    request: jest.fn((method, path) => {
      const answer = routes[`${method} ${path}`]
      if (answer === undefined)
        return Promise.reject(httpError(404, { error: { code: 'not_found', message: '不存在' } }))
      if (answer && answer.offline)
        return Promise.reject(Object.assign(new Error('网络不可用'), { offline: true }))
      if (answer && answer.__status) return Promise.reject(httpError(answer.__status, answer.data))
      return Promise.resolve({ status: 200, data: answer })
    }),
    ensureLogin: jest.fn(() => Promise.resolve(user)),
    bind: jest.fn(() => Promise.resolve(user)),
    user: jest.fn(() => user)
  }
}

/**
 * The app's services as pages get them from getApp(): the real queue (nothing is sent unless a
 * test flushes) over a fake api, files and location.
 */
function createFakeApp({ wx, routes, user, nearCap = false, fix, api: givenApi } = {}) {
  const api = givenApi || createFakeApi(routes, user)
  const files = {
    keep: jest.fn(path => `wxfile://usr/kept-${path.split('/').pop()}`),
    isKept: jest.fn(path => String(path).indexOf('wxfile://usr/') === 0),
    remove: jest.fn(),
    usedBytes: jest.fn(() => 0),
    nearCap: jest.fn(() => nearCap),
    listKept: jest.fn(() => [])
  }
  const uploader = {
    upload: jest.fn(() => Promise.reject(Object.assign(new Error('offline'), { offline: true })))
  }
  const queue = createQueue({ wx, api, uploader, files, flushOnEnqueue: false, autoRetry: false })
  const privacy = createPrivacy({ wx })
  privacy.install()
  return {
    api,
    files,
    uploader,
    queue,
    privacy,
    online: true,
    location: {
      freshFix: jest.fn(() =>
        Promise.resolve(
          fix || {
            lat: 27.1121,
            lng: 114.9831,
            accuracy: 12,
            coord_type: 'gcj02',
            time: '2024-05-20T10:00:00.000+08:00'
          }
        )
      )
    },
    flushQueue: jest.fn(() => Promise.resolve())
  }
}

module.exports = { createFakeWx, createFakeApp }
