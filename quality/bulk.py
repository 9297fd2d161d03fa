"""Bulk inserts from Python rows into DuckDB.

``executemany`` runs one INSERT per row, which is slow for tens of thousands of rows; handing
DuckDB a columnar frame is one statement.
"""
from __future__ import annotations

import duckdb
import pandas as pd


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
