"""Export the catalogue as a static API, the ORUK tabular data package and Parquet (atomically).

``placecat export --db FILE --out DIR [--profile NAME --profiles FILE] [--per-page N] [--keep K] [--item-files]``

Layout of ``DIR`` (``current`` always points at a complete version)::

    DIR/current -> versions/<UTC stamp>
    DIR/versions/<stamp>/
        manifest.json                      run, profile, counts, when
        api/index.json                     the `/` response
        api/services.json                  one full dump: every service fully nested, in a v3 page
        api/services/page-<n>.json         v3 pages of list items (--per-page, default 50)
        api/services/<id>.json             each service fully nested (--item-files)
        api/service_at_locations/page-<n>.json, api/service_at_locations/<id>.json (--item-files)
        api/taxonomies/page-<n>.json,  api/taxonomies/<id>.json
        api/taxonomy_terms/page-<n>.json, api/taxonomy_terms/<id>.json
        tabular/datapackage.json + one CSV per ORUK table (official file names), plus placecat_*.csv
        parquet/<table>.parquet

A version is written under a temporary name, fsynced and renamed into ``versions/``; then a new
``current`` symlink is made beside the old one and renamed over it, so a reader sees the old
export or the new one, never a mix. CSV text cells that begin with ``=``, ``+``, ``-``, ``@``,
tab or carriage return are prefixed with ``'`` so spreadsheets don't run them as formulas
(typed numeric columns are written as numbers).
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import sys
import time
from pathlib import Path

import duckdb

from warehouse import oruk_json
from warehouse.changes import prepare_feed
from warehouse.model import ORUK_TABLES, oruk_columns
from warehouse.profiles import (DEFAULT_PROFILE, CatalogueUnavailable, Profile, ProfileError, load_published,
                                resolve_profile)
from warehouse.state import fsync_dir


class ExportError(RuntimeError):
    """The export could not be written; one line for the user."""


# The official ORUK tabular package's file names (UK profile datapackage.json).
CSV_PATHS = {
    "organization": "organizations.csv", "service": "services.csv", "attribute": "attribute.csv",
    "service_at_location": "service_at_location.csv", "location": "locations.csv", "phone": "phones.csv",
    "contact": "contacts.csv", "address": "address.csv", "schedule": "schedule.csv", "funding": "funding.csv",
    "service_area": "service_areas.csv", "language": "languages.csv", "accessibility": "accessibility.csv",
    "taxonomy_term": "taxonomy_terms.csv", "cost_option": "cost_options.csv",
    "organization_identifier": "organization_identifiers.csv", "taxonomy": "taxonomies.csv",
}
# placecat's own tables in the package: the trust register and provenance.
EXTRA_TABLES = {"replaced_by": "placecat_replaced_by.csv", "service_source": "placecat_service_source.csv",
                "field_provenance": "placecat_field_provenance.csv"}
# The foreign keys the official ORUK UK tabular package declares (fixtures: oruk/schema/v3-uk).
FOREIGN_KEYS = {
    "service": [("organization_id", "organization")],
    "service_at_location": [("service_id", "service"), ("location_id", "location")],
    "contact": [("service_id", "service")], "address": [("location_id", "location")],
    "schedule": [("service_id", "service")], "funding": [("service_id", "service")],
    "service_area": [("service_id", "service")], "language": [("phone_id", "phone"), ("service_id", "service")],
    "accessibility": [("location_id", "location")], "cost_option": [("service_id", "service")],
    "organization_identifier": [("organization_id", "organization")],
    "attribute": [("taxonomy_term_id", "taxonomy_term")], "taxonomy_term": [("taxonomy_id", "taxonomy")],
}
FRICTIONLESS_TYPES = {"VARCHAR": "string", "DOUBLE": "number", "DATE": "date", "TIME": "time",
                      "TIMESTAMP": "datetime", "BIGINT": "integer", "BOOLEAN": "boolean", "JSON": "string"}
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def neutralise_formula(value: str | None) -> str | None:
    """A text cell a spreadsheet would run as a formula, made inert with a leading apostrophe."""
    if value and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def _csv_select(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> str:
    cols = con.execute("SELECT column_name, data_type FROM duckdb_columns() WHERE database_name = 'memory' "
                       "AND schema_name = ? AND table_name = ? ORDER BY column_index", [schema, table]).fetchall()
    out = []
    for name, typ in cols:
        q = f'"{name}"'
        if typ.startswith("VARCHAR") or typ == "JSON":
            out.append(f"CASE WHEN regexp_matches({q}::VARCHAR, '^[=+\\-@\\t\\r]') THEN '''' || {q}::VARCHAR "
                       f"ELSE {q}::VARCHAR END AS {q}")
        elif typ.endswith("[]"):
            out.append(f"array_to_string({q}, ';') AS {q}")
        else:
            out.append(q)
    return ", ".join(out)


def _fields(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> list[dict]:
    cols = con.execute("SELECT column_name, data_type FROM duckdb_columns() WHERE database_name = 'memory' "
                       "AND schema_name = ? AND table_name = ? ORDER BY column_index", [schema, table]).fetchall()
    return [{"name": n, "type": FRICTIONLESS_TYPES.get(t, "string")} for n, t in cols]


def write_tabular(con: duckdb.DuckDBPyConnection, out: Path, profile: Profile, run_id: str | None) -> dict[str, int]:
    out.mkdir(parents=True)
    resources, counts = [], {}
    for table, path in [*CSV_PATHS.items(), *EXTRA_TABLES.items()]:
        con.execute(f"COPY (SELECT {_csv_select(con, 'catalogue', table)} FROM catalogue.{table} ORDER BY ALL) "
                    f"TO '{out / path}' (FORMAT csv, HEADER true)")
        counts[table] = con.execute(f"SELECT count(*) FROM catalogue.{table}").fetchall()[0][0]
        schema: dict = {"fields": _fields(con, "catalogue", table)}
        if table in ORUK_TABLES:
            schema["primaryKey"] = "id"
            schema["foreignKeys"] = [{"fields": f, "reference": {"resource": r, "fields": "id"}}
                                     for f, r in FOREIGN_KEYS.get(table, [])]
        resources.append({"name": table if table in ORUK_TABLES else f"placecat_{table}", "path": path,
                          "format": "csv", "mediatype": "text/csv", "encoding": "utf-8",
                          "profile": "tabular-data-resource", "schema": schema})
    package = {
        "name": "placecat_catalogue", "title": "placecat merged place catalogue (ORUK 3.0 UK profile)",
        "profile": "tabular-data-package", "version": "3.0.0",
        "description": f"Golden records of the placecat catalogue, publishing profile '{profile.name}'. "
                       "Text cells starting with = + - @ are prefixed with an apostrophe against formula injection.",
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "placecat": {"run_id": run_id, "publishing_profile": profile.name},
        "resources": resources,
    }
    (out / "datapackage.json").write_text(json.dumps(package, indent=1), encoding="utf-8")
    return counts


def write_parquet(con: duckdb.DuckDBPyConnection, out: Path) -> None:
    out.mkdir(parents=True)
    for table in [*ORUK_TABLES, *EXTRA_TABLES]:
        con.execute(f"COPY (SELECT * FROM catalogue.{table} ORDER BY ALL) TO '{out / (table + '.parquet')}' "
                    f"(FORMAT parquet, COMPRESSION zstd)")
    con.execute(f"COPY (SELECT * FROM publish.feed ORDER BY modified, id) TO '{out / 'change_feed.parquet'}' "
                f"(FORMAT parquet, COMPRESSION zstd)")


def _write(path: Path | str, body: bytes) -> None:
    with open(path, "wb") as f:
        f.write(body)


def _write_pages(folder: Path, items: list[bytes], per_page: int) -> int:
    total = len(items)
    pages = max(1, -(-total // per_page))
    for n in range(1, pages + 1):
        _write(folder / f"page-{n}.json", oruk_json.page_bytes(total, n, per_page, items[(n - 1) * per_page: n * per_page]))
    return pages


def write_static_api(con: duckdb.DuckDBPyConnection, out: Path, profile: Profile, per_page: int,
                     run_id: str | None, item_files: bool = False) -> dict[str, int]:
    api = out
    for sub in ("services", "service_at_locations", "taxonomies", "taxonomy_terms"):
        (api / sub).mkdir(parents=True)
    service_items: list[bytes] = []
    sal_items: list[bytes] = []
    total = con.execute("SELECT count(*) FROM catalogue.service").fetchall()[0][0]
    with open(api / "services.json", "wb") as dump:
        head = oruk_json.page_envelope(total, 1, max(total, 1), [])
        head["size"] = total
        head["empty"] = total == 0
        head.pop("contents")
        dump.write(oruk_json.dumps(head)[:-1] + b',"contents":[')
        services_dir, sal_dir = str(api / "services"), str(api / "service_at_locations")
        for n, doc in enumerate(oruk_json.iter_service_documents(con)):
            full = oruk_json.dumps(doc.full)
            dump.write((b"," if n else b"") + full)
            item = oruk_json.dumps(doc.item)
            service_items.append(item)
            for sal_id, body in doc.service_at_location_item_bytes(item):
                sal_items.append(body)
                if item_files:
                    _write(f"{sal_dir}/{sal_id}.json", oruk_json.dumps(doc.service_at_location_full(sal_id)))
            if item_files:
                _write(f"{services_dir}/{doc.id}.json", full)
        dump.write(b"]}")
    _write_pages(api / "services", service_items, per_page)
    _write_pages(api / "service_at_locations", sal_items, per_page)
    for name, objs in (("taxonomies", oruk_json.taxonomies(con)), ("taxonomy_terms", oruk_json.taxonomy_terms(con))):
        for obj in objs:  # few of these: always one file each
            _write(api / name / f"{obj['id']}.json", oruk_json.dumps(obj))
        _write_pages(api / name, [oruk_json.dumps(o) for o in objs], per_page)
    _write(api / "index.json", oruk_json.dumps({
        "version": "HSDS-UK-3.0", "profile": "https://github.com/OpenReferralUK/uk-profile/blob/main/docs/index.md",
        "openapi_url": "https://openreferraluk.org/specifications/3.0/openapi.json",
        oruk_json.EXTENSION: {"publishing_profile": profile.name, "run_id": run_id, "static": True,
                              "sources": oruk_json.source_statuses(con),
                              "layout": "services/page-<n>.json, services/<id>.json, services.json (full dump)"}}))
    return {"services": total, "service_at_locations": len(sal_items)}


def _sync_to_disk(root: Path) -> None:
    """Everything written under root on disk before it is renamed into place.

    One ``sync`` instead of an fsync per file: an export writes ~2 files per service, and hundreds
    of thousands of fsyncs cost far more than one flush of the file system.
    """
    os.sync()
    fsync_dir(root)


def switch_current(out: Path, version_dir: Path) -> None:
    """Point out/current at version_dir with one rename (readers never see a missing link)."""
    link = out / "current"
    tmp = out / f".current.{os.getpid()}.tmp"
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    os.symlink(os.path.relpath(version_dir, out), tmp)
    if link.exists() and not link.is_symlink():
        raise ExportError(f"{link}: exists and is not a symlink; move it aside so export can manage it")
    os.replace(tmp, link)
    fsync_dir(out)


def prune_versions(out: Path, keep: int) -> None:
    versions = out / "versions"
    current = (out / "current").resolve()
    done = sorted(p for p in versions.iterdir() if p.is_dir() and not p.name.startswith("."))
    for old in done[:-keep] if keep > 0 else []:
        if old.resolve() != current:
            shutil.rmtree(old, ignore_errors=True)
    for leftover in versions.glob(".building-*"):
        shutil.rmtree(leftover, ignore_errors=True)  # a killed export's half-written version


def export_catalogue(db_path: str | Path, out: str | Path, profile: Profile = DEFAULT_PROFILE,
                     per_page: int = 50, keep: int = 3, item_files: bool = False) -> dict:
    """Write a new export version and make it current. Raises CatalogueUnavailable/ExportError."""
    started = time.perf_counter()
    out = Path(out)
    try:
        (out / "versions").mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ExportError(f"{out}: cannot create the export folder ({exc.strerror}); choose another --out") from None
    if not os.access(out, os.W_OK):
        raise ExportError(f"{out}: not writable; choose another --out or fix its permissions")
    con = load_published(db_path, profile)
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")
    building = out / "versions" / f".building-{stamp}"
    final = out / "versions" / stamp
    try:
        prepare_feed(con)
        run = con.execute("SELECT run_id FROM ops.run ORDER BY started_at DESC LIMIT 1").fetchall()
        run_id = run[0][0] if run else None
        building.mkdir(parents=True)
        counts = write_static_api(con, building / "api", profile, per_page, run_id, item_files)
        counts["tables"] = write_tabular(con, building / "tabular", profile, run_id)
        write_parquet(con, building / "parquet")
        manifest = {"run_id": run_id, "publishing_profile": profile.name, "profile_filters": profile.filters,
                    "exported_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                    "source_db": str(Path(db_path).resolve()), "counts": counts}
        (building / "manifest.json").write_text(json.dumps(manifest, indent=1, default=str), encoding="utf-8")
        _sync_to_disk(building)
        os.replace(building, final)
        switch_current(out, final)
    except OSError as exc:
        shutil.rmtree(building, ignore_errors=True)
        raise ExportError(f"{out}: export failed ({exc.strerror or exc}); the previous export is still current") from None
    except duckdb.Error as exc:
        shutil.rmtree(building, ignore_errors=True)
        raise ExportError(f"{out}: export failed ({str(exc).splitlines()[0]}); the previous export is still current") from None
    finally:
        con.close()
    prune_versions(out, keep)
    return {"version": str(final), "seconds": time.perf_counter() - started, **manifest}


def configure_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("--db", required=True, help="the published catalogue DuckDB file")
    p.add_argument("--out", required=True, help="the export folder (DIR/current points at the newest version)")
    p.add_argument("--profile", help="export only this profile's slice (defined in --profiles)")
    p.add_argument("--profiles", help="the publishing profiles YAML file")
    p.add_argument("--per-page", type=int, default=50, help="items per static page (default 50)")
    p.add_argument("--keep", type=int, default=3, help="how many export versions to keep (default 3)")
    p.add_argument("--item-files", action="store_true",
                   help="also write one file per service and per service_at_location (api/services/<id>.json)")


def run(args: argparse.Namespace) -> int:
    if args.per_page < 1 or args.keep < 1:
        print("placecat: --per-page and --keep must be at least 1", file=sys.stderr)
        return 2
    try:
        profile = resolve_profile(args.profile, args.profiles)
        res = export_catalogue(args.db, args.out, profile, per_page=args.per_page, keep=args.keep,
                               item_files=args.item_files)
    except (ProfileError, CatalogueUnavailable, ExportError) as exc:
        print(f"placecat: {exc}", file=sys.stderr)
        return 2
    c = res["counts"]
    print(f"exported {c['services']} services ({c['service_at_locations']} at locations, profile {profile.name}) "
          f"in {res['seconds']:.1f}s to {Path(args.out) / 'current'} -> {res['version']}")
    return 0
