// WGS-84 ⇄ GCJ-02 and distances, the same formulas as server/geo.py: the phone shows and
// checks positions the way the server will judge them. wx location APIs give GCJ-02 when
// asked for it; the server stores WGS-84.

// Krasovsky 1940 ellipsoid, which the GCJ-02 algorithm is defined on. geo.py writes e² with more
// digits (0.00669342162296594323) than a double keeps; both read as this same double.
const KRASOVSKY_A = 6378245.0
const KRASOVSKY_EE = 0.006693421622965943

// The inverse stops once a step moves less than ~1 µm; the cap guards against a
// pathological input that would never settle (as in geo.py).
const INVERSE_TOLERANCE_DEG = 1e-11
const INVERSE_MAX_ITERATIONS = 30

// WGS-84 ellipsoid for distances (geopy's geodesic uses the same one).
const WGS84_A = 6378137.0
const WGS84_F = 1 / 298.257223563
const WGS84_B = WGS84_A * (1 - WGS84_F)

/** True when the point lies outside the rough bounding box where GCJ-02 applies. */
function outOfChina(lat, lng) {
  return !(lng >= 72.004 && lng <= 137.8347 && lat >= 0.8293 && lat <= 55.8271)
}

function transformLat(x, y) {
  const PI = Math.PI
  let ret = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * Math.sqrt(Math.abs(x))
  ret += ((20.0 * Math.sin(6.0 * x * PI) + 20.0 * Math.sin(2.0 * x * PI)) * 2.0) / 3.0
  ret += ((20.0 * Math.sin(y * PI) + 40.0 * Math.sin((y / 3.0) * PI)) * 2.0) / 3.0
  ret += ((160.0 * Math.sin((y / 12.0) * PI) + 320.0 * Math.sin((y * PI) / 30.0)) * 2.0) / 3.0
  return ret
}

function transformLng(x, y) {
  const PI = Math.PI
  let ret = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * Math.sqrt(Math.abs(x))
  ret += ((20.0 * Math.sin(6.0 * x * PI) + 20.0 * Math.sin(2.0 * x * PI)) * 2.0) / 3.0
  ret += ((20.0 * Math.sin(x * PI) + 40.0 * Math.sin((x / 3.0) * PI)) * 2.0) / 3.0
  ret += ((150.0 * Math.sin((x / 12.0) * PI) + 300.0 * Math.sin((x / 30.0) * PI)) * 2.0) / 3.0
  return ret
}

// The raw GCJ-02 shift in degrees with no China check, so the inverse iteration sees a
// smooth function even next to the bounding-box edge.
function gcj02Offset(lat, lng) {
  let dLat = transformLat(lng - 105.0, lat - 35.0)
  let dLng = transformLng(lng - 105.0, lat - 35.0)
  const radLat = (lat / 180.0) * Math.PI
  const magic = 1 - KRASOVSKY_EE * Math.pow(Math.sin(radLat), 2)
  const sqrtMagic = Math.sqrt(magic)
  dLat = (dLat * 180.0) / (((KRASOVSKY_A * (1 - KRASOVSKY_EE)) / (magic * sqrtMagic)) * Math.PI)
  dLng = (dLng * 180.0) / ((KRASOVSKY_A / sqrtMagic) * Math.cos(radLat) * Math.PI)
  return { dLat, dLng }
}

/** WGS-84 → GCJ-02 as {lat, lng}; identity outside China. */
function wgs84ToGcj02(lat, lng) {
  if (outOfChina(lat, lng)) return { lat, lng }
  const o = gcj02Offset(lat, lng)
  return { lat: lat + o.dLat, lng: lng + o.dLng }
}

/** GCJ-02 → WGS-84 as {lat, lng} by fixed-point iteration (well under 0.01 m); identity outside China. */
function gcj02ToWgs84(lat, lng) {
  if (outOfChina(lat, lng)) return { lat, lng }
  // Subtracting the offset at the GCJ point once is off by metres; iterating on the residual
  // converges because the offset varies slowly.
  let wLat = lat
  let wLng = lng
  for (let i = 0; i < INVERSE_MAX_ITERATIONS; i++) {
    const o = gcj02Offset(wLat, wLng)
    const errLat = wLat + o.dLat - lat
    const errLng = wLng + o.dLng - lng
    wLat -= errLat
    wLng -= errLng
    if (Math.abs(errLat) < INVERSE_TOLERANCE_DEG && Math.abs(errLng) < INVERSE_TOLERANCE_DEG) break
  }
  return { lat: wLat, lng: wLng }
}

// Accept what pages have at hand: {lat, lng}, wx's {latitude, longitude} or [lat, lng].
function point(p) {
  if (Array.isArray(p)) return { lat: Number(p[0]), lng: Number(p[1]) }
  if (p && p.lat !== undefined) return { lat: Number(p.lat), lng: Number(p.lng) }
  if (p && p.latitude !== undefined) return { lat: Number(p.latitude), lng: Number(p.longitude) }
  throw new TypeError('expected {lat, lng} or [lat, lng]')
}

function haversineM(a, b) {
  const r = 6371008.8
  const rad = Math.PI / 180
  const dLat = (b.lat - a.lat) * rad
  const dLng = (b.lng - a.lng) * rad
  const h =
    Math.pow(Math.sin(dLat / 2), 2) +
    Math.cos(a.lat * rad) * Math.cos(b.lat * rad) * Math.pow(Math.sin(dLng / 2), 2)
  return 2 * r * Math.asin(Math.min(1, Math.sqrt(h)))
}

/** Geodesic distance in metres between two WGS-84 points (Vincenty; matches geopy to < 1 mm). */
function distanceM(a, b) {
  const p = point(a)
  const q = point(b)
  if (p.lat === q.lat && p.lng === q.lng) return 0
  const rad = Math.PI / 180
  const L = (q.lng - p.lng) * rad
  const U1 = Math.atan((1 - WGS84_F) * Math.tan(p.lat * rad))
  const U2 = Math.atan((1 - WGS84_F) * Math.tan(q.lat * rad))
  const sinU1 = Math.sin(U1)
  const cosU1 = Math.cos(U1)
  const sinU2 = Math.sin(U2)
  const cosU2 = Math.cos(U2)
  let lambda = L
  let sinSigma, cosSigma, sigma, cos2Alpha, cos2SigmaM
  for (let i = 0; i < 200; i++) {
    const sinLambda = Math.sin(lambda)
    const cosLambda = Math.cos(lambda)
    sinSigma = Math.sqrt(
      Math.pow(cosU2 * sinLambda, 2) + Math.pow(cosU1 * sinU2 - sinU1 * cosU2 * cosLambda, 2)
    )
    if (sinSigma === 0) return 0
    cosSigma = sinU1 * sinU2 + cosU1 * cosU2 * cosLambda
    sigma = Math.atan2(sinSigma, cosSigma)
    const sinAlpha = (cosU1 * cosU2 * sinLambda) / sinSigma
    cos2Alpha = 1 - sinAlpha * sinAlpha
    cos2SigmaM = cos2Alpha !== 0 ? cosSigma - (2 * sinU1 * sinU2) / cos2Alpha : 0
    const C = (WGS84_F / 16) * cos2Alpha * (4 + WGS84_F * (4 - 3 * cos2Alpha))
    const prev = lambda
    lambda =
      L +
      (1 - C) *
        WGS84_F *
        sinAlpha *
        (sigma + C * sinSigma * (cos2SigmaM + C * cosSigma * (-1 + 2 * cos2SigmaM * cos2SigmaM)))
    if (Math.abs(lambda - prev) < 1e-12) {
      const uSq = (cos2Alpha * (WGS84_A * WGS84_A - WGS84_B * WGS84_B)) / (WGS84_B * WGS84_B)
      const A = 1 + (uSq / 16384) * (4096 + uSq * (-768 + uSq * (320 - 175 * uSq)))
      const B = (uSq / 1024) * (256 + uSq * (-128 + uSq * (74 - 47 * uSq)))
      const deltaSigma =
        B *
        sinSigma *
        (cos2SigmaM +
          (B / 4) *
            (cosSigma * (-1 + 2 * cos2SigmaM * cos2SigmaM) -
              (B / 6) *
                cos2SigmaM *
                (-3 + 4 * sinSigma * sinSigma) *
                (-3 + 4 * cos2SigmaM * cos2SigmaM)))
      return WGS84_B * A * (sigma - deltaSigma)
    }
  }
  // Nearly antipodal points (never two ends of a village visit): a sphere is close enough.
  return haversineM(p, q)
}

module.exports = { wgs84ToGcj02, gcj02ToWgs84, distanceM, outOfChina }
