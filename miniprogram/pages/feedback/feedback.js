// 我要反馈: a villager's opinion on a project, with photos; sent through the queue so a weak
// signal at the notice board loses nothing. Shows the receipt number once the server answered.
const config = require('../../utils/config')
const album = require('../../utils/album')
const view = require('../../utils/view')
const logic = require('./feedback-logic')

/** Ask for the reply notice; resolves true only when the villager accepted. */
function askReplyNotice(templateId) {
  if (!templateId || typeof wx.requestSubscribeMessage !== 'function') return Promise.resolve(false)
  return new Promise(resolve => {
    wx.requestSubscribeMessage({
      tmplIds: [templateId],
      success: res => resolve(res[templateId] === 'accept'),
      fail: () => resolve(false)
    })
  })
}

Page({
  data: {
    projectId: null,
    projectTitle: '',
    ratings: logic.RATINGS,
    categories: logic.CATEGORIES,
    maxText: logic.MAX_TEXT,
    form: logic.emptyForm(),
    counter: logic.textCounter(''),
    maxPhotos: logic.MAX_PHOTOS,
    errors: {},
    askNotice: false,
    sending: false,
    sent: false,
    receipt: null
  },

  onLoad(options) {
    const title = options.title ? decodeURIComponent(options.title) : ''
    // The project page passes its policy along (allow_album=1); without it, the camera only.
    this.allowAlbum = options.allow_album === '1'
    this.setData({
      projectId: Number(options.project_id) || null,
      projectTitle: title,
      askNotice: !!logic.replyTemplateId(config)
    })
  },

  onUnload() {
    if (typeof this.unsubscribe === 'function') this.unsubscribe()
  },

  setForm(patch) {
    const form = { ...this.data.form, ...patch }
    const errors = { ...this.data.errors }
    Object.keys(patch).forEach(k => {
      delete errors[k]
    })
    this.setData({ form, errors, counter: logic.textCounter(form.text) })
  },

  onRating(e) {
    this.setForm({ rating: e.currentTarget.dataset.value })
  },

  onCategory(e) {
    this.setForm({ category: e.currentTarget.dataset.value })
  },

  onText(e) {
    this.setForm({ text: e.detail.value })
  },

  onPhone(e) {
    this.setForm({ phone: e.detail.value })
  },

  onAnonymous(e) {
    this.setForm({ anonymous: !!e.detail.value })
  },

  /** The camera, as everywhere; the album only where the project's policy allows it. */
  onAddPhoto() {
    const left = logic.photosLeft(this.data.form.photos)
    if (!left) {
      wx.showToast({ title: `最多上传${logic.MAX_PHOTOS}张照片`, icon: 'none' })
      return Promise.resolve()
    }
    return album
      .choosePhotos(left, this.allowAlbum)
      .then(res => {
        const added = (res.tempFiles || [])
          .slice(0, left)
          .map(f => ({ path: f.tempFilePath, size: f.size }))
        this.setForm({ photos: this.data.form.photos.concat(added) })
      })
      .catch(() => {})
  },

  onRemovePhoto(e) {
    const index = e.detail.index
    this.setForm({ photos: this.data.form.photos.filter((p, i) => i !== index) })
  },

  onSubmit() {
    if (this.data.sending || this.data.sent) return Promise.resolve(false)
    const form = this.data.form
    const errors = logic.validateFeedback(form)
    if (!this.data.projectId) errors.project = '未找到项目，请重新扫码'
    this.setData({ errors })
    if (Object.keys(errors).length) return Promise.resolve(false)
    this.setData({ sending: true })
    // The subscribe dialog must open from the tap itself, before anything asynchronous.
    return askReplyNotice(logic.replyTemplateId(config))
      .then(notify => this.send(form, notify))
      .catch(err => {
        this.setData({ sending: false })
        wx.showModal({
          title: '未能提交',
          content: view.errorMessage(err, '未能保存反馈，请重试'),
          showCancel: false
        })
        return false
      })
  },

  /** Photos first, then the feedback naming them; all into the queue, then try to send. */
  send(form, notify) {
    const app = getApp()
    const photoIds = []
    let item
    try {
      form.photos.forEach(p => photoIds.push(app.queue.enqueue(logic.photoAction(p)).client_id))
      item = app.queue.enqueue(logic.feedbackAction(this.data.projectId, form, photoIds, notify))
    } catch (err) {
      // Nothing half-sent: photos without their feedback would only waste the villager's data.
      photoIds.forEach(id => app.queue.remove(id))
      throw err
    }
    this.feedbackClientId = item.client_id
    this.unsubscribe = app.queue.onChange(() => this.showReceipt())
    this.setData({ sending: false, sent: true })
    this.showReceipt()
    app.flushQueue()
    return true
  },

  showReceipt() {
    const queue = getApp().queue
    const id = this.feedbackClientId
    const item = queue.items().find(i => i.client_id === id)
    this.setData({ receipt: logic.receiptView(queue.result(id), item) })
  },

  onMine() {
    wx.redirectTo({ url: '/pages/feedback-mine/feedback-mine' })
  },

  onBack() {
    wx.navigateBack({ delta: 1 })
  }
})
