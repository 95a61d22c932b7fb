"""Uploaded-image checks and normalisation (rule IMG-1)."""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError

MSG_EMPTY = "上传的文件为空"
MSG_TOO_LARGE = "图片文件过大（不超过{mb}MB）"
MSG_FORMAT = "只能上传JPG或PNG格式的图片"
MSG_INVALID = "文件不是有效的图片"
MSG_PIXELS = "图片尺寸过大（超过{wan}万像素）"
MSG_COUNT = "最多上传{limit}张图片"
MSG_UNSHRINKABLE = "图片无法压缩到允许的大小"

# MPO is what Pillow calls multi-picture JPEGs written by many phone cameras.
# Keyed by Pillow's Image.format, which is None for an image not read from a file.
_ALLOWED: dict[str | None, str] = {"JPEG": "JPEG", "MPO": "JPEG", "PNG": "PNG"}
_SIGNATURES = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n")
_QUALITIES = (85, 70, 55, 40)
_SCALE_STEP = 0.8
# The longest edge of a stored photo: a proof or a stamped page stays legible, and a phone photo of 12 or
# 24 megapixels is decoded at 1/2 or 1/4 scale by the JPEG decoder itself (draft), so its cost is bounded.
MAX_EDGE = 2000
# Checked on the header before any pixel is decoded: the decode cost of a PNG grows with its pixels
# (a 6000x6600 PNG took 6.9 s and 620 MB before this bound, issue 12).
MAX_PIXELS = 25_000_000


class ImageRejected(ValueError):
    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


@dataclass
class StoredImage:
    data: bytes
    mime: str
    width: int
    height: int
    size: int
    sha256: str


def check_count(n: int, limit: int = 3) -> None:
    if n > limit:
        raise ImageRejected(MSG_COUNT.format(limit=limit))


def _pixels_msg(max_pixels: int) -> str:
    return MSG_PIXELS.format(wan=max_pixels // 10_000)


def _open(raw: bytes, max_pixels: int) -> Image.Image:
    try:
        # Pillow only warns between 1x and 2x MAX_IMAGE_PIXELS; make that a hard stop too.
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(raw), formats=("JPEG", "PNG"))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageRejected(_pixels_msg(max_pixels)) from None
    except UnidentifiedImageError:
        raise ImageRejected(MSG_INVALID if raw.startswith(_SIGNATURES) else MSG_FORMAT) from None
    except Exception:  # malformed headers surface as assorted errors
        raise ImageRejected(MSG_INVALID) from None
    if img.format not in _ALLOWED:
        raise ImageRejected(MSG_FORMAT)
    # Checked on the header alone, before any pixel data is decoded.
    if img.width * img.height > max_pixels:
        raise ImageRejected(_pixels_msg(max_pixels))
    return img


def _has_alpha(img: Image.Image) -> bool:
    return img.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in img.info


def _encode(img: Image.Image, fmt: str, quality: int = 0) -> bytes:
    buf = io.BytesIO()
    if fmt == "PNG":
        img.save(buf, "PNG", optimize=True)
    else:
        img.save(buf, "JPEG", quality=quality, optimize=True)
    return buf.getvalue()


def _stored(data: bytes, fmt: str, size: tuple[int, int]) -> StoredImage:
    return StoredImage(
        data=data,
        mime="image/png" if fmt == "PNG" else "image/jpeg",
        width=size[0],
        height=size[1],
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
    )


def _for_jpeg(img: Image.Image) -> Image.Image:
    if _has_alpha(img):
        rgba = img.convert("RGBA")
        flat = Image.new("RGB", rgba.size, (255, 255, 255))
        flat.paste(rgba, mask=rgba.getchannel("A"))
        return flat
    return img.convert("L" if img.mode in ("1", "L") else "RGB")


def _within_edge(img: Image.Image) -> Image.Image:
    if max(img.size) > MAX_EDGE:
        img.thumbnail((MAX_EDGE, MAX_EDGE), Image.Resampling.LANCZOS, reducing_gap=2.0)
    return img


def _draft(img: Image.Image, fmt: str) -> None:
    """Have the JPEG decoder decode at the smallest 1/2^n scale that still covers MAX_EDGE."""
    if fmt == "JPEG" and max(img.size) > MAX_EDGE:
        ratio = MAX_EDGE / max(img.size)
        img.draft(img.mode if img.mode in ("L", "RGB") else "RGB",
                  (max(1, round(img.width * ratio)), max(1, round(img.height * ratio))))


def process_image(
    raw: bytes,
    *,
    max_bytes: int = 300 * 1024,
    max_input_bytes: int = 12 * 1024 * 1024,
    max_pixels: int = MAX_PIXELS,
) -> StoredImage:
    if not raw:
        raise ImageRejected(MSG_EMPTY)
    if len(raw) > max_input_bytes:
        raise ImageRejected(MSG_TOO_LARGE.format(mb=max_input_bytes // (1024 * 1024)))

    img = _open(raw, max_pixels)
    try:
        img.verify()
        img = _open(raw, max_pixels)  # verify() leaves the image unusable
        fmt = _ALLOWED[img.format]
        _draft(img, fmt)
        img.load()
        img = ImageOps.exif_transpose(img)
        # Savers copy some metadata (ICC, comments) from .info, so keep only what PNG needs.
        img.info = {k: v for k, v in img.info.items() if k == "transparency"}
    except ImageRejected:
        raise
    except Exception:  # truncated or corrupt data
        raise ImageRejected(MSG_INVALID) from None

    if img.mode.startswith("I"):
        # 16-bit greyscale PNG: scale to 8 bits rather than letting convert() clip.
        img = img.convert("I").point(lambda v: v / 256).convert("L")

    if fmt == "PNG":
        png = img if img.mode in ("1", "L", "LA", "P", "RGB", "RGBA") else img.convert("RGBA")
        data = _encode(png, "PNG")
        if len(data) <= max_bytes:
            return _stored(data, "PNG", png.size)

    base = _within_edge(_for_jpeg(img))
    scale = 1.0
    while True:
        w, h = max(1, round(base.width * scale)), max(1, round(base.height * scale))
        frame = base if scale == 1.0 else base.resize((w, h), Image.Resampling.LANCZOS)
        for quality in _QUALITIES:
            data = _encode(frame, "JPEG", quality)
            if len(data) <= max_bytes:
                return _stored(data, "JPEG", frame.size)
        if w == 1 and h == 1:
            raise ImageRejected(MSG_UNSHRINKABLE)
        scale *= _SCALE_STEP
