"""Curating a declared source's items: ids, titles, flattening, include/exclude/personal,
redaction, the preview, and hostile items that may only ever be InvalidItem."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.core.errors import InvalidItem, PipelineError, SourceError
from pipeline.sources.base import Curated, Request
from pipeline.sources.declared import (
    MISSING,
    DeclaredSource,
    PreviewRecord,
    flatten,
    get_path,
    parse_definition,
    preview,
    render_title,
    under,
)
from pipeline.sources.declared.paths import without


def source(version: int = 1, **resource: Any) -> DeclaredSource:
    spec = {
        "name": "catalog",
        "endpoint": {"path": "/items", "data_selector": "data.items"},
        "primary_key": "id",
        "title": "{name} ({sku})",
        "fields": {"exclude": ["internal"], "personal": ["owner"]},
        "incremental": {"cursor_path": "updated_at", "param": "updated_since"},
    }
    spec = {"name": "item", **{k: v for k, v in spec.items() if k != "name"}, **resource}
    definition = {
        "name": "catalog",
        "client": {"base_url": "http://127.0.0.1:8001/catalog"},
        "resources": [spec, {"name": "tag", "endpoint": "/tags", "primary_key": "slug"}],
    }
    return DeclaredSource(parse_definition(definition), version)


def lamp(**changes: Any) -> dict[str, Any]:
    item = {
        "id": 7,
        "sku": "L-7",
        "name": "Desk lamp",
        "price": 19.5,
        "tags": ["light", {"a": 1}],
        "owner": {"name": "Ada Lovelace", "email": "ada@example.com"},
        "internal": {"cost": 4.2, "supplier_token": "tok_secret"},
        "updated_at": "2026-11-30T10:00:00Z",
    }
    return item | changes


def test_an_item_is_curated_with_its_id_title_and_flattened_fields():
    curated = source().curate("item", lamp())
    assert curated == Curated(
        natural_id="7",
        title="Desk lamp (L-7)",
        fields={
            "id": 7,
            "sku": "L-7",
            "name": "Desk lamp",
            "price": 19.5,
            "tags": ["light", {"a": 1}],
            "owner.name": "Ada Lovelace",
            "owner.email": "ada@example.com",
            "updated_at": "2026-11-30T10:00:00Z",
        },
    )


def test_the_source_answers_the_source_protocol(config):
    src = source(version=4)
    assert (src.name, src.types, src.version, src.schedule_minutes, src.enabled) == (
        "catalog",
        ("item", "tag"),
        4,
        5,
        True,
    )
    assert src.expected_fields("item") == frozenset()
    assert src.personal_fields("item") == frozenset({"owner"})
    assert src.personal_fields("tag") == frozenset()
    # The title "{name} ({sku})" reads no personal field: it stays for every reader.
    assert src.neutral_title("item", "7") is None
    assert src.neutral_title("tag", "red") is None
    assert src.request("item", config) == Request(
        url="http://127.0.0.1:8001/catalog/items", params={}
    )
    assert src.resource("tag").path == "/tags"
    with pytest.raises(PipelineError, match="has no type 'nope' \\(known: item, tag\\)"):
        src.resource("nope")


@pytest.mark.parametrize(
    ("fields", "kept"),
    [
        ({"include": ["id", "owner"]}, ["id", "owner.name", "owner.email"]),
        ({"include": ["owner.name", "price"]}, ["price", "owner.name"]),
        ({"include": ["own"]}, []),  # a prefix is a whole key, not the start of a name
        (
            {"include": ["id", "internal"], "exclude": ["internal.cost"]},
            ["id", "internal.supplier_token"],
        ),
        ({"exclude": ["owner", "tags", "internal", "updated_at"]}, ["id", "sku", "name", "price"]),
        ({"exclude": ["tags.0", "internal"], "include": ["tags", "id"]}, ["id", "tags"]),
    ],
)
def test_include_then_exclude_choose_the_fields_by_the_prefix_rule(fields, kept):
    curated = source(fields=fields, title="{name}").curate("item", lamp())
    assert sorted(curated.fields) == sorted(kept)


def test_an_excluded_field_never_leaves_curation_nor_the_redacted_raw_item():
    src, item = source(), lamp()
    original = copy.deepcopy(item)
    curated, shown = src.curate("item", item), src.redact("item", item)
    assert "tok_secret" not in repr(curated) and "tok_secret" not in repr(shown)
    assert "internal" not in shown and shown["owner"] == item["owner"]
    assert item == original  # the raw item itself is left alone


def test_redact_removes_nested_paths_and_keys_that_hold_dots():
    src = source(fields={"exclude": ["owner.email", "a.b"]})
    item = lamp(**{"a.b": 1, "a": {"c": 2}, "a.bc": 3})
    shown = src.redact("item", item)
    assert shown["owner"] == {"name": "Ada Lovelace"}
    assert "a.b" not in shown and shown["a"] == {"c": 2} and shown["a.bc"] == 3
    assert src.redact("item", [1, 2]) == [1, 2]
    assert without({"x": {"y": 1}}, ()) == {"x": {"y": 1}}


@pytest.mark.parametrize(
    ("template", "item", "title"),
    [
        ("{name} ({sku})", lamp(), "Desk lamp (L-7)"),
        ("name", lamp(), "Desk lamp"),
        ("owner.name", lamp(), "Ada Lovelace"),
        ("{owner.name} <{missing}>", lamp(), "Ada Lovelace <>"),
        ("{price}/{id}/{tags}", lamp(), "19.5/7/"),
        ("{flag}", lamp(flag=False), "false"),
        ("{name}", lamp(name="  two\n\tlines  "), "two lines"),
        ("{name}", lamp(name="x" * 400), "x" * 300),
        ("name", lamp(name=None), "item 7"),  # empty: "<type> <id>"
        ("{missing}", lamp(), "item 7"),
        ("{name}", lamp(name={"first": "A"}), "item 7"),
    ],
)
def test_the_title_renders_a_path_or_a_template(template, item, title):
    assert source(title=template).curate("item", item).title == title


@pytest.mark.parametrize(
    ("pk", "natural_id"),
    [
        (7, "7"),
        ("sku-7", "sku-7"),
        ("a.b:c@d~e_f-9", "a.b:c@d~e_f-9"),
        (-3, "-3"),
        ("x" * 128, "x" * 128),
    ],
)
def test_the_natural_id_is_the_primary_key_as_text(pk, natural_id):
    assert source().curate("item", lamp(id=pk)).natural_id == natural_id


def test_a_nested_primary_key_is_read_by_its_dotted_path():
    src = source(primary_key="meta.uid", title="{name}")
    assert src.curate("item", lamp(meta={"uid": "u-1"})).natural_id == "u-1"


HOSTILE_IDS = {
    "missing": (lamp(id=MISSING), "missing primary key 'id'"),
    "null": (lamp(id=None), "missing primary key 'id'"),
    "true": (lamp(id=True), "primary key 'id' has type bool"),
    "a float": (lamp(id=1.5), "has type float"),
    "an object": (lamp(id={"v": 1}), "has type dict"),
    "a list": (lamp(id=[1]), "has type list"),
    "huge": (lamp(id=10**200), "is 1.000e+200, longer than 128 characters"),
    "129 digits": (lamp(id=10**128), "not 1..128"),
    "129 characters": (lamp(id="x" * 129), "not 1..128"),
    "empty": (lamp(id=""), "not 1..128"),
    "a slash": (lamp(id="a/b"), "is 'a/b', not"),
    "a space": (lamp(id="a b"), "not 1..128"),
    "unicode": (lamp(id="é"), "not 1..128"),
    "a newline": (lamp(id="a\n"), "not 1..128"),
}


@pytest.mark.parametrize(("item", "reason"), HOSTILE_IDS.values(), ids=HOSTILE_IDS.keys())
def test_a_hostile_primary_key_is_an_invalid_item(item, reason):
    item = {k: v for k, v in item.items() if v is not MISSING}
    with pytest.raises(InvalidItem, match=None) as caught:
        source().curate("item", item)
    assert reason in str(caught.value)


@pytest.mark.parametrize("item", [None, 3, "x", [lamp()], True])
def test_an_item_that_is_not_an_object_is_an_invalid_item(item):
    with pytest.raises(InvalidItem, match="not an object"):
        source().curate("item", item)


def test_keys_that_collide_once_flattened_are_an_invalid_item():
    with pytest.raises(InvalidItem, match=r"'owner\.name' appears twice"):
        source().curate("item", lamp(**{"owner.name": "Eve"}))


def _nested(depth: int) -> Any:
    value: Any = {"leaf": 1}
    for level in range(depth):
        value = {f"k{level}": value}
    return value


def test_flattening_stops_at_eight_keys_and_keeps_deeper_objects_whole():
    flat = flatten({"a": _nested(20), "list": [{"x": 1}], "empty": {}})
    (deep_key,) = [k for k in flat if k.startswith("a.")]
    assert deep_key.count(".") == 7 and isinstance(flat[deep_key], dict)
    assert flat["list"] == [{"x": 1}] and flat["empty"] == {}
    assert flatten({"a": {"b": {"c": 1}}}, depth=2) == {"a.b": {"c": 1}}


def test_a_hostile_deeply_nested_item_is_curated_without_recursing_through_it():
    item = lamp(deep=_nested(50_000))
    curated = source().curate("item", item)
    assert sum(k.startswith("deep.") for k in curated.fields) == 1
    assert source(fields={"exclude": ["deep"]}).redact("item", item).get("deep") is None


def test_paths_helpers_follow_objects_only():
    item = lamp()
    assert get_path(item, "owner.email") == "ada@example.com"
    assert get_path(item, "") is item
    assert get_path(item, "tags.0") is MISSING and get_path(item, "id.x") is MISSING
    assert get_path(item, "nope") is MISSING and not MISSING and repr(MISSING) == "MISSING"
    assert under("owner.email", "owner") and under("owner", "owner")
    assert not under("ownership", "owner") and not under("owner", "owner.email")
    assert render_title("{a.b}", {"a": {"b": 10**2000}}).endswith("e+2000")


@pytest.mark.parametrize(
    ("payload", "count"),
    [({"data": {"items": [lamp()]}}, 1), ({"data": {"items": []}}, 0)],
)
def test_items_follow_the_data_selector(payload, count):
    assert len(source().items("item", payload)) == count


@pytest.mark.parametrize(
    ("type_", "payload", "found"),
    [
        (
            "item",
            {"data": {}},
            "data_selector 'data.items' should lead to a list of item items; found nothing",
        ),
        ("item", {"data": {"items": {"a": 1}}}, "found a JSON object"),
        ("item", [lamp()], "found nothing"),
        ("item", {"data": {"items": "x"}}, "found a JSON string"),
        (
            "tag",
            {"tags": []},
            "the body (no data_selector) should lead to a list of tag items; found a JSON object",
        ),
        ("tag", None, "found a JSON null"),
    ],
)
def test_a_selector_that_finds_no_list_is_a_source_error(type_, payload, found):
    with pytest.raises(SourceError) as caught:
        source().items(type_, payload)
    assert found in str(caught.value)


def test_the_body_is_the_list_without_a_data_selector():
    assert source().items("tag", [{"slug": "red"}]) == [{"slug": "red"}]


@pytest.mark.parametrize(
    ("item", "cursor"),
    [
        (lamp(), "2026-11-30T10:00:00Z"),
        (lamp(updated_at=1700000000), "1700000000"),
        (lamp(updated_at=None), None),
        (lamp(updated_at={"t": 1}), None),
        ({"id": 1}, None),
        ("not an object", None),
    ],
)
def test_the_incremental_cursor_of_an_item_is_its_text(item, cursor):
    assert source().cursor_of("item", item) == cursor


def test_a_resource_without_incremental_has_no_cursor():
    assert source().cursor_of("tag", {"slug": "x"}) is None


def test_the_preview_curates_a_page_and_lists_each_fields_fate():
    payload = {"data": {"items": [lamp(), {"id": True}, 3, lamp(id=8, extra={"k": 1})]}}
    shown = preview(source(), "item", payload)
    assert shown.items == 4
    assert [(r.id, r.title) for r in shown.records] == [
        ("catalog-item-7", "Desk lamp (L-7)"),
        ("catalog-item-8", "Desk lamp (L-7)"),
    ]
    assert (
        isinstance(shown.records[0], PreviewRecord)
        and "internal.cost" not in shown.records[0].fields
    )
    assert shown.rejections == [
        (1, "primary key 'id' has type bool, not text or integer"),
        (2, "item is a int, not an object"),
    ]
    assert shown.kept == [
        "id",
        "sku",
        "name",
        "price",
        "tags",
        "owner.name",
        "owner.email",
        "updated_at",
        "extra.k",
    ]
    assert shown.excluded == ["internal.cost", "internal.supplier_token"]
    assert shown.personal == ["owner.name", "owner.email"]


def test_the_preview_shows_at_most_limit_records_but_counts_every_item():
    items = [lamp(id=n) for n in range(30)]
    shown = preview(source(), "item", {"data": {"items": items}}, limit=5)
    assert (shown.items, len(shown.records), shown.rejections) == (30, 5, [])
    assert shown.records[-1].id == "catalog-item-4"


def test_the_preview_of_a_page_without_the_list_is_a_source_error():
    with pytest.raises(SourceError):
        preview(source(), "item", {"items": []})


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from(["id", "name", "sku", "owner", "internal", "a.b", "a", "b"]),
            inner,
            max_size=4,
        )
    ),
    max_leaves=25,
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(JSON)
def test_any_item_is_curated_or_invalid_and_excluded_fields_never_leave(item):
    src = source(
        fields={"exclude": ["internal", "a.b"], "personal": ["owner"]}, title="{name} {sku}"
    )
    shown = src.redact("item", item)
    if isinstance(shown, dict):
        assert not any(under(k, p) for k in _flat_keys(shown) for p in ("internal", "a.b"))
    try:
        curated = src.curate("item", item)
    except InvalidItem:
        return
    assert not any(under(k, p) for k in curated.fields for p in ("internal", "a.b"))
    assert curated.title and len(curated.title) <= 300
    assert (
        preview(src, "item", {"data": {"items": [item]}}).records[0].id.startswith("catalog-item-")
    )


def _flat_keys(item: dict[str, Any]) -> list[str]:
    try:
        return list(flatten(item))
    except InvalidItem:
        return [k for k in item]


@pytest.mark.parametrize(
    ("title", "personal", "neutral"),
    [
        ("{owner.name} ({sku})", ["owner"], True),  # reads below a personal path
        ("owner", ["owner.email"], True),  # reads above one: the whole object
        ("{owner.email}", ["owner.email"], True),
        ("{name} ({sku})", ["owner"], False),
        ("{name}", [], False),
    ],
)
def test_a_title_that_reads_a_personal_field_is_neutral_for_readers_without_the_scope(
    title, personal, neutral
):
    definition = {
        "name": "catalog",
        "client": {"base_url": "http://127.0.0.1:8001/catalog"},
        "resources": [
            {
                "name": "item",
                "endpoint": "/items",
                "primary_key": "id",
                "title": title,
                "fields": {"personal": personal},
            }
        ],
    }
    src = DeclaredSource(parse_definition(definition), 1)
    assert src.neutral_title("item", "7") == ("catalog item 7" if neutral else None)
