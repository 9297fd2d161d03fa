"""The nightly job end to end on the bundled sample, through Dagster and through `placecat run`."""
import json
import shutil
import subprocess
import sys

import dagster as dg
import duckdb
import pytest

from pipelines.assets import CROSS_SOURCE_ASSETS, build_source_assets
from pipelines.checks import ALL_CHECKS
from pipelines.definitions import build_definitions
from pipelines.nightly_run import run_nightly
from pipelines.resources import PlacecatResource
from tests.support.environment import REPO, SAMPLE


def copy_sample(tmp_path):
    dst = tmp_path / "sample"
    shutil.copytree(SAMPLE, dst, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    return dst / "sources.yaml"


def golden(db):
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute("""SELECT ss.source_id, ss.source_record_id, s.id, s.name
                              FROM catalogue.service_source ss JOIN catalogue.service s ON s.id = ss.service_id
                              ORDER BY 1, 2""").fetchall()


def test_definitions_load(sample_sources, db_path):
    defs = build_definitions(str(sample_sources), str(db_path))
    repo = defs.get_repository_def()
    assert {"source_job", "catalogue_job"} <= {j.name for j in repo.get_all_jobs()}
    assert repo.get_schedule_def("nightly_harvest").cron_schedule == "0 2 * * *"
    assert repo.get_schedule_def("nightly_harvest").execution_timezone == "Europe/London"
    keys = {k.to_user_string() for k in repo.asset_graph.get_all_asset_keys()}
    assert {"raw_harvest", "source_staging", "staging", "catalogue", "gap_tables", "published_catalogue"} <= keys


@pytest.mark.slow
def test_dagster_definitions_validate_cli():
    proc = subprocess.run([str(REPO / ".venv" / "bin" / "dagster") if (REPO / ".venv" / "bin" / "dagster").exists() else "dagster",
                           "definitions", "validate", "-w", "workspace.yaml"],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.slow  # a whole night
def test_materialize_whole_job_on_sample(tmp_path):
    sources = copy_sample(tmp_path)
    db = tmp_path / "out" / "placecat.duckdb"
    resource = PlacecatResource(sources_file=str(sources), db_path=str(db))
    ids = ["leeds-council", "leeds-nhs-directory", "leeds-vcs-directory"]
    source_assets = build_source_assets(dg.StaticPartitionsDefinition(ids))
    instance = dg.DagsterInstance.ephemeral()
    for sid in ids:
        res = dg.materialize(source_assets, partition_key=sid, resources={"placecat": resource}, instance=instance)
        assert res.success
    res = dg.materialize([*CROSS_SOURCE_ASSETS, *ALL_CHECKS], resources={"placecat": resource}, instance=instance)
    assert res.success
    assert all(e.passed for e in res.get_asset_check_evaluations())
    rows = golden(db)
    assert {r[0] for r in rows} == set(ids)
    # The Memory Cafe is in the council's and the NHS directory (postcode written differently): one golden record.
    cafe = {(r[0], r[2]) for r in rows if r[3] == "Memory Cafe"}
    assert len({g for _, g in cafe}) == 1 and {s for s, _ in cafe} == {"leeds-council", "leeds-nhs-directory"}
    # The leisure centre's classes share an address and a phone but stay separate services.
    with duckdb.connect(str(db), read_only=True) as con:
        classes = con.execute("""SELECT count(DISTINCT s.id) FROM catalogue.service s
                                 WHERE s.name IN ('Aquafit', 'Chair Yoga', 'Walking Football', 'Junior Gym', 'Adult Swimming Lessons')""").fetchone()[0]
        assert classes == 5
        n_staging = con.execute("SELECT count(*) FROM catalogue.service_source").fetchone()[0]
        n_golden = con.execute("SELECT count(*) FROM catalogue.service").fetchone()[0]
        assert n_golden < n_staging
        assert con.execute("SELECT count(*) FROM publish.change WHERE change = 'added'").fetchone()[0] == n_golden


@pytest.mark.slow  # a whole night
def test_run_twice_gives_the_same_catalogue(tmp_path):
    sources = copy_sample(tmp_path)
    db = tmp_path / "c.duckdb"
    first = run_nightly(sources, db)
    assert first.published
    g1 = golden(db)
    second = run_nightly(sources, db)
    assert second.published and {s["status"] for s in second.sources} == {"unchanged"}
    assert golden(db) == g1
    # Forcing a full re-read still gives the same golden ids.
    third = run_nightly(sources, db, full_reread=True)
    assert third.published and golden(db) == g1
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM ops.run WHERE status = 'published'").fetchone()[0] == 3
        assert con.execute("SELECT count(*) FROM publish.change WHERE run_id = ?", [third.run_id]).fetchone()[0] == 0


@pytest.mark.slow  # a whole night
def test_golden_ids_survive_a_new_member(tmp_path):
    sources = copy_sample(tmp_path)
    db = tmp_path / "c.duckdb"
    run_nightly(sources, db)
    before = {r[1]: r[2] for r in golden(db) if r[0] == "leeds-council"}
    # The VCS directory adds the Stop Smoking Clinic, already listed by the council.
    page = sources.parent / "feeds" / "leeds-vcs-directory" / "services-page-001.json"
    doc = json.loads(page.read_text())
    council = json.loads((sources.parent / "feeds" / "leeds-council" / "services-page-001.json").read_text())
    clinic = next(s for s in council["contents"] if s["name"] == "Stop Smoking Clinic")
    clinic = json.loads(json.dumps(clinic).replace(clinic["id"], "vcs-stop-smoking"))
    doc["contents"].append(clinic)
    page.write_text(json.dumps(doc))
    res = run_nightly(sources, db)
    after = golden(db)
    assert {r[1]: r[2] for r in after if r[0] == "leeds-council"} == before
    clinic_ids = {r[2] for r in after if r[3] == "Stop Smoking Clinic"}
    assert len(clinic_ids) == 1
    assert res.changes.get("added", 0) == 0 and res.changes.get("removed", 0) == 0
    # The clinic's golden record now also replaces the VCS record: its trust register changed,
    # which hubs must see, but none of its content did.
    with duckdb.connect(str(db), read_only=True) as con:
        updated = con.execute("SELECT service_id, fields_changed FROM publish.change WHERE run_id = ?",
                              [res.run_id]).fetchall()
    assert [(sid, list(f)) for sid, f in updated] == [(clinic_ids.pop(), ["replaces"])]


@pytest.mark.slow  # a whole night
def test_a_broken_source_is_reported_and_the_rest_publish(tmp_path):
    sources = copy_sample(tmp_path)
    db = tmp_path / "c.duckdb"
    (sources.parent / "feeds" / "leeds-nhs-directory" / "services-page-001.json").write_text("{not json")
    res = run_nightly(sources, db)
    assert res.published
    status = {s["source_id"]: s for s in res.sources}
    assert status["leeds-nhs-directory"]["status"] == "failed"
    assert "not valid JSON" in status["leeds-nhs-directory"]["message"]
    assert {r[0] for r in golden(db)} == {"leeds-council", "leeds-vcs-directory"}


@pytest.mark.slow  # a whole night
def test_a_failed_harvest_keeps_the_last_good_snapshot(tmp_path):
    sources = copy_sample(tmp_path)
    db = tmp_path / "c.duckdb"
    run_nightly(sources, db)
    before = golden(db)
    (sources.parent / "feeds" / "leeds-vcs-directory" / "services-page-001.json").write_text('{"contents": [')
    res = run_nightly(sources, db)
    assert res.published
    vcs = next(s for s in res.sources if s["source_id"] == "leeds-vcs-directory")
    assert vcs["status"] == "failed" and "keeping the snapshot" in vcs["message"]
    assert golden(db) == before


@pytest.mark.slow  # a whole night
def test_nothing_to_publish_exits_non_zero_with_one_line(tmp_path):
    feeds = tmp_path / "feeds"
    feeds.mkdir()
    (feeds / "page.json").write_text("<html>oops</html>")
    sources = tmp_path / "sources.yaml"
    sources.write_text(f"sources:\n  - {{id: only, kind: oruk, path: {feeds}, publisher: P}}\n")
    proc = subprocess.run([sys.executable, "-m", "pipelines.cli", "run", "--sources", str(sources), "--db",
                           str(tmp_path / "c.duckdb")], capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 1
    assert "nothing published" in proc.stdout and "Traceback" not in proc.stdout + proc.stderr
    assert not (tmp_path / "c.duckdb").exists()


def test_second_run_at_once_is_refused(tmp_path):
    from warehouse.state import PublishError, run_lock, state_dir_for
    sources = copy_sample(tmp_path)
    db = tmp_path / "c.duckdb"
    with run_lock(state_dir_for(db)):
        with pytest.raises(PublishError, match="another placecat run holds the lock"):
            run_nightly(sources, db)


def test_nightly_schedule_asks_for_every_source(sample_sources, db_path):
    import datetime as dt
    defs = build_definitions(str(sample_sources), str(db_path))
    repo = defs.get_repository_def()
    schedule = repo.get_schedule_def("nightly_harvest")
    ctx = dg.build_schedule_context(scheduled_execution_time=dt.datetime(2026, 11, 23, 2, 0), repository_def=repo)
    requests = list(schedule.evaluate_tick(ctx).run_requests)
    assert sorted(r.partition_key for r in requests) == ["leeds-council", "leeds-nhs-directory", "leeds-vcs-directory"]
    assert {r.tags["placecat/night"] for r in requests} == {"2026-11-23"}


@pytest.mark.slow  # a whole night
def test_a_single_source_with_nothing_to_merge_publishes(tmp_path):
    sources = tmp_path / "sources.yaml"
    sources.write_text(f"sources:\n  - {{id: only, kind: oruk, path: {SAMPLE / 'feeds' / 'leeds-nhs-directory'}, publisher: P}}\n")
    res = run_nightly(sources, tmp_path / "c.duckdb")
    assert res.published, res.error
    assert res.golden_services == res.source_records == 7
