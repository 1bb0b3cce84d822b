// The seeded chaos scenario of issue 15, shared by the fake-server test (tests/utils) and the
// real-server one (tests/e2e): an inspector records visits one after another while the
// network drops and loses answers, the server answers 503/429 with Retry-After, the app is
// killed, storage fills up, some records are refused (not an image, too large, file gone,
// invalid), and assignments close mid-visit. The inspector reacts as the sync panel asks:
// after a refusal, submit without the refused records. At the end every record the phone
// accepted has reached the server exactly once or is shown failed with a reason.

const { seeded } = require('./weak-link')

const KINDS_WITH_OBJECT = ['start_visit', 'checkin', 'photo', 'interview', 'checklist', 'note']

/**
 * Run `visits` visits in batches on a `world`:
 * { queue(), wx(), restart(), kill(), advance(ms), now(), assignment(closed: 'before'|'after'|null) → {id, close()},
 *   photoFile(n, bad) → temp path, failNext(pathRe, status, code, retryAfter), settle() }
 * Returns {records, stats} where records are {client_id, kind, local_visit, entered: bool}.
 */
async function runChaos(world, opts) {
  const o = Object.assign(
    { visits: 300, batch: 10, seed: 20260504, steps: 30, storagePressure: true },
    opts
  )
  const rand = seeded(o.seed)
  const pick = p => rand() < p
  const records = []
  const stats = {
    kills: 0,
    drops: 0,
    lost: 0,
    busy: 0,
    refusedAtEntry: 0,
    closedBefore: 0,
    closedAfter: 0,
    refused: 0,
    pressure: 0
  }

  function enter(action, expectRefusal) {
    try {
      const item = world.queue().enqueue(action)
      records.push({
        client_id: item.client_id,
        kind: item.kind,
        local_visit: item.local_visit || null,
        expectRefusal: !!expectRefusal
      })
      return item
    } catch (e) {
      if (e && e.code === 'storage_full') {
        // Refused loudly at entry: the inspector saw it and nothing was kept.
        stats.refusedAtEntry++
        return null
      }
      throw e
    }
  }

  for (let done = 0; done < o.visits; done += o.batch) {
    let junk = []
    if (o.storagePressure && pick(0.3)) {
      // Other data fills storage to within a few hundred KB of WeChat's 10 MB.
      stats.pressure++
      junk = await world.fillStorage(200 * 1024 + Math.floor(rand() * 600 * 1024))
    }
    // ---- recorded in the village, without signal -------------------------------------------
    world.setOffline(true)
    const n = Math.min(o.batch, o.visits - done)
    for (let v = 0; v < n; v++) {
      const closing = pick(0.06) ? 'before' : pick(0.08) ? 'after' : null
      const a = await world.assignment(closing)
      if (closing === 'before') stats.closedBefore++
      const start = enter(
        { kind: 'start_visit', assignment_id: a.id, started_at: world.isoNow() },
        closing === 'before'
      )
      if (!start) continue
      const lv = start.local_visit
      const closedBefore = closing === 'before'
      enter(
        {
          kind: 'checkin',
          local_visit: lv,
          lat: 27.11,
          lng: 114.99,
          accuracy_m: 12,
          coord_type: 'gcj02',
          client_time: world.isoNow()
        },
        closedBefore
      )
      const photos = 1 + Math.floor(rand() * 3)
      for (let p = 0; p < photos; p++) {
        const trouble = rand()
        const bad = trouble < 0.05
        const huge = !bad && trouble < 0.08
        const item = enter(
          Object.assign(
            {
              kind: 'photo',
              local_visit: lv,
              file: world.photoFile(`${done + v}-${p}`, bad),
              taken_at: world.isoNow(),
              lat: 27.11,
              lng: 114.99,
              coord_type: 'gcj02'
            },
            huge ? { size: 64 * 1024 * 1024 } : {}
          ),
          closedBefore || bad || huge
        )
        if (item && !bad && !huge && trouble < 0.1) {
          world.deleteFile(item.file) // the user's cleaner app took it
          records[records.length - 1].expectRefusal = true
        }
      }
      const invalid = pick(0.05)
      enter(
        {
          kind: 'interview',
          local_visit: lv,
          household: invalid ? '' : `${v}组王家`,
          answers: {},
          satisfaction: '满意',
          notes: ''
        },
        closedBefore || invalid
      )
      enter(
        {
          kind: 'checklist',
          local_visit: lv,
          items: [{ item: '公示栏', result: 'pass', note: '' }]
        },
        closedBefore
      )
      enter({ kind: 'note', local_visit: lv, text: `第${done + v}次暗访备注` }, closedBefore)
      enter({ kind: 'submit', local_visit: lv }, closedBefore)
      if (closing === 'after') {
        world.advance(60 * 1000)
        await a.close() // closed after the visit started, before it synced: accepted late
        stats.closedAfter++
      }
    }
    world.releaseStorage(junk)
    // ---- signal comes and goes --------------------------------------------------------------
    world.setOffline(false)
    for (let step = 0; step < o.steps && world.queue().pendingCount() > 0; step++) {
      for (let k = 0; k < 4; k++) {
        const x = rand()
        if (x < 0.12) {
          world.rule('drop')
          stats.drops++
        } else if (x < 0.24) {
          world.rule('lose_answer')
          stats.lost++
        } else if (x < 0.27) world.rule('kill')
      }
      if (pick(0.15)) {
        stats.busy++
        world.failNext(pick(0.5) ? 503 : 429, Math.floor(rand() * 90))
      }
      if (await flushOrDie(world)) {
        stats.kills++
        world.restart()
      }
      world.clearRules()
      // The inspector reads the panel: a submit held by refused records goes without them.
      heldSubmits(world.queue()).forEach(lv => world.queue().allowMissing(lv))
      world.advance(2 * 60 * 1000)
    }
    // Good signal at last: whatever can still go, goes.
    for (let tries = 0; tries < 6 && world.queue().pendingCount() > 0; tries++) {
      heldSubmits(world.queue()).forEach(lv => world.queue().allowMissing(lv))
      await world.queue().flush()
      world.advance(10 * 60 * 1000)
    }
    world.advance(3600 * 1000)
  }
  stats.refused = world.queue().failedCount()
  return { records, stats }
}

/** Flush; resolves true when the app was killed before the flush ended (it never will then). */
function flushOrDie(world) {
  return new Promise(resolve => {
    let done = false
    const timer = setInterval(() => {
      if (done || !world.dead()) return
      done = true
      clearInterval(timer)
      resolve(true)
    }, 2)
    world
      .queue()
      .flush()
      .then(() => {
        if (done) return
        done = true
        clearInterval(timer)
        resolve(false)
      })
  })
}

/** Visits whose submit waits only because of refused records. */
function heldSubmits(queue) {
  const items = queue.items()
  return items
    .filter(
      i =>
        i.kind === 'submit' &&
        !i.allow_missing &&
        items.some(
          j =>
            j.local_visit === i.local_visit &&
            j.status === 'failed' &&
            j.error &&
            j.error.code !== 'assignment_closed'
        )
    )
    .map(i => i.local_visit)
}

/**
 * Whether a record the phone accepted is accounted for without reaching the server: still on the
 * phone as a refusal with a Chinese reason, or given up and listed by the server as missing.
 * Either is allowed only for a record the scenario expected to be refused.
 */
function accountedWithoutServer(record, left, missing) {
  const item = left.get(record.client_id)
  if (item) {
    expect({
      cid: record.client_id,
      kind: record.kind,
      status: item.status,
      expected: record.expectRefusal
    }).toEqual({ cid: record.client_id, kind: record.kind, status: 'failed', expected: true })
    expect(item.error.message).toMatch(/[\u4e00-\u9fa5]/)
    return true
  }
  if (missing.has(record.client_id)) {
    expect({ cid: record.client_id, expected: record.expectRefusal }).toEqual({
      cid: record.client_id,
      expected: true
    })
    return true
  }
  return false
}

module.exports = { runChaos, heldSubmits, accountedWithoutServer, KINDS_WITH_OBJECT }
