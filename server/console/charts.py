"""Server-rendered SVG charts: they print, need no JavaScript and show the same numbers as the tables."""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup, escape

WIDTH = 640  # about the width of one of the two chart cards, so text is drawn near its own size
LABEL_W = 120  # room for a township name of up to eight characters
VALUE_W = 150  # room for "12/30 村 · 40%" right of the bars
ROW_H = 30
BAR_H = 18
TOP = 8
TRACK = "#eaeef2"
BAR = "#0969da"
FONT = 13


def _percent(value: float) -> str:
    return f"{value * 100:.0f}%"


def _svg(title: str, height: int, body: list[str]) -> Markup:
    # role=img with a <title>: screen readers announce the chart; the table below has the details.
    return Markup(
        f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" '
        f'width="100%" role="img" aria-label="{escape(title)}" font-size="{FONT}">'
        f"<title>{escape(title)}</title>{''.join(body)}</svg>"
    )


def _label(y: float, text: str) -> str:
    return (
        f'<text x="{LABEL_W - 8}" y="{y + BAR_H / 2}" text-anchor="end" dominant-baseline="middle" '
        f'fill="#1f2328">{escape(text)}</text>'
    )


def progress_bars(title: str, rows: Sequence[tuple[str, int, int]], unit: str = "") -> Markup:
    """Horizontal bars of done/total per row, labelled 'done/total unit · share'."""
    bar_w = WIDTH - LABEL_W - VALUE_W
    body = []
    for i, (label, done, total) in enumerate(rows):
        y = TOP + i * ROW_H
        share = done / total if total else 0.0
        text = f"{done}/{total} {unit} · {_percent(share)}" if total else f"{done} {unit} · 无数据"
        body.append(_label(y, label))
        body.append(f'<rect x="{LABEL_W}" y="{y}" width="{bar_w}" height="{BAR_H}" rx="3" fill="{TRACK}"/>')
        if share:
            body.append(
                f'<rect x="{LABEL_W}" y="{y}" width="{bar_w * min(share, 1.0):.1f}" height="{BAR_H}" '
                f'rx="3" fill="{BAR}"><title>{escape(label)}:{escape(text)}</title></rect>'
            )
        body.append(
            f'<text x="{LABEL_W + bar_w + 8}" y="{y + BAR_H / 2}" dominant-baseline="middle" '
            f'fill="#1f2328">{escape(text)}</text>'
        )
    return _svg(title, TOP * 2 + max(len(rows), 1) * ROW_H, body)


def stacked_bars(title: str, rows: Sequence[tuple[str, dict[str, int]]], series: Sequence[tuple[str, str]]) -> Markup:
    """100% stacked horizontal bars per row; `series` is (name, colour) in stacking order, with a legend."""
    bar_w = WIDTH - LABEL_W - VALUE_W
    legend_h = 26
    body = []
    x = LABEL_W
    for name, colour in series:
        body.append(
            f'<rect x="{x}" y="{TOP}" width="12" height="12" rx="2" fill="{colour}"/>'
            f'<text x="{x + 18}" y="{TOP + 6}" dominant-baseline="middle" fill="#1f2328">'
            f"{escape(name)}</text>"
        )
        x += 18 + len(name) * FONT + 24
    for i, (label, counts) in enumerate(rows):
        y = TOP + legend_h + i * ROW_H
        total = sum(counts.get(name, 0) for name, _ in series)
        body.append(_label(y, label))
        if not total:
            body.append(
                f'<rect x="{LABEL_W}" y="{y}" width="{bar_w}" height="{BAR_H}" rx="3" fill="{TRACK}"/>'
                f'<text x="{LABEL_W + bar_w + 8}" y="{y + BAR_H / 2}" dominant-baseline="middle" '
                f'fill="#6e7781">暂无</text>'
            )
            continue
        x = float(LABEL_W)
        for name, colour in series:
            n = counts.get(name, 0)
            if not n:
                continue
            w = bar_w * n / total
            body.append(
                f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{BAR_H}" fill="{colour}">'
                f"<title>{escape(label)} {escape(name)}:{n} 条({_percent(n / total)})</title></rect>"
            )
            if w >= 34:  # a label only where it fits inside its segment
                body.append(
                    f'<text x="{x + w / 2:.1f}" y="{y + BAR_H / 2}" text-anchor="middle" '
                    f'dominant-baseline="middle" fill="#fff" font-size="11">{_percent(n / total)}</text>'
                )
            x += w
        body.append(
            f'<text x="{LABEL_W + bar_w + 8}" y="{y + BAR_H / 2}" dominant-baseline="middle" '
            f'fill="#1f2328">{total} 条</text>'
        )
    return _svg(title, TOP * 2 + legend_h + max(len(rows), 1) * ROW_H, body)


def count_bars(title: str, rows: Sequence[tuple[str, int]], unit: str = "") -> Markup:
    """Horizontal bars of counts against the largest one (a funnel, a distribution), labelled 'n unit'."""
    bar_w = WIDTH - LABEL_W - VALUE_W
    largest = max((n for _, n in rows), default=0)
    body = []
    for i, (label, n) in enumerate(rows):
        y = TOP + i * ROW_H
        text = f"{n} {unit}".strip()
        body.append(_label(y, label))
        if n and largest:
            body.append(
                f'<rect x="{LABEL_W}" y="{y}" width="{bar_w * n / largest:.1f}" height="{BAR_H}" rx="3" '
                f'fill="{BAR}"><title>{escape(label)}:{escape(text)}</title></rect>'
            )
        body.append(
            f'<text x="{LABEL_W + (bar_w * n / largest if largest else 0) + 8:.1f}" y="{y + BAR_H / 2}" '
            f'dominant-baseline="middle" fill="#1f2328">{escape(text)}</text>'
        )
    return _svg(title, TOP * 2 + max(len(rows), 1) * ROW_H, body)
