"""The review queue: which pairs a person is asked about, in what order, how many, and why.

The model decides which scored pairs are uncertain (``work.match_pair`` rows whose decision is not
``match``: the uncertain band, and probable pairs vetoed or refused by the clustering). From those,
``write_review_queue`` builds ``catalogue.review_queue``:

* **Never asked again.** Pairs whose golden services a person has already kept apart (a cannot-link
  between any of their records, found by id or content fingerprint: dedupe.overrides) are left
  out; pairs a must-link already put in one cluster are merged, not uncertain.
* **One question per pair of services.** Several uncertain pairs between the same two clusters are
  one decision: the most probable stands for them, with ``pairs`` saying how many it covers.
* **Ranked by what deciding it would change**: the records of the two clusters a must-link would
  join (``records_affected``, the larger first), then the more probable first (the likelier merge).
* **Bounded**: at most ``QUEUE_SHARE`` of the records (1 %: 10,000 pairs at a million records), and
  never fewer than ``QUEUE_FLOOR`` places; what is cut is counted, and comes back on a later night
  once the pairs above it are decided.
* **Why**: each pair's comparisons and the weight each counted (``reasons``, the JSON that
  ``match_reason`` uses), so that ``placecat review`` can say which pulled which way.
"""
from __future__ import annotations

import json
import math

import duckdb
import numpy as np
import pandas as pd

from dedupe.overrides import fingerprint_sql
from dedupe.scoring import DOUBTFUL_WEIGHT, explain_pair

QUEUE_SHARE = 0.01
QUEUE_FLOOR = 100

REVIEW_QUEUE_DDL = """
CREATE OR REPLACE TABLE catalogue.review_queue (
    rank             INTEGER,      -- 1 = decide first
    source_id_a VARCHAR, record_id_a VARCHAR, name_a VARCHAR, fingerprint_a VARCHAR,
    source_id_b VARCHAR, record_id_b VARCHAR, name_b VARCHAR, fingerprint_b VARCHAR,
    probability      DOUBLE,
    decision         VARCHAR,      -- review (uncertain band) | veto (venues far apart) | refused (would chain)
    levels           VARCHAR,      -- JSON: comparison -> level
    reasons          VARCHAR,      -- JSON: prior_weight and each comparison's level and counted weight
    cluster_size_a   INTEGER,      -- records in the golden service of a, and of b
    cluster_size_b   INTEGER,
    records_affected INTEGER,      -- records a must-link would bring together
    pairs            INTEGER,      -- uncertain pairs between the two services that this one stands for
    same_source      BOOLEAN       -- a possible duplicate inside one source
)
"""


def record_name_sql(con: duckdb.DuckDBPyConnection, alias: str, inputs: str = "work.match_input") -> str:
    """SQL for the name of match record ``alias`` as its source published it: from staging (the
    nightly build), else from the match inputs (placecat match), else as matched (normalised)."""
    tables = {f"{s}.{t}" for s, t in con.execute("SELECT schema_name, table_name FROM duckdb_tables()").fetchall()}
    found = [f"(SELECT x.name FROM {t} x WHERE x.{key} = {alias}.staging_id LIMIT 1)"
             for t, key in (("staging.service", "id"), (inputs, "staging_id")) if t in tables]
    return f"coalesce({', '.join(found + [f'{alias}.name'])})"


# Why a pair whose comparisons agree is still a question (dedupe.scoring: doubtful pairs are held at
# probability 0.9): the same for every such pair, in words a reviewer can act on.
HELD_AT_CAP = ("held below the merge line: this name is listed more than once at this place (or by its "
               "organisation at several places, and a listing gives no venue), and nothing here says which "
               "listing this is; check the days, times and address")


def queue_limit(records: int) -> int:
    return max(QUEUE_FLOOR, math.ceil(records * QUEUE_SHARE))


def write_review_queue(con: duckdb.DuckDBPyConnection, model, cannot: set[tuple[int, int]] = frozenset(),
                       records: str = "work.match_record", inputs: str = "work.match_input",
                       limit: int | None = None) -> dict:
    """Fill catalogue.review_queue from work.match_pair and work.record_cluster (see the module
    docstring); ``cannot`` holds the cannot-link decisions as pairs of mids. Returns the counts."""
    comparisons = model.comparisons
    total = con.execute(f"SELECT count(*) FROM {records}").fetchall()[0][0]
    limit = queue_limit(total) if limit is None else limit
    con.execute(REVIEW_QUEUE_DDL)
    # Cannot-links as pairs of clusters: every pair between two such clusters has been answered.
    decided = pd.DataFrame(list(cannot), columns=["x", "y"], dtype=np.int64)
    con.register("decided_mids", decided)
    con.execute("""
        CREATE OR REPLACE TEMP TABLE decided_clusters AS
        SELECT DISTINCT least(cx.cluster_mid, cy.cluster_mid) AS c1, greatest(cx.cluster_mid, cy.cluster_mid) AS c2
        FROM decided_mids d JOIN work.record_cluster cx ON cx.mid = d.x JOIN work.record_cluster cy ON cy.mid = d.y""")
    con.unregister("decided_mids")
    g_cols = ", ".join(f'p."g_{c.name}"' for c in comparisons)
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE queue_pair AS
        WITH open AS (
            SELECT p.mid_l, p.mid_r, p.probability, p.match_weight, p.decision, {g_cols},
                   least(cl.cluster_mid, cr.cluster_mid) AS c1, greatest(cl.cluster_mid, cr.cluster_mid) AS c2
            FROM work.match_pair p
            JOIN work.record_cluster cl ON cl.mid = p.mid_l JOIN work.record_cluster cr ON cr.mid = p.mid_r
            WHERE p.decision <> 'match' AND cl.cluster_mid <> cr.cluster_mid),
        asked AS (SELECT * FROM open ANTI JOIN decided_clusters USING (c1, c2)),
        one AS (
            SELECT *, count(*) OVER w AS pairs,
                   row_number() OVER (w ORDER BY probability DESC, mid_l, mid_r) AS k
            FROM asked WINDOW w AS (PARTITION BY c1, c2)),
        sizes AS (
            SELECT cluster_mid, count(*) AS n FROM work.record_cluster
            WHERE cluster_mid IN (SELECT c1 FROM one WHERE k = 1 UNION SELECT c2 FROM one WHERE k = 1) GROUP BY 1)
        SELECT o.*, sl.n AS size_l, sr.n AS size_r
        FROM one o
        JOIN work.record_cluster xl ON xl.mid = o.mid_l JOIN sizes sl ON sl.cluster_mid = xl.cluster_mid
        JOIN work.record_cluster xr ON xr.mid = o.mid_r JOIN sizes sr ON sr.cluster_mid = xr.cluster_mid
        WHERE o.k = 1""")
    counts = con.execute("""SELECT (SELECT count(*) FROM work.match_pair WHERE decision <> 'match'),
                                   (SELECT coalesce(sum(pairs), 0) FROM queue_pair), (SELECT count(*) FROM queue_pair)""").fetchall()[0]
    uncertain, asked, distinct = (int(x) for x in counts)
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE queue_top AS
        SELECT q.*, row_number() OVER (ORDER BY q.size_l + q.size_r DESC, q.probability DESC,
                                                hash(l.source_id, l.source_record_id, r.source_id, r.source_record_id)) AS rank
        FROM queue_pair q JOIN {records} l ON l.mid = q.mid_l JOIN {records} r ON r.mid = q.mid_r
        QUALIFY rank <= {int(limit)}""")
    # Why, once per distinct combination of levels (as the cluster writer explains merges).
    levels = con.execute(f"SELECT rank, {g_cols.replace('p.', 'q.')} FROM queue_top q").fetchnumpy()
    g = np.column_stack([np.asarray(levels[f"g_{c.name}"], np.int64) for c in comparisons]) if len(levels["rank"]) \
        else np.zeros((0, len(comparisons)), np.int64)
    distinct_levels, which = np.unique(g, axis=0, return_inverse=True) if len(g) else (g, np.zeros(0, np.int64))
    explained = [json.dumps(explain_pair(model, row)) for row in distinct_levels]
    con.register("queue_reasons", pd.DataFrame({"rank": np.asarray(levels["rank"], np.int64),
                                                "reasons": pd.Series([explained[i] for i in np.asarray(which).reshape(-1)],
                                                                     dtype=object)}))
    level_json = ", ".join(
        f"'{c.name}': CASE q.\"g_{c.name}\" " + " ".join(f"WHEN {i} THEN '{lv.label}'" for i, lv in enumerate(c.levels))
        + " ELSE 'not compared' END" for c in comparisons)
    con.execute(f"""
        INSERT INTO catalogue.review_queue
        SELECT q.rank,
               l.source_id, l.source_record_id, {record_name_sql(con, 'l')}, {fingerprint_sql('il')},
               r.source_id, r.source_record_id, {record_name_sql(con, 'r')}, {fingerprint_sql('ir')},
               q.probability, q.decision, to_json({{{level_json}}}),
               -- A pair held at the doubtful cap says so: its comparisons alone would merge it.
               CASE WHEN abs(q.match_weight - {DOUBTFUL_WEIGHT!r}) < 1e-9
                    THEN CAST(json_merge_patch(w.reasons, json_object('held', ?)) AS VARCHAR)
                    ELSE w.reasons END,
               q.size_l, q.size_r, q.size_l + q.size_r, q.pairs, l.source_id = r.source_id
        FROM queue_top q JOIN queue_reasons w USING (rank)
        JOIN {records} l ON l.mid = q.mid_l JOIN {records} r ON r.mid = q.mid_r
        LEFT JOIN {inputs} il ON il.staging_id = l.staging_id LEFT JOIN {inputs} ir ON ir.staging_id = r.staging_id
        ORDER BY q.rank""", [HELD_AT_CAP])
    con.unregister("queue_reasons")
    queued = con.execute("SELECT count(*) FROM catalogue.review_queue").fetchall()[0][0]
    for table in ("decided_clusters", "queue_pair", "queue_top"):
        con.execute(f"DROP TABLE {table}")
    return {"uncertain_pairs": uncertain, "already_decided": uncertain - asked, "questions": distinct,
            "queued": queued, "not_queued": distinct - queued, "queue_limit": limit}
