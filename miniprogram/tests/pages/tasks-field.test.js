/**
 * @jest-environment jsdom
 */
// The task list as the inspector sees it after a day in the villages (issue 15 items 2, 15).
const { fieldPhone } = require('./field')
const { settle, tap, text } = require('./harness')

test('本机记录 keeps a visit whose assignment closed and left the list, until the server has all of it (item 2)', async () => {
  const ctx = await fieldPhone()
  const { page, server, assignment } = ctx
  ctx.phone.wx.net.offline = true
  await tap(page, '#checkin')
  await settle()
  await tap(page, '#confirm-checkin')
  page.instance.onNoteInput({ detail: { value: '到村' } })
  await tap(page, '#add-note')
  server.advance(600 * 1000)
  server.closeAssignment(assignment.id)
  ctx.phone.wx.net.offline = false
  // The outbox is held up by a busy server while the task list refreshes without the task.
  server.failNext(/^\/visits$/, 503, 'storage_unavailable', 1, 60)
  await ctx.sync()
  const tasks = await ctx.openTasks()
  expect(tasks.querySelector('#task-' + assignment.id)).toBeFalsy()
  const local = text(tasks, '#local-visits')
  expect(local).toContain('任务已不在列表中')
  expect(local).toContain('3 项待上传')
  expect(text(tasks, '#sync')).toContain('服务器繁忙，60 秒后重试')
  server.advance(61 * 1000)
  await ctx.sync()
  tasks.instance.showQueue()
  expect(tasks.querySelector('#local-visits')).toBeFalsy()
  expect(Array.from(server.visits.values())[0].flags).toContain('late_sync')
  expect(server.notes.size).toBe(1)
})

test('the task list shows online state, last sync and a refused record with what fixes it (item 15)', async () => {
  const ctx = await fieldPhone({ shots: [{ data: 'BAD not a jpeg' }] })
  await tap(ctx.page, '#take-photo')
  await settle()
  await ctx.sync()
  const tasks = await ctx.openTasks()
  expect(text(tasks, '#sync-online')).toBe('在线')
  expect(text(tasks, '#sync-last')).toMatch(/^上次同步 \d\d:\d\d$/)
  expect(text(tasks, '#sync-row-0')).toContain('照片：文件不是图片')
  expect(text(tasks, '#sync-row-0')).toContain('去处理')
  await tap(tasks, '#sync-0-open')
  expect(ctx.phone.wx.navigateTo).toHaveBeenCalledWith({
    url: `/pages/visit/visit?assignment_id=${ctx.assignment.id}`
  })
})
