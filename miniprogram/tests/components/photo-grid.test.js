/**
 * @jest-environment jsdom
 */
// The photo grid alone, rendered by miniprogram-simulate: every state the three forms show.
const path = require('path')
const simulate = require('miniprogram-simulate')
const { ROOT, simulateOptions, settle, tap, text } = require('../pages/harness')

let id

beforeAll(() => {
  global.wx = { previewImage: jest.fn() }
  id = simulate.load(path.join(ROOT, 'components', 'photo-grid', 'photo-grid'), simulateOptions())
})

beforeEach(() => {
  global.wx.previewImage.mockClear()
})

/** The grid with these properties, attached, and a log of the events it sent. */
function render(properties) {
  const grid = simulate.render(id, properties)
  grid.attach(document.createElement('parent-wrapper'))
  const events = []
  ;['add', 'remove'].forEach(name =>
    grid.addEventListener(name, e => events.push({ name, detail: e.detail }))
  )
  return { grid, events }
}

const UPLOADING = {
  key: 'c1',
  path: 'wxfile://usr/a.jpg',
  progress: 40,
  failed: false,
  statusText: '上传中 40%'
}
const FAILED = {
  key: 'c2',
  path: 'wxfile://usr/b.jpg',
  progress: 10,
  failed: true,
  statusText: '未能上传：照片太大'
}
const DONE = {
  key: 's7',
  path: 'https://example.invalid/t7.jpg',
  progress: 100,
  failed: false,
  statusText: '已上传'
}

describe('rows (月报, 整改回复)', () => {
  test('each photo shows its progress bar and state; a refused one reads as an error', () => {
    const { grid } = render({ photos: [UPLOADING, FAILED, DONE], max: 9 })
    expect(grid.querySelector('#photo-0 .progress-bar').dom.getAttribute('style')).toContain(
      'width: 40%'
    )
    expect(text(grid, '#status-0')).toBe('上传中 40%')
    expect(grid.querySelector('#status-0').dom.className).toContain('muted')
    expect(text(grid, '#status-1')).toBe('未能上传：照片太大')
    expect(grid.querySelector('#status-1').dom.className).toContain('error')
    expect(grid.querySelector('#status-1').dom.className).not.toContain('muted')
    expect(grid.querySelector('#photo-2 .progress-bar').dom.getAttribute('style')).toContain(
      'width: 100%'
    )
    expect(text(grid, '#status-2')).toBe('已上传')
    expect(grid.querySelector('#photo-3')).toBeFalsy()
  })

  test('the time a photo was taken shows only when the row has one', () => {
    const { grid } = render({ photos: [{ ...DONE, takenText: '拍摄于 10:05' }, UPLOADING] })
    expect(text(grid, '#taken-0')).toBe('拍摄于 10:05')
    expect(grid.querySelector('#taken-1')).toBeFalsy()
  })

  test("an editable grid offers 删除 on every photo and the add button under them, with the page's words", async () => {
    const { grid, events } = render({ photos: [UPLOADING, DONE], max: 9, addText: '添加整改照片' })
    expect(text(grid, '#remove-1')).toBe('删除')
    expect(text(grid, '#add-photo')).toBe('添加整改照片')
    expect(grid.querySelector('#add-photo').dom.className).toContain('btn-block')
    await tap(grid, '#remove-1')
    await tap(grid, '#add-photo')
    expect(events).toEqual([
      { name: 'remove', detail: { index: 1 } },
      { name: 'add', detail: undefined }
    ])
  })

  test('a sealed grid (handed in, or its reply waiting in the outbox) has no add and no remove', () => {
    const { grid } = render({ photos: [UPLOADING, DONE], max: 9, editable: false })
    expect(grid.querySelector('#photo-1')).toBeTruthy()
    expect(grid.querySelector('#remove-0')).toBeFalsy()
    expect(grid.querySelector('#remove-1')).toBeFalsy()
    expect(grid.querySelector('#add-photo')).toBeFalsy()
  })

  test('the add button goes once the grid holds max photos and comes back when one is removed', async () => {
    const { grid } = render({ photos: [UPLOADING, FAILED], max: 2 })
    expect(grid.querySelector('#add-photo')).toBeFalsy()
    grid.setData({ photos: [UPLOADING] })
    await settle()
    expect(grid.querySelector('#add-photo')).toBeTruthy()
  })

  test('without preview a tap on a photo opens nothing', async () => {
    const { grid } = render({ photos: [UPLOADING, DONE] })
    await tap(grid, '#photo-1 .photo-img')
    expect(global.wx.previewImage).not.toHaveBeenCalled()
  })

  test('with preview a tap opens every photo full screen, starting at the one tapped', async () => {
    const { grid } = render({ photos: [UPLOADING, DONE], preview: true })
    await tap(grid, '#photo-1 .photo-img')
    expect(global.wx.previewImage).toHaveBeenCalledWith({
      urls: [UPLOADING.path, DONE.path],
      current: DONE.path
    })
  })
})

describe('tiles (群众反馈)', () => {
  const PICKED = [
    { path: 'wxfile://tmp/1.jpg', size: 1000 },
    { path: 'wxfile://tmp/2.jpg', size: 1000 }
  ]

  test('square tiles with × and a ＋ tile, no progress or state', async () => {
    const { grid, events } = render({ photos: PICKED, max: 6, tiles: true })
    expect(grid.querySelector('#photo-0 .progress')).toBeFalsy()
    expect(grid.querySelector('#remove-0')).toBeFalsy()
    expect(text(grid, '#remove-photo-1')).toBe('×')
    expect(text(grid, '#add-photo')).toBe('＋')
    expect(grid.querySelector('#add-photo').dom.className).toContain('photo-add')
    await tap(grid, '#remove-photo-1')
    await tap(grid, '#add-photo')
    expect(events).toEqual([
      { name: 'remove', detail: { index: 1 } },
      { name: 'add', detail: undefined }
    ])
  })

  test('the ＋ tile goes at max', () => {
    const { grid } = render({ photos: PICKED, max: 2, tiles: true })
    expect(grid.querySelector('#photo-1')).toBeTruthy()
    expect(grid.querySelector('#add-photo')).toBeFalsy()
  })
})
