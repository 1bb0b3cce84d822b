"""Verification of uploaded evidence photos and their derivatives (process_photo).

Phones send 12 MP JPEGs (4032x3024, ~4 MB, EXIF Orientation 6). Decoding and rotating such a
photo at full size costs ~250 ms and ~140 MB, so JPEGs are decoded by libjpeg at a reduced
scale (``draft``) straight to preview size, and everything else (rotation, thumbnail,
perceptual hashes, watermark) works on that small image. EXIF is read by exif.py, the hashes
are phash.py's and the watermark is watermark.py's.
"""

import hashlib
import io
import os
import struct
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

from server.imaging.exif import ExifInfo, read_exif
from server.imaging.phash import RegionHash, dhash
from server.imaging.phash import region_hashes as phash_regions
from server.imaging.watermark import Watermark, _draw_watermark

MAX_PIXELS = 50_000_000
# Below this on the short side a file is an icon or a strip, not evidence (and the watermark
# box would not fit).
MIN_SHORT_SIDE = 64
ALLOWED_FORMATS = frozenset({"JPEG", "PNG", "WEBP"})

THUMB_LONG_SIDE = 320
PREVIEW_MIN_LONG_SIDE = 1000
PREVIEW_MAX_LONG_SIDE = 1280
THUMB_QUALITY = 80
PREVIEW_QUALITY = 82

# Pillow opens phone JPEGs that carry extra frames (depth maps, gain maps) as "MPO"; the
# first frame is an ordinary JPEG, so they are treated as JPEG.
_FORMAT_ALIASES = {"MPO": "JPEG"}

# Major brands of ISO-BMFF still images: Pillow cannot open them, but the user must be told
# "wrong format" (iPhones save HEIC by default), not "not a picture".
_HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1"}
_AVIF_BRANDS = {b"avif", b"avis"}

# What Pillow raises on damaged data while opening or decoding a recognised format.
_DAMAGED_ERRORS = (OSError, ValueError, SyntaxError, EOFError, struct.error)

# Image.transpose() operation that turns the stored pixels upright, per EXIF Orientation.
_ORIENTATION_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


class PhotoRejected(Exception):
    """The file is not an acceptable photo. Attributes: code (str), message (Chinese, for the user), details (dict)."""

    def __init__(self, code: str, message: str, details: dict | None = None):
        """Keep code, user message and details; str(exc) gives "code: message" for logs."""
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.details = details or {}


@dataclass(frozen=True)
class ProcessedPhoto:
    """A verified photo: its format, upright size, EXIF, perceptual hashes and derivatives.

    phash is the whole-frame dHash; region_hashes and structure are phash.py's
    crop- and rotation-tolerant hashes of the upright thumbnail and its flat-frame measure.
    """

    format: str
    width: int
    height: int
    exif: ExifInfo | None
    phash: int
    region_hashes: tuple[RegionHash, ...]
    structure: float
    thumb_jpeg: bytes
    preview_jpeg: bytes
    preview_sha256: str


def process_photo(fp, *, watermark: Watermark | None = None, max_pixels: int = MAX_PIXELS) -> ProcessedPhoto:
    """Verify a photo file (seekable binary file object) and produce its derivatives; raise PhotoRejected."""
    fp.seek(0, os.SEEK_END)
    file_size = fp.tell()
    if file_size == 0:
        raise PhotoRejected("photo_empty", "照片文件是空的，请重新拍摄或选择照片。")
    fp.seek(0)
    with _open_image(fp, max_pixels) as img:
        fmt = _FORMAT_ALIASES.get(img.format, img.format)
        stored_size = img.size  # draft() below shrinks img.size
        small = _decode_small(img, fmt, file_size)
        # Read after decoding: PNG and WebP may store EXIF behind the pixel data.
        exif = read_exif(img)
        if small is not img:
            img.close()  # do not hold a full-size PNG or WebP decode any longer

        orientation = exif.orientation if exif and exif.orientation else 1
        width, height = stored_size
        if orientation in (5, 6, 7, 8):
            width, height = height, width
        preview = small
        if orientation in _ORIENTATION_TRANSPOSE:
            preview = small.transpose(_ORIENTATION_TRANSPOSE[orientation])
            small.close()

        # resize() always returns a new image, so the watermark never lands on the thumbnail.
        # reducing_gap=1.0 box-averages by the whole factor (3 for 1008 -> 320) before the
        # bilinear pass: half the cost of a plain bilinear resize, same look at 320 px.
        thumb = preview.resize(_fit(preview.size, THUMB_LONG_SIDE), Image.Resampling.BILINEAR, reducing_gap=1.0)
        phash = dhash(thumb)
        region_hashes, structure = phash_regions(thumb)
        thumb_jpeg = _encode_jpeg(thumb, THUMB_QUALITY)
        thumb.close()
        if watermark is not None:
            _draw_watermark(preview, watermark)
        preview_jpeg = _encode_jpeg(preview, PREVIEW_QUALITY)
        preview.close()
    return ProcessedPhoto(
        format=fmt,
        width=width,
        height=height,
        exif=exif,
        phash=phash,
        region_hashes=region_hashes,
        structure=structure,
        thumb_jpeg=thumb_jpeg,
        preview_jpeg=preview_jpeg,
        preview_sha256=hashlib.sha256(preview_jpeg).hexdigest(),
    )


def _open_image(fp, max_pixels: int) -> Image.Image:
    """Open fp with Pillow (header only) and refuse what is not an allowed, reasonably sized image."""
    try:
        img = Image.open(fp)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        # Pillow refuses > 2x its own limit at open(); the warning only arrives as an exception
        # when warnings are turned into errors.
        raise _too_many_pixels(max_pixels, {"reason": str(exc)}) from exc
    except UnidentifiedImageError as exc:
        fp.seek(0)
        heif_format = _heif_format(fp.read(12))
        if heif_format:
            raise _unsupported(heif_format) from exc
        raise PhotoRejected("photo_not_image", "上传的文件不是图片，请选择照片上传。") from exc
    except _DAMAGED_ERRORS as exc:
        raise _damaged(exc) from exc

    fmt = _FORMAT_ALIASES.get(img.format, img.format)
    width, height = img.size
    if fmt not in ALLOWED_FORMATS:
        img.close()
        raise _unsupported(img.format or "unknown")
    if width * height > max_pixels:
        img.close()
        raise _too_many_pixels(max_pixels, {"width": width, "height": height, "pixels": width * height})
    if min(width, height) < MIN_SHORT_SIDE:
        img.close()
        raise PhotoRejected(
            "photo_too_small",
            f"照片太小(短边不足 {MIN_SHORT_SIDE} 像素),请上传相机拍摄的原图。",
            {"width": width, "height": height, "min_short_side": MIN_SHORT_SIDE},
        )
    return img


def _heif_format(head: bytes) -> str | None:
    """Name of the HEIF-family format whose ISO-BMFF header starts head, if any."""
    if head[4:8] != b"ftyp":
        return None
    brand = head[8:12]
    if brand in _HEIF_BRANDS:
        return "HEIC"
    if brand in _AVIF_BRANDS:
        return "AVIF"
    return None


def _unsupported(fmt: str) -> PhotoRejected:
    """Rejection for a real image in a format the service does not take."""
    message = f"不支持 {fmt} 格式的图片，请上传 JPEG、PNG 或 WebP 格式的照片。"
    if fmt == "HEIC":
        message += "iPhone 可在“设置 > 相机 > 格式”中选择“兼容性最佳”。"
    return PhotoRejected("photo_unsupported_format", message, {"format": fmt})


def _too_many_pixels(max_pixels: int, details: dict) -> PhotoRejected:
    """Rejection for an image above the pixel limit (a decompression bomb or a huge scan)."""
    return PhotoRejected(
        "photo_too_many_pixels",
        f"照片像素过大，请上传不超过 {max_pixels / 10_000:g} 万像素的照片。",
        {**details, "max_pixels": max_pixels},
    )


def _damaged(exc: Exception | None) -> PhotoRejected:
    """Rejection for a file whose image data is cut off or corrupt."""
    details = {"reason": str(exc)} if exc else {"reason": "decoder filled missing data"}
    return PhotoRejected("photo_truncated", "照片文件不完整或已损坏，请重新上传。", details)


def _decode_small(img: Image.Image, fmt: str, file_size: int) -> Image.Image:
    """Decode img (from a file of file_size bytes) to RGB, stored orientation, long side at most the preview maximum.

    Returns img itself when the JPEG draft already gives such an image: copying it would cost
    a few milliseconds of the ~50 a photo takes.
    """
    width, height = img.size
    long_side = max(width, height)
    if fmt == "JPEG" and long_side > PREVIEW_MAX_LONG_SIDE:
        # draft() picks the smallest 1/2, 1/4, 1/8 scale still covering the box, per axis: the
        # box must have the photo's own aspect ratio or a 4:3 photo would not shrink at all.
        ratio = PREVIEW_MIN_LONG_SIDE / long_side
        img.draft("RGB", (max(1, int(width * ratio)), max(1, int(height * ratio))))
    if fmt == "JPEG":
        # The whole file in one piece (the photo is in memory already): fed Pillow's 64 KB at a
        # time, libjpeg suspends at the end of each and leaves its fast Huffman path, and a 4 MB
        # photo decodes ~10 % slower. The pixels are the same.
        img.decodermaxblock = max(img.decodermaxblock, file_size)
    try:
        img.load()
    except _DAMAGED_ERRORS as exc:
        raise _damaged(exc) from exc
    if fmt == "JPEG" and _ends_in_fill(img):
        raise _damaged(None)
    rgb = _to_rgb(img)
    if max(rgb.size) <= PREVIEW_MAX_LONG_SIDE:
        return rgb
    small = rgb.resize(_fit(rgb.size, PREVIEW_MAX_LONG_SIDE), Image.Resampling.BILINEAR)
    if rgb is not img:
        rgb.close()
    return small


def _ends_in_fill(img: Image.Image) -> bool:
    """Whether the decoded JPEG ends in libjpeg's filler: a bottom row of pure (128, 128, 128).

    Pillow already refuses a file that simply stops early. But when the entropy data is
    corrupt or a marker follows too soon (a file cut short and closed with EOI), libjpeg only
    warns and fills the remaining blocks with zero coefficients, i.e. flat mid-gray, and
    Pillow reports success. A camera photo never has an exactly uniform 128-gray bottom row.
    """
    if img.mode not in ("RGB", "L"):
        return False
    bottom = img.crop((0, img.height - 1, img.width, img.height))
    extrema = bottom.getextrema()
    bands = extrema if img.mode == "RGB" else (extrema,)
    return all(band == (128, 128) for band in bands)


def _to_rgb(img: Image.Image) -> Image.Image:
    """img as RGB: transparency over white, 16-bit gray scaled down rather than clipped."""
    if img.mode == "RGB":
        return img
    if img.mode.startswith("I"):
        # convert() would clip every value above 255 to white: scale 16-bit gray to 8 bits
        # first (point() keeps the 2-byte I;16 pixels, no 4-byte "I" copy of the image).
        return img.point(lambda v: v / 256).convert("RGB")
    if img.mode in ("RGBA", "LA", "PA") or "transparency" in img.info:
        rgba = img.convert("RGBA")
        rgb = Image.new("RGB", img.size, "white")
        rgb.paste(rgba, mask=rgba)
        rgba.close()
        return rgb
    return img.convert("RGB")


def _fit(size: tuple[int, int], long_side: int) -> tuple[int, int]:
    """size scaled down so that its long side is at most long_side (never scaled up)."""
    width, height = size
    current = max(width, height)
    if current <= long_side:
        return size
    return max(1, round(width * long_side / current)), max(1, round(height * long_side / current))


def _encode_jpeg(img: Image.Image, quality: int) -> bytes:
    """Baseline JPEG without any metadata; Huffman optimisation is off because it costs time."""
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality, optimize=False)
    return buf.getvalue()
