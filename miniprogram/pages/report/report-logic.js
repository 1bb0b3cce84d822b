// 月报: which month to write, the report kept on the phone until the server has it, its photos
// (on the server already, or still in the outbox) and what the secretary reads about them.
const view = require('../../utils/view')

const MAX_PHOTOS = 9
const MAX_TEXT = 10000
/**
 * The months the secretary may write: the current one first, then the overdue ones
 * ({month, label, overdue}); a submitted month is not offered again.
 */
function monthChoices(state, items) {
  if (!state || !state.month) return []
  const submitted = {}
  ;(items || []).forEach(r => {
    if (r.status === 'submitted') submitted[r.month] = true
  })
  const out = []
  if (!submitted[state.month])
    out.push({ month: state.month, label: `${state.month}（本期）`, overdue: false })
  ;(state.overdue_months || [])
    .filter(m => m !== state.month && !submitted[m])
    .forEach(m => out.push({ month: m, label: `${m}（逾期）`, overdue: true }))
  return out
}

/** The local report for a month, started from the server's draft when the phone has none. */
function startFrom(serverReport) {
  if (!serverReport) return { text: '', photos: [], submitted: false }
  return {
    text: serverReport.text || '',
    photos: (serverReport.photos || []).map(p => ({
      id: p.id,
      path: p.thumb_url || p.preview_url || ''
    })),
    submitted: serverReport.status === 'submitted'
  }
}

/**
 * Photo ids for the report write: server ids known (kept from before, or uploaded since), and
 * client_ids of photos still in the outbox (the queue resolves them once they are in).
 */
function photoRefs(photos, queue) {
  const known = []
  const local = []
  ;(photos || []).forEach(p => {
    if (p.id) known.push(p.id)
    else {
      const done = queue.result(p.client_id)
      if (done && done.id && !queue.items().some(i => i.client_id === p.client_id))
        known.push(done.id)
      else local.push(p.client_id)
    }
  })
  return { known_photo_ids: known, photo_local_ids: local }
}

/** The queue action for saving (submit=false) or handing in (submit=true) the report. */
function reportAction(projectId, month, text, photos, queue, submit) {
  return Object.assign(
    {
      kind: 'report',
      project_id: Number(projectId),
      month,
      text: String(text || '').trim(),
      submit: !!submit
    },
    photoRefs(photos, queue)
  )
}

/** How each photo stands: uploaded, uploading with progress, or refused with the reason. */
function photoRows(photos, queueItems) {
  const byId = {}
  ;(queueItems || []).forEach(i => {
    byId[i.client_id] = i
  })
  return (photos || []).map((p, index) => {
    const item = p.client_id ? byId[p.client_id] : null
    let statusText = '已上传'
    if (item && item.status === 'failed')
      statusText = `未能上传：${(item.error && item.error.message) || '请删除后重选'}`
    else if (item)
      statusText =
        item.status === 'sending' ? `上传中 ${Math.round(item.progress || 0)}%` : '待上传'
    return {
      index,
      key: p.client_id || `s${p.id}`,
      path: p.path,
      progress: item ? item.progress || 0 : 100,
      failed: !!(item && item.status === 'failed'),
      statusText
    }
  })
}

/** {field: message} for handing in (saving a draft needs nothing). */
function validateSubmit(text) {
  return String(text || '').trim() ? {} : { text: '请填写本月工作进展' }
}

/** The line about the report's state: on the phone, waiting to be sent, refused, or on the server. */
function syncLine(local, reportItem) {
  if (reportItem && reportItem.status === 'failed')
    return {
      text: `未能保存到服务器：${(reportItem.error && reportItem.error.message) || '请稍后重试'}`,
      failed: true
    }
  if (reportItem)
    return {
      text:
        local && local.submitting
          ? '已提交，等待上传（有信号后自动发送）'
          : '已保存在手机上，等待上传',
      failed: false
    }
  return null
}

/** Accepted count of a requestSubscribeMessage answer for the given templates. */
function acceptedCount(res, templateIds) {
  return (templateIds || []).filter(id => res && res[id] === 'accept').length
}

/** "截止 2026-06-05" / "已逾期（2026-06-05）" for a month's due date. */
function dueText(due, now) {
  return due ? view.dueInfo(due, now) : { text: '', overdue: false, today: false }
}

module.exports = {
  MAX_PHOTOS,
  MAX_TEXT,
  monthChoices,
  startFrom,
  photoRefs,
  reportAction,
  photoRows,
  validateSubmit,
  syncLine,
  acceptedCount,
  dueText
}
