"""Nights of the matcher alone (no pipeline): generated listings, last night's state handed over
as the nightly build does, and tonight's inputs loaded in its place."""
import sys

import duckdb
import pandas as pd

from dedupe.records import MATCH_INPUT_DDL
from tests.support.environment import REPO


def as_previous(con: duckdb.DuckDBPyConnection) -> None:
    """Last night's matcher state, the way the nightly build hands it over (schema `previous`)."""
    con.execute("CREATE SCHEMA previous")
    for src, dst in (("match_record", "match_record"), ("match_pair", "match_pair"), ("record_cluster", "match_cluster"),
                     ("block_key", "match_block_key")):
        con.execute(f"CREATE TABLE previous.{dst} AS SELECT * FROM work.{src}")


def generated_rows(n: int, seed: int) -> list[dict]:
    """Match inputs of the benchmark generator's n services (several listings each)."""
    sys.path.insert(0, str(REPO))
    from benchmarks.gen_services import generate
    frame = generate(n, seed=seed)
    return frame[[c for c in frame.columns if c not in ("entity", "venue", "org", "kind")]].to_dict("records")


def reload_inputs(con: duckdb.DuckDBPyConnection, rows: list[dict]) -> None:
    """Tonight's inputs in work.match_input, in place of last night's."""
    con.execute(MATCH_INPUT_DDL)
    con.register("rows_frame", pd.DataFrame(rows))
    con.execute("INSERT INTO work.match_input SELECT * FROM rows_frame")
    con.unregister("rows_frame")
