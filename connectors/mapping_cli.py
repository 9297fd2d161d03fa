"""Spreadsheet mappings: `placecat mapping suggest FILE` proposes a mapping YAML for an export.

The assistant reads the header and a sample of values, scores each column against the ORUK
fields (rapidfuzz on the header plus a synonym list: "Tel" -> phone.number, "Post Code" ->
address.postal_code, "Organisation" -> organization.name), then checks the guess against the
values (postcodes, phone numbers, emails, web addresses, days, times, ages, dates). A column of
time ranges (10:00-13:00) or age ranges (0-4, 18+, Under 5s) is proposed for both of its fields.
It prints a mapping with a confidence for each column and lists the columns it could not place.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass, field
from typing import Any

from rapidfuzz import fuzz

from connectors.base import HarvestError
from connectors.cells import AGE_FIELDS, OLDEST, RANGE_FIELDS, coerce_time, coerce_timestamp, parse_days, split_age_range
from connectors.config import ConfigError
from connectors.staging import split_time_range
from connectors.tabular import open_table
from connectors.tabular.table import Table

SAMPLE_ROWS = 200
THRESHOLD = 62
TIME_RANGE = "schedule.opens_at+closes_at"  # not an ORUK field: a column placed here maps to both
AGE_RANGE = "service.minimum_age+maximum_age"  # the same for a column of age ranges ("0-4", "18+")

SYNONYMS: dict[str, list[str]] = {
    "id": ["id", "ref", "reference", "record id", "unique ref", "unique reference", "record number",
           "service id", "record ref", "urn", "ref no", "reference number", "uid"],
    "service.name": ["service name", "name", "service", "title", "activity", "name of service", "service title",
                     "project name", "session name", "activity name", "group name"],
    "organization.name": ["organisation", "organization", "organisation name", "organization name", "provider",
                          "provider name", "run by", "org name", "organisation provider", "charity", "delivered by",
                          "managed by"],
    "service.description": ["description", "details", "about", "summary", "service description", "desc",
                            "information", "overview", "more information", "service desc"],
    "address.address_1": ["address", "address 1", "address line 1", "street", "building street", "address 2",
                          "address line 2", "addr line1", "addr line2", "locality", "venue address",
                          "street address", "building", "address line1", "address line2"],
    "address.city": ["town", "city", "town city", "post town"],
    "address.region": ["county", "region"],
    "address.postal_code": ["postcode", "post code", "postal code", "pcode", "zip", "zip code", "post code area"],
    "phone.number": ["phone", "telephone", "tel", "phone number", "contact number", "mobile", "telephone number",
                     "phone no", "tel no", "contact telephone", "contact phone"],
    "service.email": ["email", "e mail", "email address", "e mail address", "contact email", "email contact"],
    "service.url": ["website", "url", "web address", "webpage", "web site", "link", "website url", "web link",
                    "web page", "site"],
    "schedule.byday": ["day", "days", "days open", "weekday", "meeting day", "day s", "which day", "days of week",
                       "day of week", "opening days"],
    "schedule.opens_at": ["start", "start time", "opening time", "opens", "from", "open", "time from",
                          "opens at", "begins"],
    "schedule.closes_at": ["end", "end time", "closing time", "closes", "to", "finish", "finish time", "time to",
                           "closes at", "ends"],
    # A column of time ranges ("10:00-13:00"): both of the schedule's times (see to_yaml).
    TIME_RANGE: ["times", "time", "opening times", "opening hours", "hours", "session time", "session times",
                 "session", "when", "timings", "open times"],
    "taxonomy_term.name": ["category", "categories", "type", "service type", "taxonomy", "theme", "tags",
                           "service category", "activity type", "keywords"],
    "service.minimum_age": ["min age", "minimum age", "age from", "from age", "lower age", "age min"],
    "service.maximum_age": ["max age", "maximum age", "age to", "to age", "upper age", "age max"],
    # A column of age ranges ("0-4", "18+", "Under 5s"): both of the service's ages (see to_yaml).
    AGE_RANGE: ["age range", "age ranges", "ages", "age group", "age groups", "suitable for ages", "age",
                "age band", "age bands", "ages catered for"],
    "location.name": ["venue", "venue name", "location", "location name", "building name"],
    "location.latitude": ["lat", "latitude"],
    "location.longitude": ["lng", "lon", "long", "longitude"],
    "contact.name": ["contact name", "contact", "contact person", "lead contact"],
    "service.fees": ["cost", "price", "fees", "charge", "fee", "costs"],
    "service_area.name": ["area", "area served", "local authority", "ward", "coverage"],
    "language.name": ["language", "languages", "languages spoken"],
    "service.status": ["status", "service status"],
    "service.last_modified": ["last updated", "updated", "last modified", "date modified", "date updated",
                              "last reviewed", "updated on", "modified", "date last updated", "last update"],
}
# Fields whose header must come this close to a synonym to count at all: dates have short, alike
# headers ("Start date" scores 67 against "last update", "Date added" 73 against "date updated").
HEADER_FLOOR = {"service.last_modified": 75}
# Fields several columns may feed (joined in column order).
JOINABLE = {"address.address_1"}
ABBREVIATIONS = {"addr": "address", "desc": "description", "org": "organisation", "num": "number",
                 "svc": "service", "pc": "postcode", "yrs": "age"}

_POSTCODE = re.compile(r"^[A-Z]{1,2}\d[A-Z\d]?\s*\d[A-Z]{2}$", re.I)
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[a-z]{2,}$", re.I)
_URL = re.compile(r"^(https?://|www\.)\S+$", re.I)
_PHONE = re.compile(r"^\+?[\d\s()-]{9,16}$")


def normalise_header(h: str) -> str:
    s = re.sub(r"([a-z])([A-Z])", r"\1 \2", str(h))
    s = re.sub(r"[_\-/.()&:#?]+", " ", s.lower())
    words = [ABBREVIATIONS.get(w, w) for w in s.split()]
    return " ".join(words)


def header_scores(header: str) -> dict[str, float]:
    h = normalise_header(header)
    out = {}
    for fieldname, words in SYNONYMS.items():
        best = 0.0
        for w in words:
            if h == w:
                best = 100.0
                break
            best = max(best, fuzz.ratio(h, w), fuzz.token_sort_ratio(h, w) * 0.97)
        out[fieldname] = best if best >= HEADER_FLOOR.get(fieldname, 0) else 0.0
    return out


# -- what the values look like --------------------------------------------------------------
def _share(values: list[Any], test) -> float:
    if not values:
        return 0.0
    ok = 0
    for v in values:
        try:
            ok += bool(test(v))
        except (ValueError, TypeError):
            pass
    return ok / len(values)


def _is_time(v: Any) -> bool:
    if isinstance(v, (int, float)) and not 0 <= v < 1:
        return False
    coerce_time(v, None)
    return True


def _is_time_range(v: Any) -> bool:
    return split_time_range(str(v)) is not None


def _is_days(v: Any) -> bool:
    days, unknown = parse_days(str(v))
    return bool(days) and not unknown


def _is_age(v: Any) -> bool:
    return float(str(v).strip()) == int(float(str(v).strip())) and 0 <= float(str(v)) <= OLDEST


def _is_age_range(v: Any) -> bool:
    return split_age_range(str(v)) is not None  # a lone number is not: "Min age" columns stay as they were


def _is_date(v: Any) -> bool:
    if isinstance(v, (int, float)):  # any number is an Excel date serial: ids and ages would pass
        return False
    coerce_timestamp(v, None)
    return True


VALUE_TESTS = {
    "address.postal_code": lambda v: _POSTCODE.match(str(v).strip()),
    "service.email": lambda v: _EMAIL.match(str(v).strip()),
    "service.url": lambda v: _URL.match(str(v).strip()),
    "phone.number": lambda v: _PHONE.match(str(v).strip()) and len(re.sub(r"\D", "", str(v))) >= 9,
    "schedule.byday": _is_days,
    "schedule.opens_at": _is_time,
    "schedule.closes_at": _is_time,
    TIME_RANGE: _is_time_range,
    "service.minimum_age": _is_age,
    "service.maximum_age": _is_age,
    AGE_RANGE: _is_age_range,
    "service.last_modified": _is_date,
}

# Values that many columns could hold (numbers, times): they confirm a header, never place a column alone.
# A date column may be when a service was checked, starts or was last changed: only its header says which.
WEAK_VALUE_TESTS = {"schedule.opens_at", "schedule.closes_at", "service.minimum_age", "service.maximum_age",
                    "service.last_modified"}
# The pseudo-fields: a column holding both ends of a range, the two fields it fills, and what to say about it.
RANGE_COLUMNS = {
    TIME_RANGE: (RANGE_FIELDS, "holds time ranges (e.g. 10:00-13:00): its start is the opening time, "
                               "its end the closing time"),
    AGE_RANGE: (AGE_FIELDS, "holds age ranges (e.g. 0-4, 18+, Under 5s): its lower age is the minimum age, "
                            "its upper age the maximum"),
}


def value_scores(values: list[Any], scores: dict[str, float]) -> dict[str, float]:
    """Confirm or doubt each header guess by what the column holds."""
    out = dict(scores)
    if not values:
        return {f: s * 0.9 for f, s in out.items()}
    for fieldname, test in VALUE_TESTS.items():
        share = _share(values, test)
        if share >= 0.8 and (fieldname not in WEAK_VALUE_TESTS or out[fieldname] >= 45):
            out[fieldname] = min(100.0, max(out[fieldname], 55.0) + 25)
        elif share < 0.3:
            out[fieldname] *= 0.6
    texts = [str(v) for v in values]
    avg_len = sum(map(len, texts)) / len(texts)
    if avg_len > 40:
        out["service.description"] = min(100.0, max(out["service.description"], 55.0) + 20)
        for f in ("service.name", "organization.name", "taxonomy_term.name", "id"):
            out[f] *= 0.7
    distinct = len(set(texts)) / len(texts)
    if distinct > 0.98 and avg_len < 16 and len(values) >= 5:
        out["id"] = min(100.0, out["id"] + 10)
    elif distinct < 0.9:
        out["id"] *= 0.5
    return out


# -- the suggestion ------------------------------------------------------------------------------
@dataclass
class Suggestion:
    table: Table
    placed: dict[str, tuple[str, float]] = field(default_factory=dict)  # column -> (field, confidence)
    unplaced: list[str] = field(default_factory=list)

    def columns_for(self, fieldname: str) -> list[str]:
        return [c for c in self.table.columns if self.placed.get(c, ("",))[0] == fieldname]

    def to_yaml(self) -> str:
        t = self.table
        sheet = f", sheet '{t.sheet}'" if t.sheet else ""
        lines = [f"# Suggested by `placecat mapping suggest` for {t.path.name}{sheet}, header on row {t.header_row}.",
                 "# Check every line before use; the number after each is the confidence (0 to 1).",
                 "# Columns not mapped are kept in each service's extras, never dropped."]
        if t.sheet:
            lines.append(f"sheet: {json.dumps(t.sheet)}")
        if t.header_row != 1:
            lines.append(f"header_row: {t.header_row}")
        ids = self.columns_for("id")
        if ids:
            lines.append(f"id: {json.dumps(ids[0])}{' ' * max(1, 40 - len(ids[0]))}# {self.placed[ids[0]][1]:.2f}")
        lines.append("columns:")
        order = [f for f in SYNONYMS if f not in ("id", *RANGE_COLUMNS)]
        for f in order:
            cols = self.columns_for(f)
            if not cols:
                cols, note = self.range_column_for(f)
                if note:
                    lines.append(note)
            if not cols:
                continue
            conf = min(self.placed[c][1] for c in cols)
            value = json.dumps(cols[0], ensure_ascii=False) if len(cols) == 1 else \
                "[" + ", ".join(json.dumps(c, ensure_ascii=False) for c in cols) + "]"
            entry = f"  {f}: {value}"
            lines.append(f"{entry}{' ' * max(1, 60 - len(entry))}# {conf:.2f}")
        if not ids:
            lines.append("# No column looks like a row id: rows get a stable key from the service name, organisation and postcode.")
        if self.unplaced:
            lines.append("# Columns not placed (map them by hand if they matter):")
            lines.extend(f"#   - {json.dumps(c, ensure_ascii=False)}" for c in self.unplaced)
        if t.hidden_columns:
            lines.append(f"# Hidden columns in the sheet: {', '.join(json.dumps(c) for c in t.hidden_columns)}")
        return "\n".join(lines) + "\n"

    def range_column_for(self, fieldname: str) -> tuple[list[str], str | None]:
        """For a field with no column of its own: the column of ranges that gives it (a time range's
        start is opens_at, its end closes_at), and the comment to write before the first of the pair."""
        for pseudo, (fields, what) in RANGE_COLUMNS.items():
            ranges = self.columns_for(pseudo)
            if fieldname in fields and ranges:
                # Said once: before the first field, or before the second when the first has a column of its own.
                first = fieldname == fields[0] or bool(self.columns_for(fields[0]))
                return ranges[:1], f"  # {json.dumps(ranges[0], ensure_ascii=False)} {what}" if first else None
        return [], None


def suggest_mapping(table: Table, sample_rows: int = SAMPLE_ROWS) -> Suggestion:
    samples: dict[str, list[Any]] = {c: [] for c in table.columns}
    n = 0
    for _row_number, row in table.rows():
        if not isinstance(row, dict):
            continue  # a row the reader could not read (a broken quote): nothing to learn from
        n += 1
        if n > sample_rows:
            break
        for c in table.columns:
            v = row.get(c)
            if v is not None and str(v).strip():
                samples[c].append(v)
    scored = {c: value_scores(samples[c], header_scores(c)) for c in table.columns if samples[c]}
    pairs = sorted(((s, c, f) for c, fs in scored.items() for f, s in fs.items() if s >= THRESHOLD),
                   key=lambda p: (-p[0], table.columns.index(p[1])))
    out = Suggestion(table)
    taken: set[str] = set()
    for score, col, f in pairs:
        if col in out.placed or (f in taken and f not in JOINABLE):
            continue
        out.placed[col] = (f, round(score / 100, 2))
        taken.add(f)
    out.unplaced = [c for c in table.columns if c not in out.placed and samples[c]]
    return out


# -- the command -------------------------------------------------------------------------------
def configure_parser(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="mapping_command", metavar="SUBCOMMAND")
    p = sub.add_parser("suggest", help="propose a mapping YAML for a CSV or XLSX export",
                       description="Propose a mapping YAML for a CSV or XLSX export, with a confidence per column.")
    p.add_argument("file", metavar="FILE", help="the CSV or XLSX export")
    p.add_argument("--sheet", help="sheet name or number (from 0) of an XLSX workbook; default the first")
    p.add_argument("--header-row", type=int, help="the header's row number, when the guess is wrong")
    p.add_argument("--out", help="write the mapping to this file instead of printing it")


def run(args: argparse.Namespace) -> int:
    if getattr(args, "mapping_command", None) != "suggest":
        print("placecat mapping: say what to do: `placecat mapping suggest FILE`", file=sys.stderr)
        return 2
    try:
        table = open_table(args.file, sheet=args.sheet, header_row=args.header_row)
        try:
            suggestion = suggest_mapping(table)
        finally:
            table.close()
    except (ConfigError, HarvestError, OSError) as exc:  # a user's file: one line, no traceback
        print(f"placecat: {exc}", file=sys.stderr)
        return 2
    text = suggestion.to_yaml()
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            f.write(text)
        print(f"mapping written to {args.out}: {len(suggestion.placed)} columns placed, "
              f"{len(suggestion.unplaced)} not placed")
    else:
        sys.stdout.write(text)
    return 0
