"""A map of a visit as inline SVG: works offline and on paper, with no tiles and no scripts.

Positions are WGS-84 and are drawn in a local equirectangular projection around the place:
over a few kilometres its distortion is far below GPS error, and it keeps metres square so
that the geofence is a circle and the scale bar is true in every direction.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from server.geo import distance_m, format_metres

M_PER_DEG_LAT = 110_574.0
M_PER_DEG_LNG_EQUATOR = 111_320.0
WIDTH, HEIGHT, MARGIN = 640, 440, 28
CHECKIN_IN, CHECKIN_OUT, PHOTO, PLACE, FENCE = "#1a7f37", "#b3261e", "#0969da", "#1f2328", "#1a7f37"
EXIF = "#9a6700"


@dataclass(frozen=True)
class Marker:
    """A point to draw: `label` goes on the marker, `title` is its tooltip (distances, times)."""

    lat: float
    lng: float
    label: str
    title: str
    ok: bool = True  # check-ins: inside the geofence


def _nice_length(target_m: float) -> float:
    """The largest 1, 2 or 5 × 10^k metres not above target (scale bars read in round numbers)."""
    if target_m <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(target_m))
    return max(step * power for step in (1, 2, 5) if step * power <= target_m)


def _fmt(v: float) -> str:
    return f"{v:.1f}"


def render(
    *,
    center: tuple[float, float],
    radius_m: float,
    boundary: dict | None,
    checkins: Sequence[Marker],
    photos: Sequence[Marker],
    place_name: str,
    exif: Sequence[Marker] = (),
) -> str:
    """The SVG of a place's geofence or boundary with check-ins, photo capture points and EXIF positions."""
    lat0, lng0 = center
    kx = M_PER_DEG_LNG_EQUATOR * math.cos(math.radians(lat0))

    def metres(lat: float, lng: float) -> tuple[float, float]:
        return (lng - lng0) * kx, (lat - lat0) * M_PER_DEG_LAT

    rings = [[metres(lat, lng) for lng, lat in ring] for ring in (boundary or {}).get("coordinates", [])]
    # The place itself always fits; points further out than `cap` would shrink the village to
    # a dot, so they are pinned to the frame's edge instead, pointing the right way.
    fixed = max([radius_m * 1.25, 100.0, *(max(abs(x), abs(y)) * 1.1 for ring in rings for x, y in ring)])
    cap = max(fixed * 4, 2000.0)
    reach = [max(abs(x), abs(y)) for x, y in (metres(m.lat, m.lng) for m in (*checkins, *photos, *exif))]
    span = max([fixed, *(r * 1.15 for r in reach if r <= cap)])
    scale = min(WIDTH - 2 * MARGIN, HEIGHT - 2 * MARGIN) / (2 * span)  # pixels per metre
    cx, cy = WIDTH / 2, HEIGHT / 2

    def pixel(x: float, y: float) -> tuple[float, float, bool]:
        """Screen position, and whether the point had to be pinned to the frame."""
        half_w, half_h = cx - MARGIN, cy - MARGIN
        px, py = x * scale, -y * scale
        factor = max(abs(px) / half_w, abs(py) / half_h, 1.0)
        return cx + px / factor, cy + py / factor, factor > 1.0

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="visit-map" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'width="100%" role="img" font-size="12" aria-label="{escape(place_name)}位置示意图">',
        f"<title>{escape(place_name)}位置示意图</title>",
        f'<rect x="0" y="0" width="{WIDTH}" height="{HEIGHT}" fill="#f7f8f5" stroke="#d0d7de"/>',
    ]
    if rings:
        path = " ".join(
            "M" + " L".join(f"{_fmt(cx + x * scale)},{_fmt(cy - y * scale)}" for x, y in ring) + " Z" for ring in rings
        )
        out.append(
            f'<path class="boundary" d="{path}" fill="#ddf4e4" fill-opacity="0.6" fill-rule="evenodd" '
            f'stroke="{FENCE}" stroke-width="1.5"><title>{escape(place_name)}边界</title></path>'
        )
    out.append(
        f'<circle class="geofence" cx="{_fmt(cx)}" cy="{_fmt(cy)}" r="{_fmt(radius_m * scale)}" '
        f'fill="{FENCE}" fill-opacity="0.08" stroke="{FENCE}" stroke-width="1.5" stroke-dasharray="6 4">'
        f"<title>地理围栏:以{escape(place_name)}中心为圆心,半径 {radius_m:g} 米</title></circle>"
    )
    out.append(
        f'<g class="place"><path d="M{_fmt(cx - 8)},{_fmt(cy)} h16 M{_fmt(cx)},{_fmt(cy - 8)} v16" '
        f'stroke="{PLACE}" stroke-width="2"/><circle cx="{_fmt(cx)}" cy="{_fmt(cy)}" r="3" fill="{PLACE}"/>'
        f"<title>{escape(place_name)}中心</title></g>"
    )

    placed: list[tuple[float, float, float]] = []  # far labels drawn so far: (left, right, baseline)
    far_labels: list[str] = []  # drawn after every line, so that no line crosses a label

    def far_line(m: Marker, x: float, y: float, colour: str) -> str:
        """A dashed line from the centre to a point pinned at the edge; its label (true distance) is queued."""
        text = f"{m.label} 距中心 {format_metres(distance_m(center, (m.lat, m.lng)))}"
        width = sum(7 if ord(ch) < 128 else 12 for ch in text)  # at font-size 12
        anchor, left = ("end", x - 8 - width) if x > cx else ("start", x + 8)
        step = 15 if y < cy else -15
        base = y + (16 if y < cy else -10)
        # Points pinned close together would print their labels over each other: move down (or up).
        while any(a < left + width and left < b and abs(base - yb) < 14 for a, b, yb in placed):
            base += step
        placed.append((left, left + width, base))
        far_labels.append(
            f'<text class="far-label" x="{_fmt(x - 8 if x > cx else x + 8)}" y="{_fmt(base)}" text-anchor="{anchor}" '
            f'fill="{colour}" stroke="#fff" stroke-width="3" paint-order="stroke">{escape(text)}</text>'
        )
        return (
            f'<path class="far-line" d="M{_fmt(cx)},{_fmt(cy)} L{_fmt(x)},{_fmt(y)}" fill="none" stroke="{colour}" '
            f'stroke-width="1.5" stroke-dasharray="6 4"/>'
        )

    for m, colour in (
        [(m, PHOTO) for m in photos]
        + [(m, EXIF) for m in exif]
        + [(m, CHECKIN_IN if m.ok else CHECKIN_OUT) for m in checkins]
    ):
        x, y, pinned = pixel(*metres(m.lat, m.lng))
        if pinned:
            out.append(far_line(m, x, y, colour))
    out.extend(far_labels)

    def label(m: Marker, x: float, y: float, pinned: bool, colour: str) -> str:
        """A marker's own text, left out when pinned (its far line's label names it)."""
        return "" if pinned else f'<text x="{_fmt(x + 9)}" y="{_fmt(y)}" fill="{colour}">{escape(m.label)}</text>'

    for m in exif:
        x, y, pinned = pixel(*metres(m.lat, m.lng))
        out.append(
            f'<g class="marker exif"><rect x="{_fmt(x - 6)}" y="{_fmt(y - 6)}" width="12" height="12" '
            f'transform="rotate(45 {_fmt(x)} {_fmt(y)})" fill="#fff" fill-opacity="0.6" stroke="{EXIF}" '
            f'stroke-width="2"/>{label(m, x, y + 14, pinned, EXIF)}'
            f"<title>{escape(m.title)}{'(在图外,按方向标在边缘)' if pinned else ''}</title></g>"
        )
    for m in photos:
        x, y, pinned = pixel(*metres(m.lat, m.lng))
        dash = ' stroke-dasharray="3 2"' if pinned else ""
        out.append(
            f'<g class="marker photo"><rect x="{_fmt(x - 6)}" y="{_fmt(y - 6)}" width="12" height="12" '
            f'transform="rotate(45 {_fmt(x)} {_fmt(y)})" fill="{PHOTO}" fill-opacity="{0.35 if pinned else 0.85}" '
            f'stroke="{PHOTO}"{dash}/>{label(m, x, y - 7, pinned, PHOTO)}'
            f"<title>{escape(m.title)}{'(在图外,按方向标在边缘)' if pinned else ''}</title></g>"
        )
    for m in checkins:
        x, y, pinned = pixel(*metres(m.lat, m.lng))
        colour = CHECKIN_IN if m.ok else CHECKIN_OUT
        state = "within" if m.ok else "outside"
        dash = ' stroke-dasharray="3 2"' if pinned else ""
        out.append(
            f'<g class="marker checkin {state}"><circle cx="{_fmt(x)}" cy="{_fmt(y)}" r="9" fill="{colour}" '
            f'fill-opacity="{0.45 if pinned else 1}" stroke="#fff" stroke-width="1.5"{dash}/>'
            f'<text x="{_fmt(x)}" y="{_fmt(y + 4)}" fill="#fff" text-anchor="middle" font-weight="bold">'
            f"{escape(m.label)}</text><title>{escape(m.title)}{'(在图外,按方向标在边缘)' if pinned else ''}"
            f"</title></g>"
        )

    bar_m = _nice_length(span * 0.5)
    bar_px = bar_m * scale
    bx, by = MARGIN, HEIGHT - MARGIN / 2 - 4
    out.append(
        f'<g class="scale"><path d="M{_fmt(bx)},{_fmt(by - 5)} v5 h{_fmt(bar_px)} v-5" fill="none" '
        f'stroke="{PLACE}" stroke-width="1.5"/><text x="{_fmt(bx + bar_px / 2)}" y="{_fmt(by - 8)}" '
        f'text-anchor="middle">{format_metres(bar_m)}</text></g>'
    )
    nx, ny = WIDTH - MARGIN, MARGIN + 4
    out.append(
        f'<g class="north"><path d="M{nx},{ny - 14} l-6,16 l6,-5 l6,5 Z" fill="{PLACE}"/>'
        f'<text x="{nx}" y="{ny + 16}" text-anchor="middle">北</text></g>'
    )
    legend = [
        ("circle", CHECKIN_IN, "签到(围栏内)"),
        ("circle", CHECKIN_OUT, "签到(围栏外)"),
        ("diamond", PHOTO, "拍照位置"),
        ("hollow", EXIF, "照片EXIF位置"),
        ("cross", PLACE, "中心点"),
    ]
    lx, ly = WIDTH - 120, HEIGHT - 14 - 16 * len(legend)
    out.append(
        f'<g class="legend"><rect x="{lx - 8}" y="{ly - 12}" width="124" height="{16 * len(legend) + 8}" '
        f'fill="#fff" fill-opacity="0.85" stroke="#d0d7de"/>'
    )
    for i, (shape, colour, text) in enumerate(legend):
        y = ly + 16 * i
        if shape == "circle":
            out.append(f'<circle cx="{lx}" cy="{y - 4}" r="5" fill="{colour}"/>')
        elif shape in ("diamond", "hollow"):
            fill = colour if shape == "diamond" else "#fff"
            out.append(
                f'<rect x="{lx - 4}" y="{y - 8}" width="8" height="8" transform="rotate(45 {lx} {y - 4})" '
                f'fill="{fill}" stroke="{colour}"/>'
            )
        else:
            out.append(f'<path d="M{lx - 5},{y - 4} h10 M{lx},{y - 9} v10" stroke="{colour}" stroke-width="2"/>')
        out.append(f'<text x="{lx + 12}" y="{y}">{text}</text>')
    out.append("</g></svg>")
    return "".join(out)
