/**
 * @jest-environment node
 */
const { createLocation } = require('../../utils/location')
const { createFakeWx, settle } = require('../support/fake-wx')

function setup(opts) {
  const wx = createFakeWx(Object.assign({ server: null }, opts))
  const timers = []
  let clock = Date.parse('2026-05-04T01:30:00Z')
  const location = createLocation({
    wx,
    now: () => clock,
    timers: { setTimeout: (fn, ms) => { timers.push({ fn, ms }); return timers.length }, clearTimeout: () => {} }
  })
  return { wx, location, timers, tick: ms => { clock += ms } }
}

const fix = (accuracy, extra) => Object.assign({ latitude: 27.1145, longitude: 114.9876, accuracy, speed: 0 }, extra)

test('the first fix with accuracy ≤ 65 m wins; GCJ-02 asked for; updates stopped afterwards', async () => {
  const { wx, location } = setup()
  const p = location.freshFix({ timeoutMs: 10000 })
  expect(wx.locationUpdating).toBe(true)
  expect(wx.locationType).toBe('gcj02')
  wx.emitLocation(fix(300))
  wx.emitLocation(fix(40, { latitude: 27.1146 }))
  wx.emitLocation(fix(5))
  const f = await p
  expect(f).toEqual({ lat: 27.1146, lng: 114.9876, accuracy: 40, coord_type: 'gcj02', time: expect.stringMatching(/^2026-05-04T/) })
  expect(wx.locationUpdating).toBe(false)
  expect(wx.locationListenerCount()).toBe(0)
})

test('a fix stamped before the call (a cached one) is ignored', async () => {
  const { wx, location, tick } = setup()
  tick(1000)
  const p = location.freshFix()
  wx.emitLocation(fix(10, { timestamp: Date.parse('2026-05-04T01:29:00Z') }))
  wx.emitLocation(fix(20, { timestamp: Date.parse('2026-05-04T01:30:02Z'), latitude: 27.2 }))
  expect((await p).lat).toBe(27.2)
})

test('at the timeout the best fix so far is taken', async () => {
  const { wx, location, timers } = setup()
  const p = location.freshFix({ timeoutMs: 8000 })
  wx.emitLocation(fix(400))
  wx.emitLocation(fix(120, { latitude: 27.3 }))
  wx.emitLocation(fix(200))
  expect(timers[0].ms).toBe(8000)
  timers[0].fn()
  const f = await p
  expect(f).toMatchObject({ lat: 27.3, accuracy: 120 })
  expect(wx.locationUpdating).toBe(false)
})

test('no fix at all by the timeout rejects with a Chinese explanation', async () => {
  const { wx, location, timers } = setup()
  const p = location.freshFix()
  timers[0].fn()
  await expect(p).rejects.toMatchObject({ code: 'location_timeout', message: expect.stringMatching(/定位超时/) })
  expect(wx.locationListenerCount()).toBe(0)
})

test('permission denied rejects location_denied', async () => {
  const { location } = setup({ locationDenied: true })
  await expect(location.freshFix()).rejects.toMatchObject({ code: 'location_denied', message: expect.stringMatching(/允许/) })
})

test('two callers at once share one GPS session', async () => {
  const { wx, location } = setup()
  const a = location.freshFix()
  const b = location.freshFix()
  expect(wx.locationListenerCount()).toBe(1)
  wx.emitLocation(fix(30))
  expect(await a).toEqual(await b)
  await settle(2)
  const c = location.freshFix()
  expect(wx.locationListenerCount()).toBe(1)
  wx.emitLocation(fix(31))
  expect((await c).accuracy).toBe(31)
})
