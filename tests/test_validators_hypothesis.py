"""Property tests of the DICT-3 validators (forms/validators.py) with hypothesis (issue 12, must hold 2).

Each property runs on a small, derandomized example budget so the file stays within a few seconds.
"""
from __future__ import annotations

import datetime
import string

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from stdnum.cn import ric, uscc
from werkzeug.datastructures import MultiDict
from wtforms import Form, StringField
from wtforms.validators import Optional

from forms import validators as v
from processes.transfers.forms import MAX_NOTE, note_field

pytestmark = pytest.mark.one_backend

FAST = settings(max_examples=60, derandomize=True, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow])

PROVINCES = sorted(v._PROVINCE_PREFIXES)
USCC_ALPHABET = v._USCC_ALPHABET
TODAY = datetime.date.today()


# --- strategies ----------------------------------------------------------------

@st.composite
def id_numbers(draw) -> str:
    """A valid 身份证号 built as domain/seed.py id_number does: area, birth date, sequence, GB 11643 check digit."""
    area = draw(st.sampled_from(PROVINCES)) + draw(st.text("0123456789", min_size=4, max_size=4))
    born = draw(st.dates(min_value=datetime.date(1900, 1, 1), max_value=TODAY))
    body = f"{area}{born:%Y%m%d}{draw(st.integers(0, 999)):03d}"
    return body + ric.calc_check_digit(body + "0")


@st.composite
def credit_codes(draw) -> str:
    """A valid 统一社会信用代码: 2 code chars, 6-digit division code, 9-char subject id, GB 32100 check char."""
    head = draw(st.text(USCC_ALPHABET, min_size=2, max_size=2))
    division = draw(st.text("0123456789", min_size=6, max_size=6))
    subject = draw(st.text(USCC_ALPHABET, min_size=9, max_size=9))
    body = head + division + subject
    return body + uscc.calc_check_digit(body)


mobiles = st.builds(lambda second, rest: "1" + second + rest, st.sampled_from("3456789"),
                    st.text("0123456789", min_size=9, max_size=9))
postcodes = st.text("0123456789", min_size=6, max_size=6)
# any text, including full-width digits, control characters and surrogates-free Unicode
anything = st.text(max_size=40) | st.text("0123456789Xx １２３４５６７８９０²-\n", max_size=20)


class _F(Form):
    idno = StringField(validators=[Optional(), v.IdNumber()])
    credit = StringField(validators=[Optional(), v.CreditCode()])
    mobile = StringField(validators=[Optional(), v.Mobile()])
    phone = StringField(validators=[Optional(), v.Phone()])
    postcode = StringField(validators=[Optional(), v.Postcode()])
    ym = StringField(validators=[Optional(), v.YearMonth()])
    note = note_field()


def _field_errors(name: str, value: str) -> list[str]:
    form = _F(formdata=MultiDict({name: value}))
    form.validate()
    return [str(e) for e in form.errors.get(name, [])]


# --- 身份证号 ------------------------------------------------------------------

# rule DICT-3
@FAST
@given(id_numbers())
def test_every_generated_id_number_is_accepted(number):
    assert v.id_number_error(number) is None
    assert v.is_valid_id_number(number.lower())  # a lower-case x check digit is the same number
    assert _field_errors("idno", number) == []


# rule DICT-3
@FAST
@given(id_numbers(), st.integers(0, 16), st.integers(1, 9))
def test_any_single_digit_change_of_an_id_number_is_refused(number, pos, delta):
    changed = number[:pos] + str((int(number[pos]) + delta) % 10) + number[pos + 1:]
    # GB 11643 (ISO 7064 MOD 11-2) catches every single-digit error, whatever else the digit changed
    assert not v.is_valid_id_number(changed), changed
    assert _field_errors("idno", changed)


# rule DICT-3
@FAST
@given(id_numbers(), st.sampled_from("0123456789X"))
def test_a_wrong_check_digit_is_refused(number, check):
    if check == number[-1]:
        return
    assert v.id_number_error(number[:-1] + check) == "身份证号校验位不正确"


# rule DICT-3
@FAST
@given(id_numbers(), st.integers(0, 15))
def test_a_swap_of_two_neighbouring_digits_is_refused(number, pos):
    if number[pos] == number[pos + 1]:
        return
    swapped = number[:pos] + number[pos + 1] + number[pos] + number[pos + 2:]
    assert not v.is_valid_id_number(swapped), swapped


# rule DICT-3
@FAST
@given(id_numbers(), st.integers(1, 17))
def test_a_shorter_or_longer_id_number_is_refused_for_its_length(number, cut):
    assert v.id_number_error(number[:-cut]) == "身份证号应为18位"
    assert v.id_number_error(number + number[:cut]) == "身份证号应为18位"


# rule DICT-3
@FAST
@given(st.dates(min_value=TODAY + datetime.timedelta(days=1), max_value=datetime.date(2999, 12, 31)),
       st.sampled_from(PROVINCES))
def test_a_birth_date_in_the_future_is_refused(born, province):
    body = f"{province}0203{born:%Y%m%d}001"
    assert v.id_number_error(body + ric.calc_check_digit(body + "0")) == "身份证号中的出生日期不正确"


# --- 统一社会信用代码 -----------------------------------------------------------

# rule DICT-3
@FAST
@given(credit_codes())
def test_every_generated_credit_code_is_accepted(code):
    assert v.credit_code_error(code) is None
    assert v.is_valid_credit_code(code.lower())
    assert _field_errors("credit", code) == []


# rule DICT-3
@FAST
@given(credit_codes(), st.integers(0, 16), st.integers(1, len(USCC_ALPHABET) - 1))
def test_any_single_character_change_of_a_credit_code_is_refused(code, pos, delta):
    alphabet = "0123456789" if 2 <= pos < 8 else USCC_ALPHABET
    old = alphabet.index(code[pos])
    new = alphabet[(old + delta) % len(alphabet)]
    if new == code[pos]:
        return
    # GB 32100's MOD 31 check catches every single-character substitution
    assert not v.is_valid_credit_code(code[:pos] + new + code[pos + 1:])


# rule DICT-3
@FAST
@given(credit_codes(), st.sampled_from("IOSVZ"), st.integers(0, 17))
def test_letters_outside_the_code_alphabet_are_refused(code, letter, pos):
    assert not v.is_valid_credit_code(code[:pos] + letter + code[pos + 1:])


# --- 手机号码, 联系电话, 邮编, 年月 ---------------------------------------------

# rule DICT-3
@FAST
@given(mobiles)
def test_mobile_numbers(number):
    assert v.is_valid_mobile(number) and v.phone_error(number) is None
    assert v.is_valid_mobile(f"  {number} ")  # surrounding blanks are not part of the number
    assert not v.is_valid_mobile(number[:-1]) and not v.is_valid_mobile(number + "0")
    assert not v.is_valid_mobile("1" + "012"[int(number[2]) % 3] + number[2:])  # 10…, 11…, 12… are not mobile
    full_width = number[:2] + number[2:].translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    assert not v.is_valid_mobile(full_width) and v.phone_error(full_width)


# rule ARC-2
@FAST
@given(postcodes, st.integers(1, 5))
def test_postcodes_are_six_ascii_digits(code, cut):
    assert v.is_valid_postcode(code) and _field_errors("postcode", code) == []
    assert not v.is_valid_postcode(code[:cut]) and not v.is_valid_postcode(code + code[:cut])
    assert not v.is_valid_postcode(code.translate(str.maketrans("0123456789", "０１２３４５６７８９")))


# rule DICT-3
@FAST
@given(st.integers(1950, 2100), st.integers(1, 12))
def test_year_months_in_range_are_accepted(year, month):
    assert v.is_valid_year_month(f"{year:04d}{month:02d}")


# rule DICT-3
@FAST
@given(st.integers(0, 9999), st.integers(0, 99))
def test_year_months_out_of_range_are_refused(year, month):
    if 1950 <= year <= 2100 and 1 <= month <= 12:
        return
    assert v.year_month_error(f"{year:04d}{month:02d}") is not None


# --- any text: a validation message or nothing, never another exception ------------------------------

CHECKS = [v.id_number_error, v.credit_code_error, v.mobile_error, v.phone_error, v.postcode_error,
          v.year_month_error]


# rule DICT-3
@FAST
@given(anything)
def test_any_text_gets_a_message_or_passes_and_never_raises(text):
    for check in CHECKS:
        out = check(text)
        assert out is None or (isinstance(out, str) and out), (check.__name__, text)
        if out is None:  # whatever passes is made of ASCII digits (and the alphabet of the code)
            assert set(text.strip().upper()) <= set(string.digits + USCC_ALPHABET + "X-"), (check.__name__, text)
    for name in ("idno", "credit", "mobile", "phone", "postcode", "ym", "note"):
        # Form.validate() turns a ValidationError into a message; any other exception escapes and fails here
        _F(formdata=MultiDict({name: text})).validate()


# rule DICT-3
@FAST
@given(st.one_of(
    st.tuples(st.just(v.id_number_error), id_numbers()),
    st.tuples(st.just(v.credit_code_error), credit_codes()),
    st.tuples(st.just(v.mobile_error), mobiles),
    st.tuples(st.just(v.phone_error), mobiles | st.just("010-68352260")),
    st.tuples(st.just(v.postcode_error), postcodes),
    st.tuples(st.just(v.year_month_error), st.just("202306")),
), st.data())
def test_a_non_ascii_digit_anywhere_is_refused_not_raised(check_and_value, data):
    check, value = check_and_value
    assert check(value) is None
    positions = [i for i, c in enumerate(value) if c.isdigit()]
    pos = data.draw(st.sampled_from(positions))
    # full-width "１", Arabic-Indic "١", superscript "²"…: str.isdigit() and a Unicode \d accept them
    other = data.draw(st.characters(categories=("Nd", "No")).filter(lambda c: c not in string.digits))
    changed = value[:pos] + other + value[pos + 1:]
    assert check(changed), (check.__name__, changed)


# --- lengths at the boundary -------------------------------------------------------------------

# rule ARC-2
@FAST
@given(st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=MAX_NOTE))
def test_note_of_at_most_200_characters_is_accepted(text):
    assert MAX_NOTE == 200  # ARC-2 情况说明 ≤200 chars
    assert _field_errors("note", text) == []


# rule ARC-2
@FAST
@given(st.text("情况说明abc ", min_size=MAX_NOTE + 1, max_size=MAX_NOTE + 50))
def test_note_over_200_characters_is_refused_with_its_length(text):
    errors = _field_errors("note", text)
    assert errors == [f"最多{MAX_NOTE}字（当前{len(text)}字）"]


# rule ARC-2
def test_note_at_exactly_the_boundary():
    assert _field_errors("note", "说" * MAX_NOTE) == []
    assert _field_errors("note", "说" * (MAX_NOTE + 1)) == [f"最多{MAX_NOTE}字（当前{MAX_NOTE + 1}字）"]
