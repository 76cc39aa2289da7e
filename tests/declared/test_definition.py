"""A declared source's definition: what is accepted, every error reported at once with its
path, nothing but DefinitionInvalid for any JSON, and a canonical form that round-trips."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.sources.declared import (
    MAX_DEFINITION_BYTES,
    Auth,
    Definition,
    DefinitionInvalid,
    FieldError,
    Incremental,
    Paginator,
    definition_dict,
    parse_definition,
    parse_definition_text,
)

DELETE = object()
BUILT_INS = frozenset({"jsonplaceholder", "randomuser"})


def example() -> dict[str, Any]:
    """The design's example definition, every key written out."""
    return {
        "name": "catalog",
        "client": {
            "base_url": "http://127.0.0.1:8001/catalog",
            "headers": {"Accept-Language": "en"},
            "auth": {"type": "bearer", "secret": "env:TWL_SOURCE_SECRET_CATALOG"},
            "paginator": {
                "type": "page_number",
                "page_param": "page",
                "base_page": 1,
                "total_path": "meta.pages",
            },
        },
        "resources": [
            {
                "name": "item",
                "endpoint": {
                    "path": "/items",
                    "params": {"size": 20},
                    "data_selector": "data.items",
                },
                "primary_key": "id",
                "title": "{name} ({sku})",
                "fields": {"include": None, "exclude": ["internal"], "personal": ["owner.email"]},
                "incremental": {
                    "cursor_path": "updated_at",
                    "param": "updated_since",
                    "initial_value": "2026-01-01T00:00:00Z",
                },
                "max_pages": 100,
            }
        ],
        "schedule_minutes": 5,
        "enabled": True,
    }


def minimal() -> dict[str, Any]:
    return {
        "name": "shop",
        "client": {"base_url": "https://api.example.com/v1/"},
        "resources": [{"name": "order", "endpoint": {"path": "orders"}, "primary_key": "id"}],
    }


def changed(data: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    """A deep copy of ``data`` with the value at ``path`` replaced (or deleted)."""
    data = copy.deepcopy(data)
    target = data
    for step in path[:-1]:
        target = target[step]
    if value is DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return data


def errors_of(data: Any, **kwargs: Any) -> list[tuple[str, str]]:
    with pytest.raises(DefinitionInvalid) as caught:
        parse_definition(data, **kwargs)
    return [(e.path, e.message) for e in caught.value.errors]


def test_the_example_parses_into_its_values():
    defn = parse_definition(example())
    assert defn.name == "catalog"
    assert defn.client.base_url == "http://127.0.0.1:8001/catalog"
    assert defn.client.headers == (("Accept-Language", "en"),)
    assert defn.client.auth == Auth("bearer", "env:TWL_SOURCE_SECRET_CATALOG")
    assert defn.client.paginator == Paginator(
        "page_number",
        (
            ("page_param", "page"),
            ("base_page", 1),
            ("total_path", "meta.pages"),
            ("maximum_page", None),
        ),
    )
    (item,) = defn.resources
    assert (item.name, item.path, item.params, item.data_selector) == (
        "item",
        "/items",
        (("size", 20),),
        "data.items",
    )
    assert (item.primary_key, item.title, item.max_pages) == ("id", "{name} ({sku})", 100)
    assert (item.include, item.exclude, item.personal) == (None, ("internal",), ("owner.email",))
    assert item.incremental == Incremental("updated_at", "updated_since", "2026-01-01T00:00:00Z")
    assert (defn.schedule_minutes, defn.enabled) == (5, True)


def test_a_minimal_definition_gets_every_default():
    defn = parse_definition(minimal())
    assert defn.client.base_url == "https://api.example.com/v1"  # trailing slash dropped
    assert (defn.client.headers, defn.client.auth, defn.client.paginator) == ((), None, None)
    (order,) = defn.resources
    assert (order.path, order.params, order.data_selector, order.paginator) == (
        "/orders",
        (),
        "",
        None,
    )
    assert (order.title, order.include, order.exclude, order.personal) == ("id", None, (), ())
    assert (order.incremental, order.max_pages) == (None, 100)
    assert (defn.schedule_minutes, defn.enabled) == (5, True)


@pytest.mark.parametrize(
    ("style", "options"),
    [
        ("single_page", ()),
        ("header_link", (("links_next_key", "next"),)),
        (
            "page_number",
            (
                ("page_param", "page"),
                ("base_page", 1),
                ("total_path", None),
                ("maximum_page", None),
            ),
        ),
    ],
)
def test_a_paginator_may_be_a_bare_name(style, options):
    defn = parse_definition(changed(minimal(), ("client", "paginator"), style))
    assert defn.client.paginator == Paginator(style, options)


def test_api_key_auth_defaults_its_header_and_basic_auth_takes_a_username():
    api_key = {"type": "api_key", "secret": "ssm:/twl-pipeline/dev/sources/shop"}
    basic = {"type": "http_basic", "secret": "env:TWL_SOURCE_SECRET_SHOP", "username": "bot"}
    assert parse_definition(changed(minimal(), ("client", "auth"), api_key)).client.auth == Auth(
        "api_key", "ssm:/twl-pipeline/dev/sources/shop", name="X-API-Key"
    )
    assert parse_definition(changed(minimal(), ("client", "auth"), basic)).client.auth == Auth(
        "http_basic", "env:TWL_SOURCE_SECRET_SHOP", username="bot"
    )


@pytest.mark.parametrize(
    ("written", "stored"), [("$.data.items", "data.items"), ("$", ""), (None, ""), ("", "")]
)
def test_dlt_style_selectors_are_read_as_dotted_paths(written, stored):
    data = changed(minimal(), ("resources", 0, "endpoint", "data_selector"), written)
    assert parse_definition(data).resources[0].data_selector == stored


def test_an_endpoint_may_be_its_path_alone():
    data = changed(minimal(), ("resources", 0, "endpoint"), "orders/open")
    assert parse_definition(data).resources[0].path == "/orders/open"


ROUND_TRIPS = {
    "the example": example(),
    "minimal": minimal(),
    "offset": changed(minimal(), ("client", "paginator"), {"type": "offset", "limit": 50}),
    "json_link": changed(
        minimal(), ("client", "paginator"), {"type": "json_link", "next_url_path": "links.next"}
    ),
    "cursor": changed(
        minimal(),
        ("resources", 0, "endpoint", "paginator"),
        {"type": "cursor", "cursor_path": "next", "cursor_param": "after"},
    ),
    "api_key": changed(
        minimal(),
        ("client", "auth"),
        {"type": "api_key", "secret": "env:TWL_SOURCE_SECRET_A", "name": "Key"},
    ),
    "basic": changed(
        minimal(),
        ("client", "auth"),
        {"type": "http_basic", "secret": "env:TWL_SOURCE_SECRET_A", "username": "u"},
    ),
    "params of every kind": changed(
        minimal(), ("resources", 0, "endpoint", "params"), {"b": True, "a": 1.5, "c": "", "d": -3}
    ),
    "include": changed(minimal(), ("resources", 0, "fields"), {"include": ["id", "lines"]}),
    "int initial value": changed(
        minimal(),
        ("resources", 0, "incremental"),
        {"cursor_path": "seq", "param": "since", "initial_value": 7},
    ),
}


@pytest.mark.parametrize("data", ROUND_TRIPS.values(), ids=ROUND_TRIPS.keys())
def test_the_canonical_form_round_trips_and_is_plain_json(data):
    defn = parse_definition(data)
    stored = definition_dict(defn)
    assert parse_definition(stored) == defn
    assert json.loads(json.dumps(stored)) == stored
    assert definition_dict(parse_definition(json.loads(json.dumps(stored)))) == stored


def test_the_canonical_form_fills_defaults_in_a_fixed_key_order():
    stored = definition_dict(parse_definition(minimal()))
    assert list(stored) == ["name", "client", "resources", "schedule_minutes", "enabled"]
    assert list(stored["client"]) == ["base_url", "headers", "auth", "paginator"]
    assert stored["resources"][0] == {
        "name": "order",
        "endpoint": {"path": "/orders", "params": {}, "data_selector": "", "paginator": None},
        "primary_key": "id",
        "title": "id",
        "fields": {"include": None, "exclude": [], "personal": []},
        "incremental": None,
        "max_pages": 100,
    }


def test_header_and_param_order_does_not_change_the_canonical_form():
    one = changed(example(), ("client", "headers"), {"A": "1", "b": "2"})
    two = changed(example(), ("client", "headers"), {"b": "2", "A": "1"})
    two["resources"][0]["endpoint"]["params"] = {"size": 20}
    assert definition_dict(parse_definition(one)) == definition_dict(parse_definition(two))


R0 = ("resources", 0)
ERRORS = {
    "unknown top key": (("colour",), "blue", "colour", "unknown key"),
    "unknown nested key": (("client", "timeout"), 5, "client.timeout", "unknown key"),
    "missing name": (("name",), DELETE, "name", "required"),
    "upper-case name": (("name",), "Shop", "name", "must be a source name"),
    "one-letter name": (("name",), "s", "name", "must be a source name"),
    "name of a number": (("name",), 7, "name", "must be a string, not number"),
    "missing client": (("client",), DELETE, "client", "required"),
    "client not an object": (("client",), [], "client", "must be an object, not array"),
    "missing base_url": (("client", "base_url"), DELETE, "client.base_url", "required"),
    "ftp base_url": (("client", "base_url"), "ftp://h/x", "client.base_url", "http(s) URL"),
    "no host": (("client", "base_url"), "https:///x", "client.base_url", "http(s) URL"),
    "userinfo": (
        ("client", "base_url"),
        "https://u:p@h.com",
        "client.base_url",
        "user or password",
    ),
    "fragment": (
        ("client", "base_url"),
        "https://h.com/#x",
        "client.base_url",
        "query or fragment",
    ),
    "query": (("client", "base_url"), "https://h.com/?a=1", "client.base_url", "query or fragment"),
    "bad port": (
        ("client", "base_url"),
        "https://h.com:99999",
        "client.base_url",
        "not a valid URL",
    ),
    "spaces": (("client", "base_url"), "https://h .com", "client.base_url", "no spaces"),
    "header value not text": (("client", "headers"), {"X-A": 1}, "client.headers.X-A", "string"),
    "header line break": (
        ("client", "headers"),
        {"X-A": "a\r\nB: c"},
        "client.headers.X-A",
        "control",
    ),
    "bad header name": (
        ("client", "headers"),
        {"X A": "1"},
        "client.headers['X A']",
        "header name",
    ),
    "authorization header": (
        ("client", "headers"),
        {"authorization": "Bearer x"},
        "client.headers.authorization",
        "client.auth",
    ),
    "cookie header": (
        ("client", "headers"),
        {"Cookie": "s=1"},
        "client.headers.Cookie",
        "client.auth",
    ),
    "host header": (("client", "headers"), {"Host": "evil"}, "client.headers.Host", "HTTP client"),
    "header value beyond Latin-1": (
        ("client", "headers"),
        {"X-A": "\u2603"},
        "client.headers.X-A",
        "Latin-1",
    ),
    "header value with a leading space": (
        ("client", "headers"),
        {"X-A": " a"},
        "client.headers.X-A",
        "spaces at either end",
    ),
    "header twice": (("client", "headers"), {"X-A": "1", "x-a": "2"}, "client.headers", "twice"),
    "unknown auth": (
        ("client", "auth"),
        {"type": "oauth2", "secret": "env:TWL_SOURCE_SECRET_A"},
        "client.auth.type",
        "one of",
    ),
    "auth without secret": (
        ("client", "auth"),
        {"type": "bearer"},
        "client.auth.secret",
        "required",
    ),
    "env secret outside the prefix": (
        ("client", "auth", "secret"),
        "env:DJANGO_SECRET_KEY",
        "client.auth.secret",
        "reference",
    ),
    "aws credentials": (
        ("client", "auth", "secret"),
        "env:AWS_SECRET_ACCESS_KEY",
        "client.auth.secret",
        "reference",
    ),
    "bare ssm name": (("client", "auth", "secret"), "ssm:name", "client.auth.secret", "reference"),
    "name on bearer": (
        ("client", "auth"),
        {"type": "bearer", "secret": "env:TWL_SOURCE_SECRET_A", "name": "X"},
        "client.auth.name",
        "not used",
    ),
    "basic without username": (
        ("client", "auth"),
        {"type": "http_basic", "secret": "env:TWL_SOURCE_SECRET_A"},
        "client.auth.username",
        "required",
    ),
    "username with a colon": (
        ("client", "auth"),
        {"type": "http_basic", "secret": "env:TWL_SOURCE_SECRET_A", "username": "a:b"},
        "client.auth.username",
        "':'",
    ),
    "api key header also in headers": (
        ("client", "auth"),
        {"type": "api_key", "secret": "env:TWL_SOURCE_SECRET_A"},
        "client.headers",
        "'X-API-Key'",
    ),
    "unknown paginator": (
        ("client", "paginator"),
        "auto",
        "client.paginator.type",
        "unknown paginator",
    ),
    "paginator without type": (
        ("client", "paginator"),
        {"limit": 5},
        "client.paginator.type",
        "required",
    ),
    "paginator option of another style": (
        ("client", "paginator"),
        {"type": "page_number", "limit": 5},
        "client.paginator.limit",
        "unknown key",
    ),
    "offset without limit": (
        ("client", "paginator"),
        "offset",
        "client.paginator.limit",
        "required",
    ),
    "offset limit of zero": (
        ("client", "paginator"),
        {"type": "offset", "limit": 0},
        "client.paginator.limit",
        "between 1 and 10,000",
    ),
    "one param for offset and limit": (
        ("client", "paginator"),
        {"type": "offset", "limit": 5, "offset_param": "n", "limit_param": "n"},
        "client.paginator.limit_param",
        "differ",
    ),
    "maximum below base": (
        ("client", "paginator"),
        {"type": "page_number", "base_page": 2, "maximum_page": 1},
        "client.paginator.maximum_page",
        "below base_page",
    ),
    "json_link without path": (
        ("client", "paginator"),
        "json_link",
        "client.paginator.next_url_path",
        "required",
    ),
    "cursor without param": (
        ("client", "paginator"),
        {"type": "cursor", "cursor_path": "next"},
        "client.paginator.cursor_param",
        "required",
    ),
    "missing resources": (("resources",), DELETE, "resources", "required"),
    "no resources": (("resources",), [], "resources", "1..20 resources, not 0 resources"),
    "21 resources": (
        ("resources",),
        [{"name": f"r{i}", "endpoint": "/x", "primary_key": "id"} for i in range(21)],
        "resources",
        "not 21 resources",
    ),
    "resource not an object": (("resources", 0), "item", "resources[0]", "must be an object"),
    "bad type name": ((*R0, "name"), "Items", "resources[0].name", "type name"),
    "missing endpoint": ((*R0, "endpoint"), DELETE, "resources[0].endpoint", "required"),
    "absolute url as path": (
        (*R0, "endpoint", "path"),
        "https://evil.example/x",
        "resources[0].endpoint.path",
        "not a URL",
    ),
    "protocol-relative path": (
        (*R0, "endpoint", "path"),
        "//evil/x",
        "resources[0].endpoint.path",
        "URL path",
    ),
    "dot-dot path": (
        (*R0, "endpoint", "path"),
        "/a/../b",
        "resources[0].endpoint.path",
        "URL path",
    ),
    "query in path": (
        (*R0, "endpoint", "path"),
        "/items?x=1",
        "resources[0].endpoint.path",
        "URL path",
    ),
    "param of a list": (
        (*R0, "endpoint", "params"),
        {"ids": [1, 2]},
        "resources[0].endpoint.params.ids",
        "string, number or boolean",
    ),
    "param of null": (
        (*R0, "endpoint", "params"),
        {"q": None},
        "resources[0].endpoint.params.q",
        "not null",
    ),
    "bad param name": (
        (*R0, "endpoint", "params"),
        {"a b": 1},
        "resources[0].endpoint.params['a b']",
        "parameter name",
    ),
    "param set by the paginator": (
        (*R0, "endpoint", "params"),
        {"page": 3},
        "resources[0]",
        "'page' is set by both the endpoint's params and the paginator",
    ),
    "param set by incremental": (
        (*R0, "endpoint", "params"),
        {"updated_since": "x"},
        "resources[0]",
        "'updated_since' is set by both the endpoint's params and incremental.param",
    ),
    "selector with a space": (
        (*R0, "endpoint", "data_selector"),
        "data items",
        "resources[0].endpoint.data_selector",
        "dotted path",
    ),
    "selector with an empty key": (
        (*R0, "endpoint", "data_selector"),
        "data..items",
        "resources[0].endpoint.data_selector",
        "dotted path",
    ),
    "jsonpath selector": (
        (*R0, "endpoint", "data_selector"),
        "$.data[*].items",
        "resources[0].endpoint.data_selector",
        "JSONPath filters are not supported",
    ),
    "selector nine keys deep": (
        (*R0, "endpoint", "data_selector"),
        "a.b.c.d.e.f.g.h.i",
        "resources[0].endpoint.data_selector",
        "1..8 keys",
    ),
    "missing primary key": ((*R0, "primary_key"), DELETE, "resources[0].primary_key", "required"),
    "composite primary key": (
        (*R0, "primary_key"),
        ["a", "b"],
        "resources[0].primary_key",
        "composite",
    ),
    "unbalanced title": ((*R0, "title"), "{name", "resources[0].title", "unmatched brace"),
    "empty placeholder": ((*R0, "title"), "{} x", "resources[0].title", "placeholder #1"),
    "empty title": ((*R0, "title"), "", "resources[0].title", "must not be empty"),
    "title of 301 characters": ((*R0, "title"), "x" * 301, "resources[0].title", "at most 300"),
    "title reads an excluded field": (
        (*R0, "title"),
        "{internal.cost}",
        "resources[0].title",
        "excluded",
    ),
    "primary key excluded": (
        (*R0, "primary_key"),
        "internal.id",
        "resources[0].primary_key",
        "is excluded",
    ),
    "primary key personal": (
        (*R0, "primary_key"),
        "owner.email",
        "resources[0].primary_key",
        "is personal",
    ),
    "include not a list": (
        (*R0, "fields", "include"),
        "id",
        "resources[0].fields.include",
        "array",
    ),
    "exclude of null": ((*R0, "fields", "exclude"), None, "resources[0].fields.exclude", "array"),
    "exclude twice": (
        (*R0, "fields", "exclude"),
        ["internal", "internal"],
        "resources[0].fields.exclude[1]",
        "repeats resources[0].fields.exclude[0]",
    ),
    "personal also excluded": (
        (*R0, "fields", "personal"),
        ["internal.cost"],
        "resources[0].fields.personal[0]",
        "is excluded too",
    ),
    "unknown fields key": (
        (*R0, "fields", "secret"),
        [],
        "resources[0].fields.secret",
        "unknown key",
    ),
    "incremental without param": (
        (*R0, "incremental", "param"),
        DELETE,
        "resources[0].incremental.param",
        "required",
    ),
    "incremental initial of a list": (
        (*R0, "incremental", "initial_value"),
        [],
        "resources[0].incremental.initial_value",
        "string",
    ),
    "max_pages of 1001": (
        (*R0, "max_pages"),
        1001,
        "resources[0].max_pages",
        "between 1 and 1,000",
    ),
    "max_pages of 2.0": ((*R0, "max_pages"), 2.0, "resources[0].max_pages", "integer"),
    "duplicate resource": (
        ("resources", 1),
        {"name": "item", "endpoint": "/x", "primary_key": "id"},
        "resources[1].name",
        "repeats resources[0].name",
    ),
    "schedule of 4 minutes": (("schedule_minutes",), 4, "schedule_minutes", "between 5 and 10,080"),
    "schedule of true": (("schedule_minutes",), True, "schedule_minutes", "integer, not boolean"),
    "enabled of 1": (("enabled",), 1, "enabled", "true or false"),
}


@pytest.mark.parametrize(("path", "value", "where", "message"), ERRORS.values(), ids=ERRORS.keys())
def test_each_kind_of_error_names_its_path(path, value, where, message):
    data = example()
    if path == ("resources", 1):
        data["resources"].append(value)
    elif path[-1] == "auth" and value.get("type") == "api_key":
        data["client"]["headers"]["X-API-Key"] = "plain"
        data["client"]["auth"] = value
    else:
        data = changed(data, path, value)
    found = errors_of(data)
    assert [p for p, m in found if message in m] == [where], found


def test_every_error_is_reported_at_once():
    data = example()
    data["name"] = "Bad Name"
    data["client"]["base_url"] = "ftp://x"
    data["client"]["auth"]["secret"] = "sk_live_0123456789"
    data["resources"][0]["max_pages"] = 0
    data["resources"][0]["fields"]["personal"] = ["internal"]
    data["resources"].append({"name": "item", "endpoint": {"path": 3}, "primary_key": "id"})
    data["schedule_minutes"] = 2
    data["surprise"] = True
    paths = [path for path, _ in errors_of(data)]
    assert paths == [
        "surprise",
        "name",
        "client.base_url",
        "client.auth.secret",
        "resources[0].max_pages",
        "resources[0].fields.personal[0]",
        "resources[1].endpoint.path",
        "resources[1].name",
        "schedule_minutes",
    ]


def test_the_message_joins_every_error_and_errors_are_values():
    with pytest.raises(DefinitionInvalid) as caught:
        parse_definition(changed(changed(minimal(), ("name",), "X"), ("enabled",), "yes"))
    assert caught.value.errors == (
        FieldError("name", "must be a source name: a lower-case letter, then 1..30 of a-z 0-9 _"),
        FieldError("enabled", "must be true or false, not string"),
    )
    assert str(caught.value) == "; ".join(f"{e.path}: {e.message}" for e in caught.value.errors)


def test_a_secret_pasted_where_a_reference_belongs_is_never_repeated():
    token = "sk_live_abcdef0123456789"
    data = changed(example(), ("client", "auth", "secret"), token)
    data["client"]["headers"]["X-Token"] = token + "\n"
    with pytest.raises(DefinitionInvalid) as caught:
        parse_definition(data)
    assert token not in str(caught.value)
    assert [e.path for e in caught.value.errors] == ["client.headers.X-Token", "client.auth.secret"]


@pytest.mark.parametrize("name", sorted(BUILT_INS))
def test_a_built_in_source_name_is_refused(name):
    assert errors_of(changed(minimal(), ("name",), name), reserved=BUILT_INS) == [
        ("name", f"{name!r} is a built-in source")
    ]


@pytest.mark.parametrize("data", [None, [], "catalog", 3, True])
def test_a_definition_must_be_an_object(data):
    assert errors_of(data) == [("definition", f"must be an object, not {_json_kind(data)}")]


def _json_kind(value: Any) -> str:
    return {type(None): "null", list: "array", str: "string", int: "number", bool: "boolean"}[
        type(value)
    ]


def test_a_definition_over_the_size_limit_is_refused_before_anything_else():
    data = changed(minimal(), ("resources", 0, "title"), "x" * MAX_DEFINITION_BYTES)
    (only,) = errors_of(data)
    assert only[0] == "definition" and "at most 32,000" in only[1]
    with pytest.raises(DefinitionInvalid, match="at most 32,000"):
        parse_definition_text(" " * (MAX_DEFINITION_BYTES + 1))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"name": "a",', "is not JSON: Expecting"),
        ('{"name": "shop", "name": "other"}', "repeats the key 'name'"),
        ('{"n": NaN}', "is not JSON this tool can read"),
        (b"\xff\xfe{", "is not JSON"),
        ("[" * 5000 + "]" * 5000, "is not JSON this tool can read"),
        ("1" * 5000, "is not JSON this tool can read"),
    ],
)
def test_text_that_is_not_one_json_object_is_refused_with_one_clear_error(text, message):
    with pytest.raises(DefinitionInvalid) as caught:
        parse_definition_text(text)
    (error,) = caught.value.errors
    assert error.path == "definition" and message in error.message


def test_parse_definition_text_reads_a_good_document():
    assert parse_definition_text(json.dumps(example())) == parse_definition(example())


def test_non_json_values_and_nan_are_refused():
    message = "is not JSON (or holds NaN, Infinity, a lone surrogate or a non-JSON value)"
    for hostile in (float("nan"), float("inf"), {1, 2}, "\ud800", b"bytes"):
        assert errors_of({"name": hostile}) == [("definition", message)]


def test_a_parsed_definition_is_hashable_and_immutable():
    defn = parse_definition(example())
    assert hash(defn) == hash(parse_definition(example()))
    with pytest.raises(AttributeError):
        defn.name = "other"  # type: ignore[misc]
    assert isinstance(defn, Definition)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=30,
)


def _paths(data: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(data, dict):
        for key, value in data.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            found += _paths(value, (*prefix, index))
    return found


EXAMPLE_PATHS = _paths(example())
KEYS = st.sampled_from(
    ["name", "client", "type", "secret", "limit", "paginator", "path", "fields", "title", "x"]
)


def _outcome(data: Any) -> Definition | None:
    try:
        defn = parse_definition(data)
    except DefinitionInvalid as exc:
        assert exc.errors and all(isinstance(e.path, str) and e.message for e in exc.errors)
        return None
    assert parse_definition(definition_dict(defn)) == defn
    return defn


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(JSON)
def test_any_json_is_a_definition_or_definition_invalid(data):
    _outcome(data)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(EXAMPLE_PATHS),
    JSON | st.just(DELETE),
    st.lists(st.tuples(KEYS, JSON), max_size=2),
)
def test_any_change_to_a_good_definition_is_accepted_or_refused_cleanly(path, value, extra):
    data = changed(example(), path, value)
    for key, added in extra:
        if isinstance(data.get("client"), dict):
            data["client"][key] = added
    _outcome(data)


def test_a_hostile_deeply_nested_value_is_refused_cleanly():
    deep: Any = "leaf"
    for _ in range(100_000):
        deep = [deep]
    assert errors_of(changed(minimal(), ("client", "headers"), deep))[0][0] == "definition"


def test_an_api_key_may_travel_in_the_authorization_header():
    auth = {"type": "api_key", "secret": "env:TWL_SOURCE_SECRET_A", "name": "Authorization"}
    defn = parse_definition(changed(minimal(), ("client", "auth"), auth))
    assert defn.client.auth == Auth("api_key", "env:TWL_SOURCE_SECRET_A", name="Authorization")
    auth["name"] = "Content-Length"
    assert errors_of(changed(minimal(), ("client", "auth"), auth)) == [
        ("client.auth.name", "is set by the HTTP client")
    ]


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200) | st.binary(max_size=200))
def test_any_text_is_a_definition_or_definition_invalid(text):
    with pytest.raises(DefinitionInvalid):
        parse_definition_text(text)
