"""Record-level rules on staging, written as SQL so they run in bulk.

Each rule yields (source_id, record_id, table_name, field, rule, severity, message) rows into
``quality.issue``. ``blocking`` rules quarantine the record; ``warning`` rules flag it.
"""
from __future__ import annotations

from dataclasses import dataclass

import duckdb

from warehouse.model import SERVICE_STATUSES


@dataclass(frozen=True)
class Rule:
    name: str
    table: str
    field: str | None
    severity: str
    where: str          # SQL predicate over the staging table (alias t) that selects failing rows
    message: str        # SQL expression for the message
    record: str = "t.source_record_id"


STAGING_RULES: tuple[Rule, ...] = (
    Rule("required", "service", "name", "blocking",
         "t.name IS NULL OR trim(t.name) = ''", "'service has no name'"),
    Rule("enum", "service", "status", "warning",
         f"t.status NOT IN {SERVICE_STATUSES!r}",
         "'status "' || t.status || '" is not one of active, inactive, defunct, temporarily closed'"),
    Rule("age_range", "service", "minimum_age", "warning",
         "t.minimum_age < 0 OR t.maximum_age > 120 OR t.minimum_age > t.maximum_age",
         "'age range ' || coalesce(CAST(t.minimum_age AS VARCHAR), '?') || '-' || coalesce(CAST(t.maximum_age AS VARCHAR), '?') || ' is not within 0 <= min <= max <= 120'"),
)


def apply_rules(con: duckdb.DuckDBPyConnection, run_id: str, rules=STAGING_RULES) -> dict[str, int]:
    counts = {}
    for r in rules:
        field_sql = f"'{r.field}'" if r.field else "NULL"
        n_before = con.execute("SELECT count(*) FROM quality.issue WHERE run_id = ?", [run_id]).fetchone()[0]
        con.execute(f"""
            INSERT INTO quality.issue (run_id, source_id, record_id, table_name, field, rule, severity, message)
            SELECT ?, t.source_id, {r.record}, '{r.table}', {field_sql},
                   '{r.name}', '{r.severity}', {r.message}
            FROM staging.{r.table} t WHERE {r.where}
        """, [run_id])
        counts[f"{r.table}.{r.field}:{r.name}"] = con.execute(
            "SELECT count(*) FROM quality.issue WHERE run_id = ?", [run_id]).fetchone()[0] - n_before
    return counts
