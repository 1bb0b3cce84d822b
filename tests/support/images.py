"""Phone-like JPEGs made with Pillow, with the EXIF a phone writes."""

from __future__ import annotations

import io
import random
from datetime import datetime

from PIL import Image, ImageDraw
from PIL.TiffImagePlugin import IFDRational


def scene(seed: int, size=(320, 240)) -> Image.Image:
    """A picture with random coloured shapes (the perceptual-hash tests' subject)."""
    rng = random.Random(seed)
    img = Image.new("RGB", size, tuple(rng.randrange(256) for _ in range(3)))
    draw = ImageDraw.Draw(img)
    for _ in range(30):
        x0, y0 = rng.randrange(size[0]), rng.randrange(size[1])
        box = (x0, y0, x0 + rng.randrange(10, size[0] // 2), y0 + rng.randrange(10, size[1] // 2))
        draw.rectangle(box, fill=tuple(rng.randrange(256) for _ in range(3)))
    return img


def _rational(value: float, denominator: int = 10000) -> IFDRational:
    return IFDRational(round(value * denominator), denominator)


def _dms(deg: float):
    d = int(abs(deg))
    m = int((abs(deg) - d) * 60)
    s = (abs(deg) - d - m / 60) * 3600
    return (_rational(d, 1), _rational(m, 1), _rational(s, 1000))


def phone_jpeg(
    *,
    size=(1600, 1200),
    seed: int = 1,
    taken: datetime | None = None,
    gps: tuple[float, float] | None = None,
    orientation: int | None = None,
    offset: str = "+08:00",
    quality: int = 85,
) -> bytes:
    """A detailed JPEG (random shapes, so each seed hashes differently) with optional EXIF."""
    rng = random.Random(seed)
    img = Image.new("RGB", size, tuple(rng.randrange(256) for _ in range(3)))
    draw = ImageDraw.Draw(img)
    w, h = size
    for _ in range(40):
        x0, y0 = rng.randrange(w), rng.randrange(h)
        x1, y1 = x0 + rng.randrange(w // 2), y0 + rng.randrange(h // 2)
        draw.rectangle((x0, y0, x1, y1), fill=tuple(rng.randrange(256) for _ in range(3)))
    exif = Image.Exif()
    if orientation:
        exif[0x0112] = orientation
    if taken:
        exif[0x010F] = "Apple"
        exif[0x0110] = "iPhone 11"
        ifd = exif.get_ifd(0x8769)
        ifd[0x9003] = taken.strftime("%Y:%m:%d %H:%M:%S")
        ifd[0x9011] = offset
    if gps:
        g = exif.get_ifd(0x8825)
        g[1], g[2] = ("N" if gps[0] >= 0 else "S"), _dms(gps[0])
        g[3], g[4] = ("E" if gps[1] >= 0 else "W"), _dms(gps[1])
    out = io.BytesIO()
    img.save(out, "JPEG", quality=quality, exif=exif.tobytes() if len(exif) or taken or gps else b"")
    return out.getvalue()
