"""PDF documents the platform issues (DOC-1 e-agreement, DOC-2 verification report): the CJK font and
the xhtml2pdf render every document shares, so each process module keeps only its template.

Chinese text needs a CJK font that reportlab can embed, i.e. one with TrueType outlines: the Noto CJK
collections Debian ships are CFF-based and cannot be used. `find_cjk_font` looks for the Debian package
``fonts-wqy-microhei`` first (see ``domain/fonts/README.md``); ``GRADFLOW_CJK_FONT`` overrides the search.

The render runs under an xhtml2pdf resource policy that fetches nothing (no network, no local files); a
``data:`` URI (a QR code image the caller made) is part of the document and is allowed.
"""
from __future__ import annotations

import hashlib
import io
import os
import re
import struct
import threading
from pathlib import Path
from typing import Any

from markupsafe import Markup

FONT_NAME = "GradflowCJK"
FONT_ENV = "GRADFLOW_CJK_FONT"
FONT_PACKAGE = "fonts-wqy-microhei"

#: Known TrueType-outline CJK fonts from Debian packages, best first:
#: (path, subfont index of a .ttc, Debian package).
KNOWN_FONTS: tuple[tuple[str, int, str], ...] = (
    ("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc", 0, "fonts-wqy-microhei"),
    ("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc", 0, "fonts-wqy-zenhei"),
    ("/usr/share/fonts/truetype/arphic/uming.ttc", 0, "fonts-arphic-uming"),
    ("/usr/share/fonts/truetype/arphic/ukai.ttc", 0, "fonts-arphic-ukai"),
    ("/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf", 0, "fonts-droid-fallback"),
)
FontList = tuple[tuple[str, int, str], ...]


class FontMissing(RuntimeError):
    """No CJK font with TrueType outlines is installed: the PDF would show no Chinese."""


class RenderError(RuntimeError):
    """xhtml2pdf reported errors while building a PDF."""


# --- font ---------------------------------------------------------------------

def font_missing_message(detail: str) -> str:
    return (
        f"未找到可嵌入 PDF 的中文 TrueType 字体（{detail}）。"
        f"请以 root 执行 apt-get install -y {FONT_PACKAGE} 安装 Debian 软件包 {FONT_PACKAGE}，"
        f"或设置环境变量 {FONT_ENV} 指向 TrueType 轮廓的中文字体文件（.ttf/.ttc）。"
        f" / No embeddable CJK TrueType font ({detail}). Install the Debian package "
        f"{FONT_PACKAGE} (apt-get install -y {FONT_PACKAGE}) or set {FONT_ENV} to a "
        f"TrueType-outline CJK font file (.ttf/.ttc). Noto CJK (fonts-noto-cjk) is CFF-based "
        f"and cannot be embedded by reportlab."
    )


def outline_kind(path: Path, index: int = 0) -> str:
    """'truetype', 'cff' or 'unknown', read from the sfnt header of subfont `index`."""
    try:
        with path.open("rb") as f:
            head = f.read(12)
            if head[:4] == b"ttcf":
                f.seek(12 + 4 * index)
                (offset,) = struct.unpack(">I", f.read(4))
                f.seek(offset)
                head = f.read(4)
    except (OSError, struct.error):
        return "unknown"
    tag = head[:4]
    if tag in (b"\x00\x01\x00\x00", b"true"):
        return "truetype"
    if tag == b"OTTO":
        return "cff"
    return "unknown"


def font_choice(known_fonts: FontList = KNOWN_FONTS) -> tuple[Path, int]:
    """(path, subfont index) of the font to embed: GRADFLOW_CJK_FONT, else the first known font installed."""
    override = os.environ.get(FONT_ENV, "").strip()
    if override:
        path = Path(override)
        if not path.is_file():
            raise FontMissing(font_missing_message(f"{FONT_ENV}={override} 不存在 / does not exist"))
        if outline_kind(path) != "truetype":
            raise FontMissing(font_missing_message(
                f"{FONT_ENV}={override} 不是 TrueType 轮廓字体 / is not a TrueType-outline font"))
        return path, 0
    for candidate, index, _package in known_fonts:
        path = Path(candidate)
        if path.is_file() and outline_kind(path, index) == "truetype":
            return path, index
    searched = ", ".join(p for p, _, _ in known_fonts)
    raise FontMissing(font_missing_message(f"已查找 / searched: {searched}"))


def find_cjk_font(known_fonts: FontList = KNOWN_FONTS) -> Path:
    """A TrueType-outline CJK font that reportlab can embed; FontMissing when none is installed."""
    return font_choice(known_fonts)[0]


_font_lock = threading.Lock()
_registered: tuple[str, int] | None = None


def register_font(known_fonts: FontList = KNOWN_FONTS) -> Path:
    """Register the CJK font with reportlab as FONT_NAME and make xhtml2pdf know the family."""
    global _registered
    path, index = font_choice(known_fonts)
    key = (str(path), index)
    with _font_lock:
        if _registered != key:
            from reportlab.lib.fonts import addMapping
            from reportlab.pdfbase import pdfmetrics
            from reportlab.pdfbase.ttfonts import TTFError, TTFont
            from xhtml2pdf import default as pisa_default

            try:
                font = TTFont(FONT_NAME, str(path), subfontIndex=index)
            except TTFError as exc:
                raise FontMissing(font_missing_message(f"{path}: {exc}")) from exc
            pdfmetrics.registerFont(font)
            # One face only: bold and italic draw with it (headings are set by size).
            for bold in (0, 1):
                for italic in (0, 1):
                    addMapping(FONT_NAME, bold, italic, FONT_NAME)
            # Each xhtml2pdf document copies DEFAULT_FONT: the CSS names the family.
            pisa_default.DEFAULT_FONT[FONT_NAME.lower()] = FONT_NAME
            _registered = key
    return path


# --- templates and rendering ----------------------------------------------------

def qr_data_uri(value: str) -> str:
    """A QR code (segno, error correction M) as a PNG data URI the PDF embeds: a few ms, where xhtml2pdf's
    vector <pdf:barcode> drew every module as a rectangle (about 70 ms, half of an e-agreement's render)."""
    import segno

    return str(segno.make(value, error="m").png_data_uri(scale=6, border=4))


def lines(value: Any) -> Markup:
    """Escape a multi-line value and put each line in its own <div> (runs of blank lines kept as one).

    Not <br/>: xhtml2pdf's CJK line breaking, which Chinese text needs, ignores it.
    """
    text = str(value or "").replace("\r\n", "\n").replace("\r", "\n")
    text = re.sub(r"\n[ \t\u3000]*(\n[ \t\u3000]*)+\n", "\n\n", text)  # one blank line at most
    return Markup("\n").join(
        Markup("<div>{}</div>").format(line) if line.strip() else Markup("<div>&nbsp;</div>")
        for line in text.split("\n")
    )


def template_digest(template_dir: Path, font: Path) -> str:
    """sha256 of the files under template_dir and the font path: a cache key for rendered PDFs."""
    digest = hashlib.sha256()
    for path in sorted(template_dir.rglob("*")):
        if path.is_file():
            digest.update(path.relative_to(template_dir).as_posix().encode())
            digest.update(b"\0")
            digest.update(path.read_bytes())
            digest.update(b"\0")
    digest.update(str(font).encode())
    return digest.hexdigest()


def html_to_pdf(html: str, what: str = "PDF", known_fonts: FontList = KNOWN_FONTS) -> bytes:
    """xhtml2pdf's PDF of `html` (which names FONT_NAME in its CSS), fetching nothing."""
    from xhtml2pdf import pisa
    from xhtml2pdf.config.resources import ResourceAccessPolicy

    register_font(known_fonts)
    # Nothing in the document is fetched: no network, no local files.
    policy = ResourceAccessPolicy(allow_remote=False, base_dir=None, max_render_seconds=60)
    out = io.BytesIO()
    result = pisa.CreatePDF(html, dest=out, encoding="utf-8", resource_policy=policy)
    if result.err:
        raise RenderError(f"xhtml2pdf reported {result.err} error(s) rendering the {what}")
    data = out.getvalue()
    if not data.startswith(b"%PDF"):
        raise RenderError(f"xhtml2pdf produced no {what}")
    return data
