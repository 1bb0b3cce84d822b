// The evidence page's tiled map (Leaflet + 天地图 WMTS), loaded only when the console has a 天地图 key.
// Everything it draws comes from data- attributes on #visit-leaflet:
//   data-map         the place, its geofence and boundary, and the evidence points (server/console/maps.py)
//   data-tiles       the tile URL template; data-subdomains and data-tk fill its {s} and {tk}
// Positions are WGS-84 as stored and are given to Leaflet unchanged: 天地图's tiles are CGCS2000
// (equal to WGS-84 within centimetres) on the Web Mercator grid, so no GCJ-02 offset applies.
// Points too far away to fit beside the village get a dashed line from the centre and a label with
// their distance, kept at the edge of the view. If no tile loads (offline, key refused), the page
// goes back to the SVG sketch (#visit-sketch), which is also what shows without this script.
(function () {
  'use strict';

  var EDGE = { x: 96, y: 24 }; // px: far labels (centred, about 170 px wide) stay inside the map
  var COLOURS = { within: '#1a7f37', outside: '#b3261e', photo: '#0969da', exif: '#9a6700' };

  function textNode(tag, className, text) {
    var el = document.createElement(tag);
    if (className) el.className = className;
    el.textContent = text;
    return el;
  }

  function markerIcon(point) {
    var state = point.kind === 'checkin' ? (point.ok ? 'within' : 'outside') : point.kind;
    var box = document.createElement('div');
    box.appendChild(textNode('span', 'shape', point.kind === 'checkin' ? point.label : ''));
    if (point.kind !== 'checkin') box.appendChild(textNode('span', 'label', point.label));
    var size = point.kind === 'checkin' ? 20 : 14;
    return L.divIcon({
      className: 'map-marker ' + point.kind + ' ' + state,
      html: box,
      iconSize: [size, size],
      iconAnchor: [size / 2, size / 2],
    });
  }

  // Where the segment from a to b leaves the rectangle [lo, hi] (pixels); b itself when inside.
  function clip(a, b, lo, hi) {
    var t = 1;
    ['x', 'y'].forEach(function (axis) {
      var d = b[axis] - a[axis];
      if (b[axis] > hi[axis] && d !== 0) t = Math.min(t, (hi[axis] - a[axis]) / d);
      if (b[axis] < lo[axis] && d !== 0) t = Math.min(t, (lo[axis] - a[axis]) / d);
    });
    t = Math.max(t, 0);
    return L.point(a.x + t * (b.x - a.x), a.y + t * (b.y - a.y));
  }

  function showSketch(el, reason) {
    el.hidden = true;
    document.getElementById('visit-sketch').hidden = false;
    var note = document.getElementById('visit-map-note');
    if (note) note.textContent = reason;
  }

  function draw(el) {
    var data = JSON.parse(el.getAttribute('data-map'));
    var center = L.latLng(data.center[0], data.center[1]);
    el.hidden = false;
    document.getElementById('visit-sketch').hidden = true;
    var map = L.map(el, { zoomSnap: 1, maxZoom: 18 });
    map.attributionControl.setPrefix('Leaflet');

    var options = {
      subdomains: el.getAttribute('data-subdomains'),
      tk: el.getAttribute('data-tk'),
      maxZoom: 18,
      attribution: '底图:天地图',
    };
    function tiles(layer) {
      return L.tileLayer(el.getAttribute('data-tiles'), L.extend({ layer: layer }, options));
    }
    var vector = tiles('vec');
    var loaded = 0;
    var failed = 0;
    vector.on('tileload', function () { loaded += 1; });
    vector.on('tileerror', function () { failed += 1; });
    vector.once('load', function () {
      if (loaded === 0 && failed > 0) showSketch(el, '天地图底图无法加载(离线或密钥无效),已改用离线示意图。');
    });
    var base = L.layerGroup([vector, tiles('cva')]).addTo(map);
    L.control.layers({ 矢量地图: base, 卫星影像: L.layerGroup([tiles('img'), tiles('cia')]) }).addTo(map);
    L.control.scale({ imperial: false }).addTo(map);

    // The view first (the village with everything near it), so that layers added below are drawn at once.
    var bounds = center.toBounds(data.radius_m * 2.5);
    var boundary = data.boundary ? L.geoJSON(data.boundary, {
      style: { color: COLOURS.within, weight: 1.5, fillOpacity: 0.15, className: 'boundary' },
    }) : null;
    if (boundary) bounds.extend(boundary.getBounds());
    data.points.forEach(function (point) {
      if (!point.far) bounds.extend([point.lat, point.lng]);
    });
    map.fitBounds(bounds, { padding: [24, 24], maxZoom: 17 });

    L.circle(center, {
      radius: data.radius_m, color: COLOURS.within, weight: 1.5, dashArray: '6 4', fillOpacity: 0.08,
      className: 'geofence',
    }).addTo(map);
    if (boundary) boundary.addTo(map);
    L.marker(center, {
      icon: L.divIcon({ className: 'map-marker place', iconSize: [16, 16], iconAnchor: [8, 8] }),
      title: data.place + '中心',
      keyboard: false,
    }).addTo(map);

    var far = [];
    data.points.forEach(function (point) {
      var at = L.latLng(point.lat, point.lng);
      var colour = point.kind === 'checkin' ? COLOURS[point.ok ? 'within' : 'outside'] : COLOURS[point.kind];
      L.marker(at, { icon: markerIcon(point), title: point.title, riseOnHover: true }).addTo(map);
      if (!point.far) return;
      L.polyline([center, at], { color: colour, weight: 2, dashArray: '8 6', className: 'far-line' }).addTo(map);
      var label = L.marker(at, {
        icon: L.divIcon({
          className: 'far-label',
          html: textNode('span', '', point.label + ' 距中心 ' + point.distance),
          iconSize: null,
        }),
        title: point.title,
        keyboard: false,
        interactive: false,
      }).addTo(map);
      far.push({ at: at, label: label });
    });

    function placeFarLabels() {
      var size = map.getSize();
      var lo = L.point(EDGE.x, EDGE.y);
      var hi = L.point(size.x - EDGE.x, size.y - EDGE.y);
      var from = map.latLngToContainerPoint(center);
      var taken = [];
      far.forEach(function (f) {
        var at = clip(from, map.latLngToContainerPoint(f.at), lo, hi);
        var span = f.label.getElement().firstChild;
        var w = span.offsetWidth;
        var h = span.offsetHeight;
        var step = L.point(0, at.y < from.y ? h + 2 : -h - 2);
        function overlaps(r) {
          return Math.abs(r.x - at.x) < (r.w + w) / 2 && Math.abs(r.y - at.y) < (r.h + h) / 2;
        }
        // Labels of points in nearly the same direction would cover each other: move towards the centre.
        for (var i = 0; i < 20 && taken.some(overlaps); i += 1) at = at.add(step);
        taken.push({ x: at.x, y: at.y, w: w, h: h });
        f.label.setLatLng(map.containerPointToLatLng(at));
      });
    }
    placeFarLabels();
    map.on('moveend zoomend resize', placeFarLabels);
  }

  document.addEventListener('DOMContentLoaded', function () {
    var el = document.getElementById('visit-leaflet');
    if (el && window.L) draw(el);
  });
})();
