"""Which nights may reuse last night's matcher state (dedupe/nightly_match.py previous_model)."""
import json

import duckdb
import numpy as np

from dedupe.blocking import SERVICE_BLOCKING, BlockingRule, rules_signature
from dedupe.comparisons import SERVICE_COMPARISONS
from dedupe.nightly_match import previous_model
from dedupe.scoring import Model


def store_previous(con, blocking) -> None:
    model = Model(SERVICE_COMPARISONS, [np.full(len(c.levels), 1 / len(c.levels)) for c in SERVICE_COMPARISONS],
                  [np.full(len(c.levels), 1 / len(c.levels)) for c in SERVICE_COMPARISONS], 0.1)
    stored = json.loads(model.to_json()) | ({"blocking": blocking} if blocking is not None else {})
    con.execute("CREATE SCHEMA previous")
    for table in ("match_record", "match_pair", "match_cluster"):
        con.execute(f"CREATE TABLE previous.{table} (mid BIGINT)")
    con.execute("CREATE TABLE previous.match_model (run_id VARCHAR, model JSON)")
    con.execute("INSERT INTO previous.match_model VALUES ('r1', ?)", [json.dumps(stored)])


def test_last_nights_state_is_reused_under_the_same_blocking_rules():
    con = duckdb.connect()
    store_previous(con, rules_signature(SERVICE_BLOCKING))
    model, previous = previous_model(con, fresh=10, total=1000)
    assert previous == "previous" and model.prior == 0.1


def test_other_blocking_rules_or_none_recorded_mean_a_full_match():
    for blocking in (None, rules_signature((*SERVICE_BLOCKING, BlockingRule("town", "[r.town]")))):
        con = duckdb.connect()
        store_previous(con, blocking)
        assert previous_model(con, fresh=10, total=1000) == (None, None)


def test_too_many_changed_records_mean_a_full_match():
    con = duckdb.connect()
    store_previous(con, rules_signature(SERVICE_BLOCKING))
    assert previous_model(con, fresh=400, total=1000) == (None, None)
