"""The drop-folder sensor, ticked with Dagster's sensor test utilities over a real temporary inbox."""
from __future__ import annotations

import json
import os

import dagster as dg
import duckdb
import pytest
import yaml

from connectors.dropfolder import FILE_TAG
from pipelines.definitions import build_definitions
from pipelines.sensors import SENSOR_NAME
from tests.support.sheets import sources_yaml, write_csv, write_xlsx
from warehouse.snapshots import SourceStore

HEADER = ["Ref", "Service Name", "Postcode"]


@pytest.fixture
def deployment(tmp_path, monkeypatch):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (tmp_path / "mapping.yaml").write_text(yaml.safe_dump(
        {"id": "Ref", "columns": {"service.name": "Service Name", "address.postal_code": "Postcode"}}))
    write_csv(tmp_path / "seed.csv", HEADER, [["0", "Seed service", "TW3 1AA"]])
    sources = sources_yaml(tmp_path, [
        {"id": "hounslow-sheet", "kind": "spreadsheet", "path": "seed.csv", "mapping": "mapping.yaml",
         "pattern": "hounslow-*.csv", "publisher": "Hounslow Council"},
        {"id": "kent-sheet", "kind": "spreadsheet", "path": "seed.csv", "mapping": "mapping.yaml",
         "pattern": "kent-*.xlsx", "publisher": "Kent County Council"},
    ])
    monkeypatch.setenv("PLACECAT_INBOX", str(inbox))
    defs = build_definitions(str(sources), str(tmp_path / "db" / "placecat.duckdb"))
    return defs, inbox, tmp_path


def _tick(defs, instance, cursor=None):
    sensor = defs.resolve_sensor_def(SENSOR_NAME)
    ctx = dg.build_sensor_context(instance=instance, cursor=cursor)
    result = sensor(ctx)
    return result.run_requests or [], result.cursor


def test_a_file_is_taken_once_it_stops_growing_and_then_archived(deployment):
    defs, inbox, _ = deployment
    instance = dg.DagsterInstance.ephemeral()
    f = write_csv(inbox / "hounslow-may.csv", HEADER, [["1", "Food bank", "TW3 1AA"]])
    runs, cursor = _tick(defs, instance)
    assert runs == [] and "hounslow-may.csv" in json.loads(cursor)  # seen once: maybe still copying
    with open(f, "a", encoding="utf-8") as fh:  # the copy goes on
        fh.write("2,Toddler group,TW3 2BB\r\n")
    runs, cursor = _tick(defs, instance, cursor)
    assert runs == []
    runs, cursor = _tick(defs, instance, cursor)  # unchanged since the last look: complete
    assert len(runs) == 1
    (req,) = runs
    assert req.partition_key == "hounslow-sheet"
    assert req.run_key.startswith("hounslow-sheet:hounslow-may.csv:")
    archived = inbox / "archive" / os.path.basename(req.tags[FILE_TAG])
    assert archived.exists() and archived.name.endswith("-hounslow-may.csv")
    assert not f.exists()
    assert _tick(defs, instance, cursor)[0] == []  # processed once


def test_a_done_marker_makes_a_file_ready_at_once(deployment):
    defs, inbox, _ = deployment
    write_xlsx(inbox / "kent-june.xlsx", HEADER, [["7", "Walking football", "ME14 1XX"]])
    (inbox / "kent-june.xlsx.done").write_text("")
    runs, _ = _tick(defs, dg.DagsterInstance.ephemeral())
    assert [(r.partition_key, os.path.basename(r.tags[FILE_TAG])[-14:]) for r in runs] == [("kent-sheet", "kent-june.xlsx")]
    assert not (inbox / "kent-june.xlsx.done").exists()


def test_a_changed_file_dropped_again_is_a_new_run(deployment):
    defs, inbox, _ = deployment
    instance = dg.DagsterInstance.ephemeral()
    keys = []
    for rows in ([["1", "Food bank", "TW3 1AA"]], [["1", "Food bank", "TW3 1AA"], ["2", "Youth club", "TW4 5AB"]]):
        write_csv(inbox / "hounslow-export.csv", HEADER, rows)
        (inbox / "hounslow-export.csv.done").write_text("")
        runs, _ = _tick(defs, instance)
        keys += [r.run_key for r in runs]
    assert len(keys) == 2 and keys[0] != keys[1]


def test_rejected_files_go_to_rejects_with_the_reason_beside_them(deployment):
    defs, inbox, _ = deployment
    write_csv(inbox / "minutes.csv", ["Meeting"], [["AGM"]])
    write_csv(inbox / "hounslow-wrong.csv", ["Ref", "Name"], [["1", "Food bank"]])
    for name in ("minutes.csv", "hounslow-wrong.csv"):
        (inbox / f"{name}.done").write_text("")
    runs, _ = _tick(defs, dg.DagsterInstance.ephemeral())
    assert runs == []
    reasons = {p.name.split("-", 1)[1].removesuffix(".reason.txt"): p.read_text()
               for p in (inbox / "rejects").glob("*.reason.txt")}
    assert set(reasons) == {"minutes.csv", "hounslow-wrong.csv"}
    assert "matches no spreadsheet source's pattern (hounslow-sheet: hounslow-*.csv, kent-sheet: kent-*.xlsx)" \
        in reasons["minutes.csv"]
    assert "names column(s) this file does not have: " in reasons["hounslow-wrong.csv"]
    assert "'Service Name' (for service.name; did you mean 'Name'?)" in reasons["hounslow-wrong.csv"]
    assert "'Postcode' (for address.postal_code)" in reasons["hounslow-wrong.csv"]
    assert sorted(p.name.split("-", 1)[1] for p in (inbox / "rejects").glob("*.csv")) == ["hounslow-wrong.csv", "minutes.csv"]
    assert list(inbox.glob("*.csv")) == []


def test_the_requested_run_loads_the_dropped_file(deployment):
    defs, inbox, tmp_path = deployment
    write_csv(inbox / "hounslow-july.csv", HEADER, [["1", "Food bank", "TW3 1AA"], ["2", "Chess club", "TW3 9ZZ"]])
    (inbox / "hounslow-july.csv.done").write_text("")
    instance = dg.DagsterInstance.ephemeral()
    (req,), _ = _tick(defs, instance)
    job = defs.resolve_job_def("source_job")
    result = job.execute_in_process(partition_key=req.partition_key, tags=req.tags, instance=instance)
    assert result.success
    snap = SourceStore(tmp_path / "db" / "placecat.duckdb.state", "hounslow-sheet").current()
    with duckdb.connect(str(snap.path), read_only=True) as con:
        names = sorted(n for (n,) in con.execute("SELECT name FROM staging.service").fetchall())
        where = con.execute("SELECT min(fetched_from) FROM raw.record").fetchone()[0]
    assert names == ["Chess club", "Food bank"]  # the dropped file, not the seed
    assert "/archive/" in where and where.endswith("hounslow-july.csv:2")


def test_no_inbox_configured_skips(tmp_path, monkeypatch):
    monkeypatch.delenv("PLACECAT_INBOX", raising=False)
    (tmp_path / "m.yaml").write_text(yaml.safe_dump({"columns": {"service.name": "Name"}}))
    src = sources_yaml(tmp_path, [{"id": "s", "kind": "spreadsheet", "path": "x.csv", "mapping": "m.yaml",
                                   "publisher": "P", "pattern": "*.csv"}])
    defs = build_definitions(str(src), str(tmp_path / "p.duckdb"))
    sensor = defs.resolve_sensor_def(SENSOR_NAME)
    assert sensor.default_status == dg.DefaultSensorStatus.STOPPED
    result = sensor(dg.build_sensor_context(instance=dg.DagsterInstance.ephemeral()))
    assert isinstance(result, dg.SkipReason) and "set PLACECAT_INBOX" in result.skip_message
