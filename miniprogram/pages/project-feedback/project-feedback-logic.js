// 群众意见: villagers' feedback about the secretary's projects. Anonymous authors stay hidden and
// a complainant's phone number is never shown, not even a digit of it, whatever the server sends.
const view = require('../../utils/view')

const CLOSED = ['resolved', 'declined']

/** Who wrote it, as the secretary may see it. */
function authorText(f) {
  return f.anonymous ? '匿名群众' : '群众'
}

/** One feedback item as the list shows it. */
function feedbackRow(f) {
  const closed = CLOSED.indexOf(f.status) >= 0
  return {
    id: f.id,
    receiptNo: f.receipt_no,
    projectTitle: (f.project && f.project.title) || '',
    rating: f.rating,
    category: f.category,
    text: f.text,
    author: authorText(f),
    statusLabel: f.status_label,
    statusTag: closed ? 'tag-ok' : 'tag-warn',
    createdText: view.formatDateTime(f.created_at),
    dueText: closed ? '' : `答复期限 ${view.formatDate(f.due_at)}`,
    photoText: f.photo_count ? `附照片 ${f.photo_count} 张` : '',
    replies: (f.replies || []).map((r, i) => ({
      i,
      text: r.text,
      statusLabel: r.status_label,
      timeText: view.formatDateTime(r.created_at)
    }))
  }
}

module.exports = { authorText, feedbackRow }
