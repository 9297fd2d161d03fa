"""Round trip check: what an ORUK source harvested from placecat's output equals what was published.

Ids are the source's own (the golden ids come back as ``source_record_id``); child rows are
compared by content per service, every ORUK column except ids and foreign keys.
"""
from __future__ import annotations

import duckdb

from warehouse.model import oruk_columns
from warehouse.profiles import load_published

SERVICE_CHILDREN = ("schedule", "contact", "language", "funding", "cost_option", "service_area")


def _content_cols(table: str) -> list[str]:
    return [c for c in oruk_columns(table) if c != "id" and not c.endswith("_id")]


def _cols(alias: str, table: str) -> str:
    return ", ".join(f'{alias}."{c}"' for c in _content_cols(table))


def _queries(staging: bool) -> dict[str, str]:
    """table -> SQL giving (service key, content...) rows, over catalogue.* or one source's staging.*"""
    if staging:
        sch, svc_key, where = "staging", "s.source_record_id", "s.source_id = $source"
    else:
        sch, svc_key, where = "catalogue", "s.id", "TRUE"
    q = {"service": f"SELECT {svc_key}, {_cols('s', 'service')} FROM {sch}.service s WHERE {where}"}
    for t in SERVICE_CHILDREN:
        q[t] = f"SELECT {svc_key}, {_cols('t', t)} FROM {sch}.{t} t JOIN {sch}.service s ON s.id = t.service_id WHERE {where}"
    q["organization"] = (f"SELECT {svc_key}, {_cols('o', 'organization')} FROM {sch}.organization o "
                         f"JOIN {sch}.service s ON s.organization_id = o.id WHERE {where}")
    q["phone"] = (f"SELECT {svc_key}, p.number, p.description FROM {sch}.phone p JOIN {sch}.service s "
                  f"ON s.id = p.service_id OR s.id = (SELECT c.service_id FROM {sch}.contact c WHERE c.id = p.contact_id) "
                  f"WHERE {where}")
    loc = (f"FROM {sch}.service_at_location sal JOIN {sch}.service s ON s.id = sal.service_id "
           f"JOIN {sch}.location l ON l.id = sal.location_id")
    q["location"] = f"SELECT {svc_key}, {_cols('l', 'location')} {loc} WHERE {where}"
    q["address"] = f"SELECT {svc_key}, {_cols('a', 'address')} {loc} JOIN {sch}.address a ON a.location_id = l.id WHERE {where}"
    q["accessibility"] = (f"SELECT {svc_key}, {_cols('a', 'accessibility')} {loc} "
                          f"JOIN {sch}.accessibility a ON a.location_id = l.id WHERE {where}")
    q["taxonomy_term"] = (f"SELECT {svc_key}, {_cols('tt', 'taxonomy_term')} FROM {sch}.attribute att "
                          f"JOIN {sch}.service s ON s.id = att.link_id JOIN {sch}.taxonomy_term tt "
                          f"ON tt.id = att.taxonomy_term_id WHERE {where}")
    return q


def _rows(con: duckdb.DuckDBPyConnection, sql: str, source_id: str | None) -> list[tuple]:
    params = {"source": source_id} if "$source" in sql else None
    return sorted(con.execute(sql, params).fetchall(), key=repr) if params else sorted(con.execute(sql).fetchall(), key=repr)


def assert_staging_equals_published(harvest_db, source_id: str, published_db) -> None:
    published = load_published(published_db)
    try:
        expected = {t: _rows(published, sql, None) for t, sql in _queries(staging=False).items()}
    finally:
        published.close()
    with duckdb.connect(str(harvest_db), read_only=True) as con:
        got = {t: _rows(con, sql, source_id) for t, sql in _queries(staging=True).items()}
    assert len(expected["service"]) > 0
    for table in expected:
        missing = [r for r in expected[table] if r not in got[table]]
        extra = [r for r in got[table] if r not in expected[table]]
        assert not missing and not extra, f"{table}: lost {missing[:3]}, gained {extra[:3]}"


def harvest_to_staging(sources_file, state_dir, source_id: str):
    """Harvest and normalise one source the way the nightly job does; returns its snapshot file."""
    from connectors.config import load_sources
    from connectors.refresh import harvest_source, normalise_source
    from warehouse.snapshots import SourceStore

    source = next(s for s in load_sources(sources_file).sources if s.id == source_id)
    harvested = harvest_source(source, state_dir, "round-trip")
    assert harvested.status == "ok", harvested.message
    normalised = normalise_source(source, state_dir, harvested.version, "round-trip")
    assert normalised.status == "ok", normalised.message
    return SourceStore(state_dir, source_id).current().path
