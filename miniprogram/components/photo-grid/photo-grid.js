// The photos of a form (月报, 整改回复, 群众反馈): each photo with its upload state, a way to add
// more up to `max`, to remove one while `editable`, and to look at them full screen. The page
// owns the photos and where they go; the grid only shows them and says what was tapped.
Component({
  options: {
    // app.wxss's shared classes (.btn, .muted, .error, .progress) style the grid as they did the pages.
    styleIsolation: 'apply-shared'
  },

  properties: {
    // Rows to show: {path, key?, progress?, statusText?, failed?, takenText?}.
    photos: { type: Array, value: [] },
    // How many photos the form takes; the add control goes once there are this many.
    max: { type: Number, value: 9 },
    // False once the form is sealed (handed in, or its reply waits in the outbox): no add, no remove.
    editable: { type: Boolean, value: true },
    // Tapping a photo opens the full-screen preview of all of them.
    preview: { type: Boolean, value: false },
    // Square tiles with × and a ＋ tile (a form without upload progress), instead of rows with
    // progress, status, a 删除 link and an add button below.
    tiles: { type: Boolean, value: false },
    addText: { type: String, value: '添加照片' }
  },

  methods: {
    onAdd() {
      this.triggerEvent('add')
    },

    onRemove(e) {
      this.triggerEvent('remove', { index: Number(e.currentTarget.dataset.index) })
    },

    onPreview(e) {
      if (!this.data.preview) return
      wx.previewImage({
        urls: this.data.photos.map(p => p.path),
        current: e.currentTarget.dataset.path
      })
    }
  }
})
