"""The statement timer of bench_matching.py scale --profile: every statement counted by the line that ran it,
the connection's other methods passed through, and a statement that fails still timed and still raising."""
import duckdb
import pytest

from benchmarks.statement_timer import StatementTimer


def run_three(con):
    for _ in range(2):
        con.execute("SELECT 1")
    return con.execute("SELECT count(*) FROM range(1000)").fetchone()[0]


def test_each_statement_is_counted_by_the_line_that_ran_it():
    timer = StatementTimer(duckdb.connect())
    assert run_three(timer) == 1000
    lines = {site: n for (site, sql), n in timer.calls.items()}
    assert sorted(lines.values()) == [1, 2] and all(site.startswith("test_statement_timer.run_three:") for site in lines)
    assert timer.total() == pytest.approx(sum(timer.seconds.values())) and timer.total() > 0
    assert timer.report().splitlines()[-1].endswith("in all 3 statements")


def test_other_methods_pass_through_and_a_failing_statement_raises_and_is_counted():
    timer = StatementTimer(duckdb.connect())
    timer.register("frame", duckdb.connect().execute("SELECT 42 AS x").df())
    assert timer.execute("SELECT x FROM frame").fetchone()[0] == 42
    with pytest.raises(duckdb.Error):
        timer.execute("SELECT * FROM no_such_table")
    assert sum(timer.calls.values()) == 2
