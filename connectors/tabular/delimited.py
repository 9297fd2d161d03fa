"""CSV and other delimited text as councils' exports write it: the encoding sniffed (UTF-8, a BOM,
Windows-1252, or another legacy encoding that plainly fits), the delimiter guessed, the header found,
and each row the parser cannot read (a runaway quote, a NUL byte, undecodable bytes) reported with
its line while the rest load. The package docstring (``connectors/tabular/__init__.py``) says more.
"""
from __future__ import annotations

import codecs
import csv
import re
from collections import deque
from pathlib import Path
from typing import Any, Iterator

from connectors.tabular.table import (BAD_BYTES, HEADER_SCAN_ROWS, MAX_CELL_CHARS, MAX_RECORD_CHARS, NotedRow, Row,
                                      Table, TabularError, UnreadableRow, find_header_row, row_dict, trim_width,
                                      unique_headers)

DELIMITERS = ",;\t|"
# The csv module's own limit would end the whole file at the first long cell: ours come first.
csv.field_size_limit(max(csv.field_size_limit(), MAX_RECORD_CHARS + 1))
# Encodings a Windows export in England may really be in: read as Windows-1252 (a superset of
# Latin-1 for text). A guess outside these is used only when the text plainly reads as it.
WESTERN_ENCODINGS = {"cp1252", "windows_1252", "cp1250", "windows_1250", "latin_1", "iso8859_1", "iso8859_15",
                     "iso8859_2", "mac_roman", "cp850", "cp437", "cp1257", "ascii", "utf_8"}


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
    line breaks in it, such as an address). Signs of a quote opened and never closed where it
    should have been: the file ends inside the quote, or the quote closes in mid-cell (a strict
    reading fails: a real multi-line cell ends at a delimiter or a line end); the record does not
    have the header's number of cells; two or more of its lines each hold a whole row's worth of
    delimiters (rows run together)."""
    last = record[-1][0]
    try:
        for _cells in csv.reader((text for _n, text in record), delimiter=delim, strict=True):
            pass
    except csv.Error:
        return (f"a quote opened here is not closed where a cell ends (the row ran on to line {last}); "
                f"fix the quoting")
    if width is not None and len(cells) != width and len(cells) > 0:
        return (f"a quote opened here is not closed where the row should end (the row ran on to line {last} with "
                f"{len(cells)} cells, not {width}); fix the quoting")
    need = max(1, (width or 2) - 1)
    if sum(1 for _n, text in record if text.count(delim) >= need) >= 2:
        return f"a quote opened here runs on over whole rows (to line {last}); fix the quoting"
    return None


def open_csv(path: Path, header_row: int | None, encoding: str | None, delimiter: str | None,
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
    head[h] = (header_line, [BAD_BYTES.sub("\ufffd", c) for c in head[h][1]])  # a header is text, whatever it holds
    width = trim_width(head[h][1], [r for _n, r in head[h + 1:]])
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
                    row = row_dict(columns, r, width)
                    if check_bytes and BAD_BYTES.search("".join(r)):
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
        if isinstance(value, str) and BAD_BYTES.search(value):
            shown = ", ".join(_show_bytes(m.group(0)) for m in BAD_BYTES.finditer(value))
            notes.append(f"line {n}, column '{column}': bytes {shown} are not valid {enc}; replaced with \ufffd. "
                         f"Fix the file, or set the source's encoding if the whole file is in another one")
            row[column] = BAD_BYTES.sub("\ufffd", value)
    return NotedRow(row, notes)
