"""What a spreadsheet reader gives: a ``Table`` (header, columns, rows as dicts, where each came
from), the rows it could not read, the limits every reader keeps, and finding the header row below
any title rows.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from connectors.base import HarvestError

MAX_BYTES = 200 * 1024 * 1024          # the file on disk


MAX_UNZIPPED_BYTES = 1024 * 1024 * 1024  # an XLSX's parts once decompressed


MAX_ZIP_RATIO = 200                    # decompressed / compressed, per part (XML compresses ~10-30x)


MAX_ROWS = 2_000_000


HEADER_SCAN_ROWS = 30


# A cell longer than this quarantines its row (it is a runaway quote or a pasted file, not a
# value): 131,072 characters, the limit Python's csv module had by default, which used to reject
# the whole file instead. Excel itself holds at most 32,767 characters in a cell.
MAX_CELL_CHARS = 131_072


# A CSV record is read no further than this: an opening quote that is never closed would
# otherwise take every later line into one cell (in a real export, 60 of 66 rows vanished).
MAX_RECORD_CHARS = 2 * MAX_CELL_CHARS


# Bytes a legacy encoding could not decode, kept as surrogates until a row is reported.
BAD_BYTES = re.compile("[\udc80-\udcff]+")


class UnreadableRow:
    """A row the reader could not read as a row: its first line as read (cut) and why, in one line."""

    __slots__ = ("text", "problem")

    def __init__(self, text: str, problem: str):
        # Undecodable bytes (kept as lone surrogates while reading) and NULs cannot be stored.
        self.text = BAD_BYTES.sub("\ufffd", text[:2000]).replace("\x00", "\ufffd")
        self.problem = problem

    def __repr__(self) -> str:
        return f"UnreadableRow({self.problem!r})"


class NotedRow(dict):
    """A row that was read, with notes on what was not quite right in it (bytes that did not
    decode). It is a dict, so a reader that ignores notes sees an ordinary row."""

    __slots__ = ("notes",)

    def __init__(self, values: dict, notes: list[str]):
        super().__init__(values)
        self.notes = notes


Row = tuple[int, "dict[str, Any] | UnreadableRow"]


class TabularError(HarvestError):
    """A file that cannot be read as a table; the message is one line naming the file."""


@dataclass
class Table:
    path: Path
    format: str                      # csv | xlsx
    sheet: str | None                # the sheet's name (XLSX) or None (CSV)
    header_row: int                  # 1-based row number of the header
    columns: list[str]
    hidden_columns: list[str] = field(default_factory=list)
    encoding: str | None = None
    delimiter: str | None = None
    notes: list[str] = field(default_factory=list)  # about the whole file (an encoding guessed)
    _rows: Callable[[], Iterator[Row]] | None = None
    _close: Callable[[], None] | None = None

    @property
    def where(self) -> str:
        """The file (and sheet) for messages and fetched_from."""
        return f"{self.path.name}!{self.sheet}" if self.sheet else self.path.name

    def rows(self) -> Iterator[Row]:
        assert self._rows is not None
        return self._rows()

    def close(self) -> None:
        """Let go of the file (an XLSX workbook stays open while its rows are read)."""
        if self._close is not None:
            self._close()


# -- header detection -----------------------------------------------------------------------
def is_blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _is_texty(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    s = value.strip()
    return bool(s) and not re.fullmatch(r"[-+£$€]?[\d,.\s/:%]+", s)


def find_header_row(rows: list[list[Any]]) -> int:
    """Index (0-based) of the header among the first rows: title rows above it have one or two
    cells filled; the header is the first row that fills most of the table's width with text."""
    widths = [sum(not is_blank(v) for v in r) for r in rows]
    if not widths or max(widths) == 0:
        return 0
    widest = max(widths)
    need = max(2, int(widest * 0.6 + 0.5)) if widest > 1 else 1
    for i, r in enumerate(rows):
        filled = [v for v in r if not is_blank(v)]
        if len(filled) >= need and sum(_is_texty(v) for v in filled) >= 0.8 * len(filled):
            return i
    return next(i for i, w in enumerate(widths) if w)


def unique_headers(raw: list[Any]) -> list[str]:
    """Header names as text, each unique: blanks become 'Column C', repeats 'Phone (2)'."""
    out: list[str] = []
    seen: dict[str, int] = {}
    for n, value in enumerate(raw, start=1):
        name = re.sub(r"\s+", " ", str(value)).strip() if not is_blank(value) else f"Column {_col_letter(n)}"
        key = name.casefold()
        if key in seen:
            seen[key] += 1
            name = f"{name} ({seen[key]})"
            key = name.casefold()
        seen.setdefault(key, 1)
        out.append(name)
    return out


def _col_letter(n: int) -> str:
    s = ""
    while n:
        n, r = divmod(n - 1, 26)
        s = chr(65 + r) + s
    return s


def trim_width(header: list[Any], sample: list[list[Any]]) -> int:
    """How many columns the table has: up to the last one with a header or any value."""
    width = 0
    for r in [header, *sample]:
        for i in range(len(r) - 1, -1, -1):
            if not is_blank(r[i]):
                width = max(width, i + 1)
                break
    return width


def row_dict(columns: list[str], values: list[Any], width: int) -> dict[str, Any]:
    if len(values) > width and any(not is_blank(v) for v in values[width:]):
        # Cells beyond the header: keep them under generated names rather than drop them.
        extra = {f"Column {_col_letter(i + 1)}": v for i, v in enumerate(values[width:], start=width)
                 if not is_blank(v)}
    else:
        extra = None
    d = {c: (values[i] if i < len(values) else None) for i, c in enumerate(columns)}
    if extra:
        d.update(extra)
    return d
