// 暗访: check in, camera-only photos, home interviews, the checklist, submit. Every write goes
// into the queue and is kept on the phone first; the page only reads from the server.
const coord = require('../../utils/coord')
const view = require('../../utils/view')
const tasksLogic = require('../tasks/tasks-logic')
const logic = require('./visit-logic')

const FIX_TIMEOUT_MS = 20000

/** wx.chooseMedia as a promise; the camera only, originals, one photo per shot. */
function takePhoto() {
  return new Promise((resolve, reject) => {
    wx.chooseMedia({
      count: 1,
      mediaType: ['image'],
      sourceType: ['camera'],
      sizeType: ['original'],
      camera: 'back',
      success: resolve,
      fail: reject
    })
  })
}

function isCancel(err) {
  return !!(err && /cancel/.test(err.errMsg || ''))
}

Page({
  data: {
    missing: false,
    started: false,
    submitted: false,
    header: null,
    pendingText: '',
    nearCap: false,
    locating: false,
    checkin: null,
    checkinCount: 0,
    flags: [],
    flagsKnown: false,
    photos: [],
    busyPhoto: false,
    failed: [],
    submitUploaded: false,
    sealed: false,
    sealedCount: 0,
    checklist: [],
    questions: logic.INTERVIEW_QUESTIONS,
    satisfactionOptions: logic.SATISFACTION,
    interview: logic.emptyInterview(),
    interviewErrors: {},
    interviews: [],
    noteText: '',
    notes: []
  },

  onLoad(options) {
    this.assignmentId = Number(options.assignment_id)
    this.assignment = tasksLogic.findAssignment(wx, this.assignmentId)
    this.state = logic.loadLocalVisit(wx, this.assignmentId)
    this.serverFlags = []
    if (!this.assignment) {
      this.setData({ missing: true })
      return
    }
    this.unsubscribe = getApp().queue.onChange(() => this.onQueueChange())
    this.render()
  },

  onShow() {
    if (!this.assignment) return Promise.resolve()
    this.showQueue()
    return this.refreshFromServer()
  },

  onUnload() {
    if (typeof this.unsubscribe === 'function') this.unsubscribe()
  },

  // ---- showing ----------------------------------------------------------------------------

  render() {
    const a = this.assignment
    const info = tasksLogic.checkItemsInfo(a)
    const state = this.state
    const checklist = state ? state.checklist : logic.initialChecklist(info.items)
    const last = state && state.checkins.length ? state.checkins[state.checkins.length - 1] : null
    this.setData({
      header: {
        placeName: (a.place && a.place.name) || (a.village && a.village.name) || '',
        placeLabel: (a.place && a.place.label) || '',
        projectTitle: (a.project && a.project.title) || '',
        due: view.dueInfo(a.due_date)
      },
      started: !!state,
      submitted: !!(state && state.submitted_at),
      checkin: logic.checkinView(last, a.place),
      checkinCount: state ? state.checkins.length : 0,
      flags: view.flagLabels(this.serverFlags),
      sealed: info.sealed && !checklist.length,
      sealedCount: info.count,
      checklist: logic.checklistRows(checklist),
      interviews: state ? state.interviews.map(i => ({ ...i, time: view.formatTime(i.saved_at) })) : [],
      notes: state ? state.notes.map(n => ({ ...n, time: view.formatTime(n.at) })) : []
    })
    this.showQueue()
  },

  /** The counter, the photos' upload progress, refused writes and the storage warning, from the queue. */
  showQueue() {
    const app = getApp()
    const items = app.queue.items()
    const local = this.state && this.state.local_visit
    const uploadedAt = local ? app.queue.submittedAt(local) : null
    this.setData({
      pendingText: view.pendingText(app.queue.pendingCount()),
      nearCap: !!app.files.nearCap(),
      failed: local ? logic.failedRows(items, local) : [],
      submitUploaded: !!uploadedAt,
      photos: logic.photoRows(this.state ? this.state.photos : [], items)
    })
  },

  /** When records of this visit reached the server, read back its verdict (flags) at once. */
  onQueueChange() {
    this.showQueue()
    const local = this.state && this.state.local_visit
    if (!local) return
    const pending = getApp().queue.pendingCount(local)
    if (this.visitPending !== undefined && pending < this.visitPending && !this.refreshing) {
      this.refreshing = this.refreshFromServer().then(() => { this.refreshing = null })
    }
    this.visitPending = pending
  },

  /**
   * Read what the server made of this visit: integrity flags, check items unsealed after the
   * check-in, photos it still waits for (handed back to the queue to resume).
   */
  refreshFromServer() {
    const queue = getApp().queue
    const visitId = this.state && queue.serverVisitId(this.state.local_visit)
    if (!visitId) return Promise.resolve()
    return view.getJson(getApp().api, `/visits/${visitId}`)
      .then(visit => {
        this.serverFlags = visit.flags || []
        if (visit.photos_waiting && visit.photos_waiting.length) queue.resumeWaiting(visit.photos_waiting)
        const items = visit.assignment && visit.assignment.check_items
        if (Array.isArray(items) && items.length) {
          this.assignment = { ...this.assignment, check_items: items, check_items_sealed: false }
          tasksLogic.updateAssignment(wx, { id: this.assignmentId, check_items: items, check_items_sealed: false })
          this.state.checklist = logic.mergeChecklist(this.state.checklist, items)
          logic.saveLocalVisit(wx, this.state)
        }
        this.setData({ flagsKnown: true })
        this.render()
      })
      .catch(() => {})
  },

  // ---- recording --------------------------------------------------------------------------

  /** Start the visit on its first record: enqueue start_visit and keep the local record. */
  ensureStarted() {
    if (this.state) return this.state
    const startedAt = view.isoTime(new Date())
    const item = getApp().queue.enqueue(logic.startVisitAction(this.assignmentId, startedAt))
    this.state = logic.newLocalVisit(this.assignmentId, item.local_visit, startedAt,
      tasksLogic.checkItemsInfo(this.assignment).items)
    return logic.saveLocalVisit(wx, this.state)
  },

  enqueue(action) {
    const app = getApp()
    const item = app.queue.enqueue(action)
    app.flushQueue()
    return item
  },

  save() {
    logic.saveLocalVisit(wx, this.state)
    this.render()
  },

  readOnly() {
    if (this.state && this.state.submitted_at) {
      wx.showToast({ title: '已提交，不能再修改', icon: 'none' })
      return true
    }
    return false
  },

  onCheckin() {
    if (this.readOnly() || this.data.locating) return Promise.resolve()
    this.setData({ locating: true })
    return getApp().location.freshFix({ timeoutMs: FIX_TIMEOUT_MS })
      .then(fix => {
        const state = this.ensureStarted()
        const item = this.enqueue(logic.checkinAction(state.local_visit, fix))
        state.checkins.push({
          client_id: item.client_id,
          lat: fix.lat,
          lng: fix.lng,
          accuracy: fix.accuracy,
          distance_m: logic.distanceToPlace(fix, this.assignment.place, coord),
          time: view.isoTime(fix.time || Date.now())
        })
        this.setData({ locating: false })
        this.save()
      })
      .catch(err => {
        this.setData({ locating: false })
        wx.showModal({
          title: '签到失败',
          content: (err && err.message && /[\u4e00-\u9fa5]/.test(err.message)) ? err.message
            : '无法获取位置：请打开手机定位（GPS），并允许小程序使用位置信息后重试。',
          showCancel: false
        })
        return err
      })
  },

  /**
   * Camera only; the position is fixed right after the shutter and goes with the photo. The
   * queue copies the original out of WeChat's temp folder before it answers.
   */
  onTakePhoto() {
    if (this.readOnly() || this.data.busyPhoto) return Promise.resolve()
    const app = getApp()
    let shot
    let takenAt
    return takePhoto()
      .then(res => {
        shot = res.tempFiles[0]
        takenAt = new Date()
        this.setData({ busyPhoto: true })
        return app.location.freshFix({ timeoutMs: FIX_TIMEOUT_MS })
          .catch(err => Promise.reject({ noFix: true, message: err && err.message }))
      })
      .then(fix => {
        const state = this.ensureStarted()
        const item = this.enqueue(logic.photoAction(state.local_visit, shot.tempFilePath, fix, takenAt, shot.size))
        state.photos.push({ client_id: item.client_id, path: item.file, taken_at: view.isoTime(takenAt) })
        this.setData({ busyPhoto: false })
        this.save()
      })
      .catch(err => {
        this.setData({ busyPhoto: false })
        if (isCancel(err)) return
        wx.showModal({
          title: '照片未保存',
          content: err && err.noFix
            ? `拍照后未能获取当前位置，照片没有记录。${err.message || '请到开阔处打开定位后重拍。'}`
            : view.errorMessage(err, '未能保存照片，请重试。'),
          showCancel: false
        })
      })
  },

  onRetryFailed(e) {
    getApp().queue.retry(e.currentTarget.dataset.id)
    this.showQueue()
  },

  onPreviewPhoto(e) {
    const urls = this.data.photos.map(p => p.path)
    wx.previewImage({ urls, current: e.currentTarget.dataset.path })
  },

  // checklist

  onCheckResult(e) {
    if (this.readOnly()) return
    const state = this.ensureStarted()
    state.checklist = logic.setResult(state.checklist, Number(e.currentTarget.dataset.index), e.currentTarget.dataset.value)
    state.checklist_sent = false
    this.save()
  },

  onCheckNote(e) {
    if (this.state && this.state.submitted_at) return
    const state = this.ensureStarted()
    state.checklist = logic.setNote(state.checklist, Number(e.currentTarget.dataset.index), e.detail.value)
    state.checklist_sent = false
    logic.saveLocalVisit(wx, state)
    if (!this.data.started) this.render()
  },

  onSaveChecklist() {
    if (this.readOnly()) return
    const action = this.state && logic.checklistAction(this.state.local_visit, this.state.checklist)
    if (!action) {
      wx.showToast({ title: '请先选择检查结果', icon: 'none' })
      return
    }
    this.enqueue(action)
    this.state.checklist_sent = true
    this.save()
    wx.showToast({ title: '检查结果已保存', icon: 'success' })
  },

  // interview

  setInterview(patch) {
    const interview = { ...this.data.interview, ...patch, answers: { ...this.data.interview.answers, ...(patch.answers || {}) } }
    this.setData({ interview })
  },

  onHousehold(e) {
    this.setInterview({ household: e.detail.value })
  },

  onAnswerInput(e) {
    this.setInterview({ answers: { [e.currentTarget.dataset.key]: e.detail.value } })
  },

  onAnswerChoice(e) {
    this.setInterview({ answers: { [e.currentTarget.dataset.key]: e.currentTarget.dataset.value } })
  },

  onSatisfaction(e) {
    this.setInterview({ satisfaction: e.currentTarget.dataset.value })
  },

  onInterviewNotes(e) {
    this.setInterview({ notes: e.detail.value })
  },

  onSaveInterview() {
    if (this.readOnly()) return
    const form = this.data.interview
    const errors = logic.validateInterview(form)
    this.setData({ interviewErrors: errors })
    if (Object.keys(errors).length) return
    const state = this.ensureStarted()
    const item = this.enqueue(logic.interviewAction(state.local_visit, form))
    state.interviews.push({
      client_id: item.client_id, household: form.household.trim(), satisfaction: form.satisfaction,
      saved_at: view.isoTime(new Date())
    })
    this.setData({ interview: logic.emptyInterview() })
    this.save()
    wx.showToast({ title: '走访记录已保存', icon: 'success' })
  },

  // notes (allowed after submit too)

  onNoteInput(e) {
    this.setData({ noteText: e.detail.value })
  },

  onAddNote() {
    const text = (this.data.noteText || '').trim()
    if (!text) {
      wx.showToast({ title: '请填写备注内容', icon: 'none' })
      return
    }
    const state = this.ensureStarted()
    const item = this.enqueue(logic.noteAction(state.local_visit, text))
    state.notes.push({ client_id: item.client_id, text, at: view.isoTime(new Date()) })
    this.setData({ noteText: '' })
    this.save()
  },

  // submit

  onSubmit() {
    if (this.readOnly()) return Promise.resolve(false)
    if (!this.state) {
      wx.showToast({ title: '尚未开始暗访，请先签到', icon: 'none' })
      return Promise.resolve(false)
    }
    const warnings = logic.submitWarnings(this.state, tasksLogic.checkItemsInfo(this.assignment).count)
    return new Promise(resolve => {
      wx.showModal({
        title: '提交暗访记录',
        content: logic.submitConfirmText(warnings),
        confirmText: '提交',
        confirmColor: '#b3261e',
        success: res => resolve(!!res.confirm),
        fail: () => resolve(false)
      })
    }).then(confirmed => {
      if (!confirmed) return false
      const state = this.state
      if (!state.checklist_sent) {
        const checklist = logic.checklistAction(state.local_visit, state.checklist)
        if (checklist) getApp().queue.enqueue(checklist)
        state.checklist_sent = true
      }
      this.enqueue(logic.submitAction(state.local_visit))
      state.submitted_at = view.isoTime(new Date())
      this.save()
      wx.showToast({ title: '已提交，联网后自动上传', icon: 'none' })
      return true
    })
  }
})
