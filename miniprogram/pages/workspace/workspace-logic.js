// 我的项目: the secretary's projects at a glance, cached for use without signal.
const view = require('../../utils/view')

// Statuses whose monthly reports are owed (the server says which month; these show the button).
const REPORTING = ['in_progress', 'accepted']

const STATUS_TAGS = {
  draft: 'tag-warn',
  submitted: 'tag-warn',
  unit_reviewed: 'tag-warn',
  approved: 'tag-ok',
  in_progress: 'tag-ok',
  accepted: 'tag-ok'
}

/** This month's report as the card reads it: {text, tag} (or null when no report is owed). */
function reportLine(report) {
  if (!report || !report.month) return null
  const due = view.formatDate(report.due)
  if (report.status === 'submitted') return { text: `${report.month} 月报已提交`, tag: 'tag-ok' }
  if (report.status === 'draft')
    return { text: `${report.month} 月报草稿未提交，${due} 前提交`, tag: 'tag-warn' }
  return { text: `${report.month} 月报未填写，${due} 前提交`, tag: 'tag-warn' }
}

/** "逾期未报：2026-03、2026-04", or ''. */
function overdueLine(report) {
  const months = (report && report.overdue_months) || []
  return months.length ? `逾期未报：${months.join('、')}` : ''
}

/** Open rectification orders: {text, tag} or null when none is open. */
function rectificationLine(r) {
  if (!r || !r.open) return null
  const next = r.next_deadline ? `，最近期限 ${view.formatDate(r.next_deadline)}` : ''
  const overdue = r.overdue ? `（${r.overdue} 项已逾期）` : ''
  return {
    text: `待整改 ${r.open} 项${next}${overdue}`,
    tag: r.overdue ? 'tag-danger' : 'tag-warn'
  }
}

/** One project card. */
function projectCard(p) {
  return {
    id: p.id,
    title: p.title,
    year: p.year,
    statusLabel: p.status_label,
    statusTag: STATUS_TAGS[p.status] || '',
    place: (p.places || []).map(pl => pl.name).join('、'),
    report: reportLine(p.report),
    overdueText: overdueLine(p.report),
    canReport: REPORTING.indexOf(p.status) >= 0 && !!(p.report && p.report.month),
    rectification: rectificationLine(p.rectifications),
    feedbackText: p.feedback_waiting ? `群众意见待办理 ${p.feedback_waiting} 条` : '',
    canStart: (p.actions || []).indexOf('start') >= 0
  }
}

/** The list split into running projects (cards) and applications still being written (drafts). */
function splitProjects(items) {
  const projects = []
  const drafts = []
  ;(items || []).forEach(p => {
    if (p.status === 'draft') drafts.push({ id: p.id, title: p.title, year: p.year })
    else projects.push(projectCard(p))
  })
  return { projects, drafts }
}

/** Counters for the page's header: reports overdue, orders open, feedback waiting. */
function totals(items) {
  const t = { overdueReports: 0, openOrders: 0, feedback: 0 }
  ;(items || []).forEach(p => {
    t.overdueReports += ((p.report && p.report.overdue_months) || []).length
    t.openOrders += (p.rectifications && p.rectifications.open) || 0
    t.feedback += p.feedback_waiting || 0
  })
  return t
}

module.exports = { reportLine, overdueLine, rectificationLine, projectCard, splitProjects, totals }
