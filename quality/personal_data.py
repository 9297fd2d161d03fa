"""The personal-data guard: find personal data in what sources send, and hold it back from
everything placecat publishes.

What counts as personal here:

- **personal email addresses**: any address at a consumer mail domain (gmail, hotmail, yahoo,
  outlook, btinternet, ...), because a service cannot be told apart from the person who set it
  up, and any address whose local part is shaped like a person's name (``jo@``,
  ``olivia.plenty@``, ``oliviaplenty@``, ``o.plenty@``) at any domain. The issue asks for "a
  name-shaped local part at a small domain"; we don't try to judge a domain's size and treat
  ``firstname.lastname@council.gov.uk`` as personal too (it names a person);
- **UK mobile numbers** (07…, +44 7…), in fields and inside description text and HTML;
- **named individuals in contacts** (``Mrs Jane Smith``, ``Jane Smith``);
- **OpenActive ``Person`` organisers**, which the OpenActive connector records as issues with
  rule ``personal_data`` (counted here for the report; the connector does not map them).

How it is held back: ``staging.*`` keeps what the source sent (it is the evidence the publisher
is told about). After the golden records are built, ``scrub_catalogue`` rewrites ``catalogue.*``:
a personal email in a contact field becomes the service's or organisation's role address where
one exists, or is left out; a personal email or mobile inside text is replaced with that role
address or ``[email withheld]`` / ``[phone number withheld]``; a mobile phone row is left out; a
named individual's contact keeps only its role. Every finding goes to ``quality.personal_data``
(run, source, record, table, field, kind, masked value) for reporting to the publisher; the
value itself is stored masked (``o*********y@thecareforum.org.uk``) because the quality tables
ship in the published file too.
"""
from __future__ import annotations

import functools
import itertools
import re
from dataclasses import dataclass
from typing import Iterable, Iterator

import duckdb

from quality.bulk import fetch_batches, insert_rows, stage_rows

CONSUMER_DOMAINS = frozenset("""
gmail.com googlemail.com hotmail.com hotmail.co.uk live.com live.co.uk msn.com outlook.com outlook.co.uk
yahoo.com yahoo.co.uk ymail.com rocketmail.com aol.com aol.co.uk btinternet.com btopenworld.com
talk21.com sky.com tiscali.co.uk talktalk.net virginmedia.com ntlworld.com blueyonder.co.uk
icloud.com me.com mac.com protonmail.com proton.me gmx.com gmx.co.uk mail.com zoho.com
orange.net wanadoo.co.uk fsmail.net freeserve.co.uk o2.co.uk plus.com
""".split())

# Common given names in England and Wales (ONS baby-name lists, 1950s–2010s, hand-picked and
# lower-cased). Only used to recognise name-shaped email local parts and contact names.
FIRST_NAMES = frozenset("""
aaron abbie abigail adam adrian aidan aisha alan albert alex alexander alexandra alfie alice alison
amanda amber amelia amy andrea andrew angela anita ann anna anne annie anthony antony archie arthur
ashley barbara barry ben benjamin beth bethany betty bill billy brenda brian bridget caitlin callum
cameron carl carol caroline carolyn catherine charles charlie charlotte chloe chris christina
christine christopher claire clare colin connor craig daisy dan daniel danielle darren dave david
dawn dean debbie deborah debra dennis derek diana diane donna dorothy dylan edward eileen elaine
eleanor elizabeth ella ellie emily emma eric erin ethan evie faye fiona frances francesca frank
freddie freya gail gareth gary gavin gemma geoff geoffrey george georgia gillian gordon grace graham
hannah harriet harry hayley heather helen holly ian imogen isabel isabella isla isobel jack jackie
jacob jacqueline jade jake james jamie jane janet janice jason jayne jean jeff jennifer jenny jeremy
jessica jill jim jo joan joanna joanne joe john jonathan jordan joseph josh joshua joy joyce judith
julia julie justin karen kate katherine kathleen kathryn katie kay keith kelly kerry kevin kieran
kim kirsty laura lauren leah lee leo leon lesley leslie lewis liam lily linda lindsay lisa lois
louis louise lucy luke lydia lynn lynne maisie malcolm mandy margaret maria marie marion mark martin
martyn mary matt matthew maureen megan melanie michael michelle mike mohammed molly muhammad nancy
naomi natalie natasha neil nicholas nicola nicole nigel nina oliver olivia oscar owen pamela pat
patricia patrick paul paula pauline peter philip phillip phoebe poppy rachel ralph rebecca richard
rob robert robin rose rosie ross ruby russell ruth ryan sadie sally sam samantha samuel sandra sara
sarah scott sean sharon sheila shirley simon sophie stacey stephanie stephen steve steven stuart sue
susan suzanne tanya teresa terry theo thomas tim timothy toby tom tony tracey tracy valerie vanessa
vicky victoria vincent wendy william yvonne zara zoe
""".split())

# Local parts that name a role or a team, never a person, however they are spelt.
ROLE_WORDS = ("admin", "info", "enquir", "inquir", "office", "support", "help", "contact", "hello", "team",
              "reception", "booking", "sales", "service", "care", "news", "mail", "post", "general",
              "marketing", "referral", "advice", "project", "volunteer", "secretary", "chair", "manager",
              "community", "test", "web", "noreply", "no-reply", "donotreply", "duty", "clinic", "centre",
              "center", "group", "club", "church", "school", "trust", "charity", "foundation", "events",
              "finance", "accounts", "hr", "jobs", "press", "media", "safeguard", "ask", "queries", "question")

EMAIL_RE = re.compile(r"(?<![\w.+-])([A-Za-z0-9][A-Za-z0-9._%+'-]*)@([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)", re.I)
# UK mobiles: 07xxx xxxxxx in the usual groupings, +44 (0)7..., 0044 7...; not followed by more digits.
MOBILE_RE = re.compile(r"(?<![\d+])(?:(?:\+|00)44\s?(?:\(0\)\s?)?|0)7[1-9]\d{2}(?:[\s.-]?\d){6}(?!\d)")
TITLE_RE = re.compile(r"^(?:mr|mrs|ms|miss|mx|dr|prof|rev|sir|dame)\.?\s+[A-Z][a-z'’-]+", re.I)
NAME_WORD_RE = re.compile(r"^[A-Z][a-z'’-]+$")

EMAIL_WITHHELD = "[email withheld]"
PHONE_WITHHELD = "[phone number withheld]"


@dataclass(frozen=True)
class Finding:
    kind: str      # personal_email | mobile_number | named_individual
    value: str
    reason: str    # consumer_domain | name_shaped | uk_mobile | contact_name


def _looks_like_surname(s: str) -> bool:
    return 3 <= len(s) <= 14 and s.isalpha() and any(v in s for v in "aeiouy")


def _is_role(local: str) -> bool:
    return any(local.startswith(w) for w in ROLE_WORDS)


@functools.lru_cache(maxsize=65536)
def email_finding(address: str) -> Finding | None:
    """Why an email address is personal, or None for a role address."""
    m = EMAIL_RE.fullmatch(address.strip()) if address else None
    if not m:
        return None
    local, domain = m.group(1).lower(), m.group(2).lower()
    if domain in CONSUMER_DOMAINS:
        return Finding("personal_email", address.strip(), "consumer_domain")
    if _is_role(local):
        return None
    parts = [p for p in re.split(r"[._-]", local) if p]
    if len(parts) == 1:
        word = parts[0]
        if word in FIRST_NAMES:
            return Finding("personal_email", address.strip(), "name_shaped")
        # firstnamelastname, e.g. oliviaplenty: a known given name and a surname-like rest.
        for n in range(3, min(len(word) - 2, 10) + 1):
            if word[:n] in FIRST_NAMES and _looks_like_surname(word[n:]) and word[n:] not in ROLE_WORDS:
                return Finding("personal_email", address.strip(), "name_shaped")
        return None
    if len(parts) == 2:
        first, last = parts
        if (first in FIRST_NAMES or (len(first) == 1 and first.isalpha())) and _looks_like_surname(last) \
                and not _is_role(last):
            return Finding("personal_email", address.strip(), "name_shaped")
    return None


def find_in_text(text: str | None) -> list[Finding]:
    """Personal emails and UK mobile numbers anywhere in a value (plain text or HTML)."""
    if not text:
        return []
    out = []
    for m in EMAIL_RE.finditer(text):
        f = email_finding(m.group(0))
        if f:
            out.append(f)
    for m in MOBILE_RE.finditer(text):
        out.append(Finding("mobile_number", m.group(0), "uk_mobile"))
    return out


def is_named_individual(name: str | None) -> bool:
    """A contact name that names a person ("Mrs Jane Smith", "Jane Smith"), not a role or team."""
    if not name or not name.strip():
        return False
    s = " ".join(name.split())
    if TITLE_RE.match(s):
        return True
    words = s.split(" ")
    if not 2 <= len(words) <= 3 or not all(NAME_WORD_RE.match(w) for w in words):
        return False
    return words[0].lower() in FIRST_NAMES and not any(_is_role(w.lower()) for w in words[1:])


def mask(value: str) -> str:
    """Enough to recognise a finding in the publisher's report, not enough to republish it."""
    value = value.strip()
    if "@" in value:
        local, domain = value.split("@", 1)
        shown = local[0] + "*" * (len(local) - 2) + local[-1] if len(local) > 3 else local[0] + "*" * max(len(local) - 1, 1)
        return shown + "@" + domain
    digits = re.sub(r"\D", "", value)
    return digits[:3] + "*" * max(len(digits) - 5, 0) + digits[-2:]


def scrub_text(text: str | None, role_email: str | None = None) -> str | None:
    """The text with personal emails replaced by the role address (or a placeholder) and
    mobile numbers by a placeholder."""
    if not text:
        return text

    def email_sub(m: re.Match) -> str:
        return (role_email or EMAIL_WITHHELD) if email_finding(m.group(0)) else m.group(0)

    text = EMAIL_RE.sub(email_sub, text)
    return MOBILE_RE.sub(PHONE_WITHHELD, text)


# ------------------------------------------------------------------ in the warehouse ----------

PERSONAL_DATA_DDL = """
CREATE TABLE IF NOT EXISTS quality.personal_data (
    run_id      VARCHAR NOT NULL,
    source_id   VARCHAR NOT NULL,
    record_id   VARCHAR,        -- the source record (a service) it was found in
    table_name  VARCHAR,
    field       VARCHAR,        -- column, or extras.<key> for vendor fields
    kind        VARCHAR NOT NULL,  -- personal_email | mobile_number | named_individual | person_organiser
    reason      VARCHAR,        -- consumer_domain | name_shaped | uk_mobile | contact_name | openactive_person
    masked      VARCHAR         -- the value, masked
)
"""

RESIDUE_DDL = """
CREATE TABLE IF NOT EXISTS quality.personal_data_residue (
    run_id      VARCHAR NOT NULL,
    table_name  VARCHAR,
    field       VARCHAR,
    row_id      VARCHAR,
    kind        VARCHAR
)
"""

# The text columns scanned, per ORUK table (the same in staging and catalogue).
TEXT_FIELDS: dict[str, tuple[str, ...]] = {
    "service": ("name", "description", "email", "assurer_email", "url", "fees", "accreditations", "alert"),
    "organization": ("name", "description", "email", "website"),
    "contact": ("name", "title", "department", "email"),
    "phone": ("number", "description"),
    "location": ("name", "description"),
    "address": ("attention",),
    "schedule": ("description", "notes"),
    "cost_option": ("amount_description",),
    "accessibility": ("description", "details"),
    "service_area": ("service_area",),
    "language": ("note",),
    "funding": ("source",),
}
# A cheap SQL pre-filter: only values that could hold an email or a mobile go to Python.
CANDIDATE_SQL = r"(contains({c}, '@') OR regexp_matches({c}, '(^|[^0-9])(\+44|0044|0)\s?(\(0\)\s?)?7[0-9]'))"

# The service record a row belongs to, for reporting to the publisher (staging row -> service).
_RECORD_OF = {
    "service": ("", "t.source_record_id"),
    "organization": ("LEFT JOIN (SELECT organization_id, min(source_record_id) AS r FROM staging.service GROUP BY 1) p "
                     "ON p.organization_id = t.id", "coalesce(p.r, t.source_record_id)"),
    "location": ("LEFT JOIN (SELECT sal.location_id, min(s.source_record_id) AS r FROM staging.service_at_location sal "
                 "JOIN staging.service s ON s.id = sal.service_id GROUP BY 1) p ON p.location_id = t.id",
                 "coalesce(p.r, t.source_record_id)"),
    "address": ("LEFT JOIN (SELECT sal.location_id, min(s.source_record_id) AS r FROM staging.service_at_location sal "
                "JOIN staging.service s ON s.id = sal.service_id GROUP BY 1) p ON p.location_id = t.location_id",
                "coalesce(p.r, t.source_record_id)"),
    "accessibility": ("LEFT JOIN (SELECT sal.location_id, min(s.source_record_id) AS r FROM staging.service_at_location sal "
                      "JOIN staging.service s ON s.id = sal.service_id GROUP BY 1) p ON p.location_id = t.location_id",
                      "coalesce(p.r, t.source_record_id)"),
}
_SERVICE_CHILD = ("LEFT JOIN staging.service p ON p.id = t.service_id", "coalesce(p.source_record_id, t.source_record_id)")


def _candidate_batches(con, schema: str, table: str, fields: Iterable[str], extra_cols: str = "",
                       extra_join: str = "") -> Iterator[list[tuple]]:
    """Rows (id, *extra_cols, record id, *fields) whose fields could hold an email or a mobile,
    in batches (quality.bulk.fetch_batches: the connection may write between them)."""
    where = " OR ".join(CANDIDATE_SQL.format(c=f't."{f}"') for f in fields)
    cols = ", ".join(f't."{f}"' for f in fields)
    join, rec = ("", "NULL") if schema == "catalogue" else _RECORD_OF.get(table, _SERVICE_CHILD)
    return fetch_batches(con, f"SELECT t.id, {extra_cols}{rec}, {cols} FROM {schema}.{table} t {join} {extra_join} WHERE {where}")


def _candidates(con, schema: str, table: str, fields: Iterable[str], extra_cols: str = "") -> Iterator[tuple]:
    return itertools.chain.from_iterable(_candidate_batches(con, schema, table, fields, extra_cols))


def _rows(con: duckdb.DuckDBPyConnection, sql: str) -> Iterator[tuple]:
    """The rows of ``sql``, one batch of them in memory at a time."""
    return itertools.chain.from_iterable(fetch_batches(con, sql))


def detect_in_staging(con: duckdb.DuckDBPyConnection, run_id: str) -> int:
    """Record every personal-data finding in this run's staging data; returns how many."""
    con.execute(PERSONAL_DATA_DDL)
    con.execute("DELETE FROM quality.personal_data WHERE run_id = ?", [run_id])
    rows = []
    for table, fields in TEXT_FIELDS.items():
        for row in _candidates(con, "staging", table, fields, extra_cols="t.source_id, "):
            _id, source_id, record_id, *values = row
            for f, v in zip(fields, values):
                for finding in find_in_text(v):
                    rows.append([run_id, source_id, record_id, table, f, finding.kind, finding.reason, mask(finding.value)])
    # Vendor fields kept in extras (e.g. ORUK v1 pc_metadata.assured_by) are scanned as JSON text.
    for table in TEXT_FIELDS:
        for source_id, record_id, extras in _rows(con,
                f"SELECT source_id, source_record_id, CAST(extras AS VARCHAR) FROM staging.{table} "
                f"WHERE extras IS NOT NULL AND {CANDIDATE_SQL.format(c='CAST(extras AS VARCHAR)')}"):
            for finding in find_in_text(extras):
                rows.append([run_id, source_id, record_id, table, "extras", finding.kind, finding.reason, mask(finding.value)])
    for source_id, record_id, name in _rows(con, """
            SELECT t.source_id, coalesce(p.source_record_id, t.source_record_id), t.name
            FROM staging.contact t LEFT JOIN staging.service p ON p.id = t.service_id
            WHERE t.name IS NOT NULL"""):
        if is_named_individual(name):
            rows.append([run_id, source_id, record_id, "contact", "name", "named_individual", "contact_name",
                         name.split()[0][0] + ". " + "*" * 3])
    # One finding per value per record: a description's plain-text copy in extras is the same finding.
    seen, unique = set(), []
    for r in sorted(rows, key=lambda r: r[4] == "extras"):
        key = (r[1], r[2], r[5], r[7])
        if key not in seen:
            seen.add(key)
            unique.append(r)
    if unique:
        insert_rows(con, "quality.personal_data",
                    ["run_id", "source_id", "record_id", "table_name", "field", "kind", "reason", "masked"], unique)
    # OpenActive organisers that are a Person: the connector records them as issues.
    con.execute("""
        INSERT INTO quality.personal_data
        SELECT run_id, source_id, record_id, table_name, coalesce(field, 'organizer'), 'person_organiser',
               'openactive_person', NULL
        FROM quality.issue WHERE run_id = ? AND rule = 'personal_data'
    """, [run_id])
    return con.execute("SELECT count(*) FROM quality.personal_data WHERE run_id = ?", [run_id]).fetchone()[0]


def _stage_role_emails(con: duckdb.DuckDBPyConnection) -> None:
    """Temporary table scrub_role (service_id, email): the role address to use instead of a
    personal one in a service's records: the service's own email or its organisation's,
    whichever is not personal; no row when neither is. Taken before anything is rewritten."""
    def roles(rows: list[tuple]) -> list[tuple[str, str]]:
        out = []
        for sid, svc_email, org_email in rows:
            for candidate in (svc_email, org_email):
                if candidate and EMAIL_RE.fullmatch(candidate.strip()) and not email_finding(candidate):
                    out.append((sid, candidate.strip()))
                    break
        return out

    stage_rows(con, "scrub_role", {"service_id": "VARCHAR", "email": "VARCHAR"},
               (roles(rows) for rows in fetch_batches(con, """
                    SELECT s.id, s.email, o.email FROM catalogue.service s
                    LEFT JOIN catalogue.organization o ON o.id = s.organization_id""")))


EMAIL_FIELDS = {("service", "email"), ("service", "assurer_email"), ("organization", "email"), ("contact", "email")}


def _assurer_role_emails(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """domain -> a role address at that domain (e.g. info@thecareforum.org.uk), from anything
    the sources sent; it replaces an assurer's personal address at the same domain."""
    out: dict[str, str] = {}
    for (addr,) in _rows(con, """
            SELECT DISTINCT trim(e) FROM (
                SELECT assurer_email AS e FROM staging.service UNION ALL SELECT email FROM staging.service
                UNION ALL SELECT email FROM staging.organization UNION ALL SELECT email FROM staging.contact)
            WHERE e IS NOT NULL AND contains(e, '@') ORDER BY 1"""):
        if EMAIL_RE.fullmatch(addr) and not email_finding(addr):
            out.setdefault(addr.split("@", 1)[1].lower(), addr)
    return out


def _replacement_email(table: str, field: str, value: str, role_email: str | None, assurer_roles: dict[str, str]) -> str | None:
    """What a personal address in an email field becomes: a role address, or nothing."""
    if field == "assurer_email":
        return assurer_roles.get(value.strip().rsplit("@", 1)[-1].lower())
    return role_email if role_email and role_email != value.strip() else None


def scrub_catalogue(con: duckdb.DuckDBPyConnection, run_id: str) -> dict[str, int]:
    """Rewrite catalogue.* so that no personal email, mobile number or named individual is left."""
    _stage_role_emails(con)
    assurer_roles = _assurer_role_emails(con)
    changed = {"values_rewritten": 0, "phones_left_out": 0, "contact_names_left_out": 0}
    # A mobile phone row is left out entirely (its number is the whole of it).
    mobile_ids = ([[pid] for pid, number in rows if MOBILE_RE.search(number or "")] for rows in fetch_batches(
        con, f"SELECT t.id, t.number FROM catalogue.phone t WHERE {CANDIDATE_SQL.format(c='t.number')}"))
    mobiles = _stage_ids(con, mobile_ids)
    if mobiles:
        con.execute("DELETE FROM catalogue.phone WHERE id IN (SELECT id FROM scrub_ids)")
        changed["phones_left_out"] = mobiles
    for table, fields in TEXT_FIELDS.items():
        service_col = {"service": "id", "contact": "service_id", "phone": "service_id", "schedule": "service_id",
                       "cost_option": "service_id", "language": "service_id", "funding": "service_id",
                       "service_area": "service_id"}.get(table)
        extra, join = ("r.email AS role_email, ", f"LEFT JOIN scrub_role r ON r.service_id = t.{service_col}") \
            if service_col else ("NULL AS role_email, ", "")

        def updates(rows: list[tuple]) -> list[tuple[str, str, str | None]]:
            out = []
            for row_id, role_email, _rec, *values in rows:
                for f, v in zip(fields, values):
                    if not v:
                        continue
                    if (table, f) in EMAIL_FIELDS:
                        new = _replacement_email(table, f, v, role_email, assurer_roles) if email_finding(v) else v
                    else:
                        new = scrub_text(v, role_email)
                    if new != v:
                        out.append((row_id, f, new))
            return out

        staged = stage_rows(con, "scrub_update", {"id": "VARCHAR", "field": "VARCHAR", "value": "VARCHAR"},
                            (updates(rows) for rows in _candidate_batches(con, "catalogue", table, fields, extra, join)))
        if staged:
            for (f,) in con.execute("SELECT DISTINCT field FROM scrub_update ORDER BY 1").fetchall():
                con.execute(f'UPDATE catalogue.{table} t SET "{f}" = u.value FROM scrub_update u '
                            f'WHERE u.field = ? AND u.id = t.id', [f])
            changed["values_rewritten"] += staged
    changed["values_rewritten"] += _scrub_conflicts(con, assurer_roles)
    changed["values_rewritten"] += _scrub_other_columns(con)
    named_ids = ([[cid] for cid, name in rows if is_named_individual(name)] for rows in fetch_batches(
        con, "SELECT id, name FROM catalogue.contact WHERE name IS NOT NULL"))
    named = _stage_ids(con, named_ids)
    if named:
        con.execute("UPDATE catalogue.contact SET name = NULL WHERE id IN (SELECT id FROM scrub_ids)")
        changed["contact_names_left_out"] = named
    return changed


def _catalogue_text_columns(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str]]:
    """Every VARCHAR column of every catalogue.* table, whoever added the table, except identifiers
    (``id`` and ``*_id``): about one UUID in 10,000 reads like a mobile number ("07392238-152c-…"),
    and masking it broke the catalogue's keys."""
    return con.execute("""SELECT table_name, column_name FROM duckdb_columns()
                          WHERE database_name = current_database() AND schema_name = 'catalogue'
                            AND data_type = 'VARCHAR' AND column_name <> 'id' AND NOT ends_with(column_name, '_id')
                          ORDER BY 1, 2""").fetchall()


def _scrub_other_columns(con: duckdb.DuckDBPyConnection) -> int:
    """Text in catalogue tables other stages add (match explanations, labels, ...): emails and
    mobiles in it are replaced with placeholders, so a new table can never leak them."""
    handled = {(t, f) for t, fs in TEXT_FIELDS.items() for f in fs} | {("conflict", "value")}
    n = 0
    for table, column in _catalogue_text_columns(con):
        if (table, column) in handled:
            continue
        col = chr(34) + column + chr(34)
        staged = stage_rows(con, "scrub_other", {"rid": "BIGINT", "value": "VARCHAR"},
                            ([(rid, new) for rid, v in rows if (new := scrub_text(v)) != v] for rows in fetch_batches(
                                con, f"SELECT t.rowid AS rid, {col} FROM catalogue.{table} t WHERE {CANDIDATE_SQL.format(c=col)}")))
        if staged:
            con.execute(f'UPDATE catalogue.{table} t SET {col} = u.value FROM scrub_other u WHERE t.rowid = u.rid')
            n += staged
    return n


def _stage_ids(con: duckdb.DuckDBPyConnection, batches: Iterable[list[list[str]]]) -> int:
    """Temporary table scrub_ids (id) of the rows to leave out; returns how many."""
    return stage_rows(con, "scrub_ids", {"id": "VARCHAR"}, batches)


def _scrub_conflicts(con: duckdb.DuckDBPyConnection, assurer_roles: dict[str, str]) -> int:
    """catalogue.conflict shows each source's value of a disputed field: scrub those too."""
    def updates(rows: list[tuple]) -> list[tuple[int, str | None]]:
        out = []
        for rowid, role_email, f, v in rows:
            new = (_replacement_email("service", f, v, role_email, assurer_roles) if email_finding(v) else v) \
                if f in ("email", "assurer_email") else scrub_text(v, role_email)
            if new != v:
                out.append((rowid, new))
        return out

    staged = stage_rows(con, "scrub_conflict", {"rid": "BIGINT", "value": "VARCHAR"},
                        (updates(rows) for rows in fetch_batches(con, f"""
                            SELECT t.rowid AS rid, r.email, t.field, t.value FROM catalogue.conflict t
                            LEFT JOIN scrub_role r ON r.service_id = t.service_id
                            WHERE {CANDIDATE_SQL.format(c='t.value')}""")))
    if staged:
        con.execute("UPDATE catalogue.conflict t SET value = u.value FROM scrub_conflict u WHERE t.rowid = u.rid")
    return staged


def record_residue(con: duckdb.DuckDBPyConnection, run_id: str) -> int:
    """Re-scan catalogue.* after scrubbing; anything found goes to quality.personal_data_residue
    (the catalogue suite expects it to be empty, and that expectation is blocking)."""
    con.execute(RESIDUE_DDL)
    con.execute("DELETE FROM quality.personal_data_residue WHERE run_id = ?", [run_id])
    rows = []
    for table, fields in TEXT_FIELDS.items():
        for row_id, _rec, *values in _candidates(con, "catalogue", table, fields):
            for f, v in zip(fields, values):
                for finding in find_in_text(v):
                    rows.append([run_id, table, f, row_id, finding.kind])
    for cid, name in _rows(con, "SELECT id, name FROM catalogue.contact WHERE name IS NOT NULL"):
        if is_named_individual(name):
            rows.append([run_id, "contact", "name", cid, "named_individual"])
    handled = {(t, f) for t, fs in TEXT_FIELDS.items() for f in fs}
    for table, column in _catalogue_text_columns(con):
        if (table, column) in handled:
            continue
        col = chr(34) + column + chr(34)
        for rowid, v in _rows(con, f"SELECT t.rowid AS rid, {col} FROM catalogue.{table} t WHERE {CANDIDATE_SQL.format(c=col)}"):
            for finding in find_in_text(v):
                rows.append([run_id, table, column, str(rowid), finding.kind])
    if rows:
        insert_rows(con, "quality.personal_data_residue", ["run_id", "table_name", "field", "row_id", "kind"], rows)
    return len(rows)

