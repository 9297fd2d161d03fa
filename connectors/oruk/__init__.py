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
``normalise`` picks the mapping by that type.

The package, one job per module: ``discovery`` (the API base and its version), ``paging`` (reading
``/services`` page by page, and the details), ``page_text`` (a page parsed once, each service kept
as the text the server sent), ``rows`` (staging rows shared by both versions), ``v3`` and ``v1``
(each version's service objects to staging rows), ``validate`` (`placecat validate`) and
``richness`` (Porism's richness score of a feed). This module is the connector itself
(``connectors/base.py``'s contract): ``harvest`` (a folder of files, or the API) and ``normalise``.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Iterator

from connectors.base import HarvestError, HarvestOutcome
from connectors.http import HttpClient, HttpPolicy
from connectors.oruk.discovery import looks_like_v1
from connectors.oruk.page_text import parse_raw_text
from connectors.oruk.paging import harvest_http
from connectors.oruk.v1 import normalise_v1_service
from connectors.oruk.v3 import normalise_v3_service
from connectors.staging import StagingRows

INCREMENTAL = False
# What a --full-reread keeps of the harvest state: a feed's version, once seen, is kept.
KEPT_ON_FULL_REREAD = ("version",)


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


def normalise(source, records, rows: StagingRows) -> None:
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
