"""Tests for server.geo: validation, WGS-84/GCJ-02 conversion and geometry."""

import math

import pytest

from server.geo import (
    COORD_TYPES,
    InvalidCoordinate,
    distance_m,
    distance_to_place_m,
    gcj02_to_wgs84,
    out_of_china,
    point_in_polygon,
    speed_kmh,
    to_wgs84,
    validate_point,
    validate_polygon,
    wgs84_to_gcj02,
)

TIANANMEN_WGS = (39.908823, 116.397470)
TIANANMEN_GCJ = (39.910225, 116.403714)

CHINA_POINTS = {
    "beijing": TIANANMEN_WGS,
    "jian_jiangxi": (27.1, 114.98),
    "qianjiang_chongqing": (29.53, 108.77),
    "urumqi": (43.825, 87.617),
    "harbin": (45.75, 126.65),
    "sanya": (18.25, 109.5),
}

OUTSIDE_CHINA_POINTS = {
    "tokyo": (35.6812, 139.7671),
    "san_francisco": (37.7749, -122.4194),
    "sydney": (-33.8688, 151.2093),
}

# A 0.01° square (about 1.1 km × 1 km near 27° N) with a 0.002° square hole.
SQUARE = [[114.98, 27.10], [114.99, 27.10], [114.99, 27.11], [114.98, 27.11], [114.98, 27.10]]
HOLE = [
    [114.984, 27.104],
    [114.986, 27.104],
    [114.986, 27.106],
    [114.984, 27.106],
    [114.984, 27.104],
]
POLYGON = {"type": "Polygon", "coordinates": [SQUARE, HOLE]}


def _polygon(*rings):
    return {"type": "Polygon", "coordinates": [list(r) for r in rings]}


# --- validate_point ---------------------------------------------------------


def test_validate_point_accepts_ints_and_floats_and_returns_floats():
    """Integers and floats come back as a float (lat, lng) pair."""
    lat, lng = validate_point(27, 114.98)
    assert (lat, lng) == (27.0, 114.98)
    assert isinstance(lat, float)


def test_validate_point_accepts_range_limits():
    """The exact limits ±90 and ±180 are valid."""
    assert validate_point(-90, -180) == (-90.0, -180.0)
    assert validate_point(90.0, 180.0) == (90.0, 180.0)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_validate_point_rejects_non_finite_latitude(bad):
    """NaN and infinities are rejected and blamed on the latitude field."""
    with pytest.raises(InvalidCoordinate) as exc:
        validate_point(bad, 114.98)
    assert exc.value.field == "lat"


@pytest.mark.parametrize("bad", [True, False, "27.1", None, [27.1]])
def test_validate_point_rejects_non_numbers(bad):
    """Booleans, strings and other non-numbers are rejected with a Chinese message."""
    with pytest.raises(InvalidCoordinate) as exc:
        validate_point(bad, 114.98)
    assert exc.value.field == "lat"
    assert exc.value.message == "纬度必须是数字"


def test_validate_point_rejects_latitude_just_above_90():
    """90.0001 is out of range and the message states the range."""
    with pytest.raises(InvalidCoordinate) as exc:
        validate_point(90.0001, 0)
    assert exc.value.field == "lat"
    assert exc.value.message == "纬度必须在 -90 到 90 之间"
    assert str(exc.value) == "纬度必须在 -90 到 90 之间"


def test_validate_point_rejects_longitude_out_of_range():
    """-180.0001 is out of range for the longitude field."""
    with pytest.raises(InvalidCoordinate) as exc:
        validate_point(0, -180.0001)
    assert exc.value.field == "lng"
    assert exc.value.message == "经度必须在 -180 到 180 之间"


def test_validate_point_uses_custom_field_names():
    """Custom field names are reported so API errors point at the right input."""
    with pytest.raises(InvalidCoordinate) as exc:
        validate_point(0, "x", lat_field="center_lat", lng_field="center_lng")
    assert exc.value.field == "center_lng"


def test_invalid_coordinate_is_a_value_error():
    """InvalidCoordinate can be caught as a ValueError."""
    assert issubclass(InvalidCoordinate, ValueError)


# --- conversion ---------------------------------------------------------------


def test_coord_types():
    """The accepted coordinate types are exactly wgs84 and gcj02."""
    assert COORD_TYPES == ("wgs84", "gcj02")


def test_wgs84_to_gcj02_matches_reference_implementation():
    """The forward transform reproduces wandergis/coordtransform's published example."""
    lat, lng = wgs84_to_gcj02(39.915, 116.404)
    assert lat == pytest.approx(39.91640428150164, abs=1e-9)
    assert lng == pytest.approx(116.41024449916938, abs=1e-9)


def test_wgs84_to_gcj02_tiananmen_within_a_metre():
    """Tiananmen's WGS-84 position maps to its known GCJ-02 position within 1 m."""
    assert distance_m(wgs84_to_gcj02(*TIANANMEN_WGS), TIANANMEN_GCJ) < 1.0


def test_gcj02_to_wgs84_tiananmen_within_a_metre():
    """Tiananmen's GCJ-02 position maps back to its WGS-84 position within 1 m."""
    assert distance_m(gcj02_to_wgs84(*TIANANMEN_GCJ), TIANANMEN_WGS) < 1.0


@pytest.mark.parametrize("point", CHINA_POINTS.values(), ids=CHINA_POINTS.keys())
def test_gcj02_offset_is_hundreds_of_metres_in_china(point):
    """Inside China the obfuscation really moves the point (sanity check of the fixtures)."""
    assert 100 < distance_m(point, wgs84_to_gcj02(*point)) < 1000


@pytest.mark.parametrize("point", CHINA_POINTS.values(), ids=CHINA_POINTS.keys())
def test_gcj02_round_trip_error_below_a_centimetre(point):
    """gcj02_to_wgs84 inverts wgs84_to_gcj02 to better than 0.01 m across China."""
    assert distance_m(gcj02_to_wgs84(*wgs84_to_gcj02(*point)), point) < 0.01


@pytest.mark.parametrize("point", CHINA_POINTS.values(), ids=CHINA_POINTS.keys())
def test_gcj02_inverse_is_consistent_with_forward(point):
    """Re-obfuscating the inverse of a GCJ-02 point lands back on it within 0.01 m."""
    assert distance_m(wgs84_to_gcj02(*gcj02_to_wgs84(*point)), point) < 0.01


@pytest.mark.parametrize("point", OUTSIDE_CHINA_POINTS.values(), ids=OUTSIDE_CHINA_POINTS.keys())
def test_conversions_are_identity_outside_china(point):
    """Points outside China are left unchanged in both directions."""
    assert out_of_china(*point)
    assert wgs84_to_gcj02(*point) == point
    assert gcj02_to_wgs84(*point) == point


@pytest.mark.parametrize("point", CHINA_POINTS.values(), ids=CHINA_POINTS.keys())
def test_out_of_china_false_for_chinese_points(point):
    """Points in China are inside the GCJ-02 area."""
    assert not out_of_china(*point)


def test_to_wgs84_passes_wgs84_through():
    """A point already in WGS-84 is returned unchanged."""
    assert to_wgs84(27.1, 114.98, "wgs84") == (27.1, 114.98)


def test_to_wgs84_converts_gcj02():
    """A GCJ-02 point is converted with the iterative inverse."""
    assert to_wgs84(*TIANANMEN_GCJ, "gcj02") == gcj02_to_wgs84(*TIANANMEN_GCJ)


@pytest.mark.parametrize("bad", ["bd09", "GCJ02", "", None])
def test_to_wgs84_rejects_unknown_coord_type(bad):
    """An unknown coordinate type is reported against the coord_type field."""
    with pytest.raises(InvalidCoordinate) as exc:
        to_wgs84(27.1, 114.98, bad)
    assert exc.value.field == "coord_type"


# --- distance_m -------------------------------------------------------------------


def test_distance_one_degree_latitude_at_equator():
    """One degree of latitude at the equator is about 110574 m on WGS-84."""
    assert distance_m((0.0, 0.0), (1.0, 0.0)) == pytest.approx(110574.4, abs=1.0)


def test_distance_zero_for_same_point():
    """The distance from a point to itself is 0."""
    assert distance_m((27.1, 114.98), (27.1, 114.98)) == 0.0


# --- validate_polygon -------------------------------------------------------------


def test_validate_polygon_returns_normalized_copy():
    """Ints become floats, tuples become lists, extra keys are dropped and the input is untouched."""
    source = {
        "type": "Polygon",
        "bbox": [0, 0, 1, 1],
        "coordinates": [((0, 0), (1, 0), (1, 1), (0, 0))],
    }
    result = validate_polygon(source)
    assert result == {
        "type": "Polygon",
        "coordinates": [[[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 0.0]]],
    }
    assert isinstance(result["coordinates"][0][0][0], float)
    assert source["coordinates"][0][0] == (0, 0)


def test_validate_polygon_accepts_holes():
    """A polygon with a hole keeps both rings."""
    assert validate_polygon(POLYGON)["coordinates"] == [SQUARE, HOLE]


@pytest.mark.parametrize(
    "bad",
    [
        None,
        [],
        {"type": "MultiPolygon", "coordinates": [[SQUARE]]},
        {"type": "Point", "coordinates": [114.98, 27.1]},
        {"coordinates": [SQUARE]},
    ],
)
def test_validate_polygon_rejects_wrong_type(bad):
    """Anything but a GeoJSON Polygon object is rejected against the boundary field."""
    with pytest.raises(InvalidCoordinate) as exc:
        validate_polygon(bad)
    assert exc.value.field == "boundary"


@pytest.mark.parametrize("coordinates", [None, [], "x", [[]]])
def test_validate_polygon_rejects_missing_coordinates(coordinates):
    """A Polygon without usable rings is rejected."""
    with pytest.raises(InvalidCoordinate):
        validate_polygon({"type": "Polygon", "coordinates": coordinates})


def test_validate_polygon_rejects_unclosed_ring():
    """A ring whose last position differs from its first is rejected."""
    with pytest.raises(InvalidCoordinate) as exc:
        validate_polygon(_polygon(SQUARE[:-1] + [[114.981, 27.10]]))
    assert exc.value.field == "boundary"
    assert "闭合" in exc.value.message


def test_validate_polygon_rejects_too_few_positions():
    """A closed triangle written with only three positions is rejected."""
    with pytest.raises(InvalidCoordinate) as exc:
        validate_polygon(_polygon([[0, 0], [1, 0], [0, 0]]))
    assert "4" in exc.value.message


def test_validate_polygon_rejects_degenerate_ring():
    """Four copies of one position enclose nothing and are rejected."""
    with pytest.raises(InvalidCoordinate):
        validate_polygon(_polygon([[1, 1]] * 4))


def test_validate_polygon_rejects_too_few_positions_in_hole():
    """Holes obey the same minimum size as the outer ring."""
    with pytest.raises(InvalidCoordinate):
        validate_polygon(_polygon(SQUARE, HOLE[:2] + HOLE[:1]))


def test_validate_polygon_rejects_out_of_range_latitude():
    """A latitude beyond 90 (e.g. lat/lng swapped in the wrong place) is rejected."""
    with pytest.raises(InvalidCoordinate) as exc:
        validate_polygon(_polygon([[0, 0], [0, 91], [1, 1], [0, 0]]))
    assert exc.value.field == "boundary"
    assert "纬度" in exc.value.message


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), True, "1"])
def test_validate_polygon_rejects_bad_numbers(bad):
    """Non-finite, boolean or string coordinates are rejected."""
    with pytest.raises(InvalidCoordinate):
        validate_polygon(_polygon([[0, 0], [bad, 0], [1, 1], [0, 0]]))


@pytest.mark.parametrize("position", [[1], [1, 2, 3], "12", 5])
def test_validate_polygon_rejects_malformed_positions(position):
    """Positions must be exactly [lng, lat]."""
    with pytest.raises(InvalidCoordinate):
        validate_polygon(_polygon([[0, 0], position, [1, 1], [0, 0]]))


def _circle(n):
    ring = [
        [114.98 + 0.01 * math.cos(2 * math.pi * i / n), 27.1 + 0.01 * math.sin(2 * math.pi * i / n)] for i in range(n)
    ]
    return ring + [ring[0]]


def test_validate_polygon_accepts_1000_positions():
    """Exactly 1000 positions are allowed."""
    assert len(validate_polygon(_polygon(_circle(999)))["coordinates"][0]) == 1000


def test_validate_polygon_rejects_more_than_1000_positions():
    """1001 positions are too many."""
    with pytest.raises(InvalidCoordinate) as exc:
        validate_polygon(_polygon(_circle(1000)))
    assert "1000" in exc.value.message


def test_validate_polygon_counts_hole_positions_towards_limit():
    """The 1000-position limit covers holes too."""
    with pytest.raises(InvalidCoordinate):
        validate_polygon(_polygon(_circle(995), HOLE))


# --- point_in_polygon -------------------------------------------------------------


def test_point_in_polygon_inside():
    """A point inside the outer ring and outside the hole is inside."""
    assert point_in_polygon(27.102, 114.982, POLYGON)


def test_point_in_polygon_outside():
    """A point beyond the outer ring is outside."""
    assert not point_in_polygon(27.2, 114.982, POLYGON)


def test_point_in_polygon_in_hole():
    """A point inside a hole is outside the polygon."""
    assert not point_in_polygon(27.105, 114.985, POLYGON)


def test_point_in_polygon_on_outer_edge():
    """A point on an outer edge counts as inside."""
    assert point_in_polygon(27.10, 114.985, POLYGON)


def test_point_in_polygon_on_vertex():
    """A point on a vertex counts as inside."""
    assert point_in_polygon(27.11, 114.99, POLYGON)


def test_point_in_polygon_on_hole_edge():
    """A point on a hole's edge is on the polygon boundary and counts as inside."""
    assert point_in_polygon(27.105, 114.984, POLYGON)


def test_point_in_polygon_on_diagonal_edge():
    """Edge detection also works on slanted edges."""
    triangle = _polygon([[0, 0], [2, 0], [0, 2], [0, 0]])
    assert point_in_polygon(0.7, 1.3, triangle)
    assert not point_in_polygon(0.7, 1.31, triangle)


def test_point_in_polygon_concave():
    """The notch of a concave (U-shaped) polygon is outside."""
    u_shape = _polygon([[0, 0], [3, 0], [3, 3], [2, 3], [2, 1], [1, 1], [1, 3], [0, 3], [0, 0]])
    assert point_in_polygon(2, 0.5, u_shape)
    assert not point_in_polygon(2, 1.5, u_shape)


def test_point_in_polygon_ray_through_vertex():
    """A ray passing exactly through a vertex does not flip the result."""
    diamond = _polygon([[0, 1], [1, 0], [2, 1], [1, 2], [0, 1]])
    assert point_in_polygon(1, 0.5, diamond)
    assert not point_in_polygon(1, -0.5, diamond)


# --- distance_to_place_m ----------------------------------------------------------


def test_distance_to_place_zero_inside_boundary():
    """Inside the boundary the distance is 0 even far from the centre."""
    assert distance_to_place_m(27.109, 114.989, center=(27.101, 114.981), boundary=POLYGON) == 0.0


def test_distance_to_place_uses_centre_outside_boundary():
    """Outside the boundary the distance is measured to the centre."""
    point = (27.2, 114.985)
    center = (27.105, 114.985)
    assert distance_to_place_m(*point, center=center, boundary=POLYGON) == distance_m(point, center)


def test_distance_to_place_uses_centre_in_hole():
    """A point in a hole is measured to the centre."""
    center = (27.101, 114.981)
    assert distance_to_place_m(27.105, 114.985, center=center, boundary=POLYGON) > 0


def test_distance_to_place_without_boundary():
    """Without a boundary the distance is always to the centre."""
    point = (27.1, 114.98)
    center = (27.11, 114.98)
    assert distance_to_place_m(*point, center=center, boundary=None) == distance_m(point, center)


# --- speed_kmh ----------------------------------------------------------------------


def test_speed_kmh_one_degree_in_an_hour():
    """One degree of latitude at the equator in an hour is about 110.574 km/h."""
    assert speed_kmh((0.0, 0.0), (1.0, 0.0), 3600) == pytest.approx(110.574, abs=0.001)


def test_speed_kmh_subtracts_slack():
    """Slack metres are forgiven before dividing by time."""
    a, b = (0.0, 0.0), (1.0, 0.0)
    expected = (distance_m(a, b) - 10_574.4) / 3600 * 3.6
    assert speed_kmh(a, b, 3600, slack_m=10_574.4) == pytest.approx(expected)
    assert expected == pytest.approx(100.0, abs=0.001)


def test_speed_kmh_zero_when_within_slack():
    """Movement within the slack needs no speed at all."""
    assert speed_kmh((27.1, 114.98), (27.1001, 114.98), 60, slack_m=50) == 0.0


def test_speed_kmh_zero_for_no_movement_and_no_time():
    """No distance in no time is 0, not a division error."""
    assert speed_kmh((27.1, 114.98), (27.1, 114.98), 0) == 0.0


@pytest.mark.parametrize("seconds", [0, -5])
def test_speed_kmh_infinite_for_distance_without_time(seconds):
    """A remaining distance in zero or negative time is infinitely fast."""
    assert speed_kmh((27.1, 114.98), (27.2, 114.98), seconds) == math.inf


def test_speed_kmh_zero_distance_within_slack_and_no_time():
    """A GPS jitter inside the slack in zero time is still 0."""
    assert speed_kmh((27.1, 114.98), (27.1001, 114.98), 0, slack_m=50) == 0.0
