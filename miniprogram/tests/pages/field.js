// The visit page on a phone in the field: the real utils (api, files, uploader, queue) over the
// fake `wx` of tests/support (storage limits, network trouble, kills) talking to the fake API
// server, plus the UI calls a page makes (dialogs, camera) as jest mocks. `restart()` kills
// the app and opens the page again on what survived: storage and files.
if (typeof global.setImmediate !== 'function') global.setImmediate = fn => setTimeout(fn, 0)

const { createApi } = require('../../utils/api')
const { createFiles } = require('../../utils/files')
const { createUploader } = require('../../utils/uploader')
const { createQueue } = require('../../utils/queue')
const { createPrivacy } = require('../../utils/privacy')
const { createFakeWx } = require('../support/fake-wx')
const { createFakeServer, API } = require('../support/fake-server')
const { photoBytes } = require('../support/phone')
const { loadPage, settle } = require('./harness')

const FIX = {
  lat: 27.1121,
  lng: 114.9831,
  accuracy: 12,
  coord_type: 'gcj02',
  time: '2026-05-04T09:35:00.000+08:00'
}

function uiMocks(wx, shots) {
  let n = 0
  return {
    showToast: jest.fn(),
    showLoading: jest.fn(),
    hideLoading: jest.fn(),
    showModal: jest.fn(opts => {
      if (opts.success) opts.success({ confirm: true, cancel: false })
    }),
    navigateTo: jest.fn(),
    previewImage: jest.fn(),
    openLocation: jest.fn(),
    stopPullDownRefresh: jest.fn(),
    setClipboardData: jest.fn(opts => {
      if (opts.success) opts.success({})
    }),
    // The camera: a new temp file with photo bytes (or what the test queued in `shots`).
    chooseMedia: jest.fn(opts => {
      n++
      const next = shots.length ? shots.shift() : { size: null }
      const path = wx.putTempFile(
        `wxfile://tmp/shot-${Date.now()}-${n}.jpg`,
        next.data || photoBytes(`shot-${n}`)
      )
      opts.success({
        type: 'image',
        tempFiles: [
          { tempFilePath: path, size: next.size || wx.fs.get(path).data.length, fileType: 'image' }
        ]
      })
    }),
    compressImage: jest.fn(opts => {
      const out = `${opts.src}.small.jpg`
      wx.putTempFile(
        out,
        Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), Buffer.from('small')])
      )
      opts.success({ tempFilePath: out })
    })
  }
}

function boot(server, disk, extra) {
  const x = extra || {}
  const wx = createFakeWx(Object.assign({ server, storage: disk.storage, fs: disk.fs }, x.wx))
  const shots = x.shots || []
  Object.assign(wx, uiMocks(wx, shots))
  const api = createApi({ wx, baseUrl: API })
  const files = createFiles({ wx })
  const uploader = createUploader({
    wx,
    api,
    sleep: () => Promise.resolve(),
    now: () => server.now(),
    maxAttempts: 2
  })
  const queue = createQueue({
    wx,
    api,
    uploader,
    files,
    now: () => new Date(server.now()),
    autoRetry: false,
    flushOnEnqueue: false
  })
  const privacy = createPrivacy({ wx })
  privacy.install()
  const fix = x.fix === undefined ? FIX : x.fix
  const location = {
    freshFix: jest.fn(() =>
      fix
        ? Promise.resolve(Object.assign({}, fix))
        : Promise.reject(
            Object.assign(new Error('定位超时：请到开阔处稍候再试'), { code: 'location_timeout' })
          )
    ),
    openSettings: jest.fn(() => Promise.resolve(false))
  }
  const app = {
    api,
    files,
    uploader,
    queue,
    location,
    privacy,
    online: true,
    flushQueue: jest.fn(() => Promise.resolve())
  }
  return { wx, app, shots }
}

/** An inspector's phone with the task list cached, and the visit page of its assignment open. */
async function fieldPhone(extra) {
  const x = extra || {}
  // The server's clock is the phone's: the page stamps records with the real time.
  const server = createFakeServer(Object.assign({ nowMs: Date.now() }, x.server))
  const { user, invite } = server.addUser(['inspector'], '李督查')
  const assignment = server.addAssignment([user.id], x.assignment)
  const disk = { storage: new Map(), fs: new Map() }
  let phone = boot(server, disk, x)
  await phone.app.api.bind(invite)
  const listed = (await phone.app.api.request('GET', '/assignments')).data.items.map(a =>
    Object.assign(
      {
        place: { name: '东村', label: '城关镇 东村', lat: 27.115, lng: 114.978, radius_m: 800 },
        project: { id: 3, title: '村级光伏发电项目' },
        due_date: '2030-06-30'
      },
      a
    )
  )
  phone.wx.setStorageSync('assignments.v1', {
    items: listed,
    fetched_at: '2026-05-04T09:00:00+08:00'
  })
  server.log.length = 0

  const ctx = { server, user, assignment, disk }
  ctx.open = async () => {
    const page = loadPage('visit', { wx: phone.wx, app: phone.app })
    page.instance.onLoad({ assignment_id: String(assignment.id) })
    await page.instance.onShow()
    await settle()
    ctx.page = page
    return page
  }
  /** The task list (今日任务) on the same phone. */
  ctx.openTasks = async () => {
    const page = loadPage('tasks', { wx: phone.wx, app: phone.app })
    page.instance.onLoad({})
    await page.instance.onShow()
    await settle()
    return page
  }
  /** The app is killed (nothing more is written) and opened again on the same storage and files. */
  ctx.restart = async more => {
    phone.wx.kill()
    phone = boot(server, disk, Object.assign({}, x, more))
    ctx.phone = phone
    return ctx.open()
  }
  /** The outbox sends what it can (as the app would, when signal comes back). */
  ctx.sync = async () => {
    const r = await phone.app.queue.flush()
    await settle()
    await settle()
    return r
  }
  ctx.phone = phone
  await ctx.open()
  return ctx
}

module.exports = { fieldPhone, FIX }
