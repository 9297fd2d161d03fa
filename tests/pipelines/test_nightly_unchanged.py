"""A night with nothing changed upstream is recorded without rebuilding the catalogue.

Night 1 is a real full run of the bundled sample (built once per module, then each test works on a
copy of its files: catalogue, state folder and sources). Each test then changes one thing for real
(a feed file, the overrides file, the sources file, a source taken down, the clock) and runs the
next night.
"""
import datetime as dt
import json
import os
import shutil
from pathlib import Path

import duckdb
import pytest
import yaml

from pipelines.nightly_run import format_summary, run_nightly
from tests.support.environment import SAMPLE
from tests.support.nights import catalogue_rows, kill_run, run_ok, start_held, take_down
from warehouse.build import previous_full_build
from warehouse.integrity import seal

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def night_one(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("night-one")
    shutil.copytree(SAMPLE, root / "sample", ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    res = run_nightly(root / "sample" / "sources.yaml", root / "out" / "placecat.duckdb")
    assert res.published and not res.build_skipped, res.error
    assert "no catalogue published yet" in res.build_reason
    return root


@pytest.fixture
def bed(night_one, tmp_path) -> tuple[Path, Path]:
    """A copy of night 1's sample, catalogue and state (times of the files kept)."""
    shutil.copytree(night_one, tmp_path / "bed")
    return tmp_path / "bed" / "sample" / "sources.yaml", tmp_path / "bed" / "out" / "placecat.duckdb"


def query(db: Path, sql: str, params=()) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql, list(params)).fetchall()


def query_internal(db: Path, sql: str, params=()) -> list[tuple]:
    """The night's full build (staging, matching state), kept in the state folder, not published."""
    with duckdb.connect(str(previous_full_build(db)), read_only=True) as con:
        return con.execute(sql, list(params)).fetchall()


def last_build(db: Path) -> str:
    return query(db, "SELECT summary->>'$.catalogue_built_by' FROM ops.run ORDER BY started_at DESC LIMIT 1")[0][0]


def test_a_night_with_no_change_upstream_skips_the_build_and_says_so(bed):
    sources, db = bed
    night1_run = last_build(db)
    before = catalogue_rows(db)
    res = run_nightly(sources, db)
    assert res.published and res.build_skipped, res.build_reason
    assert res.built_by == night1_run
    summary = format_summary(res)
    assert "catalogue not rebuilt" in summary and night1_run in summary
    # None of the cross-source stages ran: the golden records are night 1's, untouched.
    assert "service_matches" not in res.stages and "record_unchanged_night" in res.stages
    assert catalogue_rows(db) == before
    # Tonight is on record all the same: the run, each source's status, the scorecard.
    runs = query(db, "SELECT run_id, status, summary->>'$.build' FROM ops.run ORDER BY started_at")
    assert [r[1] for r in runs] == ["published", "published"]
    assert runs[-1][0] == res.run_id and runs[-1][2].startswith("skipped")
    assert {s["status"] for s in res.sources} == {"unchanged"}
    assert query(db, "SELECT count(*) FROM ops.source_status WHERE run_id = ?", [res.run_id])[0][0] == 3
    health = query(db, "SELECT source_id, status, up, valid, records FROM quality.source_health WHERE run_id = ? "
                       "ORDER BY 1", [res.run_id])
    built = query(db, "SELECT source_id, records FROM quality.source_health WHERE run_id = ? ORDER BY 1", [night1_run])
    assert [(h[0], h[4]) for h in health] == built
    assert all(h[1] == "unchanged" and h[2] and h[3] for h in health)
    assert query(db, "SELECT count(*) FROM publish.change WHERE run_id = ?", [res.run_id])[0][0] == 0
    # A third quiet night still points at night 1's build.
    third = run_nightly(sources, db)
    assert third.build_skipped and third.built_by == night1_run


def rewrite_description(sources: Path, source_id: str) -> None:
    page = next((sources.parent / "feeds" / source_id).glob("*.json"))
    doc = json.loads(page.read_text())
    doc["contents"][0]["description"] = "Now also open on Saturday mornings."
    page.write_text(json.dumps(doc))


def split_first_cluster(sources: Path, db: Path) -> tuple[str, str]:
    """A cannot-link decision between two members of one golden service (a real overrides edit)."""
    (sid,) = query(db, "SELECT service_id FROM catalogue.service_source GROUP BY 1 HAVING count(*) > 1 "
                       "ORDER BY 1 LIMIT 1")[0]
    a, b = query(db, "SELECT source_id, source_record_id FROM catalogue.service_source WHERE service_id = ? "
                     "ORDER BY 1, 2 LIMIT 2", [sid])
    (sources.parent / "overrides.yaml").write_text(yaml.safe_dump({"version": 1, "decisions": [
        {"decision": "cannot-link", "a": {"source_id": a[0], "record_id": a[1]},
         "b": {"source_id": b[0], "record_id": b[1]}, "decided_at": "2026-11-29T06:00:00Z",
         "note": "different clubs"}]}))
    return a, b


def rename_publisher(sources: Path, source_id: str) -> None:
    doc = yaml.safe_load(sources.read_text())
    for s in doc["sources"]:
        if s["id"] == source_id:
            s["publisher"] = s["publisher"] + " (renamed)"
    sources.write_text(yaml.safe_dump(doc))


@pytest.mark.parametrize("change, expected", [
    ("feed", "leeds-vcs-directory has a new snapshot"),
    ("overrides", "the overrides file changed"),
    ("sources file", "the sources file changed"),
])
def test_a_change_in_any_one_input_rebuilds_the_catalogue(bed, change, expected):
    sources, db = bed
    if change == "feed":
        rewrite_description(sources, "leeds-vcs-directory")
    elif change == "overrides":
        a, b = split_first_cluster(sources, db)
    else:
        rename_publisher(sources, "leeds-nhs-directory")
    res = run_nightly(sources, db)
    assert res.published and not res.build_skipped, res.error
    assert res.build_reason == expected
    assert "service_matches" in res.stages
    assert f"catalogue rebuilt: {expected}" in format_summary(res)
    assert last_build(db) == res.run_id
    if change == "feed":
        assert query_internal(db, "SELECT count(*) FROM staging.service WHERE description = 'Now also open on Saturday mornings.'")[0][0] == 1
    if change == "overrides":  # the rebuild honoured the decision
        owners = query(db, "SELECT service_id FROM catalogue.service_source WHERE (source_id, source_record_id) "
                           "IN ((?, ?), (?, ?))", [*a, *b])
        assert len({o[0] for o in owners}) == 2
    if change == "sources file":
        assert query(db, "SELECT publisher FROM ops.source WHERE source_id = 'leeds-nhs-directory'")[0][0].endswith("(renamed)")
    # The next quiet night skips again, from this build.
    again = run_nightly(sources, db)
    assert again.build_skipped and again.built_by == res.run_id


def test_full_reread_and_an_old_build_force_a_build(bed):
    sources, db = bed
    res = run_nightly(sources, db, full_reread=True)
    assert not res.build_skipped
    # --full-reread harvests afresh, so the snapshots are new too; the reason names the flag first.
    assert res.build_reason == "--full-reread asks for a full build"
    res = run_nightly(sources, db, rebuild_after_days=0)
    assert not res.build_skipped and res.build_reason.startswith("the catalogue was last built")


def test_the_skip_never_hides_a_failed_source(bed):
    sources, db = bed
    take_down(sources, "leeds-vcs-directory")
    res = run_nightly(sources, db)
    # Its snapshot is still the one served, so the catalogue is the same ...
    assert res.published and res.build_skipped
    # ... but tonight says the source failed: in the summary, the status table and the scorecard.
    vcs = next(s for s in res.sources if s["source_id"] == "leeds-vcs-directory")
    assert vcs["status"] == "failed" and "keeping the snapshot of" in vcs["message"]
    line = next(x for x in format_summary(res).splitlines() if x.startswith("leeds-vcs-directory"))
    assert "failed" in line and "not valid JSON" in line
    up, valid = query(db, "SELECT up, valid FROM quality.source_health WHERE run_id = ? AND source_id = ?",
                      [res.run_id, "leeds-vcs-directory"])[0]
    assert (up, valid) == (False, False)
    assert query(db, "SELECT count(*) FROM catalogue.service_source WHERE source_id = 'leeds-vcs-directory'")[0][0] == 7


def age_source_without_touching_its_snapshot(db: Path, source_id: str, days: int) -> None:
    """The source last answered `days` ago: its status and snapshot's harvest time say so, while
    the snapshot file keeps its size and modification time (so only the age can force a build)."""
    root = db.with_name(db.name + ".state") / "sources" / source_id
    status = json.loads((root / "status.json").read_text())
    status["last_good_at"] = (dt.datetime.fromisoformat(status["last_good_at"]) - dt.timedelta(days=days)).isoformat()
    (root / "status.json").write_text(json.dumps(status))
    snap = root / "snapshots" / f"{(root / 'CURRENT').read_text().strip()}.duckdb"
    st = snap.stat()
    with duckdb.connect(str(snap)) as con:
        when = dt.datetime.fromisoformat(json.loads(con.execute(
            "SELECT value FROM meta.info WHERE key = 'harvested_at'").fetchone()[0])) - dt.timedelta(days=days)
        con.execute("UPDATE meta.info SET value = ? WHERE key = 'harvested_at'", [json.dumps(when.isoformat())])
    assert snap.stat().st_size == st.st_size
    os.utime(snap, ns=(st.st_atime_ns, st.st_mtime_ns))
    # The catalogue recorded that snapshot's harvest time too (a skipped night reads it there). A
    # catalogue changed after publishing is taken for damaged (warehouse/integrity.py): sealed
    # again, as if that night had published it so.
    with duckdb.connect(str(db)) as con:
        con.execute(f"UPDATE ops.source_status SET snapshot_harvested_at = snapshot_harvested_at - INTERVAL {days} DAY "
                    "WHERE source_id = ?", [source_id])
        run_id = con.execute("SELECT max_by(run_id, started_at) FROM ops.run").fetchone()[0]
    seal(db.with_name(db.name + ".state"), db, run_id, "public")


def test_a_stale_source_is_recorded_and_a_dropped_one_rebuilds(bed):
    sources, db = bed
    take_down(sources, "leeds-vcs-directory")
    age_source_without_touching_its_snapshot(db, "leeds-vcs-directory", 3)
    res = run_nightly(sources, db)
    assert res.build_skipped
    vcs = next(s for s in res.sources if s["source_id"] == "leeds-vcs-directory")
    assert vcs["status"] == "stale"  # default max_stale_days is 14: still served, flagged
    age_source_without_touching_its_snapshot(db, "leeds-vcs-directory", 20)
    res = run_nightly(sources, db)
    assert not res.build_skipped and res.build_reason == "leeds-vcs-directory is no longer served"
    vcs = next(s for s in res.sources if s["source_id"] == "leeds-vcs-directory")
    assert vcs["status"] == "dropped"
    assert query(db, "SELECT count(*) FROM catalogue.service_source WHERE source_id = 'leeds-vcs-directory'")[0][0] == 0


def test_kill_9_while_publishing_an_unchanged_night_leaves_the_catalogue_intact(tmp_path, monkeypatch):
    # Real processes throughout. They stand for one release, whatever else is edited meanwhile.
    monkeypatch.setenv("PLACECAT_CODE_VERSION", "release-under-test")
    shutil.copytree(SAMPLE, tmp_path / "sample", ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    sources, db = tmp_path / "sample" / "sources.yaml", tmp_path / "out" / "placecat.duckdb"
    run_ok(sources, db)
    before = catalogue_rows(db)
    runs_before = query(db, "SELECT run_id FROM ops.run")
    proc = start_held(sources, db, "publish", tmp_path)
    kill_run(proc)
    assert catalogue_rows(db) == before and query(db, "SELECT run_id FROM ops.run") == runs_before
    assert sorted(p.name for p in db.parent.iterdir()) == ["placecat.duckdb", "placecat.duckdb.state"]
    out = run_ok(sources, db)
    assert "catalogue not rebuilt" in out and "catalogue published" in out, out
    assert list((db.with_name(db.name + ".state") / "build").glob("*.duckdb*")) == []


def test_the_dagster_catalogue_job_skips_its_steps_on_an_unchanged_night(bed):
    import dagster as dg

    from pipelines.assets import CROSS_SOURCE_ASSETS, build_source_assets
    from pipelines.checks import ALL_CHECKS
    from pipelines.resources import PlacecatResource

    sources, db = bed
    night1_run = last_build(db)
    before = catalogue_rows(db)
    resource = PlacecatResource(sources_file=str(sources), db_path=str(db))
    ids = ["leeds-council", "leeds-nhs-directory", "leeds-vcs-directory"]
    source_assets = build_source_assets(dg.StaticPartitionsDefinition(ids))
    instance = dg.DagsterInstance.ephemeral()
    for sid in ids:
        assert dg.materialize(source_assets, partition_key=sid, resources={"placecat": resource}, instance=instance).success
    res = dg.materialize([*CROSS_SOURCE_ASSETS, *ALL_CHECKS], resources={"placecat": resource}, instance=instance)
    assert res.success
    # staging recorded the night and materialised nothing, so no later step ran.
    assert res.get_asset_materialization_events() == []
    assert catalogue_rows(db) == before
    row = query(db, "SELECT status, summary->>'$.catalogue_built_by', summary->>'$.dagster_run_id' FROM ops.run "
                    "WHERE run_id = ?", [res.run_id])
    assert row == [("published", night1_run, res.run_id)]
    assert query(db, "SELECT count(*) FROM quality.source_health WHERE run_id = ?", [res.run_id])[0][0] == 3
