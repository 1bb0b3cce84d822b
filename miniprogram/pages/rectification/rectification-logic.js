// 整改通知: the secretary's open orders with their deadlines, one order's findings, and the reply
// (text + photos) kept on the phone until the server has it.
const view = require('../../utils/view')

const MAX_PHOTOS = 9

/** One order in the list: findings count, deadline and how late it is. */
function orderRow(o) {
  const open = o.status === 'issued'
  let deadlineText = `整改期限 ${view.formatDate(o.deadline)}`
  if (open && o.overdue) deadlineText += `（已逾期 ${o.days_overdue} 天）`
  return {
    id: o.id,
    projectTitle: (o.project && o.project.title) || '',
    itemsText: `${(o.items || []).length} 项问题`,
    firstItem: (o.items || [])[0] || '',
    statusLabel: o.status_label,
    statusTag: open ? (o.overdue ? 'tag-danger' : 'tag-warn') : 'tag-ok',
    deadlineText,
    open
  }
}

/** Open orders first, nearest deadline first; a project filter keeps only its orders. */
function orderRows(items, projectId) {
  return (items || [])
    .filter(o => !projectId || (o.project && o.project.id === Number(projectId)))
    .slice()
    .sort(
      (a, b) =>
        (a.status === 'issued' ? 0 : 1) - (b.status === 'issued' ? 0 : 1) ||
        String(a.deadline).localeCompare(String(b.deadline))
    )
    .map(orderRow)
}

/** {field: message} for a reply; empty when it can be sent. */
function validateReply(reply) {
  return String((reply && reply.text) || '').trim() ? {} : { text: '请填写整改情况' }
}

/** The queue action for the reply, naming its photos by their outbox client_ids. */
function replyAction(orderId, reply) {
  return {
    kind: 'rectification_response',
    order_id: Number(orderId),
    text: String(reply.text).trim(),
    photo_local_ids: reply.photos.map(p => p.client_id)
  }
}

/** How the reply stands: waiting in the outbox, refused (with the reason), or nothing pending. */
function replyState(reply, queueItems) {
  const item =
    reply && reply.client_id ? (queueItems || []).find(i => i.client_id === reply.client_id) : null
  if (!item) return null
  if (item.status === 'failed')
    return { text: `未能提交：${(item.error && item.error.message) || '请稍后重试'}`, failed: true }
  return { text: '整改情况已保存在手机上，有信号后自动上传', failed: false }
}

module.exports = { MAX_PHOTOS, orderRow, orderRows, validateReply, replyAction, replyState }
