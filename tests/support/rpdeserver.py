"""RPDE 1.0 feeds served by the faulty loopback server, for the OpenActive connector tests.

A ``RpdeFeed`` holds the current version of each item (as a publisher's database would) and
answers page requests the way RPDE says: items ordered by (modified, id), each page after the
cursor of the request, ``next`` = the cursor of the page's last item, and on the last page
(no items) ``next`` = the page's own URL. Changing an item bumps its ``modified`` so it reappears
at the end of the feed, which is what makes incremental harvesting work.

    with FaultyServer() as srv:
        feed = RpdeFeed(srv, "/feeds/session-series", items, ordering="timestamp", page_size=50)
        feed.upsert({...}); feed.delete("id-3")
"""
from __future__ import annotations

import copy
import itertools
import json
from typing import Any, Iterable
from urllib.parse import urlencode

from tests.support.faultyserver import FaultyServer, Reply


class RpdeFeed:
    def __init__(self, server: FaultyServer, path: str, items: Iterable[dict] = (), ordering: str = "timestamp",
                 page_size: int = 100, kind: str | None = None, modified_as_string: bool = False,
                 relative_next: bool = False, end_cache_seconds: int | None = None):
        if ordering not in ("timestamp", "changeNumber"):
            raise ValueError("ordering is 'timestamp' or 'changeNumber'")
        self.server, self.path, self.ordering, self.page_size = server, path, ordering, page_size
        self.kind = kind
        self.modified_as_string = modified_as_string
        self.relative_next = relative_next
        self.end_cache_seconds = end_cache_seconds
        self.items: dict[str, dict] = {}
        self.empty_hops: set[tuple] = set()  # cursors whose page is first answered empty, pointing on
        self.pages_served: list[str] = []
        for it in items:
            self.items[str(it["id"])] = copy.deepcopy(it)
        self._clock = itertools.count(max([int(i["modified"]) for i in self.items.values()] or [0]) + 1)
        server.route(path, self.handle)

    # -- the publisher's side -------------------------------------------------------------------
    def next_modified(self) -> int:
        return next(self._clock)

    def upsert(self, item: dict, modified: int | None = None) -> dict:
        it = copy.deepcopy(item)
        it.setdefault("state", "updated")
        if self.kind and "kind" not in it:
            it["kind"] = self.kind
        it["modified"] = modified if modified is not None else self.next_modified()
        self.items[str(it["id"])] = it
        return it

    def delete(self, item_id: str, modified: int | None = None) -> dict:
        old = self.items.get(str(item_id), {})
        tomb = {"id": item_id, "kind": old.get("kind", self.kind), "state": "deleted",
                "modified": modified if modified is not None else self.next_modified()}
        self.items[str(item_id)] = tomb
        return tomb

    @property
    def url(self) -> str:
        return self.server.url + self.path

    def live_ids(self) -> set[str]:
        return {i for i, it in self.items.items() if it.get("state") != "deleted"}

    # -- serving ----------------------------------------------------------------------------------
    def _key(self, it: dict) -> tuple:
        return (int(it["modified"]), str(it["id"]))

    def _cursor(self, q: dict) -> tuple | None:
        if self.ordering == "changeNumber":
            return (int(q["afterChangeNumber"]), "") if "afterChangeNumber" in q else None
        if "afterTimestamp" in q:
            return (int(q["afterTimestamp"]), q.get("afterId", ""))
        return None

    def _query(self, last: tuple) -> dict:
        if self.ordering == "changeNumber":
            return {"afterChangeNumber": last[0]}
        return {"afterTimestamp": last[0], "afterId": last[1]}

    def _link(self, query: dict) -> str:
        rel = self.path + ("?" + urlencode(query) if query else "")
        return rel if self.relative_next else self.server.url + rel

    def page(self, q: dict) -> dict:
        cursor = self._cursor(q)
        own = {k: v for k, v in q.items() if k in ("afterChangeNumber", "afterTimestamp", "afterId", "hop")}
        if cursor in self.empty_hops and "hop" not in q:
            # A legal empty page that points elsewhere (a publisher that filtered this page's items).
            return {"items": [], "next": self._link({**own, "hop": "1"}), "license": "https://creativecommons.org/licenses/by/4.0/"}
        ordered = sorted(self.items.values(), key=self._key)
        if cursor is not None:
            if self.ordering == "changeNumber":
                ordered = [it for it in ordered if int(it["modified"]) > cursor[0]]
            else:
                ordered = [it for it in ordered if self._key(it) > cursor]
        chunk = ordered[: self.page_size]
        out = []
        for it in chunk:
            it = dict(it)
            if self.modified_as_string:
                it["modified"] = str(it["modified"])
            out.append(it)
        next_q = self._query(self._key(chunk[-1])) if chunk else own
        return {"items": out, "next": self._link(next_q), "license": "https://creativecommons.org/licenses/by/4.0/"}

    def handle(self, q: dict, headers: dict) -> Reply:
        doc = self.page(q)
        self.pages_served.append(json.dumps(q, sort_keys=True))
        extra = {}
        if not doc["items"] and self.end_cache_seconds is not None:
            extra["Cache-Control"] = f"public, max-age={self.end_cache_seconds}"
        return Reply.json(doc, content_type="application/vnd.openactive.rpde+json; version=1", **extra)


def dataset_site_html(name: str, distributions: list[dict], extra_head: str = "") -> str:
    """A dataset site page as the OpenActive template renders it: JSON-LD Dataset in <head>."""
    doc = {"@context": ["https://schema.org/", "https://openactive.io/"], "@type": "Dataset", "name": name,
           "distribution": [{"@type": "DataDownload", "encodingFormat": "application/vnd.openactive.rpde+json; version=1",
                             **d} for d in distributions]}
    return ("<!DOCTYPE html><html><head><title>" + name + "</title>" + extra_head
            + '<script type="application/ld+json">' + json.dumps(doc) + "</script></head>"
            "<body><h1>" + name + "</h1></body></html>")


def split_real_page(doc: dict) -> list[dict]:
    """The items of a captured RPDE page, to be served again as a feed of several linked pages."""
    return [copy.deepcopy(i) for i in doc["items"]]


def any_json(doc: Any) -> Reply:
    return Reply.json(doc, content_type="application/ld+json")
