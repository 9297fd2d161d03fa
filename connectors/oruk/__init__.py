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
  The harvest streams: pages are read in order, a few ahead, and each page's services (with
  their details) go to the snapshot writer, which writes them to DuckDB in batches, as soon as
  the page is in; then the page is let go. Each service is stored as the JSON text the server
  sent (the page is parsed once, ``parse_page_text``). The snapshot is only promoted when the
  harvest is complete, so a failure part-way still leaves the last good snapshot in force.
- ``path:`` local files (a folder of ``/services`` pages, one JSON dump or JSON Lines).

Raw records are stored as fetched, with record type ``service`` (v3) or ``service_v1`` (v1);
``normalise`` picks the mapping by that type (v1: ``connectors.oruk_v1``).
"""
from __future__ import annotations

import hashlib
import json
import re
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator
from urllib.parse import quote

from connectors.base import HarvestError, HarvestOutcome
from connectors.http import (FetchError, FetchResult, HttpClient, HttpPolicy, decode_body, looks_like_html,
                             parse_json_body)
from connectors.staging import StagingRows, child_record_id, staging_id
from connectors.text import (html_to_text, json_has_mojibake_hint, json_needs_repair, repair_mojibake_in_json,
                             repair_text)

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
        doc = parse_json_body(res.body, res.url)
    except FetchError:
        return "1", "GET / is not JSON"
    found = version_from_root(doc)
    return (found, "GET / says so") if found else ("1", "GET / names no version")


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
    texts: list | None = None      # each item's JSON text as served, when it can be stored as it is
    count: int = 0                 # items the page listed (kept after the items are written and let go)

    @property
    def items(self) -> list:
        return self.envelope.items if self.envelope else []

    def release(self) -> None:
        """Let go of the items (they are in the snapshot now); the paging facts stay."""
        if self.envelope is not None:
            self.envelope.items = []
        self.texts = None


_WS = re.compile(r"[ \t\n\r]*")
_RAW_CONTROL = re.compile(r"[\x00-\x1f]")


def _after_value(text: str, i: int, close: str) -> tuple[int, bool]:
    """Past the ',' (or the closing bracket) that must follow a value: (next position, closed?)."""
    i = _WS.match(text, i).end()
    if text[i:i + 1] == ",":
        return _WS.match(text, i + 1).end(), False
    if text[i:i + 1] == close:
        return i + 1, True
    raise ValueError(f"expected ',' or '{close}'")


def parse_page_text(text: str) -> tuple[Any, list[str | None] | None]:
    """A /services page parsed once, with the JSON text of each item of its ``contents`` /
    ``content`` list (so raw records are stored as served, not re-serialised). Returns
    (document, item texts), or (document, None) when the page is not an object with such a list.
    An item's text is None where it cannot be stored as it is (see ``storable_text``).
    Raises ValueError on anything but plain JSON; the caller then parses it the lenient way."""
    try:
        # Strict first: a page that passes holds no raw control character in any string, so
        # its items need no scan for them (most pages); NaN and Infinity are noticed as parsed.
        return _parse_page_text(text, strict=True)
    except ValueError:
        return _parse_page_text(text, strict=False)


def _parse_page_text(text: str, strict: bool) -> tuple[Any, list[str | None] | None]:
    constants: list[str] = []

    def constant(name: str) -> float:
        constants.append(name)
        return float(name)

    decode = json.JSONDecoder(strict=strict, parse_constant=constant).raw_decode
    ws = _WS.match
    i = ws(text, 0).end()
    if text[i:i + 1] != "{":
        return json.loads(text, strict=False), None
    doc: dict = {}
    texts_by_key: dict[str, list[str | None]] = {}
    i = ws(text, i + 1).end()
    if text[i:i + 1] == "}":
        i += 1
    else:
        while True:
            key, i = decode(text, i)
            if not isinstance(key, str):
                raise ValueError("object key is not a string")
            i = ws(text, i).end()
            if text[i:i + 1] != ":":
                raise ValueError("expected ':'")
            i = ws(text, i + 1).end()
            if key in ("contents", "content") and text[i:i + 1] == "[":
                items: list = []
                texts: list[str | None] = []
                i = ws(text, i + 1).end()
                if text[i:i + 1] == "]":
                    i += 1
                else:
                    while True:
                        item, end = decode(text, i)
                        items.append(item)
                        item_text = text[i:end]
                        if constants:
                            texts.append(None)  # NaN or Infinity: not JSON to DuckDB
                            constants.clear()
                        elif strict:
                            texts.append(item_text if _storable_strict_text(item_text) else None)
                        else:
                            texts.append(item_text if storable_text(item_text) else None)
                        i, closed = _after_value(text, end, "]")
                        if closed:
                            break
                doc[key] = items
                texts_by_key[key] = texts
            else:
                doc[key], i = decode(text, i)
                texts_by_key.pop(key, None)
            i, closed = _after_value(text, i, "}")
            if closed:
                break
    if ws(text, i).end() != len(text):
        raise ValueError("extra data after the page")
    key = "contents" if isinstance(doc.get("contents"), list) else "content"
    return doc, texts_by_key.get(key)


def _storable_strict_text(text: str) -> bool:
    """``storable_text`` for an item the strict parser took: no string in it holds a raw control
    character, so only whitespace between its tokens and ``\\u`` escapes remain to be checked."""
    return "\\u" not in text and "\n" not in text and "\r" not in text and "\t" not in text


def parse_page_body(body: bytes, url: str) -> tuple[Any, list[str | None] | None]:
    """(document, item texts) of a /services page: parsed once (``parse_page_text``) when it is
    plain JSON, else the lenient way (``parse_json_body``: BOM, control characters, HTML pages)."""
    if not looks_like_html(body):
        try:
            return parse_page_text(decode_body(body).strip())
        except (ValueError, IndexError):
            pass
    return parse_json_body(body, url), None


def storable_text(text: str) -> bool:
    """Can an item's served text be stored as its raw payload? Not with raw control characters
    (valid only to our lenient parser, not to DuckDB's JSON type), nor NaN/Infinity, nor
    ``\\u`` escapes (which make ``normalise`` repair every string, to be safe)."""
    if "NaN" in text or "Infinity" in text:
        return False
    if "\\u" in text:  # \u escapes: re-serialised without them, so normalising needs no full repair pass
        return False
    return text.isprintable() or not _RAW_CONTROL.search(text)  # isprintable: a quick "no control characters"


def ordered_results(pool: ThreadPoolExecutor, fn, keys: Iterable, window: int) -> Iterator[tuple[Any, Any]]:
    """(key, fn(key)) in the order of ``keys``, with at most ``window`` calls submitted ahead, so
    results are used (and let go) while later ones are still being fetched. The first failure
    cancels what has not started and is raised."""
    pending: deque = deque()
    keys = iter(keys)
    try:
        while True:
            while len(pending) < window:
                k = next(keys, _END)
                if k is _END:
                    break
                pending.append((k, pool.submit(fn, k)))
            if not pending:
                return
            k, fut = pending.popleft()
            yield k, fut.result()
    finally:
        for _, fut in pending:
            fut.cancel()


_END = object()


class FeedHarvest:
    """One harvest of one ORUK API: pages, guards, details, raw records and the next state.

    Pages are read in order with a few fetched ahead; each page's services go to the snapshot
    writer (which writes them in batches) as soon as the page, and its service details if
    needed, are in, and then the page's items are let go. Only paging facts (hashes, ids seen)
    are kept, so memory does not grow with the size of the feed.
    """

    def __init__(self, source, writer, state: dict, client: HttpClient, version: str = "3"):
        self.source, self.writer, self.state, self.client = source, writer, state or {}, client
        self.version = version
        self.base = api_base(source.url)
        self.services_url = self.base + "/services"
        self.per_page = int(source.option("per_page", DEFAULT_PER_PAGE) or DEFAULT_PER_PAGE)
        self.max_pages = int(source.option("max_pages", DEFAULT_MAX_PAGES) or DEFAULT_MAX_PAGES)
        self.workers = max(1, client.policy.concurrency)
        self.warnings: list[str] = []
        self.pages: dict[int, Page] = {}
        self.id_keys: set = set()               # every listed id: "how many services so far"
        self.written: dict[str, int] = {}       # record id -> page it was written from
        self.listed = 0                         # list entries that were objects
        self.details: bool | None = None        # fetch /services/{id}? decided on the first items
        self.detail_count = 0
        self.missing_details = 0
        self.deferred: list[int] = []           # pages to fetch again if the feed turns out changed
        self.changed = False                    # a page differs from the last harvest
        self.page_pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="oruk-page")
        self.detail_pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="oruk-detail")

    def close(self) -> None:
        self.page_pool.shutdown(wait=True, cancel_futures=True)
        self.detail_pool.shutdown(wait=True, cancel_futures=True)

    # -- pages -----------------------------------------------------------------------
    def fetch_page(self, n: int, conditional: bool = True) -> Page:
        return self.parse_page(n, self.request_page(n, conditional), conditional)

    def _page_request(self, n: int, conditional: bool) -> tuple[dict, dict | None]:
        validators = (self.state.get("validators") or {}).get(str(n)) if conditional else None
        return {"page": n, "per_page": self.per_page}, validators

    def request_page(self, n: int, conditional: bool = True) -> FetchResult:
        """Page ``n`` as served (not parsed yet)."""
        params, validators = self._page_request(n, conditional)
        return self.client.get(self.services_url, params=params, validators=validators)

    def parse_page(self, n: int, res: FetchResult, conditional: bool = True) -> Page:
        """The Page of a fetched response (fetched again while its body is not usable JSON)."""
        params, validators = self._page_request(n, conditional)
        parsed, res = self.client.parse_fetched(res, self.services_url, params=params, validators=validators,
                                                parse=parse_page_body)
        if res.not_modified:
            return Page(n, res.url, None, (self.state.get("page_hashes") or {}).get(str(n)), res.validators)
        doc, texts = parsed
        env = parse_envelope(doc, res.url)
        if texts is not None and len(texts) != len(env.items):
            texts = None
        # The body's hash, not the items': as good for "unchanged", without re-serialising the page.
        return Page(n, res.url, env, hashlib.sha256(res.body).hexdigest(), res.validators, items_key(env.items),
                    texts, len(env.items))

    def fetch_pages(self, numbers: list[int], conditional: bool = True) -> Iterator[Page]:
        """Pages in order, fetched concurrently a few ahead; the first failure is raised with its page.
        The pool threads only fetch; each page is parsed here, as it is taken, so parsing never
        holds up the requests in flight (they stay at the concurrency allowed)."""
        window = 1 if self.workers == 1 else self.workers * 2
        for n, res in ordered_results(self.page_pool, lambda n: self._explained(n, self.request_page, n, conditional),
                                      numbers, window):
            yield self._explained(n, self.parse_page, n, res, conditional)

    @staticmethod
    def _explained(n: int, fn, *args):
        try:
            return fn(*args)
        except FetchError as exc:
            raise PageFailed(n, exc) from None

    def _fetch_or_explain(self, n: int, conditional: bool) -> Page:
        return self._explained(n, self.fetch_page, n, conditional)

    def _more_after(self, page: Page, page_size: int, unique: int, total_items: int | None) -> bool:
        """Should the harvest read past this page (total_pages too small, or unknown)?"""
        env = page.envelope
        if env is None or not page.count:
            return False
        if env.last is True and not (total_items and unique < total_items and page.count >= page_size):
            return False
        return env.last is False or page.count >= page_size

    def read_list(self) -> None:
        first = self._fetch_or_explain(1, True)
        self.add_page(first)
        if first.envelope is None:  # 304: the page is as it was; plan from what we knew
            planned = int(self.state.get("page_count") or 1)
            total_items = self.state.get("total_items")
            page_size = int(self.state.get("page_size") or self.per_page)
        else:
            env = first.envelope
            page_size = first.count or self.per_page
            total_items = env.total_items
            if first.count and first.count != self.per_page and env.last is not True and (
                    env.total_pages or 0) != 1:
                self.warnings.append(f"server ignores per_page (asked {self.per_page}, got {first.count})")
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
        for page in self.fetch_pages(list(range(2, planned + 1))):
            self.add_page(page)
        # Read on past the announced last page while the feed plainly has more.
        n = max(self.pages)
        seen = {p.key for p in self.pages.values() if p.count}
        while self._more_after(self.pages[n], page_size, len(self.id_keys), total_items):
            if n >= self.max_pages:
                raise PageLimit(self.max_pages, None)
            batch = list(range(n + 1, min(self.max_pages, n + self.workers) + 1))
            stop = False
            for page in self.fetch_pages(batch):
                k = page.number
                n = k
                if page.count and page.key in seen:
                    self.add_page(page)  # listed like any page (its services were already written)
                    self.warnings.append(f"page {k} repeats an earlier page; stopped reading there")
                    stop = True
                    break
                self.add_page(page)
                if not page.count:
                    break
                seen.add(page.key)
            if stop or not self.pages[n].count:
                break

    # -- raw records, as pages arrive ------------------------------------------------
    def add_page(self, page: Page) -> None:
        """Record a page and write its services (or hold them back, see ``defer``)."""
        self.pages[page.number] = page
        if page.envelope is None:
            return
        id_keys = self.id_keys
        for it in page.items:
            v = it.get("id") if isinstance(it, dict) else None
            # A text id is its own key; others (numbers, null) as JSON, kept apart from text ids.
            id_keys.add(v if type(v) is str else ("json", json.dumps(v, default=str)))
        if self.details is None and page.count:
            self.details = self.wants_details(self.version, page.items)
        if self.defer(page):
            self.deferred.append(page.number)
            page.release()
            return
        self.write_page(page)

    def defer(self, page: Page) -> bool:
        """With detail fetches, a page that is as it was last time waits: if the whole feed is
        unchanged, its details need not be fetched at all; if not, it is fetched again at the end
        (as a 304 page is)."""
        if self.changed or not self.details:
            return False
        if page.hash is not None and page.hash == (self.state.get("page_hashes") or {}).get(str(page.number)):
            return True
        self.changed = True
        return False

    def write_page(self, page: Page) -> None:
        rtype = record_type_for(self.version)
        entries = []
        for i, item in enumerate(page.items):
            if not isinstance(item, dict):
                self.warnings.append(f"page {page.number} item {i} is not a JSON object; skipped")
                continue
            self.listed += 1
            rid = _record_id(item, page.number, i)
            if self.written.get(rid, 0) > page.number:
                continue  # a later page lists it too, and the later copy wins
            self.written[rid] = page.number
            entries.append((rid, item, page.texts[i] if page.texts is not None else None))
        url = page.url
        page.release()
        if not self.details:
            self.writer.put_raw_many([(rid, rtype, text if text is not None else item) for rid, item, text in entries],
                                     url)
            return
        with_id = list(dict.fromkeys(rid for rid, item, _ in entries if item.get("id") not in (None, "")))
        by_rid = {rid: item for rid, item, _ in entries}
        done = set()
        for rid, (detail, detail_url) in ordered_results(self.detail_pool, self.fetch_detail,
                                                         with_id, self.workers * 4):
            self.detail_count += 1
            if rid in done:
                continue
            done.add(rid)
            item = by_rid[rid]
            if detail is None:
                self.missing_details += 1
            self.writer.put_raw(rid, rtype, {**item, **detail} if detail else item, detail_url if detail else url)
        for rid, item, text in entries:  # list entries without an id: as listed
            if rid not in done:
                done.add(rid)
                self.writer.put_raw(rid, rtype, text if text is not None else item, url)

    def check_pages(self) -> str | None:
        """Problems with what the pages held; returns why the harvest is incomplete, or None."""
        numbers = sorted(self.pages)
        nonempty = [n for n in numbers if self.pages[n].count or self.pages[n].envelope is None]
        for n in numbers:
            if n < (max(nonempty) if nonempty else 0) and self.pages[n].envelope is not None and not self.pages[n].count:
                self.warnings.append(f"page {n} was empty part-way through the feed")
        first_key = self.pages[1].key
        later = [n for n in numbers if n > 1 and self.pages[n].count]
        if first_key and later and all(self.pages[n].key == first_key for n in later):
            return (f"the server returned page 1 for every page number (pages 2-{max(later)} repeat it); "
                    f"only {self.pages[1].count} services could be read")
        seen: dict[str, int] = {}
        for n in numbers:
            p = self.pages[n]
            if not p.count:
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
    """Harvest an ORUK API into raw records. Complete, unchanged, partial (with why) or failed.
    Records are written as pages arrive; only a complete harvest's snapshot is ever promoted."""
    version, how = detect_version(client, api_base(source.url), source.option("version"))
    if state.get("version") and state.get("version") != version:
        state = {}  # a feed that changed version shares nothing with its past
    feed = FeedHarvest(source, writer, state, client, version)
    try:
        return _harvest_feed(feed, state, client, version, how)
    finally:
        feed.close()


def _harvest_feed(feed: FeedHarvest, state: dict, client: HttpClient, version: str, how: str) -> HarvestOutcome:
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
    except DetailFailed as exc:
        return HarvestOutcome("partial", f"detail of service {exc.service_id} failed: {exc.cause}",
                              pages=len(feed.pages), stats=_stats(feed, client, version))
    incomplete = feed.check_pages()
    if incomplete:
        return HarvestOutcome("partial", incomplete, pages=len(feed.pages), stats=_stats(feed, client, version))

    hashes = {str(n): p.hash for n, p in feed.pages.items()}
    if state.get("page_hashes") == hashes and state.get("version") == version:
        return HarvestOutcome("unchanged", f"all {len(hashes)} pages unchanged since the last harvest",
                              pages=len(hashes), state=state, stats=_stats(feed, client, version))
    # Pages that answered 304, or were held back as unchanged, but the feed changed: read them again.
    again = sorted(set(feed.deferred) | {n for n, p in feed.pages.items() if p.envelope is None})
    feed.changed = True
    try:
        for page in feed.fetch_pages(again, conditional=False):
            feed.add_page(page)
    except PageFailed as exc:
        return HarvestOutcome("partial", f"page {exc.page} failed: {exc.cause}", pages=len(feed.pages),
                              stats=_stats(feed, client, version))
    except DetailFailed as exc:
        return HarvestOutcome("partial", f"detail of service {exc.service_id} failed: {exc.cause}",
                              pages=len(feed.pages), stats=_stats(feed, client, version))
    if feed.missing_details:
        feed.warnings.append(f"{feed.missing_details} service detail(s) answered 404; their list entries were kept")
    unique = len(feed.written)
    if feed.listed != unique:
        feed.warnings.append(f"{feed.listed - unique} services appeared on more than one page")
    if feed.total_items is not None and unique < feed.total_items:
        feed.warnings.append(f"the feed claims {feed.total_items} services but served {unique}")
    new_state = {
        "version": version, "page_hashes": hashes, "page_count": len(feed.pages),
        "page_size": feed.page_size, "total_items": feed.total_items, "per_page": feed.per_page,
        "validators": {str(n): p.validators for n, p in feed.pages.items() if p.validators},
    }
    stats = _stats(feed, client, version)
    stats.update(services=unique, detail_fetches=feed.detail_count, version_detected_by=how)
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
    if type(value) is list:
        return [v for v in value if type(v) is dict or isinstance(v, dict)]
    if value is None:
        return []
    if isinstance(value, list):
        return [v for v in value if isinstance(v, dict)]
    if isinstance(value, dict):
        return [value]
    return []


def _rid(obj: dict, parent: str, table: str, n: int) -> str:
    v = obj.get("id")
    if type(v) is str and v:
        return v
    return str(v) if v not in (None, "") else child_record_id(parent, table, n)


def add_each(rows: StagingRows, table: str, objects: Any, parent_rid: str, fields: tuple[str, ...],
             values: dict, root: str) -> None:
    """A row for each object of ``objects`` (a list of objects, or one): the cells of ``fields``
    it has, and ``values`` (the same for every one, such as the parent's id)."""
    for n, obj in enumerate(_list(objects)):
        rows.add(table, _rid(obj, parent_rid, table, n), values, root_record_id=root, pick_from=obj, fields=fields)


ORGANIZATION_FIELDS = ("name", "description", "email", "website", "logo", "uri")
ORGANIZATION_KEYS = {"id", "name", "description", "email", "website", "logo", "uri", "parent_organization_id",
                     "organization_identifiers", "attributes"}


def add_organization(rows: StagingRows, org: dict, root: str) -> str:
    org_rid = _rid(org, root, "organization", 0)
    org_id = rows.add("organization", org_rid, {
        "parent_organization_id": staging_id(rows.source_id, "organization", str(org["parent_organization_id"]))
        if org.get("parent_organization_id") else None,
    }, extras={k: v for k, v in org.items() if k not in ORGANIZATION_KEYS} or None, root_record_id=root,
        pick_from=org, fields=ORGANIZATION_FIELDS)
    if "organization_identifiers" in org:
        add_each(rows, "organization_identifier", org["organization_identifiers"], org_rid,
                 ("identifier_scheme", "identifier_type", "identifier"), {"organization_id": org_id}, root)
    if "attributes" in org:
        add_attributes(rows, org["attributes"], org_id, "organization", org_rid, root)
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


TAXONOMY_TERM_FIELDS = ("name", "description", "taxonomy", "term_uri", "term")


def add_taxonomy_term(rows: StagingRows, term: dict, root: str) -> str:
    term_rid = _rid(term, root, "taxonomy_term", 0)
    taxonomy_id = None
    tax = term.get("taxonomy_detail") if isinstance(term.get("taxonomy_detail"), dict) else None
    if tax:
        taxonomy_id = rows.add("taxonomy", _rid(tax, term_rid, "taxonomy", 0), _NO_VALUES, root_record_id=root,
                               pick_from=tax, fields=("name", "description", "uri", "version"))
    elif term.get("taxonomy_id"):
        taxonomy_id = staging_id(rows.source_id, "taxonomy", str(term["taxonomy_id"]))
    return rows.add("taxonomy_term", term_rid, {
        "parent_id": staging_id(rows.source_id, "taxonomy_term", str(term["parent_id"])) if term.get("parent_id") else None,
        "taxonomy_id": taxonomy_id,
    }, root_record_id=root, pick_from=term, fields=TAXONOMY_TERM_FIELDS)


_NO_VALUES: dict = {}
LOCATION_FIELDS = ("name", "description", "latitude", "longitude", "external_identifier", "external_identifier_type")
ADDRESS_FIELDS = ("attention", "address_1", "city", "region", "state_province", "postal_code", "country")


def add_location(rows: StagingRows, loc: dict, root: str) -> str:
    loc_rid = _rid(loc, root, "location", 0)
    loc_id = rows.add("location", loc_rid, {"location_type": loc.get("location_type") or "physical"},
                      root_record_id=root, pick_from=loc, fields=LOCATION_FIELDS)
    for n, addr in enumerate(_list(loc.get("addresses"))):
        rows.add("address", _rid(addr, loc_rid, "address", n), {
            "location_id": loc_id, "address_type": addr.get("address_type") or "physical",
        }, root_record_id=root, pick_from=addr, fields=ADDRESS_FIELDS)
    if "accessibility" in loc:
        add_each(rows, "accessibility", loc["accessibility"], loc_rid, ("description", "details", "url", "accessibility"),
                 {"location_id": loc_id}, root)
    if "phones" in loc:
        add_each(rows, "phone", loc["phones"], loc_rid, ("number", "description"), {"location_id": loc_id}, root)
    if "attributes" in loc:
        add_attributes(rows, loc["attributes"], loc_id, "location", loc_rid, root)
    return loc_id


def add_contacts(rows: StagingRows, contacts: Any, service_id: str, record_id: str) -> None:
    """A service's contacts and their phones (the same in v1 and v3)."""
    for n, contact in enumerate(_list(contacts)):
        c_rid = _rid(contact, record_id, "contact", n)
        contact_id = rows.add("contact", c_rid, {"service_id": service_id}, root_record_id=record_id,
                              pick_from=contact, fields=("name", "title", "department", "email"))
        if "phones" in contact:
            add_each(rows, "phone", contact["phones"], c_rid, ("number", "description"),
                     {"contact_id": contact_id, "service_id": service_id}, record_id)


SCHEDULE_FIELDS = ("valid_from", "valid_to", "dtstart", "freq", "interval", "byday", "bymonthday", "description",
                   "opens_at", "closes_at", "schedule_link", "attending_type", "notes")


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

    of_service = {"service_id": service_id}
    if "schedules" in svc:
        add_each(rows, "schedule", svc["schedules"], record_id, SCHEDULE_FIELDS, of_service, record_id)
    if "service_areas" in svc:
        add_each(rows, "service_area", svc["service_areas"], record_id,
                 ("name", "extent", "extent_type", "uri", "service_area"), of_service, record_id)
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
    if "languages" in svc:
        add_each(rows, "language", svc["languages"], record_id, ("name", "code", "note"), of_service, record_id)
    for n, fund in enumerate(_list(svc.get("funding"))):
        rows.add("funding", _rid(fund, record_id, "funding", n),
                 {"service_id": service_id, "source": fund.get("source")}, root_record_id=record_id)
    if "cost_options" in svc:
        add_each(rows, "cost_option", svc["cost_options"], record_id,
                 ("valid_from", "valid_to", "option", "amount", "amount_description", "currency"), of_service, record_id)
    if "contacts" in svc:
        add_contacts(rows, svc["contacts"], service_id, record_id)
    if "phones" in svc:
        add_each(rows, "phone", svc["phones"], record_id, ("number", "description"), of_service, record_id)
    if "attributes" in svc:
        add_attributes(rows, svc["attributes"], service_id, "service", record_id, record_id)
    return service_id


_STRICT_JSON = json.JSONDecoder()  # strict: a raw control character in a string fails it
_LENIENT_JSON = json.JSONDecoder(strict=False)


def parse_raw_text(text: str) -> tuple[Any, bool]:
    """(payload, repair every string?) of a raw record's JSON text, with mojibake already
    repaired in the text when that is all it needs (see ``json_needs_repair``)."""
    # Most records have no \u escape (which may hide control characters) and no DEL. Then the
    # strict parser tells in passing whether any string holds a raw control character (it
    # refuses them), instead of a scan of the text first; mojibake is repaired in the text first.
    if ("\\" not in text or "\\u" not in text) and "\x7f" not in text:
        try:
            if not text.isascii() and json_has_mojibake_hint(text):
                return _STRICT_JSON.decode(repair_mojibake_in_json(text)), False
            return _STRICT_JSON.decode(text), False
        except ValueError:
            pass  # raw control characters (or not JSON at all): the careful way
    deep = json_needs_repair(text)
    if deep == "mojibake":  # only strings with mojibake need it: repair them in the text
        text, deep = repair_mojibake_in_json(text), False
    if text[:1] == "\ufeff":
        return json.loads(text, strict=False), deep  # (for its "Unexpected UTF-8 BOM" message)
    return _LENIENT_JSON.decode(text), deep


def normalise(source, records, rows: StagingRows) -> None:
    from connectors.oruk_v1 import normalise_v1_service

    for record_id, record_type, text, _where in records:
        try:
            if isinstance(text, str):
                payload, deep = parse_raw_text(text)
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
