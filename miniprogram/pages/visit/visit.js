// 暗访: check in, camera-only photos, home interviews, the checklist, submit. Every write goes
// into the queue and is kept on the phone first; the page only reads from the server. The
// visit is this phone's own record (本机记录): it opens even when the task list lost its
// assignment, and stays until the server confirmed all of it.
const coord = require('../../utils/coord')
const view = require('../../utils/view')
const store = require('../../utils/store')
const sync = require('../../utils/sync')
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

/** wx.compressImage as a promise: the new temp path. */
function compress(src) {
  return new Promise((resolve, reject) => {
    wx.compressImage({ src, quality: 70, success: res => resolve(res.tempFilePath), fail: reject })
  })
}

function confirm(title, content, confirmText) {
  return new Promise(resolve =>
    wx.showModal({
      title,
      content,
      confirmText: confirmText || '确定',
      success: res => resolve(!!res.confirm),
      fail: () => resolve(false)
    })
  )
}

function isCancel(err) {
  return !!(err && /cancel/.test(err.errMsg || ''))
}

function mb(bytes) {
  return (Math.round((bytes / 1024 / 1024) * 10) / 10).toFixed(1)
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
    preview: null,
    checkin: null,
    checkinCount: 0,
    flags: [],
    flagsKnown: false,
    photos: [],
    busyPhoto: false,
    sync: null,
    closed: null,
    heldSubmit: 0,
    uploading: false,
    privacy: null,
    submitUploaded: false,
    evidenceText: '',
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
    const app = getApp()
    this.assignmentId = Number(options.assignment_id)
    this.state = store.loadLocalVisit(wx, this.assignmentId)
    // The task list may no longer carry a closed assignment: the visit's own copy serves then.
    this.assignment =
      tasksLogic.findAssignment(store.readAssignments(wx), this.assignmentId) ||
      (this.state && this.state.assignment) ||
      null
    this.serverFlags = []
    this.fetchedFor = {}
    if (!this.assignment) {
      this.setData({ missing: true })
      return
    }
    const draft = store.loadVisitDraft(wx, this.assignmentId)
    if (draft)
      this.setData({
        interview: { ...logic.emptyInterview(), ...draft.interview },
        noteText: draft.noteText || ''
      })
    this.unsubscribe = app.queue.onChange(() => this.onQueueChange())
    if (app.privacy)
      this.unsubscribePrivacy = app.privacy.onChange(need => this.setData({ privacy: need }))
    this.render()
  },

  onShow() {
    if (!this.assignment) return Promise.resolve()
    this.showQueue()
    return this.refreshFromServer()
  },

  onUnload() {
    if (typeof this.unsubscribe === 'function') this.unsubscribe()
    if (typeof this.unsubscribePrivacy === 'function') this.unsubscribePrivacy()
    if (this.data.uploading) wx.setKeepScreenOn({ keepScreenOn: false })
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
      interviews: state
        ? state.interviews.map(i => ({ ...i, time: view.formatTime(i.saved_at) }))
        : [],
      notes: state ? state.notes.map(n => ({ ...n, time: view.formatTime(n.at) })) : [],
      evidenceText:
        state && state.evidence_short ? logic.evidenceShortText(state.evidence_short) : ''
    })
    this.showQueue()
  },

  /** The sync panel, the photos' upload progress, refused writes and the storage warning, from the queue. */
  showQueue() {
    const app = getApp()
    const queue = app.queue
    const items = queue.items()
    const local = this.state && this.state.local_visit
    const uploadedAt = local ? queue.submittedAt(local) : null
    const mine = local ? items.filter(i => i.local_visit === local) : []
    const uploading = mine.some(i => i.kind === 'photo' && i.status === 'sending')
    if (uploading !== this.data.uploading) {
      // WeChat cuts the network about 5 s after the app leaves the screen: keep it on meanwhile.
      wx.setKeepScreenOn({ keepScreenOn: uploading })
    }
    const submit = mine.find(i => i.kind === 'submit')
    const failed = mine.filter(i => i.status === 'failed' && i.kind !== 'submit')
    this.setData({
      pendingText: view.pendingText(queue.pendingCount()),
      nearCap: !!app.files.nearCap(),
      sync: local ? sync.panel(queue, { online: app.online, localVisit: local }) : null,
      closed: local ? queue.closedVisit(local) : null,
      heldSubmit: submit && !submit.allow_missing && failed.length ? failed.length : 0,
      uploading,
      submitUploaded: !!uploadedAt,
      photos: logic.photoRows(
        this.state ? this.state.photos : [],
        items,
        this.state && this.state.thumbs,
        local ? queue.shownFiles(local) : {}
      )
    })
  },

  /**
   * Read the server's view of this visit once at the moments that matter, not on every record:
   * when a check-in was confirmed (flags, check items unsealed) and when nothing waits any more.
   */
  onQueueChange() {
    this.showQueue()
    const local = this.state && this.state.local_visit
    if (!local || this.refreshing) return
    const queue = getApp().queue
    const confirmedCheckins = this.state.checkins.filter(
      c => !queue.items().some(i => i.client_id === c.client_id)
    ).length
    const moment =
      queue.pendingCount(local) === 0
        ? `done:${this.state.photos.length}:${this.state.interviews.length}:${this.state.notes.length}:${!!queue.submittedAt(local)}`
        : confirmedCheckins
          ? `checkin:${confirmedCheckins}`
          : null
    if (!moment || this.fetchedFor[moment] || !queue.serverVisitId(local)) return
    this.fetchedFor[moment] = true
    this.refreshing = this.refreshFromServer().then(() => {
      this.refreshing = null
    })
  },

  /**
   * Read what the server made of this visit: integrity flags, check items unsealed after the
   * check-in, photos it still waits for (handed back to the queue), and thumbnails of the
   * uploaded photos (their originals may then go).
   */
  refreshFromServer() {
    const queue = getApp().queue
    const visitId = this.state && queue.serverVisitId(this.state.local_visit)
    if (!visitId) return Promise.resolve()
    return view
      .getJson(getApp().api, `/visits/${visitId}`)
      .then(visit => {
        this.serverFlags = visit.flags || []
        if (visit.photos_waiting && visit.photos_waiting.length)
          queue.resumeWaiting(visit.photos_waiting)
        const items = visit.assignment && visit.assignment.check_items
        if (Array.isArray(items) && items.length) {
          this.assignment = { ...this.assignment, check_items: items, check_items_sealed: false }
          store.updateAssignment(wx, {
            id: this.assignmentId,
            check_items: items,
            check_items_sealed: false
          })
          this.state.checklist = logic.mergeChecklist(this.state.checklist, items)
          this.state.assignment = logic.assignmentSnapshot(this.assignment)
        }
        const thumbs = {}
        ;(visit.photos || []).forEach(p => {
          if (p.thumb_url && p.client_id) thumbs[p.client_id] = p.thumb_url
        })
        this.state.thumbs = Object.assign({}, this.state.thumbs || {}, thumbs)
        if (visit.evidence_short) this.state.evidence_short = visit.evidence_short
        store.saveLocalVisit(wx, this.state)
        queue.releaseFiles(Object.keys(thumbs))
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
    this.state = logic.newLocalVisit(
      this.assignmentId,
      item.local_visit,
      startedAt,
      tasksLogic.checkItemsInfo(this.assignment).items,
      this.assignment
    )
    return store.saveLocalVisit(wx, this.state)
  },

  enqueue(action) {
    const app = getApp()
    const item = app.queue.enqueue(action)
    app.flushQueue()
    return item
  },

  save() {
    store.saveLocalVisit(wx, this.state)
    this.render()
  },

  readOnly() {
    if (this.state && this.state.submitted_at) {
      wx.showToast({ title: '已提交，不能再修改', icon: 'none' })
      return true
    }
    return false
  },

  /** A location failure explained; a refusal leads to the settings page. */
  explainLocation(err, title) {
    if (err && err.code === 'location_denied') {
      return confirm(title, `${err.message}。点“去设置”打开位置权限。`, '去设置').then(go =>
        go ? getApp().location.openSettings() : false
      )
    }
    wx.showModal({
      title,
      content:
        err && err.message && /[\u4e00-\u9fa5]/.test(err.message)
          ? err.message
          : '无法获取位置：请打开手机定位（GPS），并允许小程序使用位置信息后重试。',
      showCancel: false
    })
    return Promise.resolve(false)
  },

  /** Take a fix and show it against the geofence; nothing is sent until the inspector confirms. */
  onCheckin() {
    if (this.readOnly() || this.data.locating) return Promise.resolve()
    this.setData({ locating: true, preview: null })
    return getApp()
      .location.freshFix({ timeoutMs: FIX_TIMEOUT_MS })
      .then(fix => {
        this.pendingFix = fix
        this.setData({
          locating: false,
          preview: logic.fixPreview(fix, this.assignment.place, coord)
        })
      })
      .catch(err => {
        this.setData({ locating: false })
        return this.explainLocation(err, '签到失败').then(() => err)
      })
  },

  onConfirmCheckin() {
    const fix = this.pendingFix
    if (!fix || this.readOnly()) return
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
    this.pendingFix = null
    this.setData({ preview: null })
    this.save()
  },

  onCancelCheckin() {
    this.pendingFix = null
    this.setData({ preview: null })
  },

  /**
   * Camera only. The photo is kept and queued the moment the shutter returns (a photo is
   * evidence even indoors); the position taken right after is attached when it comes, or the
   * photo goes as no_fix. An original above the server's limit is compressed only with the
   * inspector's consent, and flagged so.
   */
  onTakePhoto(replaces) {
    // A refused photo may still be retaken after submit: the submit waits for it.
    const retake = typeof replaces === 'string'
    if ((!retake && this.readOnly()) || this.data.busyPhoto) return Promise.resolve()
    const app = getApp()
    let takenAt
    return takePhoto()
      .then(res => {
        const shot = res.tempFiles[0]
        takenAt = new Date()
        const max = store.maxPhotoBytes(wx)
        if (!(shot.size > max))
          return { path: shot.tempFilePath, size: shot.size, compressed: false }
        return confirm(
          '照片过大',
          `这张照片 ${mb(shot.size)} MB，超过上传上限 ${mb(max)} MB。压缩后上传吗？压缩的照片会标注“已压缩”。`,
          '压缩后上传'
        ).then(ok =>
          ok
            ? compress(shot.tempFilePath).then(path => ({ path, size: 0, compressed: true }))
            : Promise.reject({ errMsg: 'cancel' })
        )
      })
      .then(shot => {
        const state = this.ensureStarted()
        const item = this.enqueue(
          logic.photoAction(state.local_visit, shot.path, null, takenAt, shot.size, shot.compressed)
        )
        const row = { client_id: item.client_id, path: item.file, taken_at: view.isoTime(takenAt) }
        if (shot.compressed) row.compressed = true
        const at = retake ? state.photos.findIndex(p => p.client_id === replaces) : -1
        if (at >= 0) {
          app.queue.remove(replaces)
          state.photos.splice(at, 1, row)
        } else {
          state.photos.push(row)
        }
        this.setData({ busyPhoto: true })
        this.save()
        return app.location
          .freshFix({ timeoutMs: FIX_TIMEOUT_MS })
          .then(fix => app.queue.update(item.client_id, logic.fixPatch(fix)))
          .catch(err => {
            app.queue.update(item.client_id, { no_fix: true, awaiting_fix: false })
            wx.showToast({
              title:
                err && err.code === 'privacy_denied'
                  ? '未同意隐私保护指引，照片无定位'
                  : '未能定位，照片已保存（标注无定位）',
              icon: 'none'
            })
          })
          .then(() => {
            this.setData({ busyPhoto: false })
            app.flushQueue()
            this.showQueue()
          })
      })
      .catch(err => {
        this.setData({ busyPhoto: false })
        if (isCancel(err)) return
        wx.showModal({
          title: '照片未保存',
          content: view.errorMessage(err, '未能保存照片，请重试。'),
          showCancel: false
        })
      })
  },

  /** Delete a photo that has not reached the server yet. */
  onDeletePhoto(e) {
    const id = e.currentTarget.dataset.id
    return confirm('删除照片', '删除这张还未上传的照片吗？').then(ok => {
      if (!ok) return false
      if (!getApp().queue.remove(id)) {
        wx.showToast({ title: '照片正在上传，请稍候', icon: 'none' })
        return false
      }
      this.state.photos = this.state.photos.filter(p => p.client_id !== id)
      this.save()
      return true
    })
  },

  /** Retake: a new shot takes the old one's place, which is dropped once the new one is kept. */
  onRetakePhoto(e) {
    return this.onTakePhoto(e.currentTarget.dataset.id)
  },

  /** A photo the server refused as too large goes again compressed (with consent), flagged so. */
  onCompressPhoto(e) {
    const id = e.currentTarget.dataset.id
    const app = getApp()
    const item = app.queue.items().find(i => i.client_id === id)
    if (!item) return Promise.resolve(false)
    const max = item.error && item.error.details && item.error.details.max_bytes
    if (max) store.rememberMaxBytes(wx, max)
    return confirm(
      '压缩后上传',
      '原图超过服务器上限。压缩后上传吗？压缩的照片会标注“已压缩”，原图仍保留在手机上直到上传完成。',
      '压缩后上传'
    ).then(ok => {
      if (!ok) return false
      return compress(item.file).then(path => {
        const photo = this.state.photos.find(p => p.client_id === id) || {}
        const fix =
          typeof item.lat === 'number'
            ? { lat: item.lat, lng: item.lng, coord_type: item.coord_type }
            : null
        const next = this.enqueue(
          Object.assign(
            logic.photoAction(item.local_visit, path, fix, item.taken_at, 0, true),
            fix ? {} : { awaiting_fix: false, no_fix: true }
          )
        )
        app.queue.remove(id)
        this.state.photos = this.state.photos.map(p =>
          p.client_id === id
            ? {
                client_id: next.client_id,
                path: next.file,
                taken_at: photo.taken_at || item.taken_at,
                compressed: true
              }
            : p
        )
        this.save()
        return true
      })
    })
  },

  onPreviewPhoto(e) {
    const urls = this.data.photos.map(p => p.path)
    wx.previewImage({ urls, current: e.currentTarget.dataset.path })
  },

  /** The sync panel's buttons: each names what fixes the record's trouble. */
  onSyncAction(e) {
    const { id, action } = e.currentTarget.dataset
    const app = getApp()
    const evt = { currentTarget: { dataset: { id } } }
    switch (action) {
      case 'retry':
        app.queue.retry(id)
        app.flushQueue()
        break
      case 'delete':
        if (this.state && this.state.photos.some(p => p.client_id === id))
          return this.onDeletePhoto(evt)
        return confirm('删除记录', '放弃这条未被接收的记录吗？').then(ok => {
          if (ok) app.queue.remove(id)
          this.showQueue()
        })
      case 'retake':
        return this.onRetakePhoto(evt)
      case 'compress':
        return this.onCompressPhoto(evt)
      case 'export':
        return this.onExport()
      case 'keep':
        wx.showToast({ title: '记录已保留在本机', icon: 'none' })
        break
      case 'privacy':
        if (app.privacy) return app.privacy.ask()
        break
    }
    this.showQueue()
    return Promise.resolve()
  },

  /** The whole local record as text on the clipboard (the photos stay on the phone). */
  onExport() {
    const s = this.state
    if (!s) return Promise.resolve()
    const lines = [
      `暗访记录（本机）：${this.data.header.placeName} ${this.data.header.projectTitle}`,
      `开始时间：${view.formatDateTime(s.started_at)}`,
      ...s.checkins.map(
        c => `签到：${view.formatDateTime(c.time)} ${c.lat},${c.lng}（GCJ-02）精度 ${c.accuracy} 米`
      ),
      `照片 ${s.photos.length} 张（保存在本机）`,
      ...s.interviews.map(i => `走访：${i.household}（${i.satisfaction}）`),
      ...s.checklist.filter(r => r.result).map(r => `检查：${r.item} ${r.result} ${r.note || ''}`),
      ...s.notes.map(n => `备注：${n.text}`)
    ]
    return new Promise(resolve =>
      wx.setClipboardData({
        data: lines.join('\n'),
        success: () => {
          wx.showToast({ title: '已复制，可粘贴发送给管理员', icon: 'none' })
          resolve(true)
        },
        fail: () => resolve(false)
      })
    )
  },

  onPrivacyAgree() {
    getApp().privacy.agree('agree-privacy')
  },

  onPrivacyRefuse() {
    getApp().privacy.refuse()
  },

  // checklist

  onCheckResult(e) {
    if (this.readOnly()) return
    const state = this.ensureStarted()
    state.checklist = logic.setResult(
      state.checklist,
      Number(e.currentTarget.dataset.index),
      e.currentTarget.dataset.value
    )
    state.checklist_sent = false
    this.save()
  },

  onCheckNote(e) {
    if (this.state && this.state.submitted_at) return
    const state = this.ensureStarted()
    state.checklist = logic.setNote(
      state.checklist,
      Number(e.currentTarget.dataset.index),
      e.detail.value
    )
    state.checklist_sent = false
    store.saveLocalVisit(wx, state)
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

  // interview: the form is saved as a draft on every keystroke

  keepDraft() {
    store.saveVisitDraft(wx, this.assignmentId, {
      interview: this.data.interview,
      noteText: this.data.noteText
    })
  },

  setInterview(patch) {
    const interview = {
      ...this.data.interview,
      ...patch,
      answers: { ...this.data.interview.answers, ...(patch.answers || {}) }
    }
    this.setData({ interview })
    this.keepDraft()
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
      client_id: item.client_id,
      household: form.household.trim(),
      satisfaction: form.satisfaction,
      saved_at: view.isoTime(new Date())
    })
    this.setData({ interview: logic.emptyInterview() })
    this.keepDraft()
    this.save()
    wx.showToast({ title: '走访记录已保存', icon: 'success' })
  },

  // notes (allowed after submit too)

  onNoteInput(e) {
    this.setData({ noteText: e.detail.value })
    this.keepDraft()
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
    this.keepDraft()
    this.save()
  },

  // submit

  onSubmit() {
    if (this.readOnly()) return Promise.resolve(false)
    if (!this.state) {
      wx.showToast({ title: '尚未开始暗访，请先签到', icon: 'none' })
      return Promise.resolve(false)
    }
    const queue = getApp().queue
    const info = tasksLogic.checkItemsInfo(this.assignment)
    const warnings = logic.submitWarnings(this.state, info.count, this.assignment.evidence_policy)
    const missing = logic.missingNames(queue.items(), this.state.local_visit)
    return confirm('提交暗访记录', logic.submitConfirmText(warnings, missing), '提交').then(
      confirmed => {
        if (!confirmed) return false
        const state = this.state
        if (!state.checklist_sent) {
          const checklist = logic.checklistAction(state.local_visit, state.checklist)
          if (checklist) queue.enqueue(checklist)
          state.checklist_sent = true
        }
        this.enqueue(logic.submitAction(state.local_visit))
        // The inspector saw the refused records named above and chose to go without them.
        if (missing.length) queue.allowMissing(state.local_visit)
        state.submitted_at = view.isoTime(new Date())
        this.save()
        wx.showToast({ title: '已提交，联网后自动上传', icon: 'none' })
        return true
      }
    )
  },

  /** A submit already queued is held by records refused since: go without them, after a confirmation. */
  onSubmitMissing() {
    const queue = getApp().queue
    const missing = logic.missingNames(queue.items(), this.state.local_visit)
    return confirm('提交（缺少部分记录）', logic.submitConfirmText([], missing), '提交').then(
      ok => {
        if (!ok) return false
        queue.allowMissing(this.state.local_visit)
        getApp().flushQueue()
        this.showQueue()
        return true
      }
    )
  }
})
