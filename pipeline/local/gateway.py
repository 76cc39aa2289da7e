"""The AWS services around the deployed functions, on loopback: API Gateway and Lambda's API.

``ApiGatewayFront`` turns each HTTP request into the event API Gateway's REST API sends
through Zappa's ``{proxy+}`` resource (the stage's path prefix, ``X-Forwarded-*``, the
execute-api host, base64 bodies as ``binaryMediaTypes: */*`` makes them), hands it to
the web function and turns the reply back into HTTP. Like API Gateway it answers
``403 {"message":"Forbidden"}`` outside the stage's prefix, 502 when the function fails
and 504 after 29 seconds.

The browser talks to ``http://127.0.0.1:<port>/<stage>/`` while the function sees
``https://<id>.execute-api.<region>.amazonaws.com/<stage>/``: the front rewrites Host,
Origin and Referer on the way in and absolute ``Location`` headers on the way out, and
nothing else, so Django's host, HTTPS and CSRF checks run exactly as deployed.

``LambdaApi`` answers the one Lambda call the functions make of each other
(``Invoke``, ``POST /2015-03-31/functions/<name>/invocations``), so the web function's
boto3 client, pointed here by ``AWS_ENDPOINT_URL_LAMBDA``, hands admin jobs to the
worker function as it does in AWS: ``Event`` invocations are queued and answered 202.
"""

from __future__ import annotations

import base64
import json
import logging
import queue
import threading
import uuid
from collections.abc import Callable, Mapping
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Final, Protocol
from urllib.parse import parse_qs, unquote, urlsplit

log = logging.getLogger("pipeline.local")

# API Gateway's integration timeout for REST APIs.
GATEWAY_TIMEOUT_SECONDS: Final = 29.0
_HOP_BY_HOP: Final = frozenset({"connection", "keep-alive", "transfer-encoding", "content-length"})
_INVOKE_PREFIX: Final = "/2015-03-31/functions/"
# Lambda's longest function timeout.
_ASYNC_TIMEOUT_SECONDS: Final = 900.0


class FunctionTimeout(Exception):
    """The function did not answer within the caller's deadline."""


class FunctionFailed(Exception):
    """The function raised (Lambda's "function error")."""


class Function(Protocol):
    """One running function: hand it an event, get what its handler returned."""

    @property
    def name(self) -> str: ...

    def invoke(self, event: Mapping[str, Any], *, timeout: float, request_id: str = "") -> Any: ...


def _http_origin(server: ThreadingHTTPServer) -> str:
    host, port = server.server_address[:2]
    return f"http://{host!s}:{port}" if isinstance(host, str) else f"http://{host.decode()}:{port}"


def api_host(api_id: str, region: str) -> str:
    """The default domain API Gateway gives a REST API."""
    return f"{api_id}.execute-api.{region}.amazonaws.com"


def rest_event(
    *,
    method: str,
    target: str,
    headers: list[tuple[str, str]],
    body: bytes,
    stage: str,
    source_ip: str,
) -> dict[str, Any] | None:
    """The REST API event for ``target`` (path and query as sent), or None outside the stage."""
    split = urlsplit(target)
    prefix = f"/{stage}"
    if not (split.path == prefix or split.path.startswith(prefix + "/")):
        return None
    path = split.path[len(prefix) :] or "/"
    multi_headers: dict[str, list[str]] = {}
    for name, value in headers:
        multi_headers.setdefault(name, []).append(value)
    query = parse_qs(split.query, keep_blank_values=True)
    request_id = str(uuid.uuid4())
    return {
        "resource": "/" if path == "/" else "/{proxy+}",
        "path": path,
        "httpMethod": method,
        "headers": {name: values[-1] for name, values in multi_headers.items()},
        "multiValueHeaders": multi_headers,
        "queryStringParameters": {k: v[-1] for k, v in query.items()} or None,
        "multiValueQueryStringParameters": query or None,
        "pathParameters": None if path == "/" else {"proxy": unquote(path.lstrip("/"))},
        "stageVariables": None,
        "requestContext": {
            "resourcePath": "/" if path == "/" else "/{proxy+}",
            "httpMethod": method,
            "path": prefix + path,
            "stage": stage,
            "requestId": request_id,
            "identity": {
                "sourceIp": source_ip,
                "userAgent": multi_headers.get("User-Agent", [""])[-1],
            },
        },
        # binaryMediaTypes "*/*" (Zappa's binary_support): every body arrives base64.
        "body": base64.b64encode(body).decode() if body else None,
        "isBase64Encoded": bool(body),
    }


class ApiGatewayFront:
    """A REST API stage in front of the web function, on ``host:port``."""

    def __init__(
        self,
        web: Function,
        *,
        stage: str,
        public_host: str,
        host: str = "127.0.0.1",
        port: int = 0,
        timeout: float = GATEWAY_TIMEOUT_SECONDS,
    ) -> None:
        self.web, self.stage, self.public_host, self.timeout = web, stage, public_host, timeout
        self._server = _FrontServer((host, port), _Proxy)
        self._server.front = self
        self._thread: threading.Thread | None = None

    @property
    def origin(self) -> str:
        return _http_origin(self._server)

    @property
    def url(self) -> str:
        """The stage's root, as a browser opens it."""
        return f"{self.origin}/{self.stage}/"

    def start(self) -> ApiGatewayFront:
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="twl-apigateway", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _inbound(self, headers: list[tuple[str, str]], client_ip: str) -> list[tuple[str, str]]:
        """The browser's headers as API Gateway forwards them to the function."""
        public = f"https://{self.public_host}"
        forwarded = []
        for name, value in headers:
            lower = name.lower()
            if lower in {"host", "x-forwarded-for", "x-forwarded-proto", "x-forwarded-port"}:
                continue
            if lower in {"origin", "referer"} and value.startswith(self.origin):
                value = public + value[len(self.origin) :]
            forwarded.append((name, value))
        return [
            ("Host", self.public_host),
            ("X-Forwarded-For", client_ip),
            ("X-Forwarded-Proto", "https"),
            ("X-Forwarded-Port", "443"),
            *forwarded,
        ]

    def _outbound(self, name: str, value: str) -> str:
        public = f"https://{self.public_host}"
        if name.lower() == "location" and value.startswith(public):
            return self.origin + value[len(public) :]
        return value


class _FrontServer(ThreadingHTTPServer):
    daemon_threads = True
    front: ApiGatewayFront


class _Proxy(BaseHTTPRequestHandler):
    """One browser request through API Gateway to the web function and back."""

    server: _FrontServer

    def _proxy(self) -> None:
        front = self.server.front
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        event = rest_event(
            method=self.command,
            target=self.path,
            headers=front._inbound(list(self.headers.items()), self.client_address[0]),
            body=body,
            stage=front.stage,
            source_ip=self.client_address[0],
        )
        if event is None:
            self._reply(HTTPStatus.FORBIDDEN, {"message": "Forbidden"})
            return
        request_id = event["requestContext"]["requestId"]
        try:
            reply = front.web.invoke(event, timeout=front.timeout, request_id=request_id)
        except FunctionTimeout:
            self._reply(HTTPStatus.GATEWAY_TIMEOUT, {"message": "Endpoint request timed out"})
        except FunctionFailed:
            self._reply(HTTPStatus.BAD_GATEWAY, {"message": "Internal server error"})
        else:
            self._relay(reply)

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _proxy

    def _relay(self, reply: Mapping[str, Any]) -> None:
        raw = reply.get("body") or ""
        data = base64.b64decode(raw) if reply.get("isBase64Encoded") else raw.encode()
        self.send_response(int(reply.get("statusCode", HTTPStatus.BAD_GATEWAY)))
        multi = reply.get("multiValueHeaders") or {
            k: [v] for k, v in (reply.get("headers") or {}).items()
        }
        for name, values in multi.items():
            if name.lower() not in _HOP_BY_HOP:
                for value in values:
                    self.send_header(name, self.server.front._outbound(name, str(value)))
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _reply(self, status: HTTPStatus, payload: Mapping[str, Any]) -> None:
        _send_json(self, status, json.dumps(payload).encode())

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("apigateway: " + format, *args)


def _send_json(
    handler: BaseHTTPRequestHandler,
    status: HTTPStatus,
    body: bytes,
    headers: Mapping[str, str] | None = None,
) -> None:
    handler.send_response(status)
    for name, value in (headers or {}).items():
        handler.send_header(name, value)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


class LambdaApi:
    """Lambda's Invoke API for the functions of this machine (``AWS_ENDPOINT_URL_LAMBDA``)."""

    def __init__(
        self,
        functions: Callable[[], Mapping[str, Function]],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        deliveries: int = 1,
    ) -> None:
        self._functions = functions
        # Lambda delivers an asynchronous event at least once, now and then twice: with
        # 2, every Event invocation runs twice, to prove the functions take that.
        self._deliveries = deliveries
        self._events: queue.Queue[tuple[str, str, Any] | None] = queue.Queue()
        self._server = _ApiServer((host, port), _Invoke)
        self._server.api = self
        self._threads: list[threading.Thread] = []

    @property
    def url(self) -> str:
        return _http_origin(self._server)

    def start(self) -> LambdaApi:
        for name, target in (
            ("lambda-api", self._server.serve_forever),
            ("lambda-async", self._drain),
        ):
            thread = threading.Thread(target=target, name=f"twl-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        self._events.put(None)
        self._server.shutdown()
        self._server.server_close()

    def _drain(self) -> None:
        """Run queued Event invocations one after another, as Lambda's async queue does."""
        while (item := self._events.get()) is not None:
            name, request_id, event = item
            function = self._functions().get(name)
            if function is None:
                continue
            for _ in range(self._deliveries):
                try:
                    function.invoke(event, timeout=_ASYNC_TIMEOUT_SECONDS, request_id=request_id)
                except Exception as exc:  # a failed delivery never stops the ones after it
                    # As Lambda: an Event invocation's failure is in the function's log only.
                    log.warning(
                        "async %s %s failed: %s: %s", name, request_id, type(exc).__name__, exc
                    )


class _ApiServer(ThreadingHTTPServer):
    daemon_threads = True
    api: LambdaApi


class _Invoke(BaseHTTPRequestHandler):
    """``Invoke``: ``Event`` queued and answered 202; ``RequestResponse`` run and answered."""

    server: _ApiServer

    def do_POST(self) -> None:
        api = self.server.api
        path = urlsplit(self.path).path
        if not (path.startswith(_INVOKE_PREFIX) and path.endswith("/invocations")):
            self._error(HTTPStatus.NOT_FOUND, "UnknownOperationException", path)
            return
        name = unquote(path[len(_INVOKE_PREFIX) :].split("/", 1)[0]).rsplit(":", 1)[-1]
        function = api._functions().get(name)
        if function is None:
            self._error(
                HTTPStatus.NOT_FOUND, "ResourceNotFoundException", f"Function not found: {name}"
            )
            return
        length = int(self.headers.get("Content-Length") or 0)
        event = json.loads(self.rfile.read(length) or b"{}")
        request_id = str(uuid.uuid4())
        ids = {"x-amzn-RequestId": request_id}
        if self.headers.get("X-Amz-Invocation-Type", "RequestResponse") == "Event":
            api._events.put((function.name, request_id, event))
            _send_json(self, HTTPStatus.ACCEPTED, b"", ids)
            return
        try:
            result = function.invoke(event, timeout=_ASYNC_TIMEOUT_SECONDS, request_id=request_id)
        except (FunctionFailed, FunctionTimeout) as exc:
            payload = {"errorType": type(exc).__name__, "errorMessage": str(exc)}
            failed = {**ids, "X-Amz-Function-Error": "Unhandled"}
            _send_json(self, HTTPStatus.OK, json.dumps(payload).encode(), failed)
            return
        _send_json(self, HTTPStatus.OK, json.dumps(result).encode(), ids)

    def _error(self, status: HTTPStatus, code: str, message: str) -> None:
        body = json.dumps({"Type": "User", "message": message}).encode()
        _send_json(self, status, body, {"x-amzn-ErrorType": code})

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("lambda api: " + format, *args)
