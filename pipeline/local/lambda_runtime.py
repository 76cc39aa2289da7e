"""One Lambda function on this machine: the unzipped package and Zappa's handler, nothing else.

``pipeline.local.deployed`` starts this file as a script with ``python -S -P``: no
site-packages and not this directory on ``sys.path``, only the package's own folder, as
in Lambda's /var/task. So it may import nothing but the standard library before it hands
an event to the handler the stage names (Zappa's ``handler.lambda_handler`` unless the
stage's ``lambda_handler`` says otherwise).

It listens on loopback and runs one invocation at a time, as one Lambda container does:

    POST /invoke   body: the event (JSON); header X-Request-Id: the request id
                   200 {"result": <what the handler returned>}
                   200 {"errorType": ..., "errorMessage": ..., "stackTrace": [...]}

The first invocation is the cold start (Zappa loads its settings, remote_env and
Django then). The first line it prints is ``READY <port>``; everything after is the
function's own output, as CloudWatch Logs would hold it.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sqlite3
import sys
import time
import traceback
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

INVOKE_PATH = "/invoke"


class Context:
    """The Lambda context object's documented attributes."""

    def __init__(self, *, function: str, memory_mb: int, timeout_s: int, request_id: str) -> None:
        region = os.environ.get("AWS_REGION", "us-east-1")
        self.function_name = function
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:{region}:123456789012:function:{function}"
        self.memory_limit_in_mb = memory_mb
        self.aws_request_id = request_id
        self.log_group_name = f"/aws/lambda/{function}"
        self.log_stream_name = "local"
        self._deadline = time.monotonic() + timeout_s

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def serve(
    *,
    code: str,
    port: int,
    function: str,
    memory_mb: int,
    timeout_s: int,
    handler: str,
    sqlite_version: str = "",
) -> None:
    """Import the function's handler (``module.function``, Lambda's Handler setting) from
    the package and answer invocations until killed."""
    sys.path.insert(0, code)
    os.chdir(code)
    if sqlite_version:
        # The runtime's own SQLite, not this machine's: what the package must cope with.
        major, minor, patch = (int(part) for part in sqlite_version.split("."))
        setattr(sqlite3, "sqlite_version", sqlite_version)  # noqa: B010 (a Final in typeshed)
        setattr(sqlite3, "sqlite_version_info", (major, minor, patch))  # noqa: B010
    module, _, name = handler.rpartition(".")
    lambda_handler = getattr(importlib.import_module(module), name)

    class Invocations(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            if self.path != INVOKE_PATH:
                self.send_error(HTTPStatus.NOT_FOUND)
                return
            length = int(self.headers.get("Content-Length") or 0)
            event = json.loads(self.rfile.read(length) or b"null")
            context = Context(
                function=function,
                memory_mb=memory_mb,
                timeout_s=timeout_s,
                request_id=self.headers.get("X-Request-Id", ""),
            )
            reply: dict[str, Any]
            try:
                reply = {"result": lambda_handler(event, context)}
            except Exception as exc:  # Lambda reports a function error, and lives on
                reply = {
                    "errorType": type(exc).__name__,
                    "errorMessage": str(exc),
                    "stackTrace": traceback.format_exception(exc),
                }
                traceback.print_exc()
            body = json.dumps(reply, default=str).encode()
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            sys.stdout.flush()

        def log_message(self, format: str, *args: Any) -> None:
            pass  # Lambda logs no access lines

    server = HTTPServer(("127.0.0.1", port), Invocations)
    print(f"READY {server.server_address[1]}", flush=True)
    server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--code", required=True, help="the unzipped package")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--function", required=True, help="the function's name")
    parser.add_argument("--memory", type=int, default=512, help="MB, as the stage sets it")
    parser.add_argument("--timeout", type=int, default=30, help="seconds, as the stage sets it")
    parser.add_argument(
        "--handler",
        default="handler.lambda_handler",
        help="module.function, as the stage's lambda_handler names it (Zappa's by default)",
    )
    parser.add_argument("--sqlite-version", default="", help="the runtime's SQLite, e.g. 3.7.17")
    args = parser.parse_args()
    serve(
        code=args.code,
        port=args.port,
        function=args.function,
        memory_mb=args.memory,
        timeout_s=args.timeout,
        handler=args.handler,
        sqlite_version=args.sqlite_version,
    )


if __name__ == "__main__":
    main()
