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
  expect(files.usedBytes()).toBe(0)
  expect(files.nearCap()).toBe(false)
  wx.fs.set('wxfile://usr/a.jpg', { data: { length: 100 * 1024 * 1024 } })
  wx.fs.set('wxfile://tmp_x.jpg', { data: { length: 100 * 1024 * 1024 } }) // temp files do not count
  expect(files.usedBytes()).toBe(100 * 1024 * 1024)
  expect(files.nearCap()).toBe(false)
  wx.fs.set('wxfile://usr/b.jpg', { data: { length: WARN_BYTES - 100 * 1024 * 1024 } })
  expect(files.nearCap()).toBe(true)
})

test('older base libraries answer statSync as an object map', () => {
  const wx = {
    env: { USER_DATA_PATH: 'wxfile://usr' },
    getFileSystemManager: () => ({
      statSync: () => ({ '/a.jpg': { size: 5, isDirectory: () => false }, '/d': { size: 4096, isDirectory: () => true } })
    })
  }
  expect(createFiles({ wx }).usedBytes()).toBe(5)
})
