// 我的反馈: the villager's feedback with its status, due date and replies.
const view = require('../../utils/view')

const CLOSED = ['resolved', 'declined']

/** One feedback item as the list shows it. */
function feedbackView(f, now) {
  const closed = CLOSED.includes(f.status)
  const due = f.due_at ? view.formatDate(f.due_at) : ''
  const overdue = !closed && !!f.due_at && Date.parse(f.due_at) < (now || new Date()).getTime()
  return {
    id: f.id,
    receiptNo: f.receipt_no,
    createdText: view.formatDateTime(f.created_at),
    category: f.category,
    rating: f.rating,
    text: f.text,
    anonymous: !!f.anonymous,
    status: f.status,
    statusLabel: f.status_label || '',
    statusClass: closed
      ? f.status === 'resolved'
        ? 'tag-ok'
        : ''
      : overdue
        ? 'tag-danger'
        : 'tag-warn',
    dueText: closed
      ? f.closed_at
        ? `办结于 ${view.formatDate(f.closed_at)}`
        : ''
      : due
        ? `答复期限 ${due}${overdue ? '（已超期）' : ''}`
        : '',
    photos: (f.photos || [])
      .map(p => ({ id: p.id, url: p.thumb_url || p.preview_url }))
      .filter(p => p.url),
    replies: (f.replies || []).map(r => ({
      id: r.id,
      text: r.text,
      statusLabel: r.status_label || '',
      reason: r.reason || '',
      timeText: view.formatDateTime(r.created_at)
    }))
  }
}

/** Feedback still in this phone's outbox (not yet received by the server). */
function waitingViews(queueItems) {
  return (queueItems || [])
    .filter(i => i.kind === 'feedback')
    .map(i => ({
      id: i.client_id,
      category: i.category,
      text: i.text,
      failed: i.status === 'failed',
      statusText:
        i.status === 'failed'
          ? `未能提交：${(i.error && i.error.message) || '请稍后重试'}`
          : '等待发送'
    }))
}

module.exports = { feedbackView, waitingViews }
