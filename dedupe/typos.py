"""Misspelt words in service names, read as the word that the other listings spell right.

A directory that types 'Traipolining', 'Wrrm Space' or 'Cornwall Carers Esrvice Carers Support Group'
lists the same service as the ones that spell it right, but compared word by word the misspelt word
is another word: 'trampolining' / 'traipolining' is under the look-alike bar of ``unmatched_tokens``
(Jaro-Winkler 0.90), so the names "differ by a word", a veto. No bar on spelling alone can tell a
typo from a sibling service's word ('St Mary' / 'St Mark', 'IMCA' / 'IMHA' are one letter apart too).
What tells them apart is how often each spelling is written (the noisy-channel reading of a spell
checker, with the night's names as its dictionary): a word that one or two listings use, one edit
away from a word that many listings use, is a slip of the keyboard; two words that are both in common
use, or both rare, are two words.

So, every night, over every match record's full name (``full_name``, before the organisation and
venue are taken off, so that the organisation's words count too):

* a word is **rare** when at most ``RARE_MAX`` records use it and **common** when at least
  ``COMMON_MIN`` records, and ``COMMON_FACTOR`` times as many as the rare one, use it;
* a rare word is read as a common word one edit away (a letter added, dropped or two neighbours
  swapped; a changed letter only in words of ``SUBSTITUTION_MIN_LENGTH`` letters or more, and not the
  first: 'south' / 'youth', 'cafe' / 'care' are words, not slips), when that common word is clearly
  the likeliest (``CLEAR_LEAD`` times as common as the next candidate); words with digits never;
* the record's ``name_words`` are then its full name's words so read, with the organisation, venue,
  building and town taken off as at keying (``dedupe.records.name_core_ctes``): 'Cornwall Carers
  Esrvice Carers Support Group' of Cornwall Carers Service is 'carers support group'. ``name_cmp``
  is the same words as one string. The name comparison reads these (dedupe.comparisons); the name
  key, the blocking keys and the "exact" level keep the words as written.

The known risk is a real word one letter from a more common one ('palate' / 'palace' and 'bakers' /
'bakery' on Fodors–Zagats, 'careers' / 'carers' on dev-2026): a reading lifts the "one word differs"
veto, and the gates still want a place or organisation to agree before names count.

Candidates are found by deletion neighbourhoods (SymSpell): two words one edit apart share a word
with one letter taken out, so the rare and common words are joined on those, not compared all
against all. Measured on dev-2026 and the hard sets: see docs/matching.md ("Misspelt words").

A record's ``name_words`` depend on the other records (a word becomes common as listings are added),
so a record whose reading changed tonight is compared again like a changed record
(``dedupe.records.key_records`` has ``read_name_typos`` add it to ``work.changed`` on an incremental night).
"""
from __future__ import annotations

import duckdb

from dedupe.keys import name_core_ctes

# The rules, as data, with why each is what it is.
RARE_MAX = 2              # a slip is one listing's (or one listing copied once); three listings spelling a word alike mean it
COMMON_MIN = 3            # a word three listings use is a word of this catalogue
COMMON_FACTOR = 3         # ... and it must be written far more often than the rare spelling
MIN_LENGTH = 4            # 'spn' / 'spin', 'gp' / 'gym': too short to say which word was meant
SUBSTITUTION_MIN_LENGTH = 5   # 'mark' / 'mary', 'caue' / 'cafe': four-letter words one letter apart are often both words
CLEAR_LEAD = 2            # 'bols' is 'bowls' only if no other common word is nearly as likely


def fixes_sql(records: str) -> str:
    """SELECT (rare, word): each rare word of the records' full names and the common word it is read as."""
    return f"""
        WITH vocab AS (
            SELECT token, count(*) AS n FROM (
                SELECT unnest(list_distinct(string_split(full_name, ' '))) AS token FROM {records} WHERE full_name IS NOT NULL)
            WHERE len(token) >= {MIN_LENGTH} AND NOT regexp_matches(token, '[0-9]') GROUP BY 1),
        rare AS (SELECT token, n FROM vocab WHERE n <= {RARE_MAX}),
        common AS (SELECT token, n FROM vocab WHERE n >= {COMMON_MIN}),
        -- each word and the words it gives with one letter taken out
        rare_del AS (SELECT token, n, unnest(list_append(list_transform(range(1, len(token) + 1),
                                 lambda i: left(token, i - 1) || substr(token, i + 1)), token)) AS v FROM rare),
        common_del AS (SELECT token, n, unnest(list_append(list_transform(range(1, len(token) + 1),
                                   lambda i: left(token, i - 1) || substr(token, i + 1)), token)) AS v FROM common),
        candidate AS (
            SELECT DISTINCT r.token AS rare, c.token AS word, c.n AS n
            FROM rare_del r JOIN common_del c ON c.v = r.v
            WHERE c.n >= {COMMON_FACTOR} * r.n AND damerau_levenshtein(r.token, c.token) = 1
              -- a changed letter (same length, one position differs): only in longer words, and not the first
              -- (hamming() only under CASE: it fails on strings of unequal length, and AND may run both sides)
              AND NOT CASE WHEN len(r.token) = len(c.token)
                           THEN hamming(r.token, c.token) = 1
                                AND (len(r.token) < {SUBSTITUTION_MIN_LENGTH} OR left(r.token, 1) <> left(c.token, 1))
                           ELSE false END),
        ranked AS (
            SELECT rare, arg_max(word, n) AS word, max(n) AS top, list(n ORDER BY n DESC) AS counts FROM candidate GROUP BY 1)
        SELECT rare, word FROM ranked WHERE len(counts) = 1 OR counts[2] * {CLEAR_LEAD} <= top"""


def read_name_typos(con: duckdb.DuckDBPyConnection, table: str, changed_into: str | None = None) -> int:
    """Bring ``name_words`` and ``name_cmp`` of the match records in ``table`` (a table, not a view) up to
    tonight's reading of misspelt words, in place. The mids of the records whose reading changed are
    added to the table ``changed_into`` (mid), if given, unless there already. Returns how many changed."""
    con.execute(f"CREATE OR REPLACE TEMP TABLE name_typo AS {fixes_sql(table)}")
    # Tonight's words of the records with a misspelt word in their full name.
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE typo_words AS
        -- the records with a rare word first (a million records' words, probed once), then those records' words in order
        WITH hit AS (SELECT DISTINCT mid FROM (SELECT mid, unnest(string_split(full_name, ' ')) AS token FROM {table}) w
                     SEMI JOIN name_typo ON name_typo.rare = w.token),
        split AS (SELECT mid, string_split(full_name, ' ') AS toks FROM {table} SEMI JOIN hit USING (mid)),
        positions AS (SELECT mid, toks, unnest(range(1, len(toks) + 1)) AS pos FROM split),
        fixed AS (
            SELECT p.mid, list(coalesce(t.word, p.toks[p.pos]) ORDER BY p.pos) AS toks
            FROM positions p LEFT JOIN name_typo t ON t.rare = p.toks[p.pos] GROUP BY 1),
        base AS (SELECT f.mid, f.toks, r.org, r.venue_name, r.addr, r.town FROM fixed f JOIN {table} r USING (mid)),
        {name_core_ctes('base', 'toks', org='org', venue='venue_name', addr='addr', town='town')}
        SELECT mid, core AS name_words FROM cored""")
    # Records whose words differ from what they hold: tonight's readings, and last night's that no longer hold.
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE typo_changed AS
        SELECT r.mid, coalesce(t.name_words, r.name_tokens) AS name_words
        FROM {table} r LEFT JOIN typo_words t USING (mid)
        WHERE (t.mid IS NOT NULL OR r.name_words IS DISTINCT FROM r.name_tokens)
          AND r.name_words IS DISTINCT FROM coalesce(t.name_words, r.name_tokens)""")
    changed = con.execute("SELECT count(*) FROM typo_changed").fetchone()[0]
    if changed:
        con.execute(f"""UPDATE {table} r SET name_words = c.name_words,
                               name_cmp = nullif(array_to_string(c.name_words, ' '), '')
                        FROM typo_changed c WHERE r.mid = c.mid""")
        if changed_into:
            con.execute(f"INSERT INTO {changed_into} SELECT mid FROM typo_changed ANTI JOIN {changed_into} USING (mid)")
    for t in ("name_typo", "typo_words", "typo_changed"):
        con.execute(f"DROP TABLE {t}")
    return changed
