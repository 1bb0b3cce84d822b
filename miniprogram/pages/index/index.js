// 首页: log in through WeChat, send inspectors to 今日任务 and project secretaries to 我的项目, give
// villagers the way to a project.
const view = require('../../utils/view')
const logic = require('./index-logic')

Page({
  data: {
    loading: true,
    error: '',
    user: null,
    staff: false
  },

  onLoad() {
    return this.start()
  },

  /** Log in (or use the stored session when there is no signal) and route by role. */
  start() {
    const api = getApp().api
    this.setData({ loading: true, error: '' })
    return Promise.resolve(api.ensureLogin())
      .then(user => user || api.user())
      .catch(err => {
        const stored = api.user()
        if (stored) return stored
        throw err
      })
      .then(user => {
        if (logic.isInspector(user)) {
          wx.reLaunch({ url: '/pages/tasks/tasks' })
          return
        }
        if (logic.isSecretary(user)) {
          wx.reLaunch({ url: '/pages/workspace/workspace' })
          return
        }
        this.setData({ loading: false, user, staff: logic.isStaff(user) })
      })
      .catch(err => {
        this.setData({ loading: false, error: view.errorMessage(err, '登录失败，请稍后重试') })
      })
  },

  onRetry() {
    return this.start()
  },

  onScan() {
    return new Promise(resolve => {
      wx.scanCode({
        scanType: ['qrCode', 'wxCode'],
        success: res => {
          const url = logic.projectUrlFromScan(res)
          if (url) wx.navigateTo({ url })
          else wx.showToast({ title: '这不是书记项目公示栏的二维码', icon: 'none' })
          resolve(url)
        },
        fail: () => resolve(null)
      })
    })
  },

  onMine() {
    wx.navigateTo({ url: '/pages/feedback-mine/feedback-mine' })
  },

  onBind() {
    wx.navigateTo({ url: '/pages/bind/bind' })
  }
})
