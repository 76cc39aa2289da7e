"""The deployed shape's stand-ins for AWS: API Gateway's front, Lambda's Invoke, one container.

The whole harness runs in tests/e2e and tests/browser (``deployed`` mode); these check
its parts on their own, with a tiny package in place of the zip.
"""

from __future__ import annotations

import json
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests
from botocore.exceptions import ClientError

from pipeline.local.functions import FunctionPool, FunctionProcess
from pipeline.local.gateway import (
    ApiGatewayFront,
    FunctionFailed,
    FunctionTimeout,
    LambdaApi,
    api_host,
    rest_event,
)

HOST = api_host("abc123", "us-east-1")


class Recorder:
    """A function that answers with what it was given (and can be told to fail)."""

    def __init__(self, name: str = "twl-pipeline-dev", reply: Any = None) -> None:
        self.name = name
        self.events: list[dict[str, Any]] = []
        self.reply = reply
        self.fail: Exception | None = None
        self.seen = threading.Event()

    def invoke(self, event, *, timeout: float, request_id: str = "") -> Any:
        self.events.append(event)
        self.seen.set()
        if self.fail:
            raise self.fail
        return self.reply


def test_a_request_becomes_the_rest_api_proxy_event_without_the_stage():
    event = rest_event(
        method="POST",
        target="/dev/api/records/a%20b?limit=2&tag=x&tag=y",
        headers=[("Host", HOST), ("Cookie", "a=1")],
        body=b"\x00binary",
        stage="dev",
        source_ip="127.0.0.1",
    )
    assert event is not None
    assert event["path"] == "/api/records/a%20b"
    assert event["requestContext"]["path"] == "/dev/api/records/a%20b"
    assert event["requestContext"]["stage"] == "dev"
    assert event["pathParameters"] == {"proxy": "api/records/a b"}
    assert event["multiValueQueryStringParameters"] == {"limit": ["2"], "tag": ["x", "y"]}
    assert event["queryStringParameters"] == {"limit": "2", "tag": "y"}
    assert event["isBase64Encoded"] is True and event["body"] == "AGJpbmFyeQ=="


@pytest.mark.parametrize("target", ["/", "/api/records", "/development/x", "/de"])
def test_outside_the_stage_there_is_no_event(target):
    assert (
        rest_event(method="GET", target=target, headers=[], body=b"", stage="dev", source_ip="")
        is None
    )


@pytest.fixture
def front():
    web = Recorder(
        reply={
            "statusCode": 302,
            "multiValueHeaders": {
                "Location": [f"https://{HOST}/dev/admin/login/"],
                "Set-Cookie": ["a=1; Secure", "b=2; Secure"],
            },
            "body": "",
        }
    )
    server = ApiGatewayFront(web, stage="dev", public_host=HOST).start()
    yield server, web
    server.stop()


def test_the_front_forwards_as_api_gateway_and_maps_locations_back(front):
    server, web = front
    reply = requests.get(
        server.url + "admin/?next=1",
        headers={"Origin": server.origin, "Referer": server.origin + "/dev/x"},
        allow_redirects=False,
        timeout=10,
    )
    assert reply.status_code == 302
    assert reply.headers["Location"] == server.origin + "/dev/admin/login/"
    assert reply.raw.headers.getlist("Set-Cookie") == ["a=1; Secure", "b=2; Secure"]
    [event] = web.events
    headers = event["headers"]
    assert headers["Host"] == HOST and headers["X-Forwarded-Proto"] == "https"
    assert headers["Origin"] == f"https://{HOST}"
    assert headers["Referer"] == f"https://{HOST}/dev/x"


@pytest.mark.parametrize(
    ("failure", "status", "message"),
    [
        (FunctionFailed("boom"), 502, "Internal server error"),
        (FunctionTimeout("slow"), 504, "Endpoint request timed out"),
    ],
)
def test_function_failures_answer_as_api_gateway_does(front, failure, status, message):
    server, web = front
    web.fail = failure
    reply = requests.get(server.url, timeout=10)
    assert (reply.status_code, reply.json()) == (status, {"message": message})
    assert "boom" not in reply.text


def test_outside_the_stage_the_front_answers_forbidden_and_calls_nothing(front):
    server, web = front
    reply = requests.get(server.origin + "/api/records", timeout=10)
    assert (reply.status_code, reply.json()) == (403, {"message": "Forbidden"})
    assert web.events == []


@pytest.fixture
def lambda_api():
    worker = Recorder(name="twl-pipeline-dev-worker", reply={"status": "done"})
    api = LambdaApi(lambda: {worker.name: worker}).start()
    client = boto3.client(
        "lambda",
        endpoint_url=api.url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    yield client, worker
    api.stop()


def test_an_event_invocation_is_accepted_at_once_and_then_run(lambda_api):
    client, worker = lambda_api
    reply = client.invoke(
        FunctionName=worker.name, InvocationType="Event", Payload=json.dumps({"job": "ingest"})
    )
    assert reply["StatusCode"] == 202
    assert worker.seen.wait(10)
    assert worker.events == [{"job": "ingest"}]


def test_with_two_deliveries_every_event_invocation_runs_twice():
    """Lambda's async delivery is at least once; the deployed shape can make it twice."""
    worker = Recorder(name="twl-pipeline-dev-worker", reply={"status": "done"})
    api = LambdaApi(lambda: {worker.name: worker}, deliveries=2).start()
    try:
        client = boto3.client("lambda", endpoint_url=api.url, region_name="us-east-1")
        client.invoke(FunctionName=worker.name, InvocationType="Event", Payload=b'{"n": 1}')
        deadline = time.monotonic() + 10
        while len(worker.events) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        api.stop()
    assert worker.events == [{"n": 1}, {"n": 1}]


def test_a_request_response_invocation_returns_the_handlers_reply(lambda_api):
    client, worker = lambda_api
    reply = client.invoke(FunctionName=worker.name, Payload=b"{}")
    assert json.loads(reply["Payload"].read()) == {"status": "done"}


def test_an_unknown_function_is_botocores_resource_not_found(lambda_api):
    client, _ = lambda_api
    with pytest.raises(ClientError) as caught:
        client.invoke(FunctionName="someone-else", InvocationType="Event", Payload=b"{}")
    assert caught.value.response["Error"]["Code"] == "ResourceNotFoundException"


@pytest.fixture
def tiny_function(tmp_path: Path):
    """A package of one handler.py, run by the same runtime as the real zip."""
    code = tmp_path / "code"
    code.mkdir()
    (code / "handler.py").write_text(
        textwrap.dedent(
            """
            import os, sys, time
            STARTED = time.time()
            def lambda_handler(event, context):
                if event.get("die"):
                    os._exit(3)
                if event.get("sleep"):
                    time.sleep(event["sleep"])
                if event.get("raise"):
                    raise ValueError("bad event")
                return {
                    "started": STARTED,
                    "paths": [p for p in sys.path if "site-packages" in p],
                    "request_id": context.aws_request_id,
                    "left_ms": context.get_remaining_time_in_millis(),
                }
            """
        )
    )
    process = FunctionProcess(
        name="tiny",
        stage="dev",
        code=code,
        environ={"PATH": "/usr/bin:/bin"},
        log_path=tmp_path / "tiny.log",
        timeout_seconds=2,
    ).start()
    yield process
    process.stop()


def test_a_function_sees_only_its_package_and_a_lambda_context(tiny_function):
    reply = tiny_function.invoke({}, timeout=10, request_id="req-1")
    assert reply["paths"] == []  # no site-packages: only the package is importable
    assert reply["request_id"] == "req-1" and 0 < reply["left_ms"] <= 2000


def test_a_raising_handler_is_a_function_error_and_the_container_lives_on(tiny_function):
    first = tiny_function.invoke({}, timeout=10)
    with pytest.raises(FunctionFailed, match="ValueError: bad event"):
        tiny_function.invoke({"raise": True}, timeout=10)
    assert tiny_function.invoke({}, timeout=10)["started"] == first["started"]  # still warm


def test_a_dead_or_overrunning_container_is_replaced_by_a_cold_one(tiny_function):
    first = tiny_function.invoke({}, timeout=10)
    with pytest.raises(FunctionFailed):
        tiny_function.invoke({"die": True}, timeout=10)
    second = tiny_function.invoke({}, timeout=10)
    assert second["started"] > first["started"]
    with pytest.raises(FunctionTimeout):
        tiny_function.invoke({"sleep": 5}, timeout=10)  # the function's own 2 s timeout
    assert tiny_function.invoke({}, timeout=10)["started"] > second["started"]


def test_a_pool_starts_another_container_for_an_event_that_finds_them_all_busy(tiny_function):
    pool = FunctionPool(tiny_function, size=2).start()
    try:
        replies: list = []
        threads = [
            threading.Thread(target=lambda: replies.append(pool.invoke({"sleep": 1}, timeout=10)))
            for _ in range(3)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(replies) == 3
        assert len({r["started"] for r in replies}) == 2  # two containers, the third waited
        assert pool.containers == 2
    finally:
        pool.stop()
    assert pool.containers == 0


def test_a_stopped_pool_lets_a_busy_container_finish_then_stops_it_and_takes_no_more(
    tiny_function,
):
    pool = FunctionPool(tiny_function, size=2).start()
    [container] = pool._containers
    replies: list = []
    busy = threading.Thread(target=lambda: replies.append(pool.invoke({"sleep": 1}, timeout=10)))
    busy.start()
    time.sleep(0.3)
    pool.stop()
    with pytest.raises(FunctionFailed, match="stopped"):
        pool.invoke({}, timeout=10)
    busy.join()
    assert len(replies) == 1  # the event in flight finished
    assert not container.running  # and then its container stopped
