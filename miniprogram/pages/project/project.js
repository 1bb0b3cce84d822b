// 项目公示: what a villager sees after scanning the notice board: promises, people, progress.
const album = require('../../utils/album')
const view = require('../../utils/view')
const logic = require('./project-logic')

const PUBLIC = { auth: false }

Page({
  data: {
    loading: true,
    error: '',
    project: null
  },

  onLoad(options) {
    this.pageOptions = options || {}
    return this.load()
  },

  onPullDownRefresh() {
    return this.load().then(() => wx.stopPullDownRefresh())
  },

  /** Resolve the scene (if the page was opened from a code) to the project id, then read the record. */
  resolveId() {
    const id = logic.idFromOptions(this.pageOptions)
    if (id) return Promise.resolve(id)
    const scene = logic.sceneFromOptions(this.pageOptions)
    if (!scene) return Promise.reject({ data: { error: { message: '请扫描公示栏上的二维码' } } })
    return view
      .getJson(getApp().api, `/public/scene/${encodeURIComponent(scene)}`, PUBLIC)
      .then(d => d.project_id)
  },

  load() {
    this.setData({ loading: true, error: '' })
    return this.resolveId()
      .then(id => view.getJson(getApp().api, `/public/projects/${id}`, PUBLIC))
      .then(record => {
        this.allowAlbum = album.albumAllowed(record)
        this.setData({ loading: false, project: logic.projectView(record) })
      })
      .catch(err => {
        this.setData({ loading: false, error: view.errorMessage(err, '未能打开项目，请稍后重试') })
      })
  },

  onRetry() {
    return this.load()
  },

  onFeedback() {
    const p = this.data.project
    if (!p) return
    const policy = this.allowAlbum ? '&allow_album=1' : ''
    wx.navigateTo({
      url: `/pages/feedback/feedback?project_id=${p.id}&title=${encodeURIComponent(p.title)}${policy}`
    })
  },

  onMine() {
    wx.navigateTo({ url: '/pages/feedback-mine/feedback-mine' })
  }
})
