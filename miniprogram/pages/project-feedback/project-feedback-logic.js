// 群众意见: villagers' feedback about the secretary's projects. Anonymous authors stay hidden and
// a phone number is never shown whole, whatever the server sends.
const view = require('../../utils/view')

const CLOSED = ['resolved', 'declined']

/** "138****5678": a phone number with its middle hidden; anything shorter shows only its end. */
function maskPhone(phone) {
  const digits = String(phone || '').replace(/\s+/g, '')
  if (!digits) return ''
  if (/\*/.test(digits)) return digits
  if (digits.length >= 7) return `${digits.slice(0, 3)}****${digits.slice(-4)}`
  return `****${digits.slice(-2)}`
}

/** Who wrote it, as the secretary may see it. */
function authorText(f) {
  if (f.anonymous) return '匿名群众'
  const phone = maskPhone(f.contact_phone)
  return phone ? `群众（联系电话 ${phone}）` : '群众'
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
    replies: (f.replies || []).map((r, i) => ({ i, text: r.text, statusLabel: r.status_label, timeText: view.formatDateTime(r.created_at) }))
  }
}

module.exports = { maskPhone, authorText, feedbackRow }
