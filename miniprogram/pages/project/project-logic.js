// 项目公示: from a notice-board code's scene to the public record, and how the record reads.

const RESPONSIBLE_ROLES = ['主管领导', '牵头书记', '联系组工干部', '工作队伍']

const STATUS_LABELS = {
  in_progress: '实施中',
  completed: '已完成',
  closed: '已结束'
}

/** The scene of a code (WeChat passes it URL-encoded in options.scene), or ''. */
function sceneFromOptions(options) {
  const raw = options && options.scene
  if (!raw) return ''
  try {
    return decodeURIComponent(raw)
  } catch (e) {
    return String(raw)
  }
}

/** The project id given directly (from a plain QR's …/p/<id> or a link), or null. */
function idFromOptions(options) {
  const id = Number(options && (options.id || options.project_id))
  return Number.isInteger(id) && id > 0 ? id : null
}

/** The public record as the page shows it. */
function projectView(record) {
  const responsible = record.responsible || {}
  const counts = record.feedback_counts || {}
  return {
    id: record.id,
    title: record.title,
    year: record.year,
    statusText: STATUS_LABELS[record.status] || '',
    organization: record.organization || '',
    places: (record.places || [])
      .map(p => [p.township, p.name].filter(Boolean).join(' '))
      .join('、'),
    steps: (record.steps || []).map((s, i) => ({
      index: i + 1,
      name: s.name,
      deadline: s.deadline,
      responsible: s.responsible,
      status: s.status
    })),
    targets: (record.targets || []).filter(Boolean),
    responsible: RESPONSIBLE_ROLES.map(role => ({ role, name: responsible[role] || '未公布' })),
    updates: record.updates || [],
    counts: ['满意', '基本满意', '不满意'].map(r => ({ rating: r, count: counts[r] || 0 })),
    acceptingFeedback: record.accepting_feedback !== false
  }
}

module.exports = { RESPONSIBLE_ROLES, sceneFromOptions, idFromOptions, projectView }
