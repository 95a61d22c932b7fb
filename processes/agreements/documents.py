"""The e-agreement PDF (电子就业协议书), rule DOC-1.

Rendered with xhtml2pdf from the Jinja2 template ``domain/templates_pdf/agreement.html``
(a standalone environment with autoescaping; no Flask). The agreement is a fixed
template (MOD-3): two-party (甲方 用人单位, 乙方 毕业生; the school 鉴证) or
three-party (plus 丙方 学校, which 审核). The 协议编号 is AGR-1's 19 digits, printed
once the agreement is signed, with the verification line (and a QR code of its URL).

Chinese text needs a CJK font that reportlab can embed, i.e. one with TrueType
outlines: the Noto CJK collections Debian ships are CFF-based and cannot be used.
``find_cjk_font`` looks for the Debian package ``fonts-wqy-microhei`` first (see
``domain/fonts/README.md``); ``GRADFLOW_CJK_FONT`` overrides the search. The font handling and
the render itself are ``domain/pdf.py``'s, shared with the verification report (DOC-2).

Everything the caller passes is text: it is escaped by the template, and the
render runs under an xhtml2pdf resource policy that fetches nothing, so a value
such as ``<img src="/etc/passwd">`` prints literally and reads no file.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from domain import pdf as shared_pdf
from domain.pdf import FONT_ENV, FONT_NAME, FONT_PACKAGE, FontMissing, RenderError

__all__ = ["FONT_ENV", "FONT_NAME", "FONT_PACKAGE", "FontMissing", "RenderError", "KNOWN_FONTS", "find_cjk_font",
           "render_agreement_html", "render_agreement_pdf", "template_version"]

TEMPLATE_DIR = Path(__file__).resolve().parent / "templates_pdf"
TEMPLATE_NAME = "agreement.html"

#: The fonts searched, best first (domain/pdf.py holds the list and the font handling every PDF shares).
KNOWN_FONTS: tuple[tuple[str, int, str], ...] = shared_pdf.KNOWN_FONTS

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


# --- font (domain/pdf.py; the search list is read from this module at each call) -----------

def find_cjk_font() -> Path:
    """A TrueType-outline CJK font that reportlab can embed; FontMissing when none is installed."""
    return shared_pdf.find_cjk_font(KNOWN_FONTS)


# --- template -----------------------------------------------------------------

_lines = shared_pdf.lines


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
    return shared_pdf.template_digest(TEMPLATE_DIR, find_cjk_font())


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
        "qr": shared_pdf.qr_data_uri(url.group(0)) if url else "",
        "font_family": FONT_NAME,
    }


def render_agreement_html(ctx: dict) -> str:
    """The agreement as the HTML handed to xhtml2pdf (useful for debugging the layout)."""
    return _env.get_template(TEMPLATE_NAME).render(**_template_context(ctx))


def render_agreement_pdf(ctx: dict) -> bytes:
    """The e-agreement PDF (A4) for `ctx`; see the module docstring for its keys."""
    html = render_agreement_html(ctx)  # validates ctx before touching the font
    return shared_pdf.html_to_pdf(html, "agreement PDF", KNOWN_FONTS)
