// Photos picked from the album or camera (compressed: report, reply and feedback photos carry no
// location check), and their hand-over to the outbox, which uploads them through the uploader.

const view = require('./view')

/** wx.chooseMedia for up to `count` images, as a promise. */
function choosePhotos(count) {
  return new Promise((resolve, reject) => {
    wx.chooseMedia({ count, mediaType: ['image'], sourceType: ['album', 'camera'], sizeType: ['compressed'], success: resolve, fail: reject })
  })
}

/** Queue up to `left` chosen files as photos of `target` ('report' | 'rectification'); returns {client_id, path} each. */
function queueChosen(queue, target, tempFiles, left) {
  return (tempFiles || []).slice(0, left).map(f => {
    const item = queue.enqueue({ kind: 'photo', target, file: f.tempFilePath, size: f.size || undefined })
    return { client_id: item.client_id, path: item.file }
  })
}

/**
 * Let the user pick up to `left` photos and put them in the outbox as photos of `target`.
 * `onQueued(photos)` gets the queued {client_id, path} list (to keep in the page's draft) before
 * the outbox starts uploading; a cancelled pick does nothing, any other failure is shown.
 */
function addToOutbox(app, target, left, onQueued) {
  return choosePhotos(left)
    .then(res => {
      onQueued(queueChosen(app.queue, target, res.tempFiles, left))
      app.flushQueue()
    })
    .catch(err => {
      if (err && /cancel/.test(err.errMsg || '')) return
      wx.showModal({ title: '照片未保存', content: view.errorMessage(err, '未能保存照片，请重试'), showCancel: false })
    })
}

module.exports = { choosePhotos, queueChosen, addToOutbox }
