"""Cells of a spreadsheet or database row read as ORUK values: times, dates and timestamps in the
shapes councils type them (Excel serial numbers, "9.30am"), days of the week, phone numbers, and
where in a file a row came from (for the one-line report of a bad cell).
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from connectors.mapping import FieldSpec
from connectors.staging import StagingRows, parse_date, parse_time
from warehouse.model import BYDAY_WEEK, BYDAYS

DAY_CODES = {
    "mo": "MO", "mon": "MO", "monday": "MO", "tu": "TU", "tue": "TU", "tues": "TU", "tuesday": "TU",
    "we": "WE", "wed": "WE", "weds": "WE", "wednesday": "WE", "th": "TH", "thu": "TH", "thur": "TH",
    "thurs": "TH", "thursday": "TH", "fr": "FR", "fri": "FR", "friday": "FR", "sa": "SA", "sat": "SA",
    "saturday": "SA", "su": "SU", "sun": "SU", "sunday": "SU",
}


_EXCEL_EPOCH = dt.datetime(1899, 12, 30)
# A date serial in a General cell, read as text: days since _EXCEL_EPOCH, perhaps with a time fraction.
_EXCEL_SERIAL = re.compile(r"\d{5}(\.\d+)?")


# -- normalising one row -------------------------------------------------------------------------
def describe_place(fetched_from: str) -> tuple[str, int | None]:
    """'file.xlsx, sheet 'S'' and the row number, from fetched_from 'PATH!SHEET:ROW'."""
    loc, _, row = fetched_from.rpartition(":")
    if not row.isdigit():
        return fetched_from, None
    if "!" in loc:
        file, _, sheet = loc.rpartition("!")
        return f"{_basename(file)}, sheet '{sheet}'", int(row)
    if "#" in loc:
        db, _, table = loc.rpartition("#")
        return f"{db} {table}", int(row)
    return _basename(loc), int(row)


def _basename(p: str) -> str:
    return p.rstrip("/").rsplit("/", 1)[-1] or p


class RowProblems:
    """Issues found in one row, each worded with the file, sheet, row and column."""

    def __init__(self, rows: StagingRows, record_id: str, fetched_from: str):
        self.rows = rows
        self.record_id = record_id
        self.place, self.row_number = describe_place(fetched_from)
        self.said: set[str] = set()

    def prefix(self, column: str | None = None) -> str:
        row = f", row {self.row_number}" if self.row_number is not None else ""
        col = f", column '{column}'" if column else ""
        return f"{self.place}{row}{col}"

    def cell(self, spec: FieldSpec, column: str | None, rule: str, what: str, severity: str = "warning") -> None:
        message = f"{self.prefix(column)}: {what}"
        if message in self.said:  # one cell read for two fields (an age range for both ages): said once
            return
        self.said.add(message)
        self.rows.issue(self.record_id, spec.table, spec.column, rule, message, severity)

    def row(self, table: str | None, fieldname: str | None, rule: str, what: str, severity: str = "blocking") -> None:
        self.rows.issue(self.record_id, table, fieldname, rule, f"{self.prefix()}: {what}", severity)


def is_blank(v: Any) -> bool:
    return v is None or (isinstance(v, str) and not v.strip())


def as_text(v: Any) -> str:
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    if isinstance(v, (dt.datetime, dt.date, dt.time)):
        return v.isoformat()
    return str(v).strip()


def _from_excel_serial(v: float) -> dt.datetime:
    if not 1 <= v < 2958466:
        raise ValueError("out of Excel's date range")
    return _EXCEL_EPOCH + dt.timedelta(days=float(v))


_TIME_LOOSE = re.compile(r"^(\d{1,2})(?:[:.](\d{2}))?\s*(am|pm)$", re.I)


def coerce_time(v: Any, fmt: str | None) -> dt.time:
    if isinstance(v, dt.time):
        return v
    if isinstance(v, dt.datetime):
        return v.time()
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        if 0 <= v < 1:  # Excel stores a time as a fraction of a day
            secs = round(v * 86400)
            return dt.time(secs // 3600, (secs % 3600) // 60, secs % 60)
        v = f"{int(v):04d}" if float(v).is_integer() and 0 <= v <= 2359 else str(v)
    s = str(v).strip()
    if fmt:
        return dt.datetime.strptime(s, fmt).time()
    m = _TIME_LOOSE.match(s)
    if m:  # "9am", "5.30pm"
        h, mins = int(m.group(1)), int(m.group(2) or 0)
        if not 1 <= h <= 12:
            raise ValueError(s)
        return dt.time(h % 12 + (12 if m.group(3).lower() == "pm" else 0), mins)
    if re.fullmatch(r"\d{4}", s):  # "0930"
        return dt.time(int(s[:2]), int(s[2:]))
    return parse_time(s)


def coerce_date(v: Any, fmt: str | None) -> dt.date:
    if isinstance(v, dt.datetime):
        return v.date()
    if isinstance(v, dt.date):
        return v
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return _from_excel_serial(v).date()
    s = str(v).strip()
    if fmt:
        return dt.datetime.strptime(s, fmt).date()
    if _EXCEL_SERIAL.fullmatch(s):
        return _from_excel_serial(float(s)).date()
    try:
        return parse_date(s)
    except ValueError:
        return _day_first(s).date()


def coerce_timestamp(v: Any, fmt: str | None) -> dt.datetime:
    if isinstance(v, dt.datetime):
        return v
    if isinstance(v, dt.date):
        return dt.datetime(v.year, v.month, v.day)
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return _from_excel_serial(v)
    s = str(v).strip()
    if fmt:
        return dt.datetime.strptime(s, fmt)
    if _EXCEL_SERIAL.fullmatch(s):
        return _from_excel_serial(float(s))
    try:
        return dt.datetime.fromisoformat(s.replace("Z", "+00:00")).replace(tzinfo=None)
    except ValueError:
        pass
    try:
        d = parse_date(s)  # day first: 01/02/2023 is 1 February
        return dt.datetime(d.year, d.month, d.day)
    except ValueError:
        return _day_first(s)


# Day-first dates Excel writes in a UK CSV that parse_date (shared with the feeds) does not read:
# with a time ("28/09/2022 14:30") or a two-digit year ("28/09/22"). Never month first.
DAY_FIRST_FORMATS = ("%d/%m/%Y %H:%M", "%d/%m/%Y %H:%M:%S", "%d/%m/%y", "%d/%m/%y %H:%M")


def _day_first(s: str) -> dt.datetime:
    for fmt in DAY_FIRST_FORMATS:
        try:
            return dt.datetime.strptime(s, fmt)
        except ValueError:
            continue
    raise ValueError(f"not a date: {s!r}")


TYPE_WORDS = {"DATE": "date", "TIME": "time (e.g. 09:30)", "TIMESTAMP": "date and time", "DOUBLE": "number"}


# A schedule's two times; a cell holding a range ("10:00-13:00") fills both, whichever is mapped.
RANGE_FIELDS = ("schedule.opens_at", "schedule.closes_at")


@dataclass(frozen=True)
class TimeRange:
    """A cell that holds a time range, converted: its start, its end, and the column it came from."""
    opens: dt.time
    closes: dt.time
    column: str | None


# A service's two ages; a cell holding an age range ("0-4", "18+", "Under 5s") fills both, whichever is mapped.
AGE_FIELDS = ("service.minimum_age", "service.maximum_age")
OLDEST = 120  # an age above this is a typo, or not an age


@dataclass(frozen=True)
class AgeRange:
    """A cell that holds an age range, read: its youngest and oldest age (None: no limit), and its column."""
    minimum: float | None
    maximum: float | None
    column: str | None


# Words around the ages that say nothing about them: "Ages 5-11", "Aged: 60+", "11-18 years", "Adults only".
_AGE_WORDS = re.compile(r"(?:aged?s?\s*:?\s*)?(.*?)\s*(?:years?\s+old|year\s+olds|years?|yrs?|y/?o)?\s*(?:only)?",
                        re.I | re.S)
_AGE = r"(\d{1,3})(?:'?s)?"  # "5", and the plural of "Under 5s", "over-50's"
# How councils write an age range, each with the (minimum, maximum) it means. ORUK's ages are
# inclusive and in whole years.
AGE_RANGE_RULES: list[tuple[re.Pattern, Any]] = [
    (re.compile(rf"{_AGE}\s*(?:-|–|—|\bto\b)\s*{_AGE}", re.I), lambda lo, hi: (lo, hi)),        # "0-4", "5 to 11"
    (re.compile(rf"{_AGE}\s*(?:\+|plus|(?:and|or)\s+(?:over|above|older))", re.I), lambda lo: (lo, None)),  # "18+"
    # "Over 50s" is read as 50 and over, not 51: in UK service names an over-50s club takes people of
    # 50, and "over 18s" means adults, 18 included (the same reading as "50+").
    (re.compile(rf"over[\s-]*{_AGE}", re.I), lambda lo: (lo, None)),
    # "Under 5s" is up to 4: a child is under 5 until their fifth birthday, and maximum_age is inclusive.
    (re.compile(rf"under[\s-]*{_AGE}", re.I), lambda hi: (None, hi - 1)),
    (re.compile(rf"{_AGE}\s*(?:and|or)\s+(?:under|below|younger)", re.I), lambda hi: (None, hi)),  # "5 and under"
    (re.compile(r"adults?", re.I), lambda: (18, None)),  # as OpenActive reads an activity for adults
    (re.compile(r"all(?:\s+ages(?:\s+welcome)?)?|any\s+age|everyone", re.I), lambda: (None, None)),
]


def split_age_range(value: Any) -> tuple[float | None, float | None] | None:
    """(minimum, maximum) for an age range such as "0-4", "18+", "Under 5s" or "All ages" (None for
    no limit); None when the value is not one (a lone number is an age, not a range)."""
    if not isinstance(value, str):
        return None
    text = _AGE_WORDS.fullmatch(value.strip()).group(1)
    for pattern, ages in AGE_RANGE_RULES:
        m = pattern.fullmatch(text)
        if m:
            lo, hi = ages(*(int(g) for g in m.groups()))
            if all(a is None or 0 <= a <= OLDEST for a in (lo, hi)) and (lo is None or hi is None or lo <= hi):
                return (None if lo is None else float(lo)), (None if hi is None else float(hi))
            return None
    return None


# Words for several days at once, as sheets write them.
DAY_GROUPS = {"weekdays": BYDAYS[:5], "weekday": BYDAYS[:5], "weekends": BYDAYS[5:], "weekend": BYDAYS[5:],
              "daily": BYDAYS, "every day": BYDAYS, "everyday": BYDAYS, "7 days a week": BYDAYS, "all week": BYDAYS}
# A monthly day: "2nd Tuesday of month", "Last Friday of the month", "1st and 3rd Monday of each month".
# ORUK writes it as RRULE does, the week before the day ('2TU', '-1FR'), with freq MONTHLY.
ORDINALS = {"1st": 1, "first": 1, "2nd": 2, "second": 2, "3rd": 3, "third": 3, "4th": 4, "fourth": 4,
            "5th": 5, "fifth": 5, "last": -1}
_ORDINAL = "|".join(ORDINALS)
_MONTHLY = re.compile(rf"^((?:(?:{_ORDINAL})\s*(?:,|&|and|\+)?\s*)+)\s*([a-z]+?)s?\s+(?:of|in)\s+(?:the|each|every)?\s*month$",
                      re.I)


def _monthly_days(text: str) -> list[str] | None:
    m = _MONTHLY.match(text.strip().strip("."))
    day = DAY_CODES.get(m.group(2).casefold()) if m else None
    if day is None:
        return None
    weeks = [ORDINALS[w.casefold()] for w in re.findall(_ORDINAL, m.group(1), flags=re.I)]
    return [f"{w}{day}" for w in dict.fromkeys(weeks)]


def _day_word(word: str) -> str | None:
    """One day as a code: 'Tue', 'Tuesdays', 'every Tuesday' -> 'TU'."""
    w = re.sub(r"^(?:every|each|on)\s+", "", word.strip().strip(".").casefold())
    return DAY_CODES.get(w) or (DAY_CODES.get(w[:-1]) if w.endswith("s") else None)


def parse_days(text: str) -> tuple[list[str], list[str]]:
    """'Mon, Wed', 'Monday to Friday', 'Mon-Fri', 'Tuesdays', 'Weekdays' -> (['MO', 'WE'], unknown words);
    a monthly day as RRULE writes it: '2nd Tuesday of month' -> ['2TU'], 'Last Friday of the month' -> ['-1FR']
    (see is_monthly)."""
    monthly = _monthly_days(text)
    if monthly is not None:
        return monthly, []
    days: list[str] = []
    unknown: list[str] = []
    for part in re.split(r"[,;/&+]|\band\b", text, flags=re.I):
        part = part.strip().strip(".")
        if not part:
            continue
        if part.casefold() in DAY_GROUPS:
            days.extend(DAY_GROUPS[part.casefold()])
            continue
        rng = re.split(r"\s*(?:-|–|\bto\b|\buntil\b)\s*", part, flags=re.I)
        codes = [_day_word(p) for p in rng]
        if any(c is None for c in codes):
            if part.upper() in BYDAYS:
                days.append(part.upper())
            else:
                unknown.append(part)
            continue
        if len(codes) == 2:
            i, j = BYDAYS.index(codes[0]), BYDAYS.index(codes[1])
            span = BYDAYS[i:j + 1] if i <= j else BYDAYS[i:] + BYDAYS[:j + 1]
            days.extend(span)
        else:
            days.extend(codes)
    return list(dict.fromkeys(days)), unknown


def is_monthly(byday: str) -> bool:
    """A byday with a week before a day ('2TU', '-1FR') repeats monthly."""
    return any(re.match(BYDAY_WEEK, d.strip()) for d in (byday or "").split(","))


def normalise_phone(v: Any) -> str:
    s = as_text(v)
    # A number typed into Excel loses its leading zero: 1132224444 was 0113 222 4444, and one typed
    # with its spaces or dashes ('113 246 6080', '7571 231097') loses it too when the column is numeric
    # text. Ten digits, no other characters: a UK number without its zero (dev-2026's spreadsheet: 22).
    return "0" + s if re.fullmatch(r"[1-9][\d \-.]*", s) and len(re.sub(r"\D", "", s)) == 10 else s


def json_safe_value(v: Any) -> Any:
    """A cell's value as JSON can hold it (dates and times as ISO text)."""
    if isinstance(v, (dt.date, dt.time, dt.datetime)):
        return v.isoformat()
    return v
