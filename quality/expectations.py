"""Great Expectations suites, one per stage, built in code (GX 1.x, used directly).

- ``staging``: every record-level rule of ``quality.rules`` again, as a suite per staging table.
  Blocking expectations are validated on the records that were *not* quarantined (they must all
  pass: that is the quarantine's promise); warning expectations on every record (their
  unexpected counts are the night's warning figures).
- ``catalogue``: every non-quarantined staging record is in exactly one cluster; no dangling
  foreign keys; golden ids are unique UUIDs and stable; nothing published failed a blocking
  rule; no personal data is left in ``catalogue.*``.

Each expectation carries ``meta={"severity": "blocking" | "warning"}``. Results are stored in
``quality.expectation_result`` (one row per expectation per run); the Dagster asset checks in
``pipelines/checks.py`` read them: a failed blocking expectation fails a blocking check, which
stops publishing, and a failed warning is recorded.

pandas 3 pitfalls handled here: text columns come out of DuckDB as ``str`` (not ``object``), so
no expectation names a dtype; date bounds are given as ``datetime``; every result's
``exception_info`` is read, because GX reports a crashed expectation as "not successful" with
the reason only there; progress bars are off.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import logging
from dataclasses import dataclass, field

import duckdb
import pandas as pd

from quality import rules as R
from warehouse.bulk import insert_rows, kept_result
from warehouse.model import ADDRESS_TYPES, SCHEDULE_FREQS, SERVICE_STATUSES

BLOCKING, WARNING = "blocking", "warning"
UUID_RE = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
BYDAY_LIST_RE = r"^(?:[+-]?[1-5])?(?:MO|TU|WE|TH|FR|SA|SU)(?:,(?:[+-]?[1-5])?(?:MO|TU|WE|TH|FR|SA|SU))*$"

EXPECTATION_RESULT_DDL = """
CREATE TABLE IF NOT EXISTS quality.expectation_result (
    run_id             VARCHAR NOT NULL,
    stage              VARCHAR NOT NULL,   -- staging | catalogue
    suite              VARCHAR NOT NULL,   -- e.g. staging.service
    expectation        VARCHAR NOT NULL,   -- GX expectation type
    "column"           VARCHAR,
    severity           VARCHAR NOT NULL,   -- blocking | warning
    success            BOOLEAN NOT NULL,
    element_count      BIGINT,
    unexpected_count   BIGINT,
    unexpected_percent DOUBLE,
    exception          VARCHAR             -- set when GX could not evaluate the expectation
)
"""


@dataclass
class ExpectationOutcome:
    stage: str
    suite: str
    expectation: str
    column: str | None
    severity: str
    success: bool
    element_count: int | None
    unexpected_count: int | None
    unexpected_percent: float | None
    exception: str | None = None


@dataclass
class StageValidation:
    stage: str
    outcomes: list[ExpectationOutcome] = field(default_factory=list)

    @property
    def blocking_failures(self) -> list[ExpectationOutcome]:
        return [o for o in self.outcomes if o.severity == BLOCKING and not o.success]

    @property
    def warning_failures(self) -> list[ExpectationOutcome]:
        return [o for o in self.outcomes if o.severity == WARNING and not o.success]


@functools.lru_cache(maxsize=1)
def gx_context():
    """One ephemeral GX context per process (nothing written to disk), progress bars off."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    logging.getLogger("great_expectations").setLevel(logging.ERROR)
    ctx = gx.get_context(mode="ephemeral")
    ctx.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    ctx.data_sources.add_pandas("placecat")
    return ctx


def _batch_definition(name: str):
    ds = gx_context().data_sources.get("placecat")
    try:
        asset = ds.get_asset(name)
    except LookupError:
        asset = ds.add_dataframe_asset(name)
    try:
        return asset.get_batch_definition("whole")
    except (KeyError, LookupError, ValueError):
        return asset.add_batch_definition_whole_dataframe("whole")


def _suite(name: str, expectations: list):
    import great_expectations as gx

    suite = gx.ExpectationSuite(name=name)
    for e in expectations:
        suite.add_expectation(e)
    return suite


def _exception_message(exception_info) -> str | None:
    """GX 1.x gives either {raised_exception, exception_message} or a dict of those per metric."""
    if not exception_info:
        return None
    infos = [exception_info] if "raised_exception" in exception_info else list(exception_info.values())
    msgs = [str(i.get("exception_message") or "").strip().splitlines()[0] for i in infos
            if isinstance(i, dict) and i.get("raised_exception")]
    return "; ".join(m for m in msgs if m) or None


def validate_frame(stage: str, suite_name: str, df: pd.DataFrame, expectations: list) -> list[ExpectationOutcome]:
    """Run one suite on one DataFrame; one outcome per expectation (crashes count as failures)."""
    return [outcome for outcome, _missing in _validate_frame_counted(stage, suite_name, df, expectations)]


def _validate_frame_counted(stage: str, suite_name: str, df: pd.DataFrame,
                            expectations: list) -> list[tuple[ExpectationOutcome, int | None]]:
    """validate_frame, each outcome with GX's missing_count (None where GX gives none), which
    adding up the results of several frames needs. Outcomes come in the suite's order."""
    if not expectations:
        return []
    result = _batch_definition(suite_name).get_batch(batch_parameters={"dataframe": df}).validate(
        _suite(suite_name, expectations), result_format="SUMMARY")
    out = []
    for er in result.results:
        cfg = er.expectation_config
        res = er.result or {}
        exc = _exception_message(er.exception_info)
        out.append((ExpectationOutcome(
            stage, suite_name, cfg.type, _column_label(cfg.kwargs), (cfg.meta or {}).get("severity", WARNING),
            bool(er.success) and exc is None, res.get("element_count"), res.get("unexpected_count"),
            res.get("unexpected_percent"), exc), res.get("missing_count")))
    return out


def _column_label(kwargs) -> str | None:
    return kwargs.get("column") or ",".join(kwargs.get("column_list") or []) or \
        ",".join(x for x in (kwargs.get("column_A"), kwargs.get("column_B")) if x) or None


def _columns_of(expectation) -> list[str]:
    kwargs = expectation.configuration.kwargs
    return [c for c in (kwargs.get("column"), *(kwargs.get("column_list") or []), kwargs.get("column_A"),
                        kwargs.get("column_B")) if c]


# Rows per frame handed to GX by validate_query: a frame costs GX several times its own size.
GX_BATCH_ROWS = 100_000

# Expectations whose verdict on a row depends on that row alone, so that GX can check a table
# frame by frame and the frames' counts add up to the table's. Any other expectation (unique
# values, row counts, ...) or one with ``mostly`` below 1 is checked on the whole table at once.
ROW_WISE = frozenset({
    "expect_column_values_to_not_be_null", "expect_column_values_to_be_null",
    "expect_column_values_to_match_regex", "expect_column_values_to_not_match_regex",
    "expect_column_values_to_be_in_set", "expect_column_values_to_not_be_in_set",
    "expect_column_values_to_be_between", "expect_column_pair_values_a_to_be_greater_than_b",
})

def _row_wise(expectation) -> bool:
    cfg = expectation.configuration
    return cfg.type in ROW_WISE and cfg.kwargs.get("mostly", 1) == 1


def validate_query(con: duckdb.DuckDBPyConnection, stage: str, suite_name: str, sql: str, params,
                   expectations: list) -> list[ExpectationOutcome]:
    """validate_frame on the result of ``sql`` without holding it all in pandas.

    The result is kept in a DuckDB temporary table (warehouse.bulk.kept_result). Row-wise
    expectations (ROW_WISE) are validated by GX on frames of at most GX_BATCH_ROWS rows of the
    columns they name, and the frames' counts are added up as GX adds
    up a whole frame's; every other expectation sees the whole table, but only its own columns.
    The outcomes are those validate_frame gives on the whole result, in the suite's order.
    """
    if not expectations:
        return []
    with kept_result(con, sql, params) as (table, end):
        outcomes: dict[int, ExpectationOutcome] = {}
        row_wise = [(i, e) for i, e in enumerate(expectations) if _row_wise(e)]
        if row_wise:
            cols = _select_list({c for _, e in row_wise for c in _columns_of(e)}, con, table)
            parts = [_validate_frame_counted(stage, suite_name, con.execute(
                        f"SELECT {cols} FROM {table} WHERE rowid >= ? AND rowid < ? ORDER BY rowid",
                        [lo, lo + GX_BATCH_ROWS]).df(), [e for _, e in row_wise])
                     for lo in range(0, max(end, 1), GX_BATCH_ROWS)]  # an empty table is one empty frame
            for k, (i, _) in enumerate(row_wise):
                outcomes[i] = _add_up([part[k] for part in parts])
        for i, e in enumerate(expectations):
            if i not in outcomes:
                cols = _select_list(set(_columns_of(e)), con, table)
                df = con.execute(f"SELECT {cols} FROM {table} ORDER BY rowid").df()
                outcomes[i] = validate_frame(stage, suite_name, df, [e])[0]
        return [outcomes[i] for i in range(len(expectations))]


def _select_list(columns: set[str], con: duckdb.DuckDBPyConnection, table: str) -> str:
    """The named columns in the table's own order (all of them when none is named)."""
    names = [d[0] for d in con.execute(f"SELECT * FROM {table} LIMIT 0").description]
    return ", ".join(f'"{c}"' for c in names if not columns or c in columns) or "*"


def _add_up(parts: list[tuple[ExpectationOutcome, int | None]]) -> ExpectationOutcome:
    """One row-wise expectation's outcome on a whole table from its outcomes on the table's frames,
    with GX's arithmetic (great_expectations.expectations.expectation._format_map_output):
    unexpected_percent is of the non-missing values when GX counts missing ones, else of all."""
    if len(parts) == 1:
        return parts[0][0]
    first = parts[0][0]
    exc = next((o.exception for o, _ in parts if o.exception), None)
    counted = [o for o, _ in parts if o.unexpected_count is not None]
    elements = sum(o.element_count or 0 for o, _ in parts)
    unexpected = sum(o.unexpected_count for o in counted) if counted else None
    missing = None if any(m is None for _, m in parts) else sum(m for _, m in parts)
    percent = None
    if unexpected is not None and elements > 0:
        nonmissing = elements if missing is None else elements - missing
        percent = unexpected / nonmissing * 100 if nonmissing > 0 else None
    return dataclasses.replace(first, success=all(o.success for o, _ in parts) and exc is None,
                               element_count=elements, unexpected_count=unexpected, unexpected_percent=percent,
                               exception=exc)


def _gx():
    import great_expectations as gx
    return gx.expectations


def _m(severity: str) -> dict:
    return {"meta": {"severity": severity}}


# ---------------------------------------------------------------- staging ---------------------

def staging_expectations(today: dt.date | None = None) -> dict[str, dict[str, list]]:
    """{table: {severity: [expectations]}} for the staging suite."""
    E = _gx()
    today = today or dt.date.today()
    # Date bounds as datetimes: pandas 3 holds DuckDB DATEs as datetime64, and GX compares like with like.
    end_of_today = dt.datetime.combine(today, dt.time.max)
    b, w = _m(BLOCKING), _m(WARNING)
    not_blank = lambda col, meta: [E.ExpectColumnValuesToNotBeNull(column=col, **meta),  # noqa: E731
                                   E.ExpectColumnValuesToNotMatchRegex(column=col, regex=r"^\s*$", **meta)]
    regex = lambda col, pattern: E.ExpectColumnValuesToMatchRegex(column=col, regex=pattern, **w)  # noqa: E731
    return {
        "service": {
            BLOCKING: [*not_blank("name", b),
                       E.ExpectCompoundColumnsToBeUnique(column_list=["source_id", "source_record_id"], **b),
                       E.ExpectColumnValuesToMatchRegex(column="id", regex=UUID_RE, **b)],
            WARNING: [E.ExpectColumnValuesToNotBeNull(column="status", **w),
                      E.ExpectColumnValuesToBeInSet(column="status", value_set=list(SERVICE_STATUSES), **w),
                      regex("email", R.EMAIL_RE), regex("assurer_email", R.EMAIL_RE), regex("url", R.URL_RE),
                      E.ExpectColumnValuesToBeBetween(column="minimum_age", min_value=0, max_value=120, **w),
                      E.ExpectColumnValuesToBeBetween(column="maximum_age", min_value=0, max_value=120, **w),
                      E.ExpectColumnPairValuesAToBeGreaterThanB(column_A="maximum_age", column_B="minimum_age",
                                                                or_equal=True, ignore_row_if="either_value_is_missing", **w),
                      E.ExpectColumnValuesToBeBetween(column="assured_date", max_value=end_of_today, **w),
                      E.ExpectColumnValuesToBeBetween(column="last_modified",
                                                      max_value=end_of_today + dt.timedelta(days=1), **w)],
        },
        "organization": {WARNING: [E.ExpectColumnValuesToNotBeNull(column="name", **w),
                                   regex("email", R.EMAIL_RE), regex("website", R.URL_RE)]},
        "location": {WARNING: [E.ExpectColumnValuesToBeBetween(column="latitude", min_value=R.UK_LAT[0], max_value=R.UK_LAT[1], **w),
                               E.ExpectColumnValuesToBeBetween(column="longitude", min_value=R.UK_LON[0], max_value=R.UK_LON[1], **w),
                               E.ExpectColumnValuesToBeInSet(column="location_type", value_set=list(R.LOCATION_TYPES), **w)]},
        "address": {WARNING: [E.ExpectColumnValuesToNotBeNull(column="postal_code", **w),
                              regex("postal_code", R.POSTCODE_RE),
                              E.ExpectColumnValuesToBeInSet(column="address_type", value_set=list(ADDRESS_TYPES), **w)]},
        "phone": {WARNING: [E.ExpectColumnValuesToNotBeNull(column="number", **w), regex("number_digits", R.PHONE_DIGITS_RE)]},
        "schedule": {WARNING: [E.ExpectColumnValuesToBeInSet(column="freq_upper", value_set=list(SCHEDULE_FREQS), **w),
                               regex("byday_norm", BYDAY_LIST_RE), regex("schedule_link", R.URL_RE)]},
        "contact": {WARNING: [regex("email", R.EMAIL_RE)]},
    }


# Extra columns the suites need, derived the same way as in the SQL rules.
STAGING_FRAME_COLUMNS = {
    "service": "id, source_id, source_record_id, name, status, email, assurer_email, url, minimum_age, maximum_age, "
               "assured_date, last_modified",
    "organization": "id, source_id, source_record_id, name, email, website",
    "location": "id, source_id, source_record_id, latitude, longitude, location_type",
    "address": "id, source_id, source_record_id, postal_code, address_type",
    "phone": f"id, source_id, source_record_id, number, regexp_replace(lower(trim(number)), '{R.PHONE_STRIP_RE}', '', 'g') AS number_digits",
    "schedule": "id, source_id, source_record_id, upper(freq) AS freq_upper, upper(replace(byday, ' ', '')) AS byday_norm, schedule_link",
    "contact": "id, source_id, source_record_id, email",
}


def _frame(con: duckdb.DuckDBPyConnection, sql: str, params=None) -> pd.DataFrame:
    return con.execute(sql, params or []).df()


def validate_staging(con: duckdb.DuckDBPyConnection, run_id: str, today: dt.date | None = None) -> StageValidation:
    report = StageValidation("staging")
    not_quarantined = """NOT EXISTS (SELECT 1 FROM quality.quarantine q WHERE q.run_id = ?
                         AND q.source_id = t.source_id AND q.record_id = t.source_record_id)"""
    for table, by_severity in staging_expectations(today).items():
        cols = STAGING_FRAME_COLUMNS[table]
        if by_severity.get(WARNING):
            report.outcomes += validate_query(con, "staging", f"staging.{table}", f"SELECT {cols} FROM staging.{table} t",
                                              [], by_severity[WARNING])
        if by_severity.get(BLOCKING):
            report.outcomes += validate_query(con, "staging", f"staging.{table}.published",
                                              f"SELECT {cols} FROM staging.{table} t WHERE {not_quarantined}", [run_id],
                                              by_severity[BLOCKING])
    return report


# ---------------------------------------------------------------- catalogue -------------------

# Each catalogue table that others refer to -> the "table.column"s that refer to it. Stricter than
# the foreign keys the exported package declares (warehouse/export.py follows the official ORUK
# package): in our catalogue a phone's service and contact, and an attribute's link, must exist too.
CATALOGUE_REFERENCES = {
    "organization": ("service.organization_id", "organization_identifier.organization_id"),
    "service": ("service_at_location.service_id", "schedule.service_id", "service_area.service_id",
                "language.service_id", "funding.service_id", "cost_option.service_id", "contact.service_id",
                "phone.service_id", "attribute.link_id", "service_source.service_id"),
    "location": ("service_at_location.location_id", "address.location_id", "accessibility.location_id"),
    "contact": ("phone.contact_id",),
    "taxonomy_term": ("attribute.taxonomy_term_id",),
    "taxonomy": ("taxonomy_term.taxonomy_id",),
}


def _has(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    return bool(con.execute("SELECT count(*) FROM duckdb_tables() WHERE database_name = current_database() "
                            "AND schema_name = ? AND table_name = ?", [schema, table]).fetchone()[0])


def catalogue_queries(con: duckdb.DuckDBPyConnection, run_id: str) -> dict[str, tuple[str, list]]:
    """{name: (SQL, parameters)}: the rows each part of the catalogue suite is validated on."""
    queries = {}
    queries["membership"] = ("""
        SELECT s.id AS staging_id, count(ss.service_id) AS clusters
        FROM staging.service s LEFT JOIN catalogue.service_source ss ON ss.staging_id = s.id
        WHERE NOT EXISTS (SELECT 1 FROM quality.quarantine q WHERE q.run_id = ? AND q.source_id = s.source_id
                          AND q.record_id = s.source_record_id)
        GROUP BY 1""", [run_id])
    queries["golden_id"] = ("SELECT id FROM catalogue.service", [])
    fk_sql = " UNION ALL ".join(
        f"SELECT '{table}.{column}' AS fk, p.id IS NOT NULL AS parent_found FROM catalogue.{table} t "
        f"LEFT JOIN catalogue.{parent} p ON p.id = t.{column} WHERE t.{column} IS NOT NULL"
        for parent, refs in CATALOGUE_REFERENCES.items() for table, column in (ref.split(".") for ref in refs))
    queries["foreign_key"] = (fk_sql, [])
    queries["published"] = ("""
        SELECT ss.source_id, ss.source_record_id,
               EXISTS (SELECT 1 FROM quality.quarantine q WHERE q.run_id = ? AND q.source_id = ss.source_id
                       AND q.record_id = ss.source_record_id) AS quarantined
        FROM catalogue.service_source ss""", [run_id])
    # Stable ids: a previous golden service whose members are all still together in one cluster
    # (and nothing else joined) must keep its id.
    if _has(con, "previous", "service_source"):
        queries["stable"] = ("""
            WITH prev AS (SELECT service_id, list(source_id || '/' || source_record_id ORDER BY 1) AS members
                          FROM previous.service_source GROUP BY 1),
                 cur AS (SELECT service_id, list(source_id || '/' || source_record_id ORDER BY 1) AS members
                         FROM catalogue.service_source GROUP BY 1)
            SELECT p.service_id AS previous_id, c.service_id AS current_id, p.service_id = c.service_id AS kept
            FROM prev p JOIN cur c ON c.members = p.members""", [])
    else:
        queries["stable"] = ("SELECT NULL::VARCHAR AS previous_id, NULL::VARCHAR AS current_id, NULL::BOOLEAN AS kept "
                             "WHERE FALSE", [])
    if _has(con, "quality", "personal_data_residue"):
        queries["personal_data"] = ("SELECT table_name, field, kind FROM quality.personal_data_residue WHERE run_id = ?",
                                    [run_id])
    return queries


def catalogue_frames(con: duckdb.DuckDBPyConnection, run_id: str) -> dict[str, pd.DataFrame]:
    """The catalogue suite's rows as whole DataFrames (to look at; validate_catalogue does not
    hold them in pandas)."""
    return {name: _frame(con, sql, params) for name, (sql, params) in catalogue_queries(con, run_id).items()}


def catalogue_expectations() -> dict[str, list]:
    E = _gx()
    b = _m(BLOCKING)
    return {
        "membership": [E.ExpectColumnValuesToBeBetween(column="clusters", min_value=1, max_value=1, **b)],
        "golden_id": [E.ExpectColumnValuesToNotBeNull(column="id", **b),
                      E.ExpectColumnValuesToBeUnique(column="id", **b),
                      E.ExpectColumnValuesToMatchRegex(column="id", regex=UUID_RE, **b)],
        "foreign_key": [E.ExpectColumnValuesToBeInSet(column="parent_found", value_set=[True], **b)],
        "published": [E.ExpectColumnValuesToBeInSet(column="quarantined", value_set=[False], **b)],
        "stable": [E.ExpectColumnValuesToBeInSet(column="kept", value_set=[True], **b)],
        # The personal-data guard's own re-scan of what it left in catalogue.*: must be empty.
        "personal_data": [E.ExpectTableRowCountToEqual(value=0, **b)],
    }


def validate_catalogue(con: duckdb.DuckDBPyConnection, run_id: str) -> StageValidation:
    report = StageValidation("catalogue")
    queries = catalogue_queries(con, run_id)
    for name, expectations in catalogue_expectations().items():
        if name in queries:
            sql, params = queries[name]
            report.outcomes += validate_query(con, "catalogue", f"catalogue.{name}", sql, params, expectations)
    return report


def store_validation(con: duckdb.DuckDBPyConnection, run_id: str, report: StageValidation) -> None:
    con.execute(EXPECTATION_RESULT_DDL)
    con.execute("DELETE FROM quality.expectation_result WHERE run_id = ? AND stage = ?", [run_id, report.stage])
    if report.outcomes:
        insert_rows(con, "quality.expectation_result",
                    ["run_id", "stage", "suite", "expectation", "column", "severity", "success", "element_count",
                     "unexpected_count", "unexpected_percent", "exception"],
                    [[run_id, o.stage, o.suite, o.expectation, o.column, o.severity, o.success, o.element_count,
                      o.unexpected_count, o.unexpected_percent, o.exception] for o in report.outcomes])


def stored_outcomes(con: duckdb.DuckDBPyConnection, run_id: str, stage: str) -> list[ExpectationOutcome]:
    """The stored results of a stage's suite (what the asset checks report)."""
    if not _has(con, "quality", "expectation_result"):
        return []
    rows = con.execute("""SELECT stage, suite, expectation, "column", severity, success, element_count,
                                 unexpected_count, unexpected_percent, exception
                          FROM quality.expectation_result WHERE run_id = ? AND stage = ?
                          ORDER BY suite, expectation, "column" """, [run_id, stage]).fetchall()
    return [ExpectationOutcome(*r) for r in rows]
