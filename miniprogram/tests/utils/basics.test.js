/**
 * @jest-environment node
 */
const { uuid4 } = require('../../utils/uuid')
const { rfc3339 } = require('../../utils/time')
const config = require('../../utils/config')

describe('uuid4', () => {
  test('is a version 4 UUID the server accepts (format uuid)', () => {
    const seen = new Set()
    for (let i = 0; i < 1000; i++) {
      const u = uuid4()
      expect(u).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
      seen.add(u)
    }
    expect(seen.size).toBe(1000)
  })

  test('takes injected randomness (bytes or a function)', () => {
    const zeros = new Uint8Array(16)
    expect(uuid4(zeros)).toBe('00000000-0000-4000-8000-000000000000')
    expect(uuid4(n => new Uint8Array(n).fill(255))).toBe('ffffffff-ffff-4fff-bfff-ffffffffffff')
  })

  test('works without crypto.getRandomValues (WeChat has none)', () => {
    const saved = globalThis.crypto
    Object.defineProperty(globalThis, 'crypto', {
      value: undefined,
      configurable: true,
      writable: true
    })
    try {
      expect(uuid4()).toMatch(/^[0-9a-f-]{36}$/)
    } finally {
      Object.defineProperty(globalThis, 'crypto', {
        value: saved,
        configurable: true,
        writable: true
      })
    }
  })
})

describe('rfc3339', () => {
  test('local time with offset, naming the same instant', () => {
    const d = new Date(Date.UTC(2026, 4, 4, 1, 30, 0, 123))
    const text = rfc3339(d)
    expect(text).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}[+-]\d{2}:\d{2}$/)
    expect(Date.parse(text)).toBe(d.getTime())
  })
})

describe('config', () => {
  test('one API base per environment, release by default', () => {
    expect(config.apiBase('develop')).toBe('http://127.0.0.1:8000/api/v1')
    expect(config.apiBase('trial')).toMatch(/^https:\/\/.+\/api\/v1$/)
    expect(config.apiBase('release')).toMatch(/^https:\/\/.+\/api\/v1$/)
    expect(config.apiBase(undefined)).toBe(config.apiBase('release'))
  })
})

describe('rfc3339 in China', () => {
  test('a phone in China sends +08:00 wall-clock time', () => {
    const d = new Date(Date.UTC(2026, 4, 4, 1, 30, 0, 5))
    d.getTimezoneOffset = () => -480
    expect(rfc3339(d)).toBe('2026-05-04T09:30:00.005+08:00')
  })
  test('west of Greenwich the offset is negative', () => {
    const d = new Date(Date.UTC(2026, 0, 1, 3, 0, 0, 0))
    d.getTimezoneOffset = () => 330
    expect(rfc3339(d)).toBe('2025-12-31T21:30:00.000-05:30')
  })
})
