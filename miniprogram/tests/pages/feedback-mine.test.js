/**
 * @jest-environment jsdom
 */
const { loadPage, settle, text } = require('./harness')
const { createFakeWx, createFakeApp } = require('./fakes')

const MINE = {
  items: [
    {
      id: 3,
      receipt_no: 'FK20240520-0007',
      project_id: 12,
      rating: '不满意',
      category: '问题反映',
      text: '路灯晚上十点就灭了',
      anonymous: false,
      status: 'processing',
      status_label: '处理中',
      due_at: '2099-05-27T02:00:00+00:00',
      created_at: '2024-05-20T02:00:00+00:00',
      closed_at: null,
      replies: [
        {
          id: 1,
          text: '已联系供电所排查',
          status: 'processing',
          status_label: '处理中',
          reason: null,
          created_at: '2024-05-21T03:00:00+00:00'
        }
      ],
      photos: [{ id: 9, thumb_url: 'https://example/t.jpg', preview_url: 'https://example/p.jpg' }]
    },
    {
      id: 4,
      receipt_no: 'FK20240521-0001',
      project_id: 12,
      rating: '满意',
      category: '表扬',
      text: '路修好了',
      anonymous: true,
      status: 'resolved',
      status_label: '已办结',
      due_at: '2024-05-28T02:00:00+00:00',
      created_at: '2024-05-21T02:00:00+00:00',
      closed_at: '2024-05-22T02:00:00+00:00',
      replies: [],
      photos: []
    }
  ],
  page: 1,
  per_page: 50,
  total: 2
}

function setup(routes) {
  const wx = createFakeWx()
  const app = createFakeApp({
    wx,
    routes: routes || { 'GET /feedback/mine?page=1&per_page=50': MINE }
  })
  const page = loadPage('feedback-mine', { wx, app })
  return { wx, app, page }
}

async function show(page) {
  page.instance.onLoad({})
  await page.instance.onShow()
  await settle()
}

test('renders each feedback with receipt number, status and due date', async () => {
  const { page } = setup()
  await show(page)
  expect(text(page, '#fb-3')).toContain('回执编号 FK20240520-0007')
  expect(text(page, '#status-3')).toBe('处理中')
  expect(text(page, '#due-3')).toBe('答复期限 2099-05-27')
  expect(text(page, '#status-4')).toBe('已办结')
  expect(text(page, '#due-4')).toContain('办结于 2024-05-22')
  expect(text(page, '#fb-4')).toContain('匿名')
})

test('renders the replies', async () => {
  const { page } = setup()
  await show(page)
  const reply = text(page, '#reply-3-0')
  expect(reply).toContain('已联系供电所排查')
  expect(reply).toContain('处理中')
  expect(reply).toContain('2024-05-21 11:00')
})

test('feedback still in the outbox is listed as waiting', async () => {
  const { page, app } = setup()
  app.queue.enqueue({
    kind: 'feedback',
    project_id: 12,
    rating: '满意',
    category: '建议',
    text: '多装几盏',
    photo_local_ids: []
  })
  await show(page)
  expect(text(page, '#waiting-0')).toContain('等待发送')
  expect(text(page, '#waiting-0')).toContain('多装几盏')
})

test('offline shows a message instead of the list', async () => {
  const { page } = setup({ 'GET /feedback/mine?page=1&per_page=50': { offline: true } })
  await show(page)
  expect(text(page, '#error')).toContain('网络不可用')
})
