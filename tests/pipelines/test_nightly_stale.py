"""A source that is down night after night: served from its last good snapshot, flagged stale,
dropped only after its max_stale_days.

Nights are simulated honestly: between runs the test moves every recorded time of the state
folder one day into the past (the snapshot's `harvested_at` in its meta.info and `last_good_at` /
`attempted_at` in status.json), exactly as if a day had gone by. The source goes down for real:
its feed file is replaced by a truncated JSON page, so the real harvest fails.
"""
import datetime as dt
import json
import shutil
from pathlib import Path

import duckdb
import pytest
import yaml

from pipelines.nightly_run import run_nightly
from tests.support.environment import SAMPLE
from tests.support.nights import take_down
from tests.support.sources_seen import api_view, exported_sources


def sample_with_max_stale(tmp_path: Path, source_id: str, max_stale_days: int) -> Path:
    dst = tmp_path / "sample"
    shutil.copytree(SAMPLE, dst, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    doc = yaml.safe_load((dst / "sources.yaml").read_text())
    for s in doc["sources"]:
        if s["id"] == source_id:
            s["max_stale_days"] = max_stale_days
    (dst / "sources.yaml").write_text(yaml.safe_dump(doc))
    return dst / "sources.yaml"


def one_day_passes(state_dir: Path) -> None:
    """Move every time the state folder remembers one day back."""
    for source in (state_dir / "sources").iterdir():
        status = source / "status.json"
        doc = json.loads(status.read_text())
        for key in ("attempted_at", "last_good_at"):
            if doc.get(key):
                doc[key] = (dt.datetime.fromisoformat(doc[key]) - dt.timedelta(days=1)).isoformat()
        status.write_text(json.dumps(doc))
        for snap in (source / "snapshots").glob("*.duckdb"):
            with duckdb.connect(str(snap)) as con:
                when = json.loads(con.execute("SELECT value FROM meta.info WHERE key = 'harvested_at'").fetchone()[0])
                earlier = (dt.datetime.fromisoformat(when) - dt.timedelta(days=1)).isoformat()
                con.execute("UPDATE meta.info SET value = ? WHERE key = 'harvested_at'", [json.dumps(earlier)])


def status_of(db: Path, run_id: str, source_id: str) -> tuple[str, str, int]:
    with duckdb.connect(str(db), read_only=True) as con:
        status, message = con.execute("SELECT status, message FROM ops.source_status WHERE run_id = ? AND source_id = ?",
                                      [run_id, source_id]).fetchone()
        served = con.execute("SELECT count(*) FROM catalogue.service_source WHERE source_id = ?", [source_id]).fetchone()[0]
    return status, message, served


@pytest.mark.slow
def test_source_down_three_nights_is_served_stale_then_dropped_after_max_stale_days(tmp_path):
    sources = sample_with_max_stale(tmp_path, "leeds-vcs-directory", 3)
    db = tmp_path / "out" / "placecat.duckdb"
    state = db.with_name(db.name + ".state")
    first = run_nightly(sources, db)
    assert first.published
    good = status_of(db, first.run_id, "leeds-vcs-directory")
    assert good[0] == "ok" and good[2] == 7

    take_down(sources, "leeds-vcs-directory")
    for night in (1, 2, 3):
        one_day_passes(state)
        res = run_nightly(sources, db)
        assert res.published, res.error
        status, message, served = status_of(db, res.run_id, "leeds-vcs-directory")
        # Still served in full from the last good snapshot, and flagged as such.
        assert (status, served) == ("stale", 7), (night, status, message)
        assert "not valid JSON" in message and "keeping the snapshot of" in message
        # The healthy sources, unchanged for days, are never stale: they answered tonight.
        assert status_of(db, res.run_id, "leeds-council")[0] == "unchanged"
    # Hubs see it: in the API's `/`, on each record it stands behind, and in the export.
    root, records = api_view(db)
    vcs = root["leeds-vcs-directory"]
    assert vcs["status"] == "stale" and vcs["served"] and "keeping the snapshot of" in vcs["note"] and vcs["harvested_at"]
    assert root["leeds-council"] == {"source_id": "leeds-council", "status": "unchanged", "served": True,
                                     "publisher": "Leeds City Council", "harvested_at": root["leeds-council"]["harvested_at"]}
    stale_items = [r for r in records if r["source_id"] == "leeds-vcs-directory"]
    assert len(stale_items) == 7 and all(r["source_status"] == "stale" and r["source_harvested_at"] for r in stale_items)
    assert not any("source_status" in r for r in records if r["source_id"] != "leeds-vcs-directory")
    assert exported_sources(db, tmp_path / "export")["leeds-vcs-directory"]["status"] == "stale"

    one_day_passes(state)  # night 4: the last good harvest is now 4 days old, over max_stale_days=3
    res = run_nightly(sources, db)
    assert res.published
    status, message, served = status_of(db, res.run_id, "leeds-vcs-directory")
    assert status == "dropped" and served == 0
    assert "max_stale_days=3" in message and "no longer served" in message
    root, records = api_view(db)
    assert root["leeds-vcs-directory"]["status"] == "dropped" and not root["leeds-vcs-directory"]["served"]
    assert "no longer served" in root["leeds-vcs-directory"]["note"]
    assert not [r for r in records if r["source_id"] == "leeds-vcs-directory"]
    assert exported_sources(db, tmp_path / "export2")["leeds-vcs-directory"]["served"] is False
    # The snapshot is not deleted: when the source comes back it is replaced by a fresh harvest.
    assert (state / "sources" / "leeds-vcs-directory" / "CURRENT").exists()


@pytest.mark.slow
def test_an_unchanged_source_that_fails_once_is_not_dropped_for_its_old_content(tmp_path):
    # The council's feed has not changed for 3 days (same snapshot, harvested 3 days ago), but it
    # answered every night; one failed night must not drop it for being "3 days old".
    sources = sample_with_max_stale(tmp_path, "leeds-council", 2)
    db = tmp_path / "out" / "placecat.duckdb"
    state = db.with_name(db.name + ".state")
    assert run_nightly(sources, db).published
    for _ in range(3):
        one_day_passes(state)
        assert run_nightly(sources, db).published
    take_down(sources, "leeds-council")
    res = run_nightly(sources, db)
    status, message, served = status_of(db, res.run_id, "leeds-council")
    assert status in ("failed", "stale") and served == 19, (status, message)
