"""OpenActive connector: discover RPDE feeds and harvest them incrementally.

A source's ``url`` may be a data catalog collection, a data catalog, a dataset site (HTML with a
JSON-LD ``Dataset``) or an RPDE feed; which one is detected from the response. ``feeds:`` lists
feed URLs directly. ``path:`` reads RPDE pages from local files (the offline demo).

RPDE 1.0 rules followed here:
- follow ``next`` until a page has no items AND ``next`` is the page's own URL (an empty page
  that points elsewhere is legal: keep going);
- both orderings (``afterTimestamp``+``afterId`` and ``afterChangeNumber``); ``modified`` is a
  64-bit integer (up to 2^60), sent as a number or a string;
- ``state: deleted`` items are tombstones; when an id repeats, the highest ``modified`` wins;
- the next run starts from the last ``next`` URL of each feed (``INCREMENTAL``), on top of the
  last good raw records; a full re-read starts from nothing, so records not seen again retire;
- the end of a feed is polled no faster than every 8 s (or its ``Cache-Control: max-age``).

Retries, backoff, Retry-After, the time budget and politeness are ``connectors.http``'s. A 404 or
410 stops that feed and the harvest reports ``partial`` (or ``failed``) naming the URL; the last
good snapshot stays in force.
"""
from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urljoin, urlsplit

from connectors.base import HarvestError, HarvestOutcome
from connectors.config import ConfigError
from connectors.http import FetchError, HttpClient, HttpPolicy, looks_like_html, parse_json_body
from connectors.openactive.activities import ACTIVITY_LIST_URL, load_activity_list
from connectors.openactive.jsonld import oa_type
from connectors.openactive.services import normalise_items
from connectors.staging import StagingRows

INCREMENTAL = True
END_POLL_SECONDS = 8.0     # RPDE: poll the last page no faster than this
DEFAULT_MAX_PAGES = 10000  # per feed per run; the rest is read next run
MAX_DISCOVERY_DEPTH = 3
FEED_KINDS = ("SessionSeries", "ScheduledSession", "FacilityUse", "IndividualFacilityUse", "Slot",
              "CourseInstance", "EventSeries", "Event", "HeadlineEvent", "OnDemandEvent", "Course")
DISCOVERY_ACCEPT = "application/ld+json, application/json;q=0.9, text/html;q=0.8, */*;q=0.5"


# -- feeds and their kinds ---------------------------------------------------------------------
@dataclass
class Feed:
    url: str
    kind: str = "unknown"
    dataset: str | None = None
    first_page: tuple[Any, Any] | None = None  # (doc, FetchResult) when discovery already read it


def feed_kind(additional_type: Any = None, name: Any = None, identifier: Any = None) -> str:
    """Distribution → feed kind: ``additionalType`` first; non-standard publishers only name it."""
    for value in (additional_type, identifier, name):
        if not isinstance(value, str) or not value.strip():
            continue
        tail = re.split(r"[/#:]", value.strip())[-1]
        squashed = re.sub(r"[^a-z]", "", tail.lower())
        for k in FEED_KINDS:
            if squashed == k.lower():
                return k
        if "slot" in squashed:
            return "Slot"
        for k in FEED_KINDS:
            if k.lower() in squashed or k.lower() + "s" in squashed:
                return k
        if "session" in squashed and "series" not in squashed:
            return "ScheduledSession"
    return "unknown"


def kind_from_url(url: str) -> str:
    path = urlsplit(url).path.lower().replace("-", "").replace("_", "")
    for k in ("SessionSeries", "ScheduledSession", "IndividualFacilityUse", "FacilityUse", "Slot",
              "CourseInstance", "EventSeries"):
        if k.lower() in path:
            return k
    return "unknown"


def same_url(a: str, b: str) -> bool:
    """RPDE's "next equals this page's URL": equal up to query parameter order and encoding."""
    def norm(u: str) -> tuple:
        p = urlsplit(u)
        return (p.scheme.lower(), p.netloc.lower(), p.path.rstrip("/") or "/", tuple(sorted(parse_qsl(p.query, keep_blank_values=True))))
    return norm(a) == norm(b)


def ordering_of(url: str) -> str | None:
    q = dict(parse_qsl(urlsplit(url).query))
    if "afterChangeNumber" in q:
        return "changeNumber"
    if "afterTimestamp" in q or "afterId" in q:
        return "timestamp"
    return None


def parse_modified(value: Any) -> int | None:
    """RPDE ``modified``: an integer up to 2^60, sometimes sent as a string; kept exact."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else None
    s = str(value).strip()
    if re.fullmatch(r"-?\d+", s):
        return int(s)
    return None


# -- discovery ---------------------------------------------------------------------------------
_JSONLD_RE = re.compile(r"<script[^>]*type\s*=\s*[\"']application/ld\+json[\"'][^>]*>(.*?)</script>", re.I | re.S)


def jsonld_blocks(html: str) -> list[dict]:
    docs: list[dict] = []
    for block in _JSONLD_RE.findall(html):
        try:
            doc = json.loads(block.strip(), strict=False)
        except json.JSONDecodeError:
            continue
        for d in doc if isinstance(doc, list) else [doc]:
            if isinstance(d, dict):
                docs.append(d)
                docs.extend(g for g in d.get("@graph", []) if isinstance(g, dict))
    return docs


def feeds_of_dataset(dataset: dict, base_url: str) -> list[Feed]:
    feeds = []
    for dist in dataset.get("distribution") or []:
        if not isinstance(dist, dict):
            continue
        url = dist.get("contentUrl") or dist.get("url")
        fmt = str(dist.get("encodingFormat") or "")
        if not isinstance(url, str) or not url.strip() or (fmt and "rpde" not in fmt and "json" not in fmt):
            continue
        kind = feed_kind(dist.get("additionalType"), dist.get("name"), dist.get("identifier"))
        feeds.append(Feed(urljoin(base_url, url.strip()), kind, dataset=base_url))
    return feeds


def is_rpde_page(doc: Any) -> bool:
    return isinstance(doc, dict) and isinstance(doc.get("items"), list) and "next" in doc


def discover(client: HttpClient, url: str, problems: list[str], depth: int = 0) -> tuple[str, list[Feed]]:
    """What ``url`` is (collection, catalog, dataset, feed) and the feeds under it."""
    res = client.get(url, headers={"Accept": DISCOVERY_ACCEPT})
    if looks_like_html(res.body):
        datasets = [d for d in jsonld_blocks(res.body.decode("utf-8", errors="replace")) if oa_type(d) == "Dataset"]
        if not datasets:
            raise FetchError(res.url, "an HTML page with no JSON-LD Dataset in a <script type=\"application/ld+json\"> "
                                      "block; give the dataset site, a data catalog or an RPDE feed URL")
        return "dataset", [f for d in datasets for f in feeds_of_dataset(d, res.url)]
    doc = parse_json_body(res.body, res.url)
    if is_rpde_page(doc):
        kind = next((str(i.get("kind")) for i in doc["items"] if isinstance(i, dict) and i.get("kind")), None)
        return "feed", [Feed(url, feed_kind(kind) if kind else kind_from_url(url), first_page=(doc, res))]
    typ = oa_type(doc)
    if typ == "Dataset":
        return "dataset", feeds_of_dataset(doc, res.url)
    if typ == "DataCatalog" or (isinstance(doc, dict) and ("hasPart" in doc or "dataset" in doc)):
        if depth >= MAX_DISCOVERY_DEPTH:
            raise FetchError(res.url, f"catalogs nested more than {MAX_DISCOVERY_DEPTH} deep; is there a loop?")
        parts = [("collection", p) for p in doc.get("hasPart") or []] + [("catalog", d) for d in doc.get("dataset") or []]
        feeds: list[Feed] = []
        for _what, part in parts:
            part_url = part if isinstance(part, str) else (part.get("@id") or part.get("url") if isinstance(part, dict) else None)
            if not part_url:
                continue
            try:
                feeds.extend(discover(client, urljoin(res.url, part_url), problems, depth + 1)[1])
            except FetchError as exc:
                problems.append(str(exc))
        return ("collection" if doc.get("hasPart") else "catalog"), feeds
    raise FetchError(res.url, "not a data catalog, dataset site or RPDE feed (no items/next, no Dataset or DataCatalog); "
                              "check the source's url")


def discover_feeds(source, client: HttpClient, state: dict, problems: list[str]) -> tuple[list[Feed], dict]:
    feeds: list[Feed] = []
    opt = source.option("feeds") or []
    if isinstance(opt, str):
        opt = [opt]
    if not isinstance(opt, list) or not all(isinstance(u, str) and u.strip() for u in opt):
        raise ConfigError(f"source '{source.id}': field 'feeds': must be a list of RPDE feed URLs")
    for u in opt:
        feeds.append(Feed(u.strip(), kind_from_url(u)))
    discovery: dict = {}
    if source.url:
        prev = state.get("discovery") or {}
        if prev.get("url") == source.url and prev.get("type") == "feed" and state.get("feeds", {}).get(source.url):
            # A feed URL need not be read again just to know it is a feed: resume where we were.
            feeds.append(Feed(source.url, prev.get("kind") or "unknown"))
            discovery = prev
        else:
            what, found = discover(client, source.url, problems)
            discovery = {"url": source.url, "type": what, "kind": found[0].kind if what == "feed" and found else None}
            feeds.extend(found)
    kinds = source.option("feed_kinds")
    if kinds:
        wanted = {feed_kind(k) for k in as_str_list(kinds, source, "feed_kinds")}
        feeds = [f for f in feeds if f.kind in wanted]
    unique: dict[str, Feed] = {}
    for f in feeds:
        unique.setdefault(f.url, f)
    return list(unique.values()), discovery


def as_str_list(value: Any, source, name: str) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    raise ConfigError(f"source '{source.id}': field '{name}': must be a list of strings")


# -- harvesting one feed ----------------------------------------------------------------------
@dataclass
class FeedRun:
    url: str
    kind: str
    state: dict
    pages: int = 0
    updated: int = 0
    deleted: int = 0
    stale: int = 0
    polled: bool = True
    error: str | None = None


def max_age_of(headers) -> float | None:
    cc = headers.get("Cache-Control") if headers is not None else None
    m = re.search(r"max-age\s*=\s*(\d+)", cc or "")
    return float(m.group(1)) if m else None


def fetch_page(client: HttpClient, url: str) -> tuple[dict, Any]:
    """One RPDE page. Truncated or garbled bodies are fetched again by ``HttpClient.get_json``."""
    doc, res = client.get_json(url)
    if not is_rpde_page(doc):
        raise FetchError(res.url, "not an RPDE page (expected an object with 'items' and 'next')")
    return doc, res


class RawApplier:
    """Applies RPDE items to the snapshot's raw records: highest ``modified`` wins per record."""

    def __init__(self, writer, known):
        self.writer = writer
        # A dict, or a function that reads it: read on the first item, so that a night on which a
        # feed has nothing new never opens the snapshot being written (see SnapshotWriter).
        self._known = known
        # Tombstones are applied once per page (one DELETE, not one per item). An id put again
        # after its tombstone leaves the set; one put before it is removed after the flush.
        self.pending_deletes: set[str] = set()

    @property
    def known(self) -> dict[str, int | None]:
        if callable(self._known):
            self._known = self._known()
        return self._known

    def end_page(self) -> None:
        if self.pending_deletes:
            self.writer.delete_raw_many(self.pending_deletes)
            self.pending_deletes.clear()

    def apply(self, item: Any, feed: Feed, page_url: str, run: FeedRun) -> None:
        if not isinstance(item, dict) or item.get("id") in (None, ""):
            run.stale += 1
            return
        kind = str(item.get("kind") or feed.kind)
        record_id = f"{kind}/{item['id']}"
        modified = parse_modified(item.get("modified"))
        prev = self.known.get(record_id)
        if prev is not None and modified is not None and modified < prev:
            run.stale += 1  # an older version arriving late: the newer one stays
            return
        self.known[record_id] = modified if modified is not None else prev
        if str(item.get("state", "")).lower() == "deleted":
            self.pending_deletes.add(record_id)
            run.deleted += 1
            return
        self.pending_deletes.discard(record_id)
        data = item.get("data") if isinstance(item.get("data"), dict) else {}
        self.writer.put_raw(record_id, oa_type(data) or kind, item, page_url)
        run.updated += 1


def harvest_feed(client: HttpClient, applier: RawApplier, feed: Feed, fstate: dict, max_pages: int,
                 now: float | None = None) -> FeedRun:
    now = time.time() if now is None else now
    url = fstate.get("next") or feed.url
    run = FeedRun(feed.url, feed.kind, dict(fstate))
    run.state.setdefault("kind", feed.kind)
    if fstate.get("at_end") and fstate.get("next") == url and fstate.get("polled_at"):
        wait = max(END_POLL_SECONDS, float(fstate.get("max_age") or 0))
        if now - float(fstate["polled_at"]) < wait:
            run.polled = False  # polled the end moments ago: too soon to ask again
            return run
    first = feed.first_page if feed.first_page and same_url(url, feed.url) else None
    visited: set[str] = set()
    while True:
        if run.pages >= max_pages:
            run.state.update(next=url, at_end=False)
            break
        try:
            doc, res = first if first else fetch_page(client, url)
        except FetchError as exc:
            stop = " (feed gone: stopped)" if exc.status in (404, 410) else ""
            run.error = f"{exc}{stop}"
            run.state.update(next=url, at_end=False)
            return run
        first = None
        run.pages += 1
        items = doc.get("items") or []
        for item in items:
            applier.apply(item, feed, url, run)
        applier.end_page()
        run.state["items"] = int(run.state.get("items", 0)) + len(items)
        nxt = doc.get("next")
        if not isinstance(nxt, str) or not nxt.strip():
            run.error = f"{url}: RPDE page has no 'next' URL; the feed cannot be followed"
            run.state.update(next=url, at_end=False)
            return run
        nxt = urljoin(url, nxt.strip())
        run.state["ordering"] = ordering_of(nxt) or run.state.get("ordering")
        if same_url(nxt, url):
            # The end (RPDE: no items, next = this page). A page WITH items that points at itself
            # would loop forever, so it ends the crawl too; the next run polls it again.
            run.state.update(next=url, at_end=True, polled_at=time.time(), max_age=max_age_of(res.headers))
            break
        if nxt in visited:
            run.error = f"{nxt}: the feed's next links loop back to an earlier page"
            run.state.update(next=url, at_end=False)
            return run
        visited.add(url)
        url = nxt
    run.state["pages"] = int(run.state.get("pages", 0)) + run.pages
    return run


def known_modified(writer) -> dict[str, int | None]:
    """``modified`` of each record carried forward, so a late, older copy can't overwrite it."""
    writer.flush_raw()
    rows = writer.con.execute("SELECT record_id, payload->>'$.modified' FROM raw.record").fetchall()
    return {rid: parse_modified(m) for rid, m in rows}


# -- the connector entry points ------------------------------------------------------------------
def harvest(source, writer, state: dict, ctx) -> HarvestOutcome:
    full = bool(ctx.full_reread) or bool(source.option("full_reread"))
    if full:
        state = {}
        # Everything must be seen again; unseen records retire. (placecat run --full-reread
        # already starts empty; a source configured with full_reread: true starts empty here.)
        writer.flush_raw()
        writer.con.execute("DELETE FROM raw.record")
    if source.path is not None:
        return harvest_local(source, writer, state)
    with HttpClient(HttpPolicy.from_source(source)) as client:
        return harvest_remote(source, writer, state, client)


def harvest_remote(source, writer, state: dict, client: HttpClient) -> HarvestOutcome:
    problems: list[str] = []
    try:
        feeds, discovery = discover_feeds(source, client, state, problems)
    except FetchError as exc:
        raise HarvestError(f"discovery failed: {exc}") from None
    if not feeds:
        raise HarvestError(f"{source.locator}: no RPDE feeds found" + (f" ({problems[0]})" if problems else ""))
    max_pages = int(source.option("max_pages") or DEFAULT_MAX_PAGES)
    applier = RawApplier(writer, functools.partial(known_modified, writer))
    old_feeds = dict(state.get("feeds") or {})
    new_feeds = dict(old_feeds)  # feeds not seen this run keep their position
    runs: list[FeedRun] = []
    for feed in feeds:
        run = harvest_feed(client, applier, feed, old_feeds.get(feed.url) or {}, max_pages)
        new_feeds[feed.url] = run.state
        runs.append(run)
        if run.error:
            problems.append(run.error)
    stats = {
        "feeds": len(runs), "pages": sum(r.pages for r in runs), "updated": sum(r.updated for r in runs),
        "deleted": sum(r.deleted for r in runs), "stale_or_bad": sum(r.stale for r in runs),
        "requests": client.requests_made, "retries": client.retries_made,
        "per_feed": {r.url: {"kind": r.kind, "pages": r.pages, "updated": r.updated, "deleted": r.deleted,
                             "polled": r.polled, "error": r.error} for r in runs},
    }
    new_state = {"discovery": discovery, "feeds": new_feeds}
    changed = stats["updated"] + stats["deleted"]
    if problems:
        ok = [r for r in runs if not r.error]
        status = "partial" if ok or changed else "failed"
        more = f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""
        return HarvestOutcome(status, problems[0] + more, records=changed, pages=stats["pages"],
                              state=new_state, stats=stats)
    if changed == 0 and state.get("feeds"):
        return HarvestOutcome("unchanged", f"no changes in {len(runs)} feed(s)", pages=stats["pages"],
                              state=new_state, stats=stats)
    msg = f"{stats['updated']} updated, {stats['deleted']} deleted from {len(runs)} feed(s), {stats['pages']} page(s)"
    unfinished = [r.url for r in runs if r.polled and not r.state.get("at_end")]
    if unfinished:
        msg += f"; {len(unfinished)} feed(s) stopped at max_pages and continue next run"
    return HarvestOutcome("complete", msg, records=changed, pages=stats["pages"], state=new_state, stats=stats)


def harvest_local(source, writer, state: dict) -> HarvestOutcome:
    """RPDE pages saved as files (a folder of .json pages, read in name order, or one page)."""
    path = Path(source.path)
    files = sorted(p for p in path.rglob("*.json") if p.is_file()) if path.is_dir() else [path]
    if not files:
        raise HarvestError(f"{path}: folder holds no .json RPDE pages")
    digest = hashlib.sha256()
    for f in files:
        digest.update(f.name.encode())
        digest.update(f.read_bytes())
    if state.get("files_hash") == digest.hexdigest():
        return HarvestOutcome("unchanged", "files unchanged since the last harvest", state=state)
    applier = RawApplier(writer, functools.partial(known_modified, writer))
    run = FeedRun(str(path), "unknown", {})
    for f in files:
        try:
            doc = parse_json_body(f.read_bytes(), str(f))
        except FetchError as exc:
            raise HarvestError(str(exc)) from None
        if not is_rpde_page(doc):
            raise HarvestError(f"{f}: not an RPDE page (expected an object with 'items' and 'next')")
        feed = Feed(str(f), kind_from_url(f.name))
        for item in doc["items"]:
            applier.apply(item, feed, str(f), run)
        applier.end_page()
        run.pages += 1
    return HarvestOutcome("complete", f"{run.updated} updated, {run.deleted} deleted from {len(files)} file(s)",
                          records=run.updated + run.deleted, pages=run.pages,
                          state={"files_hash": digest.hexdigest()},
                          stats={"pages": run.pages, "updated": run.updated, "deleted": run.deleted})


def activity_list_for(source, rows: StagingRows):
    """The configured activity list (file or URL; canonical URL by default), or None with an issue."""
    loc = source.option("activity_list") or ACTIVITY_LIST_URL
    if not re.match(r"^https?://", str(loc)):
        loc = source.resolve(str(loc))
        if not Path(loc).exists():
            raise ConfigError(f"source '{source.id}': field 'activity_list': {loc} does not exist; "
                              f"give a file or the URL {ACTIVITY_LIST_URL}")

    def fetch(url: str) -> bytes:
        policy = HttpPolicy.from_source(source)
        policy.max_retries, policy.time_budget = 1, min(policy.time_budget, 60.0)
        with HttpClient(policy) as client:
            return client.get(url).body

    try:
        return load_activity_list(loc, fetch=fetch)
    except Exception as exc:
        rows.issue(None, "taxonomy_term", "activity", "activity_list",
                   f"could not read the OpenActive activity list from {loc} ({exc}); activities kept in extras only",
                   "warning")
        return None


def as_of_for(source) -> dt.datetime | None:
    v = source.option("as_of")
    if v in (None, ""):
        return None
    if isinstance(v, dt.datetime):
        return v
    if isinstance(v, dt.date):
        return dt.datetime(v.year, v.month, v.day, tzinfo=dt.timezone.utc)
    try:
        t = dt.datetime.fromisoformat(str(v))
    except ValueError:
        raise ConfigError(f"source '{source.id}': field 'as_of': {v!r} is not a date (YYYY-MM-DD)") from None
    return t if t.tzinfo else t.replace(tzinfo=dt.timezone.utc)


def normalise(source, records, rows: StagingRows) -> None:
    activities = activity_list_for(source, rows)

    def parsed():
        for record_id, _type, payload, _where in records:
            try:
                yield record_id, json.loads(payload)
            except (TypeError, json.JSONDecodeError) as exc:
                rows.issue(record_id, "service", None, "json", f"raw record is not JSON ({exc})", "blocking")

    normalise_items(parsed(), rows, activities, as_of_for(source))
