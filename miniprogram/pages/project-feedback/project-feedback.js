// 群众意见: what villagers said about my projects, with the department's replies (read-only: the
// department answers them).
const view = require('../../utils/view')
const logic = require('./project-feedback-logic')

const PER_PAGE = 50

Page({
  data: {
    loading: true,
    error: '',
    items: [],
    total: 0
  },

  onLoad(options) {
    this.projectId = options && options.project_id ? Number(options.project_id) : null
  },

  onShow() {
    return this.load()
  },

  onPullDownRefresh() {
    return this.load().then(() => wx.stopPullDownRefresh())
  },

  load() {
    this.setData({ loading: true, error: '' })
    const filter = this.projectId ? `&project_id=${this.projectId}` : ''
    return view
      .getJson(getApp().api, `/projects/feedback?page=1&per_page=${PER_PAGE}${filter}`)
      .then(data =>
        this.setData({
          loading: false,
          items: (data.items || []).map(logic.feedbackRow),
          total: data.total || 0
        })
      )
      .catch(err =>
        this.setData({ loading: false, error: view.errorMessage(err, '未能读取群众意见') })
      )
  }
})
