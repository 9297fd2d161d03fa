"""`placecat review` over real nights: why a pair is uncertain, decisions never asked again (even
after the source re-issues its ids), and decisions that contradict earlier ones refused."""
import subprocess
import sys

import duckdb
import pytest
import yaml

from pipelines.nightly_run import format_summary, run_nightly
from tests.support.environment import REPO
from tests.support.newcomer import ROWS, add_newcomer, demo, golden_id_of_each_record
from warehouse.release import internal_path
from warehouse.state import state_dir_for

ARMLEY = ("leeds-council", "9c9c6f31-a832-5ebd-ab21-8d415cad4e26")
# The demo's food bank on another day: two distribution days or one listing gone stale? The matcher
# cannot tell (a schedule on other days is no automatic merge), so a person is asked. N1, the same
# food bank on the same day, merges.
# (Its own e-mail: a record must differ from its source's others in what a decision's fingerprint reads.)
TUESDAY = ["N6", "Armley Foodbank", *ROWS[0][2:7], "tuesdays@leedswest.foodbank.org.uk", "Tuesday", "10:00", "13:00"]


def review(sources, db, *args):
    proc = subprocess.run([sys.executable, "-m", "pipelines.cli", "review", "--db", str(db), "--sources", str(sources), *args],
                          capture_output=True, text=True, cwd=REPO, stdin=subprocess.DEVNULL)
    return proc.returncode, proc.stdout, proc.stderr


def queued_with(db, record_id) -> list[tuple]:
    # The review queue is internal: it names source records, so it is kept out of the published file.
    with duckdb.connect(str(internal_path(state_dir_for(db))), read_only=True) as con:
        return con.execute("""SELECT rank, source_id_a, record_id_a, source_id_b, record_id_b FROM catalogue.review_queue
                              WHERE source_id_b = 'leeds-newcomer' AND record_id_b = ? OR
                                    source_id_a = 'leeds-newcomer' AND record_id_a = ?""", [record_id, record_id]).fetchall()


def night(sources, db):
    res = run_nightly(sources, db)
    assert res.published, res.error
    return res


@pytest.mark.slow  # five whole nights
def test_a_decision_is_never_asked_again_even_when_the_source_reissues_its_ids(tmp_path):
    sources = demo(tmp_path / "demo")
    db = tmp_path / "out" / "placecat.duckdb"
    night(sources, db)
    add_newcomer(sources, ROWS + [TUESDAY])
    night(sources, db)
    assert golden_id_of_each_record(db)["leeds-newcomer", "N1"] == golden_id_of_each_record(db)[ARMLEY]
    assert queued_with(db, "N6"), "the Tuesday listing is neither merged nor queued"
    rank = queued_with(db, "N6")[0][0]
    code, out, _ = review(sources, db, "--list")
    assert code == 0 and f"[{rank}] " in out and "leeds-newcomer/N6: Armley Foodbank" in out
    # why it is uncertain: what pulled which way, what a gate discounted, what was missing
    assert "pulled towards the same service: " in out or "pulled apart: " in out
    assert "not compared (missing on one side): " in out

    code, out, err = review(sources, db, "--decide", str(rank), "cannot-link", "--note", "two distribution days")
    assert code == 0, err
    decided = yaml.safe_load((sources.parent / "overrides.yaml").read_text())["decisions"]
    assert len(decided) == 1 and all(len(decided[0][s]["fingerprint"]) == 16 for s in ("a", "b"))
    code, out, _ = review(sources, db, "--list")
    assert "N6" not in out                               # answered: not asked again, though the queue still has it
    # The opposite answer on the same pair is refused, in one line naming both decisions.
    code, out, err = review(sources, db, "--decide", str(rank), "must-link")
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "refused: it contradicts decision 1 (cannot-link " in err and "leeds-newcomer/N6" in err

    night(sources, db)
    assert not queued_with(db, "N6")
    ids = golden_id_of_each_record(db)
    assert ids["leeds-newcomer", "N6"] != ids[ARMLEY]
    # The newcomer re-issues every id (a new export numbers its rows afresh).
    add_newcomer(sources, [["R" + row[0][1:], *row[1:]] for row in ROWS + [TUESDAY]])
    night(sources, db)
    ids = golden_id_of_each_record(db)
    assert ("leeds-newcomer", "N6") not in ids and ids["leeds-newcomer", "R6"] != ids[ARMLEY]
    assert not queued_with(db, "R6")
    code, out, _ = review(sources, db, "--list")
    assert code == 0 and "Armley Foodbank" not in out

    # A file edited by hand with a contradicting decision: the earlier one stands, and review says so.
    doc = yaml.safe_load((sources.parent / "overrides.yaml").read_text())
    doc["decisions"].append({"decision": "must-link", "a": {"source_id": ARMLEY[0], "record_id": ARMLEY[1]},
                             "b": {"source_id": "leeds-newcomer", "record_id": "R6"}})
    (sources.parent / "overrides.yaml").write_text(yaml.safe_dump(doc))
    res = night(sources, db)
    ids = golden_id_of_each_record(db)
    assert ids["leeds-newcomer", "R6"] != ids[ARMLEY]
    assert "overrides: 1 decision not honoured, contradicting earlier ones (see placecat review --list)" \
        in format_summary(res)
    code, out, _ = review(sources, db, "--list")
    assert f"not honoured: decision 2: must-link {ARMLEY[0]}/{ARMLEY[1]} ~ leeds-newcomer/R6 refused: it contradicts " \
           "decision 1 (cannot-link" in out
