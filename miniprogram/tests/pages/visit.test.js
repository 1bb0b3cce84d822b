/**
 * @jest-environment jsdom
 */
const { loadPage, settle, tap, text } = require('./harness')
const { createFakeWx, createFakeApp } = require('./fakes')
const coord = require('../../utils/coord')

const ASSIGNMENT = {
  id: 7,
  status: 'open',
  due_date: '2030-06-30',
  project: { id: 3, title: '村级光伏发电项目', year: 2024 },
  village: { id: 11, name: '东村' },
  place: {
    kind: 'village',
    id: 11,
    name: '东村',
    label: '城关镇 东村',
    lat: 27.115,
    lng: 114.978,
    gcj02: { lat: 27.1121, lng: 114.9831 },
    radius_m: 800
  },
  check_items: ['项目公示栏是否张贴', '实施进度是否与计划一致', '群众是否知晓项目'],
  visits: []
}

function setup({ assignment = ASSIGNMENT, nearCap = false, routes = {}, chooseMedia } = {}) {
  const wx = createFakeWx()
  wx.setStorageSync('assignments.v1', {
    items: [assignment],
    fetched_at: '2024-05-20T08:00:00+08:00'
  })
  wx.chooseMedia =
    chooseMedia ||
    jest.fn(opts =>
      opts.success({
        type: 'image',
        tempFiles: [{ tempFilePath: 'wxfile://tmp/shot-1.jpg', size: 2345678, fileType: 'image' }]
      })
    )
  const app = createFakeApp({ wx, nearCap, routes })
  const page = loadPage('visit', { wx, app })
  return { wx, app, page }
}

async function open(page, id = 7) {
  page.instance.onLoad({ assignment_id: String(id) })
  await page.instance.onShow()
  await settle()
}

// The inspector taps 签到, looks at the fix against the village and confirms it.
async function checkIn(page) {
  await tap(page, '#checkin')
  await settle()
  await tap(page, '#confirm-checkin')
}

function queued(app, kind) {
  return app.queue.items().filter(i => i.kind === kind)
}

describe('check-in', () => {
  test('takes a fresh fix, enqueues start_visit then checkin and shows the distance', async () => {
    const { page, app } = setup()
    await open(page)
    await checkIn(page)
    expect(app.location.freshFix).toHaveBeenCalledTimes(1)
    expect(app.queue.items().map(i => i.kind)).toEqual(['start_visit', 'checkin'])
    const checkin = queued(app, 'checkin')[0]
    expect(checkin).toMatchObject({
      lat: 27.1121,
      lng: 114.9831,
      accuracy_m: 12,
      coord_type: 'gcj02'
    })
    expect(Date.parse(checkin.client_time)).toBe(Date.parse('2024-05-20T10:00:00+08:00'))
    expect(checkin.local_visit).toBe(queued(app, 'start_visit')[0].client_id)
    // distance from the fix converted to WGS-84 to the place's WGS-84 centre
    const here = coord.gcj02ToWgs84(27.1121, 114.9831)
    const metres = Math.round(coord.distanceM(here, { lat: 27.115, lng: 114.978 }))
    expect(metres).toBeGreaterThan(0)
    expect(text(page, '#checkin-info')).toContain(`距村庄中心 约 ${metres} 米`)
    expect(text(page, '#checkin-info')).toContain('定位精度 ±12 米')
  })

  test('shows 待上传 N 项 and follows the queue', async () => {
    const { page } = setup()
    await open(page)
    expect(page.querySelector('#pending')).toBeFalsy()
    await checkIn(page)
    expect(text(page, '#pending')).toBe('待上传 2 项')
  })

  test('shows the flags the server returned, in Chinese', async () => {
    const { page, app } = setup()
    await open(page)
    await checkIn(page)
    app.api.routes['POST /visits'] = { id: 55, client_id: 'x', status: 'in_progress' }
    app.api.routes['POST /visits/55/checkins'] = {
      id: 1,
      flags: ['far_from_village', 'zero_accuracy']
    }
    app.api.routes['GET /visits/55'] = {
      id: 55,
      flags: [
        'far_from_village',
        'zero_accuracy',
        'clock_skew',
        'impossible_speed',
        'low_accuracy'
      ],
      assignment: ASSIGNMENT,
      photos_waiting: []
    }
    await app.queue.flush()
    await page.instance.onShow()
    await settle()
    const flags = text(page, '#flags')
    expect(flags).toContain('距离村庄过远')
    expect(flags).toContain('疑似虚拟定位')
    expect(flags).toContain('手机时间不准')
    expect(flags).toContain('移动速度异常')
    expect(flags).toContain('定位精度低')
    expect(page.querySelector('#pending')).toBeFalsy()
  })

  test('flags appear as soon as the check-in reached the server', async () => {
    const { page, app } = setup()
    await open(page)
    await checkIn(page)
    app.api.routes['POST /visits'] = { id: 56 }
    app.api.routes['POST /visits/56/checkins'] = { id: 2, flags: ['far_from_village'] }
    app.api.routes['GET /visits/56'] = {
      id: 56,
      flags: ['far_from_village'],
      assignment: ASSIGNMENT,
      photos_waiting: []
    }
    await app.queue.flush()
    await settle()
    expect(text(page, '#flags')).toContain('距离村庄过远')
  })

  test('check items unsealed by the server after the check-in replace the sealed notice', async () => {
    const sealed = {
      ...ASSIGNMENT,
      check_items: [],
      check_items_sealed: true,
      check_items_count: 2
    }
    const { page, app, wx } = setup({ assignment: sealed })
    await open(page)
    await checkIn(page)
    app.api.routes['POST /visits'] = { id: 57 }
    app.api.routes['POST /visits/57/checkins'] = { id: 3, flags: [] }
    app.api.routes['GET /visits/57'] = {
      id: 57,
      flags: [],
      photos_waiting: [],
      assignment: { ...ASSIGNMENT, check_items: ['公示栏', '进度'] }
    }
    await app.queue.flush()
    await settle()
    expect(page.querySelector('#sealed')).toBeFalsy()
    expect(text(page, '#check-1')).toContain('进度')
    expect(wx.getStorageSync('assignments.v1').items[0].check_items).toEqual(['公示栏', '进度'])
  })

  test('a failed fix is explained and nothing is queued', async () => {
    const { page, app, wx } = setup()
    app.location.freshFix.mockImplementation(() =>
      Promise.reject(new Error('定位超时：请到开阔处稍候再试'))
    )
    await open(page)
    await tap(page, '#checkin')
    expect(app.queue.items()).toEqual([])
    expect(wx.showModal.mock.calls[0][0].content).toContain('定位超时')
  })
})

describe('photos', () => {
  test('the photo button opens the camera only and enqueues the photo with position and time', async () => {
    const { page, app, wx } = setup()
    await open(page)
    await tap(page, '#take-photo')
    await settle()
    expect(wx.chooseMedia).toHaveBeenCalledTimes(1)
    const opts = wx.chooseMedia.mock.calls[0][0]
    expect(opts.sourceType).toEqual(['camera'])
    expect(opts.mediaType).toEqual(['image'])
    expect(opts.sizeType).toEqual(['original'])
    expect(app.location.freshFix).toHaveBeenCalledTimes(1)
    const photo = queued(app, 'photo')[0]
    expect(photo).toMatchObject({ lat: 27.1121, lng: 114.9831, coord_type: 'gcj02', size: 2345678 })
    expect(photo.taken_at).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}[+-]\d{2}:\d{2}$/)
    expect(photo.file).toBe('wxfile://usr/kept-shot-1.jpg')
    expect(text(page, '#photo-0')).toContain('待上传')
  })

  test('shows the upload progress of each photo', async () => {
    const { page, app } = setup()
    await open(page)
    await checkIn(page)
    await tap(page, '#take-photo')
    await settle()
    app.api.routes['POST /visits'] = { id: 55 }
    app.api.routes['POST /visits/55/checkins'] = { id: 1, flags: [] }
    app.uploader.upload.mockImplementation((item, onProgress) => {
      onProgress(40)
      return new Promise(() => {})
    })
    app.queue.flush()
    await settle()
    await settle()
    expect(text(page, '#photo-0')).toContain('上传中 40%')
    expect(page.querySelector('#bar-0').dom.getAttribute('style')).toContain('width: 40%')
  })

  test('cancelling the camera records nothing', async () => {
    const { page, app } = setup({
      chooseMedia: jest.fn(opts => opts.fail({ errMsg: 'chooseMedia:fail cancel' }))
    })
    await open(page)
    await tap(page, '#take-photo')
    expect(app.queue.items()).toEqual([])
  })

  test('warns when the kept photos near the storage cap', async () => {
    const { page } = setup({ nearCap: true })
    await open(page)
    expect(text(page, '#near-cap')).toContain('接近存储上限')
  })
})

describe('checklist', () => {
  test('taps set pass / fail / na and saving enqueues the decided items', async () => {
    const { page, app } = setup()
    await open(page)
    await tap(page, '#check-0-pass')
    await tap(page, '#check-1-fail')
    await tap(page, '#check-2-na')
    expect(page.querySelector('#check-0-pass').dom.className).toContain('choice-on')
    expect(page.querySelector('#check-1-fail').dom.className).toContain('choice-on')
    expect(page.querySelector('#check-2-na').dom.className).toContain('choice-on')
    expect(page.querySelector('#check-0-fail').dom.className).not.toContain('choice-on')
    await tap(page, '#check-0-fail')
    expect(page.querySelector('#check-0-pass').dom.className).not.toContain('choice-on')
    page.instance.onCheckNote({
      currentTarget: { dataset: { index: 1 } },
      detail: { value: '进度滞后两个月' }
    })
    await tap(page, '#save-checklist')
    expect(queued(app, 'checklist')[0].items).toEqual([
      { item: '项目公示栏是否张贴', result: 'fail', note: '' },
      { item: '实施进度是否与计划一致', result: 'fail', note: '进度滞后两个月' },
      { item: '群众是否知晓项目', result: 'na', note: '' }
    ])
  })

  test('sealed check items show how many there are', async () => {
    const sealed = {
      ...ASSIGNMENT,
      check_items: undefined,
      check_items_sealed: true,
      check_items_count: 4
    }
    const { page } = setup({ assignment: sealed })
    await open(page)
    expect(text(page, '#sealed')).toContain('本次共有 4 项督查事项')
    expect(page.querySelector('#check-0')).toBeFalsy()
  })
})

describe('interview', () => {
  test('household and satisfaction are required', async () => {
    const { page, app } = setup()
    await open(page)
    await tap(page, '#save-interview')
    expect(text(page, '#household-error')).toContain('请填写受访户')
    expect(text(page, '#satisfaction-error')).toContain('请选择满意度')
    expect(app.queue.items()).toEqual([])
  })

  test('a filled form is enqueued with the answers under their questions', async () => {
    const { page, app } = setup()
    await open(page)
    page.instance.onHousehold({ detail: { value: ' 3组张某家 ' } })
    page.instance.onAnswerChoice({ currentTarget: { dataset: { key: 'q1', value: '知道' } } })
    page.instance.onAnswerInput({
      currentTarget: { dataset: { key: 'q2' } },
      detail: { value: '路灯已装一半' }
    })
    await tap(page, '#satisfaction-1')
    await tap(page, '#save-interview')
    const interview = queued(app, 'interview')[0]
    expect(interview).toMatchObject({
      household: '3组张某家',
      satisfaction: '基本满意',
      answers: { 是否知道本村书记项目: '知道', 项目实际进展: '路灯已装一半' }
    })
  })
})

describe('refused writes', () => {
  test('are shown with the server reason and can be retried', async () => {
    const { page, app } = setup()
    await open(page)
    page.instance.onHousehold({ detail: { value: '张家' } })
    await tap(page, '#satisfaction-0')
    await tap(page, '#save-interview')
    app.api.routes['POST /visits'] = { id: 58 }
    app.api.routes['POST /visits/58/interviews'] = {
      __status: 409,
      data: { error: { code: 'conflict', message: '暗访已提交，不能再修改' } }
    }
    app.api.routes['GET /visits/58'] = {
      id: 58,
      flags: [],
      assignment: ASSIGNMENT,
      photos_waiting: []
    }
    await app.queue.flush()
    await settle()
    expect(text(page, '#sync-row-0')).toContain('走访记录：暗访已提交，不能再修改')
    expect(page.querySelector('#pending')).toBeFalsy()
    await tap(page, '#sync-0-retry')
    expect(text(page, '#sync-row-0')).not.toContain('暗访已提交')
    expect(text(page, '#pending')).toBe('待上传 1 项')
  })

  test('photos the server still waits for are handed back to the queue', async () => {
    const { page, app } = setup()
    await open(page)
    await checkIn(page)
    await tap(page, '#take-photo')
    await settle()
    const photo = queued(app, 'photo')[0]
    app.api.routes['POST /visits'] = { id: 59 }
    app.api.routes['POST /visits/59/checkins'] = { id: 4, flags: [] }
    app.api.routes['GET /visits/59'] = {
      id: 59,
      flags: [],
      assignment: ASSIGNMENT,
      photos_waiting: [{ id: 77, client_id: photo.client_id }]
    }
    const resume = jest.spyOn(app.queue, 'resumeWaiting')
    await app.queue.flush()
    await settle()
    expect(resume).toHaveBeenCalledWith([{ id: 77, client_id: photo.client_id }])
  })
})

describe('submit', () => {
  test('asks for confirmation, then enqueues the checklist and submit last', async () => {
    const { page, app, wx } = setup()
    await open(page)
    await checkIn(page)
    await tap(page, '#check-0-pass')
    await tap(page, '#submit')
    await settle()
    expect(wx.showModal).toHaveBeenCalledTimes(1)
    const dialog = wx.showModal.mock.calls[0][0]
    expect(dialog.content).toContain('提交后本次暗访记录不能再修改')
    expect(dialog.content).toContain('还有 2 项督查事项未填写')
    expect(app.queue.items().map(i => i.kind)).toEqual([
      'start_visit',
      'checkin',
      'checklist',
      'submit'
    ])
    expect(text(page, '#submitted')).toContain('已提交')
    expect(page.querySelector('#submit')).toBeFalsy()
    expect(page.querySelector('#take-photo')).toBeFalsy()
  })

  test('cancelling the dialog submits nothing', async () => {
    const { page, app, wx } = setup()
    wx.showModal.mockImplementation(opts => opts.success({ confirm: false, cancel: true }))
    await open(page)
    await checkIn(page)
    await tap(page, '#submit')
    await settle()
    expect(queued(app, 'submit')).toEqual([])
    expect(page.querySelector('#submit')).toBeTruthy()
  })

  test('the local record survives a restart of the page', async () => {
    const { page, wx, app } = setup()
    await open(page)
    await checkIn(page)
    const again = loadPage('visit', { wx, app })
    await open(again)
    expect(text(again, '#checkin-info')).toContain('共签到 1 次')
  })
})
