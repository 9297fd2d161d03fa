"""Finding an ORUK feed's API base and its version (v1 or v3), and telling v1 items from v3.

The version comes from evidence, not from one answer. ``GET /`` gives one piece (``version`` such
as "HSDS-UK-3.0", or an ``openapi_url``: v3; JSON naming no version, or an error status: v1, weakly;
an HTML page or unreadable body: nothing); the shape of the services the pages hold gives another
(``shape_of``); the version of the source's last good harvest a third: once seen, a version is
kept. A root that says another version, an HTML root, or pages that contradict the version make a
``degraded`` night (see ``paging.harvest_http``), never a silent re-map: an HTML page on the root
of a v3 feed once had it read as v1, and schedules, addresses and taxonomy fell to nothing.
``version: 1 | 3`` in the source pins it.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from connectors.base import HarvestError
from connectors.http import FetchError, HttpClient, looks_like_html, parse_json_body

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


V3_ONLY = ("schedules", "attributes")  # v3 service keys that v1 spells otherwise (regular_schedules, ...)


def shape_of(item: Any) -> str | None:
    """"1" or "3" when a service object's keys say which version it is in, else None (a bare list
    entry, or keys common to both)."""
    if not isinstance(item, dict):
        return None
    if looks_like_v1(item):
        return "1"
    if any(k in item for k in V3_ONLY):
        return "3"
    return None


@dataclass
class RootAnswer:
    version: str | None   # what GET / says ("1" or "3"), or None
    strength: str         # says (it names a version) | weak (JSON naming none, or an error status: v1) | none
    detail: str           # how, for messages


def read_root(client: HttpClient, base: str) -> RootAnswer:
    """What ``GET /`` says about the version."""
    res = client.get(base + "/", accept_statuses=(400, 401, 403, 404, 405, 406, 410))
    if res.status >= 400:
        return RootAnswer("1", "weak", f"GET / answered HTTP {res.status}")
    if looks_like_html(res.body):
        return RootAnswer(None, "none", "GET / served an HTML page, not the API's JSON root")
    try:
        doc = parse_json_body(res.body, res.url)
    except FetchError:
        return RootAnswer(None, "none", "GET / is not JSON")
    found = version_from_root(doc)
    if found:
        return RootAnswer(found, "says", f"GET / says v{found}")
    return RootAnswer("1", "weak", "GET / names no version")


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
