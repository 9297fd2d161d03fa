"""Bulk inserts from Python rows into DuckDB, and query results read in bounded batches.

``executemany`` runs one INSERT per row, which is slow for tens of thousands of rows; handing
DuckDB a columnar frame is one statement. ``fetchall`` of a whole catalogue table holds every
value as a Python object (several times its size in DuckDB); ``fetch_batches`` holds one batch.
"""
from __future__ import annotations

import contextlib
import itertools
from typing import Iterable, Iterator

import duckdb
import pandas as pd

# Rows per batch of fetch_batches: about 25 MB of Python objects for a row of a few short texts.
BATCH_ROWS = 50_000

_kept_results = itertools.count()


def insert_rows(con: duckdb.DuckDBPyConnection, table: str, columns: list[str], rows: list) -> int:
    """INSERT rows (sequences in ``columns`` order) into ``table``; text stays text, NULLs stay NULL."""
    if not rows:
        return 0
    frame = pd.DataFrame({c: pd.Series([r[i] for r in rows], dtype="object") for i, c in enumerate(columns)})
    # DuckDB 2.0 refuses register() while an earlier execute() result is only partly fetched
    # (e.g. after fetchone()); a new, fully fetched statement closes that one.
    con.execute("SELECT 1").fetchall()
    con.register("_bulk_rows", frame)
    try:
        cols = ", ".join(f'"{c}"' for c in columns)
        con.execute(f"INSERT INTO {table} ({cols}) SELECT {cols} FROM _bulk_rows")
    finally:
        con.unregister("_bulk_rows")
    return len(rows)


@contextlib.contextmanager
def kept_result(con: duckdb.DuckDBPyConnection, sql: str, params=None) -> Iterator[tuple[str, int]]:
    """The result of ``sql`` kept in a DuckDB temporary table for the ``with`` block: yields the
    table's name and the end of its row ids (rows are 0 .. end-1, in the query's order).

    DuckDB holds it in its own memory and spills it to its temporary directory past its memory
    limit, and the connection stays free for other statements while it is read back in parts
    (an open result would be closed by the next statement). The query must not name a column
    ``rowid``: it would hide the row ids the parts are read by.
    """
    table = f"_kept_result_{next(_kept_results)}"
    con.execute(f"CREATE TEMP TABLE {table} AS {sql}", params or [])
    try:
        (end,) = con.execute(f"SELECT coalesce(max(rowid) + 1, 0) FROM {table}").fetchone()
        yield table, end
    finally:
        # A generator left unfinished is closed when collected, possibly after the connection.
        with contextlib.suppress(duckdb.ConnectionException):
            con.execute(f"DROP TABLE IF EXISTS {table}")


def fetch_batches(con: duckdb.DuckDBPyConnection, sql: str, params=None) -> Iterator[list[tuple]]:
    """The rows of ``sql`` in lists of at most BATCH_ROWS, in the query's order (see kept_result;
    the connection may write between batches)."""
    with kept_result(con, sql, params) as (table, end):
        size = BATCH_ROWS
        for start in range(0, end, size):
            yield con.execute(f"SELECT * FROM {table} WHERE rowid >= ? AND rowid < ? ORDER BY rowid",
                              [start, start + size]).fetchall()


def stage_rows(con: duckdb.DuckDBPyConnection, table: str, columns: dict[str, str], batches: Iterable[list]) -> int:
    """A new temporary ``table`` ({column: type}) filled with each batch of rows as it comes;
    returns the number of rows."""
    con.execute(f"CREATE OR REPLACE TEMP TABLE {table} (" + ", ".join(f'"{c}" {t}' for c, t in columns.items()) + ")")
    return sum(insert_rows(con, table, list(columns), rows) for rows in batches)
