"""One row of a spreadsheet or database export to ORUK v3 staging rows, as its mapping file says;
every bad cell is reported (file, sheet, row, column) and the rest of the row is kept.
"""
from __future__ import annotations

import re
from typing import Any

from connectors.cells import (AGE_FIELDS, RANGE_FIELDS, TYPE_WORDS, AgeRange, RowProblems, TimeRange, as_text,
                              coerce_date, coerce_time, coerce_timestamp, is_blank, is_monthly, json_safe_value,
                              normalise_phone, parse_days, split_age_range)
from connectors.mapping import LGA_TAXONOMY, MAPPABLE, MULTI_ROW_FIELD, BoundMapping, FieldSpec, header_key
from connectors.staging import StagingRows, parse_number, split_time_range
from warehouse.model import column_types


def columns_for_both(specs: list[FieldSpec], fields: tuple[str, ...]) -> set[str]:
    """Columns mapped on their own to every one of these fields (a column of ranges for both ages)."""
    per_field = [{s.columns[0] for s in specs if s.field == f and len(s.columns) == 1} for f in fields]
    return set.intersection(*per_field)


def _shown(value: Any) -> str:
    if value is None:
        return "no limit"
    return value.isoformat(timespec="minutes") if hasattr(value, "isoformat") else as_text(value)


def spread_range(vals: dict[str, list[Any]], fields: tuple[str, str], rng: Any, ends: tuple[Any, Any], words: str,
                 probs: RowProblems) -> None:
    """The range's two ends into its two fields (an end of None leaves its field empty); where
    another column gave a field a different value, the range wins and a warning names both."""
    for f, end in zip(fields, ends):
        given = (vals.get(f) or [None])[0]
        if given is not None and not isinstance(given, type(rng)) and given != end:
            table, column = f.split(".")
            probs.row(table, column, "value", f"{f} is {_shown(given)} but the {words} in column '{rng.column}' "
                                              f"says {_shown(end)}; kept the range", "warning")
        if end is None:
            vals.pop(f, None)
        else:
            vals[f] = [end]


class RowMapper:
    """Applies a bound mapping to rows; one per normalise call."""

    def __init__(self, bound: BoundMapping, rows: StagingRows):
        self.b = bound
        self.m = bound.mapping
        self.rows = rows
        self.types = {t: column_types(t) for t in MAPPABLE}
        self.read_columns = set(self.b.actual.values())
        self.age_range_columns = columns_for_both(self.m.fields, AGE_FIELDS) | {
            c for g in self.m.service_groups for c in columns_for_both(g, AGE_FIELDS)}

    # one field's value(s) in a row: (values, column for messages)
    def field_values(self, spec: FieldSpec, row: dict, probs: RowProblems) -> list[Any]:
        if spec.constant is not None or not spec.columns:
            raw_vals = [spec.constant]
            column = None
        else:
            cells = [(c, row.get(self.b.col(c))) for c in spec.columns]
            cells = [(c, v) for c, v in cells if not is_blank(v)]
            if not cells:
                return []
            column = cells[0][0] if len(cells) == 1 else " + ".join(c for c, _ in cells)
            if len(cells) == 1:
                raw_vals = [cells[0][1]]
            else:
                raw_vals = [(spec.sep or " ").join(as_text(v) for _, v in cells)]
        if spec.split and isinstance(raw_vals[0], str):
            raw_vals = [p.strip() for p in re.split(spec.split if len(spec.split) > 1 else re.escape(spec.split),
                                                    raw_vals[0]) if p.strip()]
        out = []
        for v in raw_vals:
            if spec.values is not None and header_key(as_text(v)) in spec.values:
                v = spec.values[header_key(as_text(v))]
            v = self.convert(spec, v, column, probs)
            if not is_blank(v):
                out.append(v)
        return out

    def convert(self, spec: FieldSpec, v: Any, column: str | None, probs: RowProblems) -> Any:
        typ = self.types[spec.table].get(spec.column, "VARCHAR")
        if spec.field in RANGE_FIELDS and not spec.format:
            rng = split_time_range(as_text(v))
            if rng is not None:
                return TimeRange(rng[0], rng[1], column)
        if spec.field in AGE_FIELDS:
            ages = split_age_range(as_text(v))
            if ages is not None:
                return AgeRange(ages[0], ages[1], column)
            if column in self.age_range_columns:
                # One column for both ages holds ranges; a lone number there ("16") could mean 16 only
                # or 16 and over, so it is not guessed at.
                probs.cell(spec, column, "type", f"{as_text(v)[:60]!r} is not an age range (e.g. 0-4, 18+, "
                                                 f"Under 5s, All ages) for {' and '.join(AGE_FIELDS)}; left empty")
                return None
        try:
            if typ == "DATE":
                return coerce_date(v, spec.format)
            if typ == "TIME":
                return coerce_time(v, spec.format)
            if typ == "TIMESTAMP":
                return coerce_timestamp(v, spec.format)
            if typ == "DOUBLE":
                return parse_number(v)
        except (ValueError, TypeError, OverflowError):
            fmt = f" in the format {spec.format}" if spec.format else ""
            probs.cell(spec, column, "type", f"{as_text(v)[:60]!r} is not a valid {TYPE_WORDS[typ]}{fmt} for "
                                             f"{spec.field}; left empty")
            return None
        if spec.field == "schedule.byday":
            days, unknown = parse_days(as_text(v))
            if unknown:
                probs.cell(spec, column, "value", f"{', '.join(repr(u) for u in unknown)} is not a day of the week "
                                                  f"for schedule.byday; ignored")
            return ",".join(days) or None
        if spec.table == "phone" and spec.column == "number":
            return normalise_phone(v)
        if spec.field == "address.postal_code":
            return re.sub(r"\s+", " ", as_text(v)).upper()
        if spec.column in ("url", "website", "uri") and re.match(r"^www\.", as_text(v), re.I):
            return "https://" + as_text(v)
        return as_text(v) if not isinstance(v, str) else v.strip()

    def values_of(self, specs: list[FieldSpec], row: dict, probs: RowProblems) -> dict[str, list[Any]]:
        vals: dict[str, list[Any]] = {}
        for spec in specs:
            got = self.field_values(spec, row, probs)
            if got and spec.field not in vals:
                vals[spec.field] = got
        self.spread_time_ranges(vals, probs)
        self.spread_age_ranges(vals, probs)
        return vals

    def spread_time_ranges(self, vals: dict[str, list[Any]], probs: RowProblems) -> None:
        """A time range fills both the opening and the closing time (storing "10:00-13:00" as
        closes_at 10:00 and no opening time was the old, silent result). When another column
        gives the other time and it disagrees with the range, the range wins and an issue says so."""
        ranges = [v[0] for f in RANGE_FIELDS for v in [vals.get(f)] if v and isinstance(v[0], TimeRange)]
        if ranges:
            spread_range(vals, RANGE_FIELDS, ranges[0], (ranges[0].opens, ranges[0].closes), "time range", probs)

    def spread_age_ranges(self, vals: dict[str, list[Any]], probs: RowProblems) -> None:
        """An age range fills both ages ("0-4": 0 and 4, "18+": 18 and no maximum, "All ages":
        neither); "18+" used to be no number at all, and "0-4" the same. When another column gives
        an age the range disagrees with, the range wins and an issue says so, as for time ranges."""
        ranges = [v[0] for f in AGE_FIELDS for v in [vals.get(f)] if v and isinstance(v[0], AgeRange)]
        if ranges:
            spread_range(vals, AGE_FIELDS, ranges[0], (ranges[0].minimum, ranges[0].maximum), "age range", probs)

    def normalise_row(self, record_id: str, row: dict, fetched_from: str) -> int:
        """Staging rows for one spreadsheet row; returns how many services it made."""
        probs = RowProblems(self.rows, record_id, fetched_from)
        shared = self.values_of(self.m.fields, row, probs)
        groups = [self.values_of(g, row, probs) for g in self.m.service_groups] or [{}]
        extras = {k: json_safe_value(v) for k, v in row.items() if k not in self.read_columns and not is_blank(v)}
        org_id: str | None = None
        made = 0
        for n, group in enumerate(groups, start=1):
            vals = {**shared, **group}
            if self.m.service_groups and "service.name" not in group:
                continue  # this organisation offers fewer services than the sheet has room for
            rid = record_id if len(groups) == 1 else f"{record_id}/{n}"
            gprobs = probs if rid == record_id else RowProblems(self.rows, rid, fetched_from)
            missing = [f for f in self.m.required if f not in vals]
            if missing:
                cols = [c for s in [*self.m.fields, *(s for g in self.m.service_groups for s in g)]
                        if s.field in missing for c in s.columns]
                what = ", ".join(f"{f} (column {', '.join(repr(c) for c in cols)})" if cols else f for f in missing)
                gprobs.row("service", missing[0].split(".", 1)[1], "required", f"{what} is empty; the row was not loaded")
                continue
            if made == 0:  # only rows that load bring their organisation in
                org_id = self.add_organization(shared, record_id)
            self.add_service(rid, vals, org_id, extras)
            made += 1
        return made

    def add_organization(self, vals: dict[str, list[Any]], record_id: str) -> str | None:
        org = {k.split(".", 1)[1]: v[0] for k, v in vals.items() if k.startswith("organization.")}
        if not org.get("name") and not org.get("id"):
            return None
        org_rid = str(org.pop("id", None) or "org-" + header_key(org["name"]))
        org_id = self.rows.add("organization", org_rid, org, root_record_id=record_id)
        ident = {k.split(".", 1)[1]: v for k, v in vals.items() if k.startswith("organization_identifier.")}
        for value in ident.get("identifier", []):
            self.rows.add("organization_identifier", f"{org_rid}#identifier/{value}", {
                "organization_id": org_id, "identifier": value,
                "identifier_type": (ident.get("identifier_type") or [None])[0],
                "identifier_scheme": (ident.get("identifier_scheme") or [None])[0],
            }, root_record_id=record_id)
        return org_id

    def add_service(self, rid: str, vals: dict[str, list[Any]], org_id: str | None, extras: dict) -> None:
        by_table: dict[str, dict[str, list[Any]]] = {}
        for k, v in vals.items():
            t, c = k.split(".", 1)
            by_table.setdefault(t, {})[c] = v

        def table(t: str) -> dict[str, list[Any]]:
            return by_table.get(t, {})

        svc = {k: v[0] for k, v in table("service").items()}
        svc.setdefault("status", "active")
        svc["status"] = str(svc["status"]).lower()
        service_id = self.rows.add("service", rid, {**svc, "organization_id": org_id}, extras=extras or None)
        self.add_location(rid, service_id, table("location"), table("address"), table("accessibility"))
        sched = {k: ",".join(v) if k == "byday" else v[0] for k, v in table("schedule").items()}
        if sched:
            if sched.get("byday") and not sched.get("freq"):
                sched["freq"] = "MONTHLY" if is_monthly(sched["byday"]) else "WEEKLY"
            self.rows.add("schedule", f"{rid}#schedule", {"service_id": service_id, **sched}, root_record_id=rid)
        for t in ("phone", "service_area", "language", "funding", "contact", "cost_option"):
            if t in by_table:
                self.add_children(t, rid, service_id, by_table[t])
        self.add_terms(rid, service_id, table("taxonomy_term"))

    def add_location(self, rid: str, service_id: str, loc: dict, addr: dict, acc: dict) -> None:
        if not (loc or addr):
            return
        loc1 = {k: v[0] for k, v in loc.items()}
        loc_rid = str(loc1.pop("id", None) or (f"loc-{loc1['external_identifier']}" if loc1.get("external_identifier")
                                               else f"{rid}#location"))
        loc1.setdefault("location_type", "physical")
        loc_id = self.rows.add("location", loc_rid, loc1, root_record_id=rid)
        if addr:
            a = {k: v[0] for k, v in addr.items()}
            a.setdefault("address_type", "physical")
            a.setdefault("country", "GB")
            self.rows.add("address", f"{loc_rid}#address", {"location_id": loc_id, **a}, root_record_id=rid)
        if acc:
            self.rows.add("accessibility", f"{loc_rid}#accessibility",
                          {"location_id": loc_id, **{k: v[0] for k, v in acc.items()}}, root_record_id=rid)
        self.rows.add("service_at_location", f"{rid}#sal/{loc_rid}", {"service_id": service_id, "location_id": loc_id},
                      root_record_id=rid)

    def add_children(self, t: str, rid: str, service_id: str, vals: dict[str, list[Any]]) -> None:
        if not vals:
            return
        lead = MULTI_ROW_FIELD.get(t)
        many = vals.get(lead, [None]) if lead else [None]
        for n, value in enumerate(many):
            row = {k: v[0] for k, v in vals.items() if k != lead}
            if lead and value is not None:
                row[lead] = value
            self.rows.add(t, f"{rid}#{t}/{n}", {"service_id": service_id, **row}, root_record_id=rid)

    def add_terms(self, rid: str, service_id: str, vals: dict[str, list[Any]]) -> None:
        names = vals.get("name", [])
        if not names:
            return
        local_tax = self.rows.add("taxonomy", f"taxonomy-{self.m.taxonomy}", {"name": self.m.taxonomy}, root_record_id=rid)
        for name in names:
            term = self.rows.add("taxonomy_term", f"term-{self.m.taxonomy}-{header_key(name)}", {
                "name": name, "taxonomy": self.m.taxonomy, "taxonomy_id": local_tax,
            }, root_record_id=rid)
            self.link(rid, service_id, term)
            lga = self.m.categories.get(header_key(name))
            if lga is not None:
                self.link(rid, service_id, self.lga_term(rid, lga))

    def lga_term(self, rid: str, lga: Any) -> str:
        tax = self.rows.add("taxonomy", "taxonomy-lga-service-types", dict(LGA_TAXONOMY), root_record_id=rid)
        text = as_text(lga)
        is_id = text.isdigit()
        return self.rows.add("taxonomy_term", f"term-lga-{header_key(text)}", {
            "name": None if is_id else text, "term": text if is_id else None,
            "term_uri": f"http://id.esd.org.uk/service/{text}" if is_id else None,
            "taxonomy": LGA_TAXONOMY["name"], "taxonomy_id": tax,
        } | ({"name": f"LGA service type {text}"} if is_id else {}), root_record_id=rid)

    def link(self, rid: str, service_id: str, term_id: str) -> None:
        self.rows.add("attribute", f"{rid}#attribute/{term_id}", {
            "link_id": service_id, "taxonomy_term_id": term_id, "link_entity": "service",
        }, root_record_id=rid)
