/**
 * @jest-environment jsdom
 */
const { loadPage, settle, tap, text } = require('./harness')
const { createFakeWx, createFakeApp } = require('./fakes')
const logic = require('../../pages/feedback/feedback-logic')

function setup({ chooseMedia } = {}) {
  const wx = createFakeWx()
  let n = 0
  wx.chooseMedia =
    chooseMedia ||
    jest.fn(opts =>
      opts.success({
        tempFiles: Array.from({ length: opts.count }, () => {
          n += 1
          return { tempFilePath: `wxfile://tmp/pic-${n}.jpg`, size: 100000 + n }
        })
      })
    )
  const app = createFakeApp({ wx })
  const page = loadPage('feedback', { wx, app })
  page.instance.onLoad({ project_id: '12', title: encodeURIComponent('东村村道亮化工程') })
  return { wx, app, page }
}

async function fill(page, { text: body = '路灯晚上十点就灭了', phone = '' } = {}) {
  await tap(page, '#rating-2')
  await tap(page, '#category-3')
  page.instance.onText({ detail: { value: body } })
  if (phone) page.instance.onPhone({ detail: { value: phone } })
  await settle()
}

describe('validation', () => {
  test('rating, category and text are required', async () => {
    const { page, app } = setup()
    await tap(page, '#submit')
    expect(text(page, '#rating-error')).toContain('请选择您对项目的评价')
    expect(text(page, '#category-error')).toContain('请选择反馈类别')
    expect(text(page, '#text-error')).toContain('请填写反馈内容')
    expect(app.queue.items()).toEqual([])
  })

  test('the text counter follows the input and more than 500 characters are refused', async () => {
    const { page, app } = setup()
    await fill(page, { text: '好'.repeat(501) })
    expect(text(page, '#counter')).toBe('501/500')
    await tap(page, '#submit')
    expect(text(page, '#text-error')).toContain('不超过500字')
    expect(app.queue.items()).toEqual([])
  })

  test('a malformed phone number is refused, a mobile or landline is accepted', () => {
    const base = { rating: '满意', category: '表扬', text: '好', photos: [] }
    expect(logic.validateFeedback({ ...base, phone: '12345' }).phone).toContain('正确的手机号码')
    expect(logic.validateFeedback({ ...base, phone: '13812345678' })).toEqual({})
    expect(logic.validateFeedback({ ...base, phone: '0796-8221234' })).toEqual({})
    expect(logic.validateFeedback({ ...base, phone: '' })).toEqual({})
  })

  test('no more than 6 photos', async () => {
    const { page, wx } = setup()
    await tap(page, '#photos >>> #add-photo')
    expect(wx.chooseMedia.mock.calls[0][0]).toMatchObject({
      count: 6,
      mediaType: ['image'],
      sourceType: ['camera']
    })
    expect(page.querySelector('#photos >>> #photo-5')).toBeTruthy()
    expect(page.querySelector('#photos >>> #add-photo')).toBeFalsy()
    const base = { rating: '满意', category: '表扬', text: '好', phone: '' }
    expect(
      logic.validateFeedback({ ...base, photos: new Array(7).fill({ path: 'x' }) }).photos
    ).toContain('最多上传6张')
    await tap(page, '#photos >>> #remove-photo-0')
    expect(page.querySelector('#photos >>> #add-photo')).toBeTruthy()
  })

  test('shows the phone error on the form', async () => {
    const { page, app } = setup()
    await fill(page, { phone: '1381234' })
    await tap(page, '#submit')
    expect(text(page, '#phone-error')).toContain('请填写正确的手机号码')
    expect(app.queue.items()).toEqual([])
  })
})

describe('sending', () => {
  test('enqueues the photos and then the feedback naming them', async () => {
    const { page, app } = setup()
    await tap(page, '#photos >>> #add-photo')
    expect(app.queue.items()).toEqual([]) // photos are queued only with their feedback
    await fill(page, { phone: '13812345678' })
    page.instance.onAnonymous({ detail: { value: true } })
    await tap(page, '#submit')
    await settle()
    const items = app.queue.items()
    expect(items.map(i => i.kind)).toEqual([
      'photo',
      'photo',
      'photo',
      'photo',
      'photo',
      'photo',
      'feedback'
    ])
    const photos = items.filter(i => i.kind === 'photo')
    photos.forEach(p => expect(p.feedback).toBe(true))
    const fb = items[6]
    expect(fb).toMatchObject({
      project_id: 12,
      rating: '不满意',
      category: '问题反映',
      text: '路灯晚上十点就灭了',
      contact_phone: '13812345678',
      anonymous: true,
      notify: false
    })
    expect(fb.photo_local_ids).toEqual(photos.map(p => p.client_id))
    expect(app.flushQueue).toHaveBeenCalled()
    expect(text(page, '#receipt')).toContain('反馈已保存')
  })

  test('shows the receipt number once the server answered', async () => {
    const { page, app } = setup()
    app.api.routes['POST /public/projects/12/feedback'] = {
      id: 3,
      receipt_no: 'FK20240520-0007',
      status: 'received',
      status_label: '待受理',
      due_at: '2024-05-27T00:00:00+00:00'
    }
    await fill(page)
    await tap(page, '#submit')
    await app.queue.flush()
    await settle()
    expect(text(page, '#receipt-no')).toBe('FK20240520-0007')
    expect(text(page, '#receipt')).toContain('待受理')
  })

  test('without a template id no subscribe dialog is shown', async () => {
    const { page, wx } = setup()
    await fill(page)
    await tap(page, '#submit')
    expect(wx.requestSubscribeMessage).not.toHaveBeenCalled()
  })

  test.each([
    ['accept', true],
    ['reject', false]
  ])('with a template id, consent %s gives notify %s', async (answer, notify) => {
    const configPath = require.resolve('../../utils/config')
    const realConfig = jest.requireActual('../../utils/config')
    jest.doMock(configPath, () => ({ ...realConfig, FEEDBACK_TEMPLATE_ID: 'tmpl-1' }))
    try {
      const { page, wx, app } = setup()
      wx.requestSubscribeMessage.mockImplementation(opts =>
        opts.success({ errMsg: 'requestSubscribeMessage:ok', 'tmpl-1': answer })
      )
      await fill(page)
      await tap(page, '#submit')
      await settle()
      expect(wx.requestSubscribeMessage.mock.calls[0][0].tmplIds).toEqual(['tmpl-1'])
      expect(app.queue.items().find(i => i.kind === 'feedback').notify).toBe(notify)
    } finally {
      jest.dontMock(configPath)
    }
  })

  test('the template id is read from utils/config.js and may be empty', () => {
    expect(logic.replyTemplateId({ FEEDBACK_TEMPLATE_ID: ' tmpl-1 ' })).toBe('tmpl-1')
    expect(logic.replyTemplateId({ FEEDBACK_TEMPLATE_ID: '' })).toBe('')
    expect(logic.replyTemplateId({})).toBe('')
  })
})

describe('item 17: the camera only, unless the project allows the album', () => {
  test('a project whose policy allows the album opens both; without it only the camera', async () => {
    const { page, wx } = setup()
    page.instance.onLoad({ project_id: '12', title: 'x', allow_album: '1' })
    await tap(page, '#photos >>> #add-photo')
    expect(wx.chooseMedia.mock.calls[0][0].sourceType).toEqual(['album', 'camera'])
  })
})
