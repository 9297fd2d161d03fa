"""Readers for the spreadsheets councils email around: CSV and XLSX, quirks and all.

``open_table(path)`` returns a ``Table``: the header (found below any title rows, duplicate and
blank names made unique), where it was found, and ``rows()``, a stream of ``(row_number, {column:
value})`` in which ``row_number`` is the row as a person sees it in Excel or a text editor (so a
message can send them straight to it). Blank rows, and blank trailing rows Excel likes to keep,
are skipped. Rows are streamed, so memory does not grow with the file.

CSV: the encoding is detected (UTF-8, UTF-8 with a BOM, UTF-16 with a BOM, else Windows-1252,
the encoding Excel on Windows saves "CSV" in) and the delimiter sniffed (comma, semicolon, tab,
pipe). XLSX: formulas are read as their cached values, never their text; Excel dates and times
become ``datetime``/``time``; a merged range's value fills every cell of the range (an
organisation merged down its services' rows belongs to each of them); hidden columns are read
(nothing is lost) and listed in ``Table.hidden_columns``. Oversized files, too many rows and
zip bombs are refused with a one-line ``TabularError`` that says what to do.
"""
from __future__ import annotations

import codecs
import csv
import datetime as dt
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from connectors.base import HarvestError

MAX_BYTES = 200 * 1024 * 1024          # the file on disk
MAX_UNZIPPED_BYTES = 1024 * 1024 * 1024  # an XLSX's parts once decompressed
MAX_ZIP_RATIO = 200                    # decompressed / compressed, per part (XML compresses ~10-30x)
MAX_ROWS = 2_000_000
HEADER_SCAN_ROWS = 30
DELIMITERS = ",;\t|"

Row = tuple[int, dict[str, Any]]


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
        return _open_xlsx(path, sheet, header_row, row_limit)
    if kind == "xls":
        raise TabularError(f"{path.name}: an old Excel 97-2003 (.xls) workbook; save it as .xlsx or CSV")
    if kind == "ods":
        raise TabularError(f"{path.name}: an OpenDocument spreadsheet; save it as .xlsx or CSV")
    if sheet not in (None, 0, "0"):
        raise TabularError(f"{path.name}: a CSV file has no sheets; remove 'sheet' from the source")
    return _open_csv(path, header_row, encoding, delimiter, row_limit)


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


# -- header detection -----------------------------------------------------------------------
def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _is_texty(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    s = value.strip()
    return bool(s) and not re.fullmatch(r"[-+£$€]?[\d,.\s/:%]+", s)


def find_header_row(rows: list[list[Any]]) -> int:
    """Index (0-based) of the header among the first rows: title rows above it have one or two
    cells filled; the header is the first row that fills most of the table's width with text."""
    widths = [sum(not _blank(v) for v in r) for r in rows]
    if not widths or max(widths) == 0:
        return 0
    widest = max(widths)
    need = max(2, int(widest * 0.6 + 0.5)) if widest > 1 else 1
    for i, r in enumerate(rows):
        filled = [v for v in r if not _blank(v)]
        if len(filled) >= need and sum(_is_texty(v) for v in filled) >= 0.8 * len(filled):
            return i
    return next(i for i, w in enumerate(widths) if w)


def unique_headers(raw: list[Any]) -> list[str]:
    """Header names as text, each unique: blanks become 'Column C', repeats 'Phone (2)'."""
    out: list[str] = []
    seen: dict[str, int] = {}
    for n, value in enumerate(raw, start=1):
        name = re.sub(r"\s+", " ", str(value)).strip() if not _blank(value) else f"Column {_col_letter(n)}"
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


def _trim_width(header: list[Any], sample: list[list[Any]]) -> int:
    """How many columns the table has: up to the last one with a header or any value."""
    width = 0
    for r in [header, *sample]:
        for i in range(len(r) - 1, -1, -1):
            if not _blank(r[i]):
                width = max(width, i + 1)
                break
    return width


# -- CSV ---------------------------------------------------------------------------------------
def detect_encoding(path: Path) -> str:
    """UTF-8 (with or without BOM) or UTF-16 when the bytes say so, else Windows-1252."""
    with open(path, "rb") as f:
        head = f.read(4)
        if head.startswith(codecs.BOM_UTF8):
            return "utf-8-sig"
        if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            return "utf-16"
        f.seek(0)
        decoder = codecs.getincrementaldecoder("utf-8")()
        try:
            while chunk := f.read(1 << 20):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return "cp1252"
    return "utf-8"


def _cp1252_lenient(error: UnicodeDecodeError):
    # Five bytes are undefined in Windows-1252; Windows maps them to the same code points.
    return chr(error.object[error.start]), error.start + 1


codecs.register_error("placecat-cp1252", _cp1252_lenient)


def sniff_delimiter(text: str) -> str:
    lines = [ln for ln in text.splitlines() if ln.strip()][:HEADER_SCAN_ROWS]
    try:
        return csv.Sniffer().sniff("\n".join(lines), delimiters=DELIMITERS).delimiter
    except csv.Error:
        # Title rows defeat the sniffer; take the delimiter that splits the most lines the same way.
        best, best_score = ",", -1
        for d in DELIMITERS:
            counts = [ln.count(d) for ln in lines if ln.count(d)]
            if not counts:
                continue
            common = max(set(counts), key=counts.count)
            score = counts.count(common) * common
            if score > best_score:
                best, best_score = d, score
        return best


def _open_csv(path: Path, header_row: int | None, encoding: str | None, delimiter: str | None,
              max_rows: int) -> Table:
    enc = encoding or detect_encoding(path)
    errors = "placecat-cp1252" if enc.replace("-", "").lower() in ("cp1252", "windows1252") else "strict"

    def reader() -> tuple[Any, csv.reader]:
        f = open(path, "r", encoding=enc, errors=errors, newline="")
        return f, csv.reader(f, delimiter=delim)

    try:
        with open(path, "r", encoding=enc, errors=errors, newline="") as f:
            head_text = f.read(64 * 1024)
    except (UnicodeDecodeError, LookupError) as exc:
        raise TabularError(f"{path.name}: cannot be read as {enc} ({exc.__class__.__name__}); "
                           f"save it as UTF-8 CSV or set the source's encoding") from None
    if "\x00" in head_text:
        raise TabularError(f"{path.name}: holds binary data, not CSV text; export the sheet as CSV or XLSX")
    delim = delimiter or sniff_delimiter(head_text)
    f, rdr = reader()
    try:
        head = []
        for r in rdr:
            head.append(r)
            if len(head) >= HEADER_SCAN_ROWS:
                break
    except csv.Error as exc:
        raise TabularError(f"{path.name}: not readable as CSV ({exc})") from None
    finally:
        f.close()
    h = header_row - 1 if header_row else find_header_row(head)
    if h >= len(head):
        raise TabularError(f"{path.name}: no header on row {h + 1}; the file has only {len(head)} rows")
    width = _trim_width(head[h], head[h + 1:])
    columns = unique_headers((list(head[h]) + [None] * width)[:width])

    def rows() -> Iterator[Row]:
        f, rdr = reader()
        with f:
            n = 0
            try:
                for n, r in enumerate(rdr, start=1):
                    if n <= h + 1:
                        continue
                    if not any(c.strip() for c in r):
                        continue
                    if n - h - 1 > max_rows:
                        raise TabularError(f"{path.name}: more than {max_rows:,} rows; split the file or raise the source's max_rows")
                    yield n, _row_dict(columns, r, width)
            except csv.Error as exc:
                raise TabularError(f"{path.name}: row {n + 1}: not readable as CSV ({exc})") from None

    return Table(path, "csv", None, h + 1, columns, [], enc, delim, rows)


def _row_dict(columns: list[str], values: list[Any], width: int) -> dict[str, Any]:
    if len(values) > width and any(not _blank(v) for v in values[width:]):
        # Cells beyond the header: keep them under generated names rather than drop them.
        extra = {f"Column {_col_letter(i + 1)}": v for i, v in enumerate(values[width:], start=width)
                 if not _blank(v)}
    else:
        extra = None
    d = {c: (values[i] if i < len(values) else None) for i, c in enumerate(columns)}
    if extra:
        d.update(extra)
    return d


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


def _open_xlsx(path: Path, sheet: str | int | None, header_row: int | None, max_rows: int) -> Table:
    import openpyxl

    _check_zip(path)
    try:
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a damaged workbook
        raise TabularError(f"{path.name}: not a readable XLSX workbook ({type(exc).__name__}); open and re-save it in Excel") from None
    # One workbook and one sheet object for the header scan and the rows: opening a sheet parses
    # its dimensions, which means reading the whole sheet when the exporter wrote none.
    try:
        ws = _pick_sheet(wb, path, sheet)
        title = ws.title
        merges, hidden_cols = _sheet_layout(ws)
        ws.reset_dimensions()  # exporters often write a wrong <dimension>; read what is there
    except BaseException:
        wb.close()
        raise

    def cells(min_row: int = 1) -> Iterator[tuple[int, list[Any]]]:
        fill = _MergeFill(merges)
        for n, values in enumerate(ws.iter_rows(min_row=1, values_only=True), start=1):
            vals = [_excel_value(v) for v in values]
            if merges:
                fill.apply(n, vals)
            if n >= min_row:
                yield n, vals

    head: list[list[Any]] = []
    for _n, vals in cells():
        head.append(vals)
        if len(head) >= HEADER_SCAN_ROWS:
            break
    if not head:
        wb.close()
        raise TabularError(f"{path.name}: sheet '{title}' is empty")
    h = header_row - 1 if header_row else find_header_row(head)
    if h >= len(head):
        wb.close()
        raise TabularError(f"{path.name}: sheet '{title}' has no row {h + 1} to use as the header")
    width = _trim_width(head[h], head[h + 1:])
    columns = unique_headers((list(head[h]) + [None] * width)[:width])
    hidden = [c for i, c in enumerate(columns, start=1) if i in hidden_cols]

    def rows() -> Iterator[Row]:
        count = 0
        for n, vals in cells(min_row=h + 2):
            if all(_blank(v) for v in vals):
                continue
            count += 1
            if count > max_rows:
                raise TabularError(f"{path.name}: sheet '{title}' has more than {max_rows:,} rows; split it or raise the source's max_rows")
            yield n, _row_dict(columns, vals, width)

    return Table(path, "xlsx", title, h + 1, columns, hidden, None, None, rows, wb.close)


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


def read_rows(path: str | Path, **options: Any) -> tuple[Table, list[Row]]:
    """The whole table in memory: for small files (tests, `mapping suggest` samples)."""
    t = open_table(path, **options)
    try:
        return t, list(t.rows())
    finally:
        t.close()
