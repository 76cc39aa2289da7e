"""The sandbox catalog serves its 95 items exactly once per walk with every paginator style,
refuses missing credentials and bad parameters with JSON, and filters by updated_since."""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urljoin

import pytest
import requests

from pipeline.local.sandbox import FakeReply, FakeRequest, Fault, HttpFakeApi, SandboxServer
from pipeline.local.sandbox import catalog as catalog_fake
from pipeline.local.sandbox.registry import FAKES, is_generic

TIMEOUT = 5
MAX_REQUESTS = 200  # a walk that never stops fails instead of hanging
ISO_Z = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
ITEM_KEYS = {"id", "sku", "name", "price", "tags", "owner", "internal", "updated_at"}
ALL_IDS = list(range(1, 96))

BEARER = {"Authorization": "Bearer sandbox-catalog-token"}
API_KEY = {"X-API-Key": "sandbox-catalog-key"}
BASIC = {"Authorization": "Basic " + base64.b64encode(b"catalog:sandbox-pass").decode()}


@pytest.fixture(scope="module")
def running_sandbox() -> Iterator[SandboxServer]:
    with SandboxServer() as server:
        yield server


@pytest.fixture
def sandbox(running_sandbox: SandboxServer) -> SandboxServer:
    running_sandbox.faults.clear()
    running_sandbox.reset_stats()
    return running_sandbox


def get(url: str, params: dict[str, Any] | None = None, **headers: str) -> requests.Response:
    return requests.get(url, params=params, headers=headers or None, timeout=TIMEOUT)


# ------------------------------------------------------------------- one walker per paginator
# Each returns (items, requests made); each follows only what the API itself says.

Walk = tuple[list[dict[str, Any]], int]


def _ok(response: requests.Response) -> Any:
    assert response.status_code == 200, response.text
    return response.json()


def walk_page_number(url: str, params: dict[str, Any], headers: dict[str, str]) -> Walk:
    items: list[dict[str, Any]] = []
    for page in range(1, MAX_REQUESTS):
        body = _ok(get(url, {**params, "page": page}, **headers))
        assert body["meta"]["page"] == page
        items += body["data"]["items"]
        if page >= body["meta"]["pages"]:
            return items, page
    raise AssertionError("page_number walk did not stop")


def walk_offset(url: str, params: dict[str, Any], headers: dict[str, str]) -> Walk:
    limit = params.get("size", 10)
    rest = {k: v for k, v in params.items() if k != "size"}
    items: list[dict[str, Any]] = []
    for count in range(1, MAX_REQUESTS):
        body = _ok(get(url, {**rest, "offset": len(items), "limit": limit}, **headers))
        items += body["results"]
        if len(items) >= body["total"]:
            return items, count
    raise AssertionError("offset walk did not stop")


def walk_json_link(url: str, params: dict[str, Any], headers: dict[str, str]) -> Walk:
    items: list[dict[str, Any]] = []
    response = get(url, params, **headers)
    for count in range(1, MAX_REQUESTS):
        body = _ok(response)
        items += body["items"]
        if body["next"] is None:
            return items, count
        response = get(body["next"], None, **headers)
    raise AssertionError("json_link walk did not stop")


def walk_header_link(url: str, params: dict[str, Any], headers: dict[str, str]) -> Walk:
    items: list[dict[str, Any]] = []
    response = get(url, params, **headers)
    for count in range(1, MAX_REQUESTS):
        items += _ok(response)
        following = response.links.get("next", {}).get("url")
        if following is None:
            return items, count
        response = get(urljoin(response.url, following), None, **headers)
    raise AssertionError("header_link walk did not stop")


def walk_cursor(url: str, params: dict[str, Any], headers: dict[str, str]) -> Walk:
    items: list[dict[str, Any]] = []
    cursor = None
    for count in range(1, MAX_REQUESTS):
        extra: dict[str, str] = {"cursor": cursor} if cursor else {}
        body = _ok(get(url, {**params, **extra}, **headers))
        items += body["items"]
        cursor = body["cursors"]["next"]
        if not cursor:
            return items, count
    raise AssertionError("cursor walk did not stop")


WALKS: dict[str, tuple[str, Callable[[str, dict[str, Any], dict[str, str]], Walk]]] = {
    "page_number": ("/items", walk_page_number),
    "offset": ("/offset", walk_offset),
    "json_link": ("/linked", walk_json_link),
    "header_link": ("/headers", walk_header_link),
    "cursor": ("/cursor", walk_cursor),
}


def walk(sandbox: SandboxServer, style: str, **params: Any) -> Walk:
    path, walker = WALKS[style]
    return walker(sandbox.catalog_url + path, params, {})


def ids(items: list[dict[str, Any]]) -> list[int]:
    return [item["id"] for item in items]


@pytest.fixture(scope="module")
def everything(running_sandbox: SandboxServer) -> list[dict[str, Any]]:
    """All 95 items, fetched in one page-number page of 100."""
    items, _ = walk(running_sandbox, "page_number", size=100)
    return items


def expected_since(everything: list[dict[str, Any]], since: str) -> list[int]:
    """What updated_since=<since> (a ...Z time) should return, worked out independently."""
    kept = [item for item in everything if item["updated_at"] >= since]
    return ids(sorted(kept, key=lambda item: (item["updated_at"], item["id"])))


# --------------------------------------------------------------------------- the items


def test_the_catalog_has_95_items_of_the_documented_shape(everything: list[dict[str, Any]]) -> None:
    assert ids(everything) == ALL_IDS
    for item in everything:
        assert set(item) == ITEM_KEYS
        assert isinstance(item["price"], float) and item["price"] > 0
        assert set(item["owner"]) == {"name", "email"} and "@" in item["owner"]["email"]
        assert set(item["internal"]) == {"cost", "supplier_token"}
        assert item["internal"]["supplier_token"].startswith("sup_")
        assert isinstance(item["tags"], list) and 1 <= len(item["tags"]) <= 3
        assert ISO_Z.match(item["updated_at"])
        assert re.fullmatch(r"SKU-\d{3}-[A-Z]{2}", item["sku"])
    assert len({item["sku"] for item in everything}) == 95
    times = [item["updated_at"] for item in everything]
    assert min(times) >= "2026-11-01T00:00:00Z" and max(times) < "2026-12-01T00:00:00Z"
    assert times != sorted(times), "updated_at order must differ from id order"
    assert len(set(times)) < 95, "some items share an updated_at (the tie-break is tested)"


def test_the_items_are_the_same_on_every_call_and_in_process(
    sandbox: SandboxServer, everything: list[dict[str, Any]]
) -> None:
    again, _ = walk(sandbox, "page_number", size=100)
    assert again == everything == catalog_fake.catalog_items()


# --------------------------------------------------------------------------- paginators


@pytest.mark.parametrize("size", [1, 7, 10, 19, 95, 100])
@pytest.mark.parametrize("style", list(WALKS))
def test_each_paginator_serves_every_item_exactly_once(
    sandbox: SandboxServer, style: str, size: int
) -> None:
    items, requests_made = walk(sandbox, style, size=size)

    assert ids(items) == ALL_IDS
    assert requests_made == -(-95 // size)
    assert sum(sandbox.stats()["requests"].values()) == requests_made


@pytest.mark.parametrize("style", list(WALKS))
def test_each_paginator_keeps_updated_since_across_pages(
    sandbox: SandboxServer, style: str, everything: list[dict[str, Any]]
) -> None:
    since = sorted(item["updated_at"] for item in everything)[40]
    items, requests_made = walk(sandbox, style, size=7, updated_since=since)

    assert ids(items) == expected_since(everything, since)
    assert len(items) >= 55 and requests_made == -(-len(items) // 7)


def test_the_page_number_body_nests_items_under_data_and_counts_pages(
    sandbox: SandboxServer,
) -> None:
    body = _ok(get(f"{sandbox.catalog_url}/items", {"page": 3, "size": 20}))
    assert set(body) == {"data", "meta"}
    assert body["meta"] == {"page": 3, "pages": 5, "total": 95}
    assert ids(body["data"]["items"]) == list(range(41, 61))
    past = _ok(get(f"{sandbox.catalog_url}/items", {"page": 6, "size": 20}))
    assert past == {"data": {"items": []}, "meta": {"page": 6, "pages": 5, "total": 95}}


def test_the_offset_body_has_results_and_total(sandbox: SandboxServer) -> None:
    body = _ok(get(f"{sandbox.catalog_url}/offset", {"offset": 90, "limit": 10}))
    assert body == {"results": body["results"], "total": 95}
    assert ids(body["results"]) == [91, 92, 93, 94, 95]
    assert _ok(get(f"{sandbox.catalog_url}/offset", {"offset": 95}))["results"] == []


def test_json_link_next_is_absolute_on_the_same_origin_and_null_at_the_end(
    sandbox: SandboxServer,
) -> None:
    first = _ok(get(f"{sandbox.catalog_url}/linked", {"size": 50, "updated_since": "2026-11-01"}))
    assert first["next"].startswith(f"{sandbox.catalog_url}/linked?")
    assert "page=2" in first["next"] and "size=50" in first["next"]
    assert "updated_since=2026-11-01" in first["next"]
    assert _ok(get(first["next"]))["next"] is None


def test_header_link_names_next_first_prev_and_last(sandbox: SandboxServer) -> None:
    middle = get(f"{sandbox.catalog_url}/headers", {"page": 2, "size": 40})
    last = get(f"{sandbox.catalog_url}/headers", {"page": 3, "size": 40})

    pages = {rel: re.search(r"page=(\d+)", link["url"]) for rel, link in middle.links.items()}
    assert isinstance(middle.json(), list)
    assert {rel: int(found.group(1)) for rel, found in pages.items() if found} == {
        "next": 3,
        "last": 3,
        "first": 1,
        "prev": 1,
    }
    assert all(link["url"].startswith(sandbox.catalog_url) for link in middle.links.values())
    assert "next" not in last.links and ids(last.json()) == list(range(81, 96))


def test_the_cursor_is_opaque_and_null_on_the_last_page(sandbox: SandboxServer) -> None:
    first = _ok(get(f"{sandbox.catalog_url}/cursor", {"size": 90}))
    cursor = first["cursors"]["next"]
    assert set(first) == {"items", "cursors"} and not cursor.isdigit()
    last = _ok(get(f"{sandbox.catalog_url}/cursor", {"size": 90, "cursor": cursor}))
    assert ids(last["items"]) == [91, 92, 93, 94, 95] and last["cursors"] == {"next": None}


def test_single_is_a_bare_list_of_the_first_ten(
    sandbox: SandboxServer, everything: list[dict[str, Any]]
) -> None:
    assert ids(_ok(get(f"{sandbox.catalog_url}/single"))) == list(range(1, 11))
    since = everything[49]["updated_at"]
    filtered = _ok(get(f"{sandbox.catalog_url}/single", {"updated_since": since}))
    assert ids(filtered) == expected_since(everything, since)[:10]


# --------------------------------------------------------------------------- updated_since


def test_updated_since_is_inclusive_and_orders_ties_by_id(
    sandbox: SandboxServer, everything: list[dict[str, Any]]
) -> None:
    tied = next(item for item in everything if item["id"] == 19)
    assert everything[17]["updated_at"] == tied["updated_at"]  # item 18 shares it
    items, _ = walk(sandbox, "page_number", size=100, updated_since=tied["updated_at"])

    assert ids(items) == expected_since(everything, tied["updated_at"])
    assert ids(items).index(18) + 1 == ids(items).index(19)
    assert all(item["updated_at"] >= tied["updated_at"] for item in items)


@pytest.mark.parametrize(
    ("given", "as_utc"),
    [
        ("2026-11-15T12:00:00Z", "2026-11-15T12:00:00Z"),
        ("2026-11-15T14:00:00+02:00", "2026-11-15T12:00:00Z"),
        ("2026-11-15T12:00:00", "2026-11-15T12:00:00Z"),  # no offset: UTC
        ("2026-11-15", "2026-11-15T00:00:00Z"),
    ],
)
def test_updated_since_accepts_iso_forms_and_compares_as_times(
    sandbox: SandboxServer, everything: list[dict[str, Any]], given: str, as_utc: str
) -> None:
    items, _ = walk(sandbox, "offset", size=100, updated_since=given)
    assert ids(items) == expected_since(everything, as_utc)
    assert 0 < len(items) < 95


@pytest.mark.parametrize("style", list(WALKS))
def test_updated_since_after_everything_is_one_empty_page(
    sandbox: SandboxServer, style: str
) -> None:
    items, requests_made = walk(sandbox, style, updated_since="2027-01-01T00:00:00Z")
    assert (items, requests_made) == ([], 1)


# --------------------------------------------------------------------------- auth

PROTECTED = {"/private/items": BEARER, "/keyed/items": API_KEY, "/basic/items": BASIC}


@pytest.mark.parametrize(("path", "credential"), PROTECTED.items())
def test_a_protected_endpoint_serves_every_item_with_its_credential(
    sandbox: SandboxServer, path: str, credential: dict[str, str]
) -> None:
    items, _ = walk_page_number(sandbox.catalog_url + path, {"size": 30}, credential)
    assert ids(items) == ALL_IDS


WRONG = {
    "none": {},
    "bearer, wrong token": {"Authorization": "Bearer sandbox-catalog-tokenX"},
    "bearer, empty": {"Authorization": "Bearer "},
    "api key, wrong": {"X-API-Key": "sandbox-catalog-token"},
    "basic, wrong password": {"Authorization": "Basic " + base64.b64encode(b"catalog:x").decode()},
    "basic, not base64": {"Authorization": "Basic %%%not-base64"},
    "basic, not utf-8": {"Authorization": "Basic " + base64.b64encode(b"\xff\xfe:\xff").decode()},
    "latin-1 text": {"Authorization": "Bearer sandbox-catalog-t\xf6ken", "X-API-Key": "k\xe9y"},
    "token as a query parameter": {},
}


@pytest.mark.parametrize("path", list(PROTECTED))
@pytest.mark.parametrize("case", list(WRONG))
def test_a_missing_or_wrong_credential_is_a_401_json(
    sandbox: SandboxServer, path: str, case: str
) -> None:
    params = {"access_token": "sandbox-catalog-token", "api_key": "sandbox-catalog-key"}
    response = get(sandbox.catalog_url + path, params if "query" in case else None, **WRONG[case])

    assert response.status_code == 401
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.json()["error"].startswith("unauthorized: ")
    assert 'realm="catalog"' in response.headers["WWW-Authenticate"]
    assert "sandbox-catalog" not in response.text and "sandbox-pass" not in response.text


@pytest.mark.parametrize(("path", "credential"), PROTECTED.items())
def test_another_endpoints_credential_is_refused(
    sandbox: SandboxServer, path: str, credential: dict[str, str]
) -> None:
    for other_path, other in PROTECTED.items():
        if other_path != path:
            assert get(sandbox.catalog_url + path, None, **other).status_code == 401
    assert get(sandbox.catalog_url + path, None, **credential).status_code == 200


def test_the_bearer_scheme_is_case_insensitive(sandbox: SandboxServer) -> None:
    response = get(
        f"{sandbox.catalog_url}/private/items", None, Authorization="bearer sandbox-catalog-token"
    )
    assert response.status_code == 200


# --------------------------------------------------------------------------- bad parameters


BAD = [
    ("/items", {"page": "abc"}, "page"),
    ("/items", {"page": "0"}, "page"),
    ("/items", {"page": "-1"}, "page"),
    ("/items", {"page": "1.5"}, "page"),
    ("/items", {"page": "+2"}, "page"),
    ("/items", {"page": "1_0"}, "page"),
    ("/items", {"page": "\u0661"}, "page"),  # ARABIC-INDIC DIGIT ONE: int() would take it
    ("/items", {"page": "9" * 5000}, "page"),
    ("/items", {"page": ["1", "2"]}, "page"),
    ("/items", {"size": "0"}, "size"),
    ("/items", {"size": "-1"}, "size"),
    ("/items", {"size": "101"}, "size"),
    ("/items", {"size": "100000000000000000000"}, "size"),
    ("/offset", {"limit": "-1"}, "limit"),
    ("/offset", {"limit": "0"}, "limit"),
    ("/offset", {"limit": "1000000"}, "limit"),
    ("/offset", {"limit": "ten"}, "limit"),
    ("/offset", {"offset": "-1"}, "offset"),
    ("/linked", {"page": "abc"}, "page"),
    ("/headers", {"size": "1e3"}, "size"),
    ("/cursor", {"cursor": "not-a-cursor"}, "cursor"),
    ("/cursor", {"cursor": base64.urlsafe_b64encode(b"catalog:-5").decode()}, "cursor"),
    ("/cursor", {"cursor": base64.urlsafe_b64encode(b"other:10").decode()}, "cursor"),
    ("/cursor", {"cursor": "\xff\xfe"}, "cursor"),
    ("/cursor", {"size": "500"}, "size"),
    ("/single", {"updated_since": "yesterday"}, "updated_since"),
    ("/items", {"updated_since": "2026-11-01T00:00:00 00:00"}, "updated_since"),  # '+' unescaped
    ("/items", {"updated_since": ["2026-11-01", "2026-11-02"]}, "updated_since"),
]


@pytest.mark.parametrize(("path", "params", "named"), BAD)
def test_a_bad_parameter_is_a_400_json_naming_it(
    sandbox: SandboxServer, path: str, params: dict[str, Any], named: str
) -> None:
    response = get(sandbox.catalog_url + path, params)

    assert response.status_code == 400, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.json()["error"].startswith(named)
    assert len(response.text) < 300  # a 5,000-digit page is not echoed back whole


def test_behind_auth_the_credential_is_checked_before_the_parameters(
    sandbox: SandboxServer,
) -> None:
    url = f"{sandbox.catalog_url}/private/items"
    assert get(url, {"size": "abc"}).status_code == 401
    response = get(url, {"size": "abc"}, **BEARER)
    assert response.status_code == 400 and response.json()["error"].startswith("size")


def test_a_huge_page_or_offset_is_an_empty_page_not_an_error(sandbox: SandboxServer) -> None:
    huge = "9" * 18
    assert _ok(get(f"{sandbox.catalog_url}/items", {"page": huge}))["data"]["items"] == []
    assert _ok(get(f"{sandbox.catalog_url}/offset", {"offset": huge}))["results"] == []
    assert _ok(get(f"{sandbox.catalog_url}/headers", {"page": huge})) == []


def test_unknown_parameters_are_ignored(sandbox: SandboxServer) -> None:
    body = _ok(get(f"{sandbox.catalog_url}/items", {"sort": "price", "lang": "en"}))
    assert ids(body["data"]["items"]) == list(range(1, 11))


@pytest.mark.parametrize("path", ["/nope", "/items/1", "/private", "/itemsx"])
def test_an_unknown_path_is_a_404_json(sandbox: SandboxServer, path: str) -> None:
    response = get(sandbox.catalog_url + path)
    assert response.status_code == 404 and "error" in response.json()


def test_the_index_lists_every_endpoint(sandbox: SandboxServer) -> None:
    body = _ok(get(sandbox.catalog_url))
    assert body["items"] == 95
    assert body["endpoints"][f"{sandbox.catalog_url}/cursor"] == "cursor"
    assert len(body["endpoints"]) == 9


def test_a_non_get_is_refused_by_the_server(sandbox: SandboxServer) -> None:
    response = requests.post(f"{sandbox.catalog_url}/items", timeout=TIMEOUT)
    assert response.status_code == 405


# --------------------------------------------------------------------------- the contract


def test_the_catalog_is_a_generic_http_fake_left_out_of_source_urls(sandbox: SandboxServer) -> None:
    assert FAKES["catalog"] is catalog_fake
    assert isinstance(catalog_fake, HttpFakeApi) and is_generic(catalog_fake)
    assert not any(is_generic(FAKES[name]) for name in ("jsonplaceholder", "randomuser"))
    assert not isinstance(FAKES["jsonplaceholder"], HttpFakeApi)
    assert "catalog" not in sandbox.source_urls()
    assert sandbox.catalog_url == sandbox.url_for("catalog") == f"{sandbox.url}/catalog"


def test_respond_without_headers_still_works_and_protected_paths_answer_401() -> None:
    status, body = catalog_fake.respond("/items", {"page": ["2"]}, "http://x.test")
    assert status == 200 and b'"id":11' in body
    status, body = catalog_fake.respond("/private/items", {}, "http://x.test")
    assert status == 401 and body.startswith(b'{"error":"unauthorized')


def test_respond_http_reads_headers_and_returns_reply_headers() -> None:
    reply = catalog_fake.respond_http(
        FakeRequest("/headers", {"size": ["50"]}, "http://x.test", {"x-ignored": "1"})
    )
    assert isinstance(reply, FakeReply) and reply.status == 200
    assert dict(reply.headers)["Link"].startswith(
        '<http://x.test/catalog/headers?size=50&page=2>; rel="next"'
    )
    authorised = catalog_fake.respond_http(
        FakeRequest("/keyed/items", {}, "http://x.test", {"x-api-key": "sandbox-catalog-key"})
    )
    assert authorised.status == 200


def test_faults_still_apply_to_the_catalog(sandbox: SandboxServer) -> None:
    sandbox.faults.add(Fault(path_prefix="/catalog/headers", kind="malformed"))
    response = get(f"{sandbox.catalog_url}/headers")

    assert response.status_code == 200
    with pytest.raises(ValueError):
        response.json()
    assert "next" in response.links  # the reply's headers survive the truncated body
