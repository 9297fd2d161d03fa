"""CSV and XLSX readers: every quirk of the spreadsheets councils send, generated at test time."""
from __future__ import annotations

import datetime as dt
import zipfile

import pytest

from connectors.tabular import open_table, read_rows
from connectors.tabular.table import MAX_CELL_CHARS, NotedRow, TabularError, UnreadableRow
from tests.support.sheets import add_cached_values, replace_in_zip, write_csv, write_xlsx


def test_windows_1252_csv_with_title_rows_semicolons_and_trailing_blanks(tmp_path):
    p = write_csv(tmp_path / "export.csv", ["Ref", "Service", "Cost", "Café"],
                  [["1", "Café Crème", "£2.50", "oui"], ["2", "Lunch club", "£3", ""]],
                  encoding="cp1252", delimiter=";", title_rows=[["Services directory – Hounslow"], []],
                  trailing_blank=3)
    assert "é".encode("cp1252") in p.read_bytes()  # really written in Windows-1252
    table, rows = read_rows(p)
    assert table.encoding == "cp1252" and table.delimiter == ";"
    assert table.header_row == 3
    assert table.columns == ["Ref", "Service", "Cost", "Café"]
    assert rows == [(4, {"Ref": "1", "Service": "Café Crème", "Cost": "£2.50", "Café": "oui"}),
                    (5, {"Ref": "2", "Service": "Lunch club", "Cost": "£3", "Café": ""})]


def test_utf8_bom_and_tab_delimiter(tmp_path):
    p = write_csv(tmp_path / "bom.csv", ["Name", "Postcode"], [["Zoë's group", "TW3 1AA"]],
                  encoding="utf-8-sig", delimiter="\t")
    table, rows = read_rows(p)
    assert table.encoding == "utf-8-sig" and table.delimiter == "\t"
    assert table.columns == ["Name", "Postcode"]  # no BOM glued to the first header
    assert rows[0][1]["Name"] == "Zoë's group"


def test_duplicate_and_blank_headers_are_made_unique(tmp_path):
    p = write_csv(tmp_path / "dup.csv", ["Phone", "phone", "", "Phone"], [["1", "2", "3", "4"]])
    table, rows = read_rows(p)
    assert table.columns == ["Phone", "phone (2)", "Column C", "Phone (3)"]
    assert rows[0][1] == {"Phone": "1", "phone (2)": "2", "Column C": "3", "Phone (3)": "4"}


def test_cells_beyond_the_header_are_kept_not_dropped(tmp_path):
    p = tmp_path / "wide.csv"
    p.write_text("Name,Town\nA,Hounslow,stray note\n", encoding="utf-8")
    _table, rows = read_rows(p)
    assert rows[0][1] == {"Name": "A", "Town": "Hounslow", "Column C": "stray note"}


def test_header_row_can_be_given(tmp_path):
    p = write_csv(tmp_path / "h.csv", ["Name", "Town"], [["A", "B"]], title_rows=[["x", "y"], ["1", "2"]])
    table, rows = read_rows(p, header_row=3)
    assert table.columns == ["Name", "Town"] and rows[0] == (4, {"Name": "A", "Town": "B"})


def _quirky_workbook(tmp_path):
    p = write_xlsx(
        tmp_path / "quirks.xlsx",
        ["Ref", "Organisation", "Service", "Phone", "Phone", "Date", "Start", "Total", "Secret"],
        [[1, "St Mary's", "Toddlers", "020 1", "020 2", dt.date(2024, 5, 1), dt.time(9, 30), "=2+3", "x"],
         [2, None, "Lunch club", None, None, 45413, 0.5, "=3+4", "y"],
         [None] * 9,
         [3, "Age UK", "Walk", None, None, None, None, None, None],
         [None] * 9, [None] * 9],
        title_rows=[["Hounslow services export"], ["Printed 1 May 2024"], []], extra_sheets=("Notes",),
        merges=["B5:B6"], hidden=["I"], formulas={"H5": "=2+3", "H6": "=3+4"},
        number_formats={"F5": "dd/mm/yyyy", "G5": "hh:mm"})
    add_cached_values(p, {"H5": "5", "H6": "7"}, sheet_index=2)
    return p


def test_xlsx_quirks(tmp_path):
    p = _quirky_workbook(tmp_path)
    table, rows = read_rows(p, sheet="services")  # by name, any case
    assert table.sheet == "Services" and table.header_row == 4
    assert table.columns == ["Ref", "Organisation", "Service", "Phone", "Phone (2)", "Date", "Start", "Total", "Secret"]
    assert table.hidden_columns == ["Secret"]
    assert [n for n, _ in rows] == [5, 6, 8]  # Excel's own row numbers; blank and trailing rows skipped
    first, second, third = (r for _, r in rows)
    assert first["Date"] == dt.date(2024, 5, 1) and first["Start"] == dt.time(9, 30)
    assert first["Total"] == 5 and second["Total"] == 7  # cached formula values, never "=2+3"
    assert second["Organisation"] == "St Mary's"  # the merged range fills its cells
    assert third["Organisation"] == "Age UK"
    assert first["Secret"] == "x"  # hidden columns are read, not lost


def test_xlsx_sheet_by_index_and_unknown_sheet(tmp_path):
    p = _quirky_workbook(tmp_path)
    assert open_table(p, sheet=1).sheet == "Services"
    assert open_table(p).sheet == "Notes"
    with pytest.raises(TabularError, match=r"no sheet named 'Providers'; its sheets are Notes, Services"):
        open_table(p, sheet="Providers")
    with pytest.raises(TabularError, match=r"no sheet number 5"):
        open_table(p, sheet=5)


def test_file_size_and_row_limits(tmp_path):
    p = write_csv(tmp_path / "big.csv", ["Name"], [[f"row {i}"] for i in range(100)])
    with pytest.raises(TabularError, match=r"big.csv: .* bytes is more than the 100-byte limit"):
        open_table(p, max_bytes=100)
    table = open_table(p, max_rows=10)
    with pytest.raises(TabularError, match=r"more than 10 rows"):
        list(table.rows())


def test_zip_bomb_is_refused(tmp_path):
    p = tmp_path / "bomb.xlsx"
    with zipfile.ZipFile(p, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("xl/workbook.xml", "<workbook/>")
        z.writestr("xl/worksheets/sheet1.xml", b"\0" * (40 * 1024 * 1024))
    with pytest.raises(TabularError, match=r"bomb.xlsx: part xl/worksheets/sheet1.xml expands \d+x \(a zip bomb\?\)"):
        open_table(p)


@pytest.mark.parametrize("content,message", [
    (b"", "the file is empty"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100, r"\.xls\) workbook; save it as \.xlsx or CSV"),
    (b"PK\x03\x04garbage", "damaged or truncated"),
])
def test_unreadable_files_get_one_clear_line(tmp_path, content, message):
    p = tmp_path / "upload.xlsx"
    p.write_bytes(content)
    with pytest.raises(TabularError, match=message) as info:
        open_table(p)
    assert "\n" not in str(info.value)


def test_missing_file(tmp_path):
    with pytest.raises(TabularError, match="file not found"):
        open_table(tmp_path / "nope.csv")


# -- broken files: every row read or reported, one bad row never takes the rows after it --------------
def _directory_csv(path, n=66, *, replace: dict[int, str] | None = None, encoding="utf-8"):
    """A CSV of ``n`` services, one line each (line 1 the header, service i on line i + 1), with
    some lines replaced by hand."""
    lines = ["Ref,Service Name,Town,Notes"] + [f"{i},Service {i},Leeds,note {i}" for i in range(1, n + 1)]
    for line_number, text in (replace or {}).items():
        lines[line_number - 1] = text
    path.write_bytes(("\n".join(lines) + "\n").encode(encoding))
    return path


def _split(rows):
    good = [(n, r) for n, r in rows if isinstance(r, dict)]
    bad = [(n, r) for n, r in rows if isinstance(r, UnreadableRow)]
    return good, bad


@pytest.mark.parametrize("broken", [
    '7,"Service 7,Leeds,note 7',           # a quote opened in a middle cell and never closed
    '7,Service 7,Leeds,"note 7',           # ... in the last cell: the record would keep the right width
    '7,Service 7,Leeds,"note 7\x00"',      # a NUL byte
])
def test_a_broken_line_is_reported_and_the_rows_after_it_are_read(tmp_path, broken):
    p = _directory_csv(tmp_path / "d.csv", replace={8: broken})
    _table, rows = read_rows(p)
    good, bad = _split(rows)
    assert [n for n, _ in bad] == [8]
    assert bad[0][1].problem.startswith("line 8: ")
    assert len(good) == 65 and [r["Ref"] for _n, r in good] == [str(i) for i in range(1, 67) if i != 7]
    assert [n for n, _ in good][:7] == [2, 3, 4, 5, 6, 7, 9]  # each row's own line


def test_a_quoted_cell_with_line_breaks_is_one_row(tmp_path):
    p = _directory_csv(tmp_path / "d.csv", n=5, replace={3: '2,"Service 2",Leeds,"Flat 1\nHigh Street, Leeds"'})
    _table, rows = read_rows(p)
    good, bad = _split(rows)
    assert not bad and len(good) == 5
    assert good[1] == (3, {"Ref": "2", "Service Name": "Service 2", "Town": "Leeds",
                           "Notes": "Flat 1\nHigh Street, Leeds"})
    assert good[2][0] == 5  # the next row starts on line 5


def test_a_cell_over_the_limit_quarantines_its_row_not_the_file(tmp_path):
    p = _directory_csv(tmp_path / "d.csv", n=10, replace={4: "3,Service 3,Leeds," + "x" * (MAX_CELL_CHARS + 1)})
    _table, rows = read_rows(p)
    good, bad = _split(rows)
    assert [n for n, _ in bad] == [4] and "over the 131,072-character limit" in bad[0][1].problem
    assert len(good) == 9


def test_a_damaged_byte_in_a_utf8_file_is_reported_and_the_rest_reads_as_utf8(tmp_path):
    lines = ["Ref,Name"] + [f"{i},Café {i}" for i in range(1, 11)]
    data = ("\n".join(lines) + "\n").encode("utf-8").replace("Café 4".encode(), b"Caf\xe9 4")
    (tmp_path / "u.csv").write_bytes(data)
    table, rows = read_rows(tmp_path / "u.csv")
    assert table.encoding == "utf-8"
    assert rows[0][1]["Name"] == "Café 1"  # not mojibake: the file was not taken for Windows-1252
    noted = [(n, r) for n, r in rows if isinstance(r, NotedRow)]
    assert [(n, r["Name"]) for n, r in noted] == [(5, "Caf\ufffd 4")]
    assert noted[0][1].notes == ["line 5, column 'Name': bytes 0xE9 are not valid utf-8; replaced with \ufffd. "
                                 "Fix the file, or set the source's encoding if the whole file is in another one"]


def test_a_shift_jis_file_is_read_as_such_and_noted_not_published_as_gibberish(tmp_path):
    lines = ["Ref,Name,Description"] + [f"{i},サポートグループ{i},地域の子育て支援サービスです" for i in range(1, 21)]
    (tmp_path / "sj.csv").write_bytes(("\n".join(lines) + "\n").encode("shift_jis"))
    table, rows = read_rows(tmp_path / "sj.csv")
    assert table.encoding == "cp932"
    assert rows[0][1]["Name"] == "サポートグループ1"
    assert len(table.notes) == 1 and "not UTF-8; its text reads as cp932" in table.notes[0]


def test_a_windows_1252_file_with_one_pound_sign_is_not_taken_for_another_encoding(tmp_path):
    (tmp_path / "p.csv").write_bytes("Ref,Name,Cost\n1,Tea room,£5\n2,Lunch club,free\n".encode("cp1252"))
    table, rows = read_rows(tmp_path / "p.csv")
    assert table.encoding == "cp1252" and not table.notes and rows[0][1]["Cost"] == "£5"


def test_an_over_long_xlsx_cell_quarantines_its_row(tmp_path):
    # Excel (and openpyxl) write at most 32,767 characters in a cell; other exporters do not stop there.
    p = write_xlsx(tmp_path / "long.xlsx", ["Ref", "Name"], [["1", "A"], ["2", "LONGCELL"], ["3", "C"]])
    replace_in_zip(p, b"LONGCELL", b"x" * (MAX_CELL_CHARS + 5))
    table, rows = read_rows(p)
    good, bad = _split(rows)
    assert [r["Ref"] for _n, r in good] == ["1", "3"]
    assert [n for n, _ in bad] == [3] and bad[0][1].problem.startswith("row 3: a cell of 131,077 characters")
