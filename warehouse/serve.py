"""Serve the catalogue as a read-only ORUK v3 API (plus /v1 compatibility and the /changes RPDE feed).

``placecat serve --db FILE [--host H] [--port P] [--profile NAME --profiles FILE]``

The whole published slice is loaded into memory once (``Snapshot``): nested documents are
serialised up front, so ``/services/{id}`` is a dictionary lookup, and list filters run on an
in-memory DuckDB copy. The nightly job replaces the catalogue file by an atomic rename; a
watcher thread notices the new file (inode, size, mtime), builds a new snapshot from it in the
background and swaps it in only once it is complete, so a half-built catalogue is never served
and the old one keeps answering meanwhile.
"""
from __future__ import annotations

import argparse
import email.utils
import hashlib
import json
import logging
import re
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.middleware.gzip import GZipMiddleware

from warehouse import oruk_json
from warehouse.changes import rpde_page
from warehouse.profiles import CatalogueUnavailable, ProfileError, resolve_profile
from warehouse.model import BYDAY_WEEK
from warehouse.served import Snapshot, SnapshotHolder, normalise_postcode

log = logging.getLogger("placecat.serve")

ORUK_VERSION = "HSDS-UK-3.0"
ORUK_PROFILE_URL = "https://github.com/OpenReferralUK/uk-profile/blob/main/docs/index.md"
DEFAULT_PER_PAGE = 50
MAX_PER_PAGE = 500
MAX_FEED_LIMIT = 1000
DAYS = {"MO": "MO", "TU": "TU", "WE": "WE", "TH": "TH", "FR": "FR", "SA": "SA", "SU": "SU",
        "MONDAY": "MO", "TUESDAY": "TU", "WEDNESDAY": "WE", "THURSDAY": "TH", "FRIDAY": "FR",
        "SATURDAY": "SA", "SUNDAY": "SU", "MON": "MO", "TUE": "TU", "WED": "WE", "THU": "TH",
        "FRI": "FR", "SAT": "SA", "SUN": "SU"}
TIME_RE = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)(?::([0-5]\d))?$")
POSTCODE_RE = re.compile(r"^[A-Z]{1,2}\d[A-Z\d]?\d[A-Z]{2}$")


# -- HTTP ------------------------------------------------------------------------------------------
class CORSAllOrigins:
    """Access-Control-Allow-Origin: * on every response (pure ASGI: no per-request overhead to speak of)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_with_cors(message):
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((b"access-control-allow-origin", b"*"))
                headers.append((b"access-control-expose-headers", b"ETag, Last-Modified"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_cors)


def _etag(snap: Snapshot, request: Request) -> str:
    key = request.url.path + "?" + request.url.query
    return f'"{snap.tag}-{hashlib.blake2b(key.encode(), digest_size=6).hexdigest()}"'


def _not_modified(request: Request, etag: str, snap: Snapshot) -> bool:
    inm = request.headers.get("if-none-match")
    if inm is not None:
        return etag in [t.strip().removeprefix("W/") for t in inm.split(",")] or inm.strip() == "*"
    ims = request.headers.get("if-modified-since")
    if ims:
        try:
            return int(email.utils.parsedate_to_datetime(ims).timestamp()) >= snap.last_modified_ts
        except (TypeError, ValueError):
            return False
    return False


def _found(mapping: dict, key: str, what: str):
    """The published object with this id, or a 404 naming what was asked for."""
    value = mapping.get(key)
    if value is None:
        raise HTTPException(404, f"no {what} with id {key}")
    return value


def _one(request: Request, snap: Snapshot, table: str, key: str, what: str) -> Response:
    """One object by id from the snapshot's ``table`` (its serialised objects by id), or 404."""
    return _respond(request, snap, _found(getattr(snap, table), key, what))


def _respond(request: Request, snap: Snapshot, body: bytes | Any, status: int = 200) -> Response:
    etag = _etag(snap, request)
    headers = {"ETag": etag, "Last-Modified": snap.last_modified, "Cache-Control": "public, max-age=60"}
    if status == 200 and _not_modified(request, etag, snap):
        return Response(status_code=304, headers=headers)
    if not isinstance(body, bytes):
        body = oruk_json.dumps(body)
    return Response(content=body, status_code=status, media_type="application/json", headers=headers)


def _page_args(page: int, per_page: int) -> tuple[int, int]:
    if page < 1:
        raise HTTPException(400, "page: pages are numbered from 1")
    if per_page < 1:
        raise HTTPException(400, "per_page: must be at least 1")
    return page, min(per_page, MAX_PER_PAGE)


def _parse_time(value: str | None, name: str) -> str | None:
    if value is None or value == "":
        return None
    m = TIME_RE.match(value.strip())
    if not m:
        raise HTTPException(400, f"{name}: '{value}' is not a time; write HH:MM or HH:MM:SS")
    return f"{int(m.group(1)):02d}:{m.group(2)}:{m.group(3) or '00'}"


@dataclass
class ServiceFilters:
    search: str | None = None
    taxonomy_term_id: str | None = None
    taxonomy_id: str | None = None
    organization_id: str | None = None
    minimum_age: float | None = None
    maximum_age: float | None = None
    day: str | None = None
    start_time: str | None = None
    end_time: str | None = None
    modified_after: str | None = None

    def any(self) -> bool:
        return any(v not in (None, "") for v in self.__dict__.values())

    def where(self) -> tuple[str, list]:
        conds, args = [], []
        if self.search:
            for word in self.search.lower().split():
                conds.append("s.text LIKE ? ESCAPE '\\'")
                args.append("%" + word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%")
        if self.taxonomy_term_id:
            conds.append("s.id IN (SELECT service_id FROM svc_term WHERE term_id = ?)")
            args.append(self.taxonomy_term_id)
        if self.taxonomy_id:
            conds.append("s.id IN (SELECT service_id FROM svc_term WHERE taxonomy_id = ? OR taxonomy_name = lower(?))")
            args += [self.taxonomy_id, self.taxonomy_id]
        if self.organization_id:
            conds.append("s.organization_id = ?")
            args.append(self.organization_id)
        # ORUK: minimum_age "of at least" the value, maximum_age "equal to or below" it.
        if self.minimum_age is not None:
            conds.append("s.minimum_age >= ?")
            args.append(self.minimum_age)
        if self.maximum_age is not None:
            conds.append("s.maximum_age <= ?")
            args.append(self.maximum_age)
        sched = []
        if self.day:
            code = DAYS.get(self.day.strip().upper())
            if code is None:
                raise HTTPException(400, f"day: '{self.day}' is not a day; use MO, TU, WE, TH, FR, SA, SU or a day name")
            # a monthly day carries its week ('2TU': second Tuesday): a Tuesday all the same
            sched.append("list_contains(list_transform(string_split(replace(byday, ' ', ''), ','), "
                         f"lambda d: regexp_replace(d, '{BYDAY_WEEK}', '')), ?)")
            args.append(code)
        start = _parse_time(self.start_time, "start_time")
        end = _parse_time(self.end_time, "end_time")
        if start:
            sched.append("opens_at >= CAST(? AS TIME)")
            args.append(start)
        if end:
            sched.append("closes_at <= CAST(? AS TIME)")
            args.append(end)
        if sched:
            conds.append("s.id IN (SELECT service_id FROM svc_schedule WHERE " + " AND ".join(sched) + ")")
        if self.modified_after:
            conds.append("s.id IN (SELECT id FROM catalogue.service WHERE last_modified >= CAST(? AS TIMESTAMP))")
            args.append(self.modified_after.replace("Z", ""))
        return (" AND ".join(conds) or "TRUE"), args


def _filtered_ids(snap: Snapshot, filters: ServiceFilters, page: int, per_page: int) -> tuple[int, list[str]]:
    if not filters.any():
        start = (page - 1) * per_page
        return len(snap.order), snap.order[start:start + per_page]
    where, args = filters.where()
    cur = snap.cursor()
    try:
        total = cur.execute(f"SELECT count(*) FROM svc_index s WHERE {where}", args).fetchall()[0][0]
        ids = [r[0] for r in cur.execute(f"SELECT s.id FROM svc_index s WHERE {where} ORDER BY s.n LIMIT ? OFFSET ?",
                                         args + [per_page, (page - 1) * per_page]).fetchall()]
    except duckdb.ConversionException as exc:
        raise HTTPException(400, f"a filter value could not be read: {str(exc).splitlines()[0]}") from None
    return total, ids


def create_app(holder: SnapshotHolder) -> FastAPI:
    app = FastAPI(
        docs_url=None, redoc_url=None,  # /docs is served below, without a CDN: it works offline
        title="placecat: ORUK v3 API",
        version="3.0",
        description="A read-only Open Referral UK (HSDS 3.0 UK profile) API over the merged placecat catalogue. "
                    "Each service carries a `placecat` extension object (trust register and provenance) that ORUK "
                    "consumers may ignore. Also: ORUK v1 compatibility under /v1 and an RPDE change feed at /changes.",
    )
    app.add_middleware(GZipMiddleware, minimum_size=1000)
    app.add_middleware(CORSAllOrigins)
    app.state.holder = holder

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException):
        return JSONResponse({"error": exc.detail, "status": exc.status_code}, status_code=exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def bad_parameter(request: Request, exc: RequestValidationError):
        # The documented error form for every mistake in a parameter (not FastAPI's 422 body).
        first = exc.errors()[0] if exc.errors() else {}
        name = ".".join(str(x) for x in first.get("loc", ())[1:]) or "request"
        value = first.get("input")
        shown = f" {value!r}" if isinstance(value, (str, int, float)) else ""
        message = f"{name}:{shown} {first.get('msg', 'is not valid').lower()}"
        return JSONResponse({"error": message, "status": 400}, status_code=400)

    @app.get("/docs", include_in_schema=False)
    async def docs():
        return HTMLResponse(api_docs_html(app.openapi()))

    @app.get("/", summary="API details: ORUK version, profile and the OpenAPI document")
    async def root(request: Request):
        snap = holder.current
        base = str(request.base_url).rstrip("/")
        return _respond(request, snap, {
            "version": ORUK_VERSION, "profile": ORUK_PROFILE_URL, "openapi_url": f"{base}/openapi.json",
            oruk_json.EXTENSION: {"publishing_profile": snap.profile.name, "licences": snap.licences,
                                  "sources": snap.sources,
                                  "publishing_profile_description": snap.profile.description,
                                  "run_id": snap.run_id, "services": len(snap.order),
                                  "changes_url": f"{base}/changes", "v1_url": f"{base}/v1/services"}})

    @app.get("/services", summary="Paginated services (one-to-one fields; full=true for nested)")
    async def services(request: Request, search: str | None = None, page: int = 1, per_page: int = DEFAULT_PER_PAGE,
                 taxonomy_term_id: str | None = None, taxonomy_id: str | None = None,
                 organization_id: str | None = None, minimum_age: float | None = None,
                 maximum_age: float | None = None, day: str | None = None, start_time: str | None = None,
                 end_time: str | None = None, modified_after: str | None = None, full: bool = False):
        snap = holder.current
        page, per_page = _page_args(page, per_page)
        filters = ServiceFilters(search, taxonomy_term_id, taxonomy_id, organization_id, minimum_age, maximum_age,
                                 day, start_time, end_time, modified_after)
        if filters.any():  # DuckDB work: off the event loop
            total, ids = await run_in_threadpool(_filtered_ids, snap, filters, page, per_page)
        else:
            total, ids = _filtered_ids(snap, filters, page, per_page)
        source = snap.service_full if full else snap.service_item
        return _respond(request, snap, oruk_json.page_bytes(total, page, per_page, [source[i] for i in ids]))

    @app.get("/services/{service_id}", summary="One service, fully nested")
    async def service(request: Request, service_id: str):
        return _one(request, holder.current, "service_full", service_id, "published service")

    @app.get("/service_at_locations", summary="Paginated services at locations; postcode + proximity (metres)")
    def service_at_locations(request: Request, search: str | None = None, page: int = 1,
                             per_page: int = DEFAULT_PER_PAGE, taxonomy_term_id: str | None = None,
                             taxonomy_id: str | None = None, minimum_age: float | None = None,
                             maximum_age: float | None = None, day: str | None = None,
                             start_time: str | None = None, end_time: str | None = None,
                             postcode: str | None = None, proximity: float | None = Query(None, ge=0)):
        snap = holder.current
        page, per_page = _page_args(page, per_page)
        filters = ServiceFilters(search, taxonomy_term_id, taxonomy_id, None, minimum_age, maximum_age, day,
                                 start_time, end_time)
        if not filters.any() and not postcode:
            start = (page - 1) * per_page
            ids, total = snap.sal_order[start:start + per_page], len(snap.sal_order)
            return _respond(request, snap, oruk_json.page_bytes(total, page, per_page, [snap.sal_item[i] for i in ids]))
        where, args = filters.where()
        order, geo_args, extra = "s.n, g.id", [], ""
        if postcode:
            if not POSTCODE_RE.match(normalise_postcode(postcode)):
                raise HTTPException(400, f"postcode: '{postcode}' is not a UK postcode")
            centre = snap.postcode_centroid(postcode)
            if centre is None:
                raise HTTPException(400, f"postcode: '{postcode}' is not known to this catalogue (no reference "
                                         f"centroid and no published location nearby); try a nearby postcode")
            dist = ("(2 * 6371008.8 * asin(sqrt(pow(sin(radians(g.lat - ?) / 2), 2) + cos(radians(?)) * "
                    "cos(radians(g.lat)) * pow(sin(radians(g.lon - ?) / 2), 2))))")
            geo_args = [centre[0], centre[0], centre[1]]
            order = f"{dist} NULLS LAST, s.n, g.id"
            if proximity is not None:
                extra = f" AND g.lat IS NOT NULL AND {dist} <= ?"
        cur = snap.cursor()
        sql_from = f"FROM sal_geo g JOIN svc_index s ON s.id = g.service_id WHERE {where}{extra}"
        filter_args = args + (geo_args + [proximity] if extra else [])
        total = cur.execute(f"SELECT count(*) {sql_from}", filter_args).fetchall()[0][0]
        ids = [r[0] for r in cur.execute(f"SELECT g.id {sql_from} ORDER BY {order} LIMIT ? OFFSET ?",
                                         filter_args + geo_args + [per_page, (page - 1) * per_page]).fetchall()]
        return _respond(request, snap, oruk_json.page_bytes(total, page, per_page, [snap.sal_item[i] for i in ids]))

    @app.get("/service_at_locations/{sal_id}", summary="One service at location, fully nested")
    async def service_at_location(request: Request, sal_id: str):
        snap = holder.current
        sid = _found(snap.sal_service, sal_id, "published service_at_location")
        doc = oruk_json.ServiceDocument(sid, json.loads(snap.service_full[sid]), {})
        return _respond(request, snap, doc.service_at_location_full(sal_id))

    @app.get("/taxonomies", summary="Paginated taxonomies")
    async def taxonomies(request: Request, page: int = 1, per_page: int = DEFAULT_PER_PAGE):
        snap = holder.current
        page, per_page = _page_args(page, per_page)
        items = snap.taxonomies[(page - 1) * per_page: page * per_page]
        return _respond(request, snap, oruk_json.page_envelope(len(snap.taxonomies), page, per_page, items))

    @app.get("/taxonomies/{taxonomy_id}", summary="One taxonomy")
    async def taxonomy(request: Request, taxonomy_id: str):
        return _one(request, holder.current, "taxonomy_by_id", taxonomy_id, "taxonomy")

    @app.get("/taxonomy_terms", summary="Paginated taxonomy terms")
    async def taxonomy_terms(request: Request, page: int = 1, per_page: int = DEFAULT_PER_PAGE,
                             taxonomy_id: str | None = None):
        snap = holder.current
        page, per_page = _page_args(page, per_page)
        terms = [t for t in snap.terms if not taxonomy_id or t.get("taxonomy_id") == taxonomy_id]
        items = terms[(page - 1) * per_page: page * per_page]
        return _respond(request, snap, oruk_json.page_envelope(len(terms), page, per_page, items))

    @app.get("/taxonomy_terms/{term_id}", summary="One taxonomy term")
    async def taxonomy_term(request: Request, term_id: str):
        return _one(request, holder.current, "term_by_id", term_id, "taxonomy term")

    @app.get("/changes", summary="RPDE change feed of golden services (modified + id ordering, tombstones)")
    def changes(request: Request, afterTimestamp: int | None = None, afterId: str | None = None,  # noqa: N803
                limit: int = 500):
        snap = holder.current
        if limit < 1:
            raise HTTPException(400, "limit: must be at least 1")
        if afterId is not None and afterTimestamp is None:
            raise HTTPException(400, "afterId needs afterTimestamp too (RPDE modified + id ordering)")
        items = rpde_page(snap.cursor(), afterTimestamp, afterId, min(limit, MAX_FEED_LIMIT))
        base = str(request.base_url).rstrip("/")
        if items:
            nxt = f"{base}/changes?afterTimestamp={items[-1].modified}&afterId={items[-1].id}"
        elif afterTimestamp is not None:
            nxt = f"{base}/changes?afterTimestamp={afterTimestamp}&afterId={afterId or ''}"
        else:
            nxt = f"{base}/changes"
        parts = []
        for it in items:
            meta = oruk_json.dumps({"kind": "service", "id": it.id, "modified": it.modified, "state": it.state,
                                    oruk_json.EXTENSION: {"change": it.change, "fields_changed": it.fields_changed,
                                                          "translation_needed": it.translatable_changes(),
                                                          "run_id": it.run_id}})
            if it.live:
                meta = meta[:-1] + b',"data":' + snap.service_full[it.id] + b"}"
            parts.append(meta)
        # One licence only when every source grants the same one; otherwise the root document lists each.
        granted = {s.get("licence") for s in snap.licences}
        licence = granted.pop() if len(granted) == 1 and None not in granted else f"{base}/"
        body = (b'{"next":' + oruk_json.dumps(nxt) + b',"license":' + oruk_json.dumps(licence)
                + b',"items":[' + b",".join(parts) + b"]}")
        return _respond(request, snap, body)

    # -- ORUK v1 compatibility -------------------------------------------------------------------
    def v1_list(request: Request, items: list, page: int, per_page: int) -> Response:
        snap = holder.current
        page, per_page = _page_args(page, per_page)
        chosen = items[(page - 1) * per_page: page * per_page]
        return _respond(request, snap, oruk_json.v1_page(len(items), page, per_page, chosen))

    @app.get("/v1/services", summary="ORUK v1: paginated services (Spring envelope)")
    def v1_services(request: Request, page: int = 1, per_page: int = DEFAULT_PER_PAGE, text: str | None = None,
                    search: str | None = None):
        snap = holder.current
        page, per_page = _page_args(page, per_page)
        total, ids = _filtered_ids(snap, ServiceFilters(search=text or search), page, per_page)
        content = [oruk_json.v1_service(json.loads(snap.service_full[i])) for i in ids]
        return _respond(request, snap, oruk_json.v1_page(total, page, per_page, content))

    @app.get("/v1/services/{service_id}", summary="ORUK v1: one service")
    def v1_service(request: Request, service_id: str):
        snap = holder.current
        body = _found(snap.service_full, service_id, "published service")
        return _respond(request, snap, oruk_json.v1_service(json.loads(body)))

    @app.get("/v1/taxonomies", summary="ORUK v1: paginated taxonomy terms (vocabulary names the taxonomy)")
    def v1_taxonomies(request: Request, page: int = 1, per_page: int = DEFAULT_PER_PAGE, vocabulary: str | None = None):
        terms = [oruk_json.v1_taxonomy(t) for t in holder.current.terms]
        return v1_list(request, [t for t in terms if not vocabulary or t.get("vocabulary") == vocabulary], page, per_page)

    @app.get("/v1/taxonomies/{term_id}", summary="ORUK v1: one taxonomy term")
    def v1_taxonomy(request: Request, term_id: str):
        snap = holder.current
        return _respond(request, snap, oruk_json.v1_taxonomy(json.loads(_found(snap.term_by_id, term_id, "taxonomy term"))))

    @app.get("/v1/vocabularies", summary="ORUK v1: the vocabularies in use")
    def v1_vocabularies(request: Request):
        snap = holder.current
        return _respond(request, snap, sorted({t.get("taxonomy") for t in snap.terms if t.get("taxonomy")}))

    def v1_entity_routes(path: str, items, what: str) -> None:
        """/v1/<path> (a Spring page) and /v1/<path>/{id} for organisations and locations."""
        @app.get(f"/v1/{path}", summary=f"ORUK v1: paginated {path}")
        def v1_entities(request: Request, page: int = 1, per_page: int = DEFAULT_PER_PAGE):
            return v1_list(request, items(holder.current), page, per_page)

        @app.get(f"/v1/{path}/{{item_id}}", summary=f"ORUK v1: one {what}")
        def v1_entity(request: Request, item_id: str):
            snap = holder.current
            return _respond(request, snap, _found(snap.by_id(items(snap)), item_id, f"published {what}"))

    v1_entity_routes("organizations", Snapshot.v1_organizations, "organization")
    v1_entity_routes("locations", Snapshot.v1_locations, "location")

    @app.get("/v1/reviews", summary="ORUK v1: reviews (placecat publishes none)")
    def v1_reviews(request: Request, page: int = 1, per_page: int = DEFAULT_PER_PAGE):
        return v1_list(request, [], page, per_page)

    @app.get("/v1/reviews/{review_id}", summary="ORUK v1: one review (placecat publishes none)")
    def v1_review(request: Request, review_id: str):
        raise HTTPException(404, f"no review with id {review_id}: placecat publishes no reviews")

    return app


def api_docs_html(spec: dict) -> str:
    """A self-contained page documenting the API from its OpenAPI document: no script, no CDN."""
    from html import escape
    rows = []
    for path, ops in spec.get("paths", {}).items():
        for method, op in ops.items():
            params = ", ".join(f"<code>{escape(p['name'])}</code>" for p in op.get("parameters", []) if p.get("in") == "query")
            rows.append(f"<tr><td><code>{escape(method.upper())}</code></td><td><code>{escape(path)}</code></td>"
                        f"<td>{escape(op.get('summary') or '')}</td><td>{params}</td></tr>")
    info = spec.get("info", {})
    return ("<!doctype html><html lang=en><head><meta charset=utf-8><title>" + escape(info.get("title", "API"))
            + "</title><style>body{font-family:sans-serif;margin:2em;max-width:70em}td{padding:.3em .6em;"
              "border-bottom:1px solid #ddd;vertical-align:top}</style></head><body><h1>"
            + escape(info.get("title", "API")) + "</h1><p>" + escape(info.get("description", ""))
            + "</p><p>Machine-readable: <a href=\"openapi.json\">openapi.json</a>. Errors are HTTP 400 or 404 with "
              "<code>{\"error\": \"one line\", \"status\": 400}</code>.</p><table><tr><th>method</th><th>path</th>"
              "<th>what</th><th>query parameters</th></tr>" + "".join(rows) + "</table></body></html>")


# -- running it ------------------------------------------------------------------------------------
class RunningServer:
    """uvicorn in a background thread (tests and benchmarks); ``url`` once started."""

    def __init__(self, app: FastAPI, host: str = "127.0.0.1", port: int = 0, **config: Any):
        import uvicorn
        self.config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False, **config)
        self.server = uvicorn.Server(self.config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.url = ""

    def __enter__(self) -> "RunningServer":
        self.thread.start()
        deadline = time.time() + 30
        while not self.server.started:
            if time.time() > deadline or not self.thread.is_alive():
                raise RuntimeError("the API server did not start")
            time.sleep(0.02)
        sock = self.server.servers[0].sockets[0]
        host, port = sock.getsockname()[:2]
        self.url = f"http://{host}:{port}"
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def port_number(text: str) -> int:
    """An argparse type for a TCP port: 1-65535. Out of range values are refused (the socket
    layer would silently take a port modulo 65536, and 0 a port the user is never told)."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a port number; give 1-65535") from None
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not a port; give 1-65535")
    return port


def configure_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("--db", required=True, help="the published catalogue DuckDB file")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=port_number, default=8000, help="port, 1-65535 (default 8000)")
    p.add_argument("--profile", help="publish only this profile's slice (defined in --profiles)")
    p.add_argument("--profiles", help="the publishing profiles YAML file")
    p.add_argument("--reload-interval", type=float, default=2.0,
                   help="seconds between checks for a newly published catalogue (0: never reload)")


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="placecat serve: %(message)s")
    try:
        profile = resolve_profile(args.profile, args.profiles)
        holder = SnapshotHolder(Path(args.db), profile, reload_interval=args.reload_interval)
    except (ProfileError, CatalogueUnavailable) as exc:
        print(f"placecat: {exc}", file=sys.stderr)
        return 2
    import uvicorn
    holder.start_watching()
    print(f"placecat serve: {len(holder.current.order)} services (profile {profile.name}) on "
          f"http://{args.host}:{args.port}/  (loaded in {holder.current.load_seconds:.1f}s)", file=sys.stderr)
    try:
        uvicorn.run(create_app(holder), host=args.host, port=args.port, log_level="warning", access_log=False)
    except OSError as exc:
        print(f"placecat: cannot listen on {args.host}:{args.port} ({exc.strerror}); choose another --port",
              file=sys.stderr)
        return 2
    finally:
        holder.stop()
    return 0
