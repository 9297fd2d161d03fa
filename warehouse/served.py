"""The catalogue as `placecat serve` holds it: one published snapshot loaded into memory (services,
their nested objects and list items, pre-serialised), swapped for a newer one when the published
file is replaced.
"""
from __future__ import annotations

import datetime as dt
import email.utils
import hashlib
import json
import logging
import re
import threading
import time
from pathlib import Path

import duckdb

from warehouse import oruk_json
from warehouse.changes import prepare_feed
from warehouse.profiles import CatalogueUnavailable, Profile, load_published, postcode_tables

log = logging.getLogger("placecat.serve")


def normalise_postcode(value: str) -> str:
    return re.sub(r"\s+", "", value or "").upper()


def file_signature(path: Path) -> tuple | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)


# -- the served snapshot ---------------------------------------------------------------------------
class Snapshot:
    """One catalogue file's published slice, ready to serve."""

    def __init__(self, db_path: Path, profile: Profile):
        started = time.perf_counter()
        self.db_path = db_path
        self.profile = profile
        self.signature = file_signature(db_path)
        self.con = load_published(db_path, profile)
        self._local = threading.local()
        self.service_full: dict[str, bytes] = {}
        self.service_item: dict[str, bytes] = {}
        self.sal_item: dict[str, bytes] = {}
        self.sal_service: dict[str, str] = {}
        self.order: list[str] = []
        self.sal_order: list[str] = []
        for doc in oruk_json.iter_service_documents(self.con):
            self.order.append(doc.id)
            self.service_full[doc.id] = oruk_json.dumps(doc.full)
            item = self.service_item[doc.id] = oruk_json.dumps(doc.item)
            for sal_id, body in doc.service_at_location_item_bytes(item):
                self.sal_item[sal_id] = body
                self.sal_service[sal_id] = doc.id
        self.taxonomies = oruk_json.taxonomies(self.con)
        self.taxonomy_by_id = {t["id"]: oruk_json.dumps(t) for t in self.taxonomies}
        self.terms = oruk_json.taxonomy_terms(self.con)
        self.term_by_id = {t["id"]: oruk_json.dumps(t) for t in self.terms}
        self._build_indexes()
        # Each source's terms of reuse: the merged feed grants no licence of its own.
        self.licences = [{k: v for k, v in zip(("source_id", "publisher", "licence", "attribution"), r) if v is not None}
                         for r in self.con.execute("SELECT source_id, publisher, licence, attribution FROM ops.source "
                                                   "ORDER BY source_id").fetchall()]
        # Each source's state tonight: stale, dropped or held sources are visible to every hub.
        self.sources = oruk_json.source_statuses(self.con)
        prepare_feed(self.con)
        run = self.con.execute("SELECT run_id, coalesce(finished_at, started_at) FROM ops.run "
                               "WHERE status = 'published' OR status IS NULL ORDER BY started_at DESC LIMIT 1").fetchall()
        self.run_id = run[0][0] if run else None
        when = run[0][1] if run and run[0][1] else dt.datetime.fromtimestamp(db_path.stat().st_mtime, dt.timezone.utc)
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.timezone.utc)
        self.last_modified = email.utils.format_datetime(when.astimezone(dt.timezone.utc), usegmt=True)
        self.last_modified_ts = int(when.timestamp())
        self.tag = hashlib.blake2b(f"{self.run_id}|{self.signature}|{profile}".encode(), digest_size=6).hexdigest()
        self.load_seconds = time.perf_counter() - started
        log.info("loaded %s: %d services (profile %s) in %.1fs", db_path, len(self.order), profile.name,
                 self.load_seconds)

    def _build_indexes(self) -> None:
        con = self.con
        con.execute("""CREATE TABLE svc_index AS
            SELECT s.id, row_number() OVER (ORDER BY s.name, s.id) AS n, s.organization_id, s.minimum_age, s.maximum_age,
                   lower(coalesce(s.name, '') || ' ' || coalesce(s.description, '') || ' ' || coalesce(o.name, '')) AS text
            FROM catalogue.service s LEFT JOIN catalogue.organization o ON o.id = s.organization_id""")
        con.execute("""CREATE TABLE svc_schedule AS
            SELECT coalesce(sc.service_id, sal.service_id) AS service_id, upper(coalesce(sc.byday, '')) AS byday,
                   sc.opens_at, sc.closes_at
            FROM catalogue.schedule sc LEFT JOIN catalogue.service_at_location sal ON sal.id = sc.service_at_location_id""")
        con.execute("""CREATE TABLE svc_term AS
            SELECT a.link_id AS service_id, t.id AS term_id, t.taxonomy_id, lower(coalesce(t.taxonomy, '')) AS taxonomy_name
            FROM catalogue.attribute a JOIN catalogue.taxonomy_term t ON t.id = a.taxonomy_term_id""")
        self.centroid_tables = [t for t in postcode_tables(con, "memory") if t["lat"] and t["long"]]
        # Where each service_at_location is: the location's own coordinates, else its postcode's centroid.
        centroid = self._centroid_sql("ad.postal_code")
        con.execute(f"""CREATE TABLE sal_geo AS
            SELECT sal.id, sal.service_id, upper(replace(ad.postal_code, ' ', '')) AS postcode,
                   coalesce(l.latitude, {centroid[0]}) AS lat, coalesce(l.longitude, {centroid[1]}) AS lon
            FROM catalogue.service_at_location sal
            LEFT JOIN catalogue.location l ON l.id = sal.location_id
            LEFT JOIN (SELECT location_id, min(postal_code) AS postal_code FROM catalogue.address GROUP BY 1) ad
              ON ad.location_id = sal.location_id""")
        self.sal_order = [r[0] for r in con.execute(
            "SELECT g.id FROM sal_geo g JOIN svc_index s ON s.id = g.service_id ORDER BY s.n, g.id").fetchall()]

    def _centroid_sql(self, postcode_expr: str) -> tuple[str, str]:
        if not self.centroid_tables:
            return "NULL", "NULL"
        t = self.centroid_tables[0]
        sub = (f"(SELECT avg(r.{{col}}) FROM ref.{t['table']} r WHERE upper(replace(r.{t['postcode']}, ' ', '')) "
               f"= upper(replace({postcode_expr}, ' ', '')))")
        return sub.format(col=t["lat"]), sub.format(col=t["long"])

    @staticmethod
    def by_id(items: list[dict]) -> dict[str, dict]:
        return {item["id"]: item for item in items}

    def v1_organizations(self) -> list[dict]:
        if getattr(self, "_v1_orgs", None) is None:
            orgs: dict[str, dict] = {}
            for sid in self.order:
                org = json.loads(self.service_full[sid]).get("organization")
                if org and org["id"] not in orgs:
                    orgs[org["id"]] = oruk_json.v1_organization(org)
            self._v1_orgs = sorted(orgs.values(), key=lambda o: (o.get("name") or "", o["id"]))
        return self._v1_orgs

    def v1_locations(self) -> list[dict]:
        if getattr(self, "_v1_locs", None) is None:
            locs: dict[str, dict] = {}
            for sid in self.order:
                for sal in json.loads(self.service_full[sid]).get("service_at_locations", []):
                    loc = sal.get("location")
                    if loc and loc["id"] not in locs:
                        locs[loc["id"]] = oruk_json.v1_location(loc)
            self._v1_locs = sorted(locs.values(), key=lambda loc: (loc.get("name") or "", loc["id"]))
        return self._v1_locs

    def cursor(self) -> duckdb.DuckDBPyConnection:
        cur = getattr(self._local, "cur", None)
        if cur is None:
            cur = self._local.cur = self.con.cursor()
        return cur

    def postcode_centroid(self, postcode: str) -> tuple[float, float, str] | None:
        """(lat, lon, how) for a postcode: reference centroid, else the catalogue's own locations there."""
        pc = normalise_postcode(postcode)
        cur = self.cursor()
        for t in self.centroid_tables:
            row = cur.execute(f"SELECT avg({t['lat']}), avg({t['long']}) FROM ref.{t['table']} "
                              f"WHERE upper(replace({t['postcode']}, ' ', '')) = ?", [pc]).fetchall()
            if row and row[0][0] is not None:
                return row[0][0], row[0][1], "reference"
        for how, cond, arg in (("catalogue-postcode", "postcode = ?", pc),
                               ("catalogue-sector", "postcode[:-2] = ?", pc[:-2]),
                               ("catalogue-district", "postcode[:-3] = ?", pc[:-3])):
            row = cur.execute(f"SELECT avg(lat), avg(lon) FROM sal_geo WHERE lat IS NOT NULL AND {cond}", [arg]).fetchall()
            if row and row[0][0] is not None:
                return row[0][0], row[0][1], how
        return None

    def close(self) -> None:
        try:
            self.con.close()
        except duckdb.Error:
            pass


class SnapshotHolder:
    """The snapshot in service, and the watcher that swaps in a new one when the file is replaced."""

    def __init__(self, db_path: Path, profile: Profile, reload_interval: float = 2.0):
        self.db_path = Path(db_path)
        self.profile = profile
        self.reload_interval = reload_interval
        self.current = Snapshot(self.db_path, profile)
        self.last_error: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start_watching(self) -> None:
        if self.reload_interval > 0 and self._thread is None:
            self._thread = threading.Thread(target=self._watch, name="placecat-reload", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _watch(self) -> None:
        while not self._stop.wait(self.reload_interval):
            self.reload_if_changed()

    def reload_if_changed(self) -> bool:
        sig = file_signature(self.db_path)
        if sig is None or sig == self.current.signature:
            return False
        try:
            fresh = Snapshot(self.db_path, self.profile)
        except (CatalogueUnavailable, duckdb.Error, OSError) as exc:
            # Keep serving the last good catalogue; try again at the next tick.
            self.last_error = str(exc)
            log.warning("new catalogue not loaded, still serving the previous one: %s", exc)
            return False
        if fresh.signature != sig:
            log.info("catalogue changed again while loading; will reload")
        old, self.current = self.current, fresh
        self.last_error = None
        # Requests already running on the old snapshot finish with it; its memory goes with the last reference.
        threading.Timer(30.0, old.close).start()
        return True
