"""Richness (0-100) and freshness of services, per service and per source.

**Richness** is a weighted share of the things a person looking for a service needs to find
there. The weights are published here and in docs/quality.md, and both scores are stored for every
golden service (``quality.service_richness``):

- ``porism_v1`` is the baseline: Porism's ORUK v1 weights (name 10, description 5, url 2,
  email 2, attending_type 2, attending_access 2, service_areas 5, eligibilitys 2, contacts 2,
  assured_date 2 when under 90 days old, regular_schedules 2, service_at_locations 9; 45 points).
  The weights and field meanings are the ones ``connectors.oruk.richness`` (used by ``placecat
  validate`` on raw feeds) defines; here the same fields are read from the staging/catalogue
  tables in SQL, so a feed scores the same in both places (a test checks it on the Bristol page).
- ``placecat`` (the scorecard's headline) weights what a resident needs to act on: what it is,
  how to get in touch, where and when, and whether it is up to date.

**Freshness** is the age in days of ``assured_date``, or of ``last_modified`` when a service has
never been assured. The ORUK guidance asks for assurance within 3 months (and the LGA pilots
promised every 2–3 months): anything older than ``STALE_AFTER_DAYS`` is flagged stale.
"""
from __future__ import annotations

import json

import duckdb

from connectors.oruk.richness import ASSURED_WITHIN_DAYS, PORISM_V1_WEIGHTS

STALE_AFTER_DAYS = 92   # three months
FRESHNESS_BUCKETS = (("0-3m", 0, 92), ("3-6m", 92, 183), ("6-12m", 183, 366), ("12m+", 366, None))

# feature -> SQL over the service table (alias s) in schema {S}, true when the service has it.
# Child tables are tested with ``s.id IN (SELECT ...)``, not a correlated EXISTS: DuckDB plans each
# correlated EXISTS as a join that keeps a copy of every service row, about 25 copies at once
# here (670 MB for 85,000 golden services); IN keeps one hash table of the child's keys (170 MB).
# An IN that finds nothing among NULL keys is NULL, not FALSE: features_sql coalesces it.
FEATURES: dict[str, str] = {
    "name": "s.name IS NOT NULL AND trim(s.name) <> ''",
    "description": "length(trim(coalesce(s.description, ''))) >= 20",
    "url": "s.url IS NOT NULL AND trim(s.url) <> ''",
    "email": "s.email IS NOT NULL AND trim(s.email) <> ''",
    "status": "s.status IS NOT NULL",
    "fees": "(s.fees IS NOT NULL AND trim(s.fees) <> '') OR s.id IN (SELECT c.service_id FROM {S}.cost_option c)",
    "accreditations": "s.accreditations IS NOT NULL AND trim(s.accreditations) <> ''",
    "eligibility": "s.minimum_age IS NOT NULL OR s.maximum_age IS NOT NULL",
    "assured_date": "s.assured_date IS NOT NULL",
    "organization": "s.organization_id IS NOT NULL",
    "contact": "s.id IN (SELECT c.service_id FROM {S}.contact c)",
    "phone": "s.id IN (SELECT p.service_id FROM {S}.phone p)",
    "location": "s.id IN (SELECT sal.service_id FROM {S}.service_at_location sal)",
    "postcode": "s.id IN (SELECT sal.service_id FROM {S}.service_at_location sal JOIN {S}.address a "
                "ON a.location_id = sal.location_id WHERE a.postal_code IS NOT NULL)",
    "schedule": "s.id IN (SELECT sc.service_id FROM {S}.schedule sc)",
    "taxonomy": "s.id IN (SELECT attr.link_id FROM {S}.attribute attr)",
    "language": "s.id IN (SELECT l.service_id FROM {S}.language l)",
    "service_area": "s.id IN (SELECT sa.service_id FROM {S}.service_area sa)",
    "funding": "s.id IN (SELECT f.service_id FROM {S}.funding f)",
    "accessibility": "s.id IN (SELECT sal.service_id FROM {S}.service_at_location sal JOIN {S}.accessibility ac "
                     "ON ac.location_id = sal.location_id)",
    "fresh": f"date_diff('day', coalesce(s.assured_date, CAST(s.last_modified AS DATE)), current_date) <= {STALE_AFTER_DAYS}",
}

_VOCAB = ("s.id IN (SELECT attr.link_id FROM {S}.attribute attr JOIN {S}.taxonomy_term tt ON tt.id = attr.taxonomy_term_id "
          "WHERE lower(tt.taxonomy) {cond})")
# Porism's v1 fields (connectors.oruk.richness.service_fields_present), read from the tables.
PORISM_FEATURES: dict[str, str] = {
    "p_name": FEATURES["name"],
    "p_description": "s.description IS NOT NULL AND trim(s.description) <> ''",
    "p_url": FEATURES["url"],
    "p_email": FEATURES["email"],
    "p_attending_type": "s.id IN (SELECT sc.service_id FROM {S}.schedule sc WHERE sc.attending_type IS NOT NULL "
                        "AND trim(sc.attending_type) <> '') OR " + _VOCAB.replace("{cond}", "= 'oruk-v1:attending_type'"),
    "p_attending_access": _VOCAB.replace("{cond}", "= 'oruk-v1:attending_access'"),
    "p_service_areas": FEATURES["service_area"],
    "p_eligibilitys": "s.minimum_age IS NOT NULL OR s.maximum_age IS NOT NULL OR " + _VOCAB.replace("{cond}", "LIKE '%eligibility%'"),
    "p_contacts": FEATURES["contact"],
    "p_assured_date": f"date_diff('day', s.assured_date, current_date) BETWEEN 0 AND {ASSURED_WITHIN_DAYS - 1}",
    "p_regular_schedules": FEATURES["schedule"],
    "p_service_at_locations": FEATURES["location"],
}
FEATURES.update(PORISM_FEATURES)

WEIGHTS: dict[str, dict[str, float]] = {
    "porism_v1": {f"p_{name}": w for name, w in PORISM_V1_WEIGHTS.items()},
    "placecat": {
        "description": 15, "contact": 5, "phone": 7, "email": 5, "url": 5, "location": 8, "postcode": 7,
        "schedule": 10, "taxonomy": 10, "eligibility": 5, "fees": 5, "fresh": 10, "accessibility": 3,
        "language": 2, "service_area": 3,
    },
}
DEFAULT_WEIGHTS = "placecat"

SERVICE_RICHNESS_DDL = """
CREATE TABLE IF NOT EXISTS quality.service_richness (
    run_id          VARCHAR NOT NULL,
    service_id      VARCHAR NOT NULL,   -- catalogue (golden) service id
    richness        DOUBLE,             -- 0-100 with the placecat weights
    richness_porism DOUBLE,             -- 0-100 with the porism_v1 baseline weights
    missing         VARCHAR[],          -- placecat-weighted features it lacks, heaviest first
    freshness_days  INTEGER,            -- age of assured_date (or last_modified); NULL if neither
    stale           BOOLEAN             -- older than 3 months, or never dated
)
"""


def score_sql(weights: dict[str, float]) -> str:
    total = sum(weights.values())
    terms = " + ".join(f"{w} * CAST(f_{f} AS INTEGER)" for f, w in weights.items())
    return f"round(100.0 * ({terms}) / {total}, 1)"


def features_sql(schema: str, where: str = "TRUE") -> str:
    """One row per service of ``schema`` with a boolean column f_<feature> per feature."""
    cols = ",\n           ".join(f"coalesce({sql.format(S=schema)}, FALSE) AS f_{name}" for name, sql in FEATURES.items())
    extra = "s.source_id, s.source_record_id," if schema == "staging" else ""
    return f"""SELECT s.id, {extra}
           date_diff('day', coalesce(s.assured_date, CAST(s.last_modified AS DATE)), current_date) AS freshness_days,
           {cols}
    FROM {schema}.service s WHERE {where}"""


def score_catalogue(con: duckdb.DuckDBPyConnection, run_id: str) -> dict[str, float]:
    """Score every golden service; returns the catalogue's mean richness and stale share."""
    con.execute(SERVICE_RICHNESS_DDL)
    con.execute("DELETE FROM quality.service_richness WHERE run_id = ?", [run_id])
    ordered = sorted(WEIGHTS["placecat"].items(), key=lambda kv: -kv[1])
    missing = "list_filter([" + ", ".join(f"CASE WHEN NOT f_{f} THEN '{f}' END" for f, _ in ordered) + "], lambda x: x IS NOT NULL)"
    con.execute(f"""
        INSERT INTO quality.service_richness
        SELECT ?, id, {score_sql(WEIGHTS['placecat'])}, {score_sql(WEIGHTS['porism_v1'])}, {missing},
               freshness_days, freshness_days IS NULL OR freshness_days > {STALE_AFTER_DAYS}
        FROM ({features_sql('catalogue')})
    """, [run_id])
    mean, stale = con.execute("""SELECT round(avg(richness), 1), round(100.0 * avg(CAST(stale AS INTEGER)), 1)
                                 FROM quality.service_richness WHERE run_id = ?""", [run_id]).fetchone()
    return {"mean_richness": mean or 0.0, "stale_percent": stale or 0.0}


def source_richness_sql(eligible_where: str = "TRUE") -> str:
    """Per source: mean richness (both weightings), freshness buckets and key-field completeness."""
    buckets = ", ".join(
        f"count(*) FILTER (WHERE freshness_days >= {lo}" + (f" AND freshness_days < {hi})" if hi else ")") + f" AS \"{name}\""
        for name, lo, hi in FRESHNESS_BUCKETS)
    return f"""
        SELECT source_id,
               round(avg({score_sql(WEIGHTS['placecat'])}), 1) AS richness,
               round(avg({score_sql(WEIGHTS['porism_v1'])}), 1) AS richness_porism,
               count(*) FILTER (WHERE freshness_days IS NULL OR freshness_days > {STALE_AFTER_DAYS}) AS stale,
               {buckets}, count(*) FILTER (WHERE freshness_days IS NULL) AS undated,
               round(median(freshness_days)) AS median_age_days,
               {", ".join(f"round(100.0 * avg(CAST(f_{f} AS INTEGER)), 1) AS pct_{f}" for f in KEY_FIELDS)}
        FROM ({features_sql('staging', eligible_where)}) GROUP BY source_id
    """


# The key fields whose completeness the scorecard shows.
KEY_FIELDS = ("description", "url", "email", "phone", "location", "postcode", "schedule", "taxonomy", "eligibility", "assured_date")


def weights_json() -> str:
    return json.dumps(WEIGHTS, indent=1)
