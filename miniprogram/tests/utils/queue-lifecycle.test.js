/**
 * @jest-environment node
 */
// The outbox for the secretary's writes: an application and its edits and moves in order per
// project, a monthly report and a rectification reply waiting for their photos, all once.
const { createQueue, laneOf } = require('../../utils/queue')
const { createUploader } = require('../../utils/uploader')

function memoryWx() {
  const storage = new Map()
  return {
    storage,
    getStorageSync: key => (storage.has(key) ? JSON.parse(storage.get(key)) : ''),
    setStorageSync: (key, value) => {
      storage.set(key, JSON.stringify(value))
    },
    removeStorageSync: key => {
      storage.delete(key)
    }
  }
}

/** An api whose answers come from handler(method, path, body); every call is logged. */
function scriptedApi(handler) {
  const log = []
  return {
    log,
    request: jest.fn((method, path, body) => {
      log.push({ method, path, body })
      let out
      try {
        out = handler(method, path, body)
      } catch (e) {
        return Promise.reject(e)
      }
      return Promise.resolve({ status: out.status || 200, data: out.data || out })
    })
  }
}

const OFFLINE = Object.assign(new Error('网络不可用'), { offline: true, status: 0 })

function boot(api, wx, uploader) {
  return createQueue({
    wx: wx || memoryWx(),
    api,
    uploader: uploader || {
      upload: jest.fn(item => Promise.resolve({ id: 900 + item.seq, status: 'ready' }))
    },
    autoRetry: false,
    flushOnEnqueue: false
  })
}

const FIELDS = { title: '村集体经济增收项目', year: 2026, domain: '农村' }

describe('applications', () => {
  test('a draft saved offline, edited, then submitted reaches the server once, in order', async () => {
    let online = false
    const api = scriptedApi((method, path) => {
      if (!online) throw OFFLINE
      if (path === '/projects/applications')
        return { status: 201, data: { id: 41, status: 'draft' } }
      return { id: 41, status: path.endsWith('/transitions') ? 'submitted' : 'draft' }
    })
    const q = boot(api)
    const created = q.enqueue({ kind: 'application', fields: FIELDS })
    expect(created.local_project).toBe(created.client_id)
    q.enqueue({
      kind: 'application_edit',
      local_project: created.local_project,
      fields: { ...FIELDS, problem: '收入低' }
    })
    q.enqueue({ kind: 'transition', local_project: created.local_project, action: 'submit' })
    expect(await q.flush()).toMatchObject({ sent: 0, pending: 3, offline: true })
    online = true
    expect(await q.flush()).toMatchObject({ sent: 3, pending: 0, failed: 0 })
    expect(api.log.slice(-3).map(c => `${c.method} ${c.path}`)).toEqual([
      'POST /projects/applications',
      'PATCH /projects/41/application',
      'POST /projects/41/transitions'
    ])
    expect(q.serverProjectId(created.local_project)).toBe(41)
    expect(q.result(created.client_id)).toMatchObject({
      kind: 'application',
      id: 41,
      status: 'draft'
    })
  })

  test('a lost answer to the application is retried under the same client_id', async () => {
    let lost = true
    const api = scriptedApi((method, path) => {
      if (path === '/projects/applications' && lost) {
        lost = false
        throw OFFLINE
      }
      return { id: 41, status: 'draft' }
    })
    const q = boot(api)
    q.enqueue({ kind: 'application', fields: FIELDS })
    await q.flush()
    await q.flush()
    const creates = api.log.filter(c => c.path === '/projects/applications')
    expect(creates).toHaveLength(2)
    expect(creates[0].body.client_id).toBe(creates[1].body.client_id)
    expect(creates[1].body).toMatchObject(FIELDS)
  })

  test('the whole-form edit carries neither client_id nor sent_at (the server refuses unknown fields)', async () => {
    const api = scriptedApi(() => ({ id: 7, status: 'draft' }))
    const q = boot(api)
    q.enqueue({
      kind: 'application_edit',
      project_id: 7,
      fields: { title: '改名', organization_id: null }
    })
    await q.flush()
    expect(api.log[0]).toEqual({
      method: 'PATCH',
      path: '/projects/7/application',
      body: { title: '改名' }
    })
  })

  test('an edit whose application is gone fails visibly instead of waiting forever', async () => {
    const q = boot(scriptedApi(() => ({})))
    const item = q.enqueue({
      kind: 'application_edit',
      local_project: 'no-such-draft',
      fields: FIELDS
    })
    expect(await q.flush()).toMatchObject({ failed: 1 })
    expect(q.items().find(i => i.id === item.id)).toMatchObject({
      status: 'failed',
      error: { code: 'project_unknown' }
    })
  })

  test("a refused submit stays in the outbox with the server's message and holds nothing else", async () => {
    const incomplete = Object.assign(new Error('申报表还不完整:请填写工作队伍'), {
      status: 422,
      code: 'application_incomplete'
    })
    const api = scriptedApi((method, path) => {
      if (path.endsWith('/transitions')) throw incomplete
      return { id: 5, status: 'draft' }
    })
    const q = boot(api)
    q.enqueue({ kind: 'transition', project_id: 5, action: 'submit' })
    q.enqueue({
      kind: 'report',
      project_id: 9,
      month: '2026-05',
      text: '进展',
      photo_local_ids: []
    })
    expect(await q.flush()).toMatchObject({ sent: 1, failed: 1 })
    expect(q.items()).toEqual([
      expect.objectContaining({
        kind: 'transition',
        status: 'failed',
        error: expect.objectContaining({ status: 422, message: '申报表还不完整:请填写工作队伍' })
      })
    ])
  })
})

describe('reports and rectification replies', () => {
  test('a report waits for its photos and names the saved ones first, then the new ones', async () => {
    const api = scriptedApi(() => ({ id: 3, status: 'submitted' }))
    let seq = 0
    const uploader = {
      upload: jest.fn(() => Promise.resolve({ id: 500 + ++seq, status: 'ready' }))
    }
    const q = boot(api, memoryWx(), uploader)
    const p1 = q.enqueue({ kind: 'photo', target: 'report', file: 'wxfile://usr/a.jpg' })
    const p2 = q.enqueue({ kind: 'photo', target: 'report', file: 'wxfile://usr/b.jpg' })
    q.enqueue({
      kind: 'report',
      project_id: 9,
      month: '2026-05',
      text: '本月完成合作社注册',
      known_photo_ids: [77],
      photo_local_ids: [p1.client_id, p2.client_id],
      submit: true
    })
    expect(laneOf(p1)).toBe('report')
    await q.flush()
    expect(uploader.upload.mock.calls.map(c => c[0].target)).toEqual(['report', 'report'])
    const put = api.log.find(c => c.method === 'PUT')
    expect(put.path).toBe('/projects/9/reports/2026-05')
    expect(put.body).toEqual({
      sent_at: expect.any(String),
      text: '本月完成合作社注册',
      photo_ids: [77, 501, 502],
      submit: true
    })
    expect(q.pendingCount()).toBe(0)
  })

  test('a report whose photo is still uploading is not sent', async () => {
    const api = scriptedApi(() => ({ id: 3 }))
    const uploader = { upload: jest.fn(() => Promise.reject(OFFLINE)) }
    const q = boot(api, memoryWx(), uploader)
    const p1 = q.enqueue({ kind: 'photo', target: 'report', file: 'wxfile://usr/a.jpg' })
    q.enqueue({
      kind: 'report',
      project_id: 9,
      month: '2026-05',
      text: 'x',
      photo_local_ids: [p1.client_id]
    })
    expect(await q.flush()).toMatchObject({ offline: true, pending: 2 })
    expect(api.log).toEqual([])
  })

  test('a rectification reply goes to its order with the uploaded photos, once per client_id', async () => {
    const api = scriptedApi(() => ({ status: 201, data: { id: 12, status: 'responded' } }))
    const uploader = { upload: jest.fn(() => Promise.resolve({ id: 61, status: 'ready' })) }
    const q = boot(api, memoryWx(), uploader)
    const photo = q.enqueue({ kind: 'photo', target: 'rectification', file: 'wxfile://usr/r.jpg' })
    const reply = q.enqueue({
      kind: 'rectification_response',
      order_id: 12,
      text: '公示栏已更新',
      photo_local_ids: [photo.client_id]
    })
    await q.flush()
    expect(api.log).toEqual([
      {
        method: 'POST',
        path: '/rectifications/12/response',
        body: {
          client_id: reply.client_id,
          sent_at: expect.any(String),
          text: '公示栏已更新',
          photo_ids: [61]
        }
      }
    ])
    expect(q.result(reply.client_id)).toMatchObject({
      kind: 'rectification_response',
      id: 12,
      status: 'responded'
    })
  })
})

describe('uploader tickets for photos without a visit', () => {
  function fakeWxFor(uploads) {
    return {
      getFileSystemManager: () => ({ stat: ({ success }) => success({ stats: { size: 1234 } }) }),
      uploadFile: opts => {
        uploads.push(opts)
        opts.success({ statusCode: 204, data: '' })
        return {}
      }
    }
  }

  test.each([
    ['report', '/projects/reports/photos'],
    ['rectification', '/rectifications/photos']
  ])('a %s photo asks %s and sends its place only when known', async (target, path) => {
    const api = scriptedApi((method, p) =>
      p === path
        ? {
            status: 201,
            data: {
              photo_id: 8,
              upload: {
                url: 'https://s/u',
                fields: { key: 'k' },
                expires_at: '2999-01-01T00:00:00Z'
              }
            }
          }
        : { id: 8, status: 'ready' }
    )
    const uploads = []
    const uploader = createUploader({ wx: fakeWxFor(uploads), api, sleep: () => Promise.resolve() })
    const photo = await uploader.upload({
      client_id: 'c1',
      target,
      file: 'wxfile://usr/p.jpg',
      taken_at: '2026-05-04T09:00:00+08:00'
    })
    expect(photo).toEqual({ id: 8, status: 'ready' })
    expect(api.log[0].body).toEqual({
      client_id: 'c1',
      sent_at: expect.any(String),
      content_type: 'image/jpeg',
      size: 1234,
      taken_at: '2026-05-04T09:00:00+08:00'
    })
    expect(api.log[1].path).toBe('/photos/8/complete')
    expect(uploads).toHaveLength(1)
  })
})
