// WeChat's storage limits as the fake `wx`s keep them (tests/support/fake-wx.js for the utils
// tests, tests/e2e/node-wx.js for the end-to-end ones, tests/pages/fakes.js for the pages): at most
// 1 MB per key and 10 MB in all, counted on the serialised string WeChat stores; a write past
// either throws, with WeChat's errMsg.
//
// The bytes in a storage Map are kept per key, shared by every fake over the same Map (a restarted
// phone's flash), so a write costs the serialising of its own value, not of everything stored:
// re-serialising all of storage on each write was 3.4 s of CPU in the 30-visit chaos run, whose
// storage is filled with 10 MB of other apps' data. Only the fakes write to the Map: a change made
// behind their backs is noticed only when it changes the number of keys.

const KEY_LIMIT_BYTES = 1024 * 1024
const TOTAL_LIMIT_BYTES = 10 * 1024 * 1024

/** The string WeChat stores for a value (and counts against its limits). */
function serialised(value) {
  return JSON.stringify(value === undefined ? null : value)
}

/** Bytes a stored value takes: its key and `text`, the value as serialised(). */
function storedBytes(key, text) {
  return Buffer.byteLength(key) + Buffer.byteLength(text)
}

/** WeChat's errMsg for a write of `bytes` beside `others` bytes already stored, or null if it fits. */
function refusal(bytes, others, totalLimit = TOTAL_LIMIT_BYTES) {
  if (bytes > KEY_LIMIT_BYTES) return 'setStorageSync:fail exceed storage item max length'
  if (others + bytes > totalLimit) return 'setStorageSync:fail exceed storage max size 10Mb'
  return null
}

const SIZES = new WeakMap()

/**
 * The byte count of a storage Map: total(except?) with or without one key, record(key, bytes)
 * after a write, forget(key) after a removal. A Map changed behind the fakes' backs (a key count
 * that no longer matches) is counted again from its values.
 */
function storageSizes(storage) {
  if (!SIZES.has(storage)) SIZES.set(storage, { map: new Map(), total: 0 })
  const sizes = SIZES.get(storage)

  function recount() {
    if (sizes.map.size === storage.size) return
    sizes.map.clear()
    sizes.total = 0
    storage.forEach((v, k) => {
      const b = storedBytes(k, serialised(v))
      sizes.map.set(k, b)
      sizes.total += b
    })
  }

  return {
    total(except) {
      recount()
      return (
        sizes.total - (except !== undefined && sizes.map.has(except) ? sizes.map.get(except) : 0)
      )
    },
    record(key, bytes) {
      recount()
      sizes.total += bytes - (sizes.map.get(key) || 0)
      sizes.map.set(key, bytes)
    },
    forget(key) {
      recount()
      sizes.total -= sizes.map.get(key) || 0
      sizes.map.delete(key)
    }
  }
}

module.exports = {
  KEY_LIMIT_BYTES,
  TOTAL_LIMIT_BYTES,
  serialised,
  storedBytes,
  refusal,
  storageSizes
}
