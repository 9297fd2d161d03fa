"""The shrink guard: a feed that suddenly serves nothing, or far less, is held, not published.

The report: an empty ORUK feed that had 19 records, a header-only CSV, and a feed that consistently
says it has 5 records when it had 19 were each `ok`, and their services were withdrawn downstream.
Real loopback feeds and real snapshot folders here; the whole nights (and `/changes`) are in
tests/pipelines/test_nightly_shrink.py.
"""
from __future__ import annotations

import subprocess
import sys

import pytest
import yaml

from connectors.config import ConfigError, load_sources
from connectors.refresh import harvest_source, normalise_source
from connectors.shrink import accept, check_shrink
from tests.support.environment import REPO
from tests.support.faultyserver import FaultyServer
from tests.support.orukfeeds import OrukFeed, generated_v3_services
from warehouse.snapshots import SourceStore


def source_of(tmp_path, **options):
    entry = {"id": "feed", "kind": "oruk", "url": "https://example.org/api", "publisher": "P", **options}
    (tmp_path / "sources.yaml").write_text(yaml.safe_dump({"sources": [entry]}))
    return load_sources(tmp_path / "sources.yaml").sources[0]


@pytest.mark.parametrize("before, after, options, held", [
    (19, 0, {}, True),                         # an empty feed: always held
    (19, 5, {}, True),                         # 74 % fewer: over the default 50 %
    (19, 10, {}, False),                       # 47 % fewer: published
    (19, 5, {"max_shrink": 0.8}, False),       # a source allowed to fall further
    (19, 0, {"max_shrink": 1.0}, True),        # ... but never to none
    (19, 0, {"accept_shrink": True}, False),   # accepted for the night
    (None, 0, {}, False),                      # a first harvest has nothing to compare with
    (0, 0, {}, False),
    (19, 25, {}, False),
])
def test_the_rule(tmp_path, before, after, options, held):
    verdict = check_shrink(source_of(tmp_path, **options), before, after)
    assert verdict.held is held
    if held:
        assert verdict.message.startswith(f"held: {after or 'no'} services") and "placecat accept feed" in verdict.message
        assert "\n" not in verdict.message


def test_max_shrink_and_accept_shrink_are_checked_up_front(tmp_path):
    with pytest.raises(ConfigError, match="field 'max_shrink': 1.5 is out of range"):
        source_of(tmp_path, max_shrink=1.5)
    with pytest.raises(ConfigError, match="field 'accept_shrink': 'yes please' is not true or false"):
        source_of(tmp_path, accept_shrink="yes please")


def refresh(source, state, run_id):
    rep = harvest_source(source, state, run_id)
    return normalise_source(source, state, rep.version, run_id) if rep.status == "ok" else rep


def services_in_force(state) -> int:
    return int(SourceStore(state, "feed").current().meta["records_in"])


@pytest.mark.integration
@pytest.mark.parametrize("fault", ["empty", "lying_total"])
def test_a_feed_that_serves_nothing_or_lies_about_its_size_is_held_until_accepted(tmp_path, fault):
    services = generated_v3_services(19, seed=4)
    feed = OrukFeed(services, etag=False, default_per_page=10)
    with FaultyServer() as srv:
        feed.install(srv)
        doc = {"sources": [{"id": "feed", "kind": "oruk", "url": srv.url, "publisher": "P", "version": 3,
                            "per_page": 10}]}
        (tmp_path / "sources.yaml").write_text(yaml.safe_dump(doc))
        source = load_sources(tmp_path / "sources.yaml").sources[0]
        state = tmp_path / "state"
        assert refresh(source, state, "r1").status == "ok"
        good = SourceStore(state, "feed").current().version
        if fault == "empty":
            feed.services = []
        else:  # every page agrees there are 5 services, and page 1 holds them
            feed.services = services[:5]
        held = refresh(source, state, "r2")
        assert held.status == "held", held.message
        assert held.message.startswith(f"held: {'no' if fault == 'empty' else 5} services, down from 19")
        store = SourceStore(state, "feed")
        assert store.current().version == good and services_in_force(state) == 19
        assert store.read_status()["status"] == "held"
        # Every night it stays held (the harvest is compared with the snapshot in force, not the held one).
        assert refresh(source, state, "r3").status == "held"
        assert store.current().version == good

        line = accept(source, state)
        assert line.startswith("feed: accepted the held harvest") and "were 19" in line
        assert services_in_force(state) == (0 if fault == "empty" else 5)
        assert store.held() is None and store.read_status()["status"] == "ok"


def test_a_header_only_csv_is_held(tmp_path):
    (tmp_path / "m.yaml").write_text('id: "Ref"\ncolumns:\n  service.name: "Name"\n')
    rows = "".join(f"{i},Service {i}\n" for i in range(1, 20))
    (tmp_path / "s.csv").write_text("Ref,Name\n" + rows)
    doc = {"sources": [{"id": "feed", "kind": "spreadsheet", "path": "s.csv", "mapping": "m.yaml", "publisher": "P"}]}
    (tmp_path / "sources.yaml").write_text(yaml.safe_dump(doc))
    source = load_sources(tmp_path / "sources.yaml").sources[0]
    assert refresh(source, tmp_path / "state", "r1").status == "ok"
    (tmp_path / "s.csv").write_text("Ref,Name\n")
    rep = refresh(source, tmp_path / "state", "r2")
    assert rep.status == "held" and services_in_force(tmp_path / "state") == 19


def test_accept_before_the_shrink_takes_the_next_harvest_whatever_its_size(tmp_path):
    (tmp_path / "m.yaml").write_text('id: "Ref"\ncolumns:\n  service.name: "Name"\n')
    (tmp_path / "s.csv").write_text("Ref,Name\n" + "".join(f"{i},Service {i}\n" for i in range(1, 20)))
    doc = {"sources": [{"id": "feed", "kind": "spreadsheet", "path": "s.csv", "mapping": "m.yaml", "publisher": "P"}]}
    (tmp_path / "sources.yaml").write_text(yaml.safe_dump(doc))
    source = load_sources(tmp_path / "sources.yaml").sources[0]
    state = tmp_path / "state"
    assert refresh(source, state, "r1").status == "ok"
    assert "next harvest will be accepted" in accept(source, state)
    (tmp_path / "s.csv").write_text("Ref,Name\n1,Service 1\n")
    rep = refresh(source, state, "r2")
    assert rep.status == "ok" and services_in_force(state) == 1
    assert "shrink accepted by `placecat accept`" in SourceStore(state, "feed").read_status()["message"]
    # The acceptance was for one harvest only: the next fall is held again.
    (tmp_path / "s.csv").write_text("Ref,Name\n")
    assert refresh(source, state, "r3").status == "held"


def test_placecat_accept_on_the_command_line(tmp_path):
    source_of(tmp_path)
    run = [sys.executable, "-m", "pipelines.cli", "accept"]
    ok = subprocess.run([*run, "feed", "--sources", str(tmp_path / "sources.yaml"), "--db", str(tmp_path / "c.duckdb")],
                        capture_output=True, text=True, cwd=REPO, timeout=120)
    assert ok.returncode == 0 and ok.stdout.startswith("feed: no harvest is held"), ok.stderr
    bad = subprocess.run([*run, "nope", "--sources", str(tmp_path / "sources.yaml"), "--db", str(tmp_path / "c.duckdb")],
                         capture_output=True, text=True, cwd=REPO, timeout=120)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "no source with id 'nope'" in bad.stderr
