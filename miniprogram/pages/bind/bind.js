// 绑定: link this WeChat to a staff account with a one-time invite code (needs signal).
const view = require('../../utils/view')
const indexLogic = require('../index/index-logic')
const logic = require('./bind-logic')

Page({
  data: {
    code: '',
    error: '',
    sending: false
  },

  onInput(e) {
    this.setData({ code: e.detail.value, error: '' })
  },

  onBind() {
    if (this.data.sending) return Promise.resolve()
    const code = logic.normalizeCode(this.data.code)
    const error = logic.validateCode(code)
    if (error) {
      this.setData({ error })
      return Promise.resolve()
    }
    this.setData({ sending: true, error: '' })
    return getApp()
      .api.bind(code)
      .then(user => {
        this.setData({ sending: false })
        wx.showToast({ title: '绑定成功', icon: 'success' })
        wx.reLaunch({
          url: indexLogic.isInspector(user) ? '/pages/tasks/tasks' : '/pages/index/index'
        })
      })
      .catch(err => {
        this.setData({ sending: false, error: view.errorMessage(err, '绑定失败，请核对邀请码') })
      })
  }
})
