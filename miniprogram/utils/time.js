// Timestamps as the server wants them: RFC 3339 with the phone's own UTC offset, so a record
// shows the wall-clock time the inspector saw and still converts to an exact instant.

function pad(n, width) {
  let s = String(Math.abs(Math.trunc(n)))
  while (s.length < (width || 2)) s = '0' + s
  return s
}

/** RFC 3339 text of a Date (or ms) in local time with offset, e.g. 2026-05-04T09:30:00.123+08:00. */
function rfc3339(value) {
  const d = value instanceof Date ? value : new Date(value === undefined ? Date.now() : value)
  // getTimezoneOffset is minutes *behind* UTC: China answers -480 for +08:00.
  const offset = -d.getTimezoneOffset()
  const local = new Date(d.getTime() + offset * 60000)
  const sign = offset >= 0 ? '+' : '-'
  return (
    `${local.getUTCFullYear()}-${pad(local.getUTCMonth() + 1)}-${pad(local.getUTCDate())}` +
    `T${pad(local.getUTCHours())}:${pad(local.getUTCMinutes())}:${pad(local.getUTCSeconds())}.${pad(local.getUTCMilliseconds(), 3)}` +
    `${sign}${pad(Math.floor(Math.abs(offset) / 60))}:${pad(Math.abs(offset) % 60)}`
  )
}

module.exports = { rfc3339 }
