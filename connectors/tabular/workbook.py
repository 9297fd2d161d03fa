"""XLSX workbooks read with openpyxl in read-only mode: the sheet picked by name or number, merged
cells filled, hidden rows and columns left out, zip bombs and damaged files refused in one line.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import re
import zipfile
from pathlib import Path
from typing import Any, Iterator

from connectors.tabular.table import (HEADER_SCAN_ROWS, MAX_CELL_CHARS, MAX_UNZIPPED_BYTES, MAX_ZIP_RATIO, Row, Table,
                                      TabularError, UnreadableRow, find_header_row, is_blank, row_dict, trim_width,
                                      unique_headers)


# -- XLSX --------------------------------------------------------------------------------------
def _check_zip(path: Path) -> None:
    try:
        with zipfile.ZipFile(path) as z:
            total = 0
            for info in z.infolist():
                total += info.file_size
                if info.compress_size and info.file_size > 10 * 1024 * 1024 and \
                        info.file_size / info.compress_size > MAX_ZIP_RATIO:
                    raise TabularError(f"{path.name}: part {info.filename} expands {info.file_size / info.compress_size:.0f}x "
                                       f"(a zip bomb?); refused. Re-save the workbook in Excel")
            if total > MAX_UNZIPPED_BYTES:
                raise TabularError(f"{path.name}: expands to {total:,} bytes, more than the {MAX_UNZIPPED_BYTES:,}-byte "
                                   f"limit (a zip bomb?); refused. Split the workbook")
    except zipfile.BadZipFile:
        raise TabularError(f"{path.name}: a damaged XLSX file; export it again") from None


_MERGE_RE = re.compile(rb'<(?:\w+:)?mergeCell\s+ref="([A-Z]+)(\d+):([A-Z]+)(\d+)"')


_COL_RE = re.compile(rb"<(?:\w+:)?col\s[^>]*>")


def _col_index(letters: bytes | str) -> int:
    n = 0
    for ch in letters.decode() if isinstance(letters, bytes) else letters:
        n = n * 26 + ord(ch) - 64
    return n


def _sheet_layout(ws) -> tuple[list[tuple[int, int, int, int]], set[int]]:
    """Merged ranges (min_row, min_col, max_row, max_col) and hidden column numbers, read from
    the sheet XML with a regex scan: read-only openpyxl does not expose them, and a full parse
    would double the reading time."""
    merges: list[tuple[int, int, int, int]] = []
    hidden: set[int] = set()
    tail = b""
    with ws._get_source() as src:
        while chunk := src.read(1 << 20):
            buf = tail + chunk
            # Only scan what cannot be the start of a tag cut by the chunk boundary.
            cut = buf.rfind(b"<")
            scan, tail = (buf[:cut], buf[cut:]) if cut > 0 else (buf, b"")
            _scan_layout(scan, merges, hidden)
        _scan_layout(tail, merges, hidden)
    return merges, hidden


def _scan_layout(buf: bytes, merges: list, hidden: set) -> None:
    for m in _MERGE_RE.finditer(buf):
        c1, r1, c2, r2 = m.groups()
        merges.append((int(r1), _col_index(c1), int(r2), _col_index(c2)))
    for m in _COL_RE.finditer(buf):
        tag = m.group(0)
        if re.search(rb'\shidden="(1|true)"', tag):
            lo = re.search(rb'\smin="(\d+)"', tag)
            hi = re.search(rb'\smax="(\d+)"', tag)
            if lo and hi:
                hidden.update(range(int(lo.group(1)), min(int(hi.group(1)), 16384) + 1))


def _pick_sheet(wb, path: Path, sheet: str | int | None):
    names = wb.sheetnames
    if sheet is None:
        return wb[names[0]]
    if isinstance(sheet, int) or (isinstance(sheet, str) and sheet.isdigit()):
        i = int(sheet)
        if not 0 <= i < len(names):
            raise TabularError(f"{path.name}: no sheet number {i} (sheets are numbered from 0; it has {len(names)}: "
                               f"{', '.join(names)})")
        return wb[names[i]]
    for n in names:
        if n.strip().casefold() == str(sheet).strip().casefold():
            return wb[n]
    raise TabularError(f"{path.name}: no sheet named '{sheet}'; its sheets are {', '.join(names)}")


def _excel_value(v: Any) -> Any:
    if isinstance(v, str):
        return v if v.strip() else None
    if isinstance(v, dt.datetime) and v.hour == v.minute == v.second == v.microsecond == 0:
        return v.date()
    return v


@contextlib.contextmanager
def _damaged_workbook(path: Path):
    """A workbook damaged inside (a part whose checksum fails, XML cut short) raises whatever the
    zip, zlib or XML layer raises, and only when that part is read: one line, naming the file. The
    harvest then fails as a whole, and the last good snapshot stays in force (nothing half-loaded)."""
    try:
        yield
    except TabularError:
        raise
    except Exception as exc:  # noqa: BLE001 - zipfile.BadZipFile, zlib.error, XML errors, KeyError...
        raise TabularError(f"{path.name}: the workbook is damaged inside ({type(exc).__name__}: "
                           f"{str(exc).splitlines()[0][:120] if str(exc) else 'unreadable'}); "
                           f"export it again") from None


def open_xlsx(path: Path, sheet: str | int | None, header_row: int | None, max_rows: int) -> Table:
    import openpyxl

    _check_zip(path)
    try:
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a damaged workbook
        raise TabularError(f"{path.name}: not a readable XLSX workbook ({type(exc).__name__}); open and re-save it in Excel") from None
    # One workbook and one sheet object for the header scan and the rows: opening a sheet parses
    # its dimensions, which means reading the whole sheet when the exporter wrote none.
    try:
        if not wb.sheetnames:
            raise TabularError(f"{path.name}: the workbook has no sheets; export it again")
        ws = _pick_sheet(wb, path, sheet)
        title = ws.title
        with _damaged_workbook(path):
            merges, hidden_cols = _sheet_layout(ws)
        ws.reset_dimensions()  # exporters often write a wrong <dimension>; read what is there
    except BaseException:
        wb.close()
        raise

    def cells(min_row: int = 1) -> Iterator[tuple[int, list[Any]]]:
        fill = _MergeFill(merges)
        with _damaged_workbook(path):
            for n, values in enumerate(ws.iter_rows(min_row=1, values_only=True), start=1):
                vals = [_excel_value(v) for v in values]
                if merges:
                    fill.apply(n, vals)
                if n >= min_row:
                    yield n, vals

    head: list[list[Any]] = []
    try:
        for _n, vals in cells():
            head.append(vals)
            if len(head) >= HEADER_SCAN_ROWS:
                break
    except BaseException:
        wb.close()
        raise
    if not head:
        wb.close()
        raise TabularError(f"{path.name}: sheet '{title}' is empty")
    h = header_row - 1 if header_row else find_header_row(head)
    if h >= len(head):
        wb.close()
        raise TabularError(f"{path.name}: sheet '{title}' has no row {h + 1} to use as the header")
    width = trim_width(head[h], head[h + 1:])
    columns = unique_headers((list(head[h]) + [None] * width)[:width])
    hidden = [c for i, c in enumerate(columns, start=1) if i in hidden_cols]

    def rows() -> Iterator[Row]:
        count = 0
        for n, vals in cells(min_row=h + 2):
            if all(is_blank(v) for v in vals):
                continue
            count += 1
            if count > max_rows:
                raise TabularError(f"{path.name}: sheet '{title}' has more than {max_rows:,} rows; split it or raise the source's max_rows")
            long_cell = next((v for v in vals if isinstance(v, str) and len(v) > MAX_CELL_CHARS), None)
            if long_cell is not None:
                yield n, UnreadableRow(" | ".join("" if v is None else str(v)[:200] for v in vals[:width]),
                                       f"row {n}: a cell of {len(long_cell):,} characters, over the "
                                       f"{MAX_CELL_CHARS:,}-character limit; shorten it")
                continue
            yield n, row_dict(columns, vals, width)

    return Table(path, "xlsx", title, h + 1, columns, hidden, None, None, [], rows, wb.close)


class _MergeFill:
    """Copies each merged range's top-left value into the other cells of the range, row by row."""

    def __init__(self, merges: list[tuple[int, int, int, int]]):
        self.by_row: dict[int, list[tuple[int, int, int, int]]] = {}
        for m in merges:
            if m[2] - m[0] > 100_000:
                continue  # a whole-column merge is formatting, not data
            for r in range(m[0], m[2] + 1):
                self.by_row.setdefault(r, []).append(m)
        self.values: dict[tuple[int, int, int, int], Any] = {}

    def apply(self, row: int, vals: list[Any]) -> None:
        for m in self.by_row.get(row, ()):
            r1, c1, _r2, c2 = m
            if row == r1:
                self.values[m] = vals[c1 - 1] if c1 - 1 < len(vals) else None
            value = self.values.get(m)
            if len(vals) < c2:
                vals.extend([None] * (c2 - len(vals)))
            for c in range(c1, c2 + 1):
                if (row, c) != (r1, c1):
                    vals[c - 1] = value
