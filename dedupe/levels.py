"""Comparison levels of candidate pairs: each pair's level on every comparison, computed in DuckDB
from the similarities rapidfuzz gives (the "comparisons" stage; scoring turns levels into weights).

Strings are fetched once per record (``RecordText``) and picked per pair by index; a comparison
that declares ``distinct_on`` is computed once per distinct pair of its values
(``levels_per_distinct_values``); pairs are done in batches of ``CHUNK``.
"""
from __future__ import annotations

import re

import duckdb
import numpy as np
import pandas as pd
from rapidfuzz import fuzz, process

from dedupe.comparisons import SERVICE_COMPARISONS, SERVICE_SIMILARITIES, Comparison, Similarity

# Pairs per batch of comparison levels: each batch scans the records it joins, so at a million records
# batches of 400,000 pairs spent a third of the level time on those scans (67.6 s against 49.6 s for
# 9.8 million pairs); 2.5 million pairs of similarities are about 90 MB.
CHUNK = 2_500_000


class RecordText:
    """The strings each similarity compares, fetched once per record and picked per pair by index.

    Fetching them per pair (a join, then a Python string per pair and side) cost more than the
    similarities themselves; per record, a million records are a few seconds and the pairs are
    numpy fancy indexing into these arrays. ``extra`` adds other per-record values by SQL
    expression over the record ``r``; ``only`` (a table of mids) limits the records fetched.
    """

    def __init__(self, con: duckdb.DuckDBPyConnection, records: str, sims: tuple[Similarity, ...],
                 extra: dict[str, str] | None = None, only: str | None = None, comparisons: tuple[Comparison, ...] = ()):
        # Missing strings as '' in SQL: a column with NULLs comes back as a masked array, and reading
        # one element at a time from that costs seconds per million records.
        exprs = {left: f"coalesce(CAST(r.{left} AS VARCHAR), '')" for left in dict.fromkeys(s.left for s in sims)} | (extra or {})
        exprs |= {distinct_key(c): distinct_key_sql(c) for c in comparisons if c.distinct_on}
        where = f"WHERE r.mid IN (SELECT mid FROM {only})" if only else ""
        self.columns = {}
        self._factorized: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        # One column at a time, each string once: fetched, a million records' values are a million
        # string objects per column (60 MB and more each), though most columns hold a few thousand
        # distinct values. Each text column is kept as codes into its distinct values, and as an
        # array of references to those (8 bytes a record). A few records (``only``: an incremental
        # night's) are fetched in one query instead: each query scans and sorts every record to
        # pick them, and at a million records that scan, not the strings, was most of the time.
        def query(select: str) -> dict[str, np.ndarray]:
            return con.execute(f"SELECT {select} FROM {records} r {where} ORDER BY r.mid").fetchnumpy()
        fetched = query(", ".join(["r.mid"] + [f'{sql} AS "{name}"' for name, sql in exprs.items()])) if only else None
        self.mids = np.asarray((fetched or query("r.mid")).pop("mid"), dtype=np.int64)
        for name, sql in exprs.items():
            values = fetched.pop(name) if fetched is not None else query(f"{sql} AS c")["c"]
            if values.dtype == object:
                codes, distinct = pd.factorize(np.ma.filled(values, ""))
                del values
                self._factorized[name] = (codes.astype(np.int64), np.asarray(distinct, dtype=object))
                values = self._factorized[name][1][codes]
            self.columns[name] = np.asarray(values)
        self._position: np.ndarray | None = None

    def index(self, mids: np.ndarray) -> np.ndarray:
        """The record index of each mid, by a lookup table over the mids: a binary search of tens of
        millions of candidate mids cost seconds."""
        top = int(self.mids[-1]) + 1 if len(self.mids) else 0
        if top > 4 * len(self.mids) + 1_000_000:     # few records among many mids: search, don't tabulate
            return np.searchsorted(self.mids, mids)
        if self._position is None:
            self._position = np.zeros(top, np.int64)
            self._position[self.mids] = np.arange(len(self.mids))
        return self._position[mids]

    def first_of_codes(self, column: str) -> np.ndarray:
        """For each distinct value of a column (by code), the index of a record that has it."""
        key = "first of " + column
        if key not in self._factorized:
            codes, values = self.codes(column)
            first = np.zeros(len(values), np.int64)
            first[codes[::-1]] = np.arange(len(codes) - 1, -1, -1)
            self._factorized[key] = (first, values)
        return self._factorized[key][0]

    def codes(self, column: str) -> tuple[np.ndarray, np.ndarray]:
        """Each record's value of a column as a code into the column's distinct values (codes, values)."""
        if column not in self._factorized:
            codes, values = pd.factorize(self.columns[column])
            self._factorized[column] = (codes.astype(np.int64), np.asarray(values, dtype=object))
        return self._factorized[column]

    def similarity(self, sim: Similarity, il: np.ndarray, ir: np.ndarray) -> np.ndarray:
        """rapidfuzz scores of one similarity for the pairs at record indexes (il, ir).

        Each distinct pair of strings is scored once, and identical strings score 100 without a
        call: siblings at one venue share the address, the organisation and often the
        description, and class names repeat from venue to venue, so this skips most of the work.
        """
        codes, values = self.codes(sim.left)
        pair_code = codes[il] * len(values) + codes[ir]
        inverse, distinct = pd.factorize(pair_code)
        a, b = values[distinct // len(values)], values[distinct % len(values)]
        scorer = getattr(fuzz, sim.scorer)
        a_empty, b_empty = a == "", b == ""
        out = np.where(a_empty & b_empty, np.float32(scorer("", "")), np.float32(0.0)).astype(np.float32)
        same = (distinct // len(values) == distinct % len(values)) & ~a_empty
        out[same] = 100.0
        todo = ~same & ~a_empty & ~b_empty
        if todo.any():
            out[todo] = process.cpdist(a[todo], b[todo], scorer=scorer, workers=-1, dtype=np.float32)
        return out[inverse]


def distinct_key(c: Comparison) -> str:
    return f"distinct values of {c.name}"


def distinct_key_sql(c: Comparison) -> str:
    """One string per record for the values of c.distinct_on (a JSON array: NULL stays apart from '')."""
    return "CAST(to_json([" + ", ".join(f"CAST({e} AS VARCHAR)" for e in c.distinct_on) + "]) AS VARCHAR)"


def _level_sql(c: Comparison) -> str:
    whens = " ".join(f"WHEN {lv.sql} THEN {i}" for i, lv in enumerate(c.levels))
    return f"CAST(CASE WHEN {c.null_sql} THEN -1 {whens} END AS TINYINT)"


def _gamma_sql(comparisons: tuple[Comparison, ...], given: frozenset[str] = frozenset()) -> str:
    """The level of each comparison, or for those in ``given``, the level already in sim."g_<name>"."""
    return ", ".join(f'sim."g_{c.name}"' if c.name in given else f'{_level_sql(c)} AS "g_{c.name}"' for c in comparisons)


def sims_read(comparisons, sims) -> list[Similarity]:
    """The similarities that the comparisons' SQL reads (as sim.<name>), in the order of sims."""
    sql = " ".join(part for c in comparisons for part in [c.null_sql] + [lv.sql for lv in c.levels])
    read = set(re.findall(r"\bsim\.(\w+)", sql))
    return [s for s in sims if s.name in read]


def levels_per_distinct_values(con: duckdb.DuckDBPyConnection, records: str, text: "RecordText", c: Comparison,
                               sims, il: np.ndarray, ir: np.ndarray) -> np.ndarray:
    """The levels of comparison c for the pairs at record indexes (il, ir), each computed once per
    distinct pair of the records' c.distinct_on values, on a record that stands for each value."""
    key = distinct_key(c)
    codes, values = text.codes(key)
    first = text.first_of_codes(key)
    pair_code = codes[il] * len(values) + codes[ir]
    if len(values) ** 2 <= 1_000_000:     # few values: a table of every pair of them beats hashing the pairs
        seen = np.zeros(len(values) ** 2, bool)
        seen[pair_code] = True
        distinct = np.flatnonzero(seen)
        inverse = np.zeros(len(values) ** 2, np.int64)
        inverse[distinct] = np.arange(len(distinct))
        inverse = inverse[pair_code]
    else:
        inverse, distinct = pd.factorize(pair_code)
    rep_l, rep_r = first[distinct // len(values)], first[distinct % len(values)]
    frame = pd.DataFrame({"i": np.arange(len(distinct)), "mid_l": text.mids[rep_l], "mid_r": text.mids[rep_r]}
                         | {s.name: text.similarity(s, rep_l, rep_r) for s in sims_read((c,), sims)})
    con.register("distinct_frame", frame)
    raw = con.execute(f"""SELECT sim.i, {_level_sql(c)} AS g FROM distinct_frame sim
                          JOIN {records} l ON l.mid = sim.mid_l JOIN {records} r ON r.mid = sim.mid_r""").fetchnumpy()
    con.unregister("distinct_frame")
    levels = np.zeros(len(distinct), np.int8)
    levels[np.asarray(raw["i"], np.int64)] = np.asarray(raw["g"], np.int8)
    return levels[inverse]


def compute_gammas(con: duckdb.DuckDBPyConnection, pairs_table: str, records: str = "work.match_record",
                   comparisons=SERVICE_COMPARISONS, sims=SERVICE_SIMILARITIES, target: str = "work.pair_gamma",
                   text: RecordText | None = None) -> int:
    """Comparison levels of every pair of pairs_table(mid_l, mid_r) into target(mid_l, mid_r, g_*)."""
    text = text or RecordText(con, records, sims, comparisons=comparisons)
    con.execute(f"CREATE OR REPLACE TABLE {target} AS SELECT mid_l, mid_r, "
                + ", ".join(f"CAST(NULL AS TINYINT) AS \"g_{c.name}\"" for c in comparisons) + f" FROM {pairs_table} LIMIT 0")
    pairs = con.execute(f"SELECT mid_l, mid_r FROM {pairs_table}").fetchnumpy()
    mid_l, mid_r = np.asarray(pairs["mid_l"], np.int64), np.asarray(pairs["mid_r"], np.int64)
    # Comparisons with distinct_on, where the records' values for them were fetched, go once per
    # distinct pair of values; the rest, and the similarities only they read, per pair in SQL.
    once = [c for c in comparisons if c.distinct_on and distinct_key(c) in text.columns]
    per_pair_sims = sims_read([c for c in comparisons if c not in once], sims)
    # Over all the pairs at once: the distinct pairs of values repeat from chunk to chunk.
    il, ir = text.index(mid_l), text.index(mid_r)
    given = {f"g_{c.name}": levels_per_distinct_values(con, records, text, c, sims, il, ir) for c in once}
    for start in range(0, len(mid_l), CHUNK):
        part = slice(start, start + CHUNK)
        frame = pd.DataFrame({"mid_l": mid_l[part], "mid_r": mid_r[part]}
                             | {s.name: text.similarity(s, il[part], ir[part]) for s in per_pair_sims}
                             | {name: levels[part] for name, levels in given.items()})
        con.register("sim_chunk", frame)
        con.execute(f"""
            INSERT INTO {target}
            SELECT sim.mid_l, sim.mid_r, {_gamma_sql(comparisons, frozenset(c.name for c in once))}
            FROM sim_chunk sim JOIN {records} l ON l.mid = sim.mid_l JOIN {records} r ON r.mid = sim.mid_r
        """)
        con.unregister("sim_chunk")
    return len(mid_l)


def fetch_gammas(con: duckdb.DuckDBPyConnection, table: str, comparisons) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    cols = ", ".join(f'"g_{c.name}"' for c in comparisons)
    raw = con.execute(f"SELECT mid_l, mid_r, {cols} FROM {table} ORDER BY mid_l, mid_r").fetchnumpy()
    g = np.column_stack([np.asarray(raw[f"g_{c.name}"], dtype=np.int8) for c in comparisons]) if len(raw["mid_l"]) else \
        np.zeros((0, len(comparisons)), np.int8)
    return np.asarray(raw["mid_l"], np.int64), np.asarray(raw["mid_r"], np.int64), g
