"""Rate limits hold: keyed on what API Gateway reports, shared by instances, pages included."""

from __future__ import annotations

import importlib
import logging
from dataclasses import dataclass
from http import HTTPStatus
from io import BytesIO
from typing import Any

import pytest
from django.core.cache import cache
from django.core.handlers.wsgi import WSGIHandler
from django.test import Client
from rest_framework.test import APIClient
from rest_framework.throttling import AnonRateThrottle
from zappa.wsgi import create_wsgi_request

from pipeline.core.constants import LEDGER_PK, LEDGER_SK
from pipeline.stores import aws
from pipeline.stores.throttle import LEDGER_TTL_ATTRIBUTE, throttle_key, window_start
from records_api.throttling import (
    API_SCOPE,
    HEALTH_SCOPE,
    PAGE_SCOPE,
    SharedAnonRateThrottle,
    client_address,
)

pytestmark = pytest.mark.django_db

CLIENT_IP = "203.0.113.7"
# Mid-window, so no test runs across a window boundary.
WINDOW_START = 1_800_000_000
NOW = WINDOW_START + 45.0
PERIOD = 60


@dataclass
class Clock:
    """The throttles' time, moved by the test."""

    now: float = NOW


@pytest.fixture
def clock(monkeypatch) -> Clock:
    frozen = Clock()
    monkeypatch.setattr(SharedAnonRateThrottle, "timer", staticmethod(lambda: frozen.now))
    return frozen


@pytest.fixture
def api_rate(monkeypatch):
    """Set the API's rate as TWL_API_ANON_RATE would at start-up (DRF reads it on import)."""

    def set_rate(rate: str) -> None:
        monkeypatch.setattr(AnonRateThrottle, "THROTTLE_RATES", {"anon": rate})

    return set_rate


def _codes(responses: list[Any]) -> list[int]:
    return [r.status_code for r in responses]


def _counter(stack, scope: str, client: str) -> dict[str, Any]:
    key = {
        LEDGER_PK: {"S": throttle_key(scope, client)},
        LEDGER_SK: {"S": str(window_start(NOW, PERIOD))},
    }
    reply = aws.dynamodb(stack).get_item(TableName=stack.ledger_table, Key=key, ConsistentRead=True)
    return reply.get("Item", {})


def test_a_hundred_forged_forwarded_for_headers_from_one_address_are_throttled_after_the_limit(
    stack, clock, api_rate
):
    api_rate("10/minute")
    client = APIClient(REMOTE_ADDR=CLIENT_IP)

    replies = [
        client.get("/api/records", HTTP_X_FORWARDED_FOR=f"198.18.{i // 250}.{i % 250}")
        for i in range(100)
    ]

    assert _codes(replies) == [HTTPStatus.OK] * 10 + [HTTPStatus.TOO_MANY_REQUESTS] * 90
    assert replies[-1].json()["error"] == "throttled"
    assert replies[-1]["Retry-After"] == str(WINDOW_START + PERIOD - int(NOW))


def _api_gateway_event(path: str, *, source_ip: str, forwarded_for: str) -> dict[str, Any]:
    """A REST API (payload 1.0) proxy event as API Gateway sends it to the web function."""
    return {
        "httpMethod": "GET",
        "path": path,
        "headers": {"Host": "testserver", "X-Forwarded-For": forwarded_for},
        "queryStringParameters": None,
        "body": None,
        "isBase64Encoded": False,
        "requestContext": {"stage": "dev", "identity": {"sourceIp": source_ip}},
    }


def _through_zappa(event: dict[str, Any]) -> int:
    """Run ``event`` through Zappa's own WSGI translation and Django, as the handler does."""
    environ = create_wsgi_request(event)
    environ["lambda.event"] = event  # zappa.handler adds the event to the environ
    environ["wsgi.input"] = environ.get("wsgi.input") or BytesIO(b"")
    status: list[str] = []
    body = WSGIHandler()(environ, lambda code, headers, *_: status.append(code))
    b"".join(body)
    return int(status[0].split()[0])


def test_behind_api_gateway_the_key_is_its_source_ip_not_what_zappa_reads_from_the_header(
    stack, clock, api_rate
):
    # On a regional endpoint API Gateway appends the caller to the client's own
    # X-Forwarded-For, and Zappa takes the second-to-last entry (here: the forged one).
    api_rate("5/minute")
    events = [
        _api_gateway_event(
            "/api/records", source_ip=CLIENT_IP, forwarded_for=f"198.18.0.{i}, {CLIENT_IP}"
        )
        for i in range(20)
    ]
    assert create_wsgi_request(events[3])["REMOTE_ADDR"] == "198.18.0.3"

    codes = [_through_zappa(event) for event in events]

    assert codes == [HTTPStatus.OK] * 5 + [HTTPStatus.TOO_MANY_REQUESTS] * 15
    other = _api_gateway_event("/api/records", source_ip="192.0.2.1", forwarded_for=CLIENT_IP)
    assert _through_zappa(other) == HTTPStatus.OK


def test_two_instances_share_one_count_through_the_table(stack, clock, api_rate):
    api_rate("4/minute")
    first = APIClient(REMOTE_ADDR=CLIENT_IP)
    assert _codes([first.get("/api/records") for _ in range(3)]) == [HTTPStatus.OK] * 3

    # Another Lambda instance: nothing in memory, its own boto3 clients, the same table.
    cache.clear()
    aws.reset_clients()
    second = APIClient(REMOTE_ADDR=CLIENT_IP)

    assert _codes([second.get("/api/records") for _ in range(2)]) == [
        HTTPStatus.OK,
        HTTPStatus.TOO_MANY_REQUESTS,
    ]
    assert first.get("/api/records").status_code == HTTPStatus.TOO_MANY_REQUESTS
    assert int(_counter(stack, API_SCOPE, CLIENT_IP)["hits"]["N"]) == 4


def test_the_count_starts_again_in_the_next_window_and_the_item_expires_with_it(
    stack, clock, api_rate
):
    api_rate("2/minute")
    client = APIClient(REMOTE_ADDR=CLIENT_IP)
    assert _codes([client.get("/api/records") for _ in range(3)])[-1] == 429

    item = _counter(stack, API_SCOPE, CLIENT_IP)
    clock.now += PERIOD

    assert client.get("/api/records").status_code == HTTPStatus.OK
    assert item[LEDGER_TTL_ATTRIBUTE] == {"N": str(WINDOW_START + PERIOD)}
    assert item["hits"] == {"N": "2"}  # a refused request is not counted


def test_pages_and_the_admin_are_throttled_with_a_429_page(stack, clock, settings):
    settings.TWL_PAGE_RATE = "3/minute"
    browser = Client(REMOTE_ADDR=CLIENT_IP)

    replies = [browser.get(path) for path in ("/records/", "/", "/admin/login/", "/records/")]

    assert _codes(replies) == [HTTPStatus.OK] * 3 + [HTTPStatus.TOO_MANY_REQUESTS]
    page = replies[-1]
    assert page["Content-Type"].startswith("text/html")
    assert "Too many requests" in page.content.decode()
    assert page["Retry-After"] == str(WINDOW_START + PERIOD - int(NOW))
    assert Client(REMOTE_ADDR="192.0.2.1").get("/records/").status_code == HTTPStatus.OK


def test_health_has_its_own_higher_limit_and_answers_429_json(stack, clock, settings):
    settings.TWL_PAGE_RATE = "1/minute"
    settings.TWL_HEALTH_RATE = "3/minute"
    client = APIClient(REMOTE_ADDR=CLIENT_IP)
    assert _codes([client.get("/records/") for _ in range(2)])[-1] == 429

    replies = [client.get("/api/health") for _ in range(4)]

    assert HTTPStatus.TOO_MANY_REQUESTS not in _codes(replies[:3])
    assert replies[-1].status_code == HTTPStatus.TOO_MANY_REQUESTS
    assert replies[-1].json()["error"] == "throttled"
    assert replies[-1]["Retry-After"] == str(WINDOW_START + PERIOD - int(NOW))
    assert _counter(stack, HEALTH_SCOPE, CLIENT_IP)["hits"] == {"N": "3"}
    assert _counter(stack, PAGE_SCOPE, CLIENT_IP)["hits"] == {"N": "1"}


@pytest.mark.parametrize(
    ("path", "switch_on"),
    [
        ("/api/records", "api"),
        ("/records/", "TWL_PAGE_RATE"),
        ("/api/health", "TWL_HEALTH_RATE"),
    ],
)
def test_the_counter_costs_one_dynamodb_call_per_request(
    stack, dynamo_calls, clock, api_rate, settings, path, switch_on
):
    if switch_on == "api":
        api_rate("1/minute")
    else:
        setattr(settings, switch_on, "1/minute")
    client = APIClient(REMOTE_ADDR=CLIENT_IP)
    client.get(path)
    assert dynamo_calls.operations["UpdateItem"] == 1
    dynamo_calls.operations.clear()

    assert client.get(path).status_code == HTTPStatus.TOO_MANY_REQUESTS
    assert dynamo_calls.operations == {"UpdateItem": 1}


def test_an_unreachable_counter_store_lets_requests_through_and_logs_it(
    stack, clock, api_rate, settings, caplog
):
    api_rate("1/minute")
    settings.TWL_PAGE_RATE = "1/minute"
    aws.dynamodb(stack).delete_table(TableName=stack.ledger_table)
    client = APIClient(REMOTE_ADDR=CLIENT_IP)

    with caplog.at_level(logging.WARNING, logger="records_api.throttling"):
        codes = _codes([client.get(p) for p in ("/api/records", "/api/records", "/records/")])

    assert codes == [HTTPStatus.OK] * 3
    assert "throttle store unavailable" in caplog.text


def test_with_no_rate_set_no_counter_is_touched(stack, dynamo_calls):
    client = APIClient(REMOTE_ADDR=CLIENT_IP)
    for path in ("/api/records", "/records/", "/api/health"):
        client.get(path)
    assert dynamo_calls.operations["UpdateItem"] == 0


@pytest.mark.parametrize(
    ("meta", "expected"),
    [
        ({"REMOTE_ADDR": CLIENT_IP, "HTTP_X_FORWARDED_FOR": "1.2.3.4"}, CLIENT_IP),
        (
            {
                "REMOTE_ADDR": "1.2.3.4",
                "lambda.event": {"requestContext": {"identity": {"sourceIp": CLIENT_IP}}},
            },
            CLIENT_IP,
        ),
        (
            {
                "REMOTE_ADDR": "1.2.3.4",
                "lambda.event": {"requestContext": {"http": {"sourceIp": CLIENT_IP}}},
            },
            CLIENT_IP,
        ),
        ({"REMOTE_ADDR": "2001:db8:1:2:aaaa::1"}, "2001:db8:1:2::/64"),
        ({"REMOTE_ADDR": "2001:db8:1:2:bbbb::9"}, "2001:db8:1:2::/64"),
        ({"REMOTE_ADDR": "::ffff:203.0.113.7"}, CLIENT_IP),
        ({}, "unknown"),
    ],
    ids=[
        "peer-not-header",
        "rest-api-source-ip",
        "http-api-source-ip",
        "ipv6-per-64",
        "ipv6-same-64",
        "ipv4-mapped",
        "nothing",
    ],
)
def test_the_client_key_is_the_reported_source_or_the_peer_never_a_header(rf, meta, expected):
    request = rf.get("/", **meta)
    if "REMOTE_ADDR" not in meta:
        del request.META["REMOTE_ADDR"]
    assert client_address(request) == expected


@pytest.mark.parametrize(
    ("variable", "read"),
    [
        ("TWL_API_ANON_RATE", lambda s: s.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["anon"]),
        ("TWL_PAGE_RATE", lambda s: s.TWL_PAGE_RATE),
        ("TWL_HEALTH_RATE", lambda s: s.TWL_HEALTH_RATE),
    ],
)
def test_every_rate_comes_from_the_environment(monkeypatch, variable, read):
    from twl_site import settings as site

    monkeypatch.setenv(variable, "7/hour")
    try:
        assert read(importlib.reload(site)) == "7/hour"
    finally:
        monkeypatch.undo()
        importlib.reload(site)


def test_by_default_health_allows_more_than_pages_and_drf_never_reads_forwarded_for(monkeypatch):
    from twl_site import settings as site

    for variable in ("TWL_API_ANON_RATE", "TWL_API_KEY_RATE", "TWL_PAGE_RATE", "TWL_HEALTH_RATE"):
        monkeypatch.delenv(variable, raising=False)
    try:
        defaults = importlib.reload(site)
        rates = [
            int(rate.split("/")[0])
            for rate in (
                defaults.TWL_PAGE_RATE,
                defaults.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["anon"],
                defaults.TWL_HEALTH_RATE,
            )
        ]
        assert rates == sorted(rates) and rates[0] < rates[-1]
        assert defaults.REST_FRAMEWORK["NUM_PROXIES"] == 0
        assert defaults.REST_FRAMEWORK["DEFAULT_THROTTLE_CLASSES"] == [
            "records_api.throttling.SharedAnonRateThrottle",
            "records_api.access.ApiKeyRateThrottle",
        ]
        # A key's default rate is above the anonymous one: keys are how a client gets more.
        key_rate = defaults.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["apikey"]
        assert int(key_rate.split("/")[0]) > rates[1]
    finally:
        monkeypatch.undo()
        importlib.reload(site)
