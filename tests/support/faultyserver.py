"""A real HTTP server on 127.0.0.1 that serves feeds and misbehaves on purpose.

Connector tests run against this, never against a patched ``requests``. Routes map a path to a
handler ``(query: dict[str, str], headers: dict) -> Reply``; faults are queued per path pattern
and consumed in order, so a test can say "the 3rd request for /services fails with 500 twice".

    with FaultyServer() as srv:
        srv.route("/services", lambda q, h: Reply.json(page(int(q.get("page", 1)))))
        srv.fault("/services", "status", code=500, times=2)
        srv.fault("/services", "retry_after", seconds=1)
        harvest(srv.url)
        assert srv.count("/services") == ...
"""
from __future__ import annotations

import fnmatch
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import parse_qsl, urlsplit


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, doc: Any, status: int = 200, content_type: str = "application/json", **headers) -> "Reply":
        return cls(status, json.dumps(doc).encode("utf-8"), {"Content-Type": content_type, **headers})

    @classmethod
    def raw(cls, body: bytes | str, status: int = 200, content_type: str = "application/json", **headers) -> "Reply":
        data = body.encode("utf-8") if isinstance(body, str) else body
        return cls(status, data, {"Content-Type": content_type, **headers})


@dataclass
class Fault:
    pattern: str          # fnmatch pattern over the path (and "?query" when given with one)
    kind: str             # status | retry_after | delay | truncate | html200 | drop | bom | control_chars | wrong_type | die
    #                       | trickle (the body one byte every `seconds`) | trickle_headers (the status line and
    #                       headers one byte every `seconds`): slow servers that never trip a socket timeout
    times: int = 1        # how many matching requests it affects; -1 forever
    after: int = 0        # let this many matching requests through first
    code: int = 500
    seconds: float = 1.0
    seen: int = 0


Handler = Callable[[dict, dict], Reply]


def _hang_up(req: BaseHTTPRequestHandler) -> None:
    req.close_connection = True
    try:
        req.connection.shutdown(2)
    except OSError:
        pass


def _with_raw_control_chars(body: bytes) -> bytes:
    """JSON as sloppy servers write it: escaped newlines and tabs inside strings sent raw, and a
    stray BEL character in the first string value (what the real Bristol v1 page holds)."""
    body = body.replace(b"\\n", b"\n").replace(b"\\t", b"\t")
    return body.replace(b'": "', b'": "\x07', 1)


class FaultyServer:
    def __init__(self, host: str = "127.0.0.1"):
        self.routes: list[tuple[str, Handler]] = []
        self.faults: list[Fault] = []
        self.log: list[tuple[str, dict, dict]] = []
        self.trickled = 0  # bytes sent by the trickle faults
        self.lock = threading.Lock()
        outer = self

        class _H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep test output clean
                pass

            def do_GET(self):
                outer._handle(self)

        self.httpd = ThreadingHTTPServer((host, 0), _H)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    # -- lifecycle -------------------------------------------------------------------
    def __enter__(self) -> "FaultyServer":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop serving at once (as if the server was killed): later requests are refused."""
        with self.lock:
            if getattr(self, "_stopped", False):
                return
            self._stopped = True
        # Connections kept alive by clients would otherwise go on being served by their threads.
        self.dead = True
        self.httpd.shutdown()
        self.httpd.server_close()

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    # -- set-up ----------------------------------------------------------------------
    def route(self, pattern: str, handler: Handler | Reply | Any) -> None:
        """Serve ``pattern`` (fnmatch over the path). A non-callable is served as JSON."""
        if isinstance(handler, Reply):
            reply = handler
            handler = lambda q, h: reply  # noqa: E731
        elif not callable(handler):
            doc = handler
            handler = lambda q, h: Reply.json(doc)  # noqa: E731
        self.routes.insert(0, (pattern, handler))

    def fault(self, pattern: str, kind: str, **kw) -> Fault:
        f = Fault(pattern, kind, **kw)
        with self.lock:
            self.faults.append(f)
        return f

    def clear_faults(self) -> None:
        with self.lock:
            self.faults.clear()

    def count(self, pattern: str = "*") -> int:
        return sum(1 for path, _, _ in self.log if fnmatch.fnmatch(path, pattern))

    # -- serving -----------------------------------------------------------------------
    def _take_fault(self, path: str, full: str) -> Fault | None:
        with self.lock:
            for f in self.faults:
                if not (fnmatch.fnmatch(path, f.pattern) or fnmatch.fnmatch(full, f.pattern)):
                    continue
                if f.times == 0:
                    continue
                f.seen += 1
                if f.seen <= f.after:
                    continue
                if f.times > 0:
                    f.times -= 1
                return f
        return None

    def _handle(self, req: BaseHTTPRequestHandler) -> None:
        if getattr(self, "dead", False):
            _hang_up(req)
            return
        parts = urlsplit(req.path)
        path, query = parts.path, dict(parse_qsl(parts.query, keep_blank_values=True))
        headers = {k: v for k, v in req.headers.items()}
        with self.lock:
            self.log.append((path, query, headers))
        fault = self._take_fault(path, req.path)
        if fault and fault.kind == "die":
            # The server is killed mid-harvest: this request gets no answer, later ones are refused.
            self.dead = True
            _hang_up(req)
            threading.Thread(target=self.stop, daemon=True).start()
            return
        if fault and fault.kind == "delay":
            time.sleep(fault.seconds)
            fault = None
        if fault and fault.kind == "drop":
            req.close_connection = True
            try:
                req.wfile.write(b"")
                req.connection.shutdown(2)
            except OSError:
                pass
            return
        if fault and fault.kind == "status":
            return self._send(req, Reply.raw(f"error {fault.code}", fault.code, "text/plain"))
        if fault and fault.kind == "retry_after":
            return self._send(req, Reply.raw("slow down", fault.code if fault.code != 500 else 429, "text/plain",
                                             **{"Retry-After": str(int(fault.seconds))}))
        if fault and fault.kind == "html200":
            return self._send(req, Reply.raw("<!DOCTYPE html><html><body><h1>Service unavailable</h1></body></html>",
                                             200, "text/html"))
        reply = None
        for pattern, handler in self.routes:
            if fnmatch.fnmatch(path, pattern):
                # Handlers see the request path as the pseudo-header ":path" (for routes like /services/*).
                reply = handler(query, {**headers, ":path": path})
                break
        if reply is None:
            reply = Reply.raw("not found", 404, "text/plain")
        if fault and fault.kind in ("trickle", "trickle_headers"):
            return self._trickle(req, reply, fault)
        if fault and fault.kind == "truncate":
            reply = Reply(reply.status, reply.body[: max(1, len(reply.body) // 2)], reply.headers)
        elif fault and fault.kind == "bom":
            reply = Reply(reply.status, b"\xef\xbb\xbf" + reply.body, reply.headers)
        elif fault and fault.kind == "control_chars":
            reply = Reply(reply.status, _with_raw_control_chars(reply.body), reply.headers)
        elif fault and fault.kind == "wrong_type":
            reply = Reply(reply.status, reply.body, {**reply.headers, "Content-Type": "text/html"})
        self._send(req, reply)

    def _trickle(self, req: BaseHTTPRequestHandler, reply: Reply, fault: Fault) -> None:
        """Send ``reply`` one byte every ``fault.seconds`` (its headers at once for ``trickle``),
        until it is all sent or the client hangs up; ``self.trickled`` counts the bytes sent."""
        head = (f"HTTP/1.1 {reply.status} OK\r\n"
                + "".join(f"{k}: {v}\r\n" for k, v in reply.headers.items())
                + f"Content-Length: {len(reply.body)}\r\n\r\n").encode("latin-1")
        req.close_connection = True
        try:
            if fault.kind == "trickle":
                req.wfile.write(head)
                req.wfile.flush()
                dribble = reply.body
            else:
                dribble = head + reply.body
            for i in range(len(dribble)):
                if getattr(self, "dead", False):
                    return
                req.wfile.write(dribble[i:i + 1])
                req.wfile.flush()
                with self.lock:
                    self.trickled += 1
                time.sleep(fault.seconds)
        except (BrokenPipeError, ConnectionResetError, OSError):
            pass

    @staticmethod
    def _send(req: BaseHTTPRequestHandler, reply: Reply) -> None:
        try:
            req.send_response(reply.status)
            for k, v in reply.headers.items():
                req.send_header(k, v)
            req.send_header("Content-Length", str(len(reply.body)))
            req.end_headers()
            req.wfile.write(reply.body)
        except (BrokenPipeError, ConnectionResetError):
            pass
