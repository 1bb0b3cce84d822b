// utils/store.js: the keys the pages keep on the phone, over a fake wx storage.
const store = require('../../utils/store')
const { createFakeWx } = require('../support/fake-wx')
const { createFakeServer } = require('../support/fake-server')

function phone() {
  return createFakeWx({ server: createFakeServer() })
}

test('a local visit is listed once, and forgetting it drops the record, its draft and its listing', () => {
  const wx = phone()
  store.saveLocalVisit(wx, { assignment_id: 7, local_visit: 'v7' })
  store.saveLocalVisit(wx, { assignment_id: 7, local_visit: 'v7', notes: ['n'] })
  store.saveLocalVisit(wx, { assignment_id: 9, local_visit: 'v9' })
  store.saveVisitDraft(wx, 7, { noteText: '半句' })
  expect(store.localVisitIds(wx)).toEqual([7, 9])
  expect(store.loadLocalVisits(wx).map(v => v.local_visit)).toEqual(['v7', 'v9'])
  expect(store.loadLocalVisit(wx, 7).notes).toEqual(['n'])
  store.forgetLocalVisit(wx, '7')
  expect(store.localVisitIds(wx)).toEqual([9])
  expect(store.loadLocalVisit(wx, 7)).toBeNull()
  expect(store.loadVisitDraft(wx, 7)).toBeNull()
})

test('application drafts are kept by key and removed one by one', () => {
  const wx = phone()
  store.saveDraft(wx, 'lp-1', { local_project: 'lp-1' })
  store.saveDraft(wx, 'p41', { project_id: 41 })
  store.removeDraft(wx, 'lp-1')
  store.removeDraft(wx, 'missing')
  expect(store.loadDrafts(wx)).toEqual({ p41: { project_id: 41 } })
})

test('the assignment cache: written with its time, one assignment merged, malformed reads as none', () => {
  const wx = phone()
  expect(store.readAssignments(wx)).toBeNull()
  const now = new Date('2026-05-04T01:30:00Z')
  store.writeAssignments(wx, [{ id: 1, check_items_sealed: true }, { id: 2 }], now)
  store.updateAssignment(wx, { id: 1, check_items: ['公示栏'], check_items_sealed: false })
  const cached = store.readAssignments(wx)
  expect(cached.items).toEqual([
    { id: 1, check_items: ['公示栏'], check_items_sealed: false },
    { id: 2 }
  ])
  expect(Date.parse(cached.fetched_at)).toBe(now.getTime())
  wx.setStorageSync('workspace.v1', { items: 'not a list' })
  expect(store.readWorkspace(wx)).toBeNull()
})

test('the photo limit is 15 MB until the server names another; nonsense is not remembered', () => {
  const wx = phone()
  expect(store.maxPhotoBytes(wx)).toBe(15 * 1024 * 1024)
  store.rememberMaxBytes(wx, 300)
  store.rememberMaxBytes(wx, 0)
  expect(store.maxPhotoBytes(wx)).toBe(300)
})

test('a report and a reply are kept per project month and per order until removed', () => {
  const wx = phone()
  store.saveReport(wx, 41, '2026-05', { text: '进展' })
  expect(store.loadReport(wx, 41, '2026-04')).toBeNull()
  expect(store.loadReport(wx, 41, '2026-05')).toEqual({ text: '进展' })
  store.removeReport(wx, 41, '2026-05')
  expect(store.loadReport(wx, 41, '2026-05')).toBeNull()
  expect(store.loadReply(wx, 12)).toEqual({ text: '', photos: [] })
  store.saveReply(wx, 12, { text: '已整改', photos: [] })
  store.removeReply(wx, 12)
  expect(store.loadReply(wx, 12)).toEqual({ text: '', photos: [] })
})
