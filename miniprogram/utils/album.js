// Photos picked from the album or camera (compressed: report, reply and feedback photos carry no
// location check), and their hand-over to the outbox, which uploads them through the uploader.

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

module.exports = { choosePhotos, queueChosen }
