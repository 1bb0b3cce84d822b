// Photo originals kept on the phone until the server confirmed them. Camera temp files may be
// cleaned up by WeChat once the app is in the background, so a photo is copied into the user
// data folder before it is queued; WeChat caps that folder at 200 MB per mini-program.

const CAP_BYTES = 200 * 1024 * 1024
const WARN_BYTES = 150 * 1024 * 1024
const PREFIX = 'outbox-'

let counter = 0

function extensionOf(path) {
  const m = /\.([A-Za-z0-9]{1,5})$/.exec(String(path || ''))
  return m ? m[1].toLowerCase() : 'jpg'
}

// fsm.statSync(dir, true) answers an array [{path, stats}] on current base libraries and an
// object {path: stats} on older ones; a plain file answers one Stats.
function sumSizes(result) {
  if (!result) return 0
  if (Array.isArray(result)) {
    return result.reduce((n, e) => n + (e && e.stats && !isDir(e.stats) ? e.stats.size || 0 : 0), 0)
  }
  if (typeof result.size === 'number' && typeof result.isDirectory === 'function') {
    return isDir(result) ? 0 : result.size
  }
  return Object.keys(result).reduce(
    (n, k) => n + (result[k] && !isDir(result[k]) ? result[k].size || 0 : 0),
    0
  )
}

function isDir(stats) {
  return typeof stats.isDirectory === 'function' ? stats.isDirectory() : false
}

/** The store of kept photos: createFiles({ wx }) → { keep, remove, usedBytes, nearCap, size, isKept, listKept }. */
function createFiles(options) {
  const wx = options.wx
  const fsm = () => wx.getFileSystemManager()
  const root = () => wx.env.USER_DATA_PATH
  // Bytes in the user data folder: walked once, then kept up to date by keep/remove, so the
  // pages can ask on every progress event without a synchronous walk of the folder each time.
  let used = null

  /** True when the path is already in the user data folder (kept across restarts). */
  function isKept(path) {
    return typeof path === 'string' && path.indexOf(root() + '/') === 0
  }

  /** Copy a temp file (camera/chooseMedia) into user data; returns the kept path. Throws when full. */
  function keep(tempPath) {
    if (isKept(tempPath)) return tempPath
    counter = (counter + 1) % 1e6
    const name = `${PREFIX}${Date.now()}-${counter}-${Math.floor(Math.random() * 1e6)}.${extensionOf(tempPath)}`
    const target = `${root()}/${name}`
    const saved = fsm().saveFileSync(tempPath, target) || target
    if (used !== null) used += size(saved) || 0
    return saved
  }

  /** Delete a kept file; a file already gone is fine (removal is the goal). */
  function remove(path) {
    if (!path) return
    const bytes = used !== null ? size(path) || 0 : 0
    try {
      fsm().unlinkSync(path)
      if (used !== null) used = Math.max(0, used - bytes)
    } catch (e) {
      if (!/no such file|not exist|ENOENT/i.test(String((e && (e.errMsg || e.message)) || e)))
        throw e
    }
  }

  /** Size in bytes of one file, or null when it cannot be read. */
  function size(path) {
    try {
      const st = fsm().statSync(path)
      return st && typeof st.size === 'number' ? st.size : null
    } catch (e) {
      return null
    }
  }

  /** Bytes used in the user data folder (what counts against WeChat's 200 MB cap), kept running. */
  function usedBytes() {
    if (used === null) {
      try {
        used = sumSizes(fsm().statSync(root(), true))
      } catch (e) {
        return 0
      }
    }
    return used
  }

  /** Paths of every original this store kept (for the sweep of orphans at start). */
  function listKept() {
    try {
      return (fsm().readdirSync(root()) || [])
        .filter(n => n.indexOf(PREFIX) === 0)
        .map(n => `${root()}/${n}`)
    } catch (e) {
      return []
    }
  }

  /** True from 150 MB on: time to warn the inspector to get signal before taking more photos. */
  function nearCap() {
    return usedBytes() >= WARN_BYTES
  }

  return { keep, remove, size, usedBytes, nearCap, isKept, listKept }
}

module.exports = { createFiles, CAP_BYTES, WARN_BYTES }
