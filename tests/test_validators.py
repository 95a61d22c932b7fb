"""DICT-3 checks: 统一社会信用代码, 身份证号, mobile, postcode, YYYYMM."""

import datetime

import pytest
from stdnum.cn import ric, uscc
from werkzeug.datastructures import MultiDict
from wtforms import Form, StringField
from wtforms.validators import Optional

from forms.validators import (
    CreditCode,
    IdNumber,
    Mobile,
    Postcode,
    YearMonth,
    id_number_error,
    is_valid_credit_code,
    is_valid_id_number,
)


class _F(Form):
    credit = StringField(validators=[Optional(), CreditCode()])
    idno = StringField(validators=[Optional(), IdNumber()])
    mobile = StringField(validators=[Optional(), Mobile()])
    postcode = StringField(validators=[Optional(), Postcode()])
    ym = StringField(validators=[Optional(), YearMonth()])


def _errors(**data):
    form = _F(formdata=MultiDict(data))
    form.validate()
    return {k: v for k, v in form.errors.items()}


def _with_check(body17):
    return body17 + ric.calc_check_digit(body17 + "0")


def _flip(number):
    last = number[-1]
    return number[:-1] + ("0" if last != "0" else "1")


VALID_USCC = ["91110108749352307A", "91110000600037341L"]  # seed 001 example; a real Beijing company


# rule DICT-3
@pytest.mark.parametrize("code", VALID_USCC)
def test_known_credit_codes_pass(code):
    assert uscc.is_valid(code)  # cross-check with stdnum
    assert is_valid_credit_code(code)
    assert is_valid_credit_code(code.lower())
    assert _errors(credit=code) == {}


# rule DICT-3
def test_credit_code_wrong_check_char():
    bad = "91110108749352307B"
    assert not is_valid_credit_code(bad)
    assert _errors(credit=bad) == {"credit": ["统一社会信用代码校验位不正确"]}


# rule DICT-3
def test_credit_code_length_and_format():
    assert _errors(credit="9111010874935230") == {"credit": ["统一社会信用代码应为18位"]}
    assert "格式不正确" in _errors(credit="91110108749352307I")["credit"][0]  # I is not in the alphabet
    assert "格式不正确" in _errors(credit="911A0108749352307A")["credit"][0]  # division code must be digits


# rule DICT-3: GB 32100 allows registration authority N (农村集体经济组织), stdnum's validate does not
def test_credit_code_letter_authority():
    body = "N2110108MA0000001"
    code = body + uscc.calc_check_digit(body + "0")
    assert is_valid_credit_code(code)
    assert not is_valid_credit_code(body + ("0" if code[-1] != "0" else "1"))


# rule DICT-3
def test_id_number_generated_valid_and_flipped_check_digit():
    good = _with_check("11010819990307123")
    assert ric.is_valid(good)
    assert is_valid_id_number(good)
    assert _errors(idno=good) == {}
    bad = _flip(good)
    assert not is_valid_id_number(bad)
    assert _errors(idno=bad) == {"idno": ["身份证号校验位不正确"]}


# rule DICT-3
def test_id_number_x_check_digit_lowercase_ok():
    # find a body whose check digit is X
    for seq in range(100, 1000):
        body = f"32010220000101{seq:03d}"
        if ric.calc_check_digit(body + "0") == "X":
            break
    assert is_valid_id_number(body + "X") and is_valid_id_number(body + "x")


# rule DICT-3
def test_id_number_other_errors():
    assert _errors(idno="11010819990307")["idno"] == ["身份证号应为18位"]
    assert "格式不正确" in _errors(idno="1101081999030712AX")["idno"][0]
    assert id_number_error(_with_check("11010819990230123")) == "身份证号中的出生日期不正确"  # 30 Feb
    assert id_number_error(_with_check("11010830000101123")) == "身份证号中的出生日期不正确"  # future
    assert id_number_error(_with_check("99010819990307123")) == "身份证号地区码不正确"
    assert id_number_error(_with_check("11010820000101123"), today=datetime.date(1999, 1, 1)) is not None


# rule DICT-3
def test_mobile():
    assert _errors(mobile="13111111111") == {}
    assert _errors(mobile="19912345678") == {}
    for bad in ("12111111111", "1311111111", "131111111112", "1311111111a", "010-11111111"):
        assert _errors(mobile=bad) == {"mobile": ["手机号码应为以13至19开头的11位数字"]}, bad


# rule DICT-3
def test_postcode():
    assert _errors(postcode="100056") == {}
    for bad in ("10005", "1000567", "10005a"):
        assert _errors(postcode=bad) == {"postcode": ["邮政编码应为6位数字"]}


# rule DICT-3
def test_year_month():
    assert _errors(ym="202306") == {}
    assert _errors(ym="202313") == {"ym": ["月份应在01至12之间"]}
    assert _errors(ym="202300") == {"ym": ["月份应在01至12之间"]}
    assert _errors(ym="2023-06") == {"ym": ["请按YYYYMM格式填写年月，如202306"]}
    assert _errors(ym="180001") == {"ym": ["年份应在1950至2100之间"]}
    assert YearMonth(min_year=2000, max_year=2030)  # configurable


# rule DICT-3: empty values are left to DataRequired/Optional; message can be overridden
def test_empty_skipped_and_custom_message():
    assert _errors(credit="", idno="", mobile="", postcode="", ym="") == {}

    class G(Form):
        m = StringField(validators=[Mobile(message="自定义")])

    form = G(formdata=MultiDict({"m": "123"}))
    assert not form.validate() and form.errors == {"m": ["自定义"]}


def test_seeded_id_numbers_are_valid_and_distinct():
    # rule DICT-3
    from domain.seed import id_number

    numbers = [id_number(seq=i) for i in range(0, 5000, 13)]
    assert len(set(numbers)) == len(numbers)
    assert all(is_valid_id_number(n) for n in numbers)
