"""WTForms validators for the checks of SPEC §8 DICT-3.

Each validator leaves an empty value alone (pair it with ``DataRequired`` or
``Optional``) and raises :class:`wtforms.validators.ValidationError` with a
Simplified Chinese message. The same checks are available without a form:
``*_error(value)`` returns the message or ``None``; ``is_valid_*`` a bool.
"""

from __future__ import annotations

import datetime
import re

from flask_babel import gettext as _
from stdnum.cn import ric, uscc
from wtforms.validators import ValidationError

# --- 统一社会信用代码 (GB 32100-2015) ---------------------------------------

_USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"  # GB 32100 code alphabet: no I, O, S, V, Z
_USCC_RE = re.compile(
    rf"^[{_USCC_ALPHABET}]{{2}}\d{{6}}[{_USCC_ALPHABET}]{{10}}$", re.ASCII
)


def credit_code_error(value: str) -> str | None:
    """Why ``value`` is not a valid 统一社会信用代码, or None if it is.

    Structure per GB 32100: 登记管理部门码 + 机构类别码 (2 chars of the code
    alphabet), 6-digit 登记管理机关行政区划码, 9-char 主体标识码, check char.
    The check character is computed by python-stdnum (``stdnum.cn.uscc``).
    stdnum's own ``validate`` is not used for the format because it wants the
    first 8 chars to be digits and so refuses codes of 登记管理部门 A, N and Y
    (e.g. 农村集体经济组织, 登记管理部门码 N).
    """
    number = uscc.compact(value or "")
    if len(number) != 18:
        return _("统一社会信用代码应为18位")
    if not _USCC_RE.match(number):
        return _("统一社会信用代码格式不正确（只能含数字和除I、O、S、V、Z外的大写字母，第3至8位为行政区划码）")
    if number[-1] != uscc.calc_check_digit(number):
        return _("统一社会信用代码校验位不正确")
    return None


def is_valid_credit_code(value: str) -> bool:
    return credit_code_error(value) is None


# --- 公民身份号码 (GB 11643-1999) -------------------------------------------

# First two digits: provincial-level codes of GB/T 2260, plus 81/82/83 used by the
# residence permits of Hong Kong, Macao and Taiwan residents (港澳台居民居住证).
_PROVINCE_PREFIXES = frozenset(
    "11 12 13 14 15 21 22 23 31 32 33 34 35 36 37 41 42 43 44 45 46 "
    "50 51 52 53 54 61 62 63 64 65 71 81 82 83".split()
)


def id_number_error(value: str, today: datetime.date | None = None) -> str | None:
    """Why ``value`` is not a valid 18-digit 身份证号, or None if it is.

    Checks length, format, the GB 11643 check digit (``stdnum.cn.ric``), the
    birth date (a real date, 1900 or later, not in the future) and the province
    prefix. The full county code is not looked up: stdnum's table of historic
    county codes may lag renamed or new counties, and refusing a real
    graduate's number would lock them out.
    """
    number = ric.compact(value or "")
    if len(number) != 18:
        return _("身份证号应为18位")
    # ASCII digits only: str.isdigit() is also true for "１" or "²", which stdnum then cannot read
    if not re.fullmatch(r"[0-9]{17}[0-9X]", number):
        return _("身份证号格式不正确（前17位应为数字，末位为数字或X）")
    if number[-1] != ric.calc_check_digit(number):
        return _("身份证号校验位不正确")
    if number[:2] not in _PROVINCE_PREFIXES:
        return _("身份证号地区码不正确")
    try:
        born = ric.get_birth_date(number)
    except Exception:  # stdnum raises InvalidComponent for an impossible date
        return _("身份证号中的出生日期不正确")
    if born.year < 1900 or born > (today or datetime.date.today()):
        return _("身份证号中的出生日期不正确")
    return None


def is_valid_id_number(value: str) -> bool:
    return id_number_error(value) is None


# --- 手机号码, 邮编, 年月 -----------------------------------------------------

# re.ASCII: \d would otherwise accept full-width and other Unicode digits ("１２３４５６")
_MOBILE_RE = re.compile(r"^1[3-9]\d{9}$", re.ASCII)
_POSTCODE_RE = re.compile(r"^\d{6}$", re.ASCII)
_YEAR_MONTH_RE = re.compile(r"^(\d{4})(\d{2})$", re.ASCII)


def mobile_error(value: str) -> str | None:
    if not _MOBILE_RE.match((value or "").strip()):
        return _("手机号码应为以13至19开头的11位数字")
    return None


def is_valid_mobile(value: str) -> bool:
    return mobile_error(value) is None


def postcode_error(value: str) -> str | None:
    if not _POSTCODE_RE.match((value or "").strip()):
        return _("邮政编码应为6位数字")
    return None


_PHONE_RE = re.compile(r"^(1[3-9]\d{9}|0\d{2,3}-?\d{7,8}(-\d{1,6})?|\d{7,8})$", re.ASCII)


def phone_error(value: str) -> str | None:
    """A contact phone: a mobile number, or a landline with or without its area code (010-68352260)."""
    if not _PHONE_RE.match((value or "").strip()):
        return _("联系电话应为11位手机号码或固定电话（如010-68352260）")
    return None


def is_valid_postcode(value: str) -> bool:
    return postcode_error(value) is None


def year_month_error(value: str, min_year: int = 1950, max_year: int = 2100) -> str | None:
    m = _YEAR_MONTH_RE.match(str(value or "").strip())
    if not m:
        return _("请按YYYYMM格式填写年月，如202306")
    year, month = int(m.group(1)), int(m.group(2))
    if not 1 <= month <= 12:
        return _("月份应在01至12之间")
    if not min_year <= year <= max_year:
        return _("年份应在%(min_year)s至%(max_year)s之间", min_year=min_year, max_year=max_year)
    return None


def is_valid_year_month(value: str, min_year: int = 1950, max_year: int = 2100) -> bool:
    return year_month_error(value, min_year, max_year) is None


# --- WTForms validators ------------------------------------------------------

def _is_empty(data) -> bool:
    return data is None or (isinstance(data, str) and not data.strip())


class _Check:
    """Base: run ``self._error(value)``; ``message`` overrides the text."""

    def __init__(self, message: str | None = None):
        self.message = message

    def _error(self, value: str) -> str | None:  # pragma: no cover - abstract
        raise NotImplementedError

    def __call__(self, form, field) -> None:
        if _is_empty(field.data):
            return
        error = self._error(str(field.data))
        if error:
            raise ValidationError(self.message or error)


class CreditCode(_Check):
    """统一社会信用代码 (GB 32100 check character)."""

    def _error(self, value):
        return credit_code_error(value)


class IdNumber(_Check):
    """身份证号 (GB 11643 check digit, birth date, province prefix)."""

    def _error(self, value):
        return id_number_error(value)


class Mobile(_Check):
    """Mainland mobile number: 11 digits starting 13–19."""

    def _error(self, value):
        return mobile_error(value)


class Postcode(_Check):
    """6-digit postcode."""

    def _error(self, value):
        return postcode_error(value)


class Phone(_Check):
    """A contact phone: mobile or landline."""

    def _error(self, value):
        return phone_error(value)


class YearMonth(_Check):
    """YYYYMM with month 01–12 and year within [min_year, max_year]."""

    def __init__(self, min_year: int = 1950, max_year: int = 2100, message: str | None = None):
        super().__init__(message)
        self.min_year = min_year
        self.max_year = max_year

    def _error(self, value):
        return year_month_error(value, self.min_year, self.max_year)
