"""A labelled evaluation set in the layout of ``../shared/eval/dev-2026``, read without placecat.

The layout (``manifest.json``, ``truth.csv``, ``hard_negatives.csv`` and one folder per source, see
``../shared/eval/README.md``) is what ``serve.py`` serves and ``score.py`` scores. The benchmarks
read it here with their own plain code, not through placecat's connectors, so that what a record
says (its name, organisation, venue, phones, web sites) when an error is put in a class does not
depend on the code being measured.

Every record is keyed ``(source_id, record_id)`` as ``truth.csv`` keys it: for OpenActive that is
the RPDE item id, while the catalogue keys a SessionSeries by its ``@id`` URL (the bench maps one
to the other through the catalogue's ``raw.record``).
"""
from __future__ import annotations

import csv
import glob
import json
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

Key = tuple[str, str]


@dataclass
class Facts:
    """What one published record says, as plain text and normalised keys."""

    source_id: str
    record_id: str
    name: str = ""
    org: str = ""
    venue: str = ""           # the location's name
    address: str = ""
    town: str = ""
    postcode: str = ""        # upper case, no spaces
    lat: float | None = None
    lon: float | None = None
    phones: set[str] = field(default_factory=set)     # the last ten digits
    web_hosts: set[str] = field(default_factory=set)  # host without www.
    emails: set[str] = field(default_factory=set)

    @property
    def has_venue(self) -> bool:
        return bool(self.postcode or self.address.strip() or self.lat is not None)


@dataclass
class LabelledSet:
    path: Path
    manifest: dict
    truth: dict[Key, str]                       # record -> entity
    hard_negatives: dict[str, dict[str, str]]   # entity -> other entity -> reason (both ways)

    @property
    def sources(self) -> list[dict]:
        return self.manifest["sources"]


def read_csv(path: Path):
    with open(path, newline="", encoding="utf-8-sig") as f:
        yield from csv.DictReader(f)


def read_truth(path: Path) -> dict[Key, str]:
    return {(r["source_id"], str(r["record_id"])): r["entity_id"] for r in read_csv(path)}


def read_hard_negatives(path: Path) -> dict[str, dict[str, str]]:
    """Both directions, so a lookup never depends on which entity came first."""
    out: dict[str, dict[str, str]] = {}
    if not path.exists():
        return out
    for r in read_csv(path):
        out.setdefault(r["entity_a"], {})[r["entity_b"]] = r["reason"]
        out.setdefault(r["entity_b"], {})[r["entity_a"]] = r["reason"]
    return out


def load_set(path: str | Path) -> LabelledSet:
    path = Path(path)
    if not (path / "manifest.json").exists():
        raise SystemExit(f"{path}: no manifest.json; --set must be a labelled set folder like ../shared/eval/dev-2026")
    manifest = json.loads((path / "manifest.json").read_text())
    return LabelledSet(path, manifest, read_truth(path / "truth.csv"), read_hard_negatives(path / "hard_negatives.csv"))


# -- normalising ------------------------------------------------------------------------------------

def digits_key(phone: str | None) -> str | None:
    """The last ten digits of a UK number (0113..., +44 113..., 113... that lost its zero)."""
    d = re.sub(r"\D", "", phone or "")
    if len(d) < 9:
        return None
    return d[-10:]


def host_of(url: str | None) -> str | None:
    if not url or not isinstance(url, str):
        return None
    m = re.match(r"^(?:[a-z]+://)?([^/?#:]+)", url.strip().lower())
    if not m:
        return None
    host = m.group(1)
    return host[4:] if host.startswith("www.") else host


def postcode_key(pc: str | None) -> str:
    return re.sub(r"\s+", "", (pc or "")).upper()


def plain(text: str | None) -> str:
    """Lower case ASCII with apostrophes dropped: what name comparisons start from."""
    s = unicodedata.normalize("NFKD", str(text or "")).encode("ascii", "ignore").decode()
    s = s.lower().replace("'", "").replace("`", "")
    return s


def _float(v) -> float | None:
    try:
        return float(v) if v not in (None, "") else None
    except (TypeError, ValueError):
        return None


def _facts(source: str, rid: str, **kw) -> Facts:
    f = Facts(source, rid, **{k: v for k, v in kw.items() if k not in ("phones", "urls", "emails")})
    f.phones = {p for p in map(digits_key, kw.get("phones", [])) if p}
    f.web_hosts = {h for h in map(host_of, kw.get("urls", [])) if h}
    f.emails = {e.strip().lower() for e in kw.get("emails", []) if isinstance(e, str) and "@" in e}
    f.postcode = postcode_key(f.postcode)
    return f


# -- the four kinds of source ----------------------------------------------------------------------

def _oruk_facts(source: str, svc: dict) -> Facts:
    """An ORUK service object, v3 (``addresses``) or v1 (``physical_addresses``, ``regular_schedules``)."""
    org = svc.get("organization") or {}
    loc, addr = {}, {}
    for sal in svc.get("service_at_locations") or []:
        loc = sal.get("location") or {}
        addrs = loc.get("addresses") or loc.get("physical_addresses") or []
        addr = next((a for a in addrs if a.get("address_type", "physical") == "physical"), addrs[0] if addrs else {})
        break
    phones = [p.get("number") for p in svc.get("phones") or []]
    phones += [p.get("number") for c in svc.get("contacts") or [] for p in c.get("phones") or []]
    phones += [p.get("number") for p in loc.get("phones") or []]
    return _facts(source, str(svc["id"]), name=svc.get("name") or "", org=org.get("name") or "",
                  venue=loc.get("name") or "", address=" ".join(filter(None, [addr.get("address_1"), addr.get("address_2")])),
                  town=addr.get("city") or "", postcode=addr.get("postal_code") or "",
                  lat=_float(loc.get("latitude")), lon=_float(loc.get("longitude")), phones=phones,
                  urls=[svc.get("url"), org.get("website"), org.get("url")], emails=[svc.get("email"), org.get("email")])


def _openactive_facts(source: str, item: dict) -> Facts:
    d = item.get("data") or {}
    org = d.get("organizer") or {}
    place = d.get("location") or {}
    addr = place.get("address") or {}
    if isinstance(addr, str):
        addr = {"streetAddress": addr}
    geo = place.get("geo") or {}
    return _facts(source, str(item["id"]), name=d.get("name") or "", org=org.get("name") or "", venue=place.get("name") or "",
                  address=addr.get("streetAddress") or "", town=addr.get("addressLocality") or "",
                  postcode=addr.get("postalCode") or "", lat=_float(geo.get("latitude")), lon=_float(geo.get("longitude")),
                  phones=[org.get("telephone"), place.get("telephone")], urls=[d.get("url"), org.get("url")],
                  emails=[org.get("email")])


def _csv_facts(source: str, row: dict) -> Facts:
    def col(*names):
        for n in names:
            if row.get(n):
                return row[n]
        return ""
    return _facts(source, str(col("ID", "Id", "id")), name=col("Service Name", "Name"), org=col("Organisation", "Organization"),
                  venue=col("Venue", "Location"), address=" ".join(filter(None, [col("Address 1"), col("Address 2")])),
                  town=col("Town", "City"), postcode=col("Postcode"), lat=_float(col("Latitude")), lon=_float(col("Longitude")),
                  phones=[col("Telephone", "Phone")], urls=[col("Website")], emails=[col("Email")])


def _pages(folder: Path, pattern: str) -> list[dict]:
    return [json.loads(Path(f).read_text(encoding="utf-8")) for f in sorted(glob.glob(str(folder / pattern)))]


def openactive_items(folder: Path) -> list[dict]:
    """The live items of an RPDE feed folder, the last state of each id winning."""
    latest: dict[str, dict] = {}
    for page in _pages(folder, "feed/page-*.json"):
        for item in page.get("items", []):
            prev = latest.get(str(item["id"]))
            if prev is None or (item.get("modified", 0), 1) >= (prev.get("modified", 0), 0):
                latest[str(item["id"])] = item
    return [i for i in latest.values() if i.get("state") != "deleted" and i.get("data")]


def record_facts(s: LabelledSet) -> dict[Key, Facts]:
    """Facts for every record of every source, read from the set's own files."""
    out: dict[Key, Facts] = {}
    for src in s.sources:
        folder = s.path / src["path"]
        sid, kind = src["id"], src["kind"]
        if kind == "oruk_v3":
            for page in _pages(folder, "services/page-*.json"):
                for svc in page.get("contents", []):
                    out[(sid, str(svc["id"]))] = _oruk_facts(sid, svc)
        elif kind == "oruk_v1":
            for page in _pages(folder, "services/page-*.json"):
                for item in page.get("content", page.get("contents", [])):
                    detail = folder / "services" / "by-id" / f"{item['id']}.json"
                    svc = json.loads(detail.read_text(encoding="utf-8")) if detail.exists() else item
                    out[(sid, str(item["id"]))] = _oruk_facts(sid, svc)
        elif kind == "openactive":
            for item in openactive_items(folder):
                out[(sid, str(item["id"]))] = _openactive_facts(sid, item)
        elif kind == "csv":
            files = sorted(glob.glob(str(folder / "*.csv")))
            for f in files:
                for row in read_csv(Path(f)):
                    fx = _csv_facts(sid, row)
                    out[(sid, fx.record_id)] = fx
        else:
            raise SystemExit(f"{s.path}/manifest.json: source {sid!r} has kind {kind!r}; this bench knows oruk_v3, oruk_v1, openactive, csv")
    return out
