"""Blocking: which pairs of match records are worth scoring, in DuckDB.

Each blocking rule (declared as data below) gives every record zero or more keys; records that
share a key become a candidate pair. Block sizes are capped by design: a block larger than
``cap`` (a national phone number, a leisure centre with forty classes) is split by the first
phonetic name token, and whatever is still over the cap is dropped and reported, so that no key
can blow up the pair count. What was capped lands in ``work.block_report``.

The keys of every record are kept in ``work.block_key(mid, rule, key)``; the nightly build stores
them with the catalogue, so that a later night keys only its new and changed records and finds
their partners by a join on the stored keys (``generate_candidates(..., probe=...)``).
"""
from __future__ import annotations

from dataclasses import dataclass

import duckdb

from dedupe.records import drop_relation


@dataclass(frozen=True)
class BlockingRule:
    name: str
    keys_sql: str          # SQL list expression over a match record r: the record's keys for this rule
    cap: int = 50          # the largest block scored whole


SERVICE_BLOCKING = (
    BlockingRule("postcode", "[r.postcode]"),
    BlockingRule("phone", "r.phones"),
    BlockingRule("email", "r.emails"),
    BlockingRule("web", "[r.web_key]"),
    BlockingRule("identifier", "list_concat(r.svc_ids, r.org_ids, r.loc_ids)"),
    # The same name anywhere, for rare names only. Common names block within an area (below): a
    # same-named listing in another town can merge only where a place or organisation agrees, and
    # national blocks of common names made most of the candidate pairs (at 44,000 listings: 5.9 of
    # 6.5 million uncapped pairs, with 4 true pairs no other rule found). Measured with
    # `benchmarks/bench_matching.py accuracy`: fewer candidates, a shorter review queue, no loss of F1.
    BlockingRule("name", "[r.name_key]", cap=8),
    # Near-identical names at nearby venues, and the same name with a different postcode in one area.
    BlockingRule("geo_cell_name", "list_transform(string_split(coalesce(r.name_phon, ''), ' '), lambda t: r.cell || '/' || t)"),
    BlockingRule("area_name_token", "list_transform(list_filter(r.name_tokens, lambda t: len(t) >= 4), lambda t: r.area || '/' || t)"),
)


def rules_signature(rules) -> list[str]:
    """What stored block keys were made with; under other rules they are keyed afresh."""
    return [f"{rule.name}|{rule.keys_sql}|{rule.cap}" for rule in rules]


def block_keys_sql(rules, records: str, where: str = "") -> str:
    parts = [f"SELECT r.mid, '{rule.name}' AS rule, unnest({rule.keys_sql}) AS key FROM {records} r {where}" for rule in rules]
    return " UNION ALL ".join(parts)


def compute_block_keys(con: duckdb.DuckDBPyConnection, rules, records: str, target: str = "work.block_key",
                       only: str | None = None) -> None:
    """The blocking keys of the records (of those whose mid is in table ``only``, if given) into target."""
    where = f"WHERE r.mid IN (SELECT mid FROM {only})" if only else ""
    con.execute(f"""
        CREATE OR REPLACE TABLE {target} AS
        SELECT * FROM ({block_keys_sql(rules, records, where)}) WHERE key IS NOT NULL AND key <> '' AND NOT ends_with(key, '/')
    """)


# Blocks (and sources) as hashes, from the first step on, and pairs packed into one BIGINT: joining,
# counting and de-duplicating millions of keys as strings took most of the blocking time (an
# incremental night's blocks hold 3.2 million keys at a million records, and a split block's key was
# a new string per key). A sub-block of a split block is the hash of its block and its phonetic
# word. Two blocks that hash alike (about one chance in ten million among a million records' two
# million keys) are one block: a candidate pair more, which the comparisons judge like any other,
# or a block over its cap.
BLOCK_HASH_SQL = "hash(k.rule, k.key)"

# Candidate pairs of a full match are made in up to this many parts of at least this many records
# each (see generate_candidates).
CANDIDATE_PARTS = 4
CANDIDATE_PART_RECORDS = 100_000


def generate_candidates(con: duckdb.DuckDBPyConnection, rules=SERVICE_BLOCKING, records: str = "work.match_record",
                        link_only: bool = True, probe: str | None = None, previous_keys: str | None = None,
                        gone: str | None = None) -> dict:
    """Fill work.candidate(mid_l, mid_r) with mid_l < mid_r and work.block_key; returns the block report.

    With ``probe`` (a table of mids), only pairs with at least one probed record are made: the
    incremental path, where new and changed records are compared with the existing catalogue.
    With ``previous_keys`` too (last night's block keys), only the probed records are keyed; the
    others keep the keys stored for them, since their content has not changed; ``gone`` (a table of
    mids) names the stored records that are no longer there, else they are found by their absence.
    """
    if probe and previous_keys:
        compute_block_keys(con, rules, records, "work.probe_block_key", only=probe)
        # Last night's keys brought up to date in place (see dedupe.records.key_records), then seen as work.block_key.
        gone_records = f"mid IN (SELECT mid FROM {gone})" if gone else f"mid NOT IN (SELECT mid FROM {records})"
        con.execute(f"DELETE FROM {previous_keys} WHERE {gone_records} OR mid IN (SELECT mid FROM {probe})")
        con.execute(f"INSERT INTO {previous_keys} SELECT * FROM work.probe_block_key")
        drop_relation(con, "work.block_key")
        con.execute(f"CREATE VIEW work.block_key AS SELECT * FROM {previous_keys}")
        # Only the blocks that a probed record is in can give a new pair.
        con.execute(f"""
            CREATE OR REPLACE TEMP TABLE block_key AS
            SELECT k.mid, k.rule, {BLOCK_HASH_SQL} AS block FROM work.block_key k
            SEMI JOIN (SELECT DISTINCT rule, key FROM work.probe_block_key) p USING (rule, key)
        """)
        con.execute("DROP TABLE work.probe_block_key")
    else:
        drop_relation(con, "work.block_key")
        compute_block_keys(con, rules, records)
        con.execute(f"CREATE OR REPLACE TEMP TABLE block_key AS SELECT k.mid, k.rule, {BLOCK_HASH_SQL} AS block FROM work.block_key k")
    caps = " ".join(f"WHEN '{rule.name}' THEN {rule.cap}" for rule in rules)
    # Oversized blocks are split by the first phonetic name token; still-oversized sub-blocks are dropped.
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE block_size AS
        SELECT rule, block, count(*) AS n, CASE rule {caps} END AS cap FROM block_key GROUP BY ALL
    """)
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE block_key2 AS
        SELECT b.mid, hash(r.source_id) AS source, b.rule,
               CASE WHEN s.n > s.cap THEN hash(b.block, coalesce(split_part(r.name_phon, ' ', 1), '')) ELSE b.block END AS block,
               s.n > s.cap AS split, s.cap
        FROM block_key b JOIN block_size s USING (rule, block) JOIN {records} r ON r.mid = b.mid
    """)
    con.execute("""
        CREATE OR REPLACE TEMP TABLE block_size2 AS SELECT rule, block, count(*) AS n, bool_or(split) AS split, any_value(cap) AS cap
        FROM block_key2 GROUP BY ALL
    """)
    report = {r[0]: {"blocks": r[1], "keys": r[2], "split_blocks": r[3], "dropped_blocks": r[4], "dropped_keys": r[5],
                     "largest_block_scored": r[6]}
              for r in con.execute("""
                SELECT rule, count(*), sum(n), count(*) FILTER (WHERE split), count(*) FILTER (WHERE n > cap),
                       coalesce(sum(n) FILTER (WHERE n > cap), 0), max(n) FILTER (WHERE n <= cap)
                FROM block_size2 GROUP BY 1 ORDER BY 1""").fetchall()}
    cross = "AND a.source != b.source" if link_only else ""
    con.execute("""
        CREATE OR REPLACE TEMP TABLE scored_key AS
        SELECT k.block, k.mid, k.source
        FROM block_key2 k JOIN block_size2 s USING (rule, block) WHERE s.n <= s.cap AND s.n > 1
    """)
    con.execute("CREATE OR REPLACE TABLE work.candidate (mid_l BIGINT, mid_r BIGINT)")
    if probe:
        # Each probed record against its blocks, rather than every pair of those blocks filtered after.
        pairs = [f"""SELECT DISTINCT (least(a.mid, b.mid) << 32) | greatest(a.mid, b.mid) AS pair
                     FROM (SELECT * FROM scored_key WHERE mid IN (SELECT mid FROM {probe})) a
                     JOIN scored_key b ON a.block = b.block AND a.mid <> b.mid {cross}"""]
    else:
        # In parts by the smaller mid, which a pair's packed value starts with, so that the parts'
        # pairs are disjoint: at a million skewed records the de-duplication of all of them at once
        # (21 million pairs) spilled past the memory limit and took 8.3 s, against 4.7 s unbounded.
        top = con.execute("SELECT coalesce(max(mid) + 1, 0) FROM scored_key").fetchone()[0]
        parts = max(1, min(CANDIDATE_PARTS, top // CANDIDATE_PART_RECORDS))
        pairs = [f"""SELECT DISTINCT (a.mid << 32) | b.mid AS pair
                     FROM scored_key a JOIN scored_key b ON a.block = b.block AND a.mid < b.mid {cross}
                     WHERE a.mid >= {top * k // parts} AND a.mid < {top * (k + 1) // parts}""" for k in range(parts)]
    for part in pairs:
        con.execute(f"INSERT INTO work.candidate SELECT pair >> 32 AS mid_l, pair & 4294967295 AS mid_r FROM ({part})")
    con.execute("CREATE OR REPLACE TABLE work.block_report (rule VARCHAR, blocks BIGINT, keys BIGINT, split_blocks BIGINT, "
                "dropped_blocks BIGINT, dropped_keys BIGINT, largest_block_scored BIGINT)")
    for rule, r in report.items():
        con.execute("INSERT INTO work.block_report VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [rule, r["blocks"], r["keys"], r["split_blocks"], r["dropped_blocks"], r["dropped_keys"],
                     r["largest_block_scored"]])
    pairs = con.execute("SELECT count(*) FROM work.candidate").fetchone()[0]
    for t in ("block_key", "block_size", "block_key2", "block_size2", "scored_key"):
        con.execute(f"DROP TABLE IF EXISTS {t}")
    return {"pairs": pairs, "rules": report}
