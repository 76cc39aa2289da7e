"""Fetching a declared source: every paginator and auth type on the sandbox, bounds, bad pages."""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import responses

from pipeline.core.config import PipelineConfig, SourceBounds, get_config
from pipeline.core.errors import SourceError
from pipeline.local.sandbox import SandboxServer
from pipeline.local.sandbox import catalog as fake
from pipeline.services import source_fetch
from pipeline.services.http_guard import AddressRefused, guarded_session
from pipeline.services.secrets import SecretUnavailable
from pipeline.services.source_fetch import FetchedPages, fetch_pages
from pipeline.sources.declared import DeclaredSource, parse_definition
from pipeline.stores import aws

SECRET_ENV = "TWL_SOURCE_SECRET_CATALOG"
ALL_IDS = list(range(1, fake.TOTAL + 1))


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer() as server:
        yield server


@pytest.fixture
def local(settings, config) -> PipelineConfig:
    """The local stack's rules (loopback allowed), no retries (failures answer at once)."""
    settings.TWL_SOURCES_ALLOW_LOOPBACK = True
    settings.TWL_HTTP_RETRIES = 0
    return get_config()


def declared(
    base_url: str,
    path: str,
    paginator: Any = "single_page",
    *,
    selector: str = "",
    params: dict[str, Any] | None = None,
    auth: dict[str, Any] | None = None,
    **resource: Any,
) -> DeclaredSource:
    """A one-resource ("item") definition of the catalog, parsed as an operator's would be."""
    client: dict[str, Any] = {"base_url": base_url, "paginator": paginator}
    if auth:
        client["auth"] = auth
    endpoint = {"path": path, "params": params or {"size": 20}, "data_selector": selector}
    item = {"name": "item", "endpoint": endpoint, "primary_key": "id", **resource}
    return DeclaredSource(
        parse_definition({"name": "catalog", "client": client, "resources": [item]}), 1
    )


def fetch(
    source: DeclaredSource,
    config: PipelineConfig,
    *,
    cursor: str | None = None,
    mode: source_fetch.Mode = "run",
    **kw: Any,
) -> FetchedPages:
    return fetch_pages(
        source,
        "item",
        config=config,
        session=guarded_session(config),
        cursor_value=cursor,
        mode=mode,
        **kw,
    )


def ids(fetched: FetchedPages) -> list[int]:
    return [item["id"] for page in fetched.pages for item in page.items]


def bounded(config: PipelineConfig, **bounds: Any) -> PipelineConfig:
    return dataclasses.replace(config, source_bounds=SourceBounds(**bounds))


# ---- every paginator style walks the sandbox's whole catalog


WALKS = [
    ("/items", {"type": "page_number", "total_path": "meta.pages"}, "data.items", 5),
    ("/items", {"type": "page_number"}, "data.items", 6),  # the sixth, empty page stops it
    ("/offset", {"type": "offset", "limit": 20, "total_path": "total"}, "results", 5),
    ("/offset", {"type": "offset", "limit": 20}, "results", 5),  # 15 < 20 items stops it
    ("/linked", {"type": "json_link", "next_url_path": "next"}, "items", 5),
    ("/headers", "header_link", "", 5),
    (
        "/cursor",
        {"type": "cursor", "cursor_path": "cursors.next", "cursor_param": "cursor"},
        "items",
        5,
    ),
]


@pytest.mark.parametrize(("path", "paginator", "selector", "pages"), WALKS)
def test_each_paginator_walks_every_item_once_in_order(
    sandbox, local, path: str, paginator: Any, selector: str, pages: int
) -> None:
    source = declared(sandbox.url + "/catalog", path, paginator, selector=selector)
    fetched = fetch(source, local)
    assert (ids(fetched), len(fetched.pages), fetched.stopped) == (ALL_IDS, pages, None)
    assert [p.item_count for p in fetched.pages][:4] == [20, 20, 20, 20]
    assert all(json.loads(p.body) for p in fetched.pages)  # the bodies as received


def test_a_single_page_resource_fetches_one_page(sandbox, local) -> None:
    fetched = fetch(declared(sandbox.url + "/catalog", "/single"), local)
    assert (ids(fetched), len(fetched.pages), fetched.stopped) == (list(range(1, 11)), 1, None)
    assert fetched.pages[0].url == sandbox.url + "/catalog/single?size=20"


# ---- auth, each type against the sandbox's protected endpoints


AUTHS = [
    ("/private/items", {"type": "bearer"}, fake.BEARER_TOKEN),
    ("/keyed/items", {"type": "api_key", "name": fake.API_KEY_HEADER}, fake.API_KEY),
    ("/basic/items", {"type": "http_basic", "username": fake.BASIC_USERNAME}, fake.BASIC_PASSWORD),
]


@pytest.mark.parametrize(("path", "auth", "value"), AUTHS, ids=["bearer", "api_key", "http_basic"])
def test_each_auth_type_opens_its_endpoint_with_an_env_secret(
    sandbox, local, monkeypatch, path: str, auth: dict, value: str
) -> None:
    monkeypatch.setenv(SECRET_ENV, value)
    pager = {"type": "page_number", "total_path": "meta.pages"}
    source = declared(
        sandbox.url + "/catalog",
        path,
        pager,
        selector="data.items",
        auth={**auth, "secret": f"env:{SECRET_ENV}"},
    )
    assert ids(fetch(source, local)) == ALL_IDS


def test_a_secret_from_parameter_store_opens_the_endpoint(sandbox, local, moto_aws) -> None:
    name = f"{local.names.source_secrets_path}catalog-token"
    aws.ssm(local).put_parameter(Name=name, Value=fake.BEARER_TOKEN, Type="SecureString")
    source = declared(
        sandbox.url + "/catalog",
        "/private/items",
        selector="data.items",
        auth={"type": "bearer", "secret": f"ssm:{name}"},
    )
    assert ids(fetch(source, local)) == list(range(1, 21))


@pytest.mark.parametrize(("path", "auth", "value"), AUTHS, ids=["bearer", "api_key", "http_basic"])
def test_a_wrong_secret_fails_the_fetch_without_showing_it(
    sandbox, local, monkeypatch, path: str, auth: dict, value: str
) -> None:
    wrong = "wrong-" + value
    monkeypatch.setenv(SECRET_ENV, wrong)
    source = declared(
        sandbox.url + "/catalog",
        path,
        selector="data.items",
        auth={**auth, "secret": f"env:{SECRET_ENV}"},
    )
    with pytest.raises(SourceError) as failed:
        fetch(source, local)
    assert str(failed.value).startswith("the first page could not be fetched: 401 Client Error")
    assert wrong not in str(failed.value)


def test_a_missing_secret_sends_no_request(sandbox, local, monkeypatch) -> None:
    monkeypatch.delenv(SECRET_ENV, raising=False)
    sandbox.reset_stats()
    source = declared(
        sandbox.url + "/catalog",
        "/private/items",
        selector="data.items",
        auth={"type": "bearer", "secret": f"env:{SECRET_ENV}"},
    )
    with pytest.raises(SecretUnavailable, match="is not set"):
        fetch(source, local)
    assert sandbox.stats()["requests"] == {}


# ---- incremental cursors


INCREMENTAL = {"cursor_path": "updated_at", "param": "updated_since"}


def test_the_cursor_moves_to_the_latest_value_seen_and_the_next_run_asks_from_it(
    sandbox, local
) -> None:
    pager = {"type": "page_number", "total_path": "meta.pages"}
    source = declared(
        sandbox.url + "/catalog",
        "/items",
        pager,
        selector="data.items",
        incremental={**INCREMENTAL, "initial_value": "2026-11-20T00:00:00Z"},
    )
    first = fetch(source, local)
    since = "2026-11-20T00:00:00Z"
    expected = sorted(i["id"] for i in fake.catalog_items() if i["updated_at"] >= since)
    assert 0 < len(expected) < fake.TOTAL
    assert sorted(ids(first)) == expected
    latest = max(i["updated_at"] for i in fake.catalog_items())
    assert first.cursor_value == latest
    assert "updated_since=2026-11-20T00%3A00%3A00Z" in first.pages[0].url

    again = fetch(source, local, cursor=first.cursor_value)
    newest = [i["id"] for i in fake.catalog_items() if i["updated_at"] == latest]
    assert sorted(ids(again)) == newest
    assert again.cursor_value == latest


def test_the_cursor_never_moves_back_and_ignores_oversized_values(local) -> None:
    items = [{"id": 1, "updated_at": "2026-01-02"}, {"id": 2, "updated_at": "x" * 300}]
    source = declared(BASE, "/items", incremental=INCREMENTAL)
    with responses.RequestsMock() as mock:
        mock.get(re.compile(re.escape(BASE) + ".*"), json=items)
        assert fetch(source, local, cursor="2026-01-01").cursor_value == "2026-01-02"
        assert fetch(source, local, cursor="2027-01-01").cursor_value == "2027-01-01"
        assert fetch(source, local).cursor_value == "2026-01-02"


# ---- bounds: pages, records, bytes, time (offline, answered by `responses`)


BASE = "http://127.0.0.1:9/api"
PAGED = {"type": "page_number"}


def _pages(mock: responses.RequestsMock, bodies: list[bytes]) -> None:
    """Answer ?page=N with bodies[N-1] (an empty list past the end)."""

    def answer(request: requests.PreparedRequest) -> tuple[int, dict, bytes]:
        page = int(re.search(r"page=(\d+)", request.url or "")[1])  # type: ignore[index]
        return 200, {}, bodies[page - 1] if page <= len(bodies) else b"[]"

    mock.add_callback("GET", re.compile(re.escape(BASE) + ".*"), callback=answer)


def _body(first_id: int, count: int, width: int = 0) -> bytes:
    """A JSON list of ``count`` items; padded with spaces to ``width`` bytes."""
    body = json.dumps([{"id": first_id + n} for n in range(count)]).encode()
    return body.ljust(width)


@pytest.fixture
def mock() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


def test_the_resources_page_bound_stops_the_walk_and_keeps_its_pages(local, mock) -> None:
    _pages(mock, [_body(n * 20, 20) for n in range(10)])
    fetched = fetch(declared(BASE, "/items", PAGED, max_pages=3), local)
    assert len(fetched.pages) == 3 and len(ids(fetched)) == 60
    assert fetched.stopped == "stopped at the page bound (3 pages); 3 pages, 60 records kept"
    assert len(mock.calls) == 3


def test_the_stages_page_bound_caps_the_resources_own(local, mock) -> None:
    _pages(mock, [_body(n * 20, 20) for n in range(10)])
    config = bounded(local, max_pages=2)
    fetched = fetch(declared(BASE, "/items", PAGED, max_pages=100), config)
    assert fetched.stopped == "stopped at the page bound (2 pages); 2 pages, 40 records kept"


def test_the_record_bound_stops_between_pages(local, mock) -> None:
    _pages(mock, [_body(n * 20, 20) for n in range(10)])
    fetched = fetch(declared(BASE, "/items", PAGED), bounded(local, max_records=50))
    # Pages are never split: the third page passes the bound and is kept whole.
    assert fetched.stopped == "stopped at the record bound (50 records); 3 pages, 60 records kept"
    assert len(mock.calls) == 3


@pytest.mark.parametrize("max_bytes", [2_000, 2_500])
def test_the_byte_bound_stops_the_walk_before_a_page_would_pass_it(
    local, mock, max_bytes: int
) -> None:
    _pages(mock, [_body(n * 10, 10, width=1_000) for n in range(5)])
    config = bounded(local, max_bytes=max_bytes, page_max_bytes=5_000)
    fetched = fetch(declared(BASE, "/items", PAGED), config)
    assert fetched.stopped == (
        f"stopped at the byte bound ({max_bytes:,} bytes); 2 pages, 20 records kept"
    )
    assert fetched.byte_count == 2_000


def test_a_later_page_over_the_page_size_bound_stops_the_walk(local, mock) -> None:
    _pages(mock, [_body(0, 10), _body(10, 10, width=2_000), _body(20, 10)])
    fetched = fetch(declared(BASE, "/items", PAGED), bounded(local, page_max_bytes=1_000))
    assert fetched.stopped == (
        "stopped after page 1: page 2 failed: the page is over the 1,000 bytes allowed"
    )
    assert ids(fetched) == list(range(10))


def test_a_first_page_over_the_page_size_bound_fails_the_walk(local, mock) -> None:
    _pages(mock, [_body(0, 10, width=2_000)])
    with pytest.raises(SourceError, match="the page is over the 1,000 bytes allowed"):
        fetch(declared(BASE, "/items", PAGED), bounded(local, page_max_bytes=1_000))


class FakeClock:
    """A monotonic clock that moves only when a page is answered."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def _slow_pages(mock: responses.RequestsMock, clock: FakeClock, seconds: float) -> None:
    def answer(request: requests.PreparedRequest) -> tuple[int, dict, bytes]:
        clock.now += seconds
        page = int(re.search(r"page=(\d+)", request.url or "")[1])  # type: ignore[index]
        return 200, {}, _body(page * 10, 10)

    mock.add_callback("GET", re.compile(re.escape(BASE) + ".*"), callback=answer)


def test_the_time_bound_stops_the_walk_and_drops_the_page_that_came_in_late(local, mock) -> None:
    clock = FakeClock()
    _slow_pages(mock, clock, seconds=25)
    fetched = fetch(declared(BASE, "/items", PAGED), bounded(local, max_seconds=60), clock=clock)
    # Pages 1 and 2 arrive at 25 s and 50 s; page 3 at 75 s, past the bound.
    assert fetched.stopped == "stopped at the time bound (60 s); 2 pages, 20 records kept"
    assert len(mock.calls) == 3


def test_the_time_bound_is_checked_before_each_request(local, mock) -> None:
    clock = FakeClock()
    _slow_pages(mock, clock, seconds=30)
    fetched = fetch(declared(BASE, "/items", PAGED), bounded(local, max_seconds=60), clock=clock)
    # Page 2 arrives at exactly 60 s (kept: the bound is not passed); no third request.
    assert fetched.stopped == "stopped at the time bound (60 s); 2 pages, 20 records kept"
    assert len(mock.calls) == 2


def test_a_first_page_past_the_time_bound_fails_the_walk(local, mock) -> None:
    clock = FakeClock()
    _slow_pages(mock, clock, seconds=61)
    with pytest.raises(
        SourceError, match=r"the first page took longer than the time bound \(60 s\)"
    ):
        fetch(declared(BASE, "/items", PAGED), bounded(local, max_seconds=60), clock=clock)


def test_the_test_mode_fetches_one_page_within_the_test_bounds(local, mock) -> None:
    _pages(mock, [_body(0, 20), _body(20, 20)])
    fetched = fetch(declared(BASE, "/items", PAGED), local, mode="test")
    assert fetched.stopped == "stopped at the page bound (1 page); 1 page, 20 records kept"
    assert len(mock.calls) == 1
    small = bounded(local, test_max_bytes=100)
    with pytest.raises(SourceError, match="over the 100 bytes allowed"):
        fetch(declared(BASE, "/items", PAGED), small, mode="test")


def test_the_test_mode_has_its_own_time_bound(local, mock) -> None:
    clock = FakeClock()
    _slow_pages(mock, clock, seconds=11)
    with pytest.raises(SourceError, match=r"longer than the time bound \(10 s\)"):
        fetch(declared(BASE, "/items", PAGED), local, mode="test", clock=clock)


# ---- pages that are not what the definition says


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b"<html>maintenance</html>", "is not JSON"),
        (b"[" * 100_000 + b"]" * 100_000, "is not JSON"),  # nested past the parser's depth
        (b'{"data": {"items": {"id": 1}}}', "data_selector 'data.items' should lead to a list"),
        (b'{"data": []}', "found nothing"),
    ],
    ids=["html", "deep", "object", "missing"],
)
def test_a_bad_first_page_fails_the_walk(local, mock, body: bytes, error: str) -> None:
    _pages(mock, [body])
    with pytest.raises(SourceError, match=error):
        fetch(declared(BASE, "/items", PAGED, selector="data.items"), local)


def test_a_bad_later_page_stops_the_walk_and_keeps_the_ones_before(local, mock) -> None:
    _pages(mock, [_body(0, 10), _body(10, 10), b"not json"])
    fetched = fetch(declared(BASE, "/items", PAGED), local)
    assert ids(fetched) == list(range(20))
    assert fetched.stopped == (
        f"stopped after page 2: page 3 failed: the page at {BASE}/items?size=20&page=3 is not JSON"
    )


def test_a_later_http_error_stops_the_walk(local, mock) -> None:
    mock.get(f"{BASE}/items?size=20&page=1", body=_body(0, 10))
    mock.get(f"{BASE}/items?size=20&page=2", status=503, json={"error": "down"})
    fetched = fetch(declared(BASE, "/items", PAGED), local)
    assert ids(fetched) == list(range(10))
    assert fetched.stopped and fetched.stopped.startswith(
        "stopped after page 1: page 2 failed: 503 Server Error"
    )


def test_a_next_link_off_the_origin_stops_the_walk_with_the_reason(local, mock) -> None:
    mock.get(f"{BASE}/linked", json={"items": [{"id": 1}], "next": "http://evil.example/x"})
    source = declared(
        BASE, "/linked", {"type": "json_link", "next_url_path": "next"}, selector="items", params={}
    )
    fetched = fetch(source, local)
    assert ids(fetched) == [1]
    assert fetched.stopped and "off the source's origin http://127.0.0.1:9" in fetched.stopped
    assert len(mock.calls) == 1


def test_a_page_the_paginator_cannot_read_stops_the_walk_after_it(local, mock) -> None:
    mock.get(f"{BASE}/items?size=20&page=1", json={"items": [{"id": 1}], "pages": "many"})
    pager = {"type": "page_number", "total_path": "pages"}
    fetched = fetch(declared(BASE, "/items", pager, selector="items"), local)
    assert ids(fetched) == [1]
    assert fetched.stopped == (
        "stopped after page 1: total_path 'pages' should hold a whole number; the page has str"
    )


# ---- the SSRF guard applies to declared sources


def test_a_private_base_url_is_refused_before_any_request(local, mock) -> None:
    with pytest.raises(AddressRefused, match=r"10\.0\.0\.5 is a private address"):
        fetch(declared("http://10.0.0.5/api", "/items"), local)
    assert len(mock.calls) == 0


def test_deployed_rules_refuse_the_sandbox(sandbox, config, settings) -> None:
    settings.TWL_SOURCES_ALLOW_LOOPBACK = False
    deployed = get_config()
    with pytest.raises(AddressRefused, match="is not https; deployed stages require https"):
        fetch(declared(sandbox.url + "/catalog", "/single"), deployed)


# ---- the admin's Test


def test_test_source_previews_the_first_page_only(sandbox, local) -> None:
    sandbox.reset_stats()
    source = declared(
        sandbox.url + "/catalog",
        "/items",
        {"type": "page_number", "total_path": "meta.pages"},
        selector="data.items",
        title="{name} ({sku})",
        fields={"exclude": ["internal"], "personal": ["owner.email"]},
    )
    shown = source_fetch.test_source(source, "item", config=local)
    assert shown.items == 20 and len(shown.records) == 20 and shown.rejections == []
    first = shown.records[0]
    assert first.id == "catalog-item-1"
    item = fake.catalog_items()[0]
    assert first.title == f"{item['name']} ({item['sku']})"
    assert "internal.cost" in shown.excluded and "owner.email" in shown.personal
    assert not any(key.startswith("internal") for key in first.fields)
    assert sandbox.stats()["requests"] == {"/catalog/items": 1}
