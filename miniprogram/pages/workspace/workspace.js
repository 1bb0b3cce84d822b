// 我的项目: the project secretary's workspace — projects with this month's report, open
// rectification orders and villagers' feedback; applications being written; 新建申报.
const { uuid4 } = require('../../utils/uuid')
const store = require('../../utils/store')
const view = require('../../utils/view')
const logic = require('./workspace-logic')
const applicationLogic = require('../application/application-logic')

Page({
  data: {
    loading: false,
    offlineText: '',
    pendingText: '',
    projects: [],
    drafts: [],
    localDrafts: [],
    totals: { overdueReports: 0, openOrders: 0, feedback: 0 }
  },

  onLoad() {
    this.unsubscribe = getApp().queue.onChange(() => this.showLocal())
  },

  onShow() {
    const cached = store.readWorkspace(wx)
    if (cached) this.render(cached.items)
    this.showLocal()
    return this.refresh()
  },

  onUnload() {
    if (typeof this.unsubscribe === 'function') this.unsubscribe()
  },

  onPullDownRefresh() {
    return this.refresh().then(() => wx.stopPullDownRefresh())
  },

  render(items) {
    const split = logic.splitProjects(items)
    this.setData({ projects: split.projects, drafts: split.drafts, totals: logic.totals(items) })
  },

  /** What only this phone knows: drafts not yet on the server, writes still waiting. */
  showLocal() {
    const queue = getApp().queue
    this.setData({
      localDrafts: applicationLogic.unsentDrafts(store.loadDrafts(wx), queue),
      pendingText: view.pendingText(queue.pendingCount())
    })
  },

  refresh() {
    this.setData({ loading: true })
    return view
      .getJson(getApp().api, '/projects/mine')
      .then(data => {
        this.render(store.writeWorkspace(wx, data.items).items)
        this.setData({ loading: false, offlineText: '' })
        this.showLocal()
      })
      .catch(err => {
        const cached = store.readWorkspace(wx)
        const when = cached ? `，显示的是 ${view.formatDateTime(cached.fetched_at)} 的情况` : ''
        this.setData({
          loading: false,
          offlineText: `${view.errorMessage(err, '刷新失败')}${when}`
        })
      })
  },

  onNew() {
    wx.navigateTo({ url: '/pages/application/application' })
  },

  onOpenDraft(e) {
    wx.navigateTo({ url: `/pages/application/application?id=${e.currentTarget.dataset.id}` })
  },

  onOpenLocalDraft(e) {
    wx.navigateTo({
      url: `/pages/application/application?local=${encodeURIComponent(e.currentTarget.dataset.key)}`
    })
  },

  onReport(e) {
    wx.navigateTo({ url: `/pages/report/report?project_id=${e.currentTarget.dataset.id}` })
  },

  onRectifications(e) {
    const id = e.currentTarget.dataset.id
    wx.navigateTo({
      url: id
        ? `/pages/rectification/rectification?project_id=${id}`
        : '/pages/rectification/rectification'
    })
  },

  onFeedback(e) {
    const id = e.currentTarget.dataset.id
    wx.navigateTo({
      url: id
        ? `/pages/project-feedback/project-feedback?project_id=${id}`
        : '/pages/project-feedback/project-feedback'
    })
  },

  /** 开始实施 of an approved project (a retried tap reuses its client_id). */
  onStart(e) {
    const id = e.currentTarget.dataset.id
    this.startIds = this.startIds || {}
    const clientId = (this.startIds[id] = this.startIds[id] || uuid4())
    return getApp()
      .api.request('POST', `/projects/${id}/transitions`, {
        client_id: clientId,
        sent_at: view.isoTime(new Date()),
        action: 'start'
      })
      .then(() => {
        delete this.startIds[id]
        wx.showToast({ title: '项目已开始实施，请按月填写月报', icon: 'none' })
        return this.refresh()
      })
      .catch(err => {
        if (!err.offline) delete this.startIds[id]
        wx.showModal({
          title: '未能开始实施',
          content: view.errorMessage(err, '请稍后重试'),
          showCancel: false
        })
      })
  },

  onApplication(e) {
    wx.navigateTo({ url: `/pages/application/application?id=${e.currentTarget.dataset.id}` })
  }
})
