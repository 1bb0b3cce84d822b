"""The evidence page's tiled map: what it plots, where its tiles come from, and the hosts its images need.

Every coordinate the database holds is WGS-84 (server/geo.py converts GCJ-02 input on the way in).
天地图 publishes its tiles in CGCS2000, which agrees with WGS-84 to a few centimetres, on the Web
Mercator grid Leaflet uses by default (TILEMATRIXSET=w). So the stored positions are handed to
Leaflet exactly as stored: converting them to GCJ-02, as Tencent or AMap tiles would need, would
move every marker by several hundred metres on this map.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from flask import current_app

from server import clock, geo
from server.services import review
from server.storage import StorageError

# Subdomains t0 … t7 of tianditu.gov.cn serve the same tiles; Leaflet spreads requests over them.
TILE_SUBDOMAINS = "01234567"
# Beyond this many times the place's own frame (and at least this far) a point would zoom the map
# out until the village is a dot: such points are drawn as a dashed line from the centre instead.
FAR_FACTOR, FAR_MIN_M = 4.0, 2000.0


@dataclass(frozen=True)
class MapPoint:
    """A position of the visit's evidence, in WGS-84 as stored."""

    kind: str  # checkin | photo (the phone's position at capture) | exif (the camera's own GPS)
    lat: float
    lng: float
    label: str
    title: str
    ok: bool = True  # check-ins: inside the geofence


def points(ev: review.Evidence) -> list[MapPoint]:
    """The check-ins, photo capture positions and photo EXIF positions of a visit, labelled as on the page."""
    name = ev.place.name
    out = [
        MapPoint(
            "checkin",
            c.lat,
            c.lng,
            str(n),
            f"签到 {n}:{clock.china_time(c.client_time, clock.SECONDS)},距{name}中心 {geo.format_metres(c.distance_m)},"
            f"定位精度 {geo.format_metres(c.accuracy_m)}" + ("" if c.within_geofence else ",在围栏外"),
            ok=c.within_geofence,
        )
        for n, c in enumerate(ev.checkins, start=1)
    ]
    for p in ev.photos:
        if p.photo.lat is not None and p.photo.lng is not None:
            out.append(
                MapPoint(
                    "photo",
                    p.photo.lat,
                    p.photo.lng,
                    f"P{p.n}",
                    f"照片 P{p.n}(第 {p.photo.id} 号):拍摄于 {clock.china_time(p.photo.taken_at, clock.SECONDS)},"
                    f"距{name}中心 {geo.format_metres(p.distance_m)}",
                )
            )
        exif = p.photo.exif or {}
        if exif.get("lat") is not None and exif.get("lng") is not None:
            out.append(
                MapPoint(
                    "exif",
                    float(exif["lat"]),
                    float(exif["lng"]),
                    f"P{p.n} EXIF",
                    f"照片 P{p.n}(第 {p.photo.id} 号)EXIF 中相机记录的位置:距{name}中心 "
                    f"{geo.format_metres(p.exif_distance_m)}",
                )
            )
    return out


def far_threshold_m(ev: review.Evidence) -> float:
    """How far from the centre a point may lie and still be fitted into the map's view."""
    place = ev.place
    center = (place.lat, place.lng)
    ring_reach = [
        geo.distance_m(center, (lat, lng)) * 1.1
        for ring in (place.boundary or {}).get("coordinates", [])
        for lng, lat in ring
    ]
    frame = max([place.radius_m * 1.25, 100.0, *ring_reach])
    return max(frame * FAR_FACTOR, FAR_MIN_M)


def payload(ev: review.Evidence) -> dict:
    """What static/visit_map.js draws: the place, its geofence and boundary, and every evidence point."""
    place = ev.place
    center = (place.lat, place.lng)
    limit = far_threshold_m(ev)
    plotted = []
    for pt in points(ev):
        from_center = geo.distance_m(center, (pt.lat, pt.lng))
        plotted.append(
            {
                "kind": pt.kind,
                "lat": pt.lat,
                "lng": pt.lng,
                "label": pt.label,
                "title": pt.title,
                "ok": pt.ok,
                "far": from_center > limit,
                "distance": geo.format_metres(from_center),
            }
        )
    return {
        "place": place.name,
        "center": [place.lat, place.lng],
        "radius_m": place.radius_m,
        "boundary": place.boundary,
        "points": plotted,
    }


def tile_settings() -> dict | None:
    """The tile source for the page (URL template, subdomains, key), or None without a 天地图 key."""
    key = current_app.config.get("TIANDITU_KEY")
    if not key:
        return None
    return {"url": current_app.config["TIANDITU_URL_TEMPLATE"], "subdomains": TILE_SUBDOMAINS, "key": key}


def tile_source(template: str) -> str:
    """The CSP source of a tile URL template: its origin, with a templated subdomain as a wildcard."""
    parts = urlsplit(template)
    labels = parts.netloc.split(".")
    # "t{s}.tianditu.gov.cn" → "*.tianditu.gov.cn": CSP allows a wildcard as the leftmost label only.
    if "{" in labels[0]:
        labels[0] = "*"
    return f"{parts.scheme}://{'.'.join(labels)}"


def url_origin(url: str) -> str | None:
    """scheme://host[:port] of an absolute URL; None for a path on the console's own host."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else None


def image_sources() -> str:
    """img-src sources beyond the console itself: the photo storage's host and, with a key, the tile host."""
    app = current_app
    cached = app.extensions.get("console_image_sources")
    if cached is not None:
        return cached
    sources = []
    if app.config.get("TIANDITU_KEY"):
        sources.append(tile_source(app.config["TIANDITU_URL_TEMPLATE"]))
    try:
        # Presigning is local arithmetic (no request is sent); the URL shows the host photos come from.
        probe = app.extensions["storage"].presign_get("csp/probe.jpg")
    except StorageError:
        # No credentials yet, so no photo could be shown either: serve the page, ask again next time.
        return "".join(f" {s}" for s in sources)
    storage_host = url_origin(probe)
    cached = "".join(f" {s}" for s in ([storage_host] if storage_host else []) + sources)
    app.extensions["console_image_sources"] = cached
    return cached
