// 申报表: the form, what the server takes from it, what it still lacks, and the drafts kept on
// the phone until the server has them. Pure functions: utils/store.js keeps the drafts.
const view = require('../../utils/view')

const DOMAINS = ['农村', '城市社区', '机关', '国企', '中小学校', '公立医院', '非公企业']
const SELECTIONS = ['必选', '自选']
const CATEGORIES = ['常规性', '重点性', '创新性']
const RESPONSIBLE_ROLES = ['主管领导', '牵头书记', '联系组工干部', '工作队伍']
const RESPONSIBLE_HINTS = {
  主管领导: '如：乡镇党委副书记 张某',
  牵头书记: '如：村党支部书记 李某',
  联系组工干部: '如：组织委员 王某',
  工作队伍: '如：驻村工作队、村“两委”成员'
}
const MAX_TARGETS = 50
const MAX_STEPS = 50

/** An empty application of the given year. */
function emptyForm(year) {
  const responsible = {}
  RESPONSIBLE_ROLES.forEach(r => {
    responsible[r] = ''
  })
  return {
    title: '',
    year: Number(year),
    organization_id: null,
    domain: '',
    selection: '',
    category: '',
    problem: '',
    targets: [''],
    steps: [{ name: '', deadline: '' }],
    responsible,
    village_ids: [],
    site_id: null
  }
}

/** The form filled from the server's project detail. */
function formFromProject(p) {
  const form = emptyForm(p.year)
  const places = p.places || []
  RESPONSIBLE_ROLES.forEach(r => {
    form.responsible[r] = (p.responsible && p.responsible[r]) || ''
  })
  const site = places.find(pl => pl.kind === 'site')
  return {
    ...form,
    title: p.title || '',
    organization_id: (p.organization && p.organization.id) || null,
    domain: p.domain || '',
    selection: p.selection || '',
    category: p.category || '',
    problem: p.problem || '',
    targets: p.targets && p.targets.length ? p.targets.slice() : [''],
    steps:
      p.steps && p.steps.length
        ? p.steps.map(s => ({ name: s.name || '', deadline: s.deadline || '' }))
        : [{ name: '', deadline: '' }],
    village_ids: places.filter(pl => pl.kind === 'village').map(pl => pl.id),
    site_id: site ? site.id : null
  }
}

function trimmed(value) {
  return String(value === undefined || value === null ? '' : value).trim()
}

/** What the server takes from the form: trimmed text, empty choices and blank rows left out. */
function applicationFields(form) {
  const fields = { title: trimmed(form.title), year: Number(form.year) }
  if (form.organization_id) fields.organization_id = Number(form.organization_id)
  ;['domain', 'selection', 'category'].forEach(k => {
    if (form[k]) fields[k] = form[k]
  })
  fields.problem = trimmed(form.problem)
  fields.targets = (form.targets || []).map(trimmed).filter(Boolean)
  fields.steps = (form.steps || [])
    .filter(s => trimmed(s.name))
    .map(s => {
      const step = { name: trimmed(s.name) }
      if (s.deadline) step.deadline = s.deadline
      return step
    })
  fields.responsible = {}
  RESPONSIBLE_ROLES.forEach(r => {
    fields.responsible[r] = trimmed(form.responsible && form.responsible[r])
  })
  if (form.village_ids && form.village_ids.length) fields.village_ids = form.village_ids.map(Number)
  else if (form.site_id) fields.site = { id: Number(form.site_id) }
  return fields
}

/** {field: message} that keeps a draft from being saved at all (the server needs a title). */
function validateForSave(form) {
  return trimmed(form.title) ? {} : { title: '请先填写项目名称' }
}

/** What the application still lacks for submitting, as the server words it: [{field, message}]. */
function localMissing(form) {
  const f = applicationFields(form)
  const missing = []
  if (!f.title) missing.push({ field: 'title', message: '请填写项目名称' })
  if (!f.organization_id) missing.push({ field: 'organization_id', message: '请选择申报的党组织' })
  if (!f.problem) missing.push({ field: 'problem', message: '请说明项目要解决的问题' })
  if (!f.targets.length) missing.push({ field: 'targets', message: '请至少填写一项目标' })
  if (!f.steps.length) missing.push({ field: 'steps', message: '请至少填写一个实施步骤' })
  else if (f.steps.some(s => !s.deadline))
    missing.push({ field: 'steps', message: '每个实施步骤都要有完成时限' })
  const lacking = RESPONSIBLE_ROLES.filter(r => !f.responsible[r])
  if (lacking.length) missing.push({ field: 'responsible', message: '请填写' + lacking.join('、') })
  if (!f.village_ids && !f.site)
    missing.push({ field: 'village_ids', message: '请选择项目实施的村或单位地点' })
  return missing
}

/** {field: message} from a missing list, for showing next to the fields. */
function missingByField(missing) {
  const out = {}
  ;(missing || []).forEach(m => {
    out[m.field] = out[m.field] ? `${out[m.field]}；${m.message}` : m.message
  })
  return out
}

/** What a refused submit (or withdraw) tells the secretary. */
function moveErrorText(err) {
  if (err && err.offline) return '网络不可用。草稿已保存在手机上，请到有信号处再提交。'
  if (err && err.code === 'application_incomplete') {
    const missing = (err.details && err.details.missing) || []
    return missing.length
      ? `申报表还不完整：\n${missing.map(m => `· ${m.message}`).join('\n')}`
      : view.errorMessage(err)
  }
  if (err && err.status === 409) return view.errorMessage(err, '项目状态已变化，请刷新后再试')
  return view.errorMessage(err, '提交失败，请稍后重试')
}

// ---- the form's lists ------------------------------------------------------------------------

/** A copy of the form with one list row changed (targets: a string; steps: a field of a row). */
function setRow(form, list, index, field, value) {
  const rows = form[list].map((row, i) => {
    if (i !== index) return row
    return list === 'targets' ? String(value) : { ...row, [field]: String(value) }
  })
  return { ...form, [list]: rows }
}

/** A copy of the form with an empty row added to targets or steps (up to the server's limit). */
function addRow(form, list) {
  const max = list === 'targets' ? MAX_TARGETS : MAX_STEPS
  if (form[list].length >= max) return form
  return {
    ...form,
    [list]: form[list].concat([list === 'targets' ? '' : { name: '', deadline: '' }])
  }
}

/** A copy of the form without one row (one empty row stays, to type into). */
function removeRow(form, list, index) {
  const rows = form[list].filter((row, i) => i !== index)
  if (!rows.length) rows.push(list === 'targets' ? '' : { name: '', deadline: '' })
  return { ...form, [list]: rows }
}

/** Toggle a village (several may be chosen); choosing villages drops a unit site. */
function toggleVillage(form, id) {
  const ids =
    form.village_ids.indexOf(id) >= 0
      ? form.village_ids.filter(v => v !== id)
      : form.village_ids.concat([id])
  return { ...form, village_ids: ids, site_id: ids.length ? null : form.site_id }
}

/** Choose (or clear) the unit site; a site replaces the villages. */
function toggleSite(form, id) {
  const siteId = form.site_id === id ? null : id
  return { ...form, site_id: siteId, village_ids: siteId ? [] : form.village_ids }
}

/** The years a new application may be for: this year and the next two. */
function yearChoices(now) {
  const y = Number(view.formatDate(now || new Date()).slice(0, 4))
  return [y, y + 1, y + 2]
}

// ---- drafts kept on the phone ---------------------------------------------------------------

/** The key a draft is kept under: its local_project, or "p<id>" for a server draft. */
function draftKey(draft) {
  return draft.local_project || `p${draft.project_id}`
}

/** The kept draft of a server project among the drafts on the phone ({key: draft}), or null. */
function draftOfProject(all, projectId, queue) {
  const id = Number(projectId)
  return (
    Object.keys(all)
      .map(k => all[k])
      .find(
        d =>
          d.project_id === id ||
          (queue && d.local_project && queue.serverProjectId(d.local_project) === id)
      ) || null
  )
}

/** The outbox lane of a draft's writes. */
function laneOfDraft(draft) {
  return `project:${draft.local_project || draft.project_id}`
}

/** Drafts kept on the phone that the server does not know yet, for the workspace list. */
function unsentDrafts(all, queue) {
  return Object.keys(all)
    .map(k => all[k])
    .filter(d => !d.project_id && !(d.local_project && queue.serverProjectId(d.local_project)))
    .map(d => ({
      key: draftKey(d),
      title: trimmed(d.form && d.form.title) || '未命名申报',
      savedText: view.formatDateTime(d.saved_at)
    }))
}

module.exports = {
  DOMAINS,
  SELECTIONS,
  CATEGORIES,
  RESPONSIBLE_ROLES,
  RESPONSIBLE_HINTS,
  emptyForm,
  formFromProject,
  applicationFields,
  validateForSave,
  localMissing,
  missingByField,
  moveErrorText,
  setRow,
  addRow,
  removeRow,
  toggleVillage,
  toggleSite,
  yearChoices,
  draftKey,
  draftOfProject,
  laneOfDraft,
  unsentDrafts
}
