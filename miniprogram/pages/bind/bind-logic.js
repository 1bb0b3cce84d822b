// 绑定: the invite code a department administrator hands a staff member.

/** The code as typed, without spaces; the server's codes are 4–32 characters. */
function normalizeCode(raw) {
  return String(raw || '').replace(/\s+/g, '')
}

/** An error message for the code, or '' when it can be sent. */
function validateCode(code) {
  if (!code) return '请输入邀请码'
  if (code.length < 4 || code.length > 32) return '邀请码应为4至32位'
  return ''
}

module.exports = { normalizeCode, validateCode }
