const album = require('../../utils/album')

test('queueChosen hands at most `left` files to the outbox as photos of the target', () => {
  const sent = []
  const queue = {
    enqueue: item => {
      sent.push(item)
      return { client_id: `c${sent.length}`, file: item.file }
    }
  }
  const files = [
    { tempFilePath: 'wxfile://a', size: 10 },
    { tempFilePath: 'wxfile://b' },
    { tempFilePath: 'wxfile://c' }
  ]
  const at = new Date('2026-05-04T01:42:00Z')
  const out = album.queueChosen(queue, 'report', files, 2, at)
  const takenAt = '2026-05-04T09:42:00.000+08:00'
  expect(out).toEqual([
    { client_id: 'c1', path: 'wxfile://a', taken_at: expect.any(String) },
    { client_id: 'c2', path: 'wxfile://b', taken_at: expect.any(String) }
  ])
  expect(Date.parse(out[0].taken_at)).toBe(Date.parse(takenAt))
  expect(sent).toEqual([
    { kind: 'photo', target: 'report', file: 'wxfile://a', size: 10, taken_at: out[0].taken_at },
    {
      kind: 'photo',
      target: 'report',
      file: 'wxfile://b',
      size: undefined,
      taken_at: out[0].taken_at
    }
  ])
})

test('choosePhotos: the camera only, unless the project allows the album (item 17)', async () => {
  global.wx = { chooseMedia: opts => opts.success({ tempFiles: [], opts }) }
  const res = await album.choosePhotos(3)
  expect(res.opts).toMatchObject({
    count: 3,
    mediaType: ['image'],
    sourceType: ['camera'],
    sizeType: ['compressed']
  })
  const open = await album.choosePhotos(3, album.albumAllowed({ allow_album: true }))
  expect(open.opts.sourceType).toEqual(['album', 'camera'])
  expect(album.albumAllowed({ project: { allow_album: true } })).toBe(true)
  expect(album.albumAllowed({})).toBe(false)
  delete global.wx
})

test('addToOutbox queues the picked photos, hands them to the page, then starts the upload', async () => {
  const steps = []
  global.wx = {
    chooseMedia: opts =>
      opts.success({ tempFiles: [{ tempFilePath: 'wxfile://a' }, { tempFilePath: 'wxfile://b' }] })
  }
  const app = {
    queue: {
      enqueue: item => {
        steps.push(`enqueue ${item.target}`)
        return { client_id: 'c1', file: item.file }
      }
    },
    flushQueue: () => steps.push('flush')
  }
  await album.addToOutbox(app, 'report', 1, photos =>
    steps.push(`page ${photos.map(p => p.path).join()}`)
  )
  expect(steps).toEqual(['enqueue report', 'page wxfile://a', 'flush'])
  delete global.wx
})

test('addToOutbox ignores a cancelled pick and shows any other failure', async () => {
  const shown = []
  const app = {
    queue: {
      enqueue: () => {
        throw new Error('not called')
      }
    },
    flushQueue: () => shown.push('flush')
  }
  global.wx = {
    chooseMedia: opts => opts.fail({ errMsg: 'chooseMedia:fail cancel' }),
    showModal: o => shown.push(o.title)
  }
  await album.addToOutbox(app, 'report', 3, () => shown.push('page'))
  expect(shown).toEqual([])
  global.wx.chooseMedia = opts => opts.fail({ errMsg: 'chooseMedia:fail no permission' })
  await album.addToOutbox(app, 'report', 3, () => shown.push('page'))
  expect(shown).toEqual(['照片未保存'])
  delete global.wx
})
