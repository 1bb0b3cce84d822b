/**
 * @jest-environment jsdom
 */
// Issue 15 on the visit page, driven as an inspector in a village would: tap, lose signal, get
// refused, have the app killed, open it again. Each test asserts what the inspector sees and
// what the (fake) server stored.
const { fieldPhone } = require('./field')
const { settle, tap, text } = require('./harness')

async function checkIn(page) {
  await tap(page, '#checkin')
  await settle()
  await tap(page, '#confirm-checkin')
}

async function shoot(page) {
  await tap(page, '#take-photo')
  await settle()
  await settle()
}

function dialogs(ctx) {
  return ctx.phone.wx.showModal.mock.calls.map(c => c[0])
}

function serverVisit(ctx) {
  return Array.from(ctx.server.visits.values())[0]
}

function serverPhotos(ctx) {
  return Array.from(ctx.server.photos.values())
}

describe('item 1: one refused photo no longer blocks the submit forever', () => {
  test('a photo refused 413 offers compression; the compressed copy goes, flagged, and the submit follows', async () => {
    const ctx = await fieldPhone({ server: { maxPhotoBytes: 300 } })
    const { page } = ctx
    await checkIn(page)
    await shoot(page)
    await tap(page, '#submit')
    await ctx.sync()
    expect(text(page, '#sync')).toContain('照片：照片过大')
    expect(text(page, '#sync')).toContain('压缩后上传')
    expect(serverVisit(ctx).status).toBe('in_progress')
    expect(text(page, '#photo-0')).toContain('照片文件过大')
    await tap(page, '#sync-0-compress')
    await settle()
    await ctx.sync()
    await ctx.sync()
    expect(serverPhotos(ctx).map(p => [p.status, p.flags])).toEqual([['ready', ['compressed']]])
    expect(serverVisit(ctx).status).toBe('submitted')
    expect(ctx.phone.app.queue.items()).toEqual([])
    // The phone learned the server's limit: the next big shot is offered compression first.
    expect(ctx.phone.wx.getStorageSync('photo.max_bytes')).toBe(300)
  })

  test('a shot over the limit is offered compression before it is queued; refusing keeps nothing', async () => {
    const ctx = await fieldPhone({
      shots: [{ size: 20 * 1024 * 1024 }, { size: 20 * 1024 * 1024 }]
    })
    const { page, phone } = ctx
    phone.wx.showModal.mockImplementationOnce(opts =>
      opts.success({ confirm: false, cancel: true })
    )
    await shoot(page)
    expect(dialogs(ctx)[0].content).toContain('超过上传上限 15.0 MB')
    expect(phone.app.queue.items().filter(i => i.kind === 'photo')).toEqual([])
    await shoot(page)
    const [photo] = phone.app.queue.items().filter(i => i.kind === 'photo')
    expect(photo.compressed).toBe(true)
    expect(text(page, '#photo-0')).toContain('已压缩')
  })

  test('submit goes past a refused photo after a confirmation naming it; the server records it as missing', async () => {
    const ctx = await fieldPhone({ shots: [{ data: 'BAD not a jpeg' }] })
    const { page, phone } = ctx
    await checkIn(page)
    await shoot(page)
    await ctx.sync()
    expect(text(page, '#sync')).toContain('文件不是图片')
    await tap(page, '#submit')
    const dialog = dialogs(ctx).pop()
    expect(dialog.content).toContain('以下 1 项未能上传，将不随本次提交')
    expect(dialog.content).toContain('照片（文件不是图片）')
    await ctx.sync()
    const visit = serverVisit(ctx)
    expect(visit.status).toBe('submitted')
    expect(visit.missing).toEqual([
      { kind: 'photo', client_id: expect.any(String), reason: '文件不是图片' }
    ])
    expect(phone.app.queue.items()).toEqual([])
    expect(text(page, '#submitted')).toContain('已提交')
  })

  test('a submit queued before a refusal is held visibly, and goes without it once the inspector says so', async () => {
    const ctx = await fieldPhone()
    const { page, phone } = ctx
    await checkIn(page)
    await tap(page, '#submit')
    phone.app.queue.enqueue({
      kind: 'interview',
      local_visit: phone.app.queue.items()[0].local_visit,
      household: '',
      satisfaction: '满意'
    })
    await ctx.sync()
    expect(serverVisit(ctx).status).toBe('in_progress')
    expect(text(page, '#submit-missing')).toContain('不含未被接收的 1 项')
    await tap(page, '#submit-missing')
    await ctx.sync()
    expect(serverVisit(ctx).status).toBe('submitted')
    expect(serverVisit(ctx).missing.map(m => m.kind)).toEqual(['interview'])
  })
})

describe('item 2: a visit recorded offline survives its assignment closing', () => {
  test('the page opens from its own record after /assignments dropped the task, and the server takes it late', async () => {
    const ctx = await fieldPhone()
    const { page, server, assignment } = ctx
    ctx.phone.wx.net.offline = true
    await checkIn(page)
    await shoot(page)
    await tap(page, '#submit')
    server.advance(3600 * 1000)
    server.closeAssignment(assignment.id)
    server.advance(2 * 86400 * 1000)
    // The task list refreshed: the closed assignment is gone from the cache.
    ctx.phone.wx.setStorageSync('assignments.v1', {
      items: [],
      fetched_at: '2026-05-06T09:00:00+08:00'
    })
    const again = await ctx.restart()
    expect(again.querySelector('#missing')).toBeFalsy()
    expect(text(again, '#header')).toContain('东村')
    await ctx.sync()
    await ctx.sync()
    const visit = serverVisit(ctx)
    expect(visit.flags).toContain('late_sync')
    expect(visit.status).toBe('submitted')
    expect(server.checkins.size).toBe(1)
    expect(serverPhotos(ctx).map(p => p.status)).toEqual(['ready'])
    expect(ctx.phone.app.queue.items()).toEqual([])
  })

  test('a visit started after the close is shown failed with the reason and an export, and never retried', async () => {
    const ctx = await fieldPhone()
    const { page, server, assignment, phone } = ctx
    server.closeAssignment(assignment.id, server.now() - 60 * 1000)
    await checkIn(page)
    page.instance.onNoteInput({ detail: { value: '村委会大门紧锁' } })
    await tap(page, '#add-note')
    await ctx.sync()
    expect(text(page, '#closed')).toContain('该督查任务已结束')
    expect(text(page, '#sync')).toContain('任务已结束')
    expect(phone.app.queue.failedCount()).toBe(3)
    await ctx.sync()
    await ctx.sync()
    expect(server.calls(/^\/visits$/)).toHaveLength(1)
    await tap(page, '#export')
    expect(phone.wx.setClipboardData.mock.calls[0][0].data).toContain('备注：村委会大门紧锁')
  })
})

describe('item 3: a photo is kept even without a GPS fix', () => {
  test('no fix in time: the photo is queued anyway and the server flags it no_fix', async () => {
    const ctx = await fieldPhone({ fix: null })
    const { page } = ctx
    await shoot(page)
    expect(text(page, '#photo-0')).toContain('无定位')
    await ctx.sync()
    expect(serverPhotos(ctx).map(p => [p.status, p.flags])).toEqual([['ready', ['no_fix']]])
  })

  test('the app killed while the fix is awaited: after the restart the photo is still there and goes as no_fix', async () => {
    const ctx = await fieldPhone()
    ctx.phone.app.location.freshFix.mockImplementation(() => new Promise(() => {}))
    await shoot(ctx.page)
    const again = await ctx.restart()
    expect(text(again, '#photo-0')).toContain('待上传')
    await ctx.sync()
    expect(serverPhotos(ctx).map(p => p.flags)).toEqual([['no_fix']])
  })
})

describe('item 4: a deleted original is a failure with a reason, not "offline" forever', () => {
  test('文件丢失 with 重拍; the retake reaches the server and the lost one is gone', async () => {
    const ctx = await fieldPhone()
    const { page, phone } = ctx
    await shoot(page)
    phone.wx.deleteFile(phone.app.queue.items().find(i => i.kind === 'photo').file)
    await ctx.sync()
    expect(text(page, '#sync')).toContain('照片：文件丢失')
    expect(text(page, '#sync')).toContain('重拍')
    await tap(page, '#retake-photo-0')
    await settle()
    await ctx.sync()
    expect(serverPhotos(ctx).map(p => p.status)).toEqual(['ready'])
    expect(phone.app.queue.items()).toEqual([])
    expect(page.querySelectorAll('.photo')).toHaveLength(1)
  })
})

describe('item 6: WeChat configuration errors are loud', () => {
  test('the storage host missing from the uploadFile domain list shows 域名未配置, not 待上传', async () => {
    const ctx = await fieldPhone({
      wx: { domains: { request: ['api.test'], uploadFile: ['api.test'] } }
    })
    await shoot(ctx.page)
    await ctx.sync()
    const panel = text(ctx.page, '#sync')
    expect(panel).toContain('域名未配置')
    expect(panel).toContain('storage.test')
    expect(text(ctx.page, '#photo-0')).not.toMatch(/待上传$/)
    const uploads = ctx.phone.wx.stats.uploads
    await ctx.sync()
    expect(ctx.phone.wx.stats.uploads).toBe(uploads)
  })
})

describe('item 7: a half-typed interview survives WeChat killing the app', () => {
  test('household, answers and notes come back after a kill', async () => {
    const ctx = await fieldPhone()
    const { page } = ctx
    page.instance.onHousehold({ detail: { value: '3组张某家' } })
    page.instance.onAnswerInput({
      currentTarget: { dataset: { key: 'q2' } },
      detail: { value: '路灯装了一半' }
    })
    page.instance.onNoteInput({ detail: { value: '村部无人' } })
    const again = await ctx.restart()
    expect(again.instance.data.interview.household).toBe('3组张某家')
    expect(again.instance.data.interview.answers.q2).toBe('路灯装了一半')
    expect(again.instance.data.noteText).toBe('村部无人')
  })
})

describe('items 8 and 10: thumbnails and one fetch', () => {
  test('an uploaded photo shows the local file until the server thumbnail is known, then the thumbnail', async () => {
    const ctx = await fieldPhone()
    const { page, phone } = ctx
    await checkIn(page)
    await shoot(page)
    const kept = phone.app.queue.items().find(i => i.kind === 'photo').file
    phone.wx.net.rule({
      kind: 'request',
      match: r => /\/visits\/\d+$/.test(r.url) && r.method === 'GET',
      action: 'drop',
      times: 5
    })
    await ctx.sync()
    expect(page.instance.data.photos[0].path).toBe(kept)
    expect(phone.wx.fs.has(kept)).toBe(true)
    phone.wx.net.clear()
    await page.instance.onShow()
    await settle()
    expect(page.instance.data.photos[0].path).toMatch(/^https:\/\/download\.test\/.*thumb/)
    expect(phone.wx.fs.has(kept)).toBe(false)
  })

  test('eight photos uploading fetch the visit at most twice, not once per photo', async () => {
    const ctx = await fieldPhone()
    const { page } = ctx
    await checkIn(page)
    for (let i = 0; i < 8; i++) await shoot(page)
    ctx.server.log.length = 0
    await ctx.sync()
    expect(serverPhotos(ctx).filter(p => p.status === 'ready')).toHaveLength(8)
    expect(
      ctx.server.calls(/^\/visits\/\d+$/).filter(c => c.method === 'GET').length
    ).toBeLessThanOrEqual(2)
  })
})

describe('item 11: privacy refusal', () => {
  test('WeChat asks: the page says why; a refusal explains what does not work and interviews still save', async () => {
    const ctx = await fieldPhone({ wx: { privacy: 'refused' } })
    const { page, phone } = ctx
    phone.wx.startLocationUpdate({ fail: () => {} })
    await settle()
    expect(text(page, '#privacy')).toContain('签到和现场照片需要位置信息')
    await tap(page, '#privacy-refuse')
    expect(text(page, '#privacy-refused')).toContain('走访记录、检查结果和备注仍可填写')
    page.instance.onHousehold({ detail: { value: '李家' } })
    await tap(page, '#satisfaction-0')
    await tap(page, '#save-interview')
    await ctx.sync()
    expect(ctx.server.interviews.size).toBe(1)
  })
})

describe('item 12: a refused location permission leads to the settings', () => {
  test('签到 with location denied offers 去设置 and opens it', async () => {
    const ctx = await fieldPhone()
    ctx.phone.app.location.freshFix.mockImplementation(() =>
      Promise.reject(
        Object.assign(new Error('无法获取位置：请在设置中允许小程序使用位置信息'), {
          code: 'location_denied'
        })
      )
    )
    await tap(ctx.page, '#checkin')
    await settle()
    expect(dialogs(ctx).pop().confirmText).toBe('去设置')
    expect(ctx.phone.app.location.openSettings).toHaveBeenCalledTimes(1)
    expect(ctx.phone.app.queue.items()).toEqual([])
  })
})

describe('item 13: uploads keep the screen on and ask to keep the page open', () => {
  test('screen kept on while a photo uploads, released afterwards', async () => {
    const ctx = await fieldPhone({ wx: { uploadDelayMs: 80 } })
    const { page, phone } = ctx
    await shoot(page)
    const flushing = phone.app.queue.flush()
    for (let i = 0; i < 10 && !phone.wx.keepScreenOn; i++) await settle()
    expect(phone.wx.keepScreenOn).toBe(true)
    expect(text(page, '#keep-open')).toContain('请保持本页面打开')
    await flushing
    await settle()
    expect(phone.wx.keepScreenOn).toBe(false)
    expect(page.querySelector('#keep-open')).toBeFalsy()
  })
})

describe('item 15: the sync panel', () => {
  test('offline, last sync time, photos and MB, and why each record waits', async () => {
    const ctx = await fieldPhone()
    const { page, phone } = ctx
    await checkIn(page)
    await ctx.sync()
    expect(text(page, '#sync-last')).toBe(
      `上次同步 ${require('../../utils/view').formatTime(new Date(ctx.server.now()))}`
    )
    phone.wx.net.offline = true
    await shoot(page)
    await shoot(page)
    await ctx.sync()
    expect(text(page, '#sync-online')).toBe('离线')
    expect(text(page, '#sync-progress')).toMatch(/^照片 0\/2 张 · 0\.0\/0\.0 MB$/)
    expect(text(page, '#sync-row-0')).toContain('无网络')
    phone.wx.net.offline = false
    ctx.server.failNext(/photos$/, 503, 'storage_unavailable', 4, 30)
    await ctx.sync()
    expect(text(page, '#sync')).toContain('服务器繁忙，30 秒后重试')
  })
})

describe('item 16: what the inspector checks before it is sent', () => {
  test('the fix is shown against the geofence before anything is queued', async () => {
    const ctx = await fieldPhone({
      fix: {
        lat: 27.2,
        lng: 115.1,
        accuracy: 30,
        coord_type: 'gcj02',
        time: '2026-05-04T09:35:00+08:00'
      }
    })
    const { page, phone } = ctx
    await tap(page, '#checkin')
    await settle()
    expect(text(page, '#checkin-preview')).toContain('定位精度 ±30 米')
    expect(text(page, '#preview-verdict')).toContain('不在村庄范围内（800 米）')
    expect(phone.app.queue.items()).toEqual([])
    await tap(page, '#confirm-checkin')
    expect(phone.app.queue.items().map(i => i.kind)).toEqual(['start_visit', 'checkin'])
  })

  test('a photo not yet sent can be deleted or retaken', async () => {
    const ctx = await fieldPhone()
    const { page, phone } = ctx
    phone.wx.net.offline = true
    await shoot(page)
    await shoot(page)
    const first = phone.app.queue.items().filter(i => i.kind === 'photo')[0]
    await tap(page, '#delete-photo-0')
    await settle()
    expect(page.querySelectorAll('.photo')).toHaveLength(1)
    expect(phone.wx.fs.has(first.file)).toBe(false)
    await tap(page, '#retake-photo-0')
    await settle()
    expect(page.querySelectorAll('.photo')).toHaveLength(1)
    phone.wx.net.offline = false
    await ctx.sync()
    expect(serverPhotos(ctx)).toHaveLength(1)
  })

  test('submit warns by the evidence policy of the assignment', async () => {
    const ctx = await fieldPhone({
      assignment: { evidence_policy: { min_photos: 3, min_interviews: 2 } }
    })
    const { page } = ctx
    await checkIn(page)
    await shoot(page)
    await tap(page, '#submit')
    const content = dialogs(ctx).pop().content
    expect(content).toContain('现场照片 1 张，少于要求的 3 张')
    expect(content).toContain('没有入户走访记录（要求至少 2 户）')
    await ctx.sync()
    await page.instance.onShow()
    await settle()
    expect(text(page, '#evidence-short')).toContain('现场照片 1/3 张')
  })

  test('sealed items: the page says they open after an in-geofence check-in, and photos and interviews go meanwhile', async () => {
    const ctx = await fieldPhone({
      assignment: { check_items: [], check_items_sealed: true, check_items_count: 2 }
    })
    const { page } = ctx
    expect(text(page, '#sealed')).toContain('无信号时无法开启')
    expect(text(page, '#sealed')).toContain('可以先拍照、入户走访')
    await shoot(page)
    page.instance.onHousehold({ detail: { value: '王家' } })
    await tap(page, '#satisfaction-1')
    await tap(page, '#save-interview')
    await ctx.sync()
    expect(ctx.server.interviews.size).toBe(1)
    expect(serverPhotos(ctx)).toHaveLength(1)
  })
})
