/**
 * @jest-environment jsdom
 */
const { loadPage, settle, text } = require('./harness')
const { createFakeWx, createFakeApp } = require('./fakes')

const ITEMS = {
  items: [
    {
      id: 7,
      receipt_no: 'FK20260504-0001',
      project: { id: 41, title: '村集体经济增收项目' },
      rating: '不满意',
      category: '问题反映',
      text: '合作社分红没公示',
      status: 'processing',
      status_label: '处理中',
      anonymous: true,
      contact_phone: null,
      created_at: '2026-05-04T01:00:00+00:00',
      due_at: '2026-05-11T01:00:00+00:00',
      replies: [
        {
          text: '已要求公示',
          status: 'processing',
          status_label: '处理中',
          created_at: '2026-05-05T02:00:00+00:00'
        }
      ],
      photo_count: 2
    },
    {
      id: 8,
      receipt_no: 'FK20260504-0002',
      project: { id: 41, title: '村集体经济增收项目' },
      rating: '满意',
      category: '表扬',
      text: '路修好了',
      status: 'resolved',
      status_label: '已办结',
      anonymous: false,
      contact_phone: '13812345678',
      created_at: '2026-05-04T02:00:00+00:00',
      due_at: '2026-05-11T02:00:00+00:00',
      replies: [],
      photo_count: 0
    }
  ],
  page: 1,
  per_page: 50,
  total: 2
}

function setup(path) {
  const wx = createFakeWx()
  const app = createFakeApp({
    wx,
    user: { id: 9, roles: ['secretary'] },
    routes: { [path]: ITEMS }
  })
  const page = loadPage('project-feedback', { wx, app })
  return { app, page }
}

test('anonymous authors read 匿名群众 and no digit of a phone shows, whatever the server sends', async () => {
  const { page } = setup('GET /projects/feedback?page=1&per_page=50&project_id=41')
  page.instance.onLoad({ project_id: '41' })
  await page.instance.onShow()
  await settle()
  expect(text(page, '#author-7')).toBe('匿名群众')
  expect(text(page, '#author-8')).toBe('群众')
  expect(text(page)).not.toMatch(/138|5678|联系电话/)
  expect(text(page, '#reply-7-0')).toContain('已要求公示')
  expect(text(page, '#fb-7')).toContain('附照片 2 张')
})

test('without a project the feedback of all my projects is asked for', async () => {
  const { page, app } = setup('GET /projects/feedback?page=1&per_page=50')
  page.instance.onLoad({})
  await page.instance.onShow()
  expect(app.api.request).toHaveBeenCalledWith(
    'GET',
    '/projects/feedback?page=1&per_page=50',
    undefined,
    undefined
  )
  expect(page.instance.data.items).toHaveLength(2)
})
