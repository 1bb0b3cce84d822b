// 申报表: a party organization's secretary fills in the application, saves it as a draft (kept on
// the phone and sent through the outbox under one client_id, so a retry never makes a second
// draft) and submits it once the server holds the draft.
const { uuid4 } = require('../../utils/uuid')
const { laneOf } = require('../../utils/queue')
const store = require('../../utils/store')
const view = require('../../utils/view')
const logic = require('./application-logic')

const EDIT_KINDS = ['application', 'application_edit']

Page({
  data: {
    loading: false,
    error: '',
    form: logic.emptyForm(new Date().getFullYear()),
    errors: {},
    targetRows: [],
    stepRows: [],
    missing: [],
    missingText: {},
    status: 'draft',
    statusLabel: '草稿',
    editable: true,
    canWithdraw: false,
    lastOpinion: '',
    syncText: '',
    syncFailed: false,
    busy: false,
    years: [],
    yearIndex: 0,
    domains: logic.DOMAINS,
    selections: logic.SELECTIONS,
    categories: logic.CATEGORIES,
    roles: logic.RESPONSIBLE_ROLES,
    roleHints: logic.RESPONSIBLE_HINTS,
    organizations: [],
    orgNames: [],
    orgIndex: -1,
    villages: [],
    sites: []
  },

  onLoad(options) {
    const app = getApp()
    this.unsubscribe = app.queue.onChange(() => this.showSync())
    const years = logic.yearChoices()
    this.setData({ years })
    const drafts = store.loadDrafts(wx)
    if (options && options.local && drafts[options.local]) {
      this.draft = drafts[options.local]
    } else if (options && options.id) {
      this.draft = logic.draftOfProject(store.loadDrafts(wx), options.id, app.queue) || {
        project_id: Number(options.id)
      }
    } else {
      this.draft = null
    }
    if (this.draft && this.draft.form) this.setForm(this.draft.form)
    else if (!this.draft) this.setForm(logic.emptyForm(years[0]))
    this.showOptions(store.readApplicationOptions(wx))
    return Promise.all([this.loadOptions(), this.loadProject(!(this.draft && this.draft.form))])
  },

  onUnload() {
    if (typeof this.unsubscribe === 'function') this.unsubscribe()
  },

  // ---- reading ---------------------------------------------------------------------------------

  projectId() {
    const d = this.draft
    if (!d) return null
    return (
      d.project_id || (d.local_project && getApp().queue.serverProjectId(d.local_project)) || null
    )
  },

  /** The form's choices: own organizations, villages and sites (cached for use without signal). */
  loadOptions() {
    return view
      .getJson(getApp().api, '/projects/application-options')
      .then(o => this.showOptions(store.writeApplicationOptions(wx, o)))
      .catch(() => {})
  },

  showOptions(o) {
    if (!o) return
    this.options = o
    const form = this.data.form
    // A first application names the secretary's own organization and its village by default.
    if (!this.draft && !form.organization_id && o.organizations.length === 1) {
      const org = o.organizations[0]
      this.setForm({
        ...form,
        organization_id: org.id,
        domain: form.domain || org.domain || '',
        village_ids:
          form.village_ids.length || form.site_id || !org.village_id
            ? form.village_ids
            : [org.village_id]
      })
    }
    this.renderOptions()
  },

  renderOptions() {
    const o = this.options || { organizations: [], villages: [], sites: [] }
    const form = this.data.form
    this.setData({
      organizations: o.organizations,
      orgNames: o.organizations.map(x => x.name),
      orgIndex: o.organizations.findIndex(x => x.id === form.organization_id),
      villages: o.villages.map(v => ({
        id: v.id,
        name: v.name,
        on: form.village_ids.indexOf(v.id) >= 0
      })),
      sites: o.sites.map(s => ({ id: s.id, name: s.name, on: form.site_id === s.id }))
    })
  },

  /** The server's copy: status, what may still be done, what is missing, the last review opinion. */
  loadProject(fillForm) {
    const id = this.projectId()
    if (!id) {
      this.showSync()
      return Promise.resolve()
    }
    this.setData({ loading: true, error: '' })
    return view
      .getJson(getApp().api, `/projects/${id}`)
      .then(p => {
        if (fillForm) this.setForm(logic.formFromProject(p))
        const reviews = p.reviews || []
        const last = reviews.length ? reviews[reviews.length - 1] : null
        this.setData({
          loading: false,
          status: p.status,
          statusLabel: p.status_label,
          editable: !!p.editable,
          canWithdraw: (p.actions || []).indexOf('withdraw') >= 0,
          lastOpinion: last && last.opinion ? `${last.action_label}：${last.opinion}` : '',
          missing: p.missing || [],
          missingText: logic.missingByField(p.missing)
        })
        this.showSync()
      })
      .catch(err =>
        this.setData({ loading: false, error: view.errorMessage(err, '未能读取申报表') })
      )
  },

  /** Whether this draft still waits in the outbox, or was refused. */
  showSync() {
    const d = this.draft
    if (!d) return
    const lane = logic.laneOfDraft(d)
    const mine = getApp()
      .queue.items()
      .filter(i => laneOf(i) === lane)
    const failed = mine.find(i => i.status === 'failed')
    let syncText = ''
    if (failed)
      syncText = `草稿未能保存到服务器：${(failed.error && failed.error.message) || '请修改后重新保存'}`
    else if (mine.length) syncText = '草稿已保存在手机上，等待上传'
    this.setData({ syncText, syncFailed: !!failed })
  },

  // ---- editing ---------------------------------------------------------------------------------

  setForm(form) {
    const errors = {}
    this.setData({
      form,
      errors,
      yearIndex: Math.max(0, this.data.years.indexOf(form.year)),
      // Rows keyed by position: the lists have no ids of their own.
      targetRows: form.targets.map((value, i) => ({ i, value })),
      stepRows: form.steps.map((step, i) => ({ i, name: step.name, deadline: step.deadline }))
    })
    this.renderOptions()
  },

  update(patch) {
    this.setForm({ ...this.data.form, ...patch })
  },

  onTitle(e) {
    this.update({ title: e.detail.value })
  },
  onProblem(e) {
    this.update({ problem: e.detail.value })
  },
  onYear(e) {
    this.update({ year: this.data.years[Number(e.detail.value)] })
  },
  onDomain(e) {
    this.update({ domain: logic.DOMAINS[Number(e.detail.value)] })
  },
  onSelection(e) {
    this.update({ selection: logic.SELECTIONS[Number(e.detail.value)] })
  },
  onCategory(e) {
    this.update({ category: logic.CATEGORIES[Number(e.detail.value)] })
  },

  onOrganization(e) {
    const org = (this.options && this.options.organizations[Number(e.detail.value)]) || null
    if (org) this.update({ organization_id: org.id })
  },

  onResponsible(e) {
    const role = e.currentTarget.dataset.role
    this.update({ responsible: { ...this.data.form.responsible, [role]: e.detail.value } })
  },

  onTarget(e) {
    this.setForm(
      logic.setRow(
        this.data.form,
        'targets',
        Number(e.currentTarget.dataset.index),
        null,
        e.detail.value
      )
    )
  },

  onStepName(e) {
    this.setForm(
      logic.setRow(
        this.data.form,
        'steps',
        Number(e.currentTarget.dataset.index),
        'name',
        e.detail.value
      )
    )
  },

  onStepDeadline(e) {
    this.setForm(
      logic.setRow(
        this.data.form,
        'steps',
        Number(e.currentTarget.dataset.index),
        'deadline',
        e.detail.value
      )
    )
  },

  onAddRow(e) {
    this.setForm(logic.addRow(this.data.form, e.currentTarget.dataset.list))
  },

  onRemoveRow(e) {
    this.setForm(
      logic.removeRow(
        this.data.form,
        e.currentTarget.dataset.list,
        Number(e.currentTarget.dataset.index)
      )
    )
  },

  onVillage(e) {
    this.setForm(logic.toggleVillage(this.data.form, Number(e.currentTarget.dataset.id)))
  },

  onSite(e) {
    this.setForm(logic.toggleSite(this.data.form, Number(e.currentTarget.dataset.id)))
  },

  // ---- saving and submitting -------------------------------------------------------------------

  /**
   * Keep the form on the phone and queue the whole form for the server: the first save creates
   * the draft (its client_id names it for good), later saves edit it. Returns the draft, or null.
   */
  saveLocal() {
    const form = this.data.form
    const errors = logic.validateForSave(form)
    this.setData({ errors })
    if (Object.keys(errors).length) return null
    const queue = getApp().queue
    const fields = logic.applicationFields(form)
    let draft = this.draft ? { ...this.draft } : null
    if (draft) {
      // A write the server refused is replaced by this newer whole form.
      const lane = logic.laneOfDraft(draft)
      queue
        .items()
        .filter(i => laneOf(i) === lane && i.status === 'failed' && EDIT_KINDS.indexOf(i.kind) >= 0)
        .forEach(i => queue.remove(i.id))
    }
    const created =
      draft &&
      draft.local_project &&
      (queue.serverProjectId(draft.local_project) ||
        queue
          .items()
          .some(i => i.kind === 'application' && i.local_project === draft.local_project))
    if (!draft) {
      draft = { local_project: queue.enqueue({ kind: 'application', fields }).local_project }
    } else if (draft.local_project && !created) {
      queue.enqueue({ kind: 'application', local_project: draft.local_project, fields })
    } else {
      queue.enqueue({
        kind: 'application_edit',
        local_project: draft.local_project,
        project_id: draft.project_id,
        fields
      })
    }
    draft.form = form
    draft.saved_at = view.isoTime(new Date())
    this.draft = store.saveDraft(wx, logic.draftKey(draft), draft)
    this.showSync()
    return this.draft
  },

  /** Send what waits; once the server holds this draft, the phone's copy is no longer needed. */
  sync() {
    return getApp()
      .flushQueue()
      .then(() => {
        const d = this.draft
        if (!d || getApp().queue.laneCount(logic.laneOfDraft(d)) > 0) return false
        store.removeDraft(wx, logic.draftKey(d))
        return true
      })
  },

  onSave() {
    if (this.data.busy) return Promise.resolve()
    let draft
    try {
      draft = this.saveLocal()
    } catch (err) {
      wx.showModal({
        title: '未能保存',
        content: view.errorMessage(err, '未能保存草稿，请重试'),
        showCancel: false
      })
      return Promise.resolve()
    }
    if (!draft) return Promise.resolve()
    this.setData({ busy: true })
    return this.sync().then(onServer => {
      this.setData({ busy: false })
      wx.showToast({
        title: onServer ? '草稿已保存' : '已保存在手机上',
        icon: onServer ? 'success' : 'none'
      })
      if (onServer) return this.loadProject(false)
      return null
    })
  },

  /** Save, make sure the server holds the draft, then submit it (once, by client_id). */
  onSubmit() {
    if (this.data.busy) return Promise.resolve()
    const missing = logic.localMissing(this.data.form)
    if (missing.length) {
      this.setData({ missing, missingText: logic.missingByField(missing) })
      wx.showModal({
        title: '申报表还不完整',
        content: missing.map(m => `· ${m.message}`).join('\n'),
        showCancel: false
      })
      return Promise.resolve()
    }
    if (!this.saveLocal()) return Promise.resolve()
    this.setData({ busy: true })
    return this.sync().then(onServer => {
      if (!onServer) {
        this.setData({ busy: false })
        wx.showModal({
          title: '暂未提交',
          content: this.data.syncFailed
            ? this.data.syncText
            : '网络不可用。草稿已保存在手机上，请到有信号处再提交。',
          showCancel: false
        })
        return null
      }
      return this.move('submit', '已提交，等待归口单位审核')
    })
  },

  onWithdraw() {
    if (this.data.busy) return Promise.resolve()
    this.setData({ busy: true })
    return this.move('withdraw', '已撤回，可修改后重新提交')
  },

  /** One move of the project straight to the server; a retried tap reuses its client_id. */
  move(action, done) {
    const id = this.projectId()
    this.moveIds = this.moveIds || {}
    const clientId = (this.moveIds[action] = this.moveIds[action] || uuid4())
    return getApp()
      .api.request('POST', `/projects/${id}/transitions`, {
        client_id: clientId,
        sent_at: view.isoTime(new Date()),
        action
      })
      .then(() => {
        delete this.moveIds[action]
        this.setData({ busy: false })
        wx.showToast({ title: done, icon: 'none' })
        return this.loadProject(false)
      })
      .catch(err => {
        if (!err.offline) delete this.moveIds[action]
        const missing = (err.details && err.details.missing) || null
        this.setData({ busy: false })
        if (missing) this.setData({ missing, missingText: logic.missingByField(missing) })
        wx.showModal({
          title: action === 'submit' ? '未能提交' : '未能撤回',
          content: logic.moveErrorText(err),
          showCancel: false
        })
        return null
      })
  }
})
