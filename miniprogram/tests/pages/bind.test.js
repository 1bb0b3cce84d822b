/**
 * @jest-environment jsdom
 */
const { loadPage, tap, text } = require('./harness')
const { createFakeWx, createFakeApp } = require('./fakes')

function setup() {
  const wx = createFakeWx()
  const app = createFakeApp({ wx, user: { id: 1, name: '王督查', roles: ['inspector'] } })
  const page = loadPage('bind', { wx, app })
  return { wx, app, page }
}

test('an empty or too short code is refused before asking the server', async () => {
  const { page, app } = setup()
  await tap(page, '#bind')
  expect(text(page, '#error')).toBe('请输入邀请码')
  page.instance.onInput({ detail: { value: 'ab' } })
  await tap(page, '#bind')
  expect(text(page, '#error')).toContain('4至32位')
  expect(app.api.bind).not.toHaveBeenCalled()
})

test('a valid code binds and an inspector lands on 今日任务', async () => {
  const { page, app, wx } = setup()
  page.instance.onInput({ detail: { value: ' K7Q2 M9XP ' } })
  await tap(page, '#bind')
  expect(app.api.bind).toHaveBeenCalledWith('K7Q2M9XP')
  expect(wx.reLaunch).toHaveBeenCalledWith({ url: '/pages/tasks/tasks' })
})

test('the server refusal is shown in its own words', async () => {
  const { page, app } = setup()
  app.api.bind.mockImplementation(() =>
    Promise.reject(
      Object.assign(new Error('邀请码无效或已使用'), {
        status: 400,
        data: { error: { code: 'invalid_invite', message: '邀请码无效或已使用' } }
      })
    )
  )
  page.instance.onInput({ detail: { value: 'ZZZZZZ' } })
  await tap(page, '#bind')
  expect(text(page, '#error')).toBe('邀请码无效或已使用')
})
