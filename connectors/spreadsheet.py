"""Spreadsheet sources (``kind: spreadsheet``): a CSV or XLSX export plus a mapping file.

``harvest`` reads the file (``path:``, or ``url:`` fetched with the shared HttpClient), checks the
mapping against its real columns before loading anything, and keeps every row as a raw record
``{column: value}`` under its stable row id, fetched from ``FILE!SHEET:ROW``. ``normalise`` applies
the mapping (``connectors/mapping.py``); each bad cell or row becomes a ``quality.issue`` naming
the file, sheet, row and column, and the good rows load.
"""
from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path
from typing import Any, Iterable
from urllib.parse import urlsplit

from connectors.base import ROWS_LOST_RULE, HarvestError, HarvestOutcome, iter_json_records
from connectors.cells import describe_place, json_safe_value
from connectors.http import HttpClient, HttpPolicy, looks_like_html
from connectors.mapping import BoundMapping, Mapping, load_mapping
from connectors.row_mapper import RowMapper
from connectors.staging import StagingRows
from connectors.tabular import open_table
from connectors.tabular.table import UnreadableRow

INCREMENTAL = False
READER_OPTIONS = ("sheet", "header_row", "encoding", "delimiter", "max_bytes", "max_rows")


def source_mapping(source) -> Mapping:
    base = source.sources_file.parent if source.sources_file else None
    return load_mapping(source.option("mapping"), base)


def reader_options(source, mapping: Mapping) -> dict[str, Any]:
    """The source's reader options win over the mapping's (one mapping, many files)."""
    opts = dict(mapping.reader)
    opts.update({k: source.option(k) for k in READER_OPTIONS if source.option(k) is not None})
    return opts


def file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def json_safe_row(row: dict[str, Any]) -> dict[str, Any]:
    return {k: json_safe_value(v) for k, v in row.items()}


def put_rows(writer, bound: BoundMapping, rows: Iterable[tuple[int, dict | UnreadableRow]], place: str,
             convert=json_safe_row, chunk: int = 5000) -> dict[str, int]:
    """Every row as a raw record under its stable id. Rows without an id, rows repeating an
    earlier row's id, and rows the reader could not read (``UnreadableRow``: their line's text and
    why) are kept too, under their row number, so that normalise quarantines them by number.
    Earlier ids are looked up in the snapshot chunk by chunk, not held in memory, so memory stays
    flat however long the table."""
    stats = {"rows": 0, "without_id": 0, "duplicates": 0, "unreadable": 0}
    batch: list[tuple[int, dict, str | None]] = []
    for n, row in rows:
        stats["rows"] += 1
        if type(row) is UnreadableRow:
            stats["unreadable"] += 1
            writer.put_raw(f"@row{n}", "unreadable_row", {"text": row.text, "problem": row.problem}, f"{place}:{n}")
            continue
        batch.append((n, row, bound.row_id(row)))
        if len(batch) >= chunk:
            _put_batch(writer, batch, place, convert, stats)
            batch = []
    _put_batch(writer, batch, place, convert, stats)
    return stats


def _put_batch(writer, batch: list[tuple[int, dict, str | None]], place: str, convert, stats: dict) -> None:
    writer.flush_raw()
    ids = [rid for _n, _row, rid in batch if rid is not None]
    first_row: dict[str, int] = {}
    if ids:
        for rid, where in writer.con.execute(
                "SELECT record_id, fetched_from FROM raw.record WHERE record_id IN (SELECT unnest(?::VARCHAR[]))",
                [ids]).fetchall():
            first_row[rid] = int(where.rsplit(":", 1)[1])
    for n, row, rid in batch:
        payload = convert(row) if convert else row
        where = f"{place}:{n}"
        notes = getattr(row, "notes", None)
        if notes:  # bytes that did not decode, replaced: reported against the row
            writer.put_raw(f"{rid or '@row' + str(n)}@note{n}", "note",
                           {"record_id": rid or f"@row{n}", "notes": notes}, where)
        if rid is None:
            stats["without_id"] += 1
            writer.put_raw(f"@row{n}", "row_without_id", payload, where)
        elif rid in first_row:
            stats["duplicates"] += 1
            writer.put_raw(f"{rid}@row{n}", f"duplicate_row:{first_row[rid]}", payload, where)
        else:
            first_row[rid] = n
            writer.put_raw(rid, "row", payload, where)


# -- harvest ---------------------------------------------------------------------------------
def fetch_to_file(source, state: dict, workdir: Path) -> tuple[Path | None, dict]:
    """Download the source's URL; (None, state) when the server says it has not changed."""
    with HttpClient(HttpPolicy.from_source(source)) as client:
        res = client.get(source.url, validators=state.get("validators"))
    if res.not_modified:
        return None, state
    if looks_like_html(res.body):
        raise HarvestError(f"{source.url}: served an HTML page instead of a spreadsheet (a login or error page?)")
    name = Path(urlsplit(res.url).path).name or "download"
    path = workdir / name
    path.write_bytes(res.body)
    return path, {"validators": res.validators}


def harvest(source, writer, state: dict, ctx) -> HarvestOutcome:
    mapping = source_mapping(source)
    with tempfile.TemporaryDirectory(prefix="placecat-sheet-") as tmp:
        new_state: dict[str, Any] = {}
        if source.path is not None:
            path = source.path
        else:
            path, new_state = fetch_to_file(source, state, Path(tmp))
            if path is None:
                return HarvestOutcome("unchanged", f"{source.url}: not modified since the last harvest", state=state)
        digest = file_digest(path)
        new_state["sha256"] = digest
        if state.get("sha256") == digest:
            return HarvestOutcome("unchanged", f"{path.name}: same content as the last harvest", state=state)
        table = open_table(path, **reader_options(source, mapping))
        try:
            bound = mapping.bind(table.columns, table.where)
            locator = str(source.path) if source.path is not None else source.url
            place = f"{locator}!{table.sheet}" if table.sheet else locator
            if table.notes:  # about the whole file (its encoding guessed): reported, not lost
                writer.put_raw("@file", "note", {"record_id": None, "notes": table.notes}, place)
            stats = put_rows(writer, bound, table.rows(), place,
                             convert=None if table.format == "csv" else json_safe_row)
        finally:
            table.close()
    stats.update(file=path.name, sheet=table.sheet, header_row=table.header_row,
                 encoding=table.encoding, delimiter=table.delimiter, hidden_columns=table.hidden_columns)
    unreadable = f", {stats['unreadable']} of them unreadable (quarantined)" if stats["unreadable"] else ""
    return HarvestOutcome("complete", f"{stats['rows']} rows from {table.where}{unreadable}", records=stats["rows"],
                          state=new_state, stats=stats)


# -- normalise ---------------------------------------------------------------------------------
def normalise_rows(mapping: Mapping, records: Iterable, rows: StagingRows) -> None:
    """Shared by spreadsheet and sql sources: raw rows -> staging rows through the mapping."""
    mapper: RowMapper | None = None
    for record_id, record_type, row, fetched_from in iter_json_records(records):
        if record_type == "unreadable_row":
            place, _n = describe_place(fetched_from)
            rows.issue(record_id, "service", None, ROWS_LOST_RULE,
                       f"{place}, {row['problem']}; the row was not loaded", "blocking")
            continue
        if record_type == "note":
            for note in row["notes"]:
                rows.issue(row.get("record_id"), "service", None, "encoding", note, "warning")
            continue
        if mapper is None:
            place, _ = describe_place(fetched_from)
            mapper = RowMapper(mapping.bind(list(row), place), rows)
        if record_type == "row":
            try:
                mapper.normalise_row(record_id, row, fetched_from)
            except Exception as exc:  # one malformed row must not sink the file
                place, n = describe_place(fetched_from)
                rows.issue(record_id, "service", None, "normalise",
                           f"{place}, row {n}: could not be read ({type(exc).__name__}: {exc}); the row was not loaded",
                           "blocking")
        elif record_type == "row_without_id":
            place, n = describe_place(fetched_from)
            rows.issue(record_id, "service", "id", "required",
                       f"{place}, row {n}: {mapper.b.missing_id_reason()}; the row was not loaded", "blocking")
        elif record_type.startswith("duplicate_row"):
            place, n = describe_place(fetched_from)
            first = record_type.partition(":")[2]
            rid = record_id.rsplit("@row", 1)[0]
            rows.issue(record_id, "service", "id", "unique",
                       f"{place}, row {n}: has the same id ({rid}) as row {first}; the row was not loaded. "
                       f"Give each row its own id (or choose key columns that tell rows apart)", "blocking")


def normalise(source, records, rows: StagingRows) -> None:
    normalise_rows(source_mapping(source), records, rows)
