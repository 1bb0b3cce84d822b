"""Coordinate validation, WGS-84 / GCJ-02 conversion and village-scale geometry.

Everything stored is WGS-84. wx.getLocation may hand us GCJ-02 (the datum of
Tencent and AMap maps), so points are converted on the way in and back to
GCJ-02 only for display on Chinese maps (wx.openLocation).
"""

import math
from itertools import pairwise

from geopy.distance import geodesic

COORD_TYPES = ("wgs84", "gcj02")

# Krasovsky 1940 ellipsoid, which the GCJ-02 algorithm is defined on.
_KRASOVSKY_A = 6378245.0
_KRASOVSKY_EE = 0.00669342162296594323

# The inverse conversion stops once a step moves less than this (~1 µm), far
# below the 0.01 m accuracy we promise; the cap only guards against a
# pathological input that would never settle.
_INVERSE_TOLERANCE_DEG = 1e-11
_INVERSE_MAX_ITERATIONS = 30

_MIN_RING_POSITIONS = 4
_MAX_POLYGON_POSITIONS = 1000

# ~0.1 mm: absorbs float noise so a point exactly on a boundary edge is
# reliably reported as inside, while being irrelevant at GPS accuracy.
_EDGE_TOLERANCE_DEG = 1e-9


class InvalidCoordinate(ValueError):
    """A coordinate, coordinate type or boundary polygon that cannot be accepted."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message


def _check_number(value, field: str, label: str, limit: float) -> float:
    # bool is a subclass of int, but True/False is never a meaningful coordinate.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidCoordinate(field, f"{label}必须是数字")
    number = float(value)
    if not math.isfinite(number):
        raise InvalidCoordinate(field, f"{label}必须是有限的数字")
    if not -limit <= number <= limit:
        raise InvalidCoordinate(field, f"{label}必须在 -{limit:g} 到 {limit:g} 之间")
    return number


def validate_point(lat, lng, *, lat_field="lat", lng_field="lng") -> tuple[float, float]:
    """Return (lat, lng) as floats, or raise InvalidCoordinate naming the offending field."""
    return (
        _check_number(lat, lat_field, "纬度", 90.0),
        _check_number(lng, lng_field, "经度", 180.0),
    )


def out_of_china(lat: float, lng: float) -> bool:
    """True when the point lies outside the rough bounding box where GCJ-02 applies."""
    return not (72.004 <= lng <= 137.8347 and 0.8293 <= lat <= 55.8271)


def _transform_lat(x: float, y: float) -> float:
    ret = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * math.sqrt(abs(x))
    ret += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    ret += (20.0 * math.sin(y * math.pi) + 40.0 * math.sin(y / 3.0 * math.pi)) * 2.0 / 3.0
    ret += (160.0 * math.sin(y / 12.0 * math.pi) + 320.0 * math.sin(y * math.pi / 30.0)) * 2.0 / 3.0
    return ret


def _transform_lng(x: float, y: float) -> float:
    ret = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * math.sqrt(abs(x))
    ret += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    ret += (20.0 * math.sin(x * math.pi) + 40.0 * math.sin(x / 3.0 * math.pi)) * 2.0 / 3.0
    ret += (150.0 * math.sin(x / 12.0 * math.pi) + 300.0 * math.sin(x / 30.0 * math.pi)) * 2.0 / 3.0
    return ret


def _gcj02_offset(lat: float, lng: float) -> tuple[float, float]:
    # The raw GCJ-02 shift (degrees) with no China check, so the inverse
    # iteration sees a smooth function even next to the bounding-box edge.
    d_lat = _transform_lat(lng - 105.0, lat - 35.0)
    d_lng = _transform_lng(lng - 105.0, lat - 35.0)
    rad_lat = math.radians(lat)
    magic = 1 - _KRASOVSKY_EE * math.sin(rad_lat) ** 2
    sqrt_magic = math.sqrt(magic)
    d_lat = (d_lat * 180.0) / ((_KRASOVSKY_A * (1 - _KRASOVSKY_EE)) / (magic * sqrt_magic) * math.pi)
    d_lng = (d_lng * 180.0) / (_KRASOVSKY_A / sqrt_magic * math.cos(rad_lat) * math.pi)
    return d_lat, d_lng


def wgs84_to_gcj02(lat: float, lng: float) -> tuple[float, float]:
    """Apply the standard GCJ-02 obfuscation to a WGS-84 point; identity outside China."""
    if out_of_china(lat, lng):
        return lat, lng
    d_lat, d_lng = _gcj02_offset(lat, lng)
    return lat + d_lat, lng + d_lng


def gcj02_to_wgs84(lat: float, lng: float) -> tuple[float, float]:
    """Invert wgs84_to_gcj02 by fixed-point iteration to well under 0.01 m; identity outside China."""
    if out_of_china(lat, lng):
        return lat, lng
    # The one-step "subtract the offset at the GCJ point" trick is off by up to
    # a few metres; iterating on the residual converges because the offset
    # varies slowly, reaching micrometres within a handful of rounds.
    wgs_lat, wgs_lng = lat, lng
    for _ in range(_INVERSE_MAX_ITERATIONS):
        d_lat, d_lng = _gcj02_offset(wgs_lat, wgs_lng)
        err_lat = wgs_lat + d_lat - lat
        err_lng = wgs_lng + d_lng - lng
        wgs_lat -= err_lat
        wgs_lng -= err_lng
        if abs(err_lat) < _INVERSE_TOLERANCE_DEG and abs(err_lng) < _INVERSE_TOLERANCE_DEG:
            break
    return wgs_lat, wgs_lng


def to_wgs84(lat: float, lng: float, coord_type: str) -> tuple[float, float]:
    """Convert a point given in coord_type ('wgs84' or 'gcj02') to WGS-84."""
    if coord_type == "wgs84":
        return lat, lng
    if coord_type == "gcj02":
        return gcj02_to_wgs84(lat, lng)
    raise InvalidCoordinate("coord_type", "坐标类型必须是 wgs84 或 gcj02")


def distance_m(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Geodesic distance in metres between two WGS-84 (lat, lng) points."""
    return geodesic(a, b).meters


def format_metres(value: float | None) -> str:
    """A distance as people read it, always with its unit: '812 米' below a kilometre, else '1.25 公里'; '—' for none."""
    if value is None:
        return "—"
    if round(value) < 1000:
        return f"{value:.0f} 米"
    return f"{value / 1000:.2f}".rstrip("0").rstrip(".") + " 公里"


def _boundary_error(message: str) -> InvalidCoordinate:
    return InvalidCoordinate("boundary", message)


def _normalize_ring(ring, ring_no: int) -> list[list[float]]:
    if not isinstance(ring, list | tuple):
        raise _boundary_error(f"边界第 {ring_no} 个环必须是坐标列表")
    if len(ring) < _MIN_RING_POSITIONS:
        raise _boundary_error(f"边界第 {ring_no} 个环至少需要 {_MIN_RING_POSITIONS} 个点")
    positions = []
    for pos_no, position in enumerate(ring, start=1):
        if not isinstance(position, list | tuple) or len(position) != 2:
            raise _boundary_error(f"边界第 {ring_no} 个环第 {pos_no} 个点必须是 [经度, 纬度]")
        lng, lat = position
        try:
            lat, lng = validate_point(lat, lng)
        except InvalidCoordinate as exc:
            raise _boundary_error(f"边界第 {ring_no} 个环第 {pos_no} 个点：{exc.message}") from None
        positions.append([lng, lat])
    if positions[0] != positions[-1]:
        raise _boundary_error(f"边界第 {ring_no} 个环必须首尾闭合")
    # Four positions all at one spot pass the count check yet enclose nothing.
    if len({tuple(p) for p in positions}) < _MIN_RING_POSITIONS - 1:
        raise _boundary_error(f"边界第 {ring_no} 个环至少需要 3 个不同的点")
    return positions


def validate_polygon(geojson: dict) -> dict:
    """Validate a WGS-84 GeoJSON Polygon ([lng, lat] order) and return a normalized copy."""
    if not isinstance(geojson, dict) or geojson.get("type") != "Polygon":
        raise _boundary_error("边界必须是 GeoJSON Polygon")
    rings = geojson.get("coordinates")
    if not isinstance(rings, list | tuple) or not rings:
        raise _boundary_error("边界缺少坐标")
    normalized = [_normalize_ring(ring, ring_no) for ring_no, ring in enumerate(rings, start=1)]
    if sum(len(ring) for ring in normalized) > _MAX_POLYGON_POSITIONS:
        raise _boundary_error(f"边界最多 {_MAX_POLYGON_POSITIONS} 个点")
    return {"type": "Polygon", "coordinates": normalized}


def _on_ring_edge(x: float, y: float, ring) -> bool:
    for (x1, y1), (x2, y2) in pairwise(ring):
        if not (
            min(x1, x2) - _EDGE_TOLERANCE_DEG <= x <= max(x1, x2) + _EDGE_TOLERANCE_DEG
            and min(y1, y2) - _EDGE_TOLERANCE_DEG <= y <= max(y1, y2) + _EDGE_TOLERANCE_DEG
        ):
            continue
        length = math.hypot(x2 - x1, y2 - y1)
        cross = (x2 - x1) * (y - y1) - (y2 - y1) * (x - x1)
        # With a zero-length segment the bounding-box test alone has matched.
        if length == 0 or abs(cross) / length <= _EDGE_TOLERANCE_DEG:
            return True
    return False


def _inside_ring(x: float, y: float, ring) -> bool:
    # Even-odd ray casting towards +x; the half-open (y1 > y) != (y2 > y)
    # test counts a vertex shared by two edges exactly once.
    inside = False
    for (x1, y1), (x2, y2) in pairwise(ring):
        if (y1 > y) != (y2 > y) and x < (x2 - x1) * (y - y1) / (y2 - y1) + x1:
            inside = not inside
    return inside


def point_in_polygon(lat: float, lng: float, geojson: dict) -> bool:
    """True when the point is inside the outer ring and not inside a hole; edges count as inside."""
    outer, *holes = geojson["coordinates"]
    if _on_ring_edge(lng, lat, outer):
        return True
    if not _inside_ring(lng, lat, outer):
        return False
    # A hole's edge is also the polygon's boundary, hence inside.
    return all(_on_ring_edge(lng, lat, hole) or not _inside_ring(lng, lat, hole) for hole in holes)


def distance_to_place_m(lat: float, lng: float, *, center: tuple[float, float], boundary: dict | None) -> float:
    """0 when the point lies inside the boundary polygon, else the geodesic distance to center."""
    if boundary is not None and point_in_polygon(lat, lng, boundary):
        return 0.0
    return distance_m((lat, lng), center)


def speed_kmh(a: tuple[float, float], b: tuple[float, float], seconds: float, *, slack_m: float = 0.0) -> float:
    """Speed in km/h needed to cover a→b in `seconds` after forgiving slack_m metres of GPS error."""
    remaining = max(0.0, distance_m(a, b) - slack_m)
    if remaining == 0:
        return 0.0
    if seconds <= 0:
        return math.inf
    return remaining / seconds * 3.6
