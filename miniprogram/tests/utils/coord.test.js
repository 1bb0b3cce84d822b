/**
 * @jest-environment node
 */
// coord.js must give the server's numbers: the expected values below were printed by
// server/geo.py (wgs84_to_gcj02, gcj02_to_wgs84, distance_m = geopy geodesic).
const coord = require('../../utils/coord')

// [{wgs, gcj: wgs84_to_gcj02(wgs), inv_of_input: gcj02_to_wgs84(wgs)}]
const POINTS = [
  {
    wgs: [39.915, 116.404],
    gcj: [39.91640428150164, 116.41024449916938],
    inv_of_input: [39.913596235609404, 116.39775575457485]
  },
  {
    wgs: [27.1145, 114.9876],
    gcj: [27.111132062395324, 114.99256616204978],
    inv_of_input: [27.117881555120462, 114.98265067964107]
  },
  {
    wgs: [29.4026, 112.9103],
    gcj: [29.399718592752635, 112.91580294382898],
    inv_of_input: [29.405481236617273, 112.9048001792129]
  },
  {
    wgs: [32.3854, 120.5643],
    gcj: [32.38319582772768, 120.5685991866366],
    inv_of_input: [32.387597307951545, 120.55999132006946]
  },
  {
    wgs: [30.7382, 116.1147],
    gcj: [30.73600866484063, 116.12003616227727],
    inv_of_input: [30.74038714083611, 116.10935792896834]
  },
  {
    wgs: [34.3416, 108.9398],
    gcj: [34.340044495655384, 108.94445563427456],
    inv_of_input: [34.343162079374, 108.93515601892852]
  },
  {
    wgs: [22.5431, 114.0579],
    gcj: [22.54038281422246, 114.06301399856547],
    inv_of_input: [22.54582649703975, 114.05279233430046]
  },
  {
    wgs: [45.75, 126.63],
    gcj: [45.751935204908385, 126.6359423904876],
    inv_of_input: [45.74807115975812, 126.62406815422501]
  },
  {
    wgs: [1.3521, 103.8198],
    gcj: [1.3526895153473426, 103.82118321534345],
    inv_of_input: [1.351507565848706, 103.8184144274672]
  },
  { wgs: [40.7128, -74.006], gcj: [40.7128, -74.006], inv_of_input: [40.7128, -74.006] },
  {
    wgs: [55.8, 137.8],
    gcj: [55.80258976818961, 137.80918154839705],
    inv_of_input: [55.797395882774815, 137.7907818566559]
  }
]
const DISTANCES = [
  { a: [27.1145, 114.9876], b: [27.115, 114.989], m: 149.46305417277512 },
  { a: [39.915, 116.404], b: [31.23, 121.47], m: 1066943.6974414252 },
  { a: [29.4026, 112.9103], b: [29.4026, 112.91130000000001], m: 97.0589325511856 },
  { a: [0, 0], b: [0, 1], m: 111319.49079327357 }
]

describe('GCJ-02 conversion', () => {
  test('WGS-84 (39.915, 116.404) → GCJ-02 exactly as the server computes it', () => {
    expect(coord.wgs84ToGcj02(39.915, 116.404)).toEqual({
      lat: 39.91640428150164,
      lng: 116.41024449916938
    })
  })

  test.each(POINTS)('forward and inverse match server/geo.py at %j', p => {
    const g = coord.wgs84ToGcj02(p.wgs[0], p.wgs[1])
    expect(g.lat).toBeCloseTo(p.gcj[0], 12)
    expect(g.lng).toBeCloseTo(p.gcj[1], 12)
    const w = coord.gcj02ToWgs84(p.wgs[0], p.wgs[1])
    expect(w.lat).toBeCloseTo(p.inv_of_input[0], 12)
    expect(w.lng).toBeCloseTo(p.inv_of_input[1], 12)
  })

  test('the inverse round-trips to well under a centimetre', () => {
    for (const p of POINTS) {
      const g = coord.wgs84ToGcj02(p.wgs[0], p.wgs[1])
      const back = coord.gcj02ToWgs84(g.lat, g.lng)
      expect(coord.distanceM(back, { lat: p.wgs[0], lng: p.wgs[1] })).toBeLessThan(0.001)
    }
  })

  test('outside China both directions are the identity', () => {
    expect(coord.wgs84ToGcj02(40.7128, -74.006)).toEqual({ lat: 40.7128, lng: -74.006 })
    expect(coord.gcj02ToWgs84(51.5, -0.12)).toEqual({ lat: 51.5, lng: -0.12 })
    expect(coord.outOfChina(39.9, 116.4)).toBe(false)
  })
})

describe('distanceM', () => {
  test.each(DISTANCES)('matches geopy geodesic to a millimetre: %j', d => {
    expect(Math.abs(coord.distanceM(d.a, d.b) - d.m)).toBeLessThan(0.001)
  })

  test('accepts {lat, lng}, wx {latitude, longitude} and [lat, lng] alike', () => {
    const a = coord.distanceM(
      { lat: 27.1145, lng: 114.9876 },
      { latitude: 27.115, longitude: 114.989 }
    )
    expect(a).toBeCloseTo(coord.distanceM([27.1145, 114.9876], [27.115, 114.989]), 9)
    expect(coord.distanceM([30, 110], [30, 110])).toBe(0)
  })

  test('nearly antipodal points still give a sane number', () => {
    const m = coord.distanceM([45, 10], [-45, -170.5])
    expect(Math.abs(m - 19981349.343755357) / 19981349.343755357).toBeLessThan(0.005)
  })
})
