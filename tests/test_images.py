import hashlib
import io
import os
import re

import pytest
from PIL import Image, features

from domain.images import ImageRejected, StoredImage, check_count, process_image

LIMIT = 300 * 1024
CJK = re.compile(r"[\u4e00-\u9fff]")


def _encode(img, fmt, **kw):
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def _noise(w, h, mode="RGB"):
    return Image.frombytes(mode, (w, h), os.urandom(w * h * len(mode)))


def _decode(stored: StoredImage):
    img = Image.open(io.BytesIO(stored.data))
    img.load()
    return img


def _assert_chinese_rejection(raw):
    with pytest.raises(ImageRejected) as exc:
        process_image(raw)
    assert CJK.search(exc.value.message)
    return exc.value.message


def test_large_noisy_jpeg_is_recompressed_under_limit():
    # rule IMG-1
    raw = _encode(_noise(3000, 3000), "JPEG", quality=95)
    assert len(raw) > LIMIT
    stored = process_image(raw)
    assert stored.size == len(stored.data) <= LIMIT
    assert stored.mime == "image/jpeg"
    assert stored.sha256 == hashlib.sha256(stored.data).hexdigest()
    img = _decode(stored)
    assert img.format == "JPEG"
    assert img.size == (stored.width, stored.height)


def test_small_png_stays_png_and_decodable():
    # rule IMG-1
    src = Image.new("RGB", (120, 80), (10, 120, 200))
    stored = process_image(_encode(src, "PNG"))
    assert stored.mime == "image/png"
    assert stored.size <= LIMIT
    img = _decode(stored)
    assert img.format == "PNG"
    assert img.size == (120, 80)


def test_large_png_with_alpha_becomes_jpeg_on_white():
    # rule IMG-1
    src = _noise(1200, 1200, "RGBA")
    stored = process_image(_encode(src, "PNG"))
    assert stored.mime == "image/jpeg"
    assert stored.size <= LIMIT
    assert _decode(stored).mode == "RGB"


@pytest.mark.parametrize(
    "raw",
    [
        b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n%%EOF\n",
        "这不是图片，只是一个改名为.jpg的文本文件\n".encode(),
    ],
    ids=["pdf", "text-renamed-jpg"],
)
def test_non_images_are_refused_in_chinese(raw):
    # rule IMG-1
    _assert_chinese_rejection(raw)


def test_gif_is_refused():
    # rule IMG-1
    raw = _encode(Image.new("P", (20, 20)), "GIF")
    assert _assert_chinese_rejection(raw) == "只能上传JPG或PNG格式的图片"


@pytest.mark.skipif(not features.check("webp"), reason="Pillow built without WebP")
def test_webp_is_refused():
    # rule IMG-1
    raw = _encode(Image.new("RGB", (20, 20)), "WEBP")
    assert _assert_chinese_rejection(raw) == "只能上传JPG或PNG格式的图片"


def test_truncated_png_is_refused():
    # rule IMG-1
    raw = _encode(_noise(200, 200), "PNG")
    assert _assert_chinese_rejection(raw[: len(raw) // 2]) == "文件不是有效的图片"


def test_empty_and_oversized_input_refused():
    # rule IMG-1
    _assert_chinese_rejection(b"")
    with pytest.raises(ImageRejected) as exc:
        process_image(b"\xff\xd8\xff" + b"\0" * 100, max_input_bytes=50)
    assert "过大" in exc.value.message


def test_huge_pixel_count_png_is_refused():
    # rule IMG-1
    # A 1-bit blank PNG of 10,000 x 10,000 compresses to a few KB.
    raw = _encode(Image.new("1", (10_000, 10_000)), "PNG")
    assert len(raw) < 1024 * 1024
    with pytest.raises(ImageRejected) as exc:
        process_image(raw)
    assert exc.value.message == "图片尺寸过大（超过2500万像素）"


def test_exif_rotation_applied_and_metadata_stripped():
    # rule IMG-1
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90° clockwise to display
    raw = _encode(Image.new("RGB", (200, 100), (200, 30, 30)), "JPEG", exif=exif, comment=b"secret")
    stored = process_image(raw)
    assert (stored.width, stored.height) == (100, 200)
    img = _decode(stored)
    assert img.size == (100, 200)
    assert not img.getexif()
    assert "comment" not in img.info


def test_check_count():
    # rule IMG-1
    check_count(3)
    with pytest.raises(ImageRejected) as exc:
        check_count(4)
    assert exc.value.message == "最多上传3张图片"
