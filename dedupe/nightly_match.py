"""The matcher in the nightly build: staging services -> ``work.service_cluster`` and the review queue.

Called by ``pipelines.stages.match_services`` on the run's build file. Staging is flattened and
keyed (``dedupe.records``), matched (``dedupe.matcher``) with the overrides file honoured, and
the result written to the boundary table ``work.service_cluster`` that ``dedupe.golden`` reads.
Pairs in the uncertain band go to ``catalogue.review_queue`` (``dedupe.queue``); the match keys, scored pairs and
the learned model, each record's cluster and its blocking keys are kept in ``catalogue.match_*``
so that later runs can match incrementally
and ``placecat explain`` can speak about them.
"""
from __future__ import annotations

import json

import duckdb

from dedupe.blocking import SERVICE_BLOCKING, rules_signature
from dedupe.exact import CLUSTER_DDL, eligible_services_sql
from dedupe.entities import match_entities
from dedupe.matcher import _has_tables, match_records
from dedupe.comparisons import SERVICE_COMPARISONS
from dedupe.overrides import load_overrides
from dedupe.queue import write_review_queue
from dedupe.within_source import report_duplicate_listings
from dedupe.scoring import Model
from dedupe.records import flatten_staging, key_records

MATCH_STATE_DDL = [
    """CREATE TABLE IF NOT EXISTS catalogue.match_model (run_id VARCHAR, model JSON)""",
]


def match_staging_services(con: duckdb.DuckDBPyConnection, run_id: str, overrides_path=None) -> dict:
    con.execute("CREATE SCHEMA IF NOT EXISTS work")
    con.execute(CLUSTER_DDL)
    entities = match_entities(con)
    n = flatten_staging(con, eligible_services_sql(run_id))
    if n == 0:
        return {"records": 0, "clusters": 0, **entities}
    gone = _records_gone(con)
    fresh = key_records(con, previous="previous" if _has_previous(con, ("match_record",)) else None)
    _count_night_changes(con, fresh, gone)
    overrides = load_overrides(overrides_path)
    model, previous = previous_model(con, fresh, n)
    # Pairs within one source are scored too: a source that lists a service twice is merged when the
    # model is certain, queued when not, and told either way (dedupe.within_source).
    outcome = match_records(con, link_only=False, overrides=overrides, model=model, previous=previous)
    con.execute("""
        INSERT INTO work.service_cluster
        SELECT r.staging_id, r.source_id, r.source_record_id, f.staging_id, c.score, c.reason
        FROM work.record_cluster c
        JOIN work.match_record r ON r.mid = c.mid
        JOIN work.match_record f ON f.mid = c.cluster_mid
    """)
    _, cannot, resolved = overrides.resolve_in(con)
    queue = write_review_queue(con, outcome.model, cannot)
    duplicate_listings = report_duplicate_listings(con, run_id, cannot)
    # Decisions the run could not honour, for `placecat review` to show beside the queue.
    con.execute("CREATE OR REPLACE TABLE catalogue.override_not_honoured (message VARCHAR)")
    for line in resolved["contradictions"]:
        con.execute("INSERT INTO catalogue.override_not_honoured VALUES (?)", [line])
    con.execute("UPDATE ops.run SET summary = json_merge_patch(coalesce(summary, '{}'), ?) WHERE run_id = ?",
                [json.dumps({"overrides_not_honoured": len(resolved["contradictions"])}), run_id])
    for ddl in MATCH_STATE_DDL:
        con.execute(ddl)
    con.execute("DELETE FROM catalogue.match_model")
    # The blocking rules are stored with the model: the stored block keys are only reusable under the same rules.
    stored = json.loads(outcome.model.to_json()) | {"blocking": rules_signature(SERVICE_BLOCKING)}
    con.execute("INSERT INTO catalogue.match_model VALUES (?, ?)", [run_id, json.dumps(stored)])
    # Kept for the next run's incremental matching and for `placecat explain`.
    con.execute("CREATE OR REPLACE TABLE catalogue.match_record AS SELECT * FROM work.match_record")
    con.execute("CREATE OR REPLACE TABLE catalogue.match_pair AS SELECT * FROM work.match_pair")
    con.execute("CREATE OR REPLACE TABLE catalogue.match_cluster AS SELECT * FROM work.record_cluster")
    con.execute("CREATE OR REPLACE TABLE catalogue.match_block_key AS SELECT * FROM work.block_key")
    mode = {"mode": "incremental", "new_or_changed_records": con.execute("SELECT count(*) FROM work.changed").fetchone()[0]} \
        if previous else {"mode": "full"}
    return {**outcome.summary(), **entities, **mode, "overrides": str(overrides.path) if overrides.path else "",
            "override_decisions": len(overrides.decisions), "overrides_found": resolved, "review_queue": queue,
            "duplicate_listings": duplicate_listings}


NIGHT_CHANGES_DDL = "CREATE OR REPLACE TABLE work.night_changes (new_or_changed BIGINT, gone BIGINT)"


def _records_gone(con: duckdb.DuckDBPyConnection) -> int | None:
    """Last night's matched records whose id is not among tonight's (None on a first night).
    Counted before keying, which brings last night's table up to date in place."""
    if not _has_previous(con, ("match_record",)):
        return None
    return con.execute("""SELECT count(*) FROM (SELECT source_id, source_record_id FROM previous.match_record)
                          ANTI JOIN work.match_input USING (source_id, source_record_id)""").fetchone()[0]


def _count_night_changes(con: duckdb.DuckDBPyConnection, fresh: int, gone: int | None) -> None:
    """work.night_changes: how many records are new or changed in a matched field since last night,
    and how many are gone, for the golden-id churn (dedupe.golden.golden_id_churn). A night keyed
    incrementally keyed exactly the new and changed records afresh; a night keyed in full (an
    upgrade) compares the records' content hashes with last night's instead."""
    con.execute(NIGHT_CHANGES_DDL)
    if gone is None:
        return
    if not _has_tables(con, "work", ("changed",)):
        fresh = con.execute("""
            SELECT count(*) FROM work.match_record n ANTI JOIN previous.match_record p
            ON p.source_id = n.source_id AND p.source_record_id = n.source_record_id
               AND CAST(p.content_hash AS VARCHAR) = CAST(n.content_hash AS VARCHAR)""").fetchone()[0]
    con.execute("INSERT INTO work.night_changes VALUES (?, ?)", [fresh, gone])


# Above this share of new or changed records a run re-learns the weights and compares everything.
INCREMENTAL_MAX_CHANGED = 0.3


def _has_previous(con: duckdb.DuckDBPyConnection, tables) -> bool:
    return _has_tables(con, "previous", tables)


def previous_model(con: duckdb.DuckDBPyConnection, fresh: int, total: int):
    """The last run's model and schema, if incremental matching applies to this run: last night's
    matcher state is there and at most INCREMENTAL_MAX_CHANGED of the records were keyed afresh."""
    if not _has_previous(con, ("match_record", "match_pair", "match_model", "match_cluster")):
        return None, None
    if total == 0 or fresh / total > INCREMENTAL_MAX_CHANGED:
        return None, None
    stored = con.execute("SELECT model FROM previous.match_model").fetchone()[0]
    try:
        model = Model.from_json(stored, SERVICE_COMPARISONS)
    except (ValueError, TypeError, KeyError):
        return None, None   # the comparisons changed since: learn afresh
    if json.loads(stored).get("blocking") != rules_signature(SERVICE_BLOCKING):
        return None, None   # the blocking rules changed since: last night's block keys are not this version's
    return model, "previous"
