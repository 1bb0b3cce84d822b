// 我要反馈: the form's rules and the queue actions it produces.

const RATINGS = ['满意', '基本满意', '不满意']
const CATEGORIES = ['表扬', '建议', '投诉', '问题反映']
const MAX_TEXT = 500
const MAX_PHOTOS = 6
// A mobile number, or a landline with its area code (a dash allowed).
const PHONE_PATTERN = /^(1[3-9]\d{9}|0\d{2,3}-?\d{7,8})$/

/** An empty form. */
function emptyForm() {
  return { rating: '', category: '', text: '', photos: [], phone: '', anonymous: false }
}

/** {field: message} for the form; empty when it can be sent. */
function validateFeedback(form) {
  const errors = {}
  if (!RATINGS.includes(form.rating)) errors.rating = '请选择您对项目的评价'
  if (!CATEGORIES.includes(form.category)) errors.category = '请选择反馈类别'
  const text = (form.text || '').trim()
  if (!text) errors.text = '请填写反馈内容'
  else if (text.length > MAX_TEXT) errors.text = `反馈内容不超过${MAX_TEXT}字`
  if ((form.photos || []).length > MAX_PHOTOS) errors.photos = `最多上传${MAX_PHOTOS}张照片`
  const phone = (form.phone || '').trim()
  if (phone && !PHONE_PATTERN.test(phone)) errors.phone = '请填写正确的手机号码或带区号的固定电话'
  return errors
}

/** "123/500". */
function textCounter(text) {
  return `${(text || '').length}/${MAX_TEXT}`
}

/** How many more photos may be added. */
function photosLeft(photos) {
  return Math.max(0, MAX_PHOTOS - (photos || []).length)
}

/** photo: one picture of the feedback (album or camera; no position needed). */
function photoAction(photo) {
  const action = { kind: 'photo', feedback: true, file: photo.path }
  if (photo.size) action.size = photo.size
  return action
}

/** feedback: refers to its photos by their client_ids; the queue sends the photos first. */
function feedbackAction(projectId, form, photoLocalIds, notify) {
  const phone = (form.phone || '').trim()
  return {
    kind: 'feedback',
    project_id: Number(projectId),
    rating: form.rating,
    category: form.category,
    text: form.text.trim(),
    photo_local_ids: photoLocalIds || [],
    contact_phone: phone || null,
    anonymous: !!form.anonymous,
    notify: !!notify
  }
}

/** The subscribe-message template for reply notices, or '' when none is configured. */
function replyTemplateId(config) {
  return (
    (config &&
      typeof config.FEEDBACK_TEMPLATE_ID === 'string' &&
      config.FEEDBACK_TEMPLATE_ID.trim()) ||
    ''
  )
}

/** What the page says after sending: receipt number once the server answered. */
function receiptView(result, item) {
  if (result && result.receipt_no) {
    return { state: 'sent', receiptNo: result.receipt_no, statusLabel: result.status_label || '' }
  }
  if (item && item.status === 'failed') {
    return {
      state: 'failed',
      message: (item.error && item.error.message) || '提交失败，请稍后重试'
    }
  }
  return { state: 'waiting' }
}

module.exports = {
  RATINGS,
  CATEGORIES,
  MAX_TEXT,
  MAX_PHOTOS,
  PHONE_PATTERN,
  emptyForm,
  validateFeedback,
  textCounter,
  photosLeft,
  photoAction,
  feedbackAction,
  replyTemplateId,
  receiptView
}
