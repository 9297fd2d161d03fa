"""Spreadsheet cells read as a person typed them."""
import datetime as dt

import pytest

from connectors.cells import coerce_timestamp, normalise_phone


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


@pytest.mark.parametrize("typed, when", [
    ("28/09/2022", dt.datetime(2022, 9, 28)), ("01/02/2023", dt.datetime(2023, 2, 1)),  # day first: 1 February
    ("28/09/2022 14:30", dt.datetime(2022, 9, 28, 14, 30)), ("28/09/22", dt.datetime(2022, 9, 28)),
    ("2022-09-28T10:00:00Z", dt.datetime(2022, 9, 28, 10)),
])
def test_a_uk_date_is_read_day_first(typed, when):
    assert coerce_timestamp(typed, None) == when


@pytest.mark.parametrize("typed", ["09/28/2022", "last week", "28/09/2022 and later"])
def test_a_month_first_date_or_words_are_not_dates(typed):
    with pytest.raises(ValueError):
        coerce_timestamp(typed, None)
