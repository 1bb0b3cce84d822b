// 今日任务: the inspector's open assignments, shown from the cache first and refreshed when online.
const view = require('../../utils/view')
const logic = require('./tasks-logic')
const visitLogic = require('../visit/visit-logic')

Page({
  data: {
    tasks: [],
    loading: false,
    offlineText: '',
    pendingText: '',
    nearCap: false
  },

  onLoad() {
    const app = getApp()
    this.unsubscribe = app.queue.onChange(() => this.showQueue())
  },

  onShow() {
    this.showQueue()
    this.showCached()
    return this.refresh()
  },

  onUnload() {
    if (typeof this.unsubscribe === 'function') this.unsubscribe()
  },

  onPullDownRefresh() {
    return this.refresh().then(() => wx.stopPullDownRefresh())
  },

  showQueue() {
    const app = getApp()
    this.setData({ pendingText: view.pendingText(app.queue.pendingCount()), nearCap: app.files.nearCap() })
  },

  showCached() {
    const cached = logic.readCache(wx)
    if (cached) this.render(cached.items)
  },

  render(items) {
    const now = new Date()
    const tasks = items.map(a => logic.taskView(a, visitLogic.loadLocalVisit(wx, a.id), now))
    this.setData({ tasks })
  },

  /** Fetch the assignments; without signal the cached list stays, with a note saying how old it is. */
  refresh() {
    const app = getApp()
    this.setData({ loading: true })
    return view.getJson(app.api, '/assignments')
      .then(data => {
        const cached = logic.writeCache(wx, data.items)
        this.render(cached.items)
        this.setData({ loading: false, offlineText: '' })
      })
      .catch(err => {
        const cached = logic.readCache(wx)
        const when = cached ? `，显示的是 ${view.formatDateTime(cached.fetched_at)} 的任务` : ''
        this.setData({ loading: false, offlineText: `${view.errorMessage(err, '任务刷新失败')}${when}` })
      })
  },

  onNavigate(e) {
    const a = logic.findAssignment(wx, e.currentTarget.dataset.id)
    const options = a && logic.navigationOptions(a)
    if (!options) {
      wx.showToast({ title: '该任务没有位置信息', icon: 'none' })
      return
    }
    wx.openLocation({ ...options, type: 'gcj02' })
  },

  onOpen(e) {
    wx.navigateTo({ url: `/pages/visit/visit?assignment_id=${e.currentTarget.dataset.id}` })
  }
})
