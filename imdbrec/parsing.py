"""Numbers and lists of choices from the outside world.

Numbers: ASCII digits only, through one helper.

Python's ``str.isdigit()`` is true for "²", "①" and "¹⁰", which ``int()`` then refuses (a
ValueError, so an HTTP 500 where it was not caught), and ``int()`` itself takes "８" (fullwidth)
and "٨" (Arabic-Indic) as 8, "1_000" as 1000 and " 7 " as 7. A number typed by a person or read
from an uploaded file, a query parameter or an HTTP header is parsed here instead: a run of the
ASCII digits 0-9, nothing else, or no number at all.
"""

from __future__ import annotations

import re

from django import forms

_ASCII_DIGITS = re.compile(r"[0-9]+")
# More digits than any number the site takes (a year, a page, a count of votes, a file length):
# refusing them early keeps int() off hostile 100,000-digit strings.
MAX_DIGITS = 18


def ascii_int(text: str | bytes | None, *, max_digits: int = MAX_DIGITS) -> int | None:
    """``text`` as a non-negative int if it is only ASCII digits (at most ``max_digits``), else None."""
    if isinstance(text, bytes):
        text = text.decode("ascii", "replace")
    if not isinstance(text, str) or len(text) > max_digits or not _ASCII_DIGITS.fullmatch(text):
        return None
    return int(text)


class AsciiIntegerField(forms.IntegerField):
    """``forms.IntegerField`` that takes ASCII digits only (an optional leading minus where the
    field allows negative numbers); anything else is the usual "Enter a whole number." error."""

    def to_python(self, value):
        if value in self.empty_values:
            return None
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        text = str(value).strip()
        negative = text.startswith("-") and (self.min_value is None or self.min_value < 0)
        number = ascii_int(text[1:] if negative else text)
        if number is None:
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
        return -number if negative else number


_ASCII_DECIMAL = re.compile(r"-?[0-9]{1,18}(\.[0-9]{1,18})?([eE][-+]?[0-9]{1,3})?")


class AsciiFloatField(forms.FloatField):
    """``forms.FloatField`` that takes an ASCII decimal only ("0.05", "1e-3"): ``float()`` alone
    also takes "８.5", "٠.٥", "1_0" and "inf"."""

    def to_python(self, value):
        if value in self.empty_values:
            return None
        if isinstance(value, int | float) and not isinstance(value, bool):
            return super().to_python(value)
        if not _ASCII_DECIMAL.fullmatch(str(value).strip()):
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
        return super().to_python(value)


def page_number(text: str | None) -> int:
    """The ``?page=`` of a paginated list: ASCII digits, else the first page."""
    return ascii_int(text, max_digits=9) or 1


class DistinctMultipleChoiceField(forms.MultipleChoiceField):
    """``forms.MultipleChoiceField`` whose value is a list without repeats, in the order given.

    A hostile form posts one choice 900 times; each copy is a valid choice, so Django's field
    keeps them all. Repeats are dropped, and a list longer than the choices themselves is
    refused before any value is looked at.
    """

    def to_python(self, value):
        values = super().to_python(value)
        if len(values) > len(self.choices):
            raise forms.ValidationError("Too many values: at most one of each choice.", code="too_many")
        return list(dict.fromkeys(values))
