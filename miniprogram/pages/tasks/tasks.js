// 今日任务: the inspector's open assignments, shown from the cache first and refreshed when online.
const view = require('../../utils/view')
const store = require('../../utils/store')
const sync = require('../../utils/sync')
const logic = require('./tasks-logic')

Page({
  data: {
    tasks: [],
    loading: false,
    offlineText: '',
    pendingText: '',
    nearCap: false,
    sync: null,
    localVisits: []
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

  /** The sync panel over every record of the outbox, and this phone's own visits. */
  showQueue() {
    const app = getApp()
    const panel = sync.panel(app.queue, { online: app.online })
    // Photos are retaken and visits exported on their visit page: the task list leads there.
    panel.rows = panel.rows.map(r => ({
      ...r,
      actions: r.actions
        .filter(a => a.key === 'retry' || a.key === 'delete' || a.key === 'privacy')
        .concat(
          r.local_visit &&
            r.actions.some(a => ['retake', 'compress', 'export', 'keep'].indexOf(a.key) >= 0)
            ? [{ key: 'open', text: '去处理' }]
            : []
        )
    }))
    const cached = store.readAssignments(wx)
    this.setData({
      pendingText: view.pendingText(app.queue.pendingCount()),
      nearCap: app.files.nearCap(),
      sync: panel,
      localVisits: this.localVisits(cached ? cached.items : [])
    })
  },

  /** 本机记录 rows for the listed assignments; confirmed visits whose task is gone are forgotten. */
  localVisits(listed) {
    const queue = getApp().queue
    const visits = store.loadLocalVisits(wx)
    logic.forgettableVisits(visits, queue, listed).forEach(id => store.forgetLocalVisit(wx, id))
    return logic.localVisitRows(visits, queue, listed)
  },

  showCached() {
    const cached = store.readAssignments(wx)
    if (cached) this.render(cached.items)
  },

  onSyncAction(e) {
    const { id, action } = e.currentTarget.dataset
    const app = getApp()
    const item = app.queue.items().find(i => i.id === id)
    if (action === 'retry') {
      app.queue.retry(id)
      app.flushQueue()
    } else if (action === 'delete') {
      return new Promise(resolve =>
        wx.showModal({
          title: '删除记录',
          content: '放弃这条未被接收的记录吗？',
          success: res => {
            if (res.confirm) app.queue.remove(id)
            this.showQueue()
            resolve()
          },
          fail: () => resolve()
        })
      )
    } else if (action === 'privacy' && app.privacy) {
      return app.privacy.ask()
    } else if (action === 'open' && item) {
      const local = this.localVisits([]).find(v => v.local_visit === item.local_visit)
      if (local) wx.navigateTo({ url: `/pages/visit/visit?assignment_id=${local.assignment_id}` })
    }
    this.showQueue()
    return Promise.resolve()
  },

  render(items) {
    const now = new Date()
    const tasks = items.map(a => logic.taskView(a, store.loadLocalVisit(wx, a.id), now))
    this.setData({ tasks })
  },

  /** Fetch the assignments; without signal the cached list stays, with a note saying how old it is. */
  refresh() {
    const app = getApp()
    this.setData({ loading: true })
    return view
      .getJson(app.api, '/assignments')
      .then(data => {
        const cached = store.writeAssignments(wx, data.items)
        this.render(cached.items)
        this.setData({ loading: false, offlineText: '' })
        this.showQueue()
      })
      .catch(err => {
        const cached = store.readAssignments(wx)
        const when = cached ? `，显示的是 ${view.formatDateTime(cached.fetched_at)} 的任务` : ''
        this.setData({
          loading: false,
          offlineText: `${view.errorMessage(err, '任务刷新失败')}${when}`
        })
      })
  },

  onNavigate(e) {
    const a = logic.findAssignment(store.readAssignments(wx), e.currentTarget.dataset.id)
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
