// The sync panel (task list and visit page): online or not, when the phone last reached the
// server, overall progress, and for every waiting or refused record its reason in plain
// Chinese with the action that fixes it.

const view = require('./view')

const KIND_LABELS = {
  start_visit: '开始暗访',
  checkin: '签到',
  photo: '照片',
  interview: '走访记录',
  checklist: '检查结果',
  note: '备注',
  submit: '提交',
  feedback: '反馈',
  application: '申报表',
  application_edit: '申报表修改',
  transition: '申报操作',
  report: '月报',
  rectification_response: '整改情况'
}

const MB = 1024 * 1024

function mb(bytes) {
  return (Math.round(((bytes || 0) / MB) * 10) / 10).toFixed(1)
}

/** A refused record: {reason, hint, actions} from its error code. */
function failedReason(item) {
  const e = item.error || {}
  const photo = item.kind === 'photo'
  switch (e.code) {
    case 'photo_too_large': {
      const max = e.details && e.details.max_bytes
      return {
        reason: '照片过大',
        hint: max
          ? `超过服务器上限 ${mb(max)} MB，可压缩后上传（标注“已压缩”）`
          : '可压缩后上传（标注“已压缩”）',
        actions: ['compress', 'retake', 'delete']
      }
    }
    case 'photo_file_missing':
      return {
        reason: '文件丢失',
        hint: '照片原图已不在手机上，请重拍',
        actions: ['retake', 'delete']
      }
    case 'domain_not_configured':
      return {
        reason: '域名未配置',
        hint: e.message || '请联系管理员在小程序后台添加服务器域名',
        actions: ['retry']
      }
    case 'privacy_denied':
      return { reason: '未同意隐私保护指引', hint: '同意后才能上传', actions: ['privacy', 'retry'] }
    case 'assignment_closed':
      return {
        reason: '任务已结束',
        hint: `${e.message || '该督查任务已结束'}${e.details && e.details.closed_at ? `（结束于 ${view.formatDateTime(e.details.closed_at)}）` : ''}，服务器不再接收本次暗访；记录保留在本机，可导出`,
        actions: ['export', 'keep']
      }
    default:
      return {
        reason: e.message || '提交失败',
        hint: photo ? '可重拍或删除' : '可重试或删除',
        actions: photo ? ['retry', 'retake', 'delete'] : ['retry', 'delete']
      }
  }
}

/** A waiting record: why it has not gone yet. */
function waitingReason(item, st) {
  if (item.status === 'sending')
    return item.kind === 'photo' ? `上传中 ${Math.round(item.progress || 0)}%` : '发送中'
  if (item.kind === 'photo' && item.awaiting_fix) return '正在定位'
  if (st.offline) return '无网络，有信号后自动上传'
  const lane = item.local_visit && !item.feedback && !item.target ? item.local_visit : null
  const wait = lane && st.waits[lane]
  if (wait) return `服务器繁忙，${Math.max(1, Math.ceil((wait.until - st.now) / 1000))} 秒后重试`
  return '排队中'
}

const ACTION_TEXT = {
  retry: '重试',
  delete: '删除',
  retake: '重拍',
  compress: '压缩后上传',
  export: '导出',
  keep: '保留在本机',
  privacy: '查看并同意'
}

/**
 * The panel: panel(queue, { online, localVisit?, limit? }) → {onlineText, online, lastSyncText,
 * progressText, rows: [{id, kind, label, failed, reason, hint, actions: [{key, text}]}], more}.
 */
function panel(queue, opts) {
  const o = opts || {}
  const st = queue.status()
  const online = o.online !== false && !st.offline
  const items = queue.items().filter(i => !o.localVisit || i.local_visit === o.localVisit)
  const rows = items.map(i => {
    const failed = i.status === 'failed'
    const r = failed ? failedReason(i) : { reason: waitingReason(i, st), hint: '', actions: [] }
    return {
      id: i.id,
      kind: i.kind,
      label: KIND_LABELS[i.kind] || i.kind,
      failed,
      reason: r.reason,
      hint: r.hint,
      local_visit: i.local_visit || '',
      actions: r.actions.map(k => ({ key: k, text: ACTION_TEXT[k] }))
    }
  })
  // Refused records first: they need the inspector; the waiting ones only need signal.
  rows.sort((a, b) => (b.failed ? 1 : 0) - (a.failed ? 1 : 0))
  const limit = o.limit || 30
  const b = st.batch
  return {
    online,
    onlineText: online ? '在线' : '离线',
    lastSyncText: st.last_sync ? `上次同步 ${view.formatTime(st.last_sync)}` : '尚未同步',
    progressText:
      b && b.photos_total
        ? `照片 ${b.photos_done}/${b.photos_total} 张 · ${mb(b.bytes_done)}/${mb(b.bytes_total)} MB`
        : '',
    failedCount: rows.filter(r => r.failed).length,
    waitingCount: rows.filter(r => !r.failed).length,
    rows: rows.slice(0, limit),
    more: Math.max(0, rows.length - limit)
  }
}

module.exports = { panel, failedReason, waitingReason, KIND_LABELS }
