"""Where a matcher run spends its DuckDB time: each statement's wall time, by the line that ran it.

    timer = StatementTimer(con)          # con: a duckdb connection
    key_records(timer, previous="previous"); match_records(timer, ...)
    print(timer.report(top=25))

A stand-in for the connection that times every ``execute`` and passes everything else through
(``register``, ``cursor``...: statements run on a cursor of their own are not timed). What is left
of a run's wall time is Python (rapidfuzz, numpy, clustering). Used by ``bench_matching.py scale
--profile``; the figures it gave are in docs/benchmarks.md ("10,000 new records").
"""
from __future__ import annotations

import collections
import sys
import time
from pathlib import Path


class StatementTimer:
    def __init__(self, con):
        self._con = con
        self.seconds: collections.Counter = collections.Counter()
        self.calls: collections.Counter = collections.Counter()

    def execute(self, sql, *args, **kwargs):
        start = time.perf_counter()
        try:
            return self._con.execute(sql, *args, **kwargs)
        finally:
            caller = sys._getframe(1)
            key = (f"{Path(caller.f_code.co_filename).stem}.{caller.f_code.co_name}:{caller.f_lineno}",
                   " ".join(str(sql).split())[:80])
            self.seconds[key] += time.perf_counter() - start
            self.calls[key] += 1

    def __getattr__(self, name):
        return getattr(self._con, name)

    def total(self) -> float:
        return sum(self.seconds.values())

    def report(self, top: int = 25) -> str:
        lines = [f"{s:7.2f} s  x{self.calls[k]:<4} {k[0]}  {k[1]}" for k, s in self.seconds.most_common(top)]
        return "\n".join(lines + [f"{self.total():7.2f} s  in all {sum(self.calls.values())} statements"])
