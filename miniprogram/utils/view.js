// Formatting shared by the pages: dates in China time, distances, integrity flags, counters.
// Pure functions, no `wx`: they run unchanged under jest.

const { rfc3339 } = require('./time')

const CHINA_OFFSET_MS = 8 * 3600 * 1000

// What the server's integrity flags mean, in the words an inspector reads.
const FLAG_LABELS = {
  far_from_village: '距离村庄过远',
  low_accuracy: '定位精度低',
  zero_accuracy: '疑似虚拟定位',
  clock_skew: '手机时间不准',
  impossible_speed: '移动速度异常',
  capture_far: '拍摄地点距离过远',
  no_exif: '照片缺少拍摄信息',
  exif_gps_far: '照片位置与现场不符',
  exif_time_mismatch: '照片拍摄时间不符',
  exif_edited: '照片疑似编辑过',
  duplicate: '疑似重复照片'
}

/** The Chinese label of one flag; an unknown code is still shown, never hidden. */
function flagLabel(code) {
  return FLAG_LABELS[code] || `其他异常（${code}）`
}

/** [{code, label}] for a list of flag codes, duplicates removed, order kept. */
function flagLabels(codes) {
  const seen = {}
  return (codes || [])
    .filter(c => !seen[c] && (seen[c] = true))
    .map(code => ({ code, label: flagLabel(code) }))
}

function pad(n) {
  return n < 10 ? `0${n}` : `${n}`
}

// A date-only value ("2024-06-30") is a calendar day, not an instant: keep it as it is.
const DATE_ONLY = /^\d{4}-\d{2}-\d{2}$/

function chinaParts(value) {
  const ms = value instanceof Date ? value.getTime() : Date.parse(value)
  if (Number.isNaN(ms)) return null
  const d = new Date(ms + CHINA_OFFSET_MS)
  return {
    y: d.getUTCFullYear(),
    m: d.getUTCMonth() + 1,
    d: d.getUTCDate(),
    hh: d.getUTCHours(),
    mm: d.getUTCMinutes()
  }
}

/** "2024-06-30" in China time for an ISO date or date-time; '' for nothing. */
function formatDate(value) {
  if (!value) return ''
  if (typeof value === 'string' && DATE_ONLY.test(value)) return value
  const p = chinaParts(value)
  return p ? `${p.y}-${pad(p.m)}-${pad(p.d)}` : ''
}

/** "2024-06-30 14:05" in China time; '' for nothing. */
function formatDateTime(value) {
  if (!value) return ''
  if (typeof value === 'string' && DATE_ONLY.test(value)) return value
  const p = chinaParts(value)
  return p ? `${p.y}-${pad(p.m)}-${pad(p.d)} ${pad(p.hh)}:${pad(p.mm)}` : ''
}

/** "14:05" in China time. */
function formatTime(value) {
  const p = value ? chinaParts(value) : null
  return p ? `${pad(p.hh)}:${pad(p.mm)}` : ''
}

/** "约 350 米" / "约 1.2 公里"; '' when unknown. */
function formatDistance(meters) {
  if (meters === null || meters === undefined || Number.isNaN(meters)) return ''
  if (meters < 1000) return `约 ${Math.round(meters)} 米`
  return `约 ${(meters / 1000).toFixed(1)} 公里`
}

/** "3.2 MB". */
function formatBytes(bytes) {
  const mb = (bytes || 0) / (1024 * 1024)
  return `${mb.toFixed(mb < 10 ? 1 : 0)} MB`
}

/** The counter every inspector page shows; '' when nothing waits. */
function pendingText(n) {
  return n > 0 ? `待上传 ${n} 项` : ''
}

/** The calendar day in China time of an instant (for "due today" comparisons). */
function chinaDay(now) {
  return formatDate(now || new Date())
}

/** How a due date reads today: {text, overdue, today}. */
function dueInfo(dueDate, now) {
  if (!dueDate) return { text: '未设截止日期', overdue: false, today: false }
  const day = formatDate(dueDate)
  const today = chinaDay(now)
  if (day === today) return { text: `今天截止（${day}）`, overdue: false, today: true }
  if (day < today) return { text: `已过期（${day}）`, overdue: true, today: false }
  return { text: `截止 ${day}`, overdue: false, today: false }
}

/** RFC 3339 timestamp of an instant with the phone's offset (what the server's date-time fields take). */
function isoTime(value) {
  return rfc3339(value instanceof Date ? value : new Date(value === undefined ? Date.now() : value))
}

/** What a failed request tells the user: offline, the server's own Chinese message, or a generic one. */
function errorMessage(err, fallback) {
  if (err && err.offline) return '网络不可用，请稍后重试'
  const body = err && (err.data || (err.response && err.response.data))
  const message = body && body.error && body.error.message
  return (
    message ||
    (err && typeof err.message === 'string' && /[\u4e00-\u9fa5]/.test(err.message)
      ? err.message
      : '') ||
    fallback ||
    '操作失败，请稍后重试'
  )
}

/** GET a JSON resource: the body on 2xx, otherwise a rejection carrying {status, data} (or {offline}). */
function getJson(api, path, opts) {
  return api.request('GET', path, undefined, opts).then(res => {
    if (res && res.status >= 200 && res.status < 300) return res.data
    return Promise.reject({ status: res && res.status, data: res && res.data })
  })
}

module.exports = {
  FLAG_LABELS,
  flagLabel,
  flagLabels,
  formatDate,
  formatDateTime,
  formatTime,
  formatDistance,
  formatBytes,
  pendingText,
  dueInfo,
  isoTime,
  errorMessage,
  getJson
}
