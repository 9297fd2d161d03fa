"""Reading an ORUK API's ``/services`` page by page (and ``/services/{id}`` when list items lack
their nested objects).

Page 1 first, then the rest concurrently, bounded per host, in order a few pages ahead; servers
that ignore ``per_page``, lie about ``total_pages``, serve empty pages part-way, serve page 1 for
every page number or loop are detected. Page hashes and ETag/Last-Modified validators are kept in
the harvest state, so an unchanged feed costs one conditional request per page.
"""
from __future__ import annotations

import hashlib
import json
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator
from urllib.parse import quote

from connectors.base import HarvestError, HarvestOutcome
from connectors.http import FetchError, FetchResult, HttpClient
from connectors.oruk.discovery import (DEFAULT_MAX_PAGES, DEFAULT_PER_PAGE, V1_NESTED, V3_NESTED, RootAnswer,
                                       api_base, detect_version, read_root, record_type_for, shape_of)
from connectors.oruk.page_text import parse_page_body
from connectors.text import repair_text


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
        self.shapes: set[str] = set()           # the versions the services' own keys show (discovery.shape_of)
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
            self.note_shapes(item for _rid, item, _text in entries)
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
            else:
                self.note_shapes((detail,))
            self.writer.put_raw(rid, rtype, {**item, **detail} if detail else item, detail_url if detail else url)
        for rid, item, text in entries:  # list entries without an id: as listed
            if rid not in done:
                done.add(rid)
                self.writer.put_raw(rid, rtype, text if text is not None else item, url)

    def note_shapes(self, objects) -> None:
        for obj in objects:
            shape = shape_of(obj)
            if shape is not None:
                self.shapes.add(shape)

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
    try:
        version, how, note, root = choose_version(source, client, state.get("version"))
    except VersionConflict as exc:
        return HarvestOutcome("partial", str(exc))
    if state.get("version") and state.get("version") != version:
        state = {}  # a feed pinned to another version shares nothing with its past
    outcome, shapes = _harvest_as(source, writer, state, client, version, how)
    other = sorted(shapes - {version})
    if other and outcome.status in ("complete", "unchanged") and root is not None and root.strength != "says" \
            and not state.get("version"):
        # A new source whose root says nothing firm: its services' own shape decides, read again.
        writer.clear_raw()
        version, how = other[0], f"its services are ORUK v{other[0]} ({root.detail})"
        note = f"{root.detail}, but its services are ORUK v{version}: read as v{version}; pin `version: {version}`"
        outcome, shapes = _harvest_as(source, writer, state, client, version, how)
        other = sorted(shapes - {version})
    elif note is None and root is not None and root.strength == "none":
        note = f"{root.detail}; read as ORUK v{version}" + (", as its services show" if shapes else "")
    if other and outcome.status in ("complete", "unchanged") and root is not None:
        return HarvestOutcome("partial", f"the pages hold ORUK v{other[0]} services, but the feed was read as v{version} "
                                         f"({how}); nothing was re-mapped. If the publisher moved to v{other[0]}, pin "
                                         f"`version: {other[0]}` on the source", pages=outcome.pages, stats=outcome.stats)
    if note and outcome.status == "complete":
        outcome.stats["degraded"] = note
        outcome.message += f"; {note}"
    return outcome


def _harvest_as(source, writer, state: dict, client: HttpClient, version: str, how: str) -> tuple[HarvestOutcome, set]:
    feed = FeedHarvest(source, writer, state, client, version)
    try:
        return _harvest_feed(feed, state, client, version, how), feed.shapes
    finally:
        feed.close()


class VersionConflict(Exception):
    """The feed's answers about its version disagree with what this source has been; one line."""


def choose_version(source, client: HttpClient, known: str | None) -> tuple[str, str, str | None, RootAnswer | None]:
    """(version, how it was decided, why tonight is degraded or None, what the root said) from the
    evidence: a pinned version wins (and the root is not asked: None); else ``GET /`` and the version
    of the last good harvest (``known``), which is kept once seen. Raises VersionConflict when the
    root now says another version."""
    base = api_base(source.url)
    pinned = source.option("version")
    if pinned not in (None, ""):
        version, how = detect_version(client, base, pinned)
        return version, how, None, None
    root = read_root(client, base)
    if known is None:
        return root.version or "1", root.detail, None, root
    if root.strength == "says" and root.version != known:
        raise VersionConflict(f"{root.detail}, but this source was ORUK v{known} at its last good harvest; nothing was "
                              f"re-mapped. If the publisher really moved to v{root.version}, pin `version: "
                              f"{root.version}` on the source")
    if root.version == known:
        return known, root.detail, None, root
    return known, f"v{known} as at the last good harvest", (
        f"{root.detail}; read as ORUK v{known}, as at the last good harvest, and the pages agree"), root


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
