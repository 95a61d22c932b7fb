"""The e-agreement PDF (电子就业协议书), rule DOC-1.

Rendered with xhtml2pdf from the Jinja2 template ``domain/templates_pdf/agreement.html``
(a standalone environment with autoescaping; no Flask). The agreement is a fixed
template (MOD-3): two-party (甲方 用人单位, 乙方 毕业生; the school 鉴证) or
three-party (plus 丙方 学校, which 审核). The 协议编号 is AGR-1's 19 digits, printed
once the agreement is signed, with the verification line (and a QR code of its URL).

Chinese text needs a CJK font that reportlab can embed, i.e. one with TrueType
outlines: the Noto CJK collections Debian ships are CFF-based and cannot be used.
``find_cjk_font`` looks for the Debian package ``fonts-wqy-microhei`` first (see
``domain/fonts/README.md``); ``GRADFLOW_CJK_FONT`` overrides the search.

Everything the caller passes is text: it is escaped by the template, and the
render runs under an xhtml2pdf resource policy that fetches nothing, so a value
such as ``<img src="/etc/passwd">`` prints literally and reads no file.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import re
import struct
import threading
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

FONT_NAME = "GradflowCJK"
FONT_ENV = "GRADFLOW_CJK_FONT"
FONT_PACKAGE = "fonts-wqy-microhei"

TEMPLATE_DIR = Path(__file__).resolve().parent / "templates_pdf"
TEMPLATE_NAME = "agreement.html"

#: Known TrueType-outline CJK fonts from Debian packages, best first:
#: (path, subfont index of a .ttc, Debian package).
KNOWN_FONTS: tuple[tuple[str, int, str], ...] = (
    ("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc", 0, "fonts-wqy-microhei"),
    ("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc", 0, "fonts-wqy-zenhei"),
    ("/usr/share/fonts/truetype/arphic/uming.ttc", 0, "fonts-arphic-uming"),
    ("/usr/share/fonts/truetype/arphic/ukai.ttc", 0, "fonts-arphic-ukai"),
    ("/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf", 0, "fonts-droid-fallback"),
)

AGREEMENT_TYPES = ("two_party", "three_party")
AGREEMENT_NO_PENDING = "（签约审核通过后生成）"
TITLES = {
    "two_party": "全国普通高校毕业生就业协议书",
    "three_party": "毕业生、用人单位、学校三方就业协议书",
}

# The fields of each ctx section, in the order the template prints them.
GRADUATE_FIELDS = ("name", "gender", "id_number", "school_name", "education", "major",
                   "student_no", "phone", "email", "origin")
EMPLOYER_FIELDS = ("name", "credit_code", "nature", "industry", "address", "contact",
                   "phone", "mobile", "email")
SCHOOL_FIELDS = ("name", "department")
JOB_FIELDS = ("job_category", "position", "work_place", "trial_months", "salary_trial",
              "salary_regular", "penalty", "report_place", "report_deadline", "archive_type",
              "archive_unit", "archive_address", "archive_contact", "archive_phone", "archive_postcode", "hukou_type",
              "hukou_address", "supplement")

_AGREEMENT_NO = re.compile(r"\d{19}")
_URL = re.compile(r"https?://\S+")
_NUMBER = re.compile(r"\d+(\.\d+)?")

log = logging.getLogger(__name__)


class FontMissing(RuntimeError):
    """No CJK font with TrueType outlines is installed: the PDF would show no Chinese."""


class RenderError(RuntimeError):
    """xhtml2pdf reported errors while building the agreement PDF."""


# --- font ---------------------------------------------------------------------

def _font_missing_message(detail: str) -> str:
    return (
        f"未找到可嵌入 PDF 的中文 TrueType 字体（{detail}）。"
        f"请以 root 执行 apt-get install -y {FONT_PACKAGE} 安装 Debian 软件包 {FONT_PACKAGE}，"
        f"或设置环境变量 {FONT_ENV} 指向 TrueType 轮廓的中文字体文件（.ttf/.ttc）。"
        f" / No embeddable CJK TrueType font ({detail}). Install the Debian package "
        f"{FONT_PACKAGE} (apt-get install -y {FONT_PACKAGE}) or set {FONT_ENV} to a "
        f"TrueType-outline CJK font file (.ttf/.ttc). Noto CJK (fonts-noto-cjk) is CFF-based "
        f"and cannot be embedded by reportlab."
    )


def _outline_kind(path: Path, index: int = 0) -> str:
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


def _font_choice() -> tuple[Path, int]:
    override = os.environ.get(FONT_ENV, "").strip()
    if override:
        path = Path(override)
        if not path.is_file():
            raise FontMissing(_font_missing_message(f"{FONT_ENV}={override} 不存在 / does not exist"))
        if _outline_kind(path) != "truetype":
            raise FontMissing(_font_missing_message(
                f"{FONT_ENV}={override} 不是 TrueType 轮廓字体 / is not a TrueType-outline font"))
        return path, 0
    for candidate, index, _package in KNOWN_FONTS:
        path = Path(candidate)
        if path.is_file() and _outline_kind(path, index) == "truetype":
            return path, index
    searched = ", ".join(p for p, _, _ in KNOWN_FONTS)
    raise FontMissing(_font_missing_message(f"已查找 / searched: {searched}"))


def find_cjk_font() -> Path:
    """A TrueType-outline CJK font that reportlab can embed; FontMissing when none is installed."""
    return _font_choice()[0]


_font_lock = threading.Lock()
_registered: tuple[str, int] | None = None


def _register_font() -> Path:
    """Register the CJK font with reportlab as FONT_NAME and make xhtml2pdf know the family."""
    global _registered
    path, index = _font_choice()
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
                raise FontMissing(_font_missing_message(f"{path}: {exc}")) from exc
            pdfmetrics.registerFont(font)
            # One face only: bold and italic draw with it (headings are set by size).
            for bold in (0, 1):
                for italic in (0, 1):
                    addMapping(FONT_NAME, bold, italic, FONT_NAME)
            # Each xhtml2pdf document copies DEFAULT_FONT: the CSS names the family.
            pisa_default.DEFAULT_FONT[FONT_NAME.lower()] = FONT_NAME
            _registered = key
    return path


# --- template -----------------------------------------------------------------

def _lines(value: Any) -> Markup:
    """Escape a multi-line value and put each line in its own <div> (runs of blank lines kept as one).

    Not <br/>: xhtml2pdf's CJK line breaking, which Chinese text needs, ignores it.
    """
    text = str(value or "").replace("\r\n", "\n").replace("\r", "\n")
    text = re.sub(r"\n[ \t\u3000]*(\n[ \t\u3000]*)+\n", "\n\n", text)  # one blank line at most
    return Markup("\n").join(
        Markup("<div>{}</div>").format(line) if line.strip() else Markup("<div>&nbsp;</div>")
        for line in text.split("\n")
    )


_env = Environment(
    loader=FileSystemLoader(str(TEMPLATE_DIR)),
    autoescape=True,
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
_env.filters["lines"] = _lines


def template_version() -> str:
    """sha256 of the template files and the font path: a cache key for rendered PDFs."""
    digest = hashlib.sha256()
    for path in sorted(TEMPLATE_DIR.rglob("*")):
        if path.is_file():
            digest.update(path.relative_to(TEMPLATE_DIR).as_posix().encode())
            digest.update(b"\0")
            digest.update(path.read_bytes())
            digest.update(b"\0")
    digest.update(str(find_cjk_font()).encode())
    return digest.hexdigest()


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _section(ctx: dict, name: str, fields: tuple[str, ...]) -> dict[str, str]:
    raw = ctx.get(name) or {}
    if not isinstance(raw, dict):
        raise ValueError(f"ctx[{name!r}] must be a dict")
    section = {field: _text(raw.get(field)) for field in fields}
    if "supplement" in section:  # multi-line: keep inner line breaks
        section["supplement"] = "" if raw.get("supplement") is None else str(raw["supplement"]).strip("\n ")
    return section


def _with_unit(value: str, unit: str) -> str:
    """'6' -> '6 个月'; a value that already says something else prints as given."""
    return f"{value} {unit}" if value and _NUMBER.fullmatch(value) else value


def _template_context(ctx: dict) -> dict[str, Any]:
    agreement_type = _text(ctx.get("agreement_type"))
    if agreement_type not in AGREEMENT_TYPES:
        raise ValueError(f"agreement_type must be one of {AGREEMENT_TYPES}, not {agreement_type!r}")
    agreement_no = _text(ctx.get("agreement_no"))
    if agreement_no and not _AGREEMENT_NO.fullmatch(agreement_no):
        raise ValueError(f"agreement_no must be 19 digits (AGR-1), not {agreement_no!r}")
    job = _section(ctx, "job", JOB_FIELDS)
    job["trial_months"] = _with_unit(job["trial_months"], "个月")
    for key in ("salary_trial", "salary_regular"):
        job[key] = _with_unit(job[key], "元/月")
    job["penalty"] = _with_unit(job["penalty"], "元")
    verify_line = _text(ctx.get("verify_line"))
    url = _URL.search(verify_line)
    return {
        "three_party": agreement_type == "three_party",
        "title": TITLES[agreement_type],
        "agreement_no": agreement_no,
        "agreement_no_text": agreement_no or AGREEMENT_NO_PENDING,
        "graduate": _section(ctx, "graduate", GRADUATE_FIELDS),
        "employer": _section(ctx, "employer", EMPLOYER_FIELDS),
        "school": _section(ctx, "school", SCHOOL_FIELDS),
        "job": job,
        "signed_at": _text(ctx.get("signed_at")),
        "verify_line": verify_line,
        "qr_value": url.group(0) if url else "",
        "font_family": FONT_NAME,
    }


def render_agreement_html(ctx: dict) -> str:
    """The agreement as the HTML handed to xhtml2pdf (useful for debugging the layout)."""
    return _env.get_template(TEMPLATE_NAME).render(**_template_context(ctx))


def render_agreement_pdf(ctx: dict) -> bytes:
    """The e-agreement PDF (A4) for `ctx`; see the module docstring for its keys."""
    from xhtml2pdf import pisa
    from xhtml2pdf.config.resources import ResourceAccessPolicy

    html = render_agreement_html(ctx)  # validates ctx before touching the font
    _register_font()
    # Nothing in the document is fetched: no network, no local files.
    policy = ResourceAccessPolicy(allow_remote=False, base_dir=None, max_render_seconds=60)
    out = io.BytesIO()
    result = pisa.CreatePDF(html, dest=out, encoding="utf-8", resource_policy=policy)
    if result.err:
        raise RenderError(f"xhtml2pdf reported {result.err} error(s) rendering the agreement PDF")
    data = out.getvalue()
    if not data.startswith(b"%PDF"):
        raise RenderError("xhtml2pdf produced no PDF")
    return data
