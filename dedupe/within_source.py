"""Duplicates inside one source, reported to that source so that its publisher can fix them.

Whatever the model decides about two records of one source (merged when it is certain of that
very pair, or a reviewer's must-link joined them; queued when it is not), the source hears of it:
one ``quality.issue`` row (rule ``duplicate_listing``) per duplicate, naming both records.

* **Listed twice** (severity ``warning``): records of one source in one golden service. Each
  record after the first (by record id) is reported against the first.
* **Maybe listed twice** (severity ``info``): an uncertain pair of one source (the review band, or
  probable but refused by the clustering) between two golden services that no reviewer has kept
  apart. Pairs vetoed because their venues are far apart are branches, not duplicates, and are
  not reported.
"""
from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd

from dedupe.queue import record_name_sql

RULE = "duplicate_listing"


def report_duplicate_listings(con: duckdb.DuckDBPyConnection, run_id: str, cannot: set[tuple[int, int]] = frozenset(),
                              records: str = "work.match_record") -> dict[str, int]:
    """Write this run's duplicate_listing issues (see the module docstring) from work.record_cluster
    and work.match_pair; ``cannot`` holds the cannot-link decisions as pairs of mids. Returns the
    counts by severity."""
    con.execute("DELETE FROM quality.issue WHERE run_id = ? AND rule = ?", [run_id, RULE])
    name_l, name_r = record_name_sql(con, "l"), record_name_sql(con, "r")
    # Listed twice: the records of one source within one cluster (clusters of one record skipped first).
    con.execute(f"""
        INSERT INTO quality.issue (run_id, source_id, record_id, table_name, field, rule, severity, message)
        WITH shared AS (
            SELECT c.cluster_mid, c.mid FROM work.record_cluster c
            WHERE c.cluster_mid IN (SELECT cluster_mid FROM work.record_cluster GROUP BY 1 HAVING count(*) > 1)),
        members AS (
            SELECT s.cluster_mid, r.mid, r.source_id, r.source_record_id, r.staging_id, r.name,
                   row_number() OVER w AS k, first_value(r.mid) OVER w AS first_mid
            FROM shared s JOIN {records} r USING (mid)
            WINDOW w AS (PARTITION BY s.cluster_mid, r.source_id ORDER BY r.source_record_id))
        SELECT ?, r.source_id, r.source_record_id, 'service', NULL, '{RULE}', 'warning',
               printf('listed twice: %s (record %s) is the same service as %s (record %s) in this source; both were merged '
                      'into one golden service. Keep one of the two records.',
                      {name_r}, r.source_record_id, {name_l}, l.source_record_id)
        FROM members r JOIN {records} l ON l.mid = r.first_mid
        WHERE r.k > 1""", [run_id])
    # Maybe listed twice: uncertain pairs of one source between clusters no reviewer kept apart.
    decided = pd.DataFrame(list(cannot), columns=["x", "y"], dtype=np.int64)
    con.register("decided_mids", decided)
    con.execute(f"""
        INSERT INTO quality.issue (run_id, source_id, record_id, table_name, field, rule, severity, message)
        WITH apart AS (
            SELECT DISTINCT least(cx.cluster_mid, cy.cluster_mid) AS c1, greatest(cx.cluster_mid, cy.cluster_mid) AS c2
            FROM decided_mids d JOIN work.record_cluster cx ON cx.mid = d.x JOIN work.record_cluster cy ON cy.mid = d.y),
        maybe AS (
            SELECT p.mid_l, p.mid_r, p.probability,
                   least(cl.cluster_mid, cr.cluster_mid) AS c1, greatest(cl.cluster_mid, cr.cluster_mid) AS c2
            FROM work.match_pair p
            JOIN {records} l ON l.mid = p.mid_l JOIN {records} r ON r.mid = p.mid_r
            JOIN work.record_cluster cl ON cl.mid = p.mid_l JOIN work.record_cluster cr ON cr.mid = p.mid_r
            WHERE l.source_id = r.source_id AND p.decision IN ('review', 'refused') AND cl.cluster_mid <> cr.cluster_mid)
        SELECT ?, r.source_id, r.source_record_id, 'service', NULL, '{RULE}', 'info',
               printf('maybe listed twice: %s (record %s) may be the same service as %s (record %s) in this source '
                      '(probability %d%%); a reviewer will decide (placecat review). If it is, keep one of the two records.',
                      {name_r}, r.source_record_id, {name_l}, l.source_record_id, CAST(round(100 * m.probability) AS INTEGER))
        FROM maybe m ANTI JOIN apart USING (c1, c2)
        JOIN {records} l ON l.mid = m.mid_l JOIN {records} r ON r.mid = m.mid_r""", [run_id])
    con.unregister("decided_mids")
    return dict(con.execute("SELECT severity, count(*) FROM quality.issue WHERE run_id = ? AND rule = ? GROUP BY 1",
                            [run_id, RULE]).fetchall())
