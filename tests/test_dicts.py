"""Dictionaries of SPEC §8: destination types (DICT-1) and the DICT-2 data files."""

import json
import re

import pytest

from domain import dicts

OTHER_EMPLOYMENT = [
    "签劳动合同就业", "提供公招接收函就业", "其他录用证明就业", "定向/委培毕业去向补充登记", "自由职业",
    "国家基层项目", "地方基层项目", "科研助理管理助理", "应征义务兵", "自主创业", "部队军官或文职人员",
    "医学规培生", "国际组织任职", "出国出境工作",
]
FURTHER_STUDY = ["境内升学", "出国出境深造"]
UNEMPLOYED = ["求职中", "签约中", "拟参加公招考试", "拟创业", "不就业拟升学", "暂不就业", "拟应征入伍", "拟出国出境"]
FORM_FIELDS = {"unit_name", "unit_address", "unit_contact", "unit_phone", "school_name", "major", "country", "note"}


def _names(category):
    return [t["name"] for t in dicts.types_in_category(category)]


# rule DICT-1
def test_categories_and_agreement_category_has_no_types():
    cats = {c["code"]: c for c in dicts.destination_categories()}
    assert [c["name"] for c in dicts.destination_categories()] == ["签就业协议形式就业", "其他形式就业", "升学", "未就业"]
    assert cats["agreement"]["via_agreement"] is True
    assert dicts.types_in_category("agreement") == []
    assert not any(c["via_agreement"] for code, c in cats.items() if code != "agreement")


# rule DICT-1
def test_every_spec_type_present_by_chinese_name_in_its_category_and_order():
    assert _names("other_employment") == OTHER_EMPLOYMENT
    assert _names("further_study") == FURTHER_STUDY
    assert _names("unemployed") == UNEMPLOYED
    assert len(dicts.destination_types()) == 24


# rule DICT-1
def test_type_codes_unique_ascii_and_fields_known():
    codes = [t["code"] for t in dicts.destination_types()]
    assert len(codes) == len(set(codes))
    field_defs = dicts.destination_fields()
    assert set(field_defs) == FORM_FIELDS
    for t in dicts.destination_types():
        assert re.fullmatch(r"[a-z][a-z_]*", t["code"]), t
        assert set(t["fields"]) <= FORM_FIELDS and set(t["optional_fields"]) <= FORM_FIELDS, t
        assert not set(t["fields"]) & set(t["optional_fields"]), t
        assert isinstance(t["proof_required"], bool)
        assert dicts.destination_type(t["code"]) is t


# rule DICT-1 (required fields per type: SPEC DST-1 design)
@pytest.mark.parametrize(
    "code, required, proof",
    [
        ("labor_contract", ["unit_name", "unit_address"], True),
        ("freelance", [], True),
        ("self_employed", ["unit_name", "unit_address"], True),
        ("work_abroad", ["unit_name", "unit_address", "country"], True),
        ("international_org", ["unit_name", "unit_address", "country"], True),
        ("domestic_study", ["school_name", "major"], True),
        ("study_abroad", ["school_name", "major", "country"], True),
        ("job_seeking", [], False),
    ],
)
def test_required_fields(code, required, proof):
    t = dicts.destination_type(code)
    assert t["fields"] == required
    assert t["proof_required"] is proof


# rule DICT-1
def test_unemployed_types_need_nothing_but_allow_a_note():
    for t in dicts.types_in_category("unemployed"):
        assert t["fields"] == [] and t["optional_fields"] == ["note"] and t["proof_required"] is False


# rule DICT-1 (GRAD-6: directed unit supplied by the school)
def test_directed_type():
    t = dicts.destination_type("directed")
    assert t["name"] == "定向/委培毕业去向补充登记"
    assert t["directed_only"] is True
    assert set(t["locked_fields"]) == {"unit_name", "unit_address"}
    assert [x["code"] for x in dicts.destination_types() if x["directed_only"]] == ["directed"]


# rule DICT-1
def test_unknown_type_is_none():
    assert dicts.destination_type("nope") is None
    assert dicts.types_in_category("nope") == []


# rule DICT-2
def test_divisions_beijing_and_hierarchy():
    provs = {p["code"]: p["name"] for p in dicts.provinces()}
    assert provs["110000"] == "北京市"
    assert len(provs) == 34  # 31 mainland + 台湾省, 香港, 澳门
    assert all(re.fullmatch(r"\d{2}0000", c) for c in provs)
    bj = {c["code"]: c["name"] for c in dicts.children("110000")}
    assert bj["110108"] == "海淀区" and len(bj) == 16
    assert dicts.division_name("110108") == "海淀区"
    # province -> city -> district
    assert {"code": "320100", "name": "南京市"} in dicts.children("320000")
    assert {"code": "320102", "name": "玄武区"} in dicts.children("320100")
    assert dicts.division_full_name("320102") == "江苏省南京市玄武区"
    # 省直辖县级行政区划 hang under the province
    assert {"code": "429004", "name": "仙桃市"} in dicts.children("420000")
    assert dicts.children("110108") == []
    assert dicts.division_name("999999") is None and dicts.children("999999") == []


# rule DICT-2
def test_divisions_codes_are_six_digits_and_consistent():
    seen = set()

    def walk(node, parent):
        assert re.fullmatch(r"\d{6}", node["code"]) and node["name"]
        assert node["code"] not in seen
        seen.add(node["code"])
        if parent:
            assert node["code"][:2] == parent[:2]
        for child in node.get("children", ()):
            walk(child, node["code"])

    data = json.loads((dicts.DATA_DIR / "divisions.json").read_text(encoding="utf-8"))
    for p in data["provinces"]:
        walk(p, None)
    assert len(seen) > 3000


# rule DICT-2
def test_code_lists():
    natures = {n["name"] for n in dicts.unit_natures()}
    assert {"机关", "科研设计单位", "高等教育单位", "中初教育单位", "医疗卫生单位", "其他事业单位", "国有企业",
            "三资企业", "其他企业", "部队", "农村建制村", "城镇社区"} <= natures
    inds = dicts.industries()
    assert [i["code"] for i in inds] == list("ABCDEFGHIJKLMNOPQRST")
    assert dicts.name_of(inds, "I") == "信息传输、软件和信息技术服务业"
    assert dicts.name_of(dicts.job_categories(), "11") == "科学研究人员"
    assert len(dicts.termination_reasons()) >= 5
    for lst in (dicts.unit_natures(), inds, dicts.job_categories(), dicts.termination_reasons()):
        codes = [x["code"] for x in lst]
        assert len(codes) == len(set(codes)) and all(x["name"] for x in lst)


# rule DICT-2
def test_loaded_once():
    assert dicts.destination_types() is dicts.destination_types()
    assert dicts.unit_natures() is dicts.unit_natures()
