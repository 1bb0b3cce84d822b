"""The 水印相机-style watermark burned into a photo's preview, and the CJK fonts it needs."""

import functools
import logging
import os
import shutil
import subprocess
from dataclasses import dataclass
from datetime import datetime

from PIL import Image, ImageDraw, ImageFont

from server.imaging.exif import CHINA_TZ

log = logging.getLogger(__name__)

_CJK_FONT_CANDIDATES = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
    "/usr/share/fonts/truetype/arphic/uming.ttc",
)

_WEEKDAYS = ("星期一", "星期二", "星期三", "星期四", "星期五", "星期六", "星期日")
_WHITE = (255, 255, 255)
_ACCENT = (255, 204, 0)
_MUTED = (215, 215, 215)


@dataclass(frozen=True)
class Watermark:
    """Text burned into the preview: receive time, place, person, verification code, title."""

    time: datetime
    place: str
    person: str
    verify_code: str
    title: str | None = None

    def __post_init__(self):
        """Refuse a naive time: it would be rendered in whatever zone the server runs in."""
        if self.time.tzinfo is None or self.time.utcoffset() is None:
            raise ValueError("Watermark.time must be timezone-aware")


def find_cjk_font() -> str | None:
    """Path of a font that renders Chinese: env CJK_FONT_PATH, else common Debian paths, else fontconfig."""
    configured = os.environ.get("CJK_FONT_PATH")
    if configured:
        if os.path.isfile(configured):
            return configured
        log.warning("CJK_FONT_PATH=%s is not a file; looking for another CJK font", configured)
    for path in _CJK_FONT_CANDIDATES:
        if os.path.isfile(path):
            return path
    return _fontconfig_cjk_font()


def _fontconfig_cjk_font() -> str | None:
    """fontconfig's best Simplified Chinese font, only if it really covers Chinese."""
    fc_match = shutil.which("fc-match")
    if fc_match is None:
        return None
    try:
        # ':lang=zh' is not a fontconfig language (it answers DejaVu Sans even when Noto CJK is
        # installed); zh-cn is. fc-match always names some font, so check its coverage too.
        result = subprocess.run(
            [fc_match, "-f", "%{file}\n%{lang}", ":lang=zh-cn"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        log.info("fc-match failed", exc_info=True)
        return None
    path, _, langs = result.stdout.partition("\n")
    if "zh-cn" in langs.split("|") and os.path.isfile(path):
        return path
    return None


@functools.cache
def _cjk_font_path() -> str | None:
    """find_cjk_font(), looked up once per process (it may run fc-match)."""
    path = find_cjk_font()
    if path is None:
        log.warning(
            "No CJK font found (install fonts-noto-cjk or set CJK_FONT_PATH): "
            "watermark Chinese text will render as boxes"
        )
    return path


@functools.cache
def simplified_face(path: str) -> int:
    """Index of the Simplified Chinese face in a font collection (Noto CJK puts Japanese first)."""
    if not path.lower().endswith((".ttc", ".otc")):
        return 0
    for index in range(16):
        try:
            family = ImageFont.truetype(path, 12, index=index).getname()[0] or ""
        except OSError:
            break
        if "SC" in family.split():
            return index
    return 0


@functools.lru_cache(maxsize=32)
def _font(size: int) -> ImageFont.FreeTypeFont:
    """Watermark font at a pixel size; cached because loading a 20 MB .ttc takes ~15 ms."""
    path = _cjk_font_path()
    if path is not None:
        try:
            # Chinese and digits need no shaping: the basic layout is faster than raqm.
            return ImageFont.truetype(path, size, index=simplified_face(path), layout_engine=ImageFont.Layout.BASIC)
        except OSError:
            log.warning("cannot load CJK font %s; using Pillow's default font", path, exc_info=True)
    return ImageFont.load_default(size=size)


def _slot(size: int) -> int:
    """Height of one watermark text line at a font size."""
    return round(size * 1.4)


@functools.lru_cache(maxsize=512)
def _fit_text(text: str, size: int, max_width: int) -> str:
    """text, shortened with an ellipsis if wider than max_width at size."""
    font = _font(size)
    if font.getlength(text) <= max_width:
        return text
    while text and font.getlength(text + "…") > max_width:
        text = text[:-1]
    return text + "…"


@functools.lru_cache(maxsize=512)
def _text_stamp(text: str, size: int) -> tuple[Image.Image, int, int]:
    """text rendered as a tight "L" mask, and the mask's offset from the text's left-middle point.

    Cached because FreeType rasterises every CJK glyph again on each call (~2 ms of a ~3 ms
    watermark), while title, place, person, date and even the minute repeat across photos.
    """
    font = _font(size)
    left, top, right, bottom = font.getbbox(text, anchor="lm")
    mask = Image.new("L", (max(1, right - left), max(1, bottom - top)))
    ImageDraw.Draw(mask).text((-left, -top), text, font=font, fill=255, anchor="lm")
    return mask, left, top


def _ink_width(text: str, size: int) -> int:
    """Width from the text's left point to the right edge of its ink."""
    mask, left, _ = _text_stamp(text, size)
    return left + mask.width


def _stamp(img: Image.Image, x: float, y: float, text: str, size: int, colour: tuple) -> None:
    """Paint text in colour with its left-middle point at (x, y)."""
    mask, left, top = _text_stamp(text, size)
    x0, y0 = round(x + left), round(y + top)
    img.paste(colour, (x0, y0, x0 + mask.width, y0 + mask.height), mask)


def _draw_watermark(img: Image.Image, wm: Watermark) -> None:
    """Burn a 水印相机-style box (time, date, weekday, place, person, code) into img's bottom-left."""
    width, height = img.size
    unit = min(width, height)
    big = max(16, unit * 9 // 100)
    mid = max(10, unit * 36 // 1000)
    small = max(9, unit * 30 // 1000)
    margin = max(4, unit // 40)
    pad = max(3, unit // 45)
    bar_width = max(2, unit // 160)
    max_text = width - 2 * (margin + pad)

    local = wm.time.astimezone(CHINA_TZ)
    clock = local.strftime("%H:%M")
    dates = (local.strftime("%Y-%m-%d"), _WEEKDAYS[local.weekday()])
    title = _fit_text(wm.title, mid, max_text) if wm.title else None
    rows = []  # (text, size, colour) under the clock
    if wm.place:
        rows.append((f"地点：{wm.place}", mid, _WHITE))
    if wm.person:
        rows.append((f"拍摄人：{wm.person}", mid, _WHITE))
    rows.append((f"验真码 {wm.verify_code}", small, _MUTED))
    rows = [(_fit_text(text, size, max_text), size, colour) for text, size, colour in rows]

    clock_mask, clock_left, clock_top = _text_stamp(clock, big)
    header_height = max(clock_mask.height, 2 * _slot(mid))
    header_width = clock_mask.width + 2 * pad + bar_width + max(_ink_width(t, mid) for t in dates)
    widths = [header_width, *(_ink_width(text, size) for text, size, _ in rows)]
    if title:
        widths.append(_ink_width(title, mid))
    box_width = 2 * pad + min(max_text, max(widths))
    box_height = (
        2 * pad + (_slot(mid) if title else 0) + header_height + pad // 2 + sum(_slot(size) for _, size, _ in rows)
    )
    left = margin
    top = max(0, height - margin - box_height)
    box = (left, top, min(width, left + box_width) - 1, height - margin - 1)
    # An "RGBA" Draw blends the translucent fill into the RGB pixels of the box only, without
    # a full-size overlay image.
    ImageDraw.Draw(img, "RGBA").rounded_rectangle(box, radius=pad, fill=(0, 0, 0, 140))

    x = left + pad
    y = top + pad
    if title:
        _stamp(img, x, y + _slot(mid) / 2, title, mid, _ACCENT)
        y += _slot(mid)
    header_mid = y + header_height / 2
    _stamp(img, x - clock_left, header_mid - clock_top - clock_mask.height / 2, clock, big, _WHITE)
    bar_x = x + clock_mask.width + pad
    ImageDraw.Draw(img).rectangle((bar_x, y, bar_x + bar_width - 1, y + header_height - 1), fill=_ACCENT)
    for i, text in enumerate(dates):
        _stamp(img, bar_x + bar_width + pad, header_mid + (i - 0.5) * _slot(mid), text, mid, _WHITE)
    y += header_height + pad // 2
    for text, size, colour in rows:
        _stamp(img, x, y + _slot(size) / 2, text, size, colour)
        y += _slot(size)
