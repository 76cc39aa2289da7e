"""Declared sources' stored definitions: versions, conflicts, delete, the registry's provider.

On in-process moto: every change keeps the version before it, a stale editor writes
nothing, a delete keeps the history, the registry sees what is stored (at any version)
for the cost of one Query per cache period, a definition that no longer parses or an
unreadable table never breaks a lookup, and the access policy's prefix rule.
"""

from __future__ import annotations

import copy
import json
import logging
import os
from collections import Counter
from typing import Any

import pytest

from pipeline import sources as registry
from pipeline.core.constants import LEDGER_PK, LEDGER_SK
from pipeline.core.errors import PipelineError
from pipeline.selectors.access import raw_allowed, record_shown, withheld
from pipeline.sources import SOURCES, builtin_names, feeds, get_source, is_declared, known_types
from pipeline.sources.declared.source import DeclaredSource
from pipeline.sources.declared.spec import DefinitionInvalid, definition_dict, parse_definition
from pipeline.stores import aws, declared_sources
from pipeline.stores.declared_sources import declared_source_at
from pipeline.stores.definitions import (
    HISTORY_LIMIT,
    MAX_ACTOR_CHARS,
    DefinitionConflict,
    definition_delete,
    definition_get,
    definition_history,
    definition_put,
    definition_version_get,
    definitions_current,
)

BUILT_IN = ["jsonplaceholder", "randomuser"]
CATALOG: dict[str, Any] = {
    "name": "catalog",
    "client": {
        "base_url": "http://127.0.0.1:8001/catalog",
        "paginator": {"type": "page_number", "total_path": "meta.pages"},
    },
    "resources": [
        {
            "name": "item",
            "endpoint": {"path": "/items", "params": {"size": 20}, "data_selector": "data.items"},
            "primary_key": "id",
            "title": "{name} ({sku})",
            "fields": {"exclude": ["internal"], "personal": ["owner"]},
        }
    ],
}


def catalog(title: str = "{name} ({sku})", *, name: str = "catalog", **top: Any) -> dict:
    """The catalog definition with another title (or name, or top-level keys)."""
    changed = copy.deepcopy(CATALOG) | {"name": name} | top
    changed["resources"][0]["title"] = title
    return changed


def canonical(definition: dict) -> dict:
    return definition_dict(parse_definition(definition))


def put(config, definition: dict | None = None, *, expected: int | None = None, **kw) -> int:
    body = definition if definition is not None else catalog()
    kw.setdefault("change", "created" if expected is None else "edited")
    return definition_put(
        body["name"], body, actor="ops", expected_version=expected, config=config, **kw
    )


class DynamoCalls:
    """Counts each DynamoDB operation made through the cached client."""

    def __init__(self, config) -> None:
        self.operations: Counter[str] = Counter()
        aws.dynamodb(config).meta.events.register("before-call.dynamodb.*", self._count)

    def _count(self, model, **kwargs) -> None:
        self.operations[model.name] += 1


def ledger_items(config, pk: str) -> list[dict]:
    reply = aws.dynamodb(config).query(
        TableName=config.ledger_table,
        KeyConditionExpression="#pk = :pk",
        ExpressionAttributeNames={"#pk": LEDGER_PK},
        ExpressionAttributeValues={":pk": {"S": pk}},
    )
    return reply["Items"]


# --- versions ------------------------------------------------------------------------------


def test_a_new_source_is_stored_as_version_1_in_its_canonical_form(stack):
    assert put(stack) == 1

    [current] = definitions_current(config=stack)
    assert (current.name, current.version, current.change, current.updated_by) == (
        "catalog",
        1,
        "created",
        "ops",
    )
    assert current.definition == canonical(CATALOG)  # defaults filled, as export shows it
    assert current.definition["schedule_minutes"] == 5
    assert definition_get("catalog", config=stack) == current
    assert definition_version_get("catalog", 1, config=stack) == current
    assert [v.version for v in definition_history("catalog", config=stack)] == [1]


def test_each_change_is_a_new_version_and_every_earlier_one_is_kept(stack):
    put(stack)
    assert put(stack, catalog("{sku}"), expected=1) == 2
    assert put(stack, catalog("{name}", enabled=False), expected=2, change="paused") == 3

    history = definition_history("catalog", config=stack)
    assert [(v.version, v.change) for v in history] == [
        (3, "paused"),
        (2, "edited"),
        (1, "created"),
    ]
    titles = [v.definition["resources"][0]["title"] for v in history]
    assert titles == ["{name}", "{sku}", "{name} ({sku})"]
    assert definition_get("catalog", config=stack).version == 3
    assert definition_version_get("catalog", 2, config=stack).definition == canonical(
        catalog("{sku}")
    )
    # Only the pointer and the versions: nothing else under the source's keys.
    assert len(ledger_items(stack, "SOURCEDEF")) == 1
    assert len(ledger_items(stack, "SOURCEDEF#catalog")) == 3


@pytest.mark.parametrize("stale", [None, 1, 3, 0])
def test_an_editor_who_read_another_version_writes_nothing(stack, stale):
    put(stack)
    put(stack, catalog("{sku}"), expected=1)  # someone else's edit: now at version 2

    with pytest.raises(DefinitionConflict, match="catalog"):
        put(stack, catalog("{name}"), expected=stale)

    assert [v.version for v in definition_history("catalog", config=stack)] == [2, 1]
    assert definition_get("catalog", config=stack).definition == canonical(catalog("{sku}"))


def test_of_two_editors_of_the_same_version_only_the_first_wins(stack):
    put(stack)
    assert put(stack, catalog("{sku}"), expected=1) == 2
    with pytest.raises(DefinitionConflict, match="since version 1 was read"):
        put(stack, catalog("{name}"), expected=1)
    with pytest.raises(DefinitionConflict, match="exists already"):
        put(stack, catalog("{name}"))


def test_delete_removes_the_source_and_keeps_its_history(stack):
    put(stack)
    put(stack, catalog("{sku}"), expected=1)

    assert definition_delete("catalog", actor="ops", expected_version=2, config=stack) == 3

    assert definitions_current(config=stack) == []
    assert definition_get("catalog", config=stack) is None
    history = definition_history("catalog", config=stack)
    assert [(v.version, v.change) for v in history] == [
        (3, "deleted"),
        (2, "edited"),
        (1, "created"),
    ]
    assert history[0].definition == history[1].definition  # what was deleted, kept


@pytest.mark.parametrize("expected", [1, 3])
def test_a_stale_delete_writes_nothing(stack, expected):
    put(stack)
    put(stack, catalog("{sku}"), expected=1)
    with pytest.raises(DefinitionConflict):
        definition_delete("catalog", actor="ops", expected_version=expected, config=stack)
    assert definition_get("catalog", config=stack).version == 2
    assert len(definition_history("catalog", config=stack)) == 2


def test_deleting_a_source_that_is_not_there_is_a_conflict(stack):
    with pytest.raises(DefinitionConflict):
        definition_delete("catalog", actor="ops", expected_version=1, config=stack)
    assert ledger_items(stack, "SOURCEDEF#catalog") == []


def test_a_source_created_again_after_a_delete_continues_its_version_numbers(stack):
    put(stack)
    definition_delete("catalog", actor="ops", expected_version=1, config=stack)

    assert put(stack, catalog("{sku}")) == 3

    history = definition_history("catalog", config=stack)
    assert [(v.version, v.change) for v in history] == [
        (3, "created"),
        (2, "deleted"),
        (1, "created"),
    ]


def test_a_definition_that_does_not_parse_is_refused_with_every_error_and_nothing_written(stack):
    bad = catalog(schedule_minutes=1) | {"unknown": 1}
    bad["client"]["base_url"] = "ftp://x"

    with pytest.raises(DefinitionInvalid) as refused:
        put(stack, bad)

    paths = {e.path for e in refused.value.errors}
    assert {"schedule_minutes", "unknown", "client.base_url"} <= paths
    assert ledger_items(stack, "SOURCEDEF") == ledger_items(stack, "SOURCEDEF#catalog") == []


def test_a_built_in_sources_name_and_a_name_other_than_the_definitions_are_refused(stack):
    with pytest.raises(DefinitionInvalid, match="name"):
        put(stack, catalog(name="randomuser"))
    with pytest.raises(DefinitionInvalid, match="name"):
        definition_put(
            "other", catalog(), change="created", actor="ops", expected_version=None, config=stack
        )
    assert ledger_items(stack, "SOURCEDEF") == []


@pytest.mark.parametrize("change", ["deleted", "rewritten", ""])
def test_a_change_other_than_the_known_kinds_is_refused(stack, change):
    with pytest.raises(PipelineError, match="change"):
        put(stack, change=change)
    assert ledger_items(stack, "SOURCEDEF") == []


def test_a_long_actor_is_cut(stack):
    definition_put(
        "catalog",
        catalog(),
        change="created",
        actor="o" * 1000,
        expected_version=None,
        config=stack,
    )
    assert definition_get("catalog", config=stack).updated_by == "o" * MAX_ACTOR_CHARS


def test_each_change_costs_one_transaction_and_a_create_one_query_more(stack):
    calls = DynamoCalls(stack)
    put(stack)
    assert dict(calls.operations) == {"Query": 1, "TransactWriteItems": 1}  # the next number
    calls.operations.clear()
    put(stack, catalog("{sku}"), expected=1)
    assert dict(calls.operations) == {"TransactWriteItems": 1}
    calls.operations.clear()
    definition_delete("catalog", actor="ops", expected_version=2, config=stack)
    assert dict(calls.operations) == {"GetItem": 1, "TransactWriteItems": 1}


def test_history_is_newest_first_and_bounded(stack):
    put(stack)
    for version in range(1, 4):
        put(stack, catalog(f"{{sku}} {version}"), expected=version)

    assert [v.version for v in definition_history("catalog", config=stack, limit=2)] == [4, 3]
    assert HISTORY_LIMIT == 50


@pytest.mark.parametrize(
    ("name", "version"),
    [
        ("../catalog", 1),
        ("Catalog", 1),
        ("c" * 40, 1),
        ("", 1),
        ("catalog#V", 1),
        ("catalog", 0),
        ("catalog", -1),
        ("catalog", 10**6),
    ],
)
def test_a_name_or_version_no_source_can_have_is_not_looked_up(stack, name, version):
    put(stack)
    calls = DynamoCalls(stack)
    assert definition_version_get(name, version, config=stack) is None
    if version == 1:
        assert definition_get(name, config=stack) is None
        assert definition_history(name, config=stack) == []
    assert calls.operations == {}


# --- the registry sees what is stored ---------------------------------------------------------


def test_the_registry_holds_the_built_ins_then_the_declared_sources(stack):
    assert list(SOURCES) == BUILT_IN
    put(stack, catalog(name="zoo"))
    put(stack, catalog(name="catalog"))

    assert list(SOURCES) == [*BUILT_IN, "catalog", "zoo"]
    assert len(SOURCES) == 4 and "catalog" in SOURCES and "nope" not in SOURCES
    assert isinstance(SOURCES["catalog"], DeclaredSource)
    assert get_source("catalog").version == 1
    assert ("catalog", "item") in [(f.source, f.type) for f in feeds()]
    assert "item" in known_types()
    assert is_declared("catalog") and not is_declared("randomuser") and not is_declared("nope")
    assert builtin_names() == frozenset(BUILT_IN)
    with pytest.raises(PipelineError, match=r"unknown source 'nope' \(known: .*catalog, zoo\)"):
        get_source("nope")


def test_get_source_with_a_version_curates_as_that_version_did(stack):
    put(stack)
    put(stack, catalog("{sku}"), expected=1)
    item = {"id": 7, "sku": "A-7", "name": "lamp"}

    assert get_source("catalog").curate("item", item).title == "A-7"
    assert get_source("catalog", version=1).curate("item", item).title == "lamp (A-7)"
    assert get_source("catalog", version=2) is get_source("catalog")
    definition_delete("catalog", actor="ops", expected_version=2, config=stack)
    assert "catalog" not in SOURCES
    assert get_source("catalog", version=1).version == 1  # a deleted source's objects replay
    with pytest.raises(PipelineError, match="unknown source 'catalog' at definition version 9"):
        get_source("catalog", version=9)


def test_a_built_in_source_has_no_versions_and_ignores_one(stack):
    assert get_source("randomuser", version=3) is get_source("randomuser")


def test_the_current_sources_cost_one_query_until_a_write_in_this_process(stack):
    put(stack)
    calls = DynamoCalls(stack)
    for _ in range(5):
        assert list(SOURCES) == [*BUILT_IN, "catalog"]
        assert get_source("catalog", version=1).version == 1  # the current one: no read
    assert dict(calls.operations) == {"Query": 1}

    put(stack, catalog("{sku}"), expected=1)
    calls.operations.clear()
    assert get_source("catalog").version == 2
    assert get_source("catalog").version == 2
    assert dict(calls.operations) == {"Query": 1}


def test_another_version_costs_one_get_item_per_process(stack):
    put(stack)
    put(stack, catalog("{sku}"), expected=1)
    calls = DynamoCalls(stack)
    for _ in range(3):
        assert declared_source_at("catalog", 1, config=stack).version == 1
    assert dict(calls.operations) == {"GetItem": 1}
    assert declared_source_at("catalog", 7, config=stack) is None


def test_built_in_lookups_never_ask_the_provider(stack):
    put(stack)
    calls = DynamoCalls(stack)
    declared_sources.definitions_cache_clear()
    assert SOURCES["jsonplaceholder"].types == ("post", "comment", "user")
    assert "randomuser" in SOURCES and get_source("randomuser").name == "randomuser"
    assert calls.operations == {}


def test_what_another_process_writes_is_seen_after_the_cache_period(stack, monkeypatch):
    monkeypatch.setattr(declared_sources, "CACHE_SECONDS", 15.0)
    assert declared_sources.declared_sources(config=stack, now=100.0) == {}
    # Another process's write: this one's cache knows nothing of it.
    other = definition_dict(parse_definition(catalog()))
    item = {LEDGER_PK: "SOURCEDEF", LEDGER_SK: "CURRENT#catalog", "name": "catalog"}
    aws.dynamodb(stack).put_item(
        TableName=stack.ledger_table,
        Item={k: {"S": v} for k, v in item.items()}
        | {"version": {"N": "1"}, "definition": {"S": json.dumps(other)}},
    )

    assert declared_sources.declared_sources(config=stack, now=114.9) == {}
    assert list(declared_sources.declared_sources(config=stack, now=115.0)) == ["catalog"]


def test_a_stored_definition_that_no_longer_parses_is_skipped_with_a_warning(stack, caplog):
    put(stack)
    broken = {
        LEDGER_PK: {"S": "SOURCEDEF"},
        LEDGER_SK: {"S": "CURRENT#broken"},
        "name": {"S": "broken"},
        "version": {"N": "4"},
        "definition": {"S": '{"name": "broken", "client": {"base_url": "gopher://x"}}'},
    }
    aws.dynamodb(stack).put_item(TableName=stack.ledger_table, Item=broken)
    declared_sources.definitions_cache_clear()

    with caplog.at_level(logging.WARNING, logger="pipeline.stores.declared_sources"):
        assert list(SOURCES) == [*BUILT_IN, "catalog"]

    assert "'broken' version 4 no longer parses, skipped" in caplog.text
    assert [d.name for d in definitions_current(config=stack)] == ["broken", "catalog"]


@pytest.mark.parametrize(
    "definition",
    ["not json", '["a list"]', '{"name": "randomuser"}', ""],
    ids=["not-json", "not-an-object", "a-built-in-name", "empty"],
)
def test_any_unreadable_stored_definition_is_skipped(stack, caplog, definition):
    item = {
        LEDGER_PK: {"S": "SOURCEDEF"},
        LEDGER_SK: {"S": "CURRENT#odd"},
        "name": {"S": "odd"},
        "version": {"N": "1"},
        "definition": {"S": definition},
    }
    aws.dynamodb(stack).put_item(TableName=stack.ledger_table, Item=item)
    declared_sources.definitions_cache_clear()
    with caplog.at_level(logging.WARNING):
        assert list(SOURCES) == BUILT_IN
    assert "'odd' version 1 no longer parses" in caplog.text


def test_an_unreadable_table_leaves_the_built_ins_and_warns_at_most_once_a_minute(
    config, moto_aws, caplog, monkeypatch
):
    monkeypatch.setattr(declared_sources, "CACHE_SECONDS", 15.0)
    with caplog.at_level(logging.WARNING, logger="pipeline.stores.declared_sources"):
        for now in (0.0, 20.0, 40.0, 70.0):  # no ledger table on this moto
            assert declared_sources.declared_sources(config=config, now=now) == {}
    warnings = [r.getMessage() for r in caplog.records]
    assert (
        warnings
        == [
            "declared sources unreadable (ResourceNotFoundException): serving the built-in "
            "sources only"
        ]
        * 2
    )  # at 0 and at 70
    assert list(SOURCES) == BUILT_IN


def test_when_the_table_becomes_unreadable_the_last_sources_read_stay(stack, caplog, monkeypatch):
    monkeypatch.setattr(declared_sources, "CACHE_SECONDS", 15.0)
    put(stack)
    assert list(declared_sources.declared_sources(config=stack, now=0.0)) == ["catalog"]
    aws.dynamodb(stack).delete_table(TableName=stack.ledger_table)

    with caplog.at_level(logging.WARNING, logger="pipeline.stores.declared_sources"):
        assert list(declared_sources.declared_sources(config=stack, now=30.0)) == ["catalog"]
    assert "serving the last ones read" in caplog.text


def test_without_a_provider_the_registry_holds_the_built_ins_only(stack, monkeypatch):
    put(stack)
    saved = registry.declared_provider()
    registry.declared_provider_clear()
    try:
        assert list(SOURCES) == BUILT_IN
        with pytest.raises(PipelineError, match="unknown source 'catalog' at definition version"):
            get_source("catalog", version=1)
    finally:
        registry.declared_provider_set(saved.current, saved.at_version)


def test_a_declared_source_can_never_shadow_a_built_in_one():
    fake = DeclaredSource(parse_definition(catalog(name="jsonplaceholder")), 1)
    zeta = DeclaredSource(parse_definition(catalog(name="zeta")), 1)
    saved = registry.declared_provider()
    registry.declared_provider_set(
        lambda: {"jsonplaceholder": fake, "zeta": zeta}, lambda n, v: None
    )
    try:
        assert list(SOURCES) == [*BUILT_IN, "zeta"] and len(SOURCES) == 3
        assert not isinstance(SOURCES["jsonplaceholder"], DeclaredSource)
        assert [s.name for s in SOURCES.values()] == [*BUILT_IN, "zeta"]
        assert [isinstance(s, DeclaredSource) for _, s in SOURCES.items()] == [False, False, True]
        assert get_source("jsonplaceholder") is not fake
    finally:
        registry.declared_provider_set(saved.current, saved.at_version)


def test_tests_off_aws_see_the_built_ins_only_and_never_reach_for_it():
    # No moto and no endpoint: the registry does not try AWS (tests/conftest.py).
    assert list(SOURCES) == BUILT_IN


# --- the access policy: personal paths withhold what is below (and above) them ------------


@pytest.mark.parametrize(
    ("key", "personal", "hidden"),
    [
        ("owner", {"owner"}, True),
        ("owner.email", {"owner"}, True),
        ("owner.address.city", {"owner"}, True),
        ("owner_id", {"owner"}, False),
        ("ownership.email", {"owner"}, False),
        ("owner.name", {"owner.email"}, False),
        ("contacts", {"contacts.email"}, True),  # a list (or a deep object) holding them
        ("email", {"email"}, True),
        ("e", {"email"}, False),
        ("sku", set(), False),
    ],
)
def test_a_data_key_is_withheld_when_it_is_a_personal_path_or_below_or_above_one(
    key, personal, hidden
):
    assert withheld(key, frozenset(personal)) is hidden


def test_a_declared_record_shown_to_an_anonymous_reader_withholds_its_personal_paths(stack):
    put(stack)
    data = {"sku": "A-7", "owner.name": "Ann", "owner.email": "a@x.test", "owner_id": 3}
    record = {"id": "catalog-item-7", "source": "catalog", "type": "item", "title": "Ann's lamp"}
    record |= {"data": data}

    shown = record_shown(record, personal=False)

    assert shown["data"] == {"sku": "A-7", "owner_id": 3}
    assert shown["title"] == "catalog item 7"
    assert record_shown(record, personal=True) == record
    assert not raw_allowed(record, personal=False) and raw_allowed(record, personal=True)


def test_importing_the_site_reads_no_definition_so_a_cold_start_costs_none():
    """A Lambda cold start imports the URLconf (serializers, schema parameters): no AWS read."""
    import subprocess
    import sys

    env = dict(os.environ, AWS_ENDPOINT_URL="http://127.0.0.1:9")
    env["DJANGO_SETTINGS_MODULE"] = "twl_site.settings"
    code = (
        "import django; django.setup(); import twl_site.urls, records_api.serializers;"
        "from pipeline.sources import builtin_types; print(builtin_types())"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "declared sources unreadable" not in done.stderr
    assert done.stdout.strip() == "['comment', 'post', 'user']"
