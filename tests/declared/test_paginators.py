"""Paging: each style's first request, next request and stop rules, relative next links,
and links that leave the source's origin refused; every walk fetches each item once."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from pipeline.core.errors import SourceError
from pipeline.sources.declared import (
    SINGLE_PAGE,
    Definition,
    NextLinkRefused,
    PageRequest,
    PageResponse,
    Paginator,
    effective_paginator,
    first_request,
    next_request,
    parse_definition,
)
from pipeline.sources.declared.paginators import next_link, same_origin

BASE = "https://api.test/v1"
ITEMS = [{"id": n} for n in range(1, 96)]


def definition(
    paginator: Any = None, *, resource_paginator: Any = None, **resource: Any
) -> Definition:
    endpoint: dict[str, Any] = {"path": "/items", "params": resource.pop("params", {})}
    if resource_paginator is not None:
        endpoint["paginator"] = resource_paginator
    return parse_definition(
        {
            "name": "shop",
            "client": {"base_url": BASE, "paginator": paginator},
            "resources": [{"name": "item", "endpoint": endpoint, "primary_key": "id", **resource}],
        }
    )


def pager_of(spec: Any) -> Paginator:
    defn = definition(spec)
    return effective_paginator(defn, defn.resources[0])


def start(spec: Any, **resource: Any) -> PageRequest:
    defn = definition(spec, **resource)
    return first_request(defn, defn.resources[0], cursor_value=None)


def page(request: PageRequest, body: Any, count: int, **headers: str) -> PageResponse:
    return PageResponse(url=request.url, body=body, headers=headers, item_count=count)


@pytest.mark.parametrize(
    ("spec", "params"),
    [
        (None, {}),
        ("single_page", {}),
        ("page_number", {"page": "1"}),
        ({"type": "page_number", "page_param": "p", "base_page": 0}, {"p": "0"}),
        ({"type": "offset", "limit": 25}, {"offset": "0", "limit": "25"}),
        (
            {"type": "offset", "limit": 5, "offset_param": "skip", "limit_param": "take"},
            {"skip": "0", "take": "5"},
        ),
        ({"type": "json_link", "next_url_path": "next"}, {}),
        ("header_link", {}),
        ({"type": "cursor", "cursor_path": "next", "cursor_param": "after"}, {}),
    ],
)
def test_the_first_request_carries_the_paginator_start(spec, params):
    request = start(spec, params={"size": 20, "open": True})
    assert request.url == BASE + "/items"
    assert request.params_dict() == {"size": "20", "open": "true", **params}


INCREMENTAL = {"cursor_path": "updated_at", "param": "since", "initial_value": "2026-01-01"}


@pytest.mark.parametrize(
    ("incremental", "cursor_value", "expected"),
    [
        (INCREMENTAL, None, {"since": "2026-01-01"}),
        (INCREMENTAL, "2026-03-04T05:06:07Z", {"since": "2026-03-04T05:06:07Z"}),
        ({"cursor_path": "updated_at", "param": "since"}, None, {}),
        ({"cursor_path": "updated_at", "param": "since"}, "2026-02-02", {"since": "2026-02-02"}),
        (None, "ignored", {}),
    ],
)
def test_the_incremental_parameter_is_the_stored_cursor_else_the_initial_value(
    incremental, cursor_value, expected
):
    defn = definition(incremental=incremental)
    request = first_request(defn, defn.resources[0], cursor_value=cursor_value)
    assert request.params_dict() == expected


def test_the_resource_paginator_overrides_the_client_one_and_single_page_is_the_default():
    defn = definition("header_link", resource_paginator={"type": "offset", "limit": 3})
    assert effective_paginator(defn, defn.resources[0]).type == "offset"
    assert effective_paginator(definition(), definition().resources[0]) == SINGLE_PAGE
    assert pager_of("header_link").type == "header_link"


@pytest.mark.parametrize("spec", [None, "single_page"])
def test_a_single_page_source_never_asks_for_more(spec):
    request = start(spec)
    assert next_request(pager_of(spec) if spec else None, request, page(request, [1], 1)) is None


EVERY_STYLE = [
    "page_number",
    {"type": "offset", "limit": 10},
    {"type": "json_link", "next_url_path": "next"},
    "header_link",
    {"type": "cursor", "cursor_path": "next", "cursor_param": "after"},
]


@pytest.mark.parametrize("spec", EVERY_STYLE, ids=lambda s: s if isinstance(s, str) else s["type"])
def test_every_style_stops_on_an_empty_page(spec):
    request = start(spec)
    body = {"next": BASE + "/items?page=2"}
    assert (
        next_request(
            pager_of(spec), request, page(request, body, 0, link=f'<{BASE}/x>; rel="next"')
        )
        is None
    )


def test_page_number_counts_pages_against_total_path():
    spec = {"type": "page_number", "total_path": "meta.pages"}
    first = start(spec)
    second = next_request(pager_of(spec), first, page(first, {"meta": {"pages": 3}}, 20))
    assert second is not None and second.params_dict()["page"] == "2"
    third = next_request(pager_of(spec), second, page(second, {"meta": {"pages": "3"}}, 20))
    assert third is not None and third.params_dict()["page"] == "3"
    assert next_request(pager_of(spec), third, page(third, {"meta": {"pages": 3}}, 20)) is None


def test_page_number_from_base_zero_stops_after_total_pages():
    spec = {"type": "page_number", "base_page": 0, "total_path": "pages"}
    first = start(spec)
    second = next_request(pager_of(spec), first, page(first, {"pages": 2}, 5))
    assert second is not None and second.params_dict()["page"] == "1"
    assert next_request(pager_of(spec), second, page(second, {"pages": 2}, 5)) is None


def test_page_number_without_total_goes_on_until_an_empty_page_or_the_maximum():
    unbounded, capped = "page_number", {"type": "page_number", "maximum_page": 2}
    first = start(unbounded)
    assert next_request(pager_of(unbounded), first, page(first, [], 3)) is not None
    second = next_request(pager_of(capped), first, page(first, [], 3))
    assert second is not None and second.params_dict()["page"] == "2"
    assert next_request(pager_of(capped), second, page(second, [], 3)) is None


@pytest.mark.parametrize("total", [None, "three", True, 2.5, {"n": 3}, "9" * 30])
def test_a_total_path_that_holds_no_count_is_a_source_error(total):
    spec = {"type": "page_number", "total_path": "meta.pages"}
    request = start(spec)
    body = {"meta": {"pages": total}} if total is not None else {"meta": {}}
    with pytest.raises(SourceError, match=r"total_path 'meta\.pages' should hold a whole number"):
        next_request(pager_of(spec), request, page(request, body, 20))


def test_offset_advances_by_limit_and_stops_at_the_total():
    spec = {"type": "offset", "limit": 40, "total_path": "total"}
    first = start(spec)
    second = next_request(pager_of(spec), first, page(first, {"total": 95}, 40))
    assert second is not None and second.params_dict() == {"offset": "40", "limit": "40"}
    third = next_request(pager_of(spec), second, page(second, {"total": 95}, 40))
    assert third is not None and third.params_dict()["offset"] == "80"
    assert next_request(pager_of(spec), third, page(third, {"total": 95}, 15)) is None


def test_offset_without_total_stops_on_a_short_page():
    spec = {"type": "offset", "limit": 10}
    first = start(spec)
    assert next_request(pager_of(spec), first, page(first, [], 10)) is not None
    assert next_request(pager_of(spec), first, page(first, [], 9)) is None


def test_json_link_follows_absolute_and_relative_links_resolved_against_the_page():
    spec = {"type": "json_link", "next_url_path": "links.next"}
    first = start(spec)
    absolute = next_request(
        pager_of(spec), first, page(first, {"links": {"next": f"{BASE}/items?page=2"}}, 5)
    )
    assert absolute == PageRequest(f"{BASE}/items?page=2")
    relative = next_request(
        pager_of(spec), absolute, page(absolute, {"links": {"next": "?page=3"}}, 5)
    )
    assert relative == PageRequest(f"{BASE}/items?page=3")
    rooted = next_request(
        pager_of(spec), relative, page(relative, {"links": {"next": "/v2/items?p=4"}}, 5)
    )
    assert rooted == PageRequest("https://api.test/v2/items?p=4")


@pytest.mark.parametrize(
    "body", [{}, {"links": {"next": None}}, {"links": {"next": ""}}, {"links": 3}]
)
def test_json_link_stops_when_the_link_is_missing_null_or_empty(body):
    spec = {"type": "json_link", "next_url_path": "links.next"}
    request = start(spec)
    assert next_request(pager_of(spec), request, page(request, body, 5)) is None


def test_json_link_stops_when_the_link_is_the_page_itself():
    spec = {"type": "json_link", "next_url_path": "next"}
    request = start(spec)
    assert (
        next_request(pager_of(spec), request, page(request, {"next": BASE + "/items"}, 5)) is None
    )


def test_json_link_of_a_non_string_is_a_source_error():
    spec = {"type": "json_link", "next_url_path": "next"}
    request = start(spec)
    with pytest.raises(SourceError, match="holds a list, not a URL"):
        next_request(pager_of(spec), request, page(request, {"next": ["x"]}, 5))


OFF_ORIGIN = {
    "another host": ("https://evil.test/items?page=2", "https://evil.test"),
    "a sub-domain": ("https://x.api.test/items", "https://x.api.test"),
    "plain http": ("http://api.test/v1/items?page=2", "http://api.test"),
    "another port": ("https://api.test:8443/v1/items", "https://api.test:8443"),
    "protocol-relative": ("//169.254.169.254/latest/meta-data", "https://169.254.169.254"),
    "userinfo": ("https://api.test@evil.test/x", "a URL that is not plain http(s)"),
    "another scheme": ("file:///etc/passwd", "a URL that is not plain http(s)"),
    "javascript": ("javascript:alert(1)", "a URL that is not plain http(s)"),
}


@pytest.mark.parametrize(("link", "shown"), OFF_ORIGIN.values(), ids=OFF_ORIGIN.keys())
@pytest.mark.parametrize("style", ["json_link", "header_link"])
def test_a_next_link_off_the_origin_is_refused_naming_both_origins(style, link, shown):
    spec = {"type": "json_link", "next_url_path": "next"} if style == "json_link" else style
    request = start(spec)
    response = page(request, {"next": link}, 5, link=f'<{link}>; rel="next"')
    with pytest.raises(NextLinkRefused) as caught:
        next_request(pager_of(spec), request, response)
    message = str(caught.value)
    assert f"leads to {shown}, off the source's origin https://api.test;" in message
    assert "meta-data" not in message and "passwd" not in message  # origins only, no paths
    assert isinstance(caught.value, SourceError)


def test_the_default_port_written_out_is_the_same_origin():
    spec = {"type": "json_link", "next_url_path": "next"}
    request = start(spec)
    following = next_request(
        pager_of(spec), request, page(request, {"next": "https://API.test:443/v1/x"}, 5)
    )
    assert following == PageRequest("https://API.test:443/v1/x")
    assert same_origin("http://h:80/a", "http://h/b") and not same_origin(
        "http://h:81/", "http://h/"
    )


@pytest.mark.parametrize(
    "link", ["https://api.test/" + "x" * 9000, "https://api.test/a\x00b", "https://api.test/a b"]
)
def test_an_unusable_next_link_is_refused(link):
    spec = {"type": "json_link", "next_url_path": "next"}
    request = start(spec)
    with pytest.raises(NextLinkRefused, match="not a usable URL"):
        next_request(pager_of(spec), request, page(request, {"next": link}, 5))


@pytest.mark.parametrize(
    ("header", "rel", "expected"),
    [
        (
            f'<{BASE}/i?page=2>; rel="next", <{BASE}/i?page=9>; rel="last"',
            "next",
            f"{BASE}/i?page=2",
        ),
        (f'<{BASE}/i?page=9>; rel="last", <{BASE}/i?page=2>; rel=next', "next", f"{BASE}/i?page=2"),
        (f'<{BASE}/i?page=2>; title="a, b"; rel="next last"', "last", f"{BASE}/i?page=2"),
        (f'<{BASE}/i?page=2>; REL="Next"', "next", f"{BASE}/i?page=2"),
        (f'<{BASE}/i?page=1>; rel="prev"', "next", None),
        ("", "next", None),
        ("garbage, <<<>>>;;;", "next", None),
    ],
)
def test_the_link_header_is_read_for_the_chosen_relation(header, rel, expected):
    assert next_link(header, rel) == expected


def test_header_link_follows_the_next_relation_and_stops_without_one():
    spec = {"type": "header_link", "links_next_key": "following"}
    request = start(spec)
    link = '</v1/items?page=2>; rel="following"'
    following = next_request(pager_of(spec), request, page(request, [], 3, link=link))
    assert following == PageRequest(f"{BASE}/items?page=2")
    assert next_request(pager_of(spec), request, page(request, [], 3)) is None


def test_cursor_sets_the_next_cursor_and_keeps_the_other_params():
    spec = {"type": "cursor", "cursor_path": "meta.next", "cursor_param": "after"}
    request = start(spec, params={"size": 5})
    following = next_request(pager_of(spec), request, page(request, {"meta": {"next": "b64=="}}, 5))
    assert following == PageRequest(BASE + "/items", (("size", "5"), ("after", "b64==")))
    numeric = next_request(pager_of(spec), following, page(following, {"meta": {"next": 77}}, 5))
    assert numeric is not None and numeric.params_dict()["after"] == "77"


@pytest.mark.parametrize("body", [{}, {"meta": {"next": None}}, {"meta": {"next": ""}}, []])
def test_cursor_stops_when_the_cursor_is_missing_null_or_empty(body):
    spec = {"type": "cursor", "cursor_path": "meta.next", "cursor_param": "after"}
    request = start(spec)
    assert next_request(pager_of(spec), request, page(request, body, 5)) is None


def test_cursor_stops_when_the_api_repeats_the_cursor():
    spec = {"type": "cursor", "cursor_path": "next", "cursor_param": "after"}
    request = PageRequest(BASE + "/items", (("after", "abc"),))
    assert next_request(pager_of(spec), request, page(request, {"next": "abc"}, 5)) is None


@pytest.mark.parametrize("cursor", [{"a": 1}, [1], True])
def test_a_cursor_that_is_not_a_scalar_is_a_source_error(cursor):
    spec = {"type": "cursor", "cursor_path": "next", "cursor_param": "after"}
    request = start(spec)
    with pytest.raises(SourceError, match="cursor_path 'next' holds a"):
        next_request(pager_of(spec), request, page(request, {"next": cursor}, 5))


# A fake API over ITEMS for each style: the walk must see every item once and then stop.
def _query(request: PageRequest) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(request.url).query)) | request.params_dict()


def _page_number(request: PageRequest) -> tuple[Any, list[dict[str, Any]], dict[str, str]]:
    n = int(_query(request)["page"])
    chunk = ITEMS[(n - 1) * 20 : n * 20]
    return {"data": chunk, "meta": {"pages": 5}}, chunk, {}


def _offset(request: PageRequest) -> tuple[Any, list[dict[str, Any]], dict[str, str]]:
    query = _query(request)
    start_at, size = int(query["offset"]), int(query["limit"])
    chunk = ITEMS[start_at : start_at + size]
    return {"data": chunk, "total": len(ITEMS)}, chunk, {}


def _linked(n: int) -> tuple[list[dict[str, Any]], str | None]:
    chunk = ITEMS[(n - 1) * 30 : n * 30]
    return chunk, (f"items?page={n + 1}" if n * 30 < len(ITEMS) else None)


def _json_link(request: PageRequest) -> tuple[Any, list[dict[str, Any]], dict[str, str]]:
    chunk, following = _linked(int(_query(request).get("page", "1")))
    return {"data": chunk, "next": following}, chunk, {}


def _header_link(request: PageRequest) -> tuple[Any, list[dict[str, Any]], dict[str, str]]:
    chunk, following = _linked(int(_query(request).get("page", "1")))
    return {"data": chunk}, chunk, ({"link": f'<{following}>; rel="next"'} if following else {})


def _cursor(request: PageRequest) -> tuple[Any, list[dict[str, Any]], dict[str, str]]:
    after = int(_query(request).get("after", "0"))
    chunk = [i for i in ITEMS if i["id"] > after][:25]
    following = str(chunk[-1]["id"]) if chunk and chunk[-1]["id"] < len(ITEMS) else None
    return {"data": chunk, "next": following}, chunk, {}


WALKS: dict[str, tuple[Any, Callable[[PageRequest], Any], int]] = {
    "page_number": ({"type": "page_number", "total_path": "meta.pages"}, _page_number, 5),
    "page_number to an empty page": ("page_number", _page_number, 6),
    "offset": ({"type": "offset", "limit": 40, "total_path": "total"}, _offset, 3),
    "offset to a short page": ({"type": "offset", "limit": 20}, _offset, 5),
    "offset to an empty page": ({"type": "offset", "limit": 19}, _offset, 6),
    "json_link": ({"type": "json_link", "next_url_path": "next"}, _json_link, 4),
    "header_link": ("header_link", _header_link, 4),
    "cursor": ({"type": "cursor", "cursor_path": "next", "cursor_param": "after"}, _cursor, 4),
}


@pytest.mark.parametrize(("spec", "serve", "pages"), WALKS.values(), ids=WALKS.keys())
def test_a_walk_fetches_every_item_exactly_once(spec, serve, pages):
    pager, request, seen, fetched = pager_of(spec), start(spec), [], 0
    while request is not None and fetched < 50:
        body, chunk, headers = serve(request)
        fetched += 1
        seen += [i["id"] for i in chunk]
        request = next_request(pager, request, page(request, body, len(chunk), **headers))
    assert seen == list(range(1, 96))
    assert fetched == pages
