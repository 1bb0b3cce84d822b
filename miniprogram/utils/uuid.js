// client_id for every write: a random (version 4) UUID made on the phone, so a retry after a
// lost answer names the same write and the server stores it once.

function defaultRandomBytes(n) {
  const out = new Uint8Array(n)
  const c = typeof globalThis !== 'undefined' && globalThis.crypto
  if (c && typeof c.getRandomValues === 'function') {
    c.getRandomValues(out)
    return out
  }
  // WeChat's JS runtime has no synchronous CSPRNG; Math.random (xorshift128+, seeded per
  // launch) is ample for identifiers that only need to be unique, not secret.
  for (let i = 0; i < n; i++) out[i] = Math.floor(Math.random() * 256)
  return out
}

/** A random UUID v4 string; randomBytes is a function n → bytes or 16 bytes (for tests). */
function uuid4(randomBytes) {
  let bytes
  if (typeof randomBytes === 'function') bytes = randomBytes(16)
  else if (randomBytes && randomBytes.length >= 16) bytes = randomBytes
  else bytes = defaultRandomBytes(16)
  const b = Array.prototype.slice.call(bytes, 0, 16).map(x => x & 0xff)
  b[6] = (b[6] & 0x0f) | 0x40 // version 4
  b[8] = (b[8] & 0x3f) | 0x80 // RFC 4122 variant
  const hex = b.map(x => (x < 16 ? '0' : '') + x.toString(16)).join('')
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`
}

module.exports = { uuid4 }
