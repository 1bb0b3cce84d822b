// 整改通知: the list of the secretary's orders (open first, with deadlines), one order's findings,
// and the reply with photos through the outbox (one client_id: a retry never answers twice).
const album = require('../../utils/album')
const store = require('../../utils/store')
const view = require('../../utils/view')
const reportLogic = require('../report/report-logic')
const logic = require('./rectification-logic')

Page({
  data: {
    loading: true,
    error: '',
    orders: [],
    order: null,
    text: '',
    textError: '',
    photos: [],
    maxPhotos: logic.MAX_PHOTOS,
    replyState: null
  },

  onLoad(options) {
    this.projectId = options && options.project_id ? Number(options.project_id) : null
    this.orderId = options && options.id ? Number(options.id) : null
    this.unsubscribe = getApp().queue.onChange(() => this.showReply())
  },

  onShow() {
    return this.orderId ? this.loadOrder() : this.loadList()
  },

  onUnload() {
    if (typeof this.unsubscribe === 'function') this.unsubscribe()
  },

  loadList() {
    this.setData({ loading: true, error: '' })
    return view
      .getJson(getApp().api, '/rectifications?page=1&per_page=100')
      .then(data =>
        this.setData({ loading: false, orders: logic.orderRows(data.items, this.projectId) })
      )
      .catch(err =>
        this.setData({ loading: false, error: view.errorMessage(err, '未能读取整改通知') })
      )
  },

  loadOrder() {
    this.reply = store.loadReply(wx, this.orderId)
    this.setData({ text: this.reply.text })
    this.showReply()
    this.setData({ loading: true, error: '' })
    return view
      .getJson(getApp().api, `/rectifications/${this.orderId}`)
      .then(o => {
        const row = logic.orderRow(o)
        this.allowAlbum = album.albumAllowed(o)
        this.setData({
          loading: false,
          order: {
            ...row,
            items: o.items || [],
            note: o.note || '',
            response: o.response
              ? { text: o.response.text, timeText: view.formatDateTime(o.response.responded_at) }
              : null
          }
        })
        // The server has the reply: the phone's copy is done with.
        if (o.response && !this.data.replyState) store.removeReply(wx, this.orderId)
      })
      .catch(err =>
        this.setData({ loading: false, error: view.errorMessage(err, '未能读取整改通知') })
      )
  },

  showReply() {
    if (!this.reply) return
    const items = getApp().queue.items()
    // 拍摄于 HH:MM: when the phone's own clock says the photo was taken (for the reviewer, too).
    const rows = reportLogic.photoRows(this.reply.photos, items).map((r, i) => ({
      ...r,
      takenText: this.reply.photos[i].taken_at
        ? `拍摄于 ${view.formatTime(this.reply.photos[i].taken_at)}`
        : ''
    }))
    this.setData({
      photos: rows,
      replyState: logic.replyState(this.reply, items)
    })
  },

  keep() {
    store.saveReply(wx, this.orderId, this.reply)
    this.showReply()
  },

  onOpen(e) {
    wx.navigateTo({ url: `/pages/rectification/rectification?id=${e.currentTarget.dataset.id}` })
  },

  onText(e) {
    this.reply.text = String(e.detail.value || '')
    this.setData({ text: this.reply.text, textError: '' })
    store.saveReply(wx, this.orderId, this.reply)
  },

  onAddPhoto() {
    const left = logic.MAX_PHOTOS - this.reply.photos.length
    if (left <= 0) return Promise.resolve()
    return album.addToOutbox(
      getApp(),
      'rectification',
      left,
      photos => {
        this.reply.photos.push(...photos)
        this.keep()
      },
      this.allowAlbum
    )
  },

  onRemovePhoto(e) {
    const index = e.detail.index
    const photo = this.reply.photos[index]
    if (!photo || this.reply.client_id) return
    if (
      getApp()
        .queue.items()
        .some(i => i.client_id === photo.client_id) &&
      !getApp().queue.remove(photo.client_id)
    ) {
      wx.showToast({ title: '照片正在上传，请稍候再删除', icon: 'none' })
      return
    }
    this.reply.photos.splice(index, 1)
    this.keep()
  },

  /** The reply goes into the outbox once; later taps only send what waits. */
  onRespond() {
    const app = getApp()
    if (!this.reply.client_id) {
      const errors = logic.validateReply(this.reply)
      if (errors.text) {
        this.setData({ textError: errors.text })
        return Promise.resolve()
      }
      try {
        this.reply.client_id = app.queue.enqueue(
          logic.replyAction(this.orderId, this.reply)
        ).client_id
      } catch (err) {
        wx.showModal({
          title: '未能保存',
          content: view.errorMessage(err, '未能保存整改情况，请重试'),
          showCancel: false
        })
        return Promise.resolve()
      }
      this.keep()
    } else if (this.data.replyState && this.data.replyState.failed) {
      app.queue.retry(this.reply.client_id)
    }
    return app.flushQueue().then(() => {
      this.showReply()
      if (this.data.replyState) return null
      wx.showToast({ title: '整改情况已提交', icon: 'success' })
      return this.loadOrder()
    })
  }
})
