"""A loopback server for the national test bed, with a configurable latency per request.

    python -m benchmarks.national.server --records 100000 --latency-ms 50 [--port 0]

Routes (FEED is an id from `feeds.feeds()`):
    /oruk/FEED/                   ORUK root: v3 feeds say their version, v1 feeds answer 404
    /oruk/FEED/services?page=N&per_page=M
                                  v3 envelope (total_items, total_pages, contents) or v1
                                  (totalElements, totalPages, content); ETag + If-None-Match -> 304
    /oa/FEED/session-series[?afterTimestamp=T&afterId=ID]
                                  an RPDE 1.0 feed (modified/id ordering); the last page has no
                                  items and `next` pointing at itself
    /sources.yaml                 a placecat sources file for all 200 feeds
    /stats                        requests served so far, by kind
The first line printed is `listening on http://127.0.0.1:PORT`.
"""
from __future__ import annotations

import argparse
import collections
import hashlib
import json
import sys
import threading
import time
from pathlib import Path
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from benchmarks.national import feeds as bed


def sources_yaml(base: str, total: int, seed: int) -> str:
    lines = ["# The national test bed: 150 council ORUK feeds and 50 OpenActive feeds (generated).", "sources:"]
    for f in bed.feeds(total, seed):
        if f.kind == "oruk":
            lines += [f"  - id: {f.id}", "    kind: oruk", f"    url: {base}/oruk/{f.id}",
                      f"    publisher: {f.id.replace('-', ' ').title()} (test bed)", "    role: owner",
                      "    per_page: 500", "    detail_fetch: false"]
        else:
            lines += [f"  - id: {f.id}", "    kind: openactive", f"    url: {base}/oa/{f.id}/session-series",
                      f"    publisher: {f.id.replace('-', ' ').title()} (test bed)", "    role: none"]
    return "\n".join(lines) + "\n"


class BedServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256

    def __init__(self, addr, total: int, seed: int, latency: float, generation: int):
        super().__init__(addr, Handler)
        self.total, self.seed, self.latency, self.generation = total, seed, latency, generation
        self.counts: collections.Counter = collections.Counter()
        self.lock = threading.Lock()
        self.cache_dir: Path | None = None

    def cached(self, key: tuple, render) -> bytes:
        """A page's bytes; with --cache, rendered once and kept on disk (the bed is deterministic)."""
        if self.cache_dir is None:
            return json.dumps(render(), separators=(",", ":")).encode()
        path = self.cache_dir / (hashlib.blake2b(repr((self.total, self.seed) + key).encode(), digest_size=16).hexdigest() + ".json")
        try:
            return path.read_bytes()
        except FileNotFoundError:
            body = json.dumps(render(), separators=(",", ":")).encode()
            tmp = path.with_suffix(f".{threading.get_ident()}.tmp")
            tmp.write_bytes(body)
            tmp.replace(path)
            return body

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: BedServer

    def log_message(self, *args) -> None:  # quiet
        pass

    def send_json(self, doc, status: int = 200, etag: str | None = None) -> None:
        body = doc if isinstance(doc, bytes) else json.dumps(doc, separators=(",", ":")).encode()
        etag = etag or ('"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"')
        if self.headers.get("If-None-Match") == etag:
            self.count("304")
            self.send_response(304)
            self.send_header("ETag", etag)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("ETag", etag)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def send_text(self, text: str, status: int = 200) -> None:
        body = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def count(self, what: str) -> None:
        with self.server.lock:
            self.server.counts[what] += 1

    def do_GET(self) -> None:  # noqa: N802
        if self.server.latency:
            time.sleep(self.server.latency)
        url = urlsplit(self.path)
        q = {k: v[-1] for k, v in parse_qs(url.query).items()}
        parts = [p for p in url.path.split("/") if p]
        srv = self.server
        if parts == ["sources.yaml"]:
            return self.send_text(sources_yaml(srv.base, srv.total, srv.seed))
        if parts == ["stats"]:
            return self.send_json(dict(srv.counts))
        if len(parts) >= 2 and parts[0] in ("oruk", "oa"):
            f = bed.feed_by_id(srv.total, srv.seed, parts[1])
            if f is None:
                return self.send_json({"error": "no such feed"}, 404)
            if parts[0] == "oruk" and len(parts) == 2:
                self.count("root")
                if f.version == 1:
                    return self.send_json({"error": "not found"}, 404)
                return self.send_json({"version": "3.0", "profile": "https://openreferraluk.org/profile/3.0",
                                       "openapi_url": f"{srv.base}/oruk/{f.id}/openapi.json"})
            if parts[0] == "oruk" and parts[2:] == ["services"]:
                self.count("oruk_page")
                page = int(q.get("page", "1") or 1)
                per_page = int(q.get("per_page", "50") or 50)
                return self.send_json(srv.cached(("oruk", f.id, page, per_page, srv.generation),
                                                 lambda: bed.oruk_page(f, page, per_page, srv.generation)))
            if parts[0] == "oa" and parts[2:] == ["session-series"]:
                self.count("rpde_page")
                after = int(q["afterTimestamp"]) if "afterTimestamp" in q else None
                base = f"{srv.base}/oa/{f.id}"
                return self.send_json(srv.cached(("oa", f.id, after, srv.generation),
                                                 lambda: rpde_doc(f, after, srv.generation, base, self.path)))
        self.send_json({"error": "not found"}, 404)


def rpde_doc(f, after, generation: int, base: str, path: str) -> dict:
    items, last_ts = bed.rpde_page(f, after, generation, base)
    if items:
        nxt = f"{base}/session-series?afterTimestamp={last_ts}&afterId={items[-1]['id']}"
    else:
        nxt = base.split("/oa/")[0] + path
    return {"next": nxt, "items": items, "license": "https://creativecommons.org/licenses/by/4.0/"}


def serve(total: int, seed: int = 1, latency_ms: float = 50, port: int = 0, generation: int = 0,
          cache_dir: str | None = None) -> BedServer:
    server = BedServer(("127.0.0.1", port), total, seed, latency_ms / 1000, generation)
    if cache_dir:
        server.cache_dir = Path(cache_dir)
        server.cache_dir.mkdir(parents=True, exist_ok=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--records", type=int, default=100_000)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--latency-ms", type=float, default=50)
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--generation", type=int, default=0, help="0: night 1; each step changes about 1%% of ORUK records")
    p.add_argument("--cache", help="keep rendered pages in this folder (the next nights serve them as files)")
    args = p.parse_args(argv)
    server = serve(args.records, args.seed, args.latency_ms, args.port, args.generation, args.cache)
    print(f"listening on {server.base}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
