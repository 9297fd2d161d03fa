"""Richness (published weights, Porism's v1 baseline) and freshness (3 months), per service and source."""
from __future__ import annotations

import duckdb
import pytest

from dedupe.exact import match_exact
from dedupe.golden import build_golden_records
from quality.richness import STALE_AFTER_DAYS, WEIGHTS, score_catalogue, source_richness_sql
from quality.synthetic import make_staging

RUN = "run-1"


@pytest.fixture
def con():
    c = duckdb.connect()
    make_staging(c, services=2, sources=("src-a",))
    yield c
    c.close()


def catalogue(con):
    match_exact(con, RUN)
    build_golden_records(con)
    score_catalogue(con, RUN)
    return con.execute("SELECT richness, richness_porism, missing, freshness_days, stale FROM quality.service_richness "
                       "ORDER BY service_id").fetchall()


def test_weights_are_published_and_sum_sensibly():
    assert sum(WEIGHTS["placecat"].values()) == 100
    assert sum(WEIGHTS["porism_v1"].values()) == 45 and WEIGHTS["porism_v1"]["p_service_at_locations"] == 9


def test_a_well_described_service_scores_by_the_published_weights(con):
    rows = catalogue(con)
    # The synthetic service lacks fees (5), accessibility (3), language (2) and service area (3): 100 - 13.
    # Porism v1: no attending_type (2), attending_access (2) or service_areas (5): (45 - 9) / 45.
    assert [r[:2] for r in rows] == [(87.0, 80.0), (87.0, 80.0)]
    assert rows[0][2][0] == "fees" and set(rows[0][2]) == {"fees", "service_area", "accessibility", "language"}
    assert rows[0][3] == 30 and rows[0][4] is False


def test_an_empty_service_scores_low_and_is_stale(con):
    con.execute("""UPDATE staging.service SET description = NULL, url = NULL, email = NULL, minimum_age = NULL,
                   maximum_age = NULL, assured_date = NULL, last_modified = NULL""")
    for t in ("phone", "schedule", "contact", "attribute", "service_at_location"):
        con.execute(f"DELETE FROM staging.{t}")
    rows = catalogue(con)
    assert rows[0][0] == 0.0 and rows[0][1] == pytest.approx(100 * 10 / 45, abs=0.1)  # only the name
    assert rows[0][3] is None and rows[0][4] is True  # never dated counts as stale


def test_freshness_uses_assured_date_then_last_modified(con):
    con.execute(f"UPDATE staging.service SET assured_date = current_date - {STALE_AFTER_DAYS + 8} "
                "WHERE id = (SELECT min(id) FROM staging.service)")
    con.execute("UPDATE staging.service SET assured_date = NULL, last_modified = now()::TIMESTAMP - INTERVAL 200 DAY "
                "WHERE id = (SELECT max(id) FROM staging.service)")
    ages = sorted((r[3], r[4]) for r in catalogue(con))
    assert ages == [(STALE_AFTER_DAYS + 8, True), (200, True)]


def test_per_source_figures(con):
    con.execute("UPDATE staging.service SET url = NULL WHERE id = (SELECT min(id) FROM staging.service)")
    row = con.execute(f"SELECT source_id, pct_url, pct_description, stale, \"0-3m\" FROM ({source_richness_sql()})").fetchone()
    assert row == ("src-a", 50.0, 100.0, 0, 2)
