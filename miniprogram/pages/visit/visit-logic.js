// The visit screen's rules, kept apart from the page so they unit test: the local visit record,
// the queue actions it produces, the interview and checklist forms, what a submit needs.
const view = require('../../utils/view')
const { KIND_LABELS } = require('../../utils/sync')

// The server's evidence policy when the assignment does not carry one (contract §5).
const DEFAULT_POLICY = { min_photos: 2, min_interviews: 1 }

const CHECK_RESULTS = [
  { value: 'pass', label: '通过' },
  { value: 'fail', label: '不通过' },
  { value: 'na', label: '不适用' }
]

const SATISFACTION = ['满意', '基本满意', '不满意']

// The questions of the home visit; the answers are stored under the question itself so the
// record reads the same on the console.
const INTERVIEW_QUESTIONS = [
  { key: 'q1', text: '是否知道本村书记项目', options: ['知道', '听说过', '不知道'] },
  { key: 'q2', text: '项目实际进展' },
  { key: 'q3', text: '对项目是否满意的原因' }
]

/** What the visit page needs of its assignment, kept with the visit (the task cache may lose it). */
function assignmentSnapshot(a) {
  if (!a) return null
  return {
    id: a.id,
    place: a.place || null,
    village: a.village || null,
    project: a.project ? { id: a.project.id, title: a.project.title } : null,
    due_date: a.due_date || null,
    check_items: a.check_items || [],
    check_items_sealed: !!a.check_items_sealed,
    check_items_count: a.check_items_count || 0,
    evidence_policy: a.evidence_policy || null
  }
}

/** A fresh local record for a visit whose start_visit was just enqueued. */
function newLocalVisit(assignmentId, localVisit, startedAt, checkItems, assignment) {
  return {
    assignment_id: Number(assignmentId),
    assignment: assignmentSnapshot(assignment),
    local_visit: localVisit,
    started_at: startedAt,
    checkins: [],
    photos: [],
    interviews: [],
    notes: [],
    checklist: initialChecklist(checkItems),
    checklist_sent: false,
    submitted_at: null
  }
}

/** One row per check item, nothing decided yet. */
function initialChecklist(items) {
  return (items || []).map(item => ({ item: String(item), result: '', note: '' }))
}

/** Keep what was decided for items that are still on the list, add new ones (e.g. unsealed). */
function mergeChecklist(current, items) {
  const byItem = {}
  ;(current || []).forEach(row => {
    byItem[row.item] = row
  })
  return (items || []).map(item => byItem[item] || { item: String(item), result: '', note: '' })
}

/** A copy of the checklist with one row's result set (tapping the chosen one again clears it). */
function setResult(checklist, index, result) {
  if (!CHECK_RESULTS.some(r => r.value === result)) throw new Error(`unknown result ${result}`)
  return checklist.map((row, i) =>
    i === index ? { ...row, result: row.result === result ? '' : result } : row
  )
}

/** A copy of the checklist with one row's note set. */
function setNote(checklist, index, note) {
  return checklist.map((row, i) =>
    i === index ? { ...row, note: String(note || '').slice(0, 2000) } : row
  )
}

/** How many items have no result yet. */
function undecidedCount(checklist) {
  return (checklist || []).filter(row => !row.result).length
}

/** The rows as the page shows them (labels and which button is on). */
function checklistRows(checklist) {
  return (checklist || []).map((row, index) => ({
    index,
    item: row.item,
    note: row.note,
    result: row.result,
    choices: CHECK_RESULTS.map(r => ({
      value: r.value,
      label: r.label,
      on: row.result === r.value
    }))
  }))
}

// ---- queue actions -------------------------------------------------------------------------

/** start_visit: the queue makes its client_id, which then names the visit (local_visit). */
function startVisitAction(assignmentId, startedAt) {
  return { kind: 'start_visit', assignment_id: Number(assignmentId), started_at: startedAt }
}

// A fix without an accuracy must not pass as a precise one (nor as a 0 m "virtual" one): it is
// sent as very poor, which the server flags as low accuracy.
const UNKNOWN_ACCURACY_M = 9999

/** checkin from a fresh GCJ-02 fix. */
function checkinAction(localVisit, fix) {
  const accuracy =
    typeof fix.accuracy === 'number' && fix.accuracy >= 0 ? fix.accuracy : UNKNOWN_ACCURACY_M
  return {
    kind: 'checkin',
    local_visit: localVisit,
    lat: fix.lat,
    lng: fix.lng,
    accuracy_m: accuracy,
    coord_type: fix.coord_type || 'gcj02',
    client_time: view.isoTime(fix.time || Date.now())
  }
}

/**
 * photo: the kept file and its capture time, queued at once; the position taken right after
 * the shutter is attached when it comes (awaiting_fix until then), or the photo goes as no_fix.
 */
function photoAction(localVisit, file, fix, takenAt, size, compressed) {
  const action = {
    kind: 'photo',
    local_visit: localVisit,
    file,
    taken_at: view.isoTime(takenAt)
  }
  if (fix) Object.assign(action, fixPatch(fix))
  else action.awaiting_fix = true
  if (size) action.size = size
  if (compressed) action.compressed = true
  return action
}

/** The queue patch that attaches a fix to a photo. */
function fixPatch(fix) {
  return { lat: fix.lat, lng: fix.lng, coord_type: fix.coord_type || 'gcj02', awaiting_fix: false }
}

/** An empty interview form. */
function emptyInterview() {
  const answers = {}
  INTERVIEW_QUESTIONS.forEach(q => {
    answers[q.key] = ''
  })
  return { household: '', answers, satisfaction: '', notes: '' }
}

/** {field: message} for an interview form; empty when it can be saved. */
function validateInterview(form) {
  const errors = {}
  const household = (form.household || '').trim()
  if (!household) errors.household = '请填写受访户（如：3组张某家）'
  else if (household.length > 100) errors.household = '受访户不超过100字'
  if (!SATISFACTION.includes(form.satisfaction)) errors.satisfaction = '请选择满意度'
  if ((form.notes || '').length > 5000) errors.notes = '备注不超过5000字'
  INTERVIEW_QUESTIONS.forEach(q => {
    if (((form.answers || {})[q.key] || '').length > 2000) errors[q.key] = '回答不超过2000字'
  })
  return errors
}

/** interview: answers keyed by the question text, empty answers left out. */
function interviewAction(localVisit, form) {
  const answers = {}
  INTERVIEW_QUESTIONS.forEach(q => {
    const a = ((form.answers || {})[q.key] || '').trim()
    if (a) answers[q.text] = a
  })
  return {
    kind: 'interview',
    local_visit: localVisit,
    household: form.household.trim(),
    answers,
    satisfaction: form.satisfaction,
    notes: (form.notes || '').trim()
  }
}

/** checklist: only the decided rows (the server takes a subset); null when none is decided. */
function checklistAction(localVisit, checklist) {
  const items = (checklist || [])
    .filter(row => row.result)
    .map(row => ({ item: row.item, result: row.result, note: (row.note || '').trim() }))
  return items.length ? { kind: 'checklist', local_visit: localVisit, items } : null
}

/** note: a remark, also allowed after submit. */
function noteAction(localVisit, text) {
  return { kind: 'note', local_visit: localVisit, text: String(text).trim() }
}

/** submit. */
function submitAction(localVisit) {
  return { kind: 'submit', local_visit: localVisit }
}

/** What is missing before a submit, as sentences for the confirm dialog (may be submitted anyway). */
function submitWarnings(state, sealedCount, policy) {
  const p = Object.assign({}, DEFAULT_POLICY, policy || {})
  const warnings = []
  const photos = state ? state.photos.length : 0
  const interviews = state ? state.interviews.length : 0
  if (!state || !state.checkins.length) warnings.push('尚未签到')
  if (!photos) warnings.push(`没有现场照片（要求至少 ${p.min_photos} 张）`)
  else if (photos < p.min_photos)
    warnings.push(`现场照片 ${photos} 张，少于要求的 ${p.min_photos} 张`)
  if (!interviews && p.min_interviews)
    warnings.push(`没有入户走访记录（要求至少 ${p.min_interviews} 户）`)
  else if (interviews < p.min_interviews)
    warnings.push(`入户走访 ${interviews} 户，少于要求的 ${p.min_interviews} 户`)
  const open = state ? undecidedCount(state.checklist) : 0
  if (open) warnings.push(`还有 ${open} 项督查事项未填写`)
  if (sealedCount && state && !state.checklist.length)
    warnings.push(`${sealedCount} 项密封督查事项尚未开启`)
  return warnings
}

/** The confirm dialog's text; `missing` names the refused records that will not be part of it. */
function submitConfirmText(warnings, missing) {
  const head = warnings.length ? `注意：${warnings.join('；')}。\n` : ''
  const gone =
    missing && missing.length
      ? `以下 ${missing.length} 项未能上传，将不随本次提交（服务器会记录缺少的内容）：${missing.join('；')}。\n`
      : ''
  return `${head}${gone}提交后本次暗访记录不能再修改（仍可补充备注），确定提交吗？`
}

/** What the server found short at submit ({photos: {required, got}, interviews: …}) in a sentence. */
function evidenceShortText(short) {
  const parts = []
  if (short && short.photos) parts.push(`现场照片 ${short.photos.got}/${short.photos.required} 张`)
  if (short && short.interviews)
    parts.push(`入户走访 ${short.interviews.got}/${short.interviews.required} 户`)
  return parts.length ? `证据不足：${parts.join('，')}（已提交，审核人员可见）` : ''
}

/** "照片（照片过大）" for every refused record of this visit, for the submit dialog. */
function missingNames(queueItems, localVisit) {
  return (queueItems || [])
    .filter(
      i =>
        i.status === 'failed' &&
        i.local_visit === localVisit &&
        i.kind !== 'submit' &&
        i.kind !== 'start_visit'
    )
    .map(i => `${KIND_LABELS[i.kind] || i.kind}（${(i.error && i.error.message) || '提交失败'}）`)
}

/** The check-in as it would be sent: distance, accuracy, inside or outside the geofence. */
function fixPreview(fix, place, coord) {
  const distance = distanceToPlace(fix, place, coord)
  const radius = place && place.radius_m
  const inside =
    typeof radius === 'number' && typeof distance === 'number' ? distance <= radius : null
  return {
    distanceText: view.formatDistance(distance),
    accuracyText:
      typeof fix.accuracy === 'number'
        ? `定位精度 ±${Math.round(fix.accuracy)} 米`
        : '定位精度未知',
    inside,
    verdictText:
      inside === null
        ? '村庄位置未知，无法判断是否在范围内'
        : inside
          ? `在村庄范围内（${radius} 米）`
          : `不在村庄范围内（${radius} 米）`
  }
}

// ---- check-in and photos as shown -----------------------------------------------------------

/** Distance in metres between a GCJ-02 fix and the place's WGS-84 centre. */
function distanceToPlace(fix, place, coord) {
  if (!fix || !place || typeof place.lat !== 'number') return null
  const wgs = coord.gcj02ToWgs84(fix.lat, fix.lng)
  const here = Array.isArray(wgs) ? { lat: wgs[0], lng: wgs[1] } : wgs
  return coord.distanceM(here, { lat: place.lat, lng: place.lng })
}

/** The last check-in as the page shows it. */
function checkinView(checkin, place) {
  if (!checkin) return null
  const radius = place && place.radius_m
  return {
    distanceText: view.formatDistance(checkin.distance_m),
    accuracyText:
      typeof checkin.accuracy === 'number'
        ? `定位精度 ±${Math.round(checkin.accuracy)} 米`
        : '定位精度未知',
    timeText: view.formatDateTime(checkin.time),
    outside: typeof radius === 'number' && checkin.distance_m > radius,
    radiusText: typeof radius === 'number' ? `村庄范围 ${radius} 米` : ''
  }
}

/** Upload progress in percent from a queue item (the queue counts 0–100), 100 once it left the queue. */
function percent(item) {
  if (!item) return 100
  return Math.max(0, Math.min(100, Math.round(Number(item.progress) || 0)))
}

/**
 * The photo strip: each photo with its upload state from the queue; an uploaded one shows the
 * server's thumbnail once known (`thumbs`), the kept original until then (`shown`).
 */
function photoRows(photos, queueItems, thumbs, shown) {
  const byId = {}
  ;(queueItems || []).forEach(item => {
    byId[item.client_id] = item
  })
  return (photos || []).map(p => {
    const item = byId[p.client_id]
    const failed = !!(item && item.status === 'failed')
    const sending = !!(item && item.status === 'sending')
    const progress = percent(item)
    let statusText = '已上传'
    if (failed) statusText = `上传失败：${(item.error && item.error.message) || ''}`
    else if (sending) statusText = `上传中 ${progress}%`
    else if (item && item.awaiting_fix) statusText = '待上传（正在定位）'
    else if (item) statusText = '待上传'
    if (item && item.no_fix) statusText += ' · 无定位'
    if (p.compressed) statusText += ' · 已压缩'
    const thumb = !item && thumbs && thumbs[p.client_id]
    const path = thumb || (!item && shown && shown[p.client_id]) || p.path
    return {
      client_id: p.client_id,
      path,
      time: view.formatTime(p.taken_at),
      progress,
      failed,
      done: !item,
      statusText,
      canChange: !!item && !sending,
      tooLarge: !!(failed && item.error && item.error.code === 'photo_too_large')
    }
  })
}

module.exports = {
  DEFAULT_POLICY,
  assignmentSnapshot,
  fixPatch,
  missingNames,
  evidenceShortText,
  fixPreview,
  CHECK_RESULTS,
  SATISFACTION,
  INTERVIEW_QUESTIONS,
  newLocalVisit,
  initialChecklist,
  mergeChecklist,
  setResult,
  setNote,
  undecidedCount,
  checklistRows,
  startVisitAction,
  checkinAction,
  photoAction,
  emptyInterview,
  validateInterview,
  interviewAction,
  checklistAction,
  noteAction,
  submitAction,
  submitWarnings,
  submitConfirmText,
  distanceToPlace,
  checkinView,
  photoRows
}
