// 首页: where a user goes after login, and what a scanned code leads to.

const PROJECT_PAGE = '/pages/project/project'

/** True for users who do spot checks (they land on 今日任务). */
function isInspector(user) {
  return !!(user && Array.isArray(user.roles) && user.roles.includes('inspector'))
}

/** True for a project secretary (they land on 我的项目). */
function isSecretary(user) {
  return !!(user && Array.isArray(user.roles) && user.roles.includes('secretary'))
}

/** True for department staff of any kind (they may bind their account). */
function isStaff(user) {
  const staff = ['admin', 'leader', 'reviewer', 'inspector', 'secretary']
  return !!(user && Array.isArray(user.roles) && user.roles.some(r => staff.includes(r)))
}

function queryParam(query, name) {
  const pairs = String(query || '').split('&')
  for (let i = 0; i < pairs.length; i++) {
    const eq = pairs[i].indexOf('=')
    const key = eq < 0 ? pairs[i] : pairs[i].slice(0, eq)
    if (key === name) return eq < 0 ? '' : pairs[i].slice(eq + 1)
  }
  return null
}

function safeDecode(value) {
  try {
    return decodeURIComponent(value)
  } catch (e) {
    return value
  }
}

/**
 * The project page to open for a wx.scanCode result, or null when the code is not a project's.
 * A notice board carries either our mini-program code (scanCode answers its `path`, with the
 * scene) or, where no WeChat account is configured, a plain QR of the public page …/p/<id>.
 */
function projectUrlFromScan(res) {
  if (!res) return null
  if (res.path) {
    const [page, query] = String(res.path).split('?')
    const scene = queryParam(query, 'scene')
    if (scene) return `${PROJECT_PAGE}?scene=${encodeURIComponent(safeDecode(scene))}`
    const id = queryParam(query, 'id')
    if (/pages\/project\/project$/.test(page) && /^\d+$/.test(id || ''))
      return `${PROJECT_PAGE}?id=${id}`
    return null
  }
  const m = /\/p\/(\d+)(?:[/?#]|$)/.exec(String(res.result || ''))
  return m ? `${PROJECT_PAGE}?id=${m[1]}` : null
}

module.exports = { isInspector, isSecretary, isStaff, projectUrlFromScan, PROJECT_PAGE }
