"""HTTP for every connector that harvests over the web (ORUK, OpenActive, spreadsheets by URL).

One place for the rules of a polite, fault-tolerant harvester:
- retries with exponential backoff and full jitter on connection errors, timeouts and 5xx;
- 429 and 503 honour ``Retry-After`` (seconds or an HTTP date);
- wall-clock deadlines, however slowly a server dribbles: ``timeout`` bounds the connect, the
  wait for the first byte and any silence; ``request_timeout`` bounds one whole request, from
  connect to the last byte of the body; ``time_budget`` bounds the whole source (no request runs
  past it, and no retry waits past it). A watchdog shuts the request's socket at its deadline, so a
  server that sends one byte every 0.1 s (which never trips a socket timeout) is cut off too;
- bounded concurrency and a minimum interval between requests, per host;
- a User-Agent that names placecat and its version; conditional GETs (ETag, Last-Modified);
- bodies that are not strict JSON: a BOM, raw control characters, a wrong Content-Type, and an
  HTML error page served with 200, which is detected and never parsed as data.
"""
from __future__ import annotations

import email.utils
import json
import random
import socket
import threading
import time
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any, Mapping
from urllib.parse import urlsplit

import requests
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from connectors.base import HarvestError


def placecat_version() -> str:
    try:
        return metadata.version("placecat")
    except metadata.PackageNotFoundError:
        return "0+unknown"


USER_AGENT = f"placecat/{placecat_version()} (+https://github.com/placecat/placecat; open data aggregation)"
RETRY_STATUSES = {500, 502, 503, 504, 429}


class FetchError(HarvestError):
    """A URL could not be fetched or did not hold usable data."""

    def __init__(self, url: str, reason: str, status: int | None = None):
        self.url, self.reason, self.status = url, reason, status
        super().__init__(f"{url}: {reason}")


@dataclass
class HttpPolicy:
    timeout: float = 30.0            # seconds for the connect, the first byte, and any silence
    request_timeout: float = 300.0   # seconds for one whole request, connect to last byte
    max_retries: int = 5             # per request, after the first try
    backoff_base: float = 0.5        # first retry waits up to this long (doubling each time)
    backoff_max: float = 60.0        # no single wait is longer
    time_budget: float = 1800.0      # seconds for the whole source before it gives up
    concurrency: int = 4             # requests in flight per host
    rate_limit: float | None = None  # requests per second per host (None: no limit)
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_source(cls, source) -> "HttpPolicy":
        opts = source.options
        p = cls()
        for name, conv in (("timeout", float), ("request_timeout", float), ("time_budget", float),
                           ("concurrency", int), ("rate_limit", float)):
            if opts.get(name) is not None:
                setattr(p, name, conv(opts[name]))
        if isinstance(opts.get("headers"), dict):
            p.headers = {str(k): str(v) for k, v in opts["headers"].items()}
        return p


@dataclass
class FetchResult:
    url: str
    status: int
    headers: Mapping[str, str]
    body: bytes
    elapsed: float
    attempts: int

    @property
    def not_modified(self) -> bool:
        return self.status == 304

    @property
    def validators(self) -> dict[str, str]:
        """What to send next time for a conditional GET."""
        out = {}
        if self.headers.get("ETag"):
            out["etag"] = self.headers["ETag"]
        if self.headers.get("Last-Modified"):
            out["last_modified"] = self.headers["Last-Modified"]
        return out


def parse_retry_after(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def looks_like_html(body: bytes) -> bool:
    head = body[:512].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return head.startswith(b"<!doctype html") or head.startswith(b"<html") or (
        head.startswith(b"<") and b"<body" in body[:4096].lower())


def decode_body(body: bytes) -> str:
    if body.startswith(b"\xef\xbb\xbf"):
        body = body[3:]
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return body.decode("cp1252", errors="replace")


def parse_json_body(body: bytes, url: str) -> Any:
    """Parse JSON leniently (BOM, raw control characters), but never an HTML page."""
    if looks_like_html(body):
        raise FetchError(url, "served an HTML page instead of JSON (an error or login page?)")
    text = decode_body(body).strip()
    if not text:
        raise FetchError(url, "empty response body")
    try:
        return json.loads(text, strict=False)
    except json.JSONDecodeError as exc:
        what = "truncated JSON" if exc.pos >= len(text) - 1 else f"invalid JSON ({exc.msg})"
        raise FetchError(url, f"{what} at character {exc.pos} of {len(text)}") from None


class _Deadline:
    """The wall-clock deadline of one request in flight, and the connection it runs on.

    A socket timeout bounds each wait for data, not the whole answer: a server that sends one byte
    every 0.1 s never trips it. So each request registers the connection it is given (the pools
    below do it) and a timer shuts that socket down at the deadline: the blocked read returns at
    once, and ``HttpClient.get`` reports the cut. While the connection is still being made there is
    no socket yet (the connect timeout bounds that); the timer then tries again shortly.
    """

    RETRY_CUT = 0.05  # seconds between tries to cut a request whose socket is not open yet

    def __init__(self, seconds: float, why: str):
        self.seconds, self.why = seconds, why
        self.conn = None
        self.expired = False
        self.done = False
        self.lock = threading.Lock()
        self.timer = threading.Timer(max(0.0, seconds), self._cut)
        self.timer.daemon = True

    def __enter__(self) -> "_Deadline":
        _in_flight.deadline = self
        self.timer.start()
        return self

    def __exit__(self, *exc) -> None:
        self.finish()
        _in_flight.deadline = None

    def finish(self) -> bool:
        """The request is over: stop the timer. True when it was cut (or its deadline passed)."""
        with self.lock:
            self.done = True
            self.timer.cancel()
            return self.expired

    def attach(self, conn) -> None:
        with self.lock:
            self.conn = conn
        if self.expired:
            self._cut()

    def _cut(self) -> None:
        with self.lock:
            if self.done:
                return
            self.expired = True
            sock = getattr(self.conn, "sock", None)
            if sock is None:
                self.timer = threading.Timer(self.RETRY_CUT, self._cut)
                self.timer.daemon = True
                self.timer.start()
                return
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # closed already: the request is ending anyway


_in_flight = threading.local()  # the _Deadline of the request this thread is making


def _attach_to_deadline(conn):
    deadline = getattr(_in_flight, "deadline", None)
    if deadline is not None:
        deadline.attach(conn)
    return conn


class _DeadlineHTTPPool(HTTPConnectionPool):
    def _get_conn(self, timeout=None):
        return _attach_to_deadline(super()._get_conn(timeout))


class _DeadlineHTTPSPool(HTTPSConnectionPool):
    def _get_conn(self, timeout=None):
        return _attach_to_deadline(super()._get_conn(timeout))


class _DeadlineAdapter(requests.adapters.HTTPAdapter):
    """An adapter whose connections can be cut at a request's deadline (see ``_Deadline``)."""

    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _DeadlineHTTPPool, "https": _DeadlineHTTPSPool}


class _HostGate:
    """Bounded concurrency and a minimum interval between requests to one host."""

    def __init__(self, concurrency: int, rate_limit: float | None):
        self.sem = threading.BoundedSemaphore(max(1, concurrency))
        self.interval = 1.0 / rate_limit if rate_limit else 0.0
        self.lock = threading.Lock()
        self.next_start = 0.0

    def __enter__(self):
        self.sem.acquire()
        if self.interval:
            with self.lock:
                now = time.monotonic()
                wait = self.next_start - now
                self.next_start = max(now, self.next_start) + self.interval
            if wait > 0:
                time.sleep(wait)
        return self

    def __exit__(self, *exc):
        self.sem.release()


class HttpClient:
    """A requests session with placecat's retry, politeness and budget rules. Thread-safe."""

    def __init__(self, policy: HttpPolicy | None = None, sleep=time.sleep):
        self.policy = policy or HttpPolicy()
        self.session = requests.Session()
        adapter = _DeadlineAdapter(pool_connections=8, pool_maxsize=max(8, self.policy.concurrency * 2))
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.session.headers.update({"User-Agent": USER_AGENT, "Accept": "application/json, */*;q=0.5",
                                     **self.policy.headers})
        self.deadline = time.monotonic() + self.policy.time_budget
        self._gates: dict[str, _HostGate] = {}
        self._gates_lock = threading.Lock()
        self._sleep = sleep
        self.requests_made = 0
        self.retries_made = 0

    def _gate(self, url: str) -> _HostGate:
        host = urlsplit(url).netloc
        with self._gates_lock:
            if host not in self._gates:
                self._gates[host] = _HostGate(self.policy.concurrency, self.policy.rate_limit)
            return self._gates[host]

    def _wait(self, url: str, seconds: float, why: str) -> None:
        if time.monotonic() + seconds > self.deadline:
            raise FetchError(url, f"gave up: {why}, and waiting {seconds:.0f}s more would pass the "
                                  f"{self.policy.time_budget:.0f}s time budget for this source")
        self._sleep(seconds)

    def _backoff(self, attempt: int) -> float:
        return random.uniform(0, min(self.policy.backoff_max, self.policy.backoff_base * (2 ** attempt)))

    def get(self, url: str, params: Mapping[str, Any] | None = None, validators: Mapping[str, str] | None = None,
            headers: Mapping[str, str] | None = None, accept_statuses: tuple[int, ...] = ()) -> FetchResult:
        """GET with retries. Returns 2xx and 304 (and any status in accept_statuses); raises FetchError otherwise."""
        hdrs = dict(headers or {})
        if validators:
            if validators.get("etag"):
                hdrs["If-None-Match"] = validators["etag"]
            if validators.get("last_modified"):
                hdrs["If-Modified-Since"] = validators["last_modified"]
        attempt = 0
        started = time.monotonic()
        while True:
            if time.monotonic() > self.deadline:
                raise FetchError(url, f"gave up: the {self.policy.time_budget:.0f}s time budget for this source is spent")
            why = None
            retry_after = None
            try:
                with self._gate(url):
                    self.requests_made += 1
                    resp, body = self._fetch(url, params, hdrs)
            except requests.exceptions.Timeout:
                why = f"no answer within {self.policy.timeout:.0f}s"
            except requests.exceptions.ConnectionError as exc:
                why = f"connection failed ({type(exc).__name__})"
            except requests.exceptions.ChunkedEncodingError:
                why = "connection dropped mid-response"
            except requests.exceptions.InvalidURL:
                raise FetchError(url, "not a valid URL; check the source's url") from None
            except requests.exceptions.MissingSchema:
                raise FetchError(url, "not a URL (no http:// or https://); check the source's url") from None
            except requests.exceptions.InvalidSchema:
                raise FetchError(url, "not an http:// or https:// URL; check the source's url") from None
            else:
                full_url = resp.url
                if resp.status_code == 304 or 200 <= resp.status_code < 300 or resp.status_code in accept_statuses:
                    return FetchResult(full_url, resp.status_code, resp.headers, body,
                                       time.monotonic() - started, attempt + 1)
                if resp.status_code in RETRY_STATUSES:
                    why = f"HTTP {resp.status_code}"
                    retry_after = parse_retry_after(resp.headers.get("Retry-After"))
                else:
                    raise FetchError(full_url, f"HTTP {resp.status_code} {resp.reason or ''}".strip(), resp.status_code)
            if attempt >= self.policy.max_retries:
                raise FetchError(url, f"gave up after {attempt + 1} attempts: {why}")
            wait = retry_after if retry_after is not None else self._backoff(attempt)
            self.retries_made += 1
            self._wait(url, min(wait, self.policy.backoff_max * 5), why)
            attempt += 1

    def _fetch(self, url: str, params, headers) -> tuple[requests.Response, bytes]:
        """One request, cut at its deadline: ``request_timeout`` from now, or the source's time
        budget if that ends first. Raises FetchError when it is cut (not retried: a server that
        dribbles this slowly will do it again, and the budget is better spent elsewhere)."""
        budget_left = self.deadline - time.monotonic()
        if self.policy.request_timeout <= budget_left:
            seconds = self.policy.request_timeout
            why = (f"cut off after {seconds:g}s: the whole answer did not arrive within request_timeout "
                   f"({seconds:g}s); the server is sending too slowly")
        else:
            seconds = max(0.0, budget_left)
            why = (f"cut off: the {self.policy.time_budget:g}s time budget for this source ran out "
                   f"before the answer was complete")
        received = 0
        with _Deadline(seconds, why) as deadline:
            try:
                timeout = min(self.policy.timeout, max(0.001, seconds))
                resp = self.session.get(url, params=params, headers=headers, timeout=(timeout, timeout), stream=True)
                chunks = []
                for chunk in resp.iter_content(1 << 16):
                    chunks.append(chunk)
                    received += len(chunk)
                resp.close()
            except Exception:  # noqa: BLE001 - whatever a cut socket raises (a RequestException mostly)
                if deadline.finish():
                    raise FetchError(url, f"{why} ({received:,} bytes of the body received)") from None
                raise
            # A body cut short can also end as if complete (no Content-Length: read to the close).
            if deadline.finish():
                raise FetchError(url, f"{why} ({received:,} bytes of the body received)")
        return resp, b"".join(chunks)

    def get_json(self, url: str, params: Mapping[str, Any] | None = None,
                 validators: Mapping[str, str] | None = None, body_retries: int = 2,
                 parse=None) -> tuple[Any, FetchResult]:
        """GET and parse JSON. A body that is not usable JSON (truncated, an HTML error page served
        with 200, empty) is usually a passing fault of the server, so it is fetched again up to
        ``body_retries`` times (with the same backoff) before the FetchError is raised.
        ``parse(body, url)`` replaces ``parse_json_body`` (it raises FetchError the same way)."""
        res = self.get(url, params=params, validators=validators)
        return self.parse_fetched(res, url, params, validators, body_retries, parse)

    def parse_fetched(self, res: FetchResult, url: str, params: Mapping[str, Any] | None = None,
                      validators: Mapping[str, str] | None = None, body_retries: int = 2,
                      parse=None) -> tuple[Any, FetchResult]:
        """The second half of ``get_json``, for a response fetched already (``get`` with the same
        arguments): parse it, fetching it again while its body is not usable. Lets one thread
        parse while others keep requests in flight."""
        parse = parse or parse_json_body
        attempt = 0
        while True:
            if res.not_modified:
                return None, res
            try:
                return parse(res.body, res.url), res
            except FetchError as exc:
                if attempt >= body_retries:
                    raise
                self.retries_made += 1
                self._wait(url, self._backoff(attempt), exc.reason)
                attempt += 1
                res = self.get(url, params=params, validators=validators)

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> "HttpClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
