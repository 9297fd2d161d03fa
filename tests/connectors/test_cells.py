"""Spreadsheet cells read as a person typed them."""
import datetime as dt

import pytest

from connectors.cells import coerce_timestamp, normalise_phone, split_age_range


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


@pytest.mark.parametrize("typed, ages", [
    ("18+", (18, None)), ("0-4", (0, 4)), ("11-18", (11, 18)), ("5 to 11", (5, 11)), ("11-18 years", (11, 18)),
    ("Ages 5–11", (5, 11)), ("Aged 60+", (60, None)), ("50 and over", (50, None)), ("18+ only", (18, None)),
    ("Under 5s", (None, 4)),     # under 5: up to the fifth birthday, so 4 at most (maximum_age is inclusive)
    ("under-5's", (None, 4)),
    ("Over 50s", (50, None)),    # an over-50s club takes people of 50: read as 50+
    ("5 and under", (None, 5)), ("Adults", (18, None)), ("All ages", (None, None)), ("Everyone", (None, None)),
])
def test_an_age_range_as_councils_write_it(typed, ages):
    assert split_age_range(typed) == ages


@pytest.mark.parametrize("typed", ["16", "", "Toddlers", "Children", "0-18 months", "11-5", "0-200", "Under 0"])
def test_anything_else_is_not_an_age_range(typed):
    """A lone number is an age, not a range; the rest is not guessed at."""
    assert split_age_range(typed) is None


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
