"""Check a live ORUK feed (v1 or v3) the way the ORUK validator does, and print a readable report.

    placecat validate https://example.org/api [--json] [--version 1|3] [--sample N]

Pass/fail comes from the basic endpoints: ``/`` (v3 only), ``/services`` and ``/services/{id}``
must answer with the paging envelope of their version and records that conform to it. The
other endpoints (``/service_at_locations``, ``/taxonomies``, ``/taxonomy_terms``) only give
warnings. The report also gives record counts and the richness score (``connectors.oruk.richness``).
Exit status: 0 pass, 1 fail, 2 the feed could not be reached.

The conformance rules are placecat's own, written from the ORUK schemas (the official schema
files are not shipped): required fields, JSON types, formats (uuid, email, uri, date-time; date
and time as warnings) and enums, object by object, nested as in the compiled v3 service, and the
v1 shapes of the Porism API (``connectors.oruk.conformance``).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import quote

from connectors.http import RETRY_STATUSES, FetchError, HttpClient, HttpPolicy, parse_json_body
from connectors.oruk.conformance import check_envelope, check_record, show_value
from connectors.oruk.discovery import api_base, version_from_root
from connectors.oruk.richness import richness_score
from connectors.oruk.schemas import OFFICIAL_OPENAPI_URL, OfficialSchemas, SchemasUnavailable


@dataclass
class Finding:
    level: str           # error | warning
    endpoint: str        # e.g. /services/{id}
    record: str | None   # the record's id (or its position when it has none)
    field: str | None    # a dotted path, e.g. service.organization.email
    message: str

    def line(self) -> str:
        where = " ".join(x for x in (self.endpoint, f"record {self.record}" if self.record else None) if x)
        return f"{where}: {self.field + ': ' if self.field else ''}{self.message}"


# -- checking a feed ----------------------------------------------------------------------------
@dataclass
class EndpointResult:
    endpoint: str
    basic: bool
    status: int | None = None
    records: int | None = None
    checked: int = 0
    errors: int = 0
    warnings: int = 0
    note: str = ""


@dataclass
class Report:
    url: str
    version: str | None = None
    version_detected_by: str = ""
    reachable: bool = True
    passed: bool = False
    endpoints: list[EndpointResult] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    richness: dict | None = None
    checked_with: str = "placecat's own rules"
    notes: list[str] = field(default_factory=list)

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.level == "error"]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.level == "warning"]

    def as_dict(self) -> dict:
        return {"url": self.url, "version": self.version, "version_detected_by": self.version_detected_by,
                "reachable": self.reachable, "passed": self.passed,
                "endpoints": [asdict(e) for e in self.endpoints],
                "errors": [asdict(f) for f in self.errors], "warnings": [asdict(f) for f in self.warnings],
                "richness": self.richness, "checked_with": self.checked_with, "notes": self.notes}


class Unreachable(Exception):
    pass


# Answers that are final: a 4xx or 5xx the feed gives for good. 429 and the transient 5xx are
# retried by the HTTP client (with Retry-After and backoff), as the harvester does, and only
# count against the feed when they persist.
FINAL_STATUSES = tuple(s for s in range(400, 600) if s not in RETRY_STATUSES)


class FeedValidator:
    def __init__(self, url: str, client: HttpClient, version: str | None = None, sample: int = 5,
                 per_page: int = 50, schemas: str | Path | None = None):
        self.schemas_dir = schemas or os.environ.get("PLACECAT_ORUK_SCHEMAS") or None
        self.root_doc: Any = None
        self.base = api_base(url)
        self.client = client
        self.pinned = version
        self.sample = sample
        self.per_page = per_page
        self.report = Report(url)

    def add(self, ep: EndpointResult, level: str, record: str | None, field_path: str | None, message: str) -> None:
        # On the endpoints that only warn, errors become warnings.
        level = level if ep.basic else "warning"
        self.report.findings.append(Finding(level, ep.endpoint, record, field_path, message))
        if level == "error":
            ep.errors += 1
        else:
            ep.warnings += 1

    def fetch(self, ep: EndpointResult, path: str, params: dict | None = None) -> Any:
        """The parsed JSON at ``path``, or None after recording why not. Raises Unreachable."""
        url = self.base + path
        try:
            res = self.client.get(url, params=params, accept_statuses=FINAL_STATUSES)
        except FetchError as exc:
            if exc.status is None:
                raise Unreachable(f"{url}: {exc.reason}") from None
            self.add(ep, "error", None, None, exc.reason)
            return None
        ep.status = res.status
        if res.status >= 400:
            self.add(ep, "error", None, None, f"answered HTTP {res.status}")
            return None
        try:
            return parse_json_body(res.body, res.url)
        except FetchError as exc:
            self.add(ep, "error", None, None, exc.reason)
            return None

    def run(self) -> Report:
        rep = self.report
        try:
            self.check_root()
            schemas = self.official_schemas() if rep.version == "3" else None
            if schemas is not None:
                services = self.check_openapi(schemas)
                rep.richness = richness_score(services).as_dict() if services else None
                rep.passed = not rep.errors
                return rep
            items = self.check_list("/services", "service", basic=True)
            services = self.check_details(items)
            if rep.version == "3":
                self.check_list("/service_at_locations", "service_at_location", basic=False)
                self.check_list("/taxonomies", "taxonomy", basic=False)
                self.check_list("/taxonomy_terms", "taxonomy_term", basic=False)
            else:
                self.check_list("/taxonomies", "taxonomy", basic=False)
        except Unreachable as exc:
            rep.reachable = False
            rep.findings.append(Finding("error", "", None, None, f"could not reach the feed: {exc}"))
            return rep
        rep.richness = richness_score(services).as_dict() if services else None
        rep.passed = not rep.errors
        return rep

    def check_root(self) -> None:
        ep = EndpointResult("/", basic=True)
        url = self.base + "/"
        try:
            res = self.client.get(url, accept_statuses=FINAL_STATUSES)
        except FetchError as exc:
            if exc.status is None:
                # Try /services before calling the feed unreachable: some v1 APIs have no /.
                try:
                    self.client.get(self.base + "/services", accept_statuses=FINAL_STATUSES)
                except FetchError:
                    raise Unreachable(f"{url}: {exc.reason}") from None
            res = None
        doc = None
        if res is not None and res.status < 400:
            ep.status = res.status
            try:
                doc = parse_json_body(res.body, res.url)
            except FetchError:
                doc = None
        self.root_doc = doc
        found = version_from_root(doc)
        if self.pinned:
            self.report.version, self.report.version_detected_by = self.pinned, "given with --version"
        elif found:
            self.report.version, self.report.version_detected_by = found, f"GET / says {doc.get('version') or 'openapi_url'}"
        else:
            self.report.version, self.report.version_detected_by = "1", "GET / names no version, so v1"
        if self.report.version == "3":
            self.report.endpoints.append(ep)
            if doc is None:
                self.add(ep, "error", None, None, "GET / must answer with the API details (version, profile, openapi_url)")
            else:
                for level, fpath, msg in check_record(doc, "api_details", "3", "api_details"):
                    self.add(ep, level, None, fpath, msg)

    # -- the official schemas (v3) ------------------------------------------------------------
    def official_schemas(self) -> OfficialSchemas | None:
        """The OpenAPI and schemas to check against, or None (placecat's own rules, with a warning)."""
        if str(self.schemas_dir).lower() == "none":
            return None  # asked for placecat's own rules only
        try:
            if self.schemas_dir:
                schemas = OfficialSchemas.from_folder(Path(self.schemas_dir))
            else:
                url = (self.root_doc or {}).get("openapi_url") if isinstance(self.root_doc, dict) else None
                schemas = OfficialSchemas.from_url(url or OFFICIAL_OPENAPI_URL, lambda u: self.client.get_json(u)[0])
            self.report.checked_with = f"the official ORUK OpenAPI and JSON Schemas ({schemas.source})"
            return schemas
        except (SchemasUnavailable, FetchError, OSError, ValueError) as exc:
            self.report.findings.append(Finding("warning", "", None, None,
                                                f"the official ORUK schemas could not be read ({exc}); checked with "
                                                f"placecat's own rules instead (give --schemas DIR to check offline)"))
            return None

    def check_openapi(self, schemas: OfficialSchemas) -> list[dict]:
        """Every path of the OpenAPI: lists at their first, middle and last pages, and each
        ``/{id}`` path with ids taken from its list; every response against its schema."""
        ids: dict[str, list[str]] = {}
        services: list[dict] = []
        try:
            for path in [p for p in schemas.paths() if "{" not in p] + [p for p in schemas.paths() if "{" in p]:
                ep = next((e for e in self.report.endpoints if e.endpoint == path), None)
                if ep is None:
                    ep = EndpointResult(path, basic=True)
                    self.report.endpoints.append(ep)
                _schema, note = schemas.response_schema(path)
                if note:
                    self.report.notes.append(f"{path}: {note}")
                if path == "/":
                    ep.status = 200 if self.root_doc is not None else ep.status
                    if self.root_doc is None:
                        self.add(ep, "error", None, None, "GET / must answer with the API details")
                    else:
                        self.schema_check(schemas, ep, path, self.root_doc, None)
                elif "{" in path:
                    services += self.check_items(schemas, ep, path, ids.get(path.split("/{", 1)[0], []))
                else:
                    ids[path] = self.check_pages(schemas, ep, path)
        except SchemasUnavailable as exc:
            self.report.findings.append(Finding("error", "", None, None, f"the official ORUK schemas: {exc}"))
        return services

    def schema_check(self, schemas: OfficialSchemas, ep: EndpointResult, path: str, doc: Any, record: str | None) -> None:
        for where, message in schemas.errors(path, doc):
            self.add(ep, "error", record, where, message)

    def check_pages(self, schemas: OfficialSchemas, ep: EndpointResult, path: str) -> list[str]:
        first = self.fetch(ep, path, {"page": 1, "per_page": self.per_page})
        if first is None:
            return []
        pages = first.get("total_pages") if isinstance(first, dict) else None
        pages = pages if isinstance(pages, int) and not isinstance(pages, bool) and pages > 0 else 1
        total = first.get("total_items") if isinstance(first, dict) else None
        ep.records = total if isinstance(total, int) and not isinstance(total, bool) else None
        found: list[str] = []
        for n in sorted({1, pages // 2 if pages > 2 else 1, pages}):
            doc = first if n == 1 else self.fetch(ep, path, {"page": n, "per_page": self.per_page})
            if doc is None:
                continue
            self.schema_check(schemas, ep, path, doc, f"page {n}")
            contents = doc.get("contents") if isinstance(doc, dict) else None
            if isinstance(contents, list):
                ep.checked += len(contents)
                found += [str(it["id"]) for it in contents if isinstance(it, dict) and it.get("id") not in (None, "")]
                if n == 1 and path == "/services" and not contents:
                    self.add(ep, "warning", None, None, "the feed lists no services")
        if isinstance(first, dict):
            self.check_paging_consistency(ep, first, len(first.get("contents") or []))
        # The first ids of page 1 and the last one seen (the end of the feed is where old records hide).
        return list(dict.fromkeys(found[: max(self.sample - 1, 1)] + found[-1:]))

    def check_items(self, schemas: OfficialSchemas, ep: EndpointResult, path: str, ids: list[str]) -> list[dict]:
        if not ids:
            self.add(ep, "warning", None, None, "no id to fetch: its list endpoint gave none")
            return []
        docs = []
        root = path.split("/{", 1)[0]
        for rid in ids:
            doc = self.fetch_item(ep, root, rid, "id")
            if doc is None:
                continue
            self.schema_check(schemas, ep, path, doc, rid)
            if isinstance(doc, dict) and root == "/services":
                docs.append(doc)
        return docs

    def fetch_item(self, ep: EndpointResult, root: str, rid: str, id_field: str) -> Any:
        """``root/{rid}``, counted, and checked to answer with that very id (None: not fetched)."""
        doc = self.fetch(ep, f"{root}/{quote(rid, safe='')}")
        if doc is None:
            return None
        ep.checked += 1
        ep.records = (ep.records or 0) + 1
        if isinstance(doc, dict) and str(doc.get("id")) != rid:
            self.add(ep, "error", rid, id_field, f"the detail answers with id {show_value(doc.get('id'))}")
        return doc

    def check_list(self, path: str, kind: str, basic: bool) -> list[dict]:
        version = self.report.version
        ep = EndpointResult(path, basic)
        self.report.endpoints.append(ep)
        doc = self.fetch(ep, path, {"page": 1, "per_page": self.per_page})
        if doc is None:
            return []
        for level, fpath, msg in check_envelope(doc, version):
            self.add(ep, level, None, fpath, msg)
        key = "contents" if version == "3" else "content"
        items = doc.get(key) if isinstance(doc, dict) else None
        if not isinstance(items, list):
            return []
        total = doc.get("total_items" if version == "3" else "totalElements")
        ep.records = total if isinstance(total, int) and not isinstance(total, bool) else len(items)
        if path == "/services" and ep.records == 0:
            self.add(ep, "warning", None, None, "the feed lists no services")
        seen: dict[str, int] = {}
        for i, item in enumerate(items):
            rid = str(item.get("id")) if isinstance(item, dict) and item.get("id") not in (None, "") else f"#{i + 1}"
            seen[rid] = seen.get(rid, 0) + 1
            for level, fpath, msg in check_record(item, kind, version):
                self.add(ep, level, rid, fpath, msg)
            ep.checked += 1
        for rid, times in seen.items():
            if times > 1:
                self.add(ep, "warning", rid, f"{kind}.id", f"the same id appears {times} times on page 1")
        self.check_paging_consistency(ep, doc, len(items))
        return [it for it in items if isinstance(it, dict)]

    def check_paging_consistency(self, ep: EndpointResult, doc: dict, served: int) -> None:
        """Envelopes that contradict their own page: warnings (harvesters must not trust them)."""
        v3 = self.report.version == "3"
        total = doc.get("total_items" if v3 else "totalElements")
        pages = doc.get("total_pages" if v3 else "totalPages")
        if isinstance(total, int) and served > total:
            self.add(ep, "warning", None, "page." + ("total_items" if v3 else "totalElements"),
                     f"says {total} but page 1 alone holds {served} records")
        if isinstance(total, int) and isinstance(pages, int) and served and total > served * max(pages, 1):
            self.add(ep, "warning", None, "page." + ("total_pages" if v3 else "totalPages"),
                     f"{pages} pages of {served} cannot hold the {total} records it claims")
        if served > self.per_page:
            self.add(ep, "warning", None, "page.size", f"asked for {self.per_page} a page, got {served}: per_page is ignored")

    def check_details(self, items: list[dict]) -> list[dict]:
        ep = EndpointResult("/services/{id}", basic=True)
        self.report.endpoints.append(ep)
        ids = [str(it["id"]) for it in items if it.get("id") not in (None, "")][: self.sample]
        if not ids:
            if items is not None:
                self.add(ep, "warning", None, None, "no service id to fetch a detail for")
            return items
        details = []
        for sid in ids:
            doc = self.fetch_item(ep, "/services", sid, "service.id")
            if doc is None:
                continue
            for level, fpath, msg in check_record(doc, "service", self.report.version):
                self.add(ep, level, sid, fpath, msg)
            if isinstance(doc, dict):
                details.append(doc)
        return details or items


def validate_feed(url: str, version: str | None = None, sample: int = 5, timeout: float = 30.0,
                  time_budget: float = 300.0, schemas: str | Path | None = None, max_retries: int = 4) -> Report:
    policy = HttpPolicy(timeout=timeout, time_budget=time_budget, max_retries=max_retries)
    with HttpClient(policy) as client:
        return FeedValidator(url, client, version, sample, schemas=schemas).run()


# -- the command ------------------------------------------------------------------------------
def format_report(rep: Report, limit: int = 40) -> str:
    lines = [f"placecat validate {rep.url}"]
    if not rep.reachable:
        lines.append(f"UNREACHABLE: {rep.findings[-1].message}")
        return "\n".join(lines)
    lines.append(f"feed: ORUK v{rep.version} ({rep.version_detected_by})")
    lines.append(f"checked with: {rep.checked_with}")
    lines.append(f"result: {'PASS' if rep.passed else 'FAIL'}  ({len(rep.errors)} errors, {len(rep.warnings)} warnings)")
    lines.append("")
    lines.append(f"{'endpoint':<24} {'kind':<8} {'HTTP':>5} {'records':>8} {'checked':>8} {'errors':>7} {'warnings':>9}")
    for e in rep.endpoints:
        lines.append(f"{e.endpoint:<24} {'basic' if e.basic else 'other':<8} {e.status or '-':>5} "
                     f"{'-' if e.records is None else e.records:>8} {e.checked:>8} {e.errors:>7} {e.warnings:>9}")
    for title, found in (("errors", rep.errors), ("warnings", rep.warnings)):
        if found:
            lines.append("")
            lines.append(f"{title}:")
            for f in found[:limit]:
                lines.append("  " + f.line())
            if len(found) > limit:
                lines.append(f"  ... and {len(found) - limit} more (use --json for all)")
    for note in rep.notes:
        lines.append(f"note: {note}")
    if rep.richness:
        r = rep.richness
        lines.append("")
        lines.append(f"richness: {r['percent']:.0f}% over {r['services']} services (Porism v1 weights)")
        missing = [f for f, share in r["per_field"].items() if share < 0.5]
        if missing:
            lines.append("  mostly missing: " + ", ".join(missing))
    return "\n".join(lines)


def configure_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("url", help="the feed's API base URL (e.g. https://example.org/api)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--version", choices=("1", "3"), help="check as this ORUK version instead of asking GET /")
    p.add_argument("--sample", type=int, default=5, help="how many /services/{id} details to check (default 5)")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds per request (default 30)")
    p.add_argument("--schemas", metavar="DIR",
                   help="the official UK profile schema folder (openapi.json, compiled/...) to check v3 feeds "
                        "against offline, or 'none' for placecat's own rules only; default: PLACECAT_ORUK_SCHEMAS, else "
                        "fetched from the feed's openapi_url")


def run(args: argparse.Namespace) -> int:
    if not re.match(r"^https?://", args.url or ""):
        print(f"placecat: {args.url}: not an http(s) URL; give the feed's API base, e.g. https://example.org/api",
              file=sys.stderr)
        return 2
    if args.schemas and args.schemas.lower() != "none" and not (Path(args.schemas) / "openapi.json").exists():
        print(f"placecat: {args.schemas}: no openapi.json there; give the UK profile's schema folder", file=sys.stderr)
        return 2
    rep = validate_feed(args.url, args.version, max(1, args.sample), args.timeout, schemas=args.schemas)
    print(json.dumps(rep.as_dict(), indent=1, ensure_ascii=False) if args.json else format_report(rep))
    if not rep.reachable:
        return 2
    return 0 if rep.passed else 1
