// A village's weak link in virtual time, for the fake `wx`: uploads share a bandwidth, every
// answer takes a latency, and at seeded times the link drops: every upload in flight fails and
// the link stays cut for 10 s (uploads started meanwhile fail after the latency). A virtual
// clock runs the timers in order, so minutes of uploading take milliseconds.

/** A virtual clock: { now(), setTimeout(fn, ms), clearTimeout(id), runUntil(cond, limitMs) }. */
function createClock(startMs) {
  let t = startMs || 0
  let nextId = 1
  const timers = new Map()

  function setTimeout(fn, ms) {
    const id = nextId++
    timers.set(id, { at: t + Math.max(0, ms || 0), fn, id })
    return id
  }

  function clearTimeout(id) {
    timers.delete(id)
  }

  function turn() {
    return new Promise(resolve => setImmediate(resolve))
  }

  /** Run timers in time order (letting promises settle between them) until cond() or limitMs. */
  async function runUntil(cond, limitMs) {
    const end = t + (limitMs || 3600 * 1000)
    for (;;) {
      for (let i = 0; i < 12; i++) await turn()
      if (cond()) return true
      let next = null
      timers.forEach(x => {
        if (!next || x.at < next.at || (x.at === next.at && x.id < next.id)) next = x
      })
      if (!next || next.at > end) return cond()
      timers.delete(next.id)
      t = Math.max(t, next.at)
      next.fn()
    }
  }

  return { now: () => t, setTimeout, clearTimeout, runUntil, pending: () => timers.size }
}

/** A seeded uniform random number generator (the same drops every run). */
function seeded(seed) {
  let x = seed >>> 0
  return () => {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0
    return x / 4294967296
  }
}

/**
 * The link: createLink({ clock, bandwidthBps, latencyMs, drops: [ms…], cutMs: 10000, stepMs })
 * → { start(bytes, onProgress(sent, total), onDone(failed)), stats }.
 */
function createLink(options) {
  const clock = options.clock
  const bytesPerMs = options.bandwidthBps / 8 / 1000
  const latencyMs = options.latencyMs || 0
  const cutMs = options.cutMs === undefined ? 10000 : options.cutMs
  const stepMs = options.stepMs || 100
  const drops = (options.drops || []).slice().sort((a, b) => a - b)
  const active = []
  const stats = { bytesOnWire: 0, drops: 0, failedUploads: 0 }
  const listeners = []
  let downUntil = -1
  let ticking = false

  // The phone notices the signal going and coming back (wx.onNetworkStatusChange).
  function tell(online) {
    listeners.slice().forEach(fn => fn(online))
  }

  drops.forEach(at =>
    clock.setTimeout(() => {
      stats.drops++
      downUntil = clock.now() + cutMs
      active.splice(0).forEach(u => fail(u))
      tell(false)
      clock.setTimeout(() => {
        if (clock.now() >= downUntil) tell(true)
      }, cutMs)
    }, at - clock.now())
  )

  function fail(u) {
    stats.failedUploads++
    clock.setTimeout(() => u.onDone(true), latencyMs)
  }

  // Every step each upload in flight gets an equal share of the bandwidth.
  function tick() {
    if (!active.length) {
      ticking = false
      return
    }
    const share = (bytesPerMs * stepMs) / active.length
    active.slice().forEach(u => {
      const n = Math.min(share, u.total - u.sent)
      u.sent += n
      stats.bytesOnWire += n
      u.onProgress(Math.floor(u.sent), u.total)
      if (u.sent >= u.total) {
        active.splice(active.indexOf(u), 1)
        clock.setTimeout(() => u.onDone(false), latencyMs)
      }
    })
    clock.setTimeout(tick, stepMs)
  }

  function start(bytes, onProgress, onDone) {
    const u = { total: bytes, sent: 0, onProgress, onDone }
    if (clock.now() < downUntil) {
      fail(u)
      return
    }
    clock.setTimeout(() => {
      if (clock.now() < downUntil) return fail(u)
      active.push(u)
      if (!ticking) {
        ticking = true
        clock.setTimeout(tick, stepMs)
      }
    }, latencyMs)
  }

  return { start, stats, isDown: () => clock.now() < downUntil, onStatus: fn => listeners.push(fn) }
}

module.exports = { createClock, createLink, seeded }
