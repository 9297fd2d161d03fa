"""The Great Expectations suites: staging (blocking on what stays in, warnings on everything) and
catalogue (clusters, keys, ids, quarantine respected, no personal data). Real GX, real DuckDB."""
from __future__ import annotations

import shutil

import duckdb
import pandas as pd
import pytest

from dedupe.exact import match_exact
from dedupe.golden import build_golden_records
from quality import expectations as gxs
from quality.personal_data import record_residue
from quality.quarantine import quarantine_blocking
from quality.rules import apply_rules
from quality.synthetic import make_staging

RUN = "run-1"


def failed(report, suite=None, column=None):
    return [(o.suite, o.expectation, o.column) for o in report.outcomes
            if not o.success and (suite is None or o.suite == suite) and (column is None or o.column == column)]


@pytest.fixture
def con():
    c = duckdb.connect()
    make_staging(c, services=3, sources=("src-a", "src-b"))
    yield c
    c.close()


@pytest.mark.slow
def test_staging_suite_passes_on_good_data_and_fails_each_kind_of_bad_value(con):
    report = gxs.validate_staging(con, RUN)
    assert report.outcomes and not failed(report)
    con.execute("UPDATE staging.service SET email = 'not-an-email', assured_date = current_date + 10 WHERE source_record_id = "
                "(SELECT min(source_record_id) FROM staging.service)")
    con.execute("UPDATE staging.schedule SET byday = 'Mondays' WHERE source_record_id = 'sched-1' AND source_id = 'src-a'")
    con.execute("UPDATE staging.phone SET number = '999' WHERE source_record_id = 'phone-2' AND source_id = 'src-b'")
    report = gxs.validate_staging(con, RUN)
    assert set(failed(report)) == {
        ("staging.service", "expect_column_values_to_match_regex", "email"),
        ("staging.service", "expect_column_values_to_be_between", "assured_date"),
        ("staging.schedule", "expect_column_values_to_match_regex", "byday_norm"),
        ("staging.phone", "expect_column_values_to_match_regex", "number_digits"),
    }
    assert all(o.severity == "warning" for o in report.outcomes if not o.success)
    email = next(o for o in report.outcomes if o.column == "email" and o.suite == "staging.service")
    assert (email.element_count, email.unexpected_count) == (6, 1)


@pytest.mark.slow
def test_blocking_expectations_hold_for_what_quarantine_leaves_in(con):
    con.execute("UPDATE staging.service SET name = NULL WHERE source_id = 'src-a' AND id = (SELECT min(id) FROM staging.service WHERE source_id = 'src-a')")
    report = gxs.validate_staging(con, RUN)  # before quarantine: the nameless record would be published
    assert ("staging.service.published", "expect_column_values_to_not_be_null", "name") in failed(report)
    apply_rules(con, RUN)
    quarantine_blocking(con, RUN)
    report = gxs.validate_staging(con, RUN)
    assert not [o for o in report.blocking_failures]


def test_a_crashed_expectation_counts_as_failed_with_its_reason():
    import great_expectations as gx
    outcomes = gxs.validate_frame("staging", "test.crash", pd.DataFrame({"a": ["x"]}),
                                  [gx.expectations.ExpectColumnValuesToNotBeNull(column="no_such_column", meta={"severity": "blocking"})])
    assert len(outcomes) == 1 and not outcomes[0].success and "no_such_column" in outcomes[0].exception


def build_catalogue(con):
    apply_rules(con, RUN)
    quarantine_blocking(con, RUN)
    match_exact(con, RUN)
    build_golden_records(con)
    record_residue(con, RUN)


@pytest.fixture(scope="module")
def catalogue_template(tmp_path_factory):
    path = tmp_path_factory.mktemp("quality-gx") / "build.duckdb"
    with duckdb.connect(str(path)) as c:
        make_staging(c, services=3, sources=("src-a", "src-b"))
        build_catalogue(c)
    return path


@pytest.fixture
def catalogue_con(catalogue_template, tmp_path):
    path = tmp_path / "build.duckdb"
    shutil.copyfile(catalogue_template, path)
    c = duckdb.connect(str(path))
    yield c
    c.close()


def test_catalogue_suite_passes_on_a_consistent_catalogue(catalogue_con):
    con = catalogue_con
    report = gxs.validate_catalogue(con, RUN)
    assert {o.suite for o in report.outcomes} >= {"catalogue.membership", "catalogue.golden_id", "catalogue.foreign_key",
                                                  "catalogue.published", "catalogue.personal_data"}
    assert not failed(report)


@pytest.mark.parametrize("break_sql,suite", [
    ("INSERT INTO catalogue.schedule (id, service_id) VALUES ('sc-x', 'no-such-service')", "catalogue.foreign_key"),
    ("INSERT INTO catalogue.service (id, name) SELECT id, name FROM catalogue.service LIMIT 1", "catalogue.golden_id"),
    ("UPDATE catalogue.service SET id = 'golden-1' WHERE id = (SELECT min(id) FROM catalogue.service)", "catalogue.golden_id"),
    ("DELETE FROM catalogue.service_source WHERE staging_id = (SELECT min(staging_id) FROM catalogue.service_source)", "catalogue.membership"),
    ("INSERT INTO quality.quarantine SELECT 'run-1', source_id, source_record_id, ['required'] FROM catalogue.service_source LIMIT 1",
     "catalogue.published"),
    ("INSERT INTO quality.personal_data_residue VALUES ('run-1', 'service', 'email', 's1', 'personal_email')", "catalogue.personal_data"),
])
def test_catalogue_suite_catches_each_kind_of_breakage(catalogue_con, break_sql, suite):
    con = catalogue_con
    name = suite.split(".", 1)[1]
    expectations = gxs.catalogue_expectations()[name]
    assert all(e.meta["severity"] == "blocking" for e in expectations)
    assert all(o.success for o in gxs.validate_frame("catalogue", suite, gxs.catalogue_frames(con, RUN)[name], expectations))
    con.execute(break_sql)
    outcomes = gxs.validate_frame("catalogue", suite, gxs.catalogue_frames(con, RUN)[name], expectations)
    assert not all(o.success for o in outcomes)


def test_golden_ids_must_be_stable(catalogue_con):
    con = catalogue_con
    con.execute("CREATE SCHEMA previous")
    con.execute("CREATE TABLE previous.service_source AS SELECT * FROM catalogue.service_source")
    assert not failed(gxs.validate_catalogue(con, RUN), "catalogue.stable")
    con.execute("UPDATE previous.service_source SET service_id = 'an-older-id' WHERE service_id = (SELECT min(id) FROM catalogue.service)")
    assert failed(gxs.validate_catalogue(con, RUN), "catalogue.stable")


def test_results_are_stored_and_read_back(con):
    report = gxs.validate_staging(con, RUN)
    gxs.store_validation(con, RUN, report)
    gxs.store_validation(con, RUN, report)  # idempotent
    stored = gxs.stored_outcomes(con, RUN, "staging")
    assert len(stored) == len(report.outcomes) and all(o.success for o in stored)


def _messy_staging(c):
    make_staging(c, services=12, sources=("src-a", "src-b"))
    # Failures and missing values spread over several frames of 5 rows.
    svc = "WHERE name = 'Service {}'"
    c.execute("UPDATE staging.service SET email = 'not-an-email' " + svc.format(2) + " OR name = 'Service 9'")
    c.execute("UPDATE staging.service SET email = NULL, minimum_age = 30, maximum_age = 10 " + svc.format(4))
    c.execute("UPDATE staging.service SET maximum_age = NULL " + svc.format(11))
    c.execute("UPDATE staging.service SET name = NULL, status = 'gone' " + svc.format(7) + " AND source_id = 'src-b'")
    # The same record twice, far apart: only a check of the whole table sees it.
    c.execute("UPDATE staging.service SET source_record_id = (SELECT source_record_id FROM staging.service "
              + svc.format(0) + " AND source_id = 'src-a') " + svc.format(11) + " AND source_id = 'src-a'")


def _both_ways(monkeypatch, validate):
    """A suite's outcomes checked on whole tables and on frames of 5 rows."""
    monkeypatch.setattr(gxs, "GX_BATCH_ROWS", 1_000_000)
    whole = validate().outcomes
    monkeypatch.setattr(gxs, "GX_BATCH_ROWS", 5)
    return whole, validate().outcomes


@pytest.mark.slow
def test_suites_checked_frame_by_frame_give_the_whole_tables_results(monkeypatch):
    c = duckdb.connect()
    _messy_staging(c)
    whole, framed = _both_ways(monkeypatch, lambda: gxs.validate_staging(c, RUN))
    assert framed == whole
    assert {(o.suite, o.column) for o in whole if not o.success} >= {
        ("staging.service", "email"), ("staging.service", "maximum_age,minimum_age"), ("staging.service", "status"),
        ("staging.service.published", "name"), ("staging.service.published", "source_id,source_record_id")}
    # The same as GX on one frame of the whole table.
    email = [o for o in whole if o.suite == "staging.service" and o.column == "email"]
    df = c.execute(f"SELECT {gxs.STAGING_FRAME_COLUMNS['service']} FROM staging.service").df()
    assert email == gxs.validate_frame("staging", "staging.service", df,
                                       [e for e in gxs.staging_expectations()["service"][gxs.WARNING]
                                        if e.configuration.kwargs.get("column") == "email"])
    assert (email[0].element_count, email[0].unexpected_count, email[0].unexpected_percent) == (24, 4, 4 / 22 * 100)

    build_catalogue(c)
    c.execute("UPDATE catalogue.service SET id = (SELECT max(id) FROM catalogue.service) "
              "WHERE id = (SELECT min(id) FROM catalogue.service)")
    whole, framed = _both_ways(monkeypatch, lambda: gxs.validate_catalogue(c, RUN))
    assert framed == whole
    assert ("catalogue.golden_id", "expect_column_values_to_be_unique") in {
        (o.suite, o.expectation) for o in whole if not o.success}
