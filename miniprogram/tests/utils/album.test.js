const album = require('../../utils/album')

test('queueChosen hands at most `left` files to the outbox as photos of the target', () => {
  const sent = []
  const queue = { enqueue: item => { sent.push(item); return { client_id: `c${sent.length}`, file: item.file } } }
  const files = [{ tempFilePath: 'wxfile://a', size: 10 }, { tempFilePath: 'wxfile://b' }, { tempFilePath: 'wxfile://c' }]
  const out = album.queueChosen(queue, 'report', files, 2)
  expect(out).toEqual([{ client_id: 'c1', path: 'wxfile://a' }, { client_id: 'c2', path: 'wxfile://b' }])
  expect(sent).toEqual([
    { kind: 'photo', target: 'report', file: 'wxfile://a', size: 10 },
    { kind: 'photo', target: 'report', file: 'wxfile://b', size: undefined }
  ])
})

test('choosePhotos asks for compressed images from album or camera', async () => {
  global.wx = { chooseMedia: opts => opts.success({ tempFiles: [], opts }) }
  const res = await album.choosePhotos(3)
  expect(res.opts).toMatchObject({ count: 3, mediaType: ['image'], sourceType: ['album', 'camera'], sizeType: ['compressed'] })
  delete global.wx
})
