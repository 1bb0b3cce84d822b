/**
 * @jest-environment node
 */
// The pure rules of the secretary's pages: what an application sends and lacks, how a project
// card reads, which report months are offered and which photo ids a report names.
const app = require('../../pages/application/application-logic')
const ws = require('../../pages/workspace/workspace-logic')
const report = require('../../pages/report/report-logic')

describe('application', () => {
  test('fields leave out blank rows and empty choices, and trim text', () => {
    const form = {
      ...app.emptyForm(2026),
      title: ' 项目 ',
      domain: '',
      selection: '自选',
      problem: ' 问题 ',
      targets: [' 目标一 ', '  '],
      steps: [
        { name: '步骤', deadline: '2026-03-31' },
        { name: ' ', deadline: '2026-04-01' }
      ],
      responsible: { 主管领导: ' 张 ', 牵头书记: '李', 联系组工干部: '', 工作队伍: '队' },
      village_ids: [11],
      site_id: null,
      organization_id: 3
    }
    expect(app.applicationFields(form)).toEqual({
      title: '项目',
      year: 2026,
      organization_id: 3,
      selection: '自选',
      problem: '问题',
      targets: ['目标一'],
      steps: [{ name: '步骤', deadline: '2026-03-31' }],
      responsible: { 主管领导: '张', 牵头书记: '李', 联系组工干部: '', 工作队伍: '队' },
      village_ids: [11]
    })
  })

  test('a unit site is sent as site when no village is chosen', () => {
    const form = app.toggleSite(app.toggleVillage({ ...app.emptyForm(2026), title: 'x' }, 11), 5)
    expect(form.village_ids).toEqual([])
    expect(app.applicationFields(form).site).toEqual({ id: 5 })
    expect(app.toggleVillage(form, 12)).toMatchObject({ village_ids: [12], site_id: null })
  })

  test('missing mirrors the server: a step without a deadline, the responsible people lacking', () => {
    const form = {
      ...app.emptyForm(2026),
      title: 't',
      organization_id: 1,
      problem: 'p',
      targets: ['a'],
      steps: [{ name: 's', deadline: '' }],
      village_ids: [1]
    }
    form.responsible = { 主管领导: '张', 牵头书记: '', 联系组工干部: '王', 工作队伍: '' }
    expect(app.localMissing(form)).toEqual([
      { field: 'steps', message: '每个实施步骤都要有完成时限' },
      { field: 'responsible', message: '请填写牵头书记、工作队伍' }
    ])
  })

  test('a server project fills the form back', () => {
    const form = app.formFromProject({
      title: 't',
      year: 2027,
      organization: { id: 3 },
      places: [{ kind: 'site', id: 5 }],
      targets: ['a'],
      steps: [{ name: 's', deadline: '2027-01-01' }],
      responsible: { 牵头书记: '李' }
    })
    expect(form).toMatchObject({
      year: 2027,
      organization_id: 3,
      site_id: 5,
      village_ids: [],
      targets: ['a']
    })
    expect(form.responsible).toEqual({
      主管领导: '',
      牵头书记: '李',
      联系组工干部: '',
      工作队伍: ''
    })
  })

  test('rows are added up to the limit and one empty row always stays', () => {
    let form = app.emptyForm(2026)
    form = app.addRow(form, 'steps')
    expect(form.steps).toHaveLength(2)
    form = app.removeRow(app.removeRow(form, 'steps', 0), 'steps', 0)
    expect(form.steps).toEqual([{ name: '', deadline: '' }])
    expect(app.setRow(form, 'targets', 0, null, '目标').targets).toEqual(['目标'])
  })

  test("move errors read in Chinese: missing list, offline, the server's 409", () => {
    expect(
      app.moveErrorText({
        status: 422,
        code: 'application_incomplete',
        details: { missing: [{ message: '请至少填写一项目标' }] }
      })
    ).toBe('申报表还不完整：\n· 请至少填写一项目标')
    expect(app.moveErrorText({ offline: true })).toContain('草稿已保存在手机上')
    expect(
      app.moveErrorText({ status: 409, message: '项目当前为“已立项”,不能执行“提交申报”' })
    ).toBe('项目当前为“已立项”,不能执行“提交申报”')
  })
})

describe('workspace cards', () => {
  test('a draft report, no report owed, a submitted one', () => {
    expect(ws.reportLine({ month: '2026-05', status: 'draft', due: '2026-06-05' }).text).toBe(
      '2026-05 月报草稿未提交，2026-06-05 前提交'
    )
    expect(ws.reportLine({ month: null })).toBeNull()
    expect(ws.reportLine({ month: '2026-05', status: 'submitted', due: '2026-06-05' })).toEqual({
      text: '2026-05 月报已提交',
      tag: 'tag-ok'
    })
  })

  test('no open order, no line; open ones without overdue are a warning', () => {
    expect(ws.rectificationLine({ open: 0 })).toBeNull()
    expect(ws.rectificationLine({ open: 1, overdue: 0, next_deadline: '2026-06-01' })).toEqual({
      text: '待整改 1 项，最近期限 2026-06-01',
      tag: 'tag-warn'
    })
  })
})

describe('report', () => {
  test('months: a submitted month is not offered again; overdue months follow the current one', () => {
    const state = { month: '2026-05', overdue_months: ['2026-03', '2026-04'] }
    expect(
      report.monthChoices(state, [{ month: '2026-03', status: 'submitted' }]).map(m => m.month)
    ).toEqual(['2026-05', '2026-04'])
    expect(report.monthChoices({ month: null }, [])).toEqual([])
  })

  test('photo ids: saved ones and uploaded ones by server id, queued ones by client_id', () => {
    const queue = {
      result: cid => ({ up: { id: 70 } })[cid] || null,
      items: () => [{ client_id: 'wait' }]
    }
    const refs = report.photoRefs([{ id: 5 }, { client_id: 'up' }, { client_id: 'wait' }], queue)
    expect(refs).toEqual({ known_photo_ids: [5, 70], photo_local_ids: ['wait'] })
  })

  test('photo rows show progress and a refusal', () => {
    const rows = report.photoRows(
      [
        { client_id: 'a', path: 'p1' },
        { client_id: 'b', path: 'p2' },
        { id: 3, path: 'p3' }
      ],
      [
        { client_id: 'a', status: 'sending', progress: 42.4 },
        { client_id: 'b', status: 'failed', error: { message: '文件不是图片' } }
      ]
    )
    expect(rows.map(r => r.statusText)).toEqual(['上传中 42%', '未能上传：文件不是图片', '已上传'])
  })
})
