/**
 * @jest-environment node
 */
// The uploader: ticket → wx.uploadFile → complete, at most 3 at a time, renewing expired
// tickets with the same client_id and retrying with backoff until the photo is ready.
const { inspectorPhone, photoBytes } = require('../support/phone')
const { contentTypeOf } = require('../../utils/uploader')

const TMP = 'wxfile://usr/outbox'

async function visitPhone(extra) {
  const ctx = await inspectorPhone(extra)
  const res = await ctx.phone.api.request('POST', '/visits', {
    client_id: '11111111-1111-4111-8111-111111111111',
    sent_at: '2026-05-04T09:30:00+08:00',
    assignment_id: ctx.assignment.id,
    started_at: '2026-05-04T09:30:00+08:00'
  })
  ctx.visitId = res.data.id
  ctx.server.log.length = 0
  return ctx
}

let n = 0
function photoItem(ctx, extra) {
  n++
  const file = ctx.phone.wx.putTempFile(`${TMP}/u${n}.jpg`, photoBytes(n))
  return Object.assign(
    {
      client_id: `22222222-2222-4222-8222-${String(100000000000 + n)}`,
      kind: 'photo',
      visit_id: ctx.visitId,
      file,
      taken_at: '2026-05-04T09:40:00+08:00',
      lat: 27.11,
      lng: 114.99,
      coord_type: 'gcj02'
    },
    extra
  )
}

test('ten photos: never more than 3 uploads at once, every one ready exactly once', async () => {
  const ctx = await visitPhone({ wx: { uploadDelayMs: 5 }, uploader: { adaptive: false } })
  const items = Array.from({ length: 10 }, () => photoItem(ctx))
  const photos = await Promise.all(items.map(i => ctx.phone.uploader.upload(i)))
  expect(photos.map(p => p.status)).toEqual(Array(10).fill('ready'))
  expect(ctx.phone.wx.stats.uploadsMaxActive).toBe(3)
  expect(ctx.server.photos.size).toBe(10)
  expect(ctx.server.uploads).toHaveLength(10)
  expect(ctx.phone.uploader.activeCount()).toBe(0)
})

test('the ticket asks with the right fields; the form posts the ticket fields and field `file`', async () => {
  const ctx = await visitPhone()
  const item = photoItem(ctx)
  const progress = []
  const states = []
  await ctx.phone.uploader.upload(
    item,
    p => progress.push(p),
    s => states.push(s)
  )
  const [ticket] = ctx.server.calls(/\/photos$/)
  expect(ticket.body).toEqual({
    client_id: item.client_id,
    sent_at: expect.any(String),
    content_type: 'image/jpeg',
    size: photoBytes(n).length,
    taken_at: item.taken_at,
    lat: 27.11,
    lng: 114.99,
    coord_type: 'gcj02'
  })
  expect(ctx.server.uploads[0].status).toBe(204)
  expect(progress).toEqual([0, 50, 100, 100])
  expect(states).toEqual([
    { photo_id: expect.any(Number), size: photoBytes(n).length },
    { uploaded: true }
  ])
})

test('an upload refused 403 (expired ticket) is renewed with the same ticket body and client_id', async () => {
  const ctx = await visitPhone()
  const item = photoItem(ctx)
  const original = ctx.server.handleUpload
  ctx.server.handleUpload = req => {
    ctx.server.expireTickets() // the ticket expired while the phone was out of signal
    ctx.server.handleUpload = original
    return original(req)
  }
  const photo = await ctx.phone.uploader.upload(item)
  expect(photo.status).toBe('ready')
  const tickets = ctx.server.calls(/\/photos$/)
  expect(tickets.map(t => t.status)).toEqual([201, 200])
  const strip = b => Object.assign({}, b, { sent_at: null })
  expect(strip(tickets[1].body)).toEqual(strip(tickets[0].body))
  expect(ctx.server.uploads.map(u => u.status)).toEqual([403, 204])
  expect(ctx.server.photos.size).toBe(1)
})

test('a ticket held past its expires_at (across a retry) is renewed before uploading', async () => {
  let clock = Date.parse('2026-05-04T01:30:00Z')
  const ctx = await visitPhone({
    uploader: {
      now: () => clock,
      // Waiting out the backoff in a dead zone takes 16 minutes: the 15-minute ticket expires.
      sleep: () => {
        clock += 16 * 60 * 1000
        ctx.server.advance(16 * 60 * 1000)
        return Promise.resolve()
      }
    }
  })
  const item = photoItem(ctx)
  ctx.phone.wx.net.rule({ kind: 'upload', action: 'drop' })
  const photo = await ctx.phone.uploader.upload(item)
  expect(photo.status).toBe('ready')
  expect(ctx.server.calls(/\/photos$/).map(t => t.status)).toEqual([201, 200])
  expect(ctx.server.uploads.map(u => u.status)).toEqual([204]) // the stale ticket was never sent
})

test('a phone clock hours ahead does not make fresh tickets look expired', async () => {
  const ctx = await visitPhone({ uploader: { now: () => Date.now() + 5 * 3600 * 1000 } })
  const photo = await ctx.phone.uploader.upload(photoItem(ctx))
  expect(photo.status).toBe('ready')
  expect(ctx.server.calls(/\/photos$/)).toHaveLength(1)
})

test('complete answering 409 photo_not_uploaded makes it upload again', async () => {
  const ctx = await visitPhone()
  const item = photoItem(ctx)
  const t = await ctx.phone.api.request('POST', `/visits/${ctx.visitId}/photos`, {
    client_id: item.client_id,
    sent_at: '2026-05-04T09:41:00+08:00',
    content_type: 'image/jpeg',
    size: photoBytes(n).length,
    taken_at: item.taken_at,
    lat: item.lat,
    lng: item.lng,
    coord_type: 'gcj02'
  })
  // The phone believes it uploaded (an answer it thought was a success), the server has nothing.
  const photo = await ctx.phone.uploader.upload(
    Object.assign({}, item, { photo_id: t.data.photo_id, uploaded: true })
  )
  expect(photo.status).toBe('ready')
  const completes = ctx.server.calls(/complete$/).map(c => c.status)
  expect(completes).toEqual([409, 200])
  expect(ctx.server.uploads.map(u => u.status)).toEqual([204])
})

test('a lost upload answer and 503s are retried with exponential backoff', async () => {
  const ctx = await visitPhone()
  const item = photoItem(ctx)
  ctx.phone.wx.net.rule({ kind: 'upload', action: 'lose_answer' })
  ctx.server.failNext(/complete$/, 503, 'storage_unavailable', 2)
  const photo = await ctx.phone.uploader.upload(item)
  expect(photo.status).toBe('ready')
  // Three failures: backoff ~1 s, ~2 s, ~4 s (±25 % jitter).
  expect(ctx.phone.sleeps).toHaveLength(3)
  ctx.phone.sleeps.forEach((ms, i) => {
    expect(ms).toBeGreaterThanOrEqual(750 * 2 ** i)
    expect(ms).toBeLessThanOrEqual(1250 * 2 ** i)
  })
  expect(ctx.server.photos.size).toBe(1)
  expect(ctx.server.uploads).toHaveLength(2)
})

test('after maxAttempts transient failures it gives up with an offline error (the queue retries later)', async () => {
  const ctx = await visitPhone({ uploader: { maxAttempts: 3 } })
  const item = photoItem(ctx)
  ctx.phone.wx.net.rule({ kind: 'upload', action: 'drop', times: 10 })
  const err = await ctx.phone.uploader.upload(item).catch(e => e)
  expect(err).toMatchObject({ offline: true })
  expect(ctx.phone.sleeps).toHaveLength(2)
  expect(ctx.phone.uploader.activeCount()).toBe(0)
})

test('a rejected photo rejects with the reason; asking again does not upload', async () => {
  const ctx = await visitPhone()
  const item = photoItem(ctx)
  ctx.phone.wx.putTempFile(item.file, 'BAD bytes')
  const err = await ctx.phone.uploader.upload(item).catch(e => e)
  expect(err).toMatchObject({ status: 422, code: 'photo_not_image', message: '文件不是图片' })
  const again = await ctx.phone.uploader.upload(item).catch(e => e)
  expect(again).toMatchObject({ code: 'photo_not_image' })
  expect(ctx.server.uploads).toHaveLength(1)
})

test('a retry after a lost complete answer finds the photo ready without uploading again', async () => {
  const ctx = await visitPhone()
  const item = photoItem(ctx)
  ctx.phone.wx.net.rule({
    kind: 'request',
    match: r => /complete$/.test(r.url),
    action: 'lose_answer'
  })
  const photo = await ctx.phone.uploader.upload(item)
  expect(photo.status).toBe('ready')
  expect(ctx.server.calls(/complete$/).map(c => c.status)).toEqual([200, 200])
  expect(ctx.server.uploads).toHaveLength(1)
})

test('an original missing from the phone is a permanent, explained failure', async () => {
  const ctx = await visitPhone()
  const err = await ctx.phone.uploader
    .upload(photoItem(ctx, { file: 'wxfile://usr/gone.jpg' }))
    .catch(e => e)
  expect(err).toMatchObject({ code: 'photo_file_missing', offline: false })
  expect(err.message).toMatch(/重新拍摄/)
})

test('feedback photos ask /feedback/photos with only the fields it takes', async () => {
  const ctx = await visitPhone()
  const item = photoItem(ctx, {
    feedback: true,
    visit_id: undefined,
    file: ctx.phone.wx.putTempFile(`${TMP}/fb.png`, photoBytes('fb'))
  })
  await ctx.phone.uploader.upload(item)
  const [ticket] = ctx.server.calls(/^\/feedback\/photos$/)
  expect(Object.keys(ticket.body).sort()).toEqual(['client_id', 'content_type', 'sent_at', 'size'])
  expect(ticket.body.content_type).toBe('image/png')
})

test('content types follow the extension, JPEG by default', () => {
  expect(contentTypeOf('a/b.JPG')).toBe('image/jpeg')
  expect(contentTypeOf('a/b.webp')).toBe('image/webp')
  expect(contentTypeOf('wxfile://tmp_abc')).toBe('image/jpeg')
})

test('S3 answers 204, other backends 200/201: any 2xx is an upload', async () => {
  const ctx = await visitPhone()
  const original = ctx.server.handleUpload
  ctx.server.handleUpload = req => Object.assign(original(req), { statusCode: 201 })
  const photo = await ctx.phone.uploader.upload(photoItem(ctx))
  expect(photo.status).toBe('ready')
})

test('an upload answered 409 upload_sealed (already verified) goes on to complete without sending again', async () => {
  const ctx = await visitPhone()
  const original = ctx.server.handleUpload
  ctx.server.handleUpload = req => {
    ctx.server.handleUpload = original
    const answer = original(req) // the file landed earlier; the server now refuses the sealed key
    return Object.assign(answer, {
      statusCode: 409,
      data: JSON.stringify({
        error: { code: 'upload_sealed', message: '这张照片已校验封存,不能再次上传', details: {} }
      })
    })
  }
  const photo = await ctx.phone.uploader.upload(photoItem(ctx))
  expect(photo.status).toBe('ready')
  expect(ctx.server.uploads.length).toBe(1)
  expect(ctx.server.photos.size).toBe(1)
})

describe('weak links (item 14)', () => {
  const { createClock, createLink } = require('../support/weak-link')

  async function overLink(bandwidthBps, count) {
    const clock = createClock(0)
    const link = createLink({ clock, bandwidthBps, latencyMs: 50 })
    const ctx = await visitPhone({
      wx: { clock, link },
      uploader: {
        now: () => clock.now(),
        sleep: ms => new Promise(resolve => clock.setTimeout(resolve, ms))
      }
    })
    const items = Array.from({ length: count }, () => {
      const it = photoItem(ctx)
      ctx.phone.wx.putTempFile(it.file, Buffer.alloc(1024 * 1024, 7))
      return it
    })
    let done = 0
    items.forEach(i =>
      ctx.phone.uploader.upload(i).then(() => {
        done++
      })
    )
    await clock.runUntil(() => done === count)
    return { ctx, done }
  }

  test('on a 1 Mbit/s link photos go one at a time', async () => {
    const { ctx, done } = await overLink(1e6, 4)
    expect(done).toBe(4)
    expect(ctx.phone.wx.stats.uploadsMaxActive).toBe(1)
    expect(ctx.server.photos.size).toBe(4)
  })

  test('on a 50 Mbit/s link it opens up to 3 at once', async () => {
    const { ctx, done } = await overLink(50e6, 12)
    expect(done).toBe(12)
    expect(ctx.phone.wx.stats.uploadsMaxActive).toBe(3)
    expect(ctx.phone.uploader.limit()).toBe(3)
  })
})

test('a deleted original with its size known is failed as missing, not retried as offline (item 4)', async () => {
  const ctx = await visitPhone()
  const item = photoItem(ctx, { size: 1234 })
  ctx.phone.wx.deleteFile(item.file)
  await expect(ctx.phone.uploader.upload(item)).rejects.toMatchObject({
    code: 'photo_file_missing',
    offline: false
  })
  expect(ctx.phone.sleeps).toEqual([])
  expect(ctx.server.uploads).toHaveLength(0)
})

test('a file gone between ticket and upload ("file not found") is missing, not offline (item 4)', async () => {
  const ctx = await visitPhone()
  const item = photoItem(ctx)
  const real = ctx.phone.wx.uploadFile
  ctx.phone.wx.uploadFile = req => {
    ctx.phone.wx.deleteFile(item.file)
    return real(req)
  }
  await expect(ctx.phone.uploader.upload(item)).rejects.toMatchObject({
    code: 'photo_file_missing'
  })
  expect(ctx.phone.sleeps).toEqual([])
})

test('"url not in domain list" for the storage host is a loud configuration error (item 6)', async () => {
  const ctx = await visitPhone({
    wx: { domains: { request: ['api.test'], uploadFile: ['api.test'] } }
  })
  const err = await ctx.phone.uploader.upload(photoItem(ctx)).catch(e => e)
  expect(err).toMatchObject({ code: 'domain_not_configured', offline: false })
  expect(err.message).toContain('storage.test')
  expect(err.message).toContain('服务器域名')
  expect(ctx.phone.sleeps).toEqual([])
})

test('a 429 with Retry-After waits as long as the server asks (item 5)', async () => {
  const ctx = await visitPhone()
  ctx.server.failNext(/complete$/, 429, 'rate_limited', 1, 42)
  const photo = await ctx.phone.uploader.upload(photoItem(ctx))
  expect(photo.status).toBe('ready')
  expect(ctx.phone.sleeps).toEqual([42000])
})

test('no_fix and compressed photos say so in the ticket and carry no position (items 1, 3)', async () => {
  const ctx = await visitPhone()
  const photo = await ctx.phone.uploader.upload(
    photoItem(ctx, { lat: undefined, lng: undefined, no_fix: true, compressed: true })
  )
  const ticket = ctx.server.calls(/photos$/)[0].body
  expect(ticket).toMatchObject({ no_fix: true, compressed: true })
  expect(ticket).not.toHaveProperty('lat')
  expect(photo.flags).toEqual(['no_fix', 'compressed'])
})
