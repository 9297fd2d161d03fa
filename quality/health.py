"""Print the latest feed-health scorecard, with a trend arrow for each figure.

The scorecard is ``quality.source_health``: one row per source per run, kept over time (it is a
history table that each run's build copies forward), written at the end of the catalogue stage
by ``record_source_health``. Each row holds: whether the source was up and valid, its records,
quarantined and flagged records, completeness of each key field, the freshness distribution,
taxonomy use, duplicates it contributed, conflicts it lost, and personal-data findings.

``valid`` follows the ORUK validator's pass rule as far as the warehouse can see it: the feed
was read (it is up, or its last good snapshot is in force) and none of its records failed a
blocking rule or the connector's schema checks.
"""
from __future__ import annotations

import argparse
import json
import sys

import duckdb

from quality.richness import FRESHNESS_BUCKETS, KEY_FIELDS, STALE_AFTER_DAYS, source_richness_sql
from warehouse.state import existing_catalogue

SOURCE_HEALTH_COLUMNS: list[tuple[str, str]] = [
    ("run_id", "VARCHAR"), ("run_at", "TIMESTAMP"), ("source_id", "VARCHAR"), ("kind", "VARCHAR"),
    ("status", "VARCHAR"), ("up", "BOOLEAN"), ("valid", "BOOLEAN"),
    ("records", "BIGINT"), ("records_quarantined", "BIGINT"), ("records_flagged", "BIGINT"),
    ("issues_blocking", "BIGINT"), ("issues_warning", "BIGINT"),
    ("richness", "DOUBLE"), ("richness_porism", "DOUBLE"),
    *[(f"pct_{f}", "DOUBLE") for f in KEY_FIELDS],
    *[(f"fresh_{name.replace('-', '_').replace('+', '_plus')}", "BIGINT") for name, _, _ in FRESHNESS_BUCKETS],
    ("undated", "BIGINT"), ("stale", "BIGINT"), ("median_age_days", "DOUBLE"),
    ("taxonomies", "VARCHAR[]"), ("pct_tagged", "DOUBLE"),
    ("duplicates", "BIGINT"), ("conflicts", "BIGINT"), ("personal_data", "BIGINT"),
]


def ensure_source_health(con: duckdb.DuckDBPyConnection) -> None:
    """Create quality.source_health, or add columns a newer placecat knows (history is kept)."""
    con.execute("CREATE SCHEMA IF NOT EXISTS quality")
    con.execute("CREATE TABLE IF NOT EXISTS quality.source_health (" +
                ", ".join(f'"{n}" {t}' for n, t in SOURCE_HEALTH_COLUMNS) + ")")
    for n, t in SOURCE_HEALTH_COLUMNS:
        con.execute(f'ALTER TABLE quality.source_health ADD COLUMN IF NOT EXISTS "{n}" {t}')


def not_quarantined(run_id: str) -> str:
    """SQL condition on a staging service ``s``: its record was not quarantined in ``run_id``."""
    return (f"NOT EXISTS (SELECT 1 FROM quality.quarantine q WHERE q.run_id = '{run_id}' "
            "AND q.source_id = s.source_id AND q.record_id = s.source_record_id)")


def record_source_health(con: duckdb.DuckDBPyConnection, run_id: str) -> int:
    """Write this run's scorecard rows (one per enabled source, broken ones included)."""
    ensure_source_health(con)
    con.execute("DELETE FROM quality.source_health WHERE run_id = ?", [run_id])
    has_pd = bool(con.execute("SELECT count(*) FROM duckdb_tables() WHERE database_name = current_database() "
                              "AND schema_name = 'quality' AND table_name = 'personal_data'").fetchone()[0])
    has_flags = bool(con.execute("SELECT count(*) FROM duckdb_tables() WHERE database_name = current_database() "
                                 "AND schema_name = 'quality' AND table_name = 'record_flag'").fetchone()[0])
    bucket_cols = ", ".join(f'r."{name}" AS fresh_{name.replace("-", "_").replace("+", "_plus")}' for name, _, _ in FRESHNESS_BUCKETS)
    con.execute(f"""
        INSERT INTO quality.source_health BY NAME
        WITH rich AS ({source_richness_sql(not_quarantined(run_id))}),
        recs AS (SELECT source_id, count(*) AS n FROM staging.service GROUP BY 1),
        quar AS (SELECT q.source_id, count(*) AS n FROM quality.quarantine q
                 WHERE q.run_id = '{run_id}' AND EXISTS (SELECT 1 FROM staging.service s
                     WHERE s.source_id = q.source_id AND s.source_record_id = q.record_id) GROUP BY 1),
        flagged AS ({"SELECT source_id, count(*) AS n FROM quality.record_flag WHERE run_id = '" + run_id + "' GROUP BY 1"
                     if has_flags else "SELECT NULL::VARCHAR AS source_id, 0 AS n WHERE FALSE"}),
        iss AS (SELECT source_id, count(*) FILTER (WHERE severity = 'blocking') AS blocking,
                       count(*) FILTER (WHERE severity = 'warning') AS warning,
                       count(*) FILTER (WHERE severity = 'blocking' AND (record_id IS NULL OR rule IN ('schema', 'invalid_json'))) AS source_level
                FROM quality.issue WHERE run_id = '{run_id}' GROUP BY 1),
        tax AS (SELECT s.source_id,
                       list(DISTINCT coalesce(tx.name, tt.taxonomy, 'unnamed') ORDER BY coalesce(tx.name, tt.taxonomy, 'unnamed')) AS vocabularies
                FROM staging.attribute a JOIN staging.service s ON s.id = a.link_id
                LEFT JOIN staging.taxonomy_term tt ON tt.id = a.taxonomy_term_id
                LEFT JOIN staging.taxonomy tx ON tx.id = tt.taxonomy_id GROUP BY 1),
        tagged AS (SELECT s.source_id, round(100.0 * avg(CAST(EXISTS (SELECT 1 FROM staging.attribute a WHERE a.link_id = s.id) AS INTEGER)), 1) AS pct
                   FROM staging.service s GROUP BY 1),
        dup AS (SELECT ss.source_id, count(*) AS n FROM catalogue.service_source ss
                WHERE ss.service_id IN (SELECT service_id FROM catalogue.service_source GROUP BY 1 HAVING count(*) > 1)
                GROUP BY 1),
        conf AS (SELECT source_id, count(*) AS n FROM (SELECT DISTINCT service_id, field, source_id FROM catalogue.conflict
                 WHERE NOT coalesce(chosen, FALSE)) GROUP BY 1),
        pd AS ({"SELECT source_id, count(*) AS n FROM quality.personal_data WHERE run_id = '" + run_id + "' GROUP BY 1"
                if has_pd else "SELECT NULL::VARCHAR AS source_id, 0 AS n WHERE FALSE"})
        SELECT '{run_id}' AS run_id, coalesce(run.started_at, now()::TIMESTAMP) AS run_at, st.source_id, st.kind, st.status,
               st.status IN ('ok', 'unchanged') AS up,
               st.snapshot_version IS NOT NULL AND st.status NOT IN ('dropped', 'failed', 'no-data')
                   AND coalesce(iss.blocking, 0) = 0 AND coalesce(recs.n, 0) > 0 AS valid,
               coalesce(recs.n, 0) AS records, coalesce(quar.n, 0) AS records_quarantined,
               coalesce(flagged.n, 0) AS records_flagged,
               coalesce(iss.blocking, 0) AS issues_blocking, coalesce(iss.warning, 0) AS issues_warning,
               r.richness, r.richness_porism, {", ".join(f"r.pct_{f}" for f in KEY_FIELDS)},
               {bucket_cols}, r.undated, r.stale, r.median_age_days,
               coalesce(tax.vocabularies, []) AS taxonomies, tagged.pct AS pct_tagged,
               coalesce(dup.n, 0) AS duplicates, coalesce(conf.n, 0) AS conflicts, coalesce(pd.n, 0) AS personal_data
        FROM ops.source_status st
        LEFT JOIN ops.run run ON run.run_id = st.run_id
        LEFT JOIN rich r USING (source_id) LEFT JOIN recs USING (source_id) LEFT JOIN quar USING (source_id)
        LEFT JOIN flagged USING (source_id) LEFT JOIN iss USING (source_id) LEFT JOIN tax USING (source_id)
        LEFT JOIN tagged USING (source_id) LEFT JOIN dup USING (source_id) LEFT JOIN conf USING (source_id)
        LEFT JOIN pd USING (source_id)
        WHERE st.run_id = '{run_id}'
    """)
    return con.execute("SELECT count(*) FROM quality.source_health WHERE run_id = ?", [run_id]).fetchone()[0]


# ------------------------------------------------------------------ printing ------------------

# (column, heading, higher is better?) for the main table.
MAIN_FIGURES = (
    ("records", "records", None), ("records_quarantined", "quarant.", False), ("records_flagged", "flagged", False),
    ("richness", "richness", True), ("richness_porism", "porism", True), ("stale_pct", "stale%", False),
    ("pct_tagged", "tagged%", True), ("duplicates", "dupes", None), ("conflicts", "conflicts", False),
    ("personal_data", "personal", False),
)


def trend_arrow(current, previous) -> str:
    """↑ up, ↓ down, → unchanged, · no earlier run to compare with."""
    if current is None or previous is None:
        return "·"
    if abs(float(current) - float(previous)) < 1e-9:
        return "→"
    return "↑" if current > previous else "↓"


def _fmt(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "NO"
    if isinstance(v, float):
        return f"{v:.1f}" if v != int(v) else f"{int(v)}"
    return str(v)


def load_scorecards(con: duckdb.DuckDBPyConnection) -> tuple[list[dict], dict[str, dict]]:
    """The latest run's rows and, per source, its row from the run before."""
    cur = con.execute("""
        SELECT *, CASE WHEN records - records_quarantined > 0
                       THEN round(100.0 * stale / (records - records_quarantined), 1) END AS stale_pct
        FROM quality.source_health ORDER BY run_at DESC, run_id DESC, source_id""")
    names = [d[0] for d in cur.description]
    recs = [dict(zip(names, r)) for r in cur.fetchall()]
    if not recs:
        return [], {}
    latest_run = recs[0]["run_id"]
    latest = [r for r in recs if r["run_id"] == latest_run]
    previous: dict[str, dict] = {}
    for r in recs:
        if r["run_id"] != latest_run and r["source_id"] not in previous:
            previous[r["source_id"]] = r
    return latest, previous


def format_scorecard(latest: list[dict], previous: dict[str, dict]) -> str:
    if not latest:
        return "no scorecard yet"
    run_id, run_at = latest[0]["run_id"], latest[0]["run_at"]
    lines = [f"feed health, run {run_id} ({str(run_at)[:19]}); arrows compare with each source's previous run",
             "", "source".ljust(24) + "status".ljust(10) + "up  " + "valid " +
             "".join(h.rjust(12) for _, h, _ in MAIN_FIGURES)]
    for r in latest:
        p = previous.get(r["source_id"], {})
        cells = "".join((_fmt(r.get(c)) + " " + trend_arrow(r.get(c), p.get(c))).rjust(12) for c, _, _ in MAIN_FIGURES)
        lines.append(f"{r['source_id'][:23]:<24}{str(r['status'])[:9]:<10}{_fmt(r['up']):<4}{_fmt(r['valid']):<6}{cells}")
    lines += ["", "completeness of key fields, % of records in the catalogue (not quarantined)",
              "source".ljust(24) + "".join(f.rjust(13) for f in KEY_FIELDS)]
    for r in latest:
        p = previous.get(r["source_id"], {})
        lines.append(f"{r['source_id'][:23]:<24}" + "".join(
            (_fmt(r.get(f"pct_{f}")) + " " + trend_arrow(r.get(f"pct_{f}"), p.get(f"pct_{f}"))).rjust(13) for f in KEY_FIELDS))
    bucket_cols = [(f"fresh_{n.replace('-', '_').replace('+', '_plus')}", n) for n, _, _ in FRESHNESS_BUCKETS]
    lines += ["", f"freshness: age of assured_date (or last modification); stale = older than {STALE_AFTER_DAYS} days or undated",
              "source".ljust(24) + "".join(n.rjust(10) for _, n in bucket_cols) + "undated".rjust(10) + "median days".rjust(14)
              + "   taxonomies"]
    for r in latest:
        p = previous.get(r["source_id"], {})
        cells = "".join((_fmt(r.get(c)) + " " + trend_arrow(r.get(c), p.get(c))).rjust(10) for c, _ in bucket_cols)
        tax = ", ".join(r.get("taxonomies") or []) or "-"
        lines.append(f"{r['source_id'][:23]:<24}{cells}{(_fmt(r.get('undated'))).rjust(10)}"
                     f"{(_fmt(r.get('median_age_days')) + ' ' + trend_arrow(r.get('median_age_days'), p.get('median_age_days'))).rjust(14)}   {tax}")
    return "\n".join(lines)


def configure_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("--db", required=True, help="the published catalogue DuckDB file")
    p.add_argument("--json", action="store_true", help="print the latest scorecard rows as JSON instead of a table")


def run(args: argparse.Namespace) -> int:
    db = existing_catalogue(args.db)
    try:
        con = duckdb.connect(str(db), read_only=True)
    except duckdb.Error as exc:
        print(f"placecat: {db}: cannot open the catalogue ({str(exc).splitlines()[0]})", file=sys.stderr)
        return 2
    with con:
        exists = con.execute("SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'quality' "
                             "AND table_name = 'source_health'").fetchone()[0]
        if not exists:
            print(f"placecat: {db}: has no feed-health scorecard yet (quality.source_health); run the nightly job with this placecat version",
                  file=sys.stderr)
            return 1
        latest, previous = load_scorecards(con)
    if args.json:
        print(json.dumps(latest, default=str, indent=1))
    else:
        print(format_scorecard(latest, previous))
    return 0 if latest else 1
