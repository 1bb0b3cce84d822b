/**
 * @jest-environment jsdom
 */
const { loadPage, settle, tap, text } = require('./harness')
const { createFakeWx, createFakeApp } = require('./fakes')

const RECORD = {
  id: 12,
  title: '东村村道亮化工程',
  year: 2024,
  domain: '农村',
  status: 'in_progress',
  accepting_feedback: true,
  organization: '东村党支部',
  places: [{ kind: 'village', name: '东村', township: '城关镇' }],
  steps: [
    { name: '完成路灯选址', deadline: '2024-04-30', responsible: '李书记', status: '已完成' },
    { name: '安装120盏路灯', deadline: '2024-09-30', responsible: '王主任', status: '' }
  ],
  targets: ['主干道夜间全部亮灯'],
  responsible: { 主管领导: '张副部长', 牵头书记: '李书记', 联系组工干部: '赵干事', 工作队伍: '' },
  updates: [{ text: '已安装60盏', date: '2024-06-01' }],
  feedback_counts: { 满意: 5, 基本满意: 2, 不满意: 1 }
}

function setup(routes) {
  const wx = createFakeWx()
  const app = createFakeApp({
    wx,
    routes: routes || {
      'GET /public/scene/p0c.abcdef': { project_id: 12, page: 'pages/project/project' },
      'GET /public/projects/12': RECORD
    }
  })
  const page = loadPage('project', { wx, app })
  return { wx, app, page }
}

test('resolves the scene of a scanned code and renders the public record', async () => {
  const { page, app } = setup()
  await page.instance.onLoad({ scene: encodeURIComponent('p0c.abcdef') })
  await settle()
  const paths = app.api.request.mock.calls.map(c => `${c[0]} ${c[1]}`)
  expect(paths).toEqual(['GET /public/scene/p0c.abcdef', 'GET /public/projects/12'])
  expect(app.api.request.mock.calls[0][3]).toEqual({ auth: false })
  expect(text(page, '#title')).toBe('东村村道亮化工程')
  expect(text(page, '#summary')).toContain('城关镇 东村')
})

test('renders the steps with deadlines and the four responsible people', async () => {
  const { page } = setup()
  await page.instance.onLoad({ scene: 'p0c.abcdef' })
  await settle()
  expect(text(page, '#step-0')).toContain('完成路灯选址')
  expect(text(page, '#step-0')).toContain('完成时限：2024-04-30')
  expect(text(page, '#step-1')).toContain('安装120盏路灯')
  const people = text(page, '#responsible')
  expect(people).toContain('主管领导张副部长')
  expect(people).toContain('牵头书记李书记')
  expect(people).toContain('联系组工干部赵干事')
  expect(people).toContain('工作队伍未公布')
  expect(text(page, '#targets')).toContain('主干道夜间全部亮灯')
  expect(text(page, '#updates')).toContain('已安装60盏')
})

test('我要反馈 opens the feedback form of this project', async () => {
  const { page, wx } = setup()
  await page.instance.onLoad({ scene: 'p0c.abcdef' })
  await settle()
  await tap(page, '#feedback')
  expect(wx.navigateTo).toHaveBeenCalledWith({
    url: `/pages/feedback/feedback?project_id=12&title=${encodeURIComponent('东村村道亮化工程')}`
  })
})

test('a forged or expired code shows the server message', async () => {
  const { page } = setup({
    'GET /public/scene/bad': {
      __status: 404,
      data: { error: { code: 'not_found', message: '二维码无效或已失效' } }
    }
  })
  await page.instance.onLoad({ scene: 'bad' })
  await settle()
  expect(text(page, '#error')).toContain('二维码无效或已失效')
})

test('a closed project takes no more feedback', async () => {
  const { page } = setup({ 'GET /public/projects/12': { ...RECORD, accepting_feedback: false } })
  await page.instance.onLoad({ id: '12' })
  await settle()
  expect(page.querySelector('#feedback')).toBeFalsy()
  expect(text(page)).toContain('不再受理反馈')
})
