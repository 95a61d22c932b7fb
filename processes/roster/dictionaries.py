"""The code lists of a graduate's basic information (GRAD-1), with their national standards' codes.

A cell may hold the code or the name; the name is stored (as the guides show it: 本科, 壮族, 九三学社社员).
生源所在地 uses the GB/T 2260 divisions of domain.dicts (DICT-2).
"""
from __future__ import annotations

from functools import cache

from domain import dicts

# 学历 (GB/T 4658 学历代码, the levels a graduate leaves with)
EDUCATION = [("11", "博士研究生"), ("14", "硕士研究生"), ("21", "本科"), ("31", "专科")]
# 性别 (GB/T 2261.1)
GENDER = [("1", "男"), ("2", "女")]
# 民族 (GB/T 3304)
ETHNICITY = [(f"{i + 1:02d}", name) for i, name in enumerate((
    "汉族 蒙古族 回族 藏族 维吾尔族 苗族 彝族 壮族 布依族 朝鲜族 满族 侗族 瑶族 白族 土家族 哈尼族 哈萨克族 傣族 黎族 "
    "傈僳族 佤族 畲族 高山族 拉祜族 水族 东乡族 纳西族 景颇族 柯尔克孜族 土族 达斡尔族 仫佬族 羌族 布朗族 撒拉族 毛南族 "
    "仡佬族 锡伯族 阿昌族 普米族 塔吉克族 怒族 乌孜别克族 俄罗斯族 鄂温克族 德昂族 保安族 裕固族 京族 塔塔尔族 独龙族 "
    "鄂伦春族 赫哲族 门巴族 珞巴族 基诺族").split())] + [("97", "其他"), ("98", "外国血统中国籍人士")]
# 政治面貌 (GB/T 4762)
POLITICAL_STATUS = [("01", "中共党员"), ("02", "中共预备党员"), ("03", "共青团员"), ("04", "民革党员"), ("05", "民盟盟员"),
                    ("06", "民建会员"), ("07", "民进会员"), ("08", "农工党党员"), ("09", "致公党党员"),
                    ("10", "九三学社社员"), ("11", "台盟盟员"), ("12", "无党派人士"), ("13", "群众")]
# 培养方式 (GRAD-6: 定向 and 委培 graduates carry the unit the school uploads)
TRAINING_MODE = [("1", "非定向"), ("2", "定向"), ("3", "委培")]
YES_NO = [("1", "是"), ("0", "否")]

LISTS = {"education": EDUCATION, "gender": GENDER, "ethnicity": ETHNICITY, "political_status": POLITICAL_STATUS,
         "training_mode": TRAINING_MODE}


@cache
def _index(key: str) -> dict[str, str]:
    """code or name -> name."""
    items = LISTS[key]
    return {**{code: name for code, name in items}, **{name: name for _code, name in items}}


def lookup(key: str, value: str) -> str | None:
    """The stored name for a code or a name of list `key`; None when it is not in the list."""
    return _index(key).get(value.strip())


def names(key: str) -> list[str]:
    return [name for _code, name in LISTS[key]]


@cache
def _divisions() -> tuple[dict[str, str], dict[str, str]]:
    """code -> full name, full name -> code, over every province, city and district (GB/T 2260)."""
    by_code: dict[str, str] = {}

    def walk(code: str, prefix: str) -> None:
        for child in dicts.children(code):
            full = prefix + child["name"]
            by_code[child["code"]] = full
            walk(child["code"], full)

    for province in dicts.provinces():
        by_code[province["code"]] = province["name"]
        walk(province["code"], province["name"])
    return by_code, {name: code for code, name in by_code.items()}


def division(value: str) -> tuple[str, str] | None:
    """生源所在地 as (code, full name) from a 6-digit code or a full name (福建省厦门市思明区); None if unknown."""
    value = value.strip().replace(" ", "")
    by_code, by_name = _divisions()
    if value in by_code:
        return value, by_code[value]
    if value in by_name:
        return by_name[value], value
    return None
