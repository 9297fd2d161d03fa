"""A newcomer on night 2: the bundled demo, then a five-row spreadsheet added to it.

Issue 17: every night after the spreadsheet arrived ended "nothing published: index 0 is out of
bounds" while a fresh database with the same sources published. An incremental night whose new
pairs were all unlikely had no record in play for the clustering, whose record numbering then
failed on an empty table. The spreadsheet lists "Armley Foodbank" where the demo has "Armley Food
Bank" (same phone, e-mail, address, organisation and session), and a "Coffee and Chat" elsewhere
in Leeds that clearly differs from the demo's.
"""
import csv
import shutil

import duckdb
import pytest
import yaml

from pipelines.nightly_run import run_nightly
from tests.support.environment import SAMPLE

HEADER = ["Ref", "Service", "Organisation", "Address", "Town", "Postcode", "Phone", "Email", "Day", "Start", "End"]
ROWS = [
    ["N1", "Armley Foodbank", "Leeds West Foodbank", "Armley Christ Church, Armley Ridge Road", "Leeds", "LS12 3HP",
     "0113 263 9002", "hello@leedswest.foodbank.org.uk", "Friday", "10:00", "13:00"],
    ["N2", "Bramley Knit and Natter", "Bramley Community Centre", "Waterloo Lane", "Leeds", "LS13 2JB",
     "0113 255 0001", "knit@example.org", "Tuesday", "14:00", "16:00"],
    ["N3", "Kirkstall Men's Shed", "Kirkstall Valley Trust", "Bridge Road", "Leeds", "LS5 3BW",
     "0113 255 0002", "shed@example.org", "Wednesday", "09:00", "12:00"],
    ["N4", "Coffee and Chat", "Hyde Park Source", "Woodsley Road", "Leeds", "LS6 1SG",
     "0113 255 0003", "chat@example.org", "Thursday", "16:00", "18:00"],
    ["N5", "Beeston Baby Bounce", "Beeston Library", "Town Street", "Leeds", "LS11 8PN",
     "0113 255 0004", "bounce@example.org", "Monday", "10:30", "11:30"],
]
MAPPING = {"id": "Ref", "columns": {
    "service.name": "Service", "organization.name": "Organisation", "address.address_1": "Address",
    "address.city": "Town", "address.postal_code": "Postcode", "phone.number": "Phone", "service.email": "Email",
    "schedule.byday": "Day", "schedule.opens_at": "Start", "schedule.closes_at": "End"}}
NEWCOMER = {"id": "leeds-newcomer", "kind": "spreadsheet", "path": "newcomer.csv", "mapping": "newcomer.yaml",
            "publisher": "A newcomer", "role": "none"}


def demo(folder):
    """The bundled demo's feeds and sources file, copied so a test can add to them."""
    shutil.copytree(SAMPLE / "feeds", folder / "feeds")
    shutil.copy(SAMPLE / "sources.yaml", folder / "sources.yaml")
    return folder / "sources.yaml"


def add_newcomer(sources):
    with open(sources.parent / "newcomer.csv", "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([HEADER, *ROWS])
    (sources.parent / "newcomer.yaml").write_text(yaml.safe_dump(MAPPING))
    doc = yaml.safe_load(sources.read_text())
    doc["sources"].append(NEWCOMER)
    sources.write_text(yaml.safe_dump(doc, sort_keys=False))


def golden_groups(db):
    """The published clusters, as sets of (source, record id): golden ids aside."""
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.execute("SELECT service_id, source_id, source_record_id FROM catalogue.service_source").fetchall()
    groups = {}
    for service_id, source_id, record_id in rows:
        groups.setdefault(service_id, set()).add((source_id, record_id))
    return {frozenset(g) for g in groups.values()}


def armley_merged_or_queued(db) -> bool:
    with duckdb.connect(str(db), read_only=True) as con:
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
    with duckdb.connect(str(db), read_only=True) as con:
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
