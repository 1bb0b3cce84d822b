// One "phone" running the utils against the fake server, and its restart: a new app instance
// over the same storage and files (what survives an app kill), with fresh memory.

const { createApi } = require('../../utils/api')
const { createFiles } = require('../../utils/files')
const { createUploader } = require('../../utils/uploader')
const { createQueue } = require('../../utils/queue')
const { createFakeWx } = require('./fake-wx')
const { createFakeServer, API } = require('./fake-server')

/** Build the app's singletons on a fake wx (shares storage/fs with `disk` when given). */
function bootPhone(server, disk, extra) {
  const x = extra || {}
  const wx = createFakeWx(Object.assign({ server, storage: disk.storage, fs: disk.fs }, x.wx))
  const api = createApi({ wx, baseUrl: API })
  const files = createFiles({ wx })
  const sleeps = []
  const uploader = createUploader(
    Object.assign(
      {
        wx,
        api,
        maxConcurrent: 3,
        sleep: ms => {
          sleeps.push(ms)
          return Promise.resolve()
        },
        now: () => server.now()
      },
      x.uploader
    )
  )
  const queue = createQueue(
    Object.assign(
      {
        wx,
        api,
        uploader,
        files,
        now: () => new Date(server.now()),
        autoRetry: false,
        flushOnEnqueue: false
      },
      x.queue
    )
  )
  return { wx, api, files, uploader, queue, sleeps, disk }
}

/** A fake server with one inspector (bound on the returned phone) and an open assignment. */
async function inspectorPhone(extra) {
  const server = createFakeServer()
  const { user, invite } = server.addUser(['inspector'], '李督查')
  const assignment = server.addAssignment([user.id])
  const disk = { storage: new Map(), fs: new Map() }
  const phone = bootPhone(server, disk, extra)
  await phone.api.bind(invite)
  server.log.length = 0
  return {
    server,
    user,
    assignment,
    disk,
    phone,
    restart: more => bootPhone(server, disk, more || extra)
  }
}

/** JPEG-ish bytes for a fake photo (the fake server only checks they are not "BAD…"). */
function photoBytes(n) {
  return Buffer.concat([
    Buffer.from([0xff, 0xd8, 0xff, 0xe0]),
    Buffer.from(`photo-${n}-`.repeat(50))
  ])
}

module.exports = { bootPhone, inspectorPhone, photoBytes }
