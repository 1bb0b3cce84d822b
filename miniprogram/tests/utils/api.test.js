/**
 * @jest-environment node
 */
const { createApi, isTransient } = require('../../utils/api')
const { createFakeWx } = require('../support/fake-wx')
const { createFakeServer, API } = require('../support/fake-server')

function setup() {
  const server = createFakeServer()
  const wx = createFakeWx({ server })
  const api = createApi({ wx, baseUrl: API })
  const { user, invite } = server.addUser(['inspector'], '张督查')
  return { server, wx, api, user, invite }
}

describe('login and binding', () => {
  test('a 401 logs in through wx.login → /auth/wechat once and retries transparently', async () => {
    const { server, wx, api } = setup()
    const res = await api.request('GET', '/auth/me')
    expect(res.status).toBe(200)
    expect(res.data.roles).toEqual(['villager'])
    expect(wx.stats.logins).toBe(1)
    expect(server.calls(/^\/auth\/me$/).map(c => c.status)).toEqual([401, 200])
    expect(wx.getStorageSync('auth.token')).toMatch(/^tok-/)
    expect(api.user().roles).toEqual(['villager'])
  })

  test('bind turns the WeChat login into the staff account and keeps the new token', async () => {
    const { server, api, user, invite } = setup()
    const staff = await api.bind(invite)
    expect(staff).toEqual({ id: user.id, name: '张督查', roles: ['inspector'] })
    expect(api.user().id).toBe(user.id)
    const me = await api.request('GET', '/auth/me')
    expect(me.data.id).toBe(user.id)
    expect(server.calls(/^\/auth\/wechat$/)).toHaveLength(1)
  })

  test('an expired token is renewed by a fresh WeChat login, once', async () => {
    const { server, wx, api, invite } = setup()
    await api.bind(invite)
    server.expireTokens()
    const me = await api.request('GET', '/auth/me')
    expect(me.data.roles).toEqual(['inspector']) // the bound openid logs in as the staff account
    expect(wx.stats.logins).toBe(2)
  })

  test('a second 401 after the re-login surfaces instead of looping', async () => {
    const { server, wx, api } = setup()
    server.failNext(/^\/auth\/me$/, 401, 'token_invalid', 5)
    await expect(api.request('GET', '/auth/me')).rejects.toMatchObject({
      status: 401,
      code: 'token_invalid',
      message: '登录已失效,请重新登录'
    })
    expect(wx.stats.logins).toBe(1)
    expect(server.calls(/^\/auth\/me$/)).toHaveLength(2)
  })

  test('concurrent 401s share one login', async () => {
    const { wx, api } = setup()
    const answers = await Promise.all([1, 2, 3].map(() => api.request('GET', '/auth/me')))
    expect(answers.map(a => a.status)).toEqual([200, 200, 200])
    expect(wx.stats.logins).toBe(1)
  })

  test('ensureLogin reuses a stored token and logs in only without one', async () => {
    const { wx, api } = setup()
    const u = await api.ensureLogin()
    expect(u.roles).toEqual(['villager'])
    await api.ensureLogin()
    expect(wx.stats.logins).toBe(1)
  })

  test('a wrong invite code surfaces the server message', async () => {
    const { api } = setup()
    await expect(api.bind('WRONG1')).rejects.toMatchObject({
      status: 400,
      code: 'invite_invalid',
      message: '邀请码无效或已过期'
    })
  })
})

describe('errors', () => {
  test('no signal rejects {offline: true} with a Chinese message', async () => {
    const { wx, api } = setup()
    wx.net.offline = true
    const err = await api.request('GET', '/auth/me').catch(e => e)
    expect(err.offline).toBe(true)
    expect(err.message).toMatch(/网络/)
    expect(isTransient(err)).toBe(true)
  })

  test('a JSON error body surfaces code, message and details; 4xx is not transient', async () => {
    const { api, invite } = setup()
    await api.bind(invite)
    const err = await api.request('POST', '/visits', { client_id: 'x' }).catch(e => e)
    expect(err).toMatchObject({
      status: 400,
      code: 'validation_failed',
      message: '提交的数据不完整或格式不正确',
      details: { field: 'assignment_id' }
    })
    expect(err.data.error.code).toBe('validation_failed')
    expect(isTransient(err)).toBe(false)
  })

  test('a proxy error page (not JSON) becomes a transient http_502', async () => {
    const { wx, api } = setup()
    wx.net.rule({ kind: 'request', action: { statusCode: 502, data: '<html>Bad Gateway</html>' } })
    const err = await api.request('GET', '/auth/me', undefined, { auth: false }).catch(e => e)
    expect(err).toMatchObject({ status: 502, code: 'http_502' })
    expect(err.message).toMatch(/服务器暂时不可用/)
    expect(isTransient(err)).toBe(true)
  })

  test('paths may or may not spell out /api/v1', async () => {
    const { server, api } = setup()
    await api.request('GET', '/api/v1/auth/me')
    await api.request('GET', 'auth/me')
    expect(server.calls(/^\/auth\/me$/).length).toBeGreaterThanOrEqual(2)
    expect(server.log.every(e => !e.path.startsWith('/api/v1'))).toBe(true)
  })
})
