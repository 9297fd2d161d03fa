"""The bundled OpenActive demo: generated RPDE pages harvested from files, offline."""
import importlib.util
import json

import duckdb

from connectors.config import load_sources
from connectors.refresh import harvest_source, normalise_source
from tests.support.environment import SAMPLE
from warehouse.snapshots import SourceStore

DEMO = SAMPLE / "openactive"


def test_demo_pages_are_what_the_generator_writes(tmp_path, monkeypatch):
    spec = importlib.util.spec_from_file_location("oa_demo_generate", DEMO / "generate.py")
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    monkeypatch.setattr(gen, "HERE", tmp_path)
    gen.write()
    for page in sorted((DEMO / "feed").glob("*.json")):
        assert json.loads((tmp_path / "feed" / page.name).read_text()) == json.loads(page.read_text()), page.name


def test_demo_source_harvests_offline_into_services(tmp_path):
    source = load_sources(DEMO / "sources.yaml").get("active-leeds-demo")
    state = tmp_path / "state"
    rep = harvest_source(source, state, "r1")
    assert rep.status == "ok", rep.message
    assert normalise_source(source, state, rep.version, "r1").status == "ok"
    cur = SourceStore(state, source.id).current()
    with duckdb.connect(str(cur.path), read_only=True) as con:
        names = sorted(r[0] for r in con.execute("SELECT name FROM staging.service").fetchall())
        dump = json.dumps(con.execute("SELECT * FROM staging.service").fetchall(), default=str)
        rules = [r[0] for r in con.execute("SELECT rule FROM quality.issue").fetchall()]
    # Junior Gym was deleted on page 2; Walking Football was renamed there.
    assert names == ["Aquafit", "Badminton court hire", "Chair Yoga", "Walking Football (over 50s)"]
    assert "A. Instructor" not in dump and rules == ["personal_data"]
    assert harvest_source(source, state, "r2").status == "unchanged"
