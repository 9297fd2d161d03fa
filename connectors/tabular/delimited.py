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
"""
from __future__ import annotations

import codecs
import contextlib
import csv
import datetime as dt
import re
import zipfile
from collections import deque
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
# A cell longer than this quarantines its row (it is a runaway quote or a pasted file, not a
# value): 131,072 characters, the limit Python's csv module had by default, which used to reject
# the whole file instead. Excel itself holds at most 32,767 characters in a cell.
MAX_CELL_CHARS = 131_072
# A CSV record is read no further than this: an opening quote that is never closed would
# otherwise take every later line into one cell (in a real export, 60 of 66 rows vanished).
MAX_RECORD_CHARS = 2 * MAX_CELL_CHARS
# The csv module's own limit would end the whole file at the first long cell: ours come first.
csv.field_size_limit(max(csv.field_size_limit(), MAX_RECORD_CHARS + 1))
# Encodings a Windows export in England may really be in: read as Windows-1252 (a superset of
# Latin-1 for text). A guess outside these is used only when the text plainly reads as it.
WESTERN_ENCODINGS = {"cp1252", "windows_1252", "cp1250", "windows_1250", "latin_1", "iso8859_1", "iso8859_15",
                     "iso8859_2", "mac_roman", "cp850", "cp437", "cp1257", "ascii", "utf_8"}


class UnreadableRow:
    """A row the reader could not read as a row: its first line as read (cut) and why, in one line."""

    __slots__ = ("text", "problem")

    def __init__(self, text: str, problem: str):
        # Undecodable bytes (kept as lone surrogates while reading) and NULs cannot be stored.
        self.text = _BAD_BYTES.sub("\ufffd", text[:2000]).replace("\x00", "\ufffd")
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
# A complete UTF-8 sequence of two to four bytes (the non-ASCII characters of a UTF-8 file).
_UTF8_SEQ = re.compile(rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}")
_HIGH = re.compile(rb"[\x80-\xff]")


def detect_encoding(path: Path) -> str:
    """The file's encoding: see ``sniff_encoding``."""
    return sniff_encoding(path)[0]


def sniff_encoding(path: Path, count_bad: bool = False):
    """(encoding, note), and with ``count_bad`` the number of bytes that break UTF-8 (1 for a file
    with a BOM: not counted, so its rows are searched). UTF-8 (with or without BOM) or UTF-16 when
    the bytes say so; UTF-8 too when its multi-byte characters outnumber the bytes that break it (a
    UTF-8 file with a few damaged bytes: those rows are reported, the rest read right); else
    Windows-1252, unless the text plainly reads as another encoding (then that one, with a note)."""
    with open(path, "rb") as f:
        head = f.read(4)
        if head.startswith(codecs.BOM_UTF8):
            return ("utf-8-sig", None, 1) if count_bad else ("utf-8-sig", None)
        if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            return ("utf-16", None, 0) if count_bad else ("utf-16", None)
        f.seek(0)
        good = bad = 0
        samples: list[bytes] = []
        sampled = 0
        tail = b""
        while chunk := f.read(1 << 20):
            # Whole lines only, so no character is split between chunks.
            cut = chunk.rfind(b"\n") + 1
            block, tail = (tail + chunk[:cut], chunk[cut:]) if cut else (b"", tail + chunk)
            good, bad, sampled = _count_utf8(block, good, bad, samples, sampled)
        good, bad, sampled = _count_utf8(tail, good, bad, samples, sampled)
    found = ("utf-8", None) if bad == 0 or good >= bad else _legacy_encoding(path, b"".join(samples))
    return (*found, bad) if count_bad else found


def _count_utf8(block: bytes, good: int, bad: int, samples: list[bytes], sampled: int) -> tuple[int, int, int]:
    if not block or not _HIGH.search(block):
        return good, bad, sampled
    seqs = _UTF8_SEQ.findall(block)
    good += len(seqs)
    bad += len(_HIGH.findall(block)) - sum(map(len, seqs))
    if sampled < 256 * 1024:  # the lines with non-ASCII bytes, for the guess of a legacy encoding
        for line in block.splitlines():
            if _HIGH.search(line):
                samples.append(line + b"\n")
                sampled += len(line) + 1
                if sampled >= 256 * 1024:
                    break
    return good, bad, sampled


def _legacy_encoding(path: Path, sample: bytes) -> tuple[str, str | None]:
    """Windows-1252 unless the non-ASCII text plainly is another encoding: charset_normalizer's
    guess is taken only when the text decodes in it without error and, read as Windows-1252,
    it is mojibake (ftfy) or the guess found a language in it. A single "£" can look Japanese to
    the guesser; Shift-JIS read as Windows-1252 looks like nothing at all."""
    import charset_normalizer
    from ftfy import badness

    best = charset_normalizer.from_bytes(sample).best() if sample else None
    guess = codecs.lookup(best.encoding).name.replace("-", "_") if best is not None else "cp1252"
    if guess in WESTERN_ENCODINGS or guess.startswith("utf"):
        return "cp1252", None  # (UTF-16 and -32 come with a BOM; a guess of them is noise)
    try:
        sample.decode(guess)
    except (UnicodeDecodeError, LookupError):
        return "cp1252", None
    as_western = sample.decode("cp1252", errors="placecat-cp1252")
    if not (badness.is_bad(as_western) or best.coherence >= 0.3):
        return "cp1252", None
    return guess, (f"{path.name}: not UTF-8; its text reads as {guess} (detected), not Windows-1252, so it was read "
                   f"as {guess}; set the source's encoding to confirm it, or save the file as UTF-8")


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


class _RecordTooLong(Exception):
    """Raised through the csv reader when one record has read more than MAX_RECORD_CHARS."""


class _Lines:
    """The physical lines of a CSV file, numbered, as the csv reader takes them: it remembers the
    lines of the record being read, so that a record that turns out unreadable can be put back
    (all but its first line) and read again from the next line."""

    def __init__(self, f):
        self.readline = f.readline
        self.pending: deque[tuple[int, str]] = deque()
        self.number = 0               # the last line number read from the file
        self.record: list[tuple[int, str]] = []
        self.chars = 0
        self.nul = False              # the record holds a NUL byte: binary damage, not text

    def __iter__(self) -> "_Lines":
        return self

    def __next__(self) -> str:
        if self.pending:
            item = self.pending.popleft()
        else:
            line = self.readline()
            if not line:
                raise StopIteration
            self.number += 1
            item = (self.number, line)
        self.record.append(item)
        self.chars += len(item[1])
        if self.chars > MAX_RECORD_CHARS:
            raise _RecordTooLong
        if "\x00" in item[1]:
            self.nul = True
        return item[1]

    def start_record(self) -> None:
        self.record = []
        self.chars = 0

    def put_back_all_but_first(self) -> None:
        self.pending.extendleft(reversed(self.record[1:]))


_BAD_BYTES = re.compile("[\udc80-\udcff]+")


def _show_bytes(escaped: str) -> str:
    return " ".join(f"0x{ord(c) - 0xDC00:02X}" for c in escaped[:8]) + (" ..." if len(escaped) > 8 else "")


def _records(f, delim: str, width_of) -> Iterator[tuple[int, list[str] | UnreadableRow]]:
    """(line number, cells) for every CSV record, or (line number, UnreadableRow). ``width_of()``
    is the header's width once known (None before): a record that runs over several lines is
    accepted only if it has that many cells and none of its line breaks hides a whole row."""
    lines = _Lines(f)
    rdr = csv.reader(lines, delimiter=delim)
    while True:
        lines.record = record = []
        lines.chars = 0
        lines.nul = False
        try:
            cells = next(rdr)
        except StopIteration:
            return
        except _RecordTooLong:
            lines.put_back_all_but_first()
            n, text = record[0]
            yield n, UnreadableRow(text, f"line {n}: the row runs on for more than {MAX_RECORD_CHARS:,} characters "
                                         f"(a quote opened and never closed?); fix the quoting")
            continue
        except csv.Error as exc:
            lines.put_back_all_but_first()
            n, text = record[0] if record else (lines.number, "")
            yield n, UnreadableRow(text, f"line {n}: not readable as CSV ({exc}); fix or remove the line")
            continue
        n = record[0][0]
        if lines.nul:
            lines.put_back_all_but_first()
            yield n, UnreadableRow(record[0][1].replace("\x00", "\ufffd"),
                                   f"line {n}: holds a NUL byte (binary damage, not text); fix or remove the line")
            continue
        if len(record) > 1:
            problem = _runaway_quote(cells, record, delim, width_of())
            if problem:
                lines.put_back_all_but_first()
                yield n, UnreadableRow(record[0][1], f"line {n}: {problem}")
                continue
        if lines.chars > MAX_CELL_CHARS and max(map(len, cells)) > MAX_CELL_CHARS:
            longest = max(map(len, cells))
            yield n, UnreadableRow(record[0][1], f"line {n}: a cell of {longest:,} characters, over the "
                                                 f"{MAX_CELL_CHARS:,}-character limit; shorten it")
            continue
        yield n, cells


def _runaway_quote(cells: list[str], record: list[tuple[int, str]], delim: str, width: int | None) -> str | None:
    """Why a record that runs over several lines is not one row, or None when it is (a cell with
    line breaks in it, such as an address). Two signs of a quote opened and never closed where it
    should have been: the record does not have the header's number of cells, or two or more of its
    lines each hold a whole row's worth of delimiters (rows run together), or it holds an odd
    number of quote marks (the file ended inside the quote)."""
    last = record[-1][0]
    if sum(text.count('"') for _n, text in record) % 2:
        return f"a quote opened here is never closed (the file ends inside it, on line {last}); fix the quoting"
    if width is not None and len(cells) != width and len(cells) > 0:
        return (f"a quote opened here is not closed where the row should end (the row ran on to line {last} with "
                f"{len(cells)} cells, not {width}); fix the quoting")
    need = max(1, (width or 2) - 1)
    if sum(1 for _n, text in record if text.count(delim) >= need) >= 2:
        return f"a quote opened here runs on over whole rows (to line {last}); fix the quoting"
    return None


def _open_csv(path: Path, header_row: int | None, encoding: str | None, delimiter: str | None,
              max_rows: int) -> Table:
    notes: list[str] = []
    bad_bytes = 0
    if encoding:
        enc = encoding
    else:
        enc, note, bad_bytes = sniff_encoding(path, count_bad=True)
        if note:
            notes.append(note)
    cp1252 = enc.replace("-", "").replace("_", "").lower() in ("cp1252", "windows1252")
    # Bytes that do not decode are kept as lone surrogates (then reported and replaced), so one
    # damaged byte never stops the file; UTF-16 has no such escape, so it stays strict.
    errors = "placecat-cp1252" if cp1252 else ("strict" if enc.lower().startswith("utf-16") else "surrogateescape")

    def open_text():
        return open(path, "r", encoding=enc, errors=errors, newline="")

    try:
        with open_text() as f:
            head_text = f.read(64 * 1024)
    except (UnicodeDecodeError, LookupError) as exc:
        raise TabularError(f"{path.name}: cannot be read as {enc} ({exc.__class__.__name__}); "
                           f"save it as UTF-8 CSV or set the source's encoding") from None
    # Binary files (XLS, images, zip) are full of NUL bytes; a text file with a few damaged lines is
    # not binary, and its damaged lines are reported one by one.
    if head_text.count("\x00") > max(8, len(head_text) // 50):
        raise TabularError(f"{path.name}: holds binary data, not CSV text; export the sheet as CSV or XLSX")
    delim = delimiter or sniff_delimiter(head_text)
    width_box: list[int] = []

    def records(f):
        return _records(f, delim, lambda: width_box[0] if width_box else None)

    def undecodable(exc: UnicodeDecodeError) -> TabularError:
        return TabularError(f"{path.name}: cannot be read as {enc} (byte {exc.start} of a line: {exc.reason}); "
                            f"save it as UTF-8 CSV or set the source's encoding")

    head: list[tuple[int, list[str]]] = []
    try:
        with open_text() as f:
            for n, r in records(f):
                if isinstance(r, UnreadableRow):
                    continue
                head.append((n, r))
                if len(head) >= HEADER_SCAN_ROWS:
                    break
    except UnicodeDecodeError as exc:
        raise undecodable(exc) from None
    if header_row:
        h = next((i for i, (n, _r) in enumerate(head) if n >= header_row), len(head))
    else:
        h = find_header_row([r for _n, r in head]) if head else 0
    if h >= len(head):
        raise TabularError(f"{path.name}: no header on row {header_row or h + 1}; the file has only {len(head)} rows")
    header_line = head[h][0]
    head[h] = (header_line, [_BAD_BYTES.sub("\ufffd", c) for c in head[h][1]])  # a header is text, whatever it holds
    width = _trim_width(head[h][1], [r for _n, r in head[h + 1:]])
    width_box.append(width)
    columns = unique_headers((list(head[h][1]) + [None] * width)[:width])
    # Only a file with bytes that do not decode needs each row searched for them.
    check_bytes = errors == "surrogateescape" and not (enc == "utf-8" and bad_bytes == 0)

    def rows() -> Iterator[Row]:
        count = 0
        try:
            with open_text() as f:
                for n, r in records(f):
                    if n <= header_line:
                        continue
                    if type(r) is UnreadableRow:
                        yield n, r
                        continue
                    if not any(r) or not any(c.strip() for c in r):
                        continue
                    count += 1
                    if count > max_rows:
                        raise TabularError(f"{path.name}: more than {max_rows:,} rows; split the file or raise the "
                                           f"source's max_rows")
                    row = _row_dict(columns, r, width)
                    if check_bytes and _BAD_BYTES.search("".join(r)):
                        yield n, _replace_bad_bytes(row, n, enc)
                    else:
                        yield n, row
        except UnicodeDecodeError as exc:
            raise undecodable(exc) from None

    return Table(path, "csv", None, header_line, columns, [], enc, delim, notes, rows)


def _replace_bad_bytes(row: dict[str, Any], n: int, enc: str) -> NotedRow:
    """The row with bytes that did not decode replaced by U+FFFD, and a note per cell."""
    notes = []
    for column, value in row.items():
        if isinstance(value, str) and _BAD_BYTES.search(value):
            shown = ", ".join(_show_bytes(m.group(0)) for m in _BAD_BYTES.finditer(value))
            notes.append(f"line {n}, column '{column}': bytes {shown} are not valid {enc}; replaced with \ufffd. "
                         f"Fix the file, or set the source's encoding if the whole file is in another one")
            row[column] = _BAD_BYTES.sub("\ufffd", value)
    return NotedRow(row, notes)


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
            long_cell = next((v for v in vals if isinstance(v, str) and len(v) > MAX_CELL_CHARS), None)
            if long_cell is not None:
                yield n, UnreadableRow(" | ".join("" if v is None else str(v)[:200] for v in vals[:width]),
                                       f"row {n}: a cell of {len(long_cell):,} characters, over the "
                                       f"{MAX_CELL_CHARS:,}-character limit; shorten it")
                continue
            yield n, _row_dict(columns, vals, width)

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


def read_rows(path: str | Path, **options: Any) -> tuple[Table, list[Row]]:
    """The whole table in memory: for small files (tests, `mapping suggest` samples)."""
    t = open_table(path, **options)
    try:
        return t, list(t.rows())
    finally:
        t.close()
