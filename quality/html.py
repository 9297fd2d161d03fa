"""HTML sanitising for republishing, mojibake repair, and a plain-text version of a description.

Public functions:

- ``sanitise_html(value) -> str``: mojibake repaired, then the publishing policy's sanitiser
  (``warehouse.publishable.sanitise_html``: the one allow-list of tags and link schemes).
- ``fix_mojibake(value) -> str`` repairs text decoded with the wrong codec (``Â£`` → ``£``,
  ``â€™`` → ``’``) with ftfy.
- ``plain_text(value) -> str`` the description as readable plain text (paragraphs and list items
  on their own lines, entities decoded), from sanitised HTML.
- ``sanitise_catalogue(con)`` applies them to ``catalogue.*`` and fills ``catalogue.plain_text``.
"""
from __future__ import annotations

import duckdb

from connectors.text import html_to_text, looks_like_html, repair_text
from warehouse.bulk import fetch_batches, insert_rows, stage_rows
from warehouse import publishable
from warehouse.model import ORUK_TABLES

# Fields whose value may be HTML and is republished as sanitised HTML (the publishing policy's);
# the others are text fields, where markup is not expected, so it is stripped to plain text.
HTML_FIELDS = publishable.HTML_FIELDS
TEXT_FIELDS: dict[str, tuple[str, ...]] = {
    table: fields for table in ORUK_TABLES
    if (fields := tuple(c for c, kind in publishable.publishable_fields(table) if kind in ("free_text", "person", "text")))}
# A cheap pre-filter: values that could hold markup, an entity or mojibake.
SUSPECT_SQL = "regexp_matches({c}, '[<&]|Ã|Â|â€|Å|Ã©')"


def fix_mojibake(value: str | None) -> str | None:
    """Mojibake repaired and control characters dropped (the connectors' ``repair_text``)."""
    return repair_text(value)


def sanitise_html(value: str | None) -> str | None:
    """Safe HTML for republishing (see the module docstring for what is kept)."""
    if value is None:
        return None
    return publishable.sanitise_html(fix_mojibake(value))


def plain_text(value: str | None) -> str | None:
    """A readable plain-text version of a (possibly HTML) description: the sanitised HTML run
    through the connectors' ``html_to_text`` (one implementation of HTML-to-text)."""
    if value is None:
        return None
    return html_to_text(sanitise_html(value) if "<" in value else fix_mojibake(value))


PLAIN_TEXT_DDL = """
CREATE TABLE IF NOT EXISTS catalogue.plain_text (
    table_name  VARCHAR NOT NULL,   -- service | organization | location | accessibility
    id          VARCHAR NOT NULL,   -- the catalogue row's id
    field       VARCHAR NOT NULL,   -- description | details
    text        VARCHAR             -- the sanitised HTML as plain text
)
"""


def _rewrite(con: duckdb.DuckDBPyConnection, table: str, field: str, clean) -> int:
    """Replace each suspect value of catalogue.<table>.<field> with ``clean(value)``, reading the
    values in batches; returns how many changed."""
    col = '"' + field + '"'
    changes = ([(row_id, new) for row_id, v in rows if (new := clean(v)) != v]
               for rows in fetch_batches(con, f"SELECT id, {col} FROM catalogue.{table} WHERE {SUSPECT_SQL.format(c=col)}"))
    n = stage_rows(con, "sanitise_update", {"id": "VARCHAR", "value": "VARCHAR"}, changes)
    if n:
        con.execute(f"UPDATE catalogue.{table} t SET {col} = u.value FROM sanitise_update u WHERE u.id = t.id")
    return n


def _sanitise_markup(value: str) -> str:
    # Markup is sanitised; a plain-text value stays plain text (only its mojibake is repaired).
    return sanitise_html(value) if looks_like_html(value) else fix_mojibake(value)


def sanitise_catalogue(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Sanitise HTML fields and repair text fields (mojibake, stray markup) in catalogue.*."""
    changed = 0
    for table, fields in HTML_FIELDS.items():
        for field in fields:
            changed += _rewrite(con, table, field, _sanitise_markup)
    for table, fields in TEXT_FIELDS.items():
        for field in fields:
            changed += _rewrite(con, table, field, plain_text)
    return {"values_sanitised": changed}


def write_plain_text(con: duckdb.DuckDBPyConnection) -> int:
    """catalogue.plain_text: a plain-text version of every description (from the sanitised HTML)."""
    con.execute(PLAIN_TEXT_DDL)
    con.execute("DELETE FROM catalogue.plain_text")
    n = 0
    for table, fields in HTML_FIELDS.items():
        for field in fields:
            for rows in fetch_batches(con, f'SELECT id, "{field}" FROM catalogue.{table} WHERE "{field}" IS NOT NULL'):
                # The value was sanitised (and scrubbed) already: only the HTML-to-text step is left.
                n += insert_rows(con, "catalogue.plain_text", ["table_name", "id", "field", "text"],
                                 [(table, row_id, field, html_to_text(v) if any(ch in v for ch in "<&") else v.strip())
                                  for row_id, v in rows])
    return n
