"""Notice-board material: plain QR codes and the printable A4 poster of a project (公示牌)."""

from __future__ import annotations

import io
from functools import lru_cache
from typing import Any

import qrcode
from PIL import Image, ImageDraw, ImageFont

from server.imaging.watermark import find_cjk_font, simplified_face

# A4 at 150 dpi: sharp enough for a bulletin board, small enough to send around.
A4 = (1240, 1754)
MARGIN = 90
RED = (178, 34, 34)
INK = (30, 30, 30)
GREY = (110, 110, 110)


def qr_png(url: str, box_size: int = 10) -> bytes:
    """A plain QR code (PNG) of a URL, with error correction that survives a weathered board."""
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_Q, box_size=box_size, border=2)
    code.add_data(url)
    code.make(fit=True)
    out = io.BytesIO()
    code.make_image(fill_color="black", back_color="white").get_image().save(out, "PNG")
    return out.getvalue()


@lru_cache(maxsize=16)
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    path = find_cjk_font()
    if path is None:
        return ImageFont.load_default(size=size)
    # Noto CJK collections start with the Japanese face; Simplified Chinese needs the SC one.
    return ImageFont.truetype(path, size, index=simplified_face(path))


def _wrap(draw: ImageDraw.ImageDraw, text: str, font, width: int) -> list[str]:
    """Break Chinese text by characters (no spaces to break at) so each line fits `width`."""
    lines, line = [], ""
    for ch in text:
        if ch == "\n" or draw.textlength(line + ch, font=font) > width:
            lines.append(line)
            line = "" if ch == "\n" else ch
        else:
            line += ch
    if line:
        lines.append(line)
    return lines


def poster_png(record: dict[str, Any], code_png: bytes, caption: str, footer: str) -> bytes:
    """The A4 poster: title, commitments, responsible people and the code to scan."""
    img = Image.new("RGB", A4, "white")
    draw = ImageDraw.Draw(img)
    width = A4[0] - 2 * MARGIN
    draw.rectangle((0, 0, A4[0], 170), fill=RED)
    draw.text((A4[0] // 2, 85), "书记项目公示", font=_font(72), fill="white", anchor="mm")
    y = 210
    for line in _wrap(draw, record["title"], _font(54), width):
        draw.text((MARGIN, y), line, font=_font(54), fill=INK)
        y += 70
    places = "、".join(f"{p['township']}{p['name']}" for p in record["places"])
    meta = f"{record['year']} 年度 · {record['domain']}" + (f" · {places}" if places else "")
    if record.get("organization"):
        meta += f" · {record['organization']}"
    for line in _wrap(draw, meta, _font(30), width):
        draw.text((MARGIN, y), line, font=_font(30), fill=GREY)
        y += 42
    y += 20

    def section(title: str, rows: list[str]) -> None:
        nonlocal y
        if not rows or y > A4[1] - 560:
            return
        draw.rectangle((MARGIN, y + 8, MARGIN + 10, y + 44), fill=RED)
        draw.text((MARGIN + 24, y), title, font=_font(38), fill=INK)
        y += 60
        for row in rows:
            for line in _wrap(draw, row, _font(30), width - 30):
                if y > A4[1] - 520:
                    return
                draw.text((MARGIN + 30, y), line, font=_font(30), fill=INK)
                y += 42
        y += 16

    steps = [
        f"{i}. {s['name']}"
        + (f"(完成时限 {s['deadline']})" if s["deadline"] else "")
        + (f" 责任人:{s['responsible']}" if s["responsible"] else "")
        for i, s in enumerate(record["steps"], 1)
    ]
    section("实施步骤与时限", steps)
    section("目标任务", [f"· {t}" for t in record["targets"] if t])
    people = record["responsible"]
    section("责任人(四个一)", [f"{role}:{people[role]}" for role in people if people[role]])

    code = Image.open(io.BytesIO(code_png)).convert("RGB")
    side = 400
    code = code.resize((side, side), Image.Resampling.NEAREST)
    top = A4[1] - side - 120
    img.paste(code, ((A4[0] - side) // 2, top))
    draw.text((A4[0] // 2, top + side + 40), caption, font=_font(34), fill=INK, anchor="mm")
    draw.text((A4[0] // 2, top + side + 85), footer, font=_font(26), fill=GREY, anchor="mm")
    out = io.BytesIO()
    img.save(out, "PNG", optimize=True)
    return out.getvalue()
