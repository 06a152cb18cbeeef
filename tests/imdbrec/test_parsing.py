"""Numbers from users, files and headers: ASCII digits only, through ``imdbrec.parsing``."""

import pytest
from django import forms

from imdbrec.parsing import AsciiFloatField, AsciiIntegerField, ascii_int, page_number

# str.isdigit() is true for the first three (int() refuses them); int() takes the others as 8.
NOT_ASCII = ["²", "①", "¹⁰", "８", "٨", "७", "1_000", " 7", "+7", "-7", "7.0", "", "0x10", "๘"]


@pytest.mark.parametrize("text", NOT_ASCII)
def test_ascii_int_refuses_anything_but_ascii_digits(text):
    assert ascii_int(text) is None


@pytest.mark.parametrize(("text", "number"), [("0", 0), ("8", 8), ("10", 10), ("2024", 2024), (b"123", 123)])
def test_ascii_int_reads_ascii_digits(text, number):
    assert ascii_int(text) == number


def test_ascii_int_refuses_absurdly_long_numbers_and_non_text():
    assert ascii_int("9" * 19) is None
    assert ascii_int("9" * 5000) is None
    assert ascii_int(None) is None
    assert ascii_int(["8"]) is None  # type: ignore[arg-type]
    assert ascii_int("123", max_digits=2) is None


@pytest.mark.parametrize(("text", "number"), [("3", 3), ("٣", 1), ("²", 1), ("", 1), (None, 1), ("9" * 12, 1)])
def test_page_number(text, number):
    assert page_number(text) == number


class YearForm(forms.Form):
    year = AsciiIntegerField(required=False, min_value=1870, max_value=2100)
    offset = AsciiIntegerField(required=False, min_value=-10, max_value=10)


@pytest.mark.parametrize("text", ["１９９９", "١٩٩٩", "1_999", "¹⁹⁹⁹", "1999.0"])
def test_ascii_integer_field_refuses_other_digits(text):
    form = YearForm({"year": text})
    assert not form.is_valid()
    assert form.errors["year"] == ["Enter a whole number."]


def test_ascii_integer_field_reads_ascii_digits_and_allowed_signs():
    form = YearForm({"year": " 1999 ", "offset": "-3"})
    assert form.is_valid(), form.errors
    assert form.cleaned_data == {"year": 1999, "offset": -3}
    assert not YearForm({"year": "-1999"}).is_valid()  # no minus where negatives are not allowed


@pytest.mark.parametrize("text", ["\uff18.5", "\u0660.\u0665", "1_0", "inf", "nan", "0x10", "1.5.2", " ", "1e9999"])
def test_ascii_float_field_refuses_other_digits_and_words(text):
    with pytest.raises(forms.ValidationError):
        AsciiFloatField().clean(text)


@pytest.mark.parametrize(("text", "number"), [("0.05", 0.05), ("-2", -2.0), ("1e-3", 0.001), (" 7.5 ", 7.5)])
def test_ascii_float_field_reads_ascii_decimals(text, number):
    assert AsciiFloatField().clean(text) == number
