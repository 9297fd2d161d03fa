"""Spreadsheet cells read as a person typed them."""
import pytest

from connectors.cells import normalise_phone


@pytest.mark.parametrize("typed, number", [
    (1132224444, "01132224444"),          # a number cell: Excel dropped the zero
    ("113 246 6080", "0113 246 6080"),    # text with spaces, zero dropped on the way in
    ("113-633-0033", "0113-633-0033"),
    ("7571 231097", "07571 231097"),      # a mobile
])
def test_a_uk_number_that_lost_its_leading_zero_gets_it_back(typed, number):
    assert normalise_phone(typed) == number


@pytest.mark.parametrize("typed", ["0113 246 6080", "+44 113 246 6080", "(0113) 207 1232", "113 246 608",
                                   "1132 246 60801", "call 113 246 6080", "0800 123 4567"])
def test_anything_else_is_left_as_typed(typed):
    assert normalise_phone(typed) == typed
