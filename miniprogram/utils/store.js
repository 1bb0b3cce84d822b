// What the pages keep on the phone between launches: each storage key with its reads and writes,
// so that the pages' *-logic.js stay pure (they get the values, never `wx`). Writes are
// synchronous: what was typed survives WeChat killing the app. The outbox (queue.js) and the
// login (api.js) keep their own keys beside their code.
const view = require('./view')

const REPORT_PREFIX = 'report.'
const REPLY_PREFIX = 'rectification.reply.'
const DRAFTS_KEY = 'applications.v1'
const OPTIONS_KEY = 'application-options.v1'
const ASSIGNMENTS_KEY = 'assignments.v1'
const WORKSPACE_KEY = 'workspace.v1'
const VISIT_PREFIX = 'visit.assignment.'
// The phone's own list of its visits (本机记录), independent of the task cache: a visit whose
// assignment closed or left /assignments is still shown until the server confirmed all of it.
const VISIT_INDEX_KEY = 'visit.local.v1'
const VISIT_DRAFT_PREFIX = 'visit.draft.'
// The photo limit until the server told another one (a 413's details.max_bytes).
const MAX_BYTES_KEY = 'photo.max_bytes'
const DEFAULT_MAX_BYTES = 15 * 1024 * 1024

// ---- 月报 --------------------------------------------------------------------------------------

/** The key of one project's report for one month. */
function reportKey(projectId, month) {
  return `${REPORT_PREFIX}${projectId}.${month}`
}

/** The report of one month as kept on the phone ({text, photos, saved_at, submitted}), or null. */
function loadReport(wx, projectId, month) {
  return wx.getStorageSync(reportKey(projectId, month)) || null
}

/** Keep the report on the phone. */
function saveReport(wx, projectId, month, report) {
  wx.setStorageSync(reportKey(projectId, month), report)
  return report
}

/** Forget the phone's copy once the server holds all of it. */
function removeReport(wx, projectId, month) {
  wx.removeStorageSync(reportKey(projectId, month))
}

// ---- 整改回复 ----------------------------------------------------------------------------------

/** The reply kept on the phone for an order ({text, photos, client_id?}), or a fresh one. */
function loadReply(wx, orderId) {
  return wx.getStorageSync(REPLY_PREFIX + orderId) || { text: '', photos: [] }
}

/** Keep the reply on the phone. */
function saveReply(wx, orderId, reply) {
  wx.setStorageSync(REPLY_PREFIX + orderId, reply)
  return reply
}

/** Forget the reply once the server has it. */
function removeReply(wx, orderId) {
  wx.removeStorageSync(REPLY_PREFIX + orderId)
}

// ---- 申报草稿 ----------------------------------------------------------------------------------

/** Every application draft kept on the phone, by its key (application-logic's draftKey). */
function loadDrafts(wx) {
  const all = wx.getStorageSync(DRAFTS_KEY)
  return all && typeof all === 'object' ? all : {}
}

/** Keep a draft under its key. */
function saveDraft(wx, key, draft) {
  const all = loadDrafts(wx)
  all[key] = draft
  wx.setStorageSync(DRAFTS_KEY, all)
  return draft
}

/** Forget a draft once the server holds everything it says. */
function removeDraft(wx, key) {
  const all = loadDrafts(wx)
  if (!(key in all)) return
  delete all[key]
  wx.setStorageSync(DRAFTS_KEY, all)
}

/** Cached choices for the application form (own organizations, villages and sites) or null. */
function readApplicationOptions(wx) {
  const o = wx.getStorageSync(OPTIONS_KEY)
  return o && Array.isArray(o.organizations) ? o : null
}

/** Keep the form's choices for use without signal. */
function writeApplicationOptions(wx, options) {
  wx.setStorageSync(OPTIONS_KEY, options)
  return options
}

// ---- 今日任务 and 我的项目: the server's lists, for use without signal ----------------------------

/** A cached server list {items, fetched_at} under key, or null. */
function readList(wx, key) {
  const cached = wx.getStorageSync(key)
  return cached && Array.isArray(cached.items) ? cached : null
}

/** Keep a server list with the time it was fetched. */
function writeList(wx, key, items, now) {
  const cached = { items: items || [], fetched_at: view.isoTime(now || new Date()) }
  wx.setStorageSync(key, cached)
  return cached
}

/** The cached assignments {items, fetched_at}, or null when never fetched. */
function readAssignments(wx) {
  return readList(wx, ASSIGNMENTS_KEY)
}

/** Keep the server's assignments (check items included) for offline use. */
function writeAssignments(wx, items, now) {
  return writeList(wx, ASSIGNMENTS_KEY, items, now)
}

/** Replace one cached assignment (e.g. with check items unsealed by the server). */
function updateAssignment(wx, assignment) {
  const cached = readAssignments(wx)
  if (!cached) return
  cached.items = cached.items.map(a => (a.id === assignment.id ? { ...a, ...assignment } : a))
  wx.setStorageSync(ASSIGNMENTS_KEY, cached)
}

/** The cached answer of /projects/mine {items, fetched_at}, or null. */
function readWorkspace(wx) {
  return readList(wx, WORKSPACE_KEY)
}

/** Keep the secretary's projects for the next time there is no signal. */
function writeWorkspace(wx, items, now) {
  return writeList(wx, WORKSPACE_KEY, items, now)
}

// ---- 暗访: the visits recorded on this phone ---------------------------------------------------

/** This phone's record of the visit for one assignment, or null before it started. */
function loadLocalVisit(wx, assignmentId) {
  return wx.getStorageSync(VISIT_PREFIX + assignmentId) || null
}

/** Persist the local record (it survives the app being killed, like the queue) and list it. */
function saveLocalVisit(wx, state) {
  wx.setStorageSync(VISIT_PREFIX + state.assignment_id, state)
  const index = localVisitIds(wx)
  if (index.indexOf(state.assignment_id) < 0)
    wx.setStorageSync(VISIT_INDEX_KEY, index.concat([state.assignment_id]))
  return state
}

/** Assignment ids of every visit recorded on this phone and not yet forgotten. */
function localVisitIds(wx) {
  const raw = wx.getStorageSync(VISIT_INDEX_KEY)
  return Array.isArray(raw) ? raw : []
}

/** Every visit record on this phone, in the order they were started. */
function loadLocalVisits(wx) {
  return localVisitIds(wx)
    .map(id => loadLocalVisit(wx, id))
    .filter(Boolean)
}

/** Forget one local visit and its typed draft (the server has all of it, long enough ago). */
function forgetLocalVisit(wx, assignmentId) {
  wx.removeStorageSync(VISIT_PREFIX + assignmentId)
  wx.removeStorageSync(VISIT_DRAFT_PREFIX + assignmentId)
  wx.setStorageSync(
    VISIT_INDEX_KEY,
    localVisitIds(wx).filter(id => id !== Number(assignmentId))
  )
}

/** The interview form and note being typed, saved on every keystroke (WeChat may kill the app). */
function loadVisitDraft(wx, assignmentId) {
  const d = wx.getStorageSync(VISIT_DRAFT_PREFIX + assignmentId)
  return d && typeof d === 'object' ? d : null
}

/** Keep what is being typed on the visit page. */
function saveVisitDraft(wx, assignmentId, draft) {
  wx.setStorageSync(VISIT_DRAFT_PREFIX + assignmentId, draft)
}

/** The photo size limit the server last told this phone (or the default 15 MB). */
function maxPhotoBytes(wx) {
  const n = Number(wx.getStorageSync(MAX_BYTES_KEY))
  return n > 0 ? n : DEFAULT_MAX_BYTES
}

/** Remember the server's photo size limit (a positive number of bytes). */
function rememberMaxBytes(wx, n) {
  if (Number(n) > 0) wx.setStorageSync(MAX_BYTES_KEY, Number(n))
}

module.exports = {
  loadReport,
  saveReport,
  removeReport,
  loadReply,
  saveReply,
  removeReply,
  loadDrafts,
  saveDraft,
  removeDraft,
  readApplicationOptions,
  writeApplicationOptions,
  readAssignments,
  writeAssignments,
  updateAssignment,
  readWorkspace,
  writeWorkspace,
  loadLocalVisit,
  saveLocalVisit,
  localVisitIds,
  loadLocalVisits,
  forgetLocalVisit,
  loadVisitDraft,
  saveVisitDraft,
  maxPhotoBytes,
  rememberMaxBytes
}
