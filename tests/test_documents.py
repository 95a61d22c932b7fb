"""The e-agreement PDF (domain/documents.py): real Chinese text, embedded CJK font, A4.

Checked with poppler-utils (pdftotext, pdffonts, pdfinfo) on the rendered bytes; without
them, or without a TrueType CJK font, the tests skip loudly (fail under
GRADFLOW_REQUIRE_SERVICES=1).
"""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from processes.agreements import documents
from processes.agreements.documents import (
    FONT_PACKAGE,
    FontMissing,
    find_cjk_font,
    render_agreement_pdf,
    template_version,
)
from tests.conftest import require_service

AGREEMENT_NO = "2023410001367556164"
CLAUSE = "本协议未尽事宜，按国家有关法律法规和毕业生就业政策执行。"
SUPPLEMENT = "甲方提供员工宿舍。\n<script>alert('x')</script> & 餐补 <b>不加粗</b>"


def _ctx(agreement_type: str = "three_party", **overrides) -> dict:
    ctx = {
        "agreement_type": agreement_type,
        "agreement_no": AGREEMENT_NO,
        "graduate": {"name": "陈诚", "gender": "男", "id_number": "410102200101011234",
                     "school_name": "郑州大学", "education": "本科", "major": "计算机科学与技术",
                     "student_no": "20190001", "phone": "13800000000", "email": "chencheng@example.com",
                     "origin": "河南省郑州市"},
        "employer": {"name": "学信咨询服务有限公司", "credit_code": "91110108749352307A",
                     "nature": "国有企业", "industry": "信息传输、软件和信息技术服务业",
                     "address": "北京市西城区西直门外大街18号楼3层5单元301", "contact": "李经理",
                     "phone": "010-11111111", "mobile": "13111111111", "email": ""},
        "school": {"name": "郑州大学", "department": "计算机与人工智能学院"},
        "job": {"job_category": "科学研究人员", "position": "数据分析师", "work_place": "北京市西城区",
                "trial_months": "3", "salary_trial": "8000", "salary_regular": "10000", "penalty": "5000",
                "report_place": "北京市西城区西直门外大街18号", "report_deadline": "2023-07-15",
                "archive_type": "托管单位接收", "archive_unit": "北京市西城区人才服务中心",
                "archive_address": "北京市西城区56号", "hukou_type": "托管单位接收",
                "hukou_address": "北京市西城区56号", "supplement": SUPPLEMENT},
        "signed_at": "2023-06-01",
        "verify_line": f"核验：https://gradflow.example.cn/verify/{AGREEMENT_NO}",
    }
    ctx.update(overrides)
    return ctx


def _require_tools() -> None:
    for tool in ("pdftotext", "pdffonts", "pdfinfo"):
        if shutil.which(tool) is None:
            require_service(tool, "install the Debian package poppler-utils")
    try:
        find_cjk_font()
    except FontMissing as exc:
        require_service("CJK font", str(exc))


def _run(tool: str, *args: str) -> str:
    return subprocess.run([tool, *args], check=True, capture_output=True, text=True, timeout=60).stdout


def _text(pdf: Path) -> str:
    return _run("pdftotext", "-layout", "-enc", "UTF-8", str(pdf), "-")


def _face_name() -> str:
    """PostScript name of the CJK font the renderer registered (after a render)."""
    from reportlab.pdfbase import pdfmetrics

    name = pdfmetrics.getFont(documents.FONT_NAME).face.name
    return name.decode() if isinstance(name, bytes) else name


def _flat(text: str) -> str:
    """pdftotext output without whitespace: a sentence wrapped over two lines reads whole."""
    return re.sub(r"\s+", "", text)


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    _require_tools()
    out = tmp_path_factory.mktemp("agreements")
    paths = {}
    for kind in ("two_party", "three_party"):
        paths[kind] = out / f"{kind}.pdf"
        paths[kind].write_bytes(render_agreement_pdf(_ctx(kind)))
    return paths


# rule DOC-1 # rule AGR-1
def test_chinese_text_extracts_as_real_text(rendered):
    text = _text(rendered["three_party"])
    assert "陈诚" in text
    assert "学信咨询服务有限公司" in text
    assert "数据分析师" in text
    assert re.search(rf"(?<!\d){AGREEMENT_NO}(?!\d)", text)
    assert "全国普通高校毕业生就业协议书" not in text
    assert "毕业生、用人单位、学校三方就业协议书" in text
    assert CLAUSE in _flat(text)
    assert "核验：https://gradflow.example.cn/verify/" + AGREEMENT_NO in text
    assert "\ufffd" not in text and "□" not in text  # no replacement glyphs / boxes


# rule DOC-1
def test_all_agreement_fields_are_printed(rendered):
    flat = _flat(_text(rendered["three_party"]))
    ctx = _ctx()
    for section in ("graduate", "employer", "school"):
        for value in ctx[section].values():
            assert _flat(value) in flat, (section, value)
    for key, value in ctx["job"].items():
        if key != "supplement":
            assert _flat(value) in flat, (key, value)
    for label in ("试用期", "3个月", "8000元/月", "10000元/月", "5000元", "统一社会信用代码", "协议补充内容"):
        assert label in flat


# rule DOC-1
def test_cjk_font_is_embedded(rendered):
    fonts = _run("pdffonts", str(rendered["three_party"])).splitlines()[2:]
    face = _face_name()
    cjk = [line for line in fonts if face in line.split()[0]]
    assert cjk, (face, fonts)
    for line in cjk:
        emb = line.split()[-5]  # columns: name type [encoding...] emb sub uni object ID
        assert emb == "yes", line


# rule DOC-1
def test_every_glyph_is_drawn_with_the_cjk_font(rendered):
    from pypdf import PdfReader

    used: set[str] = set()

    def visit(text, cm, tm, font_dict, font_size):
        if text.strip() and font_dict is not None:
            used.add(str(font_dict.get("/BaseFont")))

    for page in PdfReader(str(rendered["three_party"])).pages:
        page.extract_text(visitor_text=visit)
    face = _face_name()
    assert used
    # Subset prefix "ABCDEF+": embedded; no glyph falls back to Helvetica/Times.
    assert all(re.fullmatch(rf"/[A-Z]{{6}}\+{re.escape(face)}(-\d+)?", name) for name in used), (face, used)


# rule DOC-1
def test_page_size_is_a4(rendered):
    for path in rendered.values():
        info = _run("pdfinfo", str(path))
        match = re.search(r"Page size:\s+([\d.]+) x ([\d.]+) pts", info)
        assert match, info
        width, height = float(match.group(1)), float(match.group(2))
        assert abs(width - 595.3) < 1 and abs(height - 841.9) < 1, info


# rule DOC-1 # rule MOD-3
def test_two_party_has_no_third_party(rendered):
    text = _text(rendered["two_party"])
    assert "全国普通高校毕业生就业协议书" in text
    assert "甲方（用人单位）" in text and "乙方（毕业生）" in text
    assert "丙方" not in text
    assert "鉴证" in text  # the school certifies, it is not a party


# rule DOC-1 # rule MOD-3
def test_three_party_has_school_as_third_party(rendered):
    text = _text(rendered["three_party"])
    assert "丙方（学校）" in text
    assert "审核" in text
    assert "甲、乙、丙三方" in text


# rule DOC-1
def test_supplement_is_escaped_and_printed_literally(rendered):
    text = _text(rendered["three_party"])
    assert "甲方提供员工宿舍。" in text
    assert "<script>alert('x')</script> & 餐补 <b>不加粗</b>" in text
    assert "&amp;" not in text and "&lt;" not in text


# rule DOC-1
def test_thousand_character_supplement_renders_over_pages(tmp_path):
    _require_tools()
    unit = "第一条补充：甲方为乙方缴纳五险一金，提供住宿<宿舍>&餐补。\n"
    supplement = (unit * 40)[:1000]
    assert len(supplement) == 1000
    ctx = _ctx()
    ctx["job"] = {**ctx["job"], "supplement": supplement}
    path = tmp_path / "long.pdf"
    path.write_bytes(render_agreement_pdf(ctx))
    text = _text(path)
    flat = _flat(text)
    assert flat.count(_flat(unit)) == supplement.count("\n")  # every whole line is there, none shrunk away
    assert CLAUSE in flat and AGREEMENT_NO in text
    pages = int(re.search(r"Pages:\s+(\d+)", _run("pdfinfo", str(path))).group(1))
    assert pages >= 2


# rule DOC-1 # rule AGR-1
def test_unsigned_agreement_prints_placeholder_number_and_blank_fields(tmp_path):
    _require_tools()
    ctx = {"agreement_type": "two_party", "agreement_no": "", "graduate": {"name": "王小明"},
           "employer": {"name": "某某科技有限公司"}, "school": {}, "job": {"position": "工程师"},
           "signed_at": "", "verify_line": ""}
    path = tmp_path / "draft.pdf"
    path.write_bytes(render_agreement_pdf(ctx))
    text = _text(path)
    assert "协议编号：（签约审核通过后生成）" in text
    assert "王小明" in text and "某某科技有限公司" in text and "工程师" in text
    assert not re.search(r"\d{19}", text)


# rule AGR-1
def test_agreement_number_must_be_19_digits():
    with pytest.raises(ValueError):
        render_agreement_pdf(_ctx(agreement_no="12345"))
    with pytest.raises(ValueError):
        render_agreement_pdf(_ctx(agreement_type="four_party"))


# rule DOC-1
def test_font_missing_names_the_debian_package(monkeypatch, tmp_path):
    monkeypatch.setenv(documents.FONT_ENV, str(tmp_path / "nope.ttc"))
    with pytest.raises(FontMissing) as excinfo:
        find_cjk_font()
    message = str(excinfo.value)
    assert FONT_PACKAGE in message and "apt-get install" in message and "中文" in message
    monkeypatch.setattr(documents, "KNOWN_FONTS", (("/nonexistent/font.ttc", 0, FONT_PACKAGE),))
    monkeypatch.delenv(documents.FONT_ENV)
    with pytest.raises(FontMissing, match=FONT_PACKAGE):
        render_agreement_pdf(_ctx())


# rule DOC-1
def test_cff_font_is_refused(monkeypatch):
    cff = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")
    if not cff.is_file():
        pytest.skip("fonts-noto-cjk not installed: no CFF font to refuse")
    monkeypatch.setenv(documents.FONT_ENV, str(cff))
    with pytest.raises(FontMissing, match="TrueType"):
        find_cjk_font()


# rule DOC-1
def test_template_version_is_a_stable_sha256():
    _require_tools()
    version = template_version()
    assert re.fullmatch(r"[0-9a-f]{64}", version)
    assert template_version() == version


# rule DOC-1
def test_the_agreement_qr_code_reads_back_as_its_verification_link(tmp_path):
    # the QR code is an embedded PNG (segno), as on the verification report; a phone reads the link from it
    _require_tools()
    try:
        from pyzbar.pyzbar import decode
    except ImportError as exc:  # the Debian library libzbar0 is missing
        require_service("zbar", f"pyzbar cannot load libzbar ({exc}); apt-get install libzbar0")
    from PIL import Image

    ctx = _ctx()
    data = render_agreement_pdf(ctx)
    subprocess.run(["pdftoppm", "-r", "150", "-png", "-", str(tmp_path / "page")], input=data, check=True,
                   capture_output=True)
    found = []
    for page in sorted(tmp_path.glob("page*.png")):
        with Image.open(page) as image:
            found += [d.data.decode() for d in decode(image) if d.type == "QRCODE"]
    assert found == [f"https://gradflow.example.cn/verify/{AGREEMENT_NO}"]
    draft = render_agreement_pdf({**ctx, "verify_line": ""})  # before approval: no link, no code
    assert b"/Subtype /Image" not in draft and b"/Subtype /Image" in data
