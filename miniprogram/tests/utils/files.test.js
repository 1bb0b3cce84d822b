/**
 * @jest-environment node
 */
const { createFiles, WARN_BYTES } = require('../../utils/files')
const { createFakeWx } = require('../support/fake-wx')

function setup() {
  const wx = createFakeWx({ server: null })
  return { wx, files: createFiles({ wx }) }
}

test('keep moves a camera temp file into the user data folder; a kept path stays as it is', () => {
  const { wx, files } = setup()
  wx.putTempFile('wxfile://tmp_123.jpg', 'jpeg bytes')
  const kept = files.keep('wxfile://tmp_123.jpg')
  expect(kept).toMatch(/^wxfile:\/\/usr\/outbox-\d+-\d+-\d+\.jpg$/)
  expect(files.isKept(kept)).toBe(true)
  expect(wx.fs.has('wxfile://tmp_123.jpg')).toBe(false)
  expect(files.size(kept)).toBe(10)
  expect(files.keep(kept)).toBe(kept)
  const other = files.keep(wx.putTempFile('wxfile://tmp_124.png', 'png'))
  expect(other).not.toBe(kept)
  expect(other).toMatch(/\.png$/)
})

test('keep throws when the temp file is gone (the caller must not queue a photo it lost)', () => {
  const { files } = setup()
  expect(() => files.keep('wxfile://tmp_missing.jpg')).toThrow(/no such file/)
})

test('remove deletes, and removing twice is fine', () => {
  const { wx, files } = setup()
  const kept = files.keep(wx.putTempFile('wxfile://tmp_1.jpg', 'x'))
  files.remove(kept)
  expect(wx.fs.has(kept)).toBe(false)
  expect(() => files.remove(kept)).not.toThrow()
  expect(files.size(kept)).toBeNull()
})

test('usedBytes counts the user data folder; nearCap from 150 MB', () => {
  const { wx, files } = setup()
  wx.fs.set('wxfile://usr/a.jpg', { data: { length: 100 * 1024 * 1024 } })
  wx.fs.set('wxfile://tmp_x.jpg', { data: { length: 100 * 1024 * 1024 } }) // temp files do not count
  expect(files.usedBytes()).toBe(100 * 1024 * 1024)
  expect(files.nearCap()).toBe(false)
  wx.fs.set('wxfile://tmp_b.jpg', { data: { length: WARN_BYTES - 100 * 1024 * 1024 } })
  const b = files.keep('wxfile://tmp_b.jpg')
  expect(files.nearCap()).toBe(true)
  files.remove(b)
  expect(files.usedBytes()).toBe(100 * 1024 * 1024)
})

test('nearCap keeps a running count: the folder is walked once, not on every progress event (item 10)', () => {
  const { wx, files } = setup()
  for (let i = 0; i < 20; i++) files.keep(wx.putTempFile(`wxfile://tmp_${i}.jpg`, 'x'.repeat(1000)))
  for (let i = 0; i < 200; i++) files.nearCap()
  expect(files.usedBytes()).toBe(20 * 1000)
  expect(wx.stats.dirScans).toBeLessThanOrEqual(1)
})

test('listKept names the originals this store kept, for the orphan sweep (item 9)', () => {
  const { wx, files } = setup()
  const a = files.keep(wx.putTempFile('wxfile://tmp_a.jpg', 'a'))
  wx.fs.set('wxfile://usr/other.txt', { data: Buffer.from('x') })
  expect(files.listKept()).toEqual([a])
})

test('older base libraries answer statSync as an object map', () => {
  const wx = {
    env: { USER_DATA_PATH: 'wxfile://usr' },
    getFileSystemManager: () => ({
      statSync: () => ({
        '/a.jpg': { size: 5, isDirectory: () => false },
        '/d': { size: 4096, isDirectory: () => true }
      })
    })
  }
  expect(createFiles({ wx }).usedBytes()).toBe(5)
})
