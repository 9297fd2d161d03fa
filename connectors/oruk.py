"""ORUK connector: Open Referral UK feeds (v1 and v3) into staging.

Two ways in:

- ``url:`` an ORUK API. ``GET /`` tells the version (``version`` such as "HSDS-UK-3.0", or an
  ``openapi_url``: v3; neither: v1; ``version: 1 | 3`` in the source pins it). ``/services`` is
  read page by page (v3 envelope ``total_pages/contents``, v1 Spring envelope
  ``totalPages/content``): page 1 first, then the rest concurrently, bounded per host. Servers
  that ignore ``per_page``, lie about ``total_pages``, serve empty pages part-way, serve page 1
  for every page number or loop are detected (see ``harvest_http``). When list items lack
  their nested objects, each ``/services/{id}`` is fetched too. Every request goes through
  ``connectors.http.HttpClient`` (retries, Retry-After, time budget, politeness, lenient JSON).
  Page hashes and ETag/Last-Modified validators are kept in the harvest state, so an unchanged
  feed costs one conditional request per page and keeps the snapshot in force.
- ``path:`` local files (a folder of ``/services`` pages, one JSON dump or JSON Lines).

Raw records are stored as fetched, with record type ``service`` (v3) or ``service_v1`` (v1);
``normalise`` picks the mapping by that type (v1: ``connectors.oruk_v1``).
"""
from __future__ import annotations

import hashlib
import json
import re
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator
from urllib.parse import quote

from connectors.base import HarvestError, HarvestOutcome
from connectors.http import FetchError, HttpClient, HttpPolicy
from connectors.staging import StagingRows, child_record_id, staging_id
from connectors.text import html_to_text, json_needs_repair, repair_mojibake_in_json, repair_text

INCREMENTAL = False


# -- harvest ---------------------------------------------------------------------------------
def _local_files(path: Path) -> list[Path]:
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.suffix in (".json", ".jsonl") and p.is_file())
        if not files:
            raise HarvestError(f"{path}: folder holds no .json or .jsonl files")
        return files
    if not path.exists():
        raise HarvestError(f"{path}: file not found")
    return [path]


def _items_in_file(path: Path) -> Iterator[tuple[dict, str]]:
    text = path.read_text(encoding="utf-8-sig")
    if path.suffix == ".jsonl":
        for n, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                yield json.loads(line, strict=False), f"{path}:{n}"
        return
    try:
        doc = json.loads(text, strict=False)
    except json.JSONDecodeError as exc:
        raise HarvestError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno}); check the file") from None
    if isinstance(doc, dict) and isinstance(doc.get("contents"), list):
        items = doc["contents"]
    elif isinstance(doc, dict) and isinstance(doc.get("content"), list):
        items = doc["content"]
    elif isinstance(doc, list):
        items = doc
    elif isinstance(doc, dict) and "id" in doc and "name" in doc:
        items = [doc]
    else:
        raise HarvestError(f"{path}: expected a /services page (contents), a list of services or one service")
    for n, item in enumerate(items):
        yield item, f"{path}#{n}"


def harvest_local(source, writer, state: dict) -> HarvestOutcome:
    files = _local_files(source.path)
    digest = hashlib.sha256()
    for f in files:
        digest.update(f.name.encode())
        digest.update(f.read_bytes())
    files_hash = digest.hexdigest()
    if state.get("files_hash") == files_hash:
        return HarvestOutcome("unchanged", "files unchanged since the last harvest", state=state)
    n = 0
    pinned = str(source.option("version") or "").strip().lower().lstrip("v").split(".")[0]
    for f in files:
        for item, where in _items_in_file(f):
            if not isinstance(item, dict):
                continue
            record_id = str(item.get("id") or f"{f.name}#{n}")
            v1 = pinned == "1" or (pinned != "3" and looks_like_v1(item))
            writer.put_raw(record_id, "service_v1" if v1 else "service", item, where)
            n += 1
    return HarvestOutcome("complete", f"{n} services from {len(files)} file(s)", records=n,
                          pages=len(files), state={"files_hash": files_hash})


def harvest(source, writer, state: dict, ctx) -> HarvestOutcome:
    if source.path is not None:
        return harvest_local(source, writer, state)
    with HttpClient(HttpPolicy.from_source(source)) as client:
        return harvest_http(source, writer, state, client)


# -- harvest over HTTP ----------------------------------------------------------------------
DEFAULT_PER_PAGE = 100
DEFAULT_MAX_PAGES = 5000
V3_NESTED = ("service_at_locations", "schedules", "attributes", "contacts", "service_areas", "languages",
             "cost_options", "funding")
V1_NESTED = ("service_at_locations", "regular_schedules", "service_taxonomys", "service_taxonomies",
             "link_taxonomy", "contacts", "eligibilitys", "eligibilities", "service_areas", "languages",
             "cost_options", "fundings")
V1_MARKERS = ("regular_schedules", "service_taxonomys", "service_taxonomies", "eligibilitys", "eligibilities",
              "attending_access", "deliverable_type", "fundings", "holiday_schedules", "physical_addresses")


def record_type_for(version: str) -> str:
    return "service_v1" if version == "1" else "service"


def looks_like_v1(item: Any) -> bool:
    """A service object in the v1 shape (used for local files, which carry no version)."""
    return isinstance(item, dict) and any(k in item for k in V1_MARKERS)


def api_base(url: str) -> str:
    """The API base of a feed URL (a trailing ``/services`` or ``/`` is dropped)."""
    base = url.strip().rstrip("/")
    return base[: -len("/services")] if base.endswith("/services") else base


def version_from_root(doc: Any) -> str | None:
    """"3" or "1" from a ``GET /`` body, or None when it says nothing about the version."""
    if not isinstance(doc, dict):
        return None
    version = doc.get("version")
    if isinstance(version, (int, float)):
        version = str(version)
    if isinstance(version, str):
        m = re.search(r"(\d+)(?:\.\d+)?", version)
        if m:
            return "3" if int(m.group(1)) >= 3 else "1"
    if doc.get("openapi_url"):
        return "3"
    return None


def detect_version(client: HttpClient, base: str, pinned: Any = None) -> tuple[str, str]:
    """(version, how it was decided). A pinned version wins; otherwise ``GET /`` decides."""
    if pinned not in (None, ""):
        v = str(pinned).strip().lower().lstrip("v")
        if v.split(".")[0] not in ("1", "3"):
            raise HarvestError(f"{base}: version '{pinned}' is not an ORUK version; use 1 or 3")
        return v.split(".")[0], "pinned in the sources file"
    res = client.get(base + "/", accept_statuses=(400, 401, 403, 404, 405, 406, 410))
    if res.status >= 400:
        return "1", f"GET / answered HTTP {res.status}"
    try:
        from connectors.http import parse_json_body
        doc = parse_json_body(res.body, res.url)
    except FetchError:
        return "1", "GET / is not JSON"
    found = version_from_root(doc)
    return (found, "GET / says so") if found else ("1", "GET / names no version")


def map_concurrently(fn, keys, workers: int, name: str) -> dict:
    """{key: fn(key)} with bounded threads; the first failure cancels what has not started and is raised."""
    out = {}
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix=name) as pool:
        futures = {pool.submit(fn, k): k for k in keys}
        done, pending = wait(futures, return_when=FIRST_EXCEPTION)
        for f in pending:
            f.cancel()
        for f in done:
            if f.exception() is not None:
                pool.shutdown(wait=True, cancel_futures=True)
                raise f.exception()
            out[futures[f]] = f.result()
    return out


@dataclass
class Envelope:
    items: list
    total_pages: int | None = None
    total_items: int | None = None
    size: int | None = None
    last: bool | None = None


def _int(v: Any) -> int | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, int):
        return v
    if isinstance(v, str) and v.strip().isdigit():
        return int(v.strip())
    if isinstance(v, float) and v.is_integer():
        return int(v)
    return None


def parse_envelope(doc: Any, url: str) -> Envelope:
    """The items and paging fields of a /services page, v3 or v1 (either shape is accepted)."""
    if isinstance(doc, list):
        return Envelope([x for x in doc], 1, len(doc), len(doc), True)
    if not isinstance(doc, dict):
        raise FetchError(url, "expected a paged list of services (a JSON object with contents or content)")
    if isinstance(doc.get("contents"), list):
        last = doc.get("last_page")
        return Envelope(doc["contents"], _int(doc.get("total_pages")), _int(doc.get("total_items")),
                        _int(doc.get("size")), last if isinstance(last, bool) else None)
    if isinstance(doc.get("content"), list):
        last = doc.get("last")
        return Envelope(doc["content"], _int(doc.get("totalPages")), _int(doc.get("totalElements")),
                        _int(doc.get("size")), last if isinstance(last, bool) else None)
    keys = ", ".join(sorted(doc)[:6])
    raise FetchError(url, f"not an ORUK paging envelope (no 'contents' or 'content' list; keys: {keys})")


def items_key(items: list) -> str:
    """What a page lists (its item ids in order): equal keys mean a repeated page."""
    ids = [it.get("id") if isinstance(it, dict) else it for it in items]
    return hashlib.sha256(json.dumps(ids, ensure_ascii=False, default=str).encode("utf-8")).hexdigest()


@dataclass
class Page:
    number: int
    url: str
    envelope: Envelope | None      # None when the server answered 304 Not Modified
    hash: str | None               # of the body: "unchanged since last time"
    validators: dict = field(default_factory=dict)
    key: str | None = None         # of the listed ids: "the same page again"

    @property
    def items(self) -> list:
        return self.envelope.items if self.envelope else []


class FeedHarvest:
    """One harvest of one ORUK API: pages, guards, details, raw records and the next state."""

    def __init__(self, source, writer, state: dict, client: HttpClient):
        self.source, self.writer, self.state, self.client = source, writer, state or {}, client
        self.base = api_base(source.url)
        self.services_url = self.base + "/services"
        self.per_page = int(source.option("per_page", DEFAULT_PER_PAGE) or DEFAULT_PER_PAGE)
        self.max_pages = int(source.option("max_pages", DEFAULT_MAX_PAGES) or DEFAULT_MAX_PAGES)
        self.workers = max(1, client.policy.concurrency)
        self.warnings: list[str] = []
        self.pages: dict[int, Page] = {}

    # -- pages -----------------------------------------------------------------------
    def fetch_page(self, n: int, conditional: bool = True) -> Page:
        validators = (self.state.get("validators") or {}).get(str(n)) if conditional else None
        params = {"page": n, "per_page": self.per_page}
        doc, res = self.client.get_json(self.services_url, params=params, validators=validators)
        if res.not_modified:
            return Page(n, res.url, None, (self.state.get("page_hashes") or {}).get(str(n)), res.validators)
        env = parse_envelope(doc, res.url)
        # The body's hash, not the items': as good for "unchanged", without re-serialising the page.
        return Page(n, res.url, env, hashlib.sha256(res.body).hexdigest(), res.validators, items_key(env.items))

    def fetch_pages(self, numbers: list[int], conditional: bool = True) -> dict[int, Page]:
        """Fetch pages concurrently; the first failure cancels the rest and is raised with its page."""
        out: dict[int, Page] = {}
        if not numbers:
            return out
        if len(numbers) == 1 or self.workers == 1:
            for n in numbers:
                out[n] = self._fetch_or_explain(n, conditional)
            return out
        out.update(map_concurrently(lambda n: self._fetch_or_explain(n, conditional), numbers, self.workers, "oruk-page"))
        return out

    def _fetch_or_explain(self, n: int, conditional: bool) -> Page:
        try:
            return self.fetch_page(n, conditional)
        except FetchError as exc:
            raise PageFailed(n, exc) from None

    def _more_after(self, page: Page, page_size: int, unique: int, total_items: int | None) -> bool:
        """Should the harvest read past this page (total_pages too small, or unknown)?"""
        env = page.envelope
        if env is None or not env.items:
            return False
        if env.last is True and not (total_items and unique < total_items and len(env.items) >= page_size):
            return False
        return env.last is False or len(env.items) >= page_size

    def read_list(self) -> None:
        first = self._fetch_or_explain(1, True)
        self.pages[1] = first
        if first.envelope is None:  # 304: the page is as it was; plan from what we knew
            planned = int(self.state.get("page_count") or 1)
            total_items = self.state.get("total_items")
            page_size = int(self.state.get("page_size") or self.per_page)
        else:
            env = first.envelope
            page_size = len(env.items) or self.per_page
            total_items = env.total_items
            if env.items and len(env.items) != self.per_page and env.last is not True and (
                    env.total_pages or 0) != 1:
                self.warnings.append(f"server ignores per_page (asked {self.per_page}, got {len(env.items)})")
            planned = env.total_pages if env.total_pages is not None else (
                -(-total_items // page_size) if total_items and page_size else 1)
            if total_items is not None and env.total_pages is not None and page_size:
                expect = -(-total_items // page_size) if total_items else 0
                if expect != env.total_pages and not (expect == 0 and env.total_pages <= 1):
                    self.warnings.append(f"total_pages says {env.total_pages} but {total_items} items at "
                                         f"{page_size} a page make {expect}")
        self.page_size = page_size
        self.total_items = total_items
        if planned > self.max_pages:
            raise PageLimit(self.max_pages, planned)
        self.pages.update(self.fetch_pages(list(range(2, planned + 1))))
        # Read on past the announced last page while the feed plainly has more.
        n = max(self.pages)
        seen = {p.key for p in self.pages.values() if p.items}
        while self._more_after(self.pages[n], page_size, self._unique_count(), total_items):
            if n >= self.max_pages:
                raise PageLimit(self.max_pages, None)
            batch = list(range(n + 1, min(self.max_pages, n + self.workers) + 1))
            got = self.fetch_pages(batch)
            stop = False
            for k in batch:
                page = got[k]
                self.pages[k] = page
                n = k
                if not page.items:
                    break
                if page.key in seen:
                    self.warnings.append(f"page {k} repeats an earlier page; stopped reading there")
                    stop = True
                    break
                seen.add(page.key)
            if stop or not self.pages[n].items:
                break

    def _unique_count(self) -> int:
        ids = set()
        for p in self.pages.values():
            for it in p.items:
                ids.add(json.dumps(it.get("id"), default=str) if isinstance(it, dict) else None)
        return len(ids)

    def check_pages(self) -> str | None:
        """Problems with what the pages held; returns why the harvest is incomplete, or None."""
        numbers = sorted(self.pages)
        nonempty = [n for n in numbers if self.pages[n].items or self.pages[n].envelope is None]
        for n in numbers:
            if n < (max(nonempty) if nonempty else 0) and self.pages[n].envelope is not None and not self.pages[n].items:
                self.warnings.append(f"page {n} was empty part-way through the feed")
        first_key = self.pages[1].key
        later = [n for n in numbers if n > 1 and self.pages[n].items]
        if first_key and later and all(self.pages[n].key == first_key for n in later):
            return (f"the server returned page 1 for every page number (pages 2-{max(later)} repeat it); "
                    f"only {len(self.pages[1].items)} services could be read")
        seen: dict[str, int] = {}
        for n in numbers:
            p = self.pages[n]
            if not p.items:
                continue
            if p.key in seen:
                self.warnings.append(f"page {n} repeats page {seen[p.key]}")
            else:
                seen[p.key] = n
        return None

    # -- details ---------------------------------------------------------------------
    def wants_details(self, version: str, items: list) -> bool:
        setting = self.source.option("detail_fetch", "auto")
        if isinstance(setting, str):
            setting = setting.strip().lower()
        if setting in (True, "true", "yes", "always", "on"):
            return True
        if setting in (False, "false", "no", "never", "off"):
            return False
        nested = V1_NESTED if version == "1" else V3_NESTED
        sample = [it for it in items[:50] if isinstance(it, dict)]
        return bool(sample) and not any(k in it for it in sample for k in nested)

    def fetch_detail(self, service_id: str) -> tuple[dict | None, str]:
        url = f"{self.services_url}/{quote(str(service_id), safe='')}"
        try:
            doc, res = self.client.get_json(url)
        except FetchError as exc:
            if exc.status in (404, 410):
                return None, url
            raise DetailFailed(str(service_id), exc) from None
        if isinstance(doc, dict) and isinstance(doc.get("contents") or doc.get("content"), list):
            items = doc.get("contents") or doc.get("content")
            doc = items[0] if len(items) == 1 else None
        if not isinstance(doc, dict):
            raise DetailFailed(str(service_id), FetchError(url, "the service detail is not a JSON object"))
        return doc, res.url

    def fetch_details(self, ids: list[str]) -> dict[str, tuple[dict | None, str]]:
        out: dict[str, tuple[dict | None, str]] = {}
        out.update(map_concurrently(self.fetch_detail, ids, self.workers, "oruk-detail"))
        return out


class PageFailed(HarvestError):
    def __init__(self, page: int, exc: FetchError):
        self.page, self.cause = page, exc
        super().__init__(f"page {page}: {exc}")


class DetailFailed(HarvestError):
    def __init__(self, service_id: str, exc: FetchError):
        self.service_id, self.cause = service_id, exc
        super().__init__(f"service {service_id}: {exc}")


class PageLimit(HarvestError):
    def __init__(self, limit: int, planned: int | None):
        what = f"the feed announces {planned} pages" if planned else "the feed still had more pages"
        super().__init__(f"stopped at the page limit: {what}, max_pages is {limit}; raise max_pages "
                         f"in the sources file if the feed really is that long")


def _record_id(item: dict, page: int, n: int) -> str:
    # Ids arrive with stray control characters and spaces too; the record id is the clean one.
    v = item.get("id")
    clean = repair_text(str(v)).strip() if v not in (None, "") else ""
    return clean or f"page-{page}#{n}"


def harvest_http(source, writer, state: dict, client: HttpClient) -> HarvestOutcome:
    """Harvest an ORUK API into raw records. Complete, unchanged, partial (with why) or failed."""
    feed = FeedHarvest(source, writer, state, client)
    version, how = detect_version(client, feed.base, source.option("version"))
    if state.get("version") and state.get("version") != version:
        feed.state = state = {}  # a feed that changed version shares nothing with its past
    try:
        feed.read_list()
    except PageFailed as exc:
        if exc.page == 1:
            raise HarvestError(f"{exc.cause}") from None
        total = max(feed.pages) if feed.pages else "?"
        announced = feed.pages[1].envelope.total_pages if 1 in feed.pages and feed.pages[1].envelope else None
        return HarvestOutcome("partial", f"page {exc.page} of {announced or total} failed: {exc.cause}",
                              pages=len(feed.pages), stats=_stats(feed, client, version))
    except PageLimit as exc:
        return HarvestOutcome("partial", str(exc), pages=len(feed.pages), stats=_stats(feed, client, version))
    incomplete = feed.check_pages()
    if incomplete:
        return HarvestOutcome("partial", incomplete, pages=len(feed.pages), stats=_stats(feed, client, version))

    hashes = {str(n): p.hash for n, p in feed.pages.items()}
    if state.get("page_hashes") == hashes and state.get("version") == version:
        return HarvestOutcome("unchanged", f"all {len(hashes)} pages unchanged since the last harvest",
                              pages=len(hashes), state=state, stats=_stats(feed, client, version))
    stale = [n for n, p in feed.pages.items() if p.envelope is None]
    if stale:  # some pages answered 304 but the feed changed: their items are needed again
        try:
            feed.pages.update(feed.fetch_pages(stale, conditional=False))
        except PageFailed as exc:
            return HarvestOutcome("partial", f"page {exc.page} failed: {exc.cause}", pages=len(feed.pages),
                                  stats=_stats(feed, client, version))

    listed: list[tuple[str, dict, str]] = []
    for n in sorted(feed.pages):
        page = feed.pages[n]
        for i, item in enumerate(page.items):
            if isinstance(item, dict):
                listed.append((_record_id(item, n, i), item, page.url))
            else:
                feed.warnings.append(f"page {n} item {i} is not a JSON object; skipped")
    details: dict[str, tuple[dict | None, str]] = {}
    fetched_details = feed.wants_details(version, [it for _, it, _ in listed])
    if fetched_details:
        ids = list(dict.fromkeys(rid for rid, item, _ in listed if item.get("id") not in (None, "")))
        try:
            details = feed.fetch_details(ids)
        except DetailFailed as exc:
            return HarvestOutcome("partial", f"detail of service {exc.service_id} failed: {exc.cause}",
                                  pages=len(feed.pages), stats=_stats(feed, client, version))
    missing = 0
    rtype = record_type_for(version)
    for rid, item, url in listed:
        detail, detail_url = details.get(rid, (None, url))
        if fetched_details and detail is None and rid in details:
            missing += 1
        obj = {**item, **detail} if detail else item
        writer.put_raw(rid, rtype, obj, detail_url if detail else url)
    if missing:
        feed.warnings.append(f"{missing} service detail(s) answered 404; their list entries were kept")
    unique = len({rid for rid, _, _ in listed})
    if len(listed) != unique:
        feed.warnings.append(f"{len(listed) - unique} services appeared on more than one page")
    if feed.total_items is not None and unique < feed.total_items:
        feed.warnings.append(f"the feed claims {feed.total_items} services but served {unique}")
    new_state = {
        "version": version, "page_hashes": hashes, "page_count": len(feed.pages),
        "page_size": feed.page_size, "total_items": feed.total_items, "per_page": feed.per_page,
        "validators": {str(n): p.validators for n, p in feed.pages.items() if p.validators},
    }
    stats = _stats(feed, client, version)
    stats.update(services=unique, detail_fetches=len(details), version_detected_by=how)
    msg = f"{unique} services from {len(feed.pages)} pages (ORUK v{version})"
    if feed.warnings:
        msg += "; " + "; ".join(feed.warnings[:3])
    return HarvestOutcome("complete", msg, records=unique, pages=len(feed.pages), state=new_state, stats=stats)


def _stats(feed: FeedHarvest, client: HttpClient, version: str) -> dict:
    return {"version": version, "pages": len(feed.pages), "requests": client.requests_made,
            "retries": client.retries_made, "warnings": list(feed.warnings)}


# -- normalise -------------------------------------------------------------------------------
SERVICE_FIELDS = ("name", "description", "url", "email", "status", "fees", "accreditations",
                  "minimum_age", "maximum_age", "assured_date", "assurer_email", "alert", "last_modified")
NESTED_SERVICE_KEYS = {"id", "organization", "organization_id", "schedules", "service_areas",
                       "service_at_locations", "languages", "funding", "cost_options", "contacts",
                       "attributes", "phones", "metadata"}


def deep_repair(value: Any, ascii_too: bool = True) -> Any:
    """Every string in a JSON value with its mojibake and control characters repaired (a copy).
    ``ascii_too=False``: leave ASCII strings alone (known to hold no control characters)."""
    if isinstance(value, str):
        return repair_text(value) if ascii_too or not value.isascii() else value
    if isinstance(value, dict):
        return {k: deep_repair(v, ascii_too) for k, v in value.items()}
    if isinstance(value, list):
        return [deep_repair(v, ascii_too) for v in value]
    return value


def description_extras(description: Any) -> dict:
    """``description_text``: the plain text of a (possibly HTML) description, for search and checks."""
    if not isinstance(description, str) or not description.strip():
        return {}
    return {"description_text": html_to_text(description)}


def _pick(obj: dict, fields: Iterable[str]) -> dict:
    return {f: obj.get(f) for f in fields if f in obj}


def _list(value: Any) -> list:
    if value is None:
        return []
    if isinstance(value, list):
        return [v for v in value if isinstance(v, dict)]
    if isinstance(value, dict):
        return [value]
    return []


def _rid(obj: dict, parent: str, table: str, n: int) -> str:
    v = obj.get("id")
    return str(v) if v not in (None, "") else child_record_id(parent, table, n)


def add_organization(rows: StagingRows, org: dict, root: str) -> str:
    org_rid = _rid(org, root, "organization", 0)
    org_id = rows.add("organization", org_rid, {
        **_pick(org, ("name", "description", "email", "website", "logo", "uri")),
        "parent_organization_id": staging_id(rows.source_id, "organization", str(org["parent_organization_id"]))
        if org.get("parent_organization_id") else None,
    }, extras={k: v for k, v in org.items() if k not in {
        "id", "name", "description", "email", "website", "logo", "uri", "parent_organization_id",
        "organization_identifiers", "attributes"}} or None, root_record_id=root)
    for n, ident in enumerate(_list(org.get("organization_identifiers"))):
        rows.add("organization_identifier", _rid(ident, org_rid, "organization_identifier", n), {
            "organization_id": org_id,
            **_pick(ident, ("identifier_scheme", "identifier_type", "identifier")),
        }, root_record_id=root)
    add_attributes(rows, org.get("attributes"), org_id, "organization", org_rid, root)
    return org_id


def add_attributes(rows: StagingRows, attributes: Any, link_id: str, link_entity: str,
                   parent_rid: str, root: str) -> None:
    for n, attr in enumerate(_list(attributes)):
        term = attr.get("taxonomy_term") if isinstance(attr.get("taxonomy_term"), dict) else None
        term_id = None
        if term:
            term_id = add_taxonomy_term(rows, term, root)
        elif attr.get("taxonomy_term_id"):
            term_id = staging_id(rows.source_id, "taxonomy_term", str(attr["taxonomy_term_id"]))
        rows.add("attribute", _rid(attr, parent_rid, "attribute", n), {
            "link_id": link_id, "taxonomy_term_id": term_id, "link_type": attr.get("link_type"),
            "link_entity": attr.get("link_entity") or link_entity, "value": attr.get("value"),
        }, root_record_id=root)


def add_taxonomy_term(rows: StagingRows, term: dict, root: str) -> str:
    term_rid = _rid(term, root, "taxonomy_term", 0)
    taxonomy_id = None
    tax = term.get("taxonomy_detail") if isinstance(term.get("taxonomy_detail"), dict) else None
    if tax:
        taxonomy_id = rows.add("taxonomy", _rid(tax, term_rid, "taxonomy", 0),
                               _pick(tax, ("name", "description", "uri", "version")), root_record_id=root)
    elif term.get("taxonomy_id"):
        taxonomy_id = staging_id(rows.source_id, "taxonomy", str(term["taxonomy_id"]))
    return rows.add("taxonomy_term", term_rid, {
        **_pick(term, ("name", "description", "taxonomy", "term_uri", "term")),
        "parent_id": staging_id(rows.source_id, "taxonomy_term", str(term["parent_id"])) if term.get("parent_id") else None,
        "taxonomy_id": taxonomy_id,
    }, root_record_id=root)


def add_location(rows: StagingRows, loc: dict, root: str) -> str:
    loc_rid = _rid(loc, root, "location", 0)
    loc_id = rows.add("location", loc_rid, {
        **_pick(loc, ("name", "description", "latitude", "longitude", "external_identifier",
                      "external_identifier_type")),
        "location_type": loc.get("location_type") or "physical",
    }, root_record_id=root)
    for n, addr in enumerate(_list(loc.get("addresses"))):
        rows.add("address", _rid(addr, loc_rid, "address", n), {
            "location_id": loc_id,
            **_pick(addr, ("attention", "address_1", "city", "region", "state_province",
                           "postal_code", "country")),
            "address_type": addr.get("address_type") or "physical",
        }, root_record_id=root)
    for n, acc in enumerate(_list(loc.get("accessibility"))):
        rows.add("accessibility", _rid(acc, loc_rid, "accessibility", n), {
            "location_id": loc_id, **_pick(acc, ("description", "details", "url", "accessibility")),
        }, root_record_id=root)
    for n, phone in enumerate(_list(loc.get("phones"))):
        rows.add("phone", _rid(phone, loc_rid, "phone", n), {
            "location_id": loc_id, **_pick(phone, ("number", "description")),
        }, root_record_id=root)
    add_attributes(rows, loc.get("attributes"), loc_id, "location", loc_rid, root)
    return loc_id


def add_contacts(rows: StagingRows, contacts: Any, service_id: str, record_id: str) -> None:
    """A service's contacts and their phones (the same in v1 and v3)."""
    for n, contact in enumerate(_list(contacts)):
        c_rid = _rid(contact, record_id, "contact", n)
        contact_id = rows.add("contact", c_rid, {
            "service_id": service_id, **_pick(contact, ("name", "title", "department", "email")),
        }, root_record_id=record_id)
        for m, phone in enumerate(_list(contact.get("phones"))):
            rows.add("phone", _rid(phone, c_rid, "phone", m), {
                "contact_id": contact_id, "service_id": service_id,
                **_pick(phone, ("number", "description")),
            }, root_record_id=record_id)


def normalise_v3_service(rows: StagingRows, svc: dict, record_id: str, repair: bool = True) -> str | None:
    """Map one v3 service object (as in a /services/{id} response) to staging rows.
    ``repair=False`` skips the text repair pass (``normalise`` does when the raw text shows no need)."""
    sid = rows.source_id
    if not isinstance(svc, dict):
        rows.issue(record_id, "service", None, "shape", "record is not a JSON object", "blocking")
        return None
    if repair:
        svc = deep_repair(svc)
    org_id = None
    if isinstance(svc.get("organization"), dict):
        org_id = add_organization(rows, svc["organization"], record_id)
    elif svc.get("organization_id"):
        org_id = staging_id(sid, "organization", str(svc["organization_id"]))
    values = _pick(svc, SERVICE_FIELDS)
    values["status"] = (values.get("status") or "active")
    values["organization_id"] = org_id
    extras = {k: v for k, v in svc.items() if k not in NESTED_SERVICE_KEYS and k not in SERVICE_FIELDS}
    extras.update(description_extras(values.get("description")))
    service_id = rows.add("service", record_id, values, extras=extras or None)

    for n, sched in enumerate(_list(svc.get("schedules"))):
        rows.add("schedule", _rid(sched, record_id, "schedule", n), {
            "service_id": service_id,
            **_pick(sched, ("valid_from", "valid_to", "dtstart", "freq", "interval", "byday",
                            "bymonthday", "description", "opens_at", "closes_at", "schedule_link",
                            "attending_type", "notes")),
        }, root_record_id=record_id)
    for n, area in enumerate(_list(svc.get("service_areas"))):
        rows.add("service_area", _rid(area, record_id, "service_area", n), {
            "service_id": service_id,
            **_pick(area, ("name", "extent", "extent_type", "uri", "service_area")),
        }, root_record_id=record_id)
    for n, sal in enumerate(_list(svc.get("service_at_locations"))):
        loc = sal.get("location") if isinstance(sal.get("location"), dict) else None
        if loc:
            loc_id = add_location(rows, loc, record_id)
        elif sal.get("location_id"):
            loc_id = staging_id(sid, "location", str(sal["location_id"]))
        else:
            rows.issue(record_id, "service_at_location", "location", "required",
                       "service_at_location has no location; skipped")
            continue
        rows.add("service_at_location", _rid(sal, record_id, "service_at_location", n),
                 {"service_id": service_id, "location_id": loc_id}, root_record_id=record_id)
    for n, lang in enumerate(_list(svc.get("languages"))):
        rows.add("language", _rid(lang, record_id, "language", n), {
            "service_id": service_id, **_pick(lang, ("name", "code", "note")),
        }, root_record_id=record_id)
    for n, fund in enumerate(_list(svc.get("funding"))):
        rows.add("funding", _rid(fund, record_id, "funding", n),
                 {"service_id": service_id, "source": fund.get("source")}, root_record_id=record_id)
    for n, cost in enumerate(_list(svc.get("cost_options"))):
        rows.add("cost_option", _rid(cost, record_id, "cost_option", n), {
            "service_id": service_id,
            **_pick(cost, ("valid_from", "valid_to", "option", "amount", "amount_description", "currency")),
        }, root_record_id=record_id)
    add_contacts(rows, svc.get("contacts"), service_id, record_id)
    for n, phone in enumerate(_list(svc.get("phones"))):
        rows.add("phone", _rid(phone, record_id, "phone", n), {
            "service_id": service_id, **_pick(phone, ("number", "description")),
        }, root_record_id=record_id)
    add_attributes(rows, svc.get("attributes"), service_id, "service", record_id, record_id)
    return service_id


def normalise(source, records, rows: StagingRows) -> None:
    from connectors.oruk_v1 import normalise_v1_service

    for record_id, record_type, text, _where in records:
        try:
            if isinstance(text, str):
                deep = json_needs_repair(text)
                if deep == "mojibake":  # only strings with mojibake need it: repair them in the text
                    text, deep = repair_mojibake_in_json(text), False
                payload = json.loads(text, strict=False)
            else:
                payload, deep = text, True
        except ValueError as exc:
            rows.issue(record_id, "service", None, "json", f"raw record is not JSON ({exc}); not loaded", "blocking")
            continue
        try:
            if record_type == "service_v1":
                normalise_v1_service(rows, payload, record_id, repair=deep)
            else:
                normalise_v3_service(rows, payload, record_id, repair=deep)
        except Exception as exc:  # one malformed record must not sink the page
            rows.issue(record_id, "service", None, "normalise",
                       f"could not normalise: {type(exc).__name__}: {exc}", "blocking")
