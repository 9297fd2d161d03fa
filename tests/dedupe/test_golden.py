"""Golden records across nights (dedupe/golden.py): how far the golden ids move."""
import shutil

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipelines.nightly_run import format_summary, run_nightly
from tests.support.newcomer import ROWS, add_newcomer, demo, edit_feed, golden_id_of_each_record, listings


def oracle_churn(before: dict, after: dict) -> dict:
    """Churn computed from the two published catalogues alone, in plain Python."""
    both = before.keys() & after.keys()
    return {"records_both_nights": len(both), "moved": sum(before[k] != after[k] for k in both),
            "retired": len(set(before.values()) - set(after.values())),
            "new": len(set(after.values()) - set(before.values()))}


@pytest.mark.slow  # five whole nights
def test_golden_id_churn_is_zero_when_nothing_changed_and_bounded_by_what_changed(tmp_path):
    sources = demo(tmp_path / "demo")
    db = tmp_path / "out" / "placecat.duckdb"
    first = run_nightly(sources, db)
    assert first.published and first.churn is None          # nothing to compare with on a first night
    before = golden_id_of_each_record(db)
    shutil.copy(db, tmp_path / "night1.duckdb")
    # Unchanged, rebuilt anyway: as the nightly schedule does every few days, and re-reading every source.
    for night in (run_nightly(sources, db, rebuild_after_days=0), run_nightly(sources, db, full_reread=True)):
        assert night.published and not night.build_skipped, night.error
        assert night.churn == {**oracle_churn(before, golden_id_of_each_record(db)), "changed": 0}
        assert night.churn["moved"] == night.churn["retired"] == night.churn["new"] == 0
        assert "golden-id churn: 0 of 33 records moved" in format_summary(night)
    skipped = run_nightly(sources, db)
    assert skipped.build_skipped and "golden-id churn: 0" in format_summary(skipped)
    # A changed night: one service renamed, one withdrawn, a five-row spreadsheet added.
    edit_feed(sources, "leeds-council", "Chair Yoga", "Chair Yoga for the Over 60s")
    edit_feed(sources, "leeds-vcs-directory", "Debt Advice Drop-in", None)
    add_newcomer(sources)
    changed = 1 + 1 + len(ROWS)
    night = run_nightly(sources, db)
    assert night.published, night.error
    truth = oracle_churn(before, golden_id_of_each_record(db))
    assert night.churn == {**truth, "changed": changed}
    assert truth["records_both_nights"] == 33 - 1 and truth["moved"] <= changed
    assert truth["new"] >= len(ROWS) - 1        # the newcomer's services, but for one that may merge
    assert f"golden-id churn: {truth['moved']} of 32 records moved to another golden id ({changed} records" \
        in format_summary(night)


CHANGES = st.tuples(st.sampled_from(["rename", "withdraw", "newcomer", "newcomer"]), st.integers(0, 999))


@pytest.mark.slow  # three examples of up to two changed nights after a first: about a minute
@settings(max_examples=3, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(nights=st.lists(st.lists(CHANGES, min_size=1, max_size=3), min_size=1, max_size=2))
def test_random_changed_nights_move_no_more_golden_ids_than_records_changed(tmp_path_factory, nights):
    folder = tmp_path_factory.mktemp("nights")
    sources, db = demo(folder / "demo"), folder / "out" / "placecat.duckdb"
    assert run_nightly(sources, db).published
    for changes in nights:
        before_listed, before_ids = listings(sources), golden_id_of_each_record(db)
        for kind, k in changes:
            listed = sorted(key for key in listings(sources) if key[0] != "leeds-newcomer")
            source_id, record_id = listed[k % len(listed)]
            name = listings(sources)[source_id, record_id]
            if kind == "newcomer":
                add_newcomer(sources, ROWS[: 1 + k % len(ROWS)])
            else:
                edit_feed(sources, source_id, name, None if kind == "withdraw" else f"{name} (Evenings)")
        res = run_nightly(sources, db)
        assert res.published, res.error
        after = listings(sources)
        changed = sum(before_listed.get(key) != after.get(key) for key in before_listed.keys() | after.keys())
        truth = oracle_churn(before_ids, golden_id_of_each_record(db))
        assert res.churn == {**truth, "changed": changed}, changes
        assert truth["moved"] <= changed, changes
