// The app builds the offline-first services once, with the real `wx`, and pages reach them
// through getApp(): api, files, uploader, queue, location.
const config = require('./utils/config')
const { createApi } = require('./utils/api')
const { createFiles } = require('./utils/files')
const { createUploader } = require('./utils/uploader')
const { createQueue } = require('./utils/queue')
const { createLocation } = require('./utils/location')
const { createPrivacy } = require('./utils/privacy')

/** develop / trial / release: which server this build talks to. */
function envVersion() {
  try {
    return wx.getAccountInfoSync().miniProgram.envVersion || 'release'
  } catch (e) {
    return 'release'
  }
}

App({
  onLaunch() {
    const api = createApi({ wx, baseUrl: config.apiBase(envVersion()) })
    const files = createFiles({ wx })
    const uploader = createUploader({ wx, api, maxConcurrent: 3 })
    const queue = createQueue({ wx, api, uploader, files, now: () => new Date() })
    const location = createLocation({ wx })
    const privacy = createPrivacy({ wx })
    privacy.install()
    Object.assign(this, { api, files, uploader, queue, location, privacy, online: true })
    // Old visits the server confirmed, shown originals and files nothing refers to any more.
    try {
      queue.prune()
    } catch (e) {
      // Housekeeping must never stop the app from starting.
    }

    // Signal comes and goes in the villages: send whatever waits as soon as it is back.
    wx.onNetworkStatusChange(res => {
      this.online = !!res.isConnected
      if (res.isConnected) this.resumeQueue()
    })
  },

  /** Back in the foreground: WeChat cut the uploads about 5 s after we left; resume at once. */
  onShow() {
    this.resumeQueue()
  },

  /** Send at once, cutting every backoff short (foreground again, or signal back). */
  resumeQueue() {
    if (!this.queue) return Promise.resolve()
    return Promise.resolve(this.queue.resume()).catch(() => {})
  },

  /** Send the outbox; failures stay in it and are retried on the next occasion. */
  flushQueue() {
    if (!this.queue) return Promise.resolve()
    return Promise.resolve(this.queue.flush()).catch(() => {})
  }
})
