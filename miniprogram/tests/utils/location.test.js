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
    timers: {
      setTimeout: (fn, ms) => {
        timers.push({ fn, ms })
        return timers.length
      },
      clearTimeout: () => {}
    }
  })
  return {
    wx,
    location,
    timers,
    tick: ms => {
      clock += ms
    }
  }
}

const fix = (accuracy, extra) =>
  Object.assign({ latitude: 27.1145, longitude: 114.9876, accuracy, speed: 0 }, extra)

test('the first fix with accuracy ≤ 65 m wins; GCJ-02 asked for; updates stopped afterwards', async () => {
  const { wx, location } = setup()
  const p = location.freshFix({ timeoutMs: 10000 })
  expect(wx.locationUpdating).toBe(true)
  expect(wx.locationType).toBe('gcj02')
  wx.emitLocation(fix(300))
  wx.emitLocation(fix(40, { latitude: 27.1146 }))
  wx.emitLocation(fix(5))
  const f = await p
  expect(f).toEqual({
    lat: 27.1146,
    lng: 114.9876,
    accuracy: 40,
    coord_type: 'gcj02',
    time: expect.stringMatching(/^2026-05-04T/)
  })
  expect(wx.locationUpdating).toBe(false)
  expect(wx.locationListenerCount()).toBe(0)
})

test('onLocationChange has no timestamp: a fix is as fresh as its callback (item 12)', async () => {
  const { wx, location, tick } = setup()
  const p = location.freshFix()
  tick(4000)
  // Real callbacks carry no timestamp; one that did must not decide anything.
  wx.emitLocation(fix(10, { timestamp: Date.parse('2026-05-04T01:29:00Z') }))
  const f = await p
  expect(f.lat).toBe(27.1145)
  expect(Date.parse(f.time)).toBe(Date.parse('2026-05-04T01:30:04Z'))
})

test('startLocationUpdate not approved: one high-accuracy getLocation instead (item 12)', async () => {
  const { wx, location } = setup({
    locationUpdateUnavailable: true,
    position: { latitude: 27.5, longitude: 115.1, accuracy: 18 }
  })
  const f = await location.freshFix({ timeoutMs: 12000 })
  expect(f).toMatchObject({ lat: 27.5, lng: 115.1, accuracy: 18, coord_type: 'gcj02' })
  expect(wx.lastGetLocation).toMatchObject({ type: 'gcj02', isHighAccuracy: true })
  expect(wx.locationListenerCount()).toBe(0)
})

test('an old base library without startLocationUpdate falls back to getLocation (item 12)', async () => {
  const { wx, location } = setup()
  wx.startLocationUpdate = undefined
  const f = await location.freshFix()
  expect(f.accuracy).toBe(20)
  expect(wx.stats.getLocation).toBe(1)
})

test('privacy guide not agreed rejects privacy_denied, not a GPS problem (item 11)', async () => {
  const { location } = setup({ privacy: 'refused' })
  await expect(location.freshFix()).rejects.toMatchObject({
    code: 'privacy_denied',
    message: expect.stringMatching(/隐私保护指引/)
  })
})

test('openSettings leads to wx.openSetting after a refusal (item 12)', async () => {
  const { wx, location } = setup()
  await location.openSettings()
  expect(wx.stats.openSetting).toBe(1)
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
  await expect(p).rejects.toMatchObject({
    code: 'location_timeout',
    message: expect.stringMatching(/定位超时/)
  })
  expect(wx.locationListenerCount()).toBe(0)
})

test('permission denied rejects location_denied', async () => {
  const { location } = setup({ locationDenied: true })
  await expect(location.freshFix()).rejects.toMatchObject({
    code: 'location_denied',
    message: expect.stringMatching(/允许/)
  })
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
