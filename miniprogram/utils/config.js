// Where the mini-program finds its server, per WeChat environment. The hosts must also be on
// the mini-program's request and uploadFile domain lists (mp.weixin.qq.com → 开发管理 → 服务器域名).

const API_PATH = '/api/v1'

// develop: the developer tools on a laptop ("不校验合法域名" on); trial/release: HTTPS hosts.
const HOSTS = {
  develop: 'http://127.0.0.1:8000',
  trial: 'https://ducha-test.example.gov.cn',
  release: 'https://ducha.example.gov.cn'
}

// The subscribe-message template for "your feedback was answered" (公众平台 → 订阅消息). It is a
// public id, not a secret; the server sends with the same id (WECHAT_FEEDBACK_TEMPLATE_ID).
// Empty: the consent dialog is skipped and no notification is asked for.
const FEEDBACK_TEMPLATE_ID = ''

// The subscribe-message template for "your monthly report is due / overdue" (公众平台 → 订阅消息),
// public like the one above; the server sends with WECHAT_REPORT_TEMPLATE_ID. Empty: not asked for.
const REPORT_TEMPLATE_ID = ''

/** The API base URL (ending in /api/v1) for an envVersion: develop, trial or release (default). */
function apiBase(envVersion) {
  const host = HOSTS[envVersion] || HOSTS.release
  return host + API_PATH
}

module.exports = { apiBase, HOSTS, API_PATH, FEEDBACK_TEMPLATE_ID, REPORT_TEMPLATE_ID }
