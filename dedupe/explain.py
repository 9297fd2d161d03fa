"""Say in plain words why the records of a golden service were merged.

`placecat explain SERVICE_ID --db FILE` reads `catalogue.service_source.match_reason` (the
comparison levels and weights stored by the matcher) and `catalogue.conflict`.
"""
from __future__ import annotations

import argparse
import json
import sys

import duckdb
from warehouse.build import previous_full_build
from warehouse.state import existing_catalogue

WORDS = {
    "name": "service name", "service_identifier": "service identifier (Ofsted/CQC)", "venue": "venue",
    "phone": "phone number", "organisation": "organisation", "email": "email", "website": "website",
    "schedule": "schedule", "taxonomy": "taxonomy", "description": "description",
}


def weigh(comparisons: list[dict]) -> dict[str, list]:
    """A pair's comparisons (as stored in match_reason) by how they counted: ``counted`` as
    (weight, field, level), strongest first whichever way it pulled; ``discounted`` (agreed, but a
    gate did not count it) as lines; ``missing`` (not compared: missing on one side) as fields."""
    out: dict[str, list] = {"counted": [], "discounted": [], "missing": []}
    for item in comparisons:
        field = WORDS.get(item["comparison"], item["comparison"])
        if item["level"] == "not compared":
            out["missing"].append(field)
        elif "gated" in item:
            out["discounted"].append(f"{field}: {item['level']}, but this did not count because {item['gated']}")
        else:
            out["counted"].append((item["weight"], field, item["level"]))
    out["counted"].sort(key=lambda x: -abs(x[0]))
    return out


def direction(weight: float) -> str:
    return "for" if weight > 0 else "against" if weight < 0 else "neutral"


def describe_reason(reason: dict) -> list[str]:
    """The lines that explain one member's match_reason."""
    rule = reason.get("rule")
    if rule == "founding record":
        return ["the founding record of this golden service"]
    if rule == "must-link override":
        return ["merged because a person decided so (must-link in the overrides file)"]
    if rule == "exact":
        return [f"merged because its normalised name ({reason.get('name')}) and postcode ({reason.get('postcode')}) are identical"]
    partner = reason.get("with") or {}
    lines = [f"merged with {partner.get('source_id')}/{partner.get('record_id')}: "
             f"{reason.get('probability', 0):.1%} likely to be the same service"]
    w = weigh(reason.get("comparisons", []))
    lines += [f"  - {field}: {level} ({direction(weight)} a match, weight {weight:+.1f})" for weight, field, level in w["counted"]]
    lines += [f"  - {text}" for text in w["discounted"]]
    if w["missing"]:
        lines.append(f"  - not compared (missing on one side): {', '.join(w['missing'])}")
    return lines


def explain_service(con: duckdb.DuckDBPyConnection, service_id: str) -> list[str]:
    row = con.execute("SELECT name FROM catalogue.service WHERE id = ?", [service_id]).fetchone()
    if row is None:
        raise LookupError(f"no golden service with id {service_id}; list ids with SELECT id, name FROM catalogue.service")
    members = con.execute("""SELECT source_id, source_record_id, match_score, match_reason FROM catalogue.service_source
                             WHERE service_id = ? ORDER BY match_score DESC, source_id, source_record_id""", [service_id]).fetchall()
    out = [f"{row[0]!r} ({service_id}) stands for {len(members)} source record{'s' if len(members) != 1 else ''}:"]
    for source_id, rid, _score, reason in members:
        out.append(f"* {source_id}/{rid}:")
        out += ["  " + line for line in describe_reason(json.loads(reason or "{}"))]
    conflicts = con.execute("""SELECT field, source_id, value, chosen FROM catalogue.conflict WHERE service_id = ?
                               ORDER BY field, chosen DESC, source_id""", [service_id]).fetchall()
    if conflicts:
        out.append("The sources disagree on:")
        for field, source_id, value, chosen in conflicts:
            out.append(f"  - {field}: {source_id} says {value!r}{' (kept)' if chosen else ''}")
    return out


def configure_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("service_id", metavar="SERVICE_ID", help="a golden service id (catalogue.service.id)")
    p.add_argument("--db", required=True, help="the published catalogue DuckDB file")


def run(args: argparse.Namespace) -> int:
    db = existing_catalogue(args.db)
    try:
        # The matcher's state is in the internal catalogue (the state folder), not the published file.
        with duckdb.connect(str(previous_full_build(db)), read_only=True) as con:
            print("\n".join(explain_service(con, args.service_id)))
    except LookupError as exc:
        print(f"placecat explain: {exc}", file=sys.stderr)
        return 1
    except duckdb.Error as exc:
        print(f"placecat explain: {db}: not a placecat catalogue ({str(exc).splitlines()[0]})", file=sys.stderr)
        return 2
    return 0
