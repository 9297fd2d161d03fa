"""Database sources (``kind: sql``): a supplier database with no API, read through SQLAlchemy.

``url`` is an SQLAlchemy URL (``postgresql+psycopg://reader@db.example/directory``,
``mysql+pymysql://...``, ``sqlite:///file.db``). Credentials never live in the YAML: write
``${VAR}`` anywhere in the URL and it is filled from the environment at harvest time, or name the
variable holding the password with ``credentials_env:``. ``table:`` (optionally ``schema.table``)
or ``query:`` says what to read, ``mapping:`` how its columns become ORUK fields (the same mapping
files as spreadsheets).

Rows are streamed with a server-side cursor, ``chunk_size`` at a time (psycopg's named cursors,
PyMySQL's unbuffered cursor), so a million-row table never sits in memory at once.
"""
from __future__ import annotations

import datetime as dt
import decimal
import os
import re
import uuid
from typing import Any, Iterator

from connectors.base import HarvestError, HarvestOutcome
from connectors.config import ConfigError
from connectors.spreadsheet import normalise_rows, put_rows, source_mapping

INCREMENTAL = False
DEFAULT_CHUNK = 5000
_VAR_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_TABLE_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*(\.[A-Za-z_][A-Za-z0-9_$]*)?$")


def expand_env(text: str, source_id: str, env: dict[str, str] | None = None) -> str:
    env = os.environ if env is None else env

    def sub(m: re.Match) -> str:
        name = m.group(1)
        if name not in env:
            raise ConfigError(f"source '{source_id}': field 'url': environment variable {name} is not set; "
                              f"export it where placecat runs (credentials never go in the sources file)")
        from urllib.parse import quote
        return quote(env[name], safe="")

    return _VAR_RE.sub(sub, text)


def engine_url(source, env: dict[str, str] | None = None):
    import sqlalchemy as sa

    try:
        url = sa.engine.make_url(expand_env(source.url, source.id, env))
    except sa.exc.ArgumentError:
        raise ConfigError(f"source '{source.id}': field 'url': not an SQLAlchemy URL "
                          f"(e.g. postgresql+psycopg://user@host/db)") from None
    var = source.option("credentials_env")
    if var:
        env = os.environ if env is None else env
        if var not in env:
            raise ConfigError(f"source '{source.id}': field 'credentials_env': environment variable {var} is not set")
        url = url.set(password=env[var])
    return url


def select_statement(source):
    import sqlalchemy as sa

    if source.option("query"):
        return sa.text(str(source.option("query")))
    name = str(source.option("table"))
    if not _TABLE_RE.match(name):
        raise ConfigError(f"source '{source.id}': field 'table': '{name}' is not a table name; "
                          f"write table or schema.table, or use query:")
    schema, _, table = name.rpartition(".")
    return sa.select(sa.text("*")).select_from(sa.table(table, schema=schema or None))


def plain_value(v: Any) -> Any:
    """A database value as JSON can hold it."""
    if v is None or isinstance(v, (str, int, float, bool)):
        return v
    if isinstance(v, decimal.Decimal):
        return int(v) if v == v.to_integral_value() else float(v)
    if isinstance(v, (dt.date, dt.time, dt.datetime)):
        return v.isoformat()
    if isinstance(v, uuid.UUID):
        return str(v)
    if isinstance(v, (bytes, bytearray, memoryview)):
        return None  # binary columns (photos, attachments) are not directory data
    return str(v)


def stream_rows(source, chunk_size: int | None = None, env: dict[str, str] | None = None
                ) -> tuple[list[str], Iterator[tuple[int, dict]], Any]:
    """(column names, the rows as (ordinal, {column: value}), the engine to dispose)."""
    import sqlalchemy as sa

    url = engine_url(source, env)
    chunk = int(chunk_size or source.option("chunk_size") or DEFAULT_CHUNK)
    engine = sa.create_engine(url, pool_pre_ping=False)
    shown = url.render_as_string(hide_password=True)
    try:
        conn = engine.connect().execution_options(stream_results=True, yield_per=chunk)
        result = conn.execute(select_statement(source))
    except sa.exc.SQLAlchemyError as exc:
        engine.dispose()
        first = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise HarvestError(f"{shown}: {first}") from None
    columns = [str(c) for c in result.keys()]

    def rows() -> Iterator[tuple[int, dict]]:
        n = 0
        try:
            for part in result.partitions(chunk):
                for r in part:
                    n += 1
                    yield n, {c: plain_value(v) for c, v in zip(columns, r)}
        except sa.exc.SQLAlchemyError as exc:
            first = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
            raise HarvestError(f"{shown}: failed after {n} rows: {first}") from None
        finally:
            result.close()
            conn.close()

    return columns, rows(), engine


def describe(source) -> str:
    return f"table {source.option('table')}" if source.option("table") else "query"


def harvest(source, writer, state: dict, ctx) -> HarvestOutcome:
    mapping = source_mapping(source)
    columns, rows, engine = stream_rows(source)
    try:
        url = engine.url.render_as_string(hide_password=True)
        what = describe(source)
        bound = mapping.bind(columns, f"{url} ({what})")
        stats = put_rows(writer, bound, rows, f"{url}#{what}", convert=None)
    finally:
        rows.close()
        engine.dispose()
    return HarvestOutcome("complete", f"{stats['rows']} rows from {what}", records=stats["rows"], stats=stats)


def normalise(source, records, rows) -> None:
    normalise_rows(source_mapping(source), records, rows)
