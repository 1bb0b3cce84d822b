/**
 * @jest-environment node
 */
// The pages' pure functions: formatting, flag labels, form rules, queue actions.
const view = require('../../utils/view')
const tasks = require('../../pages/tasks/tasks-logic')
const visit = require('../../pages/visit/visit-logic')
const project = require('../../pages/project/project-logic')
const mine = require('../../pages/feedback-mine/feedback-mine-logic')
const coord = require('../../utils/coord')

describe('utils/view', () => {
  test('flag codes become Chinese labels; unknown ones stay visible', () => {
    expect(
      view
        .flagLabels([
          'far_from_village',
          'low_accuracy',
          'zero_accuracy',
          'clock_skew',
          'impossible_speed',
          'far_from_village'
        ])
        .map(f => f.label)
    ).toEqual(['距离村庄过远', '定位精度低', '疑似虚拟定位', '手机时间不准', '移动速度异常'])
    expect(view.flagLabel('new_flag')).toBe('其他异常（new_flag）')
  })

  test('instants are shown in China time, calendar days as they are', () => {
    expect(view.formatDate('2024-05-20T18:30:00+00:00')).toBe('2024-05-21')
    expect(view.formatDateTime('2024-05-20T18:30:00Z')).toBe('2024-05-21 02:30')
    expect(view.formatDate('2024-06-30')).toBe('2024-06-30')
    expect(view.formatDate(null)).toBe('')
  })

  test('due dates read as due, today or overdue', () => {
    const now = new Date('2024-05-20T04:00:00Z')
    expect(view.dueInfo('2024-05-21', now)).toMatchObject({
      text: '截止 2024-05-21',
      overdue: false
    })
    expect(view.dueInfo('2024-05-20', now)).toMatchObject({ today: true })
    expect(view.dueInfo('2024-05-19', now)).toMatchObject({ overdue: true })
    expect(view.dueInfo(null, now).text).toBe('未设截止日期')
  })

  test('distances, counters and error messages', () => {
    expect(view.formatDistance(349.6)).toBe('约 350 米')
    expect(view.formatDistance(1234)).toBe('约 1.2 公里')
    expect(view.formatDistance(null)).toBe('')
    expect(view.pendingText(0)).toBe('')
    expect(view.pendingText(3)).toBe('待上传 3 项')
    expect(view.errorMessage({ offline: true })).toBe('网络不可用，请稍后重试')
    expect(view.errorMessage({ data: { error: { message: '无权访问' } } })).toBe('无权访问')
    expect(view.errorMessage(new Error('boom'), '出错了')).toBe('出错了')
  })

  test('isoTime is RFC 3339 with an offset', () => {
    expect(view.isoTime(new Date('2024-05-20T02:00:00Z'))).toMatch(
      /^2024-05-\d{2}T\d{2}:00:00\.000[+-]\d{2}:\d{2}$/
    )
    expect(Date.parse(view.isoTime('2024-05-20T10:00:00+08:00'))).toBe(
      Date.parse('2024-05-20T02:00:00Z')
    )
  })
})

describe('tasks-logic', () => {
  const a = {
    id: 1,
    due_date: '2024-05-21',
    project: { title: 'P' },
    place: { name: '东村', label: '城关镇 东村', gcj02: { lat: 27.1, lng: 114.9 } },
    check_items: ['a', 'b'],
    visits: []
  }

  test('check items: listed, sealed with a count, or none', () => {
    expect(tasks.checkItemsInfo(a)).toEqual({ sealed: false, count: 2, items: ['a', 'b'] })
    expect(tasks.checkItemsInfo({ check_items_sealed: true, check_items_count: 5 })).toEqual({
      sealed: true,
      count: 5,
      items: []
    })
    expect(tasks.checkItemsText({ check_items: [] })).toBe('未设督查事项')
  })

  test('navigation uses the GCJ-02 point, or nothing without one', () => {
    expect(tasks.navigationOptions(a)).toEqual({
      latitude: 27.1,
      longitude: 114.9,
      name: '东村',
      address: '城关镇 东村',
      scale: 16
    })
    expect(tasks.navigationOptions({ place: { name: 'x' } })).toBeNull()
  })

  test('a task shows its visit state from this phone or the server', () => {
    expect(tasks.taskView(a, null).actionText).toBe('开始暗访')
    expect(tasks.taskView(a, { submitted_at: null }).statusText).toBe('进行中')
    expect(tasks.taskView(a, { submitted_at: '2024-05-20T10:00:00+08:00' }).statusText).toBe(
      '已提交'
    )
    expect(
      tasks.taskView({ ...a, visits: [{ id: 3, status: 'submitted' }] }, null).statusText
    ).toBe('已提交')
  })
})

describe('visit-logic', () => {
  test('tapping a result sets it, tapping it again clears it, unknown results are refused', () => {
    let list = visit.initialChecklist(['a', 'b'])
    list = visit.setResult(list, 0, 'pass')
    expect(list[0].result).toBe('pass')
    list = visit.setResult(list, 0, 'na')
    expect(list[0].result).toBe('na')
    list = visit.setResult(list, 0, 'na')
    expect(list[0].result).toBe('')
    expect(() => visit.setResult(list, 0, 'maybe')).toThrow()
  })

  test('unsealed items merge with what was already decided', () => {
    const list = visit.setResult(visit.initialChecklist(['a']), 0, 'fail')
    expect(visit.mergeChecklist(list, ['a', 'c'])).toEqual([
      { item: 'a', result: 'fail', note: '' },
      { item: 'c', result: '', note: '' }
    ])
  })

  test('only decided rows go to the server; none decided means no action', () => {
    const list = visit.setNote(
      visit.setResult(visit.initialChecklist(['a', 'b']), 1, 'pass'),
      1,
      ' 好 '
    )
    expect(visit.checklistAction('v1', list)).toEqual({
      kind: 'checklist',
      local_visit: 'v1',
      items: [{ item: 'b', result: 'pass', note: '好' }]
    })
    expect(visit.checklistAction('v1', visit.initialChecklist(['a']))).toBeNull()
  })

  test('a fix without accuracy is not sent as precise', () => {
    const fix = {
      lat: 27,
      lng: 115,
      accuracy: null,
      coord_type: 'gcj02',
      time: '2024-05-20T10:00:00+08:00'
    }
    expect(visit.checkinAction('v1', fix).accuracy_m).toBe(9999)
    expect(visit.checkinAction('v1', { ...fix, accuracy: 0 }).accuracy_m).toBe(0)
  })

  test('distance goes from the GCJ-02 fix, converted to WGS-84, to the WGS-84 centre', () => {
    const centre = { lat: 27.115, lng: 114.978 }
    const onCentre = coord.wgs84ToGcj02(centre.lat, centre.lng)
    expect(visit.distanceToPlace(onCentre, centre, coord)).toBeLessThan(1)
  })

  test('submit warnings name what is missing', () => {
    const state = visit.newLocalVisit(7, 'v1', '2024-05-20T10:00:00+08:00', ['a', 'b'])
    expect(visit.submitWarnings(state)).toEqual([
      '尚未签到',
      '没有现场照片（要求至少 2 张）',
      '没有入户走访记录（要求至少 1 户）',
      '还有 2 项督查事项未填写'
    ])
    expect(visit.submitConfirmText([])).toBe(
      '提交后本次暗访记录不能再修改（仍可补充备注），确定提交吗？'
    )
  })

  test('interview answers are keyed by question, empty ones left out', () => {
    const form = { ...visit.emptyInterview(), household: '张家', satisfaction: '满意' }
    form.answers.q3 = '路灯亮了'
    expect(visit.validateInterview(form)).toEqual({})
    expect(visit.interviewAction('v1', form)).toEqual({
      kind: 'interview',
      local_visit: 'v1',
      household: '张家',
      answers: { 对项目是否满意的原因: '路灯亮了' },
      satisfaction: '满意',
      notes: ''
    })
    expect(visit.validateInterview({ ...form, satisfaction: '一般' }).satisfaction).toBe(
      '请选择满意度'
    )
  })

  test('photo rows: waiting, uploading with progress, refused, uploaded', () => {
    const photos = [1, 2, 3, 4].map(i => ({
      client_id: `p${i}`,
      path: `f${i}`,
      taken_at: '2024-05-20T02:00:00Z'
    }))
    const items = [
      { client_id: 'p1', status: 'pending', progress: 0 },
      { client_id: 'p2', status: 'sending', progress: 63 },
      { client_id: 'p3', status: 'failed', progress: 0, error: { message: '照片未通过校验' } }
    ]
    expect(visit.photoRows(photos, items).map(r => [r.statusText, r.progress])).toEqual([
      ['待上传', 0],
      ['上传中 63%', 63],
      ['上传失败：照片未通过校验', 0],
      ['已上传', 100]
    ])
  })

  test('refused records of this visit are named for the submit dialog with the server reason', () => {
    const items = [
      {
        id: 'a',
        client_id: 'a',
        kind: 'interview',
        local_visit: 'v1',
        status: 'failed',
        error: { message: '受访户不能为空' }
      },
      { id: 'b', client_id: 'b', kind: 'note', local_visit: 'v2', status: 'failed', error: {} },
      { id: 'c', client_id: 'c', kind: 'checkin', local_visit: 'v1', status: 'pending' }
    ]
    expect(visit.missingNames(items, 'v1')).toEqual(['走访记录（受访户不能为空）'])
    expect(visit.submitConfirmText([], visit.missingNames(items, 'v1'))).toContain(
      '以下 1 项未能上传，将不随本次提交'
    )
  })
})

describe('project-logic', () => {
  test('the scene arrives URL-encoded; a malformed one is kept as it is', () => {
    expect(project.sceneFromOptions({ scene: 'p1f.ab%2Ecd' })).toBe('p1f.ab.cd')
    expect(project.sceneFromOptions({ scene: '%E0%A4%A' })).toBe('%E0%A4%A')
    expect(project.sceneFromOptions({})).toBe('')
    expect(project.idFromOptions({ id: '31' })).toBe(31)
    expect(project.idFromOptions({ id: 'x' })).toBeNull()
  })
})

describe('feedback-mine-logic', () => {
  test('an open item past its due date is marked overdue', () => {
    const f = {
      id: 1,
      status: 'received',
      status_label: '待受理',
      due_at: '2024-05-01T00:00:00Z',
      replies: [],
      photos: []
    }
    const v = mine.feedbackView(f, new Date('2024-05-20T00:00:00Z'))
    expect(v.dueText).toBe('答复期限 2024-05-01（已超期）')
    expect(v.statusClass).toBe('tag-danger')
  })
})
