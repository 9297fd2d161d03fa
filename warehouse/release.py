"""The privacy boundary between the night's full catalogue and the file placecat publishes.

A night's build holds everything: raw records as fetched, staging as sources sent it, the
matcher's work and keys (which include personal e-mail addresses and phone numbers), the review
queue and the personal-data findings. None of that may be handed to commissioners. Publishing
therefore writes two files:

- the **published catalogue** (``--db FILE``): a new DuckDB file holding only the tables listed in
  ``PUBLIC_TABLES`` (golden records, gap tables, reference data, run history, the change feed and
  the quality report), with every other table's text passed through the personal-data scrubber
  again. It is written fresh, table by table, never by dropping tables from the build: DuckDB
  does not zero freed blocks, so a dropped table's bytes could still be read from the file;
- the **internal catalogue** (``<db>.state/internal.duckdb``): the whole build, kept in
  the private state folder for the next night (history, matching state, unchanged nights).

``serve`` and ``export`` read only the published file.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

import duckdb

from warehouse import personal
from warehouse.model import ORUK_TABLES

# schema -> the tables that may leave (None: every table of the schema but those in PRIVATE).
PUBLIC_TABLES: dict[str, tuple[str, ...] | None] = {
    "catalogue": None,
    "gap": None,
    "ref": None,
    "ops": ("run", "source", "source_status"),
    "publish": ("change",),
    "quality": ("issue", "quarantine", "record_flag", "expectation_result", "service_richness", "source_health",
                "withheld"),
}
# Catalogue tables that stay inside: the matcher's state (normalised names, e-mails, phones and
# blocking keys of every source record) and the review queue (both records of each pair).
PRIVATE_CATALOGUE_PREFIXES = ("match_", "review_queue")
# (Not "catalogue.duckdb": DuckDB names a file's database after it, and "catalogue" is a schema.)
INTERNAL_FILE = "internal.duckdb"


def internal_path(state_dir: Path) -> Path:
    return state_dir / INTERNAL_FILE


def is_public(schema: str, table: str) -> bool:
    if schema not in PUBLIC_TABLES:
        return False
    allowed = PUBLIC_TABLES[schema]
    if allowed is None:
        return not (schema == "catalogue" and table.startswith(PRIVATE_CATALOGUE_PREFIXES))
    return table in allowed


_SCRIPT_SCHEME_RE = re.compile(r"(?i)\b(javascript|vbscript|data)\s*:")


def _scrub(value: str | None) -> str | None:
    """Text of the report tables (issue messages quote what sources sent): personal data withheld,
    markup and script links defanged so that no viewer of the file can run them."""
    if not value:
        return value
    value = personal.scrub_text(value, names=False)
    if "<" in value or ">" in value:
        value = value.replace("<", "&lt;").replace(">", "&gt;")
    return _SCRIPT_SCHEME_RE.sub(r"\1[:]", value) if ":" in value else value


def write_public_copy(build_path: Path, public_path: Path) -> dict[str, int]:
    """Write the published catalogue (only public tables) to ``public_path``; returns rows per table.

    The ORUK tables were made publishable by the build (``warehouse.publishable``); the text of
    every other table (issue messages, source statuses, conflicts) is scrubbed once more here.
    """
    public_path.unlink(missing_ok=True)
    counts: dict[str, int] = {}
    con = duckdb.connect(str(public_path))
    try:
        con.create_function("pc_scrub", _scrub, ["VARCHAR"], "VARCHAR", null_handling="special")
        con.execute(f"ATTACH '{str(build_path).replace(chr(39), chr(39) * 2)}' AS b (READ_ONLY)")
        tables = con.execute("SELECT schema_name, table_name FROM duckdb_tables() WHERE database_name = 'b' "
                             "ORDER BY 1, 2").fetchall()
        for schema, table in tables:
            if not is_public(schema, table):
                continue
            con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
            cols = con.execute("SELECT column_name, data_type FROM duckdb_columns() WHERE database_name = 'b' "
                               "AND schema_name = ? AND table_name = ? ORDER BY column_index", [schema, table]).fetchall()
            oruk = schema == "catalogue" and table in ORUK_TABLES
            select = ", ".join(
                f'pc_scrub("{c}") AS "{c}"' if t == "VARCHAR" and not oruk and c != "id" and not c.endswith("_id")
                else f'"{c}"' for c, t in cols)
            con.execute(f'CREATE TABLE {schema}."{table}" AS SELECT {select} FROM b.{schema}."{table}"')
            counts[f"{schema}.{table}"] = con.execute(f'SELECT count(*) FROM {schema}."{table}"').fetchone()[0]
        con.execute("DETACH b")
        con.execute("CHECKPOINT")
    finally:
        con.close()
    with open(public_path, "rb+") as f:
        os.fsync(f.fileno())
    return counts
