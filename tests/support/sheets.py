"""Generators for the spreadsheets councils send, written at test time into a temporary folder.

One invented directory (``directory_rows``) is written in many shapes: with title rows, in
Windows-1252, as XLSX with merged cells, hidden columns, formulas, Excel dates and times, and
under five councils' differently-headed exports (``COUNCIL_EXPORTS``), so that tests and
benchmarks never need binary files in the repo.
"""
from __future__ import annotations

import csv
import datetime as dt
import random
from pathlib import Path
from typing import Any

# Canonical field -> the value each generated service has there.
FIELDS = ["ref", "service", "organisation", "description", "address1", "address2", "town", "postcode",
          "phone", "email", "website", "day", "opens", "closes", "category", "min_age", "max_age"]

_NAMES = ["Food Bank", "Toddler Group", "Debt Advice", "Walking Football", "Youth Club", "Carers Café",
          "Memory Club", "Baby Massage", "Job Club", "Repair Café", "Warm Space", "Chess Club"]
_ORGS = ["St Mary's Church", "Hounslow Community Trust", "Age UK Hounslow", "Citizens Advice",
         "Feltham Rotary", "The Brentford Centre", "Isleworth Library", "Chiswick Mums"]
_STREETS = ["High Street", "Church Road", "Station Road", "Bath Road", "Staines Road", "London Road"]
_TOWNS = ["Hounslow", "Feltham", "Isleworth", "Brentford", "Chiswick"]
_DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Mon, Wed", "Tue & Thu"]
_CATS = ["Food bank", "Toddler group", "Advice", "Sport", "Youth", "Carers"]


def directory_rows(n: int, seed: int = 5) -> list[dict[str, Any]]:
    rnd = random.Random(seed)
    rows = []
    for i in range(1, n + 1):
        org = rnd.choice(_ORGS)
        opens = dt.time(rnd.randint(8, 14), rnd.choice([0, 15, 30, 45]))
        rows.append({
            "ref": f"HS{i:06d}",
            "service": f"{rnd.choice(_NAMES)} {i}",
            "organisation": org,
            "description": f"A friendly session run by {org}. Everyone welcome.",
            "address1": f"{rnd.randint(1, 250)} {rnd.choice(_STREETS)}",
            "address2": rnd.choice(["", "Unit 2", "First floor"]),
            "town": rnd.choice(_TOWNS),
            "postcode": f"TW{rnd.randint(3, 14)} {rnd.randint(1, 9)}{rnd.choice('ABDEFGHJ')}{rnd.choice('LNPQRSTU')}",
            "phone": f"020 8{rnd.randint(100, 999)} {rnd.randint(1000, 9999)}",
            "email": f"hello{i}@example.org.uk",
            "website": f"https://example.org.uk/s/{i}",
            "day": rnd.choice(_DAYS),
            "opens": opens,
            "closes": dt.time(min(opens.hour + 2, 23), opens.minute),
            "category": rnd.choice(_CATS),
            "min_age": rnd.choice([0, 5, 11, 18]),
            "max_age": rnd.choice([4, 16, 99]),
        })
    return rows


def write_csv(path: Path, header: list[str], rows: list[list[Any]], *, encoding: str = "utf-8",
              delimiter: str = ",", title_rows: list[list[Any]] = (), trailing_blank: int = 0) -> Path:
    with open(path, "w", encoding=encoding, newline="") as f:
        w = csv.writer(f, delimiter=delimiter)
        for t in title_rows:
            w.writerow(t)
        w.writerow(header)
        for r in rows:
            w.writerow(["" if v is None else v for v in r])
        for _ in range(trailing_blank):
            w.writerow([])
    return path


def write_xlsx(path: Path, header: list[str], rows: list[list[Any]], *, sheet: str = "Services",
               title_rows: list[list[Any]] = (), extra_sheets: tuple[str, ...] = (),
               merges: list[str] = (), hidden: list[str] = (), formulas: dict[str, str] | None = None,
               number_formats: dict[str, str] | None = None, write_only: bool = False) -> Path:
    """An XLSX workbook. ``merges`` are ranges like "C5:C7", ``hidden`` column letters,
    ``formulas`` cell -> formula (written with a cached value: see ``add_cached_values``)."""
    import openpyxl

    wb = openpyxl.Workbook(write_only=write_only)
    if not write_only:
        wb.remove(wb.active)
    for name in extra_sheets:
        ws0 = wb.create_sheet(name)
        ws0.append(["This sheet is notes, not data"])
    ws = wb.create_sheet(sheet)
    for t in title_rows:
        ws.append(list(t))
    ws.append(header)
    for r in rows:
        ws.append(list(r))
    if not write_only:
        for rng in merges:
            ws.merge_cells(rng)
        for col in hidden:
            ws.column_dimensions[col].hidden = True
        for cell, fmt in (number_formats or {}).items():
            ws[cell].number_format = fmt
        for cell, formula in (formulas or {}).items():
            ws[cell] = formula
    wb.save(path)
    return path


def add_cached_values(path: Path, cached: dict[str, str], sheet_index: int = 1) -> None:
    """Give formula cells the cached value Excel would have saved (openpyxl writes none)."""
    import re
    import shutil
    import zipfile

    tmp = path.with_suffix(".tmp")
    member = f"xl/worksheets/sheet{sheet_index}.xml"
    with zipfile.ZipFile(path) as zin, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            if item.filename == member:
                xml = data.decode("utf-8")
                for cell, value in cached.items():
                    def cache(m, value=value):
                        attrs = re.sub(r'\st="\w+"', "", m.group(1))
                        return f'{attrs}>{m.group(2)}<v>{value}</v></c>'
                    xml = re.sub(rf'(<c r="{cell}"[^>]*)>(<f>[^<]*</f>)(<v>[^<]*</v>|<v\s*/>)?</c>', cache, xml)
                data = xml.encode("utf-8")
            zout.writestr(item, data)
    shutil.move(tmp, path)


# Five councils' exports of the same directory: (header, canonical field) per column, in their
# own order, with their own words. None marks a column with nothing to map.
COUNCIL_EXPORTS: dict[str, list[tuple[str, str | None]]] = {
    "hounslow": [("Ref", "ref"), ("Service Name", "service"), ("Organisation", "organisation"),
                 ("Description", "description"), ("Address 1", "address1"), ("Address 2", "address2"),
                 ("Town", "town"), ("Postcode", "postcode"), ("Telephone", "phone"), ("Email", "email"),
                 ("Website", "website"), ("Day", "day"), ("Start", "opens"), ("End", "closes"),
                 ("Category", "category")],
    "leeds": [("ID", "ref"), ("Name of the service/activity", "service"), ("Provider organisation", "organisation"),
              ("Service description", "description"), ("Street", "address1"), ("City", "town"),
              ("Post Code", "postcode"), ("Tel", "phone"), ("E-mail address", "email"), ("URL", "website"),
              ("Open on", "day"), ("Opens", "opens"), ("Closes", "closes"), ("Type", "category"),
              ("Last checked by", None)],
    "kent": [("Record number", "ref"), ("Activity", "service"), ("Organisation name", "organisation"),
             ("About", "description"), ("Address line 1", "address1"), ("Address line 2", "address2"),
             ("Town/City", "town"), ("Postal code", "postcode"), ("Contact tel no.", "phone"),
             ("Contact email", "email"), ("Web address", "website"), ("Day(s) running", "day"), ("Time from", "opens"),
             ("To", "closes"), ("Service type", "category"), ("Min age", "min_age"), ("Max age", "max_age")],
    "bristol": [("Unique ref", "ref"), ("Group/Session title", "service"), ("Group run by", "organisation"), ("Details", "description"),
                ("Building / street", "address1"), ("Locality", "address2"), ("Town", "town"), ("PCODE", "postcode"),
                ("Phone (main)", "phone"), ("Email", "email"), ("Web", "website"), ("Meets on", "day"),
                ("Start time", "opens"), ("Finish time", "closes"), ("Categories", "category"),
                ("Internal notes", None)],
    "camden": [("service_id", "ref"), ("service_name", "service"), ("org_name", "organisation"),
               ("svc_summary", "description"), ("addr_line1", "address1"), ("addr_line2", "address2"),
               ("town", "town"), ("postcode", "postcode"), ("telephone_number", "phone"), ("email_address", "email"),
               ("website_url", "website"), ("weekday", "day"), ("start_time", "opens"), ("end_time", "closes"),
               ("taxonomy", "category"), ("age_from", "min_age"), ("age_to", "max_age")],
}
# The ORUK field each canonical field belongs in (what `mapping suggest` should propose).
CANONICAL_TO_ORUK = {
    "ref": "id", "service": "service.name", "organisation": "organization.name",
    "description": "service.description", "address1": "address.address_1", "address2": "address.address_1",
    "town": "address.city", "postcode": "address.postal_code", "phone": "phone.number",
    "email": "service.email", "website": "service.url", "day": "schedule.byday",
    "opens": "schedule.opens_at", "closes": "schedule.closes_at", "category": "taxonomy_term.name",
    "min_age": "service.minimum_age", "max_age": "service.maximum_age",
}


def council_export(council: str, rows: list[dict[str, Any]]) -> tuple[list[str], list[list[Any]]]:
    cols = COUNCIL_EXPORTS[council]
    header = [h for h, _ in cols]
    body = [[(r[f].strftime("%H:%M") if isinstance(r.get(f), dt.time) else r.get(f, "")) if f else "n/a"
             for _h, f in cols] for r in rows]
    return header, body


def replace_in_zip(path: Path, old: bytes, new: bytes) -> None:
    """Replace bytes in every part of a zip file (an XLSX) that holds them, e.g. to write a cell
    longer than openpyxl would."""
    import zipfile

    with zipfile.ZipFile(path) as z:
        parts = [(info, z.read(info.filename)) for info in z.infolist()]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for info, data in parts:
            z.writestr(info.filename, data.replace(old, new))


def sources_yaml(folder: Path, entries: list[dict]) -> Path:
    """A sources file in ``folder`` holding these source entries."""
    import yaml

    p = folder / "sources.yaml"
    p.write_text(yaml.safe_dump({"sources": entries}, sort_keys=False), encoding="utf-8")
    return p


def harvest_and_normalise(sources_file: Path, state_dir: Path, source_id: str | None = None, run_id: str = "run-1"):
    """Run one source's harvest and normalise as the pipeline does; returns (harvest report,
    normalise report, path of the snapshot in force or None)."""
    from connectors.config import load_sources
    from connectors.refresh import harvest_source, normalise_source
    from warehouse.snapshots import SourceStore

    cfg = load_sources(sources_file)
    source = cfg.get(source_id) if source_id else cfg.sources[0]
    h = harvest_source(source, state_dir, run_id)
    n = normalise_source(source, state_dir, h.version, run_id) if h.status == "ok" else None
    cur = SourceStore(state_dir, source.id).current()
    return h, n, (cur.path if cur else None)
