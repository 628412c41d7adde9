import pytest

from shared.numbers import ascii_whole_number


@pytest.mark.parametrize("text, expected", [("42", 42), (" 7 ", 7), ("007", 7), ("0", 0)])
def test_ascii_digits_are_read(text, expected):
    assert ascii_whole_number(text) == expected


@pytest.mark.parametrize("text", ["", " ", "-3", "+3", "4.2", "forty-two", "²", "①", "٤٢", "1 2", "1_000"])
def test_anything_else_is_not_a_number(text):
    assert ascii_whole_number(text) is None


def test_too_many_digits_is_not_a_number():
    assert ascii_whole_number("1234567890", max_digits=9) is None
    assert ascii_whole_number("123456789", max_digits=9) == 123456789
