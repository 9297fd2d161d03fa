"""Match records: one flat, keyed row per service, built in bulk in DuckDB.

Two steps. ``flatten_staging`` turns the ORUK staging tables into ``work.match_input`` (one row
per service with its organisation, primary location, phones, schedule and taxonomy as lists);
any other input (the ``placecat match`` JSON Lines, a benchmark) can fill the same table.
``key_records`` then normalises it into ``work.match_record`` with the keys of ``dedupe.keys``.
"""
from __future__ import annotations

import hashlib
import inspect

import duckdb
import pandas as pd

from dedupe.keys import install_key_macros, key_rules_signature, name_core_ctes, phonetic_key
from dedupe.typos import read_name_typos
from warehouse.model import BYDAY_WEEK

# Where a record is, for counting its namesakes in its own source (dedupe.scoring): the postcode, else the
# organisation, else the web site, else the e-mail domain.
PLACE_KEY_SQL = "coalesce(postcode, org, web_key, org_web_key, email_domains[1], '')"

MATCH_INPUT_DDL = """
CREATE OR REPLACE TABLE work.match_input (
    staging_id VARCHAR, source_id VARCHAR, source_record_id VARCHAR,
    name VARCHAR, description VARCHAR, url VARCHAR, email VARCHAR,
    org_name VARCHAR, org_url VARCHAR, org_email VARCHAR,
    identifiers VARCHAR[],          -- 'type|value' of the service, its organisation and its location
    phones VARCHAR[],
    location_name VARCHAR, address VARCHAR, city VARCHAR, postcode VARCHAR,
    latitude DOUBLE, longitude DOUBLE,
    schedule VARCHAR[],             -- 'MO@10:00' per day the service runs (time may be empty)
    terms VARCHAR[],                -- taxonomy term codes or names
    staging_location_id VARCHAR, staging_org_id VARCHAR
)
"""


def flatten_staging(con: duckdb.DuckDBPyConnection, eligible_sql: str) -> int:
    """Fill work.match_input from staging.* for the services that eligible_sql selects."""
    con.execute("CREATE SCHEMA IF NOT EXISTS work")
    con.execute(MATCH_INPUT_DDL)
    con.execute(f"""
        INSERT INTO work.match_input
        WITH svc AS ({eligible_sql}),
        loc AS (
            SELECT sal.service_id, arg_min(l.id, l.id) AS location_id
            FROM staging.service_at_location sal JOIN staging.location l ON l.id = sal.location_id
            WHERE sal.service_id IN (SELECT id FROM svc) GROUP BY 1),
        addr AS (
            SELECT location_id, arg_min(address_1, id) AS address_1, arg_min(city, id) AS city,
                   arg_min(postal_code, id) AS postal_code
            FROM staging.address GROUP BY 1),
        -- The service's own phones and its venue's, as two equality joins: one join on "service OR
        -- venue" compares every service with every phone (20 of 49 seconds of matching 20,000 services).
        ph AS (
            SELECT service_id, list(DISTINCT number) AS phones FROM (
                SELECT svc.id AS service_id, p.number FROM svc JOIN staging.phone p ON p.service_id = svc.id
                UNION ALL
                SELECT loc.service_id, p.number FROM loc JOIN staging.phone p ON p.location_id = loc.location_id)
            WHERE number IS NOT NULL GROUP BY 1),
        ids AS (
            SELECT svc.id AS service_id, list(DISTINCT coalesce(i.identifier_type, i.identifier_scheme) || '|' || i.identifier) AS idents
            FROM svc JOIN staging.organization_identifier i ON i.organization_id = svc.organization_id
            GROUP BY 1),
        sched AS (
            SELECT service_id, list(DISTINCT trim(d) || '@' || coalesce(left(CAST(opens_at AS VARCHAR), 5), '')) AS schedule
            FROM (SELECT service_id, opens_at, unnest(string_split(coalesce(byday, ''), ',')) AS d FROM staging.schedule)
            WHERE trim(d) <> '' GROUP BY 1),
        terms AS (
            SELECT a.link_id AS service_id, list(DISTINCT coalesce(t.term, t.name, a.value)) AS terms
            FROM staging.attribute a LEFT JOIN staging.taxonomy_term t ON t.id = a.taxonomy_term_id
            GROUP BY 1)
        SELECT s.id, s.source_id, s.source_record_id, s.name, s.description, s.url, s.email,
               o.name, o.website, o.email,
               list_concat(coalesce(ids.idents, []),
                           CASE WHEN l.external_identifier IS NOT NULL
                                THEN [coalesce(l.external_identifier_type, 'uprn') || '|' || l.external_identifier] ELSE [] END),
               coalesce(ph.phones, []),
               l.name, a.address_1, a.city, a.postal_code, l.latitude, l.longitude,
               coalesce(sched.schedule, []), coalesce(terms.terms, []),
               l.id, s.organization_id
        FROM svc s
        LEFT JOIN staging.organization o ON o.id = s.organization_id
        LEFT JOIN loc ON loc.service_id = s.id
        LEFT JOIN staging.location l ON l.id = loc.location_id
        LEFT JOIN addr a ON a.location_id = l.id
        LEFT JOIN ph ON ph.service_id = s.id
        LEFT JOIN ids ON ids.service_id = s.id
        LEFT JOIN sched ON sched.service_id = s.id
        LEFT JOIN terms ON terms.service_id = s.id
    """)
    return con.execute("SELECT count(*) FROM work.match_input").fetchone()[0]


# What a record's keys are computed from, and under which key rules: a record whose hash is unchanged
# keeps last night's keys. DuckDB's 64-bit hash over the fields themselves, not md5 over a joined string:
# a tenth of the cost, and a collision among a million records is about one chance in thirty million.
CONTENT_HASH_SQL = """hash(name, description, url, email, org_name, org_url, org_email, list_sort(identifiers),
    list_sort(phones), location_name, address, city, postcode, latitude, longitude, list_sort(schedule), list_sort(terms),
    '{rules}')"""


def key_records(con: duckdb.DuckDBPyConnection, source: str = "work.match_input",
                target: str = "work.match_record", first_mid: int = 0, previous: str | None = None) -> int:
    """Normalise match inputs into keyed match records (see the module docstring).

    With ``previous`` (a schema holding last night's ``match_record``), a record whose content hash
    is unchanged keeps its keyed row and its mid; only new and changed records are keyed, with mids
    after the largest one used so far. Last night's table is brought up to date in place (a million
    keyed rows cost seconds to copy; the night's changes cost next to nothing to apply) and
    ``target`` becomes a view of it. ``work.changed`` then lists the mids keyed afresh and
    ``work.gone`` last night's mids that are no longer there as they were, for incremental matching.
    Returns the number of records keyed afresh.
    """
    install_key_macros(con)
    con.execute("CREATE SCHEMA IF NOT EXISTS work")
    content_hash = CONTENT_HASH_SQL.format(rules=record_key_rules_signature())
    hashed = f"(SELECT *, {content_hash} AS content_hash FROM {source})"
    drop_relation(con, target)
    reuse = False
    if previous and table_columns(con, previous, "match_record"):
        last = f"{previous}.match_record"
        first_mid = con.execute(f"SELECT coalesce(max(mid) + 1, 0) FROM {last}").fetchone()[0]
        # As text only when last night's hashes have another type (a catalogue from an older placecat).
        same_type = dict(table_columns(con, previous, "match_record")).get("content_hash") == "UBIGINT"
        hashes_equal = "p.content_hash = i.content_hash" if same_type else \
            "CAST(p.content_hash AS VARCHAR) = CAST(i.content_hash AS VARCHAR)"
        # Tonight's content hashes against last night's, in one join, beside the ids only (a copy of a
        # million wide input rows with their hashes cost seconds): which rows are new or changed (no
        # mid), which of last night's are gone (no row tonight) and which kept rows have another staging id.
        con.execute(f"""
            CREATE OR REPLACE TEMP TABLE hash_match AS
            SELECT i.source_id, i.source_record_id, i.staging_id, i.content_hash, p.mid, p.staging_id AS kept_staging_id
            FROM (SELECT source_id, source_record_id, staging_id, {content_hash} AS content_hash FROM {source}) i
            FULL JOIN (SELECT mid, source_id, source_record_id, content_hash, staging_id FROM {last}) p
            ON p.source_id = i.source_id AND p.source_record_id = i.source_record_id AND {hashes_equal}""")
        con.execute("""CREATE OR REPLACE TEMP TABLE fresh_ids AS
                       SELECT source_id, source_record_id, content_hash FROM hash_match WHERE mid IS NULL""")
        # Only the new and changed rows are hashed again here (the ids first, then the hash: a source
        # may list one id twice with different content).
        con.execute(f"""
            CREATE OR REPLACE TEMP TABLE fresh_input AS
            SELECT * FROM (SELECT s.*, {content_hash} AS content_hash
                           FROM {source} s SEMI JOIN fresh_ids f USING (source_id, source_record_id)) i
            SEMI JOIN fresh_ids f USING (source_id, source_record_id, content_hash)""")
        _key_rows(con, "fresh_input", "fresh_keyed", first_mid)
        reuse = table_columns(con, previous, "match_record") == table_columns(con, "main", "fresh_keyed")
    if reuse:
        # hash() is never NULL, so a NULL hash is a row of last night's with no row tonight
        # with what makes them namesakes of other records (see dedupe.scoring.PLACE_KEY_SQL): a namesake gone
        # changes the weight of the pairs of those that remain
        con.execute(f"""CREATE OR REPLACE TABLE work.gone AS SELECT h.mid, p.source_id, p.name_key, {PLACE_KEY_SQL} AS place_key,
                               p.org, p.postcode
                        FROM hash_match h JOIN {last} p USING (mid) WHERE h.content_hash IS NULL""")
        con.execute(f"DELETE FROM {last} WHERE mid IN (SELECT mid FROM work.gone)")
        con.execute(f"INSERT INTO {last} BY NAME SELECT * FROM fresh_keyed")
        con.execute(f"""
            UPDATE {last} p SET staging_id = h.staging_id FROM hash_match h
            WHERE p.mid = h.mid AND h.content_hash IS NOT NULL AND h.staging_id IS DISTINCT FROM h.kept_staging_id""")
        con.execute("CREATE OR REPLACE TABLE work.changed AS SELECT mid FROM fresh_keyed")
        # a record whose misspelt words read otherwise tonight is compared again, as a changed one is
        read_name_typos(con, last, changed_into="work.changed")
        con.execute(f"CREATE VIEW {target} AS SELECT * FROM {last}")
        fresh = con.execute("SELECT count(*) FROM fresh_keyed").fetchone()[0]
        for table in ("fresh_keyed", "fresh_input", "fresh_ids"):
            con.execute(f"DROP TABLE {table}")
    else:   # a first night, or last night's rows have other columns (an upgrade): key everything
        for table in ("fresh_keyed", "fresh_input", "fresh_ids", "work.changed", "work.gone"):
            con.execute(f"DROP TABLE IF EXISTS {table}")
        _key_rows(con, hashed, target, first_mid)
        read_name_typos(con, target)
        fresh = con.execute(f"SELECT count(*) FROM {target}").fetchone()[0]
    con.execute("DROP TABLE IF EXISTS hash_match")
    return fresh


def drop_relation(con: duckdb.DuckDBPyConnection, name: str) -> None:
    """Drop a table or view of that name (a night keyed incrementally leaves a view)."""
    schema, table = name.split(".")
    kinds = {k for (k,) in con.execute("SELECT 'TABLE' FROM duckdb_tables() WHERE schema_name = ? AND table_name = ? "
                                       "UNION SELECT 'VIEW' FROM duckdb_views() WHERE schema_name = ? AND view_name = ?",
                                       [schema, table, schema, table]).fetchall()}
    for kind in kinds:
        con.execute(f"DROP {kind} {name}")


def table_columns(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> list[tuple[str, str]]:
    """(name, type) of each column of a table, in order; empty when there is no such table."""
    database, _, schema = schema.rpartition(".")
    return con.execute("SELECT column_name, data_type FROM duckdb_columns() WHERE schema_name = ? AND table_name = ? "
                       "AND (database_name = ? OR ? = '') ORDER BY column_index", [schema, table, database, database]).fetchall()


def record_key_rules_signature() -> str:
    """The key rules a record was keyed under: the macros and phonetic rules (``key_rules_signature``)
    and the keying written here, which calls them. A record's content hash carries it, so that a change
    to either keys every record again rather than leaving one night comparing keys made two ways. Read
    from the code itself: a change of wording only (a comment) also costs one full keying, which is safe."""
    code = "".join(inspect.getsource(f) for f in (_key_rows, name_core_ctes, add_phonetic_keys, phonetic_key))
    return hashlib.sha1((key_rules_signature() + code).encode()).hexdigest()[:16]


def _key_rows(con: duckdb.DuckDBPyConnection, source: str, target: str, first_mid: int) -> None:
    con.execute(f"""
        CREATE OR REPLACE TABLE {target} AS
        WITH src AS (SELECT * FROM {source}),
        -- Names, addresses, towns, organisations and venues are normalised once per distinct value and
        -- joined back: they repeat across records (at a million generated records, 47,000 names and 771
        -- towns, organisations and venues) and their token macros cost more than the joins. Not so for
        -- long or near-unique values (descriptions, postcodes, URLs): joining on them cost more than
        -- normalising each. '' stands for NULL: every macro reads both alike.
        names AS (SELECT v, name_tokens(v) AS toks FROM (SELECT DISTINCT coalesce(name, '') AS v FROM src)),
        addrs AS (SELECT v, addr_n, house_number(addr_n) AS house_no, addr_canon(addr_n) AS addr_std
                  FROM (SELECT v, name_norm(v) AS addr_n FROM (SELECT DISTINCT coalesce(address, '') AS v FROM src))),
        words AS (SELECT v, name_norm(v) AS norm FROM (SELECT coalesce(city, '') AS v FROM src UNION SELECT coalesce(org_name, '') FROM src
                                                      UNION SELECT coalesce(location_name, '') FROM src)),
        base AS (
            SELECT s.*, {first_mid} + row_number() OVER (ORDER BY s.source_id, s.source_record_id) - 1 AS mid,
                   n.toks, a.addr_n, a.house_no, a.addr_std, c.norm AS city_n, o.norm AS org_n, l.norm AS venue_n,
                   pc_norm(s.postcode) AS pc_n,
                   -- each URL split once here; the key macros below take the parts
                   web_host(s.url) AS url_host, web_path(s.url) AS url_path, web_host(s.org_url) AS org_url_host,
                   web_path(s.org_url) AS org_url_path,
                   list_filter(list_transform(identifiers, lambda x: ident_norm(split_part(x, '|', 1), split_part(x, '|', 2))),
                               lambda x: x IS NOT NULL) AS idents,
                   -- each 'DAY@time' by weekday: the week of a monthly day ('3SA', '-1WE': third Saturday, last
                   -- Wednesday) is dropped, since sources that know a session is monthly often do not say
                   -- which week (OpenActive's byDay with P1M), and 'SA' against '3SA' is the same day
                   list_transform(schedule, lambda s: regexp_replace(s, '{BYDAY_WEEK}', '')) AS weekly,
                   list_distinct(list_filter(list_transform(list_transform(phones, lambda p: phone_digits(p)), lambda d: phone_e164_of_digits(d)),
                                             lambda p: p IS NOT NULL)) AS e164,
                   email_norm(email) AS email_n, email_norm(org_email) AS org_email_n
            FROM src s
            JOIN names n ON n.v = coalesce(s.name, '')
            JOIN addrs a ON a.v = coalesce(s.address, '')
            JOIN words c ON c.v = coalesce(s.city, '')
            JOIN words o ON o.v = coalesce(s.org_name, '')
            JOIN words l ON l.v = coalesce(s.location_name, '')),
        -- The core of the name: what is left when the organisation, the venue, the building at the head of
        -- the address and the town are taken off its start or end ('Citizens Advice Leeds - Debt Advice',
        -- 'Boxercise at Fishponds Leisure Centre', 'Leeds Walking Football'). Sources differ in whether they
        -- put them in the name; the venue and organisation are compared as evidence of their own.
        {name_core_ctes('base', 'toks', org='org_n', venue='venue_n', addr='addr_n', town='city_n')}
        SELECT mid, staging_id, source_id, source_record_id,
               nullif(array_to_string(toks, ' '), '') AS full_name,
               nullif(array_to_string(core, ' '), '') AS name,
               core AS name_tokens,
               -- the words compared, and as one string: the name's, until dedupe.typos reads a misspelt word
               core AS name_words,
               nullif(array_to_string(core, ' '), '') AS name_cmp,
               name_key_of(core) AS name_key,
               org_n AS org,
               list_filter(idents, lambda x: ident_entity(split_part(x, ':', 1)) = 'organization') AS org_ids,
               list_filter(idents, lambda x: ident_entity(split_part(x, ':', 1)) = 'service') AS svc_ids,
               list_filter(idents, lambda x: ident_entity(split_part(x, ':', 1)) = 'location') AS loc_ids,
               pc_n AS postcode,
               pc_sector(pc_n) AS pc_sector,
               coalesce(pc_district(pc_n), city_n) AS area,
               addr_n AS addr,
               city_n AS town,
               -- the house number and the canonical street address, once per record rather than once per pair
               house_no,
               addr_std,
               venue_n AS venue_name,
               latitude AS lat, longitude AS lon,
               geo_cell(latitude, longitude) AS cell,
               e164 AS phones,
               list_filter(e164, lambda p: NOT phone_is_national(p)) AS local_phones,
               list_distinct(list_filter([email_n, org_email_n], lambda e: e IS NOT NULL)) AS emails,
               list_distinct(list_filter([email_domain_key_of(split_part(email_n, '@', 2)),
                                          email_domain_key_of(split_part(org_email_n, '@', 2))], lambda e: e IS NOT NULL)) AS email_domains,
               web_key_of(url_host, url_path) AS web_key,
               web_page_of(url_host, url_path) AS web_page,
               web_key_of(org_url_host, org_url_path) AS org_web_key,
               list_distinct(list_filter(list_transform(weekly, lambda s: split_part(s, '@', 1)), lambda d: d <> '')) AS days,
               list_distinct(weekly) AS sched,
               list_distinct(list_transform(terms, lambda t: lower(trim(t)))) AS terms,
               -- descriptions are compared as bags of words: markup taken out (some sources publish HTML), folded
               -- and stripped of punctuation, without the
               -- abbreviation table that names get (a per-word CASE over long texts cost more than the rest of keying)
               nullif(left(trim(regexp_replace(regexp_replace(strip_accents(lower(left(regexp_replace(description, '<[^>]*>', ' ', 'g'), 600))), '[^a-z0-9]+', ' ', 'g'),
                                              ' ((the|a|an|of|at|for|in|and|to|with|on|is|are|our|we) )+', ' ', 'g')), 400), '') AS descr,
               content_hash
        FROM cored
    """)
    add_phonetic_keys(con, target)


def add_phonetic_keys(con: duckdb.DuckDBPyConnection, target: str) -> None:
    """Phonetic key per name, computed once per distinct token rather than once per record."""
    vocab = [r[0] for r in con.execute(f"SELECT DISTINCT unnest(name_tokens) FROM {target}").fetchall()]
    con.execute("CREATE OR REPLACE TEMP TABLE token_phon (token VARCHAR, phon VARCHAR)")
    if vocab:
        _insert_vocab(con, vocab)
    con.execute(f"""
        CREATE OR REPLACE TABLE {target} AS
        SELECT r.*, p.name_phon FROM {target} r
        LEFT JOIN (
            SELECT mid, nullif(array_to_string(list_sort(list_distinct(list(tp.phon))), ' '), '') AS name_phon
            FROM (SELECT mid, unnest(name_tokens) AS token FROM {target}) u
            JOIN token_phon tp USING (token)
            WHERE u.token <> 'and'
            GROUP BY mid) p USING (mid)
    """)


def _insert_vocab(con: duckdb.DuckDBPyConnection, vocab: list[str]) -> None:
    frame = pd.DataFrame({"token": vocab, "phon": [phonetic_key(t) for t in vocab]})
    con.register("vocab_frame", frame)
    con.execute("INSERT INTO token_phon SELECT * FROM vocab_frame")
    con.unregister("vocab_frame")
