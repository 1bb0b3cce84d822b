// 月报: this month's progress report of one project — text and up to 9 photos, kept on the phone
// and sent through the outbox (photos through the shared uploader, resumable; originals kept
// until the server has them). Saving a draft and handing in are the same write with submit.
const config = require('../../utils/config')
const album = require('../../utils/album')
const store = require('../../utils/store')
const view = require('../../utils/view')
const logic = require('./report-logic')

const TEMPLATE = 'report_reminder'

Page({
  data: {
    loading: true,
    error: '',
    notStarted: false,
    months: [],
    monthIndex: 0,
    month: '',
    due: { text: '', overdue: false },
    overdueText: '',
    text: '',
    maxText: logic.MAX_TEXT,
    textError: '',
    photos: [],
    maxPhotos: logic.MAX_PHOTOS,
    submitted: false,
    sync: null,
    busy: false,
    askReminder: !!config.REPORT_TEMPLATE_ID,
    history: []
  },

  onLoad(options) {
    this.projectId = Number(options.project_id)
    this.unsubscribe = getApp().queue.onChange(() => this.showQueue())
  },

  onShow() {
    return this.load()
  },

  onUnload() {
    if (typeof this.unsubscribe === 'function') this.unsubscribe()
  },

  /** The project's reports and where it stands; without signal the phone's copy still opens. */
  load() {
    this.setData({ loading: true, error: '' })
    return view
      .getJson(getApp().api, `/projects/${this.projectId}/reports`)
      .then(data => {
        this.server = data
        const months = logic.monthChoices(data.state, data.items)
        const keep = months.findIndex(m => m.month === this.data.month)
        const overdue = (data.state && data.state.overdue_months) || []
        this.setData({
          loading: false,
          notStarted: !(data.state && data.state.month),
          months,
          overdueText: overdue.length ? `逾期未报：${overdue.join('、')}` : '',
          history: (data.items || []).map(r => ({
            month: r.month,
            statusLabel: r.status_label,
            submitted: r.status === 'submitted'
          }))
        })
        if (months.length) this.openMonth(months[keep >= 0 ? keep : 0].month)
        else this.setData({ month: '', submitted: true })
      })
      .catch(err => {
        this.setData({ loading: false, error: view.errorMessage(err, '未能读取月报') })
        if (this.data.month) this.openMonth(this.data.month)
      })
  },

  serverReport(month) {
    return ((this.server && this.server.items) || []).find(r => r.month === month) || null
  },

  openMonth(month) {
    const server = this.serverReport(month)
    this.local = store.loadReport(wx, this.projectId, month) || logic.startFrom(server)
    const due =
      (server && server.due) ||
      (this.server && this.server.state && this.server.state.month === month
        ? this.server.state.due
        : '')
    this.setData({
      month,
      monthIndex: Math.max(
        0,
        this.data.months.findIndex(m => m.month === month)
      ),
      due: logic.dueText(due),
      text: this.local.text,
      textError: '',
      submitted: !!(server && server.status === 'submitted')
    })
    this.showQueue()
  },

  /** Photos' progress and the report's own write, from the outbox. */
  showQueue() {
    if (!this.local) return
    const items = getApp().queue.items()
    const mine = items.filter(
      i => i.kind === 'report' && i.project_id === this.projectId && i.month === this.data.month
    )
    this.setData({
      photos: logic.photoRows(this.local.photos, items),
      sync: logic.syncLine(this.local, mine[mine.length - 1])
    })
  },

  keep() {
    store.saveReport(wx, this.projectId, this.data.month, this.local)
    this.showQueue()
  },

  onMonth(e) {
    const choice = this.data.months[Number(e.detail.value)]
    if (choice) this.openMonth(choice.month)
  },

  /** Every keystroke is kept on the phone: nothing typed is lost when the app is killed. */
  onText(e) {
    this.local.text = String(e.detail.value || '')
    this.setData({ text: this.local.text, textError: '' })
    store.saveReport(wx, this.projectId, this.data.month, this.local)
  },

  /** Photos go into the outbox at once, so they upload while the secretary writes. */
  onAddPhoto() {
    const left = logic.MAX_PHOTOS - this.local.photos.length
    if (left <= 0) {
      wx.showToast({ title: `最多${logic.MAX_PHOTOS}张照片`, icon: 'none' })
      return Promise.resolve()
    }
    return album.addToOutbox(
      getApp(),
      'report',
      left,
      photos => {
        this.local.photos.push(...photos)
        this.keep()
      },
      album.albumAllowed(this.server)
    )
  },

  onRemovePhoto(e) {
    const index = e.detail.index
    const photo = this.local.photos[index]
    if (!photo) return
    const queue = getApp().queue
    if (
      photo.client_id &&
      queue.items().some(i => i.client_id === photo.client_id) &&
      !queue.remove(photo.client_id)
    ) {
      wx.showToast({ title: '照片正在上传，请稍候再删除', icon: 'none' })
      return
    }
    this.local.photos.splice(index, 1)
    this.keep()
  },

  onSave() {
    return this.write(false)
  },

  /** Hand in: ask for the reminder first (the dialog must open from the tap), then write. */
  onSubmit() {
    const errors = logic.validateSubmit(this.local && this.local.text)
    if (errors.text) {
      this.setData({ textError: errors.text })
      return Promise.resolve()
    }
    return this.askReminder().then(() => this.write(true))
  },

  onRemind() {
    return this.askReminder().then(n => {
      wx.showToast({ title: n ? '已开启月报提醒' : '未开启提醒', icon: 'none' })
    })
  },

  /** wx.requestSubscribeMessage for the report reminder; tells the server how many were accepted. */
  askReminder() {
    const id = config.REPORT_TEMPLATE_ID
    if (!id || typeof wx.requestSubscribeMessage !== 'function') return Promise.resolve(0)
    return new Promise(resolve => {
      wx.requestSubscribeMessage({
        tmplIds: [id],
        success: res => resolve(logic.acceptedCount(res, [id])),
        fail: () => resolve(0)
      })
    }).then(n => {
      if (!n) return 0
      return getApp()
        .api.request('POST', '/me/subscriptions', { template: TEMPLATE, accepted: n })
        .then(
          () => n,
          () => n
        )
    })
  },

  write(submit) {
    if (this.data.busy || !this.data.month || this.data.submitted) return Promise.resolve()
    const app = getApp()
    // A save the server refused is superseded by this newer one.
    app.queue
      .items()
      .filter(
        i =>
          i.kind === 'report' &&
          i.status === 'failed' &&
          i.project_id === this.projectId &&
          i.month === this.data.month
      )
      .forEach(i => app.queue.remove(i.id))
    try {
      app.queue.enqueue(
        logic.reportAction(
          this.projectId,
          this.data.month,
          this.local.text,
          this.local.photos,
          app.queue,
          submit
        )
      )
    } catch (err) {
      wx.showModal({
        title: '未能保存',
        content: view.errorMessage(err, '未能保存月报，请重试'),
        showCancel: false
      })
      return Promise.resolve()
    }
    this.local.submitting = !!submit
    this.local.saved_at = view.isoTime(new Date())
    this.keep()
    this.setData({ busy: true })
    return app.flushQueue().then(() => {
      this.setData({ busy: false })
      const waiting = app.queue
        .items()
        .some(
          i =>
            (i.kind === 'report' &&
              i.project_id === this.projectId &&
              i.month === this.data.month) ||
            this.local.photos.some(p => p.client_id === i.client_id)
        )
      if (waiting) {
        this.showQueue()
        wx.showToast({ title: '已保存在手机上，有信号后自动上传', icon: 'none' })
        return null
      }
      // The server holds everything: its copy is the one to show from now on.
      store.removeReport(wx, this.projectId, this.data.month)
      wx.showToast({ title: submit ? '月报已提交' : '草稿已保存', icon: 'success' })
      return this.load()
    })
  }
})
