"""The sandbox's HTTP server: ``SandboxServer``, its request handler and the control endpoint.

A threaded ``http.server`` on loopback mounts every fake in ``registry.FAKES`` at its
``PREFIX`` (passing the request headers to, and sending the reply headers of, a fake with
``respond_http``), applies the active faults (``faults.py``) before routing, and serves
``/_sandbox/faults`` (GET lists, POST adds, DELETE clears) and ``/_sandbox/stats``
(GET counts data requests per path, DELETE resets them).
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import struct
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, replace
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from pipeline.local.sandbox import registry
from pipeline.local.sandbox._common import (
    JSON_CONTENT_TYPE,
    NOT_FOUND_BODY,
    FakeReply,
    FakeRequest,
    dumps,
)
from pipeline.local.sandbox.faults import Fault, FaultRegistry
from pipeline.local.sandbox.registry import CONTROL_PREFIX

logger = logging.getLogger(__name__)


def _status_phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return f"HTTP {status}"


def dispatch(request: FakeRequest) -> FakeReply:
    """The reply to a GET on the sandbox; ``request.path`` is the full path."""
    found = registry.find(request.path)
    if found is None:
        return FakeReply(404, NOT_FOUND_BODY)
    fake, rest = found
    if isinstance(fake, registry.HttpFakeApi):
        return fake.respond_http(replace(request, path=rest))
    status, body = fake.respond(rest, request.query, request.base_url)
    return FakeReply(status, body)


def route(path: str, query: dict[str, list[str]], base_url: str) -> tuple[int, bytes]:
    """Status and JSON body for a GET of ``path`` on the sandbox, sent without headers."""
    reply = dispatch(FakeRequest(path, query, base_url))
    return reply.status, reply.body


class _HTTPServer(ThreadingHTTPServer):
    """ThreadingHTTPServer that knows its SandboxServer and logs errors quietly."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], sandbox: SandboxServer) -> None:
        self.sandbox = sandbox
        super().__init__(address, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients hanging up mid-response are routine here (timeouts, reset tests).
        logger.debug("sandbox request from %s failed", client_address, exc_info=True)


class _Handler(BaseHTTPRequestHandler):
    """Routes data requests, applies faults and serves the /_sandbox control endpoint."""

    server: _HTTPServer
    protocol_version = "HTTP/1.1"  # keep-alive, like the real APIs behind a CDN
    server_version = "TWLSandbox/1.0"
    timeout = 30  # idle keep-alive connections must not pin threads forever

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s - " + format, self.address_string(), *args)

    def do_GET(self) -> None:
        self._handle()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_GET

    # ---- plumbing

    def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", JSON_CONTENT_TYPE)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _send_json(self, status: int, obj: Any, headers: dict[str, str] | None = None) -> None:
        self._send(status, dumps(obj), headers)

    def _read_body(self) -> bytes:
        # Always drain the body: unread bytes would corrupt the next request on a keep-alive
        # connection.
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    # ---- dispatch

    def _handle(self) -> None:
        url = urlsplit(self.path)
        body = self._read_body()
        if url.path == CONTROL_PREFIX or url.path.startswith(CONTROL_PREFIX + "/"):
            self._control(url.path.rstrip("/"), body)
            return
        sandbox = self.server.sandbox
        sandbox._count(url.path)
        fault = sandbox.faults.take(url.path)
        if fault is not None and self._apply_fault(fault):
            return
        if self.command != "GET":
            self._send_json(405, {"error": "Method Not Allowed"}, {"Allow": "GET"})
            return
        headers = {name.lower(): value for name, value in self.headers.items()}
        reply = dispatch(FakeRequest(url.path, parse_qs(url.query), sandbox.url, headers))
        status, payload = reply.status, reply.body
        if fault is not None and fault.kind == "malformed":
            # Half of a JSON document is never valid JSON (brackets stay open).
            status, payload = 200, payload[: max(1, len(payload) // 2)]
        self._send(status, payload, dict(reply.headers))

    def _apply_fault(self, fault: Fault) -> bool:
        """Apply a fault; True when the response has been dealt with entirely."""
        if fault.kind == "latency":
            time.sleep(fault.delay)
            return False
        if fault.kind == "status":
            headers = {"Retry-After": fault.retry_after} if fault.retry_after else None
            self._send_json(fault.status, {"error": _status_phrase(fault.status)}, headers)
            return True
        if fault.kind == "error_body":
            self._send_json(200, {"error": fault.error})
            return True
        if fault.kind == "reset":
            self._reset_connection()
            return True
        return False  # malformed: handled after routing

    def _reset_connection(self) -> None:
        # SO_LINGER 0 makes close() send RST: the client sees a reset, not a clean empty reply.
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()

    # ---- control endpoint

    def _control(self, path: str, body: bytes) -> None:
        sandbox = self.server.sandbox
        actions: dict[tuple[str, str], Callable[[], None]] = {
            ("GET", "/_sandbox/faults"): lambda: self._send_json(
                200, {"faults": sandbox.faults.active(), "hits": sandbox.faults.hits}
            ),
            ("POST", "/_sandbox/faults"): lambda: self._add_fault(body),
            ("DELETE", "/_sandbox/faults"): lambda: self._send_json(
                200, {"cleared": sandbox.faults.clear()}
            ),
            ("GET", "/_sandbox/stats"): lambda: self._send_json(200, sandbox.stats()),
            ("DELETE", "/_sandbox/stats"): lambda: self._send_json(
                200, {"cleared": sandbox.reset_stats()}
            ),
        }
        action = actions.get((self.command, path))
        if action is not None:
            action()
        elif any(known == path for _, known in actions):
            self._send_json(405, {"error": "Method Not Allowed"})
        else:
            self._send(404, NOT_FOUND_BODY)

    def _add_fault(self, body: bytes) -> None:
        try:
            data = json.loads(body or b"{}")
            if not isinstance(data, dict):
                raise TypeError("the fault must be a JSON object")
            fault = Fault(**data)
        except (ValueError, TypeError) as exc:
            self._send_json(400, {"error": f"invalid fault: {exc}"})
            return
        self.server.sandbox.faults.add(fault)
        self._send_json(201, {"added": asdict(fault)})


class SandboxServer:
    """Loopback HTTP server hosting every fake API in ``registry.FAKES``."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, poll_interval: float = 0.05) -> None:
        self.host = host
        self._port = port
        # stop() waits up to one poll interval: short for tests, longer for an idle demo server.
        self._poll_interval = poll_interval
        self.faults = FaultRegistry()
        self._counts: Counter[str] = Counter()
        self._counts_lock = threading.Lock()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ---- lifecycle

    def start(self) -> SandboxServer:
        """Bind and serve in a daemon thread; returns self. Starting twice is a no-op."""
        if self._httpd is not None:
            return self
        self._httpd = _HTTPServer((self.host, self._port), self)
        self._port = self._httpd.server_address[1]
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": self._poll_interval},
            name=f"sandbox-{self._port}",
            daemon=True,
        )
        self._thread.start()
        logger.info("sandbox sources listening on %s", self.url)
        return self

    def stop(self) -> None:
        """Stop serving and release the port; safe to call more than once."""
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        httpd.shutdown()
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # ---- addresses

    @property
    def port(self) -> int:
        """The bound port (the real one once started with port 0)."""
        if self._port == 0:
            raise RuntimeError("SandboxServer has no port yet: call start() first")
        return self._port

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:8765``."""
        return f"http://{self.host}:{self.port}"

    def source_urls(self) -> dict[str, str]:
        """Base URL per built-in source name, for every fake this server mounts for one.

        Generic fakes (``registry.is_generic``: the catalog) are left out: no built-in
        source reads them; ``url_for`` has their URLs.
        """
        fakes = registry.FAKES.items()
        return {
            name: self.url + fake.PREFIX for name, fake in fakes if not registry.is_generic(fake)
        }

    def url_for(self, source: str) -> str:
        """Base URL to use in place of ``source``'s real API; KeyError for an unknown source."""
        fake = registry.FAKES.get(source)
        if fake is None:
            known = ", ".join(sorted(registry.FAKES))
            raise KeyError(f"no sandbox fake for source {source!r} (have: {known})")
        return self.url + fake.PREFIX

    @property
    def jsonplaceholder_url(self) -> str:
        """Base URL to use in place of https://jsonplaceholder.typicode.com."""
        return self.url_for("jsonplaceholder")

    @property
    def randomuser_url(self) -> str:
        """Base URL to use in place of https://randomuser.me (append /api/)."""
        return self.url_for("randomuser")

    @property
    def catalog_url(self) -> str:
        """Base URL of the generic catalog API, for declared sources' ``client.base_url``."""
        return self.url_for("catalog")

    # ---- request statistics

    def _count(self, path: str) -> None:
        with self._counts_lock:
            self._counts[path] += 1

    def stats(self) -> dict[str, dict[str, int]]:
        """Data requests received per path (control requests are not counted)."""
        with self._counts_lock:
            return {"requests": dict(self._counts)}

    def reset_stats(self) -> int:
        """Forget request counts; returns the number of requests forgotten."""
        with self._counts_lock:
            total = sum(self._counts.values())
            self._counts.clear()
        return total
