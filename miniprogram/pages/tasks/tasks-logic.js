// 今日任务: how a task and the phone's own visits read, from the assignment cache (kept by
// utils/store.js, so the checklist works without signal).
const view = require('../../utils/view')

/** One assignment of the cache ({items} or null) by id, or null. */
function findAssignment(cached, id) {
  const wanted = Number(id)
  return (cached && cached.items.find(a => a.id === wanted)) || null
}

/** {sealed, count, items}: sealed items are only counted until the server reveals them. */
function checkItemsInfo(a) {
  const items = Array.isArray(a.check_items) ? a.check_items : []
  if (a.check_items_sealed && !items.length) {
    return { sealed: true, count: a.check_items_count || 0, items: [] }
  }
  return { sealed: false, count: items.length, items }
}

/** "督查事项 3 项" / "督查事项 3 项（密封，到现场后开启）" / "未设督查事项". */
function checkItemsText(a) {
  const info = checkItemsInfo(a)
  if (info.sealed) return `督查事项 ${info.count} 项（密封，到现场后开启）`
  return info.count ? `督查事项 ${info.count} 项` : '未设督查事项'
}

/** wx.openLocation options for the assignment's place (GCJ-02, as Tencent maps expect), or null. */
function navigationOptions(a) {
  const place = a.place || {}
  const point = place.gcj02 || (a.village && a.village.gcj02)
  if (!point || typeof point.lat !== 'number' || typeof point.lng !== 'number') return null
  return {
    latitude: point.lat,
    longitude: point.lng,
    name: place.name || (a.village && a.village.name) || '',
    address: place.label || '',
    scale: 16
  }
}

const VISIT_STATUS = { none: '未开始', in_progress: '进行中', submitted: '已提交' }

/** The card of one task. `local` is this phone's visit record for it, if any. */
function taskView(a, local, now) {
  const place = a.place || {}
  const server = (a.visits || []).find(v => v.status === 'submitted')
    ? 'submitted'
    : (a.visits || []).length
      ? 'in_progress'
      : 'none'
  const status = local && local.submitted_at ? 'submitted' : local ? 'in_progress' : server
  return {
    id: a.id,
    placeName: place.name || (a.village && a.village.name) || '未知地点',
    placeLabel: place.label || '',
    projectTitle: (a.project && a.project.title) || '',
    due: view.dueInfo(a.due_date, now),
    checkText: checkItemsText(a),
    canNavigate: !!navigationOptions(a),
    status,
    statusText: VISIT_STATUS[status],
    actionText: status === 'none' ? '开始暗访' : status === 'submitted' ? '查看记录' : '继续暗访'
  }
}

/** {assignment id: true} for the assignments the server still lists. */
function listedIds(listed) {
  const ids = {}
  ;(listed || []).forEach(a => {
    ids[a.id] = true
  })
  return ids
}

/** Nothing of the visit waits in the outbox, and the server has its submit if there was one. */
function confirmedVisit(v, queue) {
  return (
    !queue.items().some(i => i.local_visit === v.local_visit) &&
    (!v.submitted_at || !!queue.submittedAt(v.local_visit))
  )
}

/** Assignment ids of local visits the phone may forget: submitted, confirmed, and no longer listed. */
function forgettableVisits(visits, queue, listed) {
  const ids = listedIds(listed)
  return (visits || [])
    .filter(
      v => confirmedVisit(v, queue) && !ids[v.assignment_id] && queue.submittedAt(v.local_visit)
    )
    .map(v => v.assignment_id)
}

/**
 * 本机记录: every visit recorded on this phone (`visits`, the local records) that the server has
 * not confirmed entirely, whether or not its assignment is still listed.
 */
function localVisitRows(visits, queue, listed) {
  const ids = listedIds(listed)
  const rows = []
  ;(visits || []).forEach(v => {
    if (confirmedVisit(v, queue)) return
    const assignmentId = v.assignment_id
    const items = queue.items().filter(i => i.local_visit === v.local_visit)
    const waiting = items.filter(i => i.status !== 'failed').length
    const failed = items.filter(i => i.status === 'failed').length
    const a = v.assignment || {}
    const closed = queue.closedVisit(v.local_visit)
    rows.push({
      assignment_id: assignmentId,
      local_visit: v.local_visit,
      placeName:
        (a.place && a.place.name) || (a.village && a.village.name) || `任务 ${assignmentId}`,
      projectTitle: (a.project && a.project.title) || '',
      startedText: view.formatDateTime(v.started_at),
      listed: !!ids[assignmentId],
      stateText: closed
        ? '任务已结束，服务器不再接收'
        : [waiting ? `${waiting} 项待上传` : '', failed ? `${failed} 项未被接收` : '']
            .filter(Boolean)
            .join('，'),
      failed: !!(failed || closed)
    })
  })
  return rows
}

module.exports = {
  localVisitRows,
  forgettableVisits,
  findAssignment,
  checkItemsInfo,
  checkItemsText,
  navigationOptions,
  taskView
}
