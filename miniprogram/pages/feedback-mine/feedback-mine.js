// 我的反馈: what the villager sent, its status and due date, and the department's replies.
const view = require('../../utils/view')
const logic = require('./feedback-mine-logic')

const PER_PAGE = 50

Page({
  data: {
    loading: true,
    error: '',
    items: [],
    waiting: []
  },

  onLoad() {
    this.unsubscribe = getApp().queue.onChange(() => this.showWaiting())
  },

  onShow() {
    this.showWaiting()
    return this.load()
  },

  onUnload() {
    if (typeof this.unsubscribe === 'function') this.unsubscribe()
  },

  onPullDownRefresh() {
    return this.load().then(() => wx.stopPullDownRefresh())
  },

  showWaiting() {
    this.setData({ waiting: logic.waitingViews(getApp().queue.items()) })
  },

  load() {
    this.setData({ loading: true, error: '' })
    return view
      .getJson(getApp().api, `/feedback/mine?page=1&per_page=${PER_PAGE}`)
      .then(data => {
        const now = new Date()
        this.setData({
          loading: false,
          items: (data.items || []).map(f => logic.feedbackView(f, now))
        })
      })
      .catch(err =>
        this.setData({ loading: false, error: view.errorMessage(err, '未能加载我的反馈') })
      )
  },

  onPreview(e) {
    const url = e.currentTarget.dataset.url
    wx.previewImage({ urls: [url], current: url })
  }
})
