"""Readers for the spreadsheets councils email around: CSV and XLSX, quirks and all.

``open_table(path)`` returns a ``Table``: the header (found below any title rows, duplicate and
blank names made unique), where it was found, and ``rows()``, a stream of ``(row_number, {column:
value})`` in which ``row_number`` is the row as a person sees it in Excel or a text editor (so a
message can send them straight to it). Blank rows, and blank trailing rows Excel likes to keep,
are skipped. Rows are streamed, so memory does not grow with the file.

CSV: the encoding is detected (UTF-8, UTF-8 with a BOM, UTF-16 with a BOM, else Windows-1252,
the encoding Excel on Windows saves "CSV" in, unless the text plainly reads as another encoding such
as Shift-JIS, which is then used and noted in ``Table.notes``) and the delimiter sniffed (comma,
semicolon, tab, pipe). A row the CSV parser cannot read (an opening quote never closed, a NUL byte,
a cell over ``MAX_CELL_CHARS``) comes out as an ``UnreadableRow`` naming its line, and reading goes
on at the next line: one bad row never swallows the rows after it. Bytes that do not decode in the
file's encoding are replaced (U+FFFD) and the row comes out as a ``NotedRow`` that says where. XLSX: formulas are read as their cached values, never their text; Excel dates and times
become ``datetime``/``time``; a merged range's value fills every cell of the range (an
organisation merged down its services' rows belongs to each of them); hidden columns are read
(nothing is lost) and listed in ``Table.hidden_columns``. Oversized files, too many rows and
zip bombs are refused with a one-line ``TabularError`` that says what to do.


Modules: ``table.py`` (the ``Table``, limits, the header row), ``delimited.py`` (CSV),
``workbook.py`` (XLSX); this module picks the reader.
"""
from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

from connectors.tabular.delimited import open_csv
from connectors.tabular.table import MAX_BYTES, MAX_ROWS, Row, Table, TabularError
from connectors.tabular.workbook import open_xlsx


def open_table(path: str | Path, *, sheet: str | int | None = None, header_row: int | None = None,
               encoding: str | None = None, delimiter: str | None = None,
               max_bytes: int | None = None, max_rows: int | None = None) -> Table:
    """Open a CSV or XLSX file as a Table; raises TabularError for a file that can't be read."""
    path = Path(path)
    if not path.exists():
        raise TabularError(f"{path}: file not found")
    if not path.is_file():
        raise TabularError(f"{path}: not a file")
    size = path.stat().st_size
    limit = int(max_bytes or MAX_BYTES)
    if size > limit:
        raise TabularError(f"{path.name}: {size:,} bytes is more than the {limit:,}-byte limit; "
                           f"split the file or raise the source's max_bytes")
    if size == 0:
        raise TabularError(f"{path.name}: the file is empty")
    kind = sniff_format(path)
    row_limit = int(max_rows or MAX_ROWS)
    if kind == "xlsx":
        return open_xlsx(path, sheet, header_row, row_limit)
    if kind == "xls":
        raise TabularError(f"{path.name}: an old Excel 97-2003 (.xls) workbook; save it as .xlsx or CSV")
    if kind == "ods":
        raise TabularError(f"{path.name}: an OpenDocument spreadsheet; save it as .xlsx or CSV")
    if sheet not in (None, 0, "0"):
        raise TabularError(f"{path.name}: a CSV file has no sheets; remove 'sheet' from the source")
    return open_csv(path, header_row, encoding, delimiter, row_limit)


def sniff_format(path: Path) -> str:
    with open(path, "rb") as f:
        head = f.read(8)
    if head.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(path) as z:
                names = set(z.namelist())
        except zipfile.BadZipFile:
            raise TabularError(f"{path.name}: looks like a zip/XLSX file but is damaged or truncated; export it again") from None
        if "xl/workbook.xml" in names:
            return "xlsx"
        if "mimetype" in names and "content.xml" in names:
            return "ods"
        raise TabularError(f"{path.name}: a zip file that is not an XLSX workbook; send the .xlsx or .csv itself")
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        return "xls"
    return "csv"


def read_rows(path: str | Path, **options: Any) -> tuple[Table, list[Row]]:
    """The whole table in memory: for small files (tests, `mapping suggest` samples)."""
    t = open_table(path, **options)
    try:
        return t, list(t.rows())
    finally:
        t.close()
