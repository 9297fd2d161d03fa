"""A newcomer on night 2: the bundled demo, then a five-row spreadsheet added to it.

Issue 17: every night after the spreadsheet arrived ended "nothing published: index 0 is out of
bounds" while a fresh database with the same sources published. An incremental night whose new
pairs were all unlikely had no record in play for the clustering, whose record numbering then
failed on an empty table. The spreadsheet lists "Armley Foodbank" where the demo has "Armley Food
Bank" (same phone, e-mail, address, organisation and session), and a "Coffee and Chat" elsewhere
in Leeds that clearly differs from the demo's.
"""
import duckdb
import pytest

from pipelines.nightly_run import run_nightly
from tests.support.newcomer import ROWS, add_newcomer, demo, golden_groups
from warehouse.build import previous_full_build


def armley_merged_or_queued(db) -> bool:
    with duckdb.connect(str(previous_full_build(db)), read_only=True) as con:  # the review queue is internal
        merged = con.execute("""
            SELECT count(*) FROM catalogue.service_source n JOIN catalogue.service_source d USING (service_id)
            WHERE n.source_id = 'leeds-newcomer' AND n.source_record_id = 'N1' AND d.source_id <> n.source_id""").fetchone()[0]
        queued = con.execute("""
            SELECT count(*) FROM catalogue.review_queue
            WHERE 'leeds-newcomer' IN (source_id_a, source_id_b) AND 'N1' IN (record_id_a, record_id_b)""").fetchone()[0]
    return merged > 0 or queued > 0


@pytest.mark.slow  # four whole nights
def test_a_spreadsheet_added_on_night_two_publishes_that_night_and_every_later_one(tmp_path):
    sources = demo(tmp_path / "demo")
    db = tmp_path / "out" / "placecat.duckdb"
    first = run_nightly(sources, db)
    assert first.published, first.error
    add_newcomer(sources)
    second = run_nightly(sources, db)
    assert second.published, second.error
    with duckdb.connect(str(previous_full_build(db)), read_only=True) as con:  # the matcher's state is internal
        newcomer = con.execute("SELECT count(*) FROM catalogue.service_source WHERE source_id = 'leeds-newcomer'").fetchone()[0]
        model = con.execute("SELECT model FROM catalogue.match_model").fetchone()[0]
    assert newcomer == len(ROWS)
    assert model and armley_merged_or_queued(db)
    clusters = golden_groups(db)
    # Later nights, as they are and re-reading every source, publish and keep the same clusters.
    for night in (run_nightly(sources, db), run_nightly(sources, db, full_reread=True)):
        assert night.published, night.error
        assert golden_groups(db) == clusters
    # A fresh database with the same sources publishes too (it learns its own model, so its
    # clusters may differ from those of the nights that kept night 1's).
    fresh = run_nightly(sources, tmp_path / "fresh" / "placecat.duckdb")
    assert fresh.published, fresh.error
    assert armley_merged_or_queued(fresh.db_path)
