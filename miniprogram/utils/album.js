// Report, reply and feedback photos (compressed; they carry no location check) and their hand-over
// to the outbox, which uploads them through the uploader. The camera only, as on a visit, unless
// the project's policy allows the album (`allow_album`): a picture from the album proves nothing
// about today.

const view = require('./view')

/** True when the project (or an object carrying it) lets photos come from the album. */
function albumAllowed(project) {
  return !!(
    project &&
    (project.allow_album === true || (project.project && project.project.allow_album === true))
  )
}

/** wx.chooseMedia for up to `count` images, as a promise: the camera, or also the album when allowed. */
function choosePhotos(count, allowAlbum) {
  return new Promise((resolve, reject) => {
    wx.chooseMedia({
      count,
      mediaType: ['image'],
      sourceType: allowAlbum ? ['album', 'camera'] : ['camera'],
      sizeType: ['compressed'],
      success: resolve,
      fail: reject
    })
  })
}

/**
 * Queue up to `left` chosen files as photos of `target` ('report' | 'rectification'), stamped
 * with the phone's own clock; returns {client_id, path, taken_at} each.
 */
function queueChosen(queue, target, tempFiles, left, takenAt) {
  const at = view.isoTime(takenAt || new Date())
  return (tempFiles || []).slice(0, left).map(f => {
    const item = queue.enqueue({
      kind: 'photo',
      target,
      file: f.tempFilePath,
      size: f.size || undefined,
      taken_at: at
    })
    return { client_id: item.client_id, path: item.file, taken_at: at }
  })
}

/**
 * Let the user pick up to `left` photos and put them in the outbox as photos of `target`.
 * `onQueued(photos)` gets the queued {client_id, path} list (to keep in the page's draft) before
 * the outbox starts uploading; a cancelled pick does nothing, any other failure is shown.
 */
function addToOutbox(app, target, left, onQueued, allowAlbum) {
  return choosePhotos(left, allowAlbum)
    .then(res => {
      onQueued(queueChosen(app.queue, target, res.tempFiles, left))
      app.flushQueue()
    })
    .catch(err => {
      if (err && /cancel/.test(err.errMsg || '')) return
      wx.showModal({
        title: '照片未保存',
        content: view.errorMessage(err, '未能保存照片，请重试'),
        showCancel: false
      })
    })
}

module.exports = { albumAllowed, choosePhotos, queueChosen, addToOutbox }
