"""A declared source end to end: defined in the admin (or imported), fetched, curated, served.

The issue's "done when", in one process: moto in-process, the sandbox's catalog on loopback,
the admin and the API through Django's test client, and the queue drained by the same
``process_body`` the worker runs.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command

from pipeline.core.config import get_config
from pipeline.local.sandbox import SandboxServer
from pipeline.local.sandbox import catalog as catalog_fake
from pipeline.selectors.runs import run_check
from pipeline.services.definitions import definition_save
from pipeline.services.ingest import ingest
from pipeline.services.process import process_body
from pipeline.services.replay import replay
from pipeline.sources.declared.paths import flatten
from pipeline.stores import aws, ledger, messages
from pipeline.stores.declared_sources import definitions_cache_clear

pytestmark = pytest.mark.django_db
ITEMS = catalog_fake.catalog_items()


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer() as server:
        yield server


@pytest.fixture
def site(stack, settings, sandbox):
    """The provisioned stack with the local stack's address rule (loopback allowed); the
    built-in sources are switched off (TWL_ENABLED_SOURCES), so runs fetch the catalog only.
    """
    settings.TWL_SOURCES_ALLOW_LOOPBACK = True
    settings.TWL_ENABLED_SOURCES = []
    sandbox.faults.clear()
    sandbox.reset_stats()
    definitions_cache_clear()
    yield get_config()
    definitions_cache_clear()


def catalog(base_url: str, **resource: Any) -> dict[str, Any]:
    """The README's example: page-numbered, a nested selector, one field excluded, one personal."""
    return {
        "name": "catalog",
        "client": {
            "base_url": base_url,
            "paginator": {"type": "page_number", "page_param": "page", "total_path": "meta.pages"},
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
                "fields": {"exclude": ["internal"], "personal": ["owner.email"]},
            }
            | resource
        ],
        "schedule_minutes": 10,
        "enabled": True,
    }


def drain(config) -> list[dict[str, Any]]:
    """Process every queued message as the worker would; returns each result."""
    sqs, url, results = aws.sqs(config), messages.queue_url(config), []
    while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages"):
        for message in batch:
            results.append(process_body(message["Body"], config=config).as_dict())
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return results


def listed(client, query: str, **headers: str) -> list[dict[str, Any]]:
    """Every record the records API lists for ``query``, following its cursor."""
    found, url = [], f"/api/records?{query}&limit=100"
    while url:
        reply = client.get(url, **headers)
        assert reply.status_code == 200, reply.content[:300]
        body = reply.json()
        found += body["results"]
        url = body.get("next") or ""
    return found


def expected_data(item: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in flatten(item).items() if not k.startswith("internal.")}


def define_in_admin(client, django_user_model, definition: dict[str, Any]) -> None:
    """What an operator does: Test the pasted definition, see the preview, then Save it."""
    client.force_login(django_user_model.objects.create_superuser("ops", "o@x.test", "pw"))
    form = {"definition_json": json.dumps(definition), "opened_version": ""}
    tested = client.post("/admin/pipeline/source/add/", form | {"_test": "1"})
    [test] = tested.context["tests"]
    assert test.error is None and test.preview.items == 20
    assert test.preview.personal == ["owner.email"] and "internal.cost" in test.preview.excluded
    saved = client.post("/admin/pipeline/source/add/", form | {"_save": "1"})
    assert saved.status_code == 302, saved.content[:500]


def define_by_import(tmp_path: Path, definition: dict[str, Any]) -> None:
    path = tmp_path / "sources.json"
    path.write_text(json.dumps({"sources": [definition]}))
    call_command("sources", "import", str(path))


@pytest.mark.parametrize("route", ["admin", "import"])
def test_a_defined_source_flows_to_the_api_the_dashboard_and_the_analytics(
    route, site, sandbox, client, django_user_model, personal_client, tmp_path
):
    definition = catalog(sandbox.catalog_url)
    if route == "admin":
        define_in_admin(client, django_user_model, definition)
        client.logout()
    else:
        define_by_import(tmp_path, definition)

    # The next scheduled tick runs it (it has never run), page by page.
    run = ingest(trigger="local-schedule", config=site)
    [feed] = [f for f in run.feeds if f.source == "catalog"]
    assert (feed.outcome, feed.pages, feed.item_count, feed.definition_version) == (
        "stored",
        5,
        95,
        1,
    )
    assert feed.stopped is None
    results = drain(site)
    assert [f.source for f in run.feeds] == ["catalog"]
    catalog_results = [r for r in results if "source=catalog/" in r["s3_key"]]
    assert len(catalog_results) == len(results) == 5
    assert sum(r["inserted"] for r in catalog_results) == 95
    assert all(r["rejected"] == 0 for r in catalog_results)
    # The run reconciles page by page: 5 processed objects account for its 95 items.
    check = run_check(run, config=site)
    assert check.complete and check.reconciles, [(f.state, f.note) for f in check.feeds]
    assert check.feeds[0].processed == {
        "items": 95,
        "inserted": 95,
        "updated": 0,
        "unchanged": 0,
        "stale": 0,
        "rejected": 0,
    }

    # Anonymous readers: every record, no excluded field, the personal one withheld.
    public = listed(client, "source=catalog")
    assert sorted(r["id"] for r in public) == sorted(f"catalog-item-{i['id']}" for i in ITEMS)
    by_id = {int(r["id"].rsplit("-", 1)[1]): r for r in public}
    for item in ITEMS:
        record = by_id[item["id"]]
        want = expected_data(item)
        del want["owner.email"]
        assert record["data"] == want
        assert record["title"] == f"{item['name']} ({item['sku']})"
        assert record["personal_data"] == "withheld"
    assert "supplier_token" not in json.dumps(public) and "@example" not in json.dumps(public)
    raw = client.get(f"/api/records/{public[0]['id']}/raw")
    assert raw.status_code == 403
    # The personal-data scope gets the whole curated record.
    whole = listed(personal_client, "source=catalog&type=item")
    assert {r["id"]: r["data"] for r in whole} == {
        f"catalog-item-{i['id']}": expected_data(i) for i in ITEMS
    }
    unredacted = personal_client.get(f"/api/records/{whole[0]['id']}/raw").json()
    assert "internal" not in json.dumps(unredacted)  # excluded fields never leave the raw layer

    # The analytics, the dashboard and the seed contract pick it up with no code change.
    analytics = client.get("/api/analytics").json()
    assert {"source": "catalog", "count": 95} in analytics["by_source"]
    assert "catalog" in client.get("/").content.decode()
    seed = client.get("/api/seed/records?source=catalog&limit=5").json()
    assert seed["count"] == 5 and all(r["source"] == "catalog" for r in seed["records"])

    # Not due again for 10 minutes: the next tick leaves it; a manual run finds it unchanged.
    assert "catalog" not in {f.source for f in ingest(trigger="local-schedule", config=site).feeds}
    again = [f for f in ingest(sources=["catalog"], config=site).feeds]
    assert [(f.outcome, f.message_id) for f in again] == [("unchanged", None)]


def test_the_admin_and_the_command_give_identical_records(
    site, sandbox, client, django_user_model, tmp_path
):
    from pipeline.services.definitions import definition_parse, definition_remove
    from pipeline.sources.declared import definition_dict

    def records_after(define) -> dict[str, Any]:
        define()
        ingest(sources=["catalog"], config=site)
        drain(site)
        found = listed(client, "source=catalog")
        return {r["id"]: (r["title"], r["data"]) for r in found}

    definition = catalog(sandbox.catalog_url)

    def in_admin() -> None:
        define_in_admin(client, django_user_model, definition)
        client.logout()  # both are then read as an anonymous reader

    by_admin = records_after(in_admin)
    exported_file = tmp_path / "out.json"
    call_command("sources", "export", "--output", str(exported_file))
    exported = json.loads(exported_file.read_text())["sources"]
    assert exported == [definition_dict(definition_parse(definition))]
    # Importing what is already there changes nothing.
    call_command("sources", "import", str(exported_file))
    assert ledger_versions(site) == [1]
    # As on a fresh stage: no source, no record, no feed state; the command brings it back.
    definition_remove("catalog", actor="test", config=site)
    table, db = site.curated_table, aws.dynamodb(site)
    for record_id in by_admin:
        db.delete_item(TableName=table, Key={"id": {"S": record_id}})
    ledger.feed_state_put(ledger.FeedState(source="catalog", type="item"), config=site)
    by_command = records_after(lambda: call_command("sources", "import", str(exported_file)))
    assert len(by_admin) == 95 and by_command == by_admin


def ledger_versions(config) -> list[int]:
    from pipeline.stores import definitions

    return [d.version for d in definitions.definitions_current(config=config)]


def test_an_incremental_cursor_asks_only_for_what_changed_since_the_last_run(site, sandbox):
    incremental = {"cursor_path": "updated_at", "param": "updated_since"}
    incremental["initial_value"] = "2026-11-15T00:00:00Z"
    definition_save(
        catalog(sandbox.catalog_url, incremental=incremental), actor="test", config=site
    )
    newest = max(i["updated_at"] for i in ITEMS)
    since = [i for i in ITEMS if i["updated_at"] >= "2026-11-15T00:00:00Z"]

    first = ingest(sources=["catalog"], config=site).feeds[0]
    assert first.item_count == len(since) and first.outcome == "stored"
    state = ledger.feed_state_get(source="catalog", type_="item", config=site)
    assert state.cursor_value == newest
    drain(site)

    sandbox.reset_stats()
    second = ingest(sources=["catalog"], config=site).feeds[0]
    # Only the items at the newest cursor come back (>= it): a new page, stored once...
    assert second.item_count == sum(1 for i in ITEMS if i["updated_at"] == newest)
    assert second.outcome == "stored"
    assert (second.pages, second.pages_stored, second.stored_items) == (1, 1, second.item_count)
    assert sandbox.stats()["requests"] == {"/catalog/items": 1}
    # ... and the same page again is unchanged.
    assert ingest(sources=["catalog"], config=site).feeds[0].outcome == "unchanged"
    results = drain(site)
    assert [r["unchanged"] for r in results] == [second.item_count]


def test_a_source_over_a_bound_stops_with_the_reason_in_the_ledger_and_keeps_its_pages(
    site, sandbox, settings
):
    settings.TWL_SOURCE_BOUNDS = {"max_pages": 2}
    config = get_config()
    definition_save(catalog(sandbox.catalog_url), actor="test", config=config)
    run = ingest(sources=["catalog"], config=config)
    [feed] = run.feeds
    assert (feed.outcome, feed.pages, feed.item_count) == ("stored", 2, 40)
    assert feed.stopped and "page" in feed.stopped and "2" in feed.stopped
    stored = ledger.run_get(run.run_id, config=config)
    assert stored is not None and stored.feeds[0].stopped == feed.stopped
    assert sum(r["inserted"] for r in drain(config)) == 40


def test_a_deployed_stage_refuses_a_source_aimed_at_a_private_address(site, sandbox, settings):
    settings.TWL_SOURCES_ALLOW_LOOPBACK = False  # DEBUG off: the deployed rule
    config = get_config()
    loopback = sandbox.catalog_url.replace("http://", "https://")
    cases = [
        (sandbox.catalog_url, "is not https"),
        (loopback, "loopback"),
        ("https://10.0.0.7/catalog", "private"),
        ("https://169.254.169.254/latest", "metadata"),
        ("https://0.0.0.0/catalog", "unspecified"),
    ]
    for base, why in cases:
        definition_save(catalog(base), actor="test", config=config)
        [feed] = ingest(sources=["catalog"], config=config).feeds
        assert feed.outcome == "failed" and feed.message_id is None
        assert (feed.error or "").startswith("refused") and why in (feed.error or ""), feed.error
        assert feed.reason == "the source's address is not allowed on this stage"
    assert sandbox.stats()["requests"] == {}  # not one request left the machine's rules
    assert drain(config) == []


def test_an_edit_reaches_stored_records_and_replay_keeps_each_objects_version(
    site, sandbox, client
):
    definition_save(catalog(sandbox.catalog_url), actor="test", config=site)
    ingest(sources=["catalog"], config=site)
    drain(site)
    # An edit that changes what a record keeps: the next run stores every page again (same
    # bodies) and the records take the new rule.
    edited = catalog(sandbox.catalog_url)
    edited["resources"][0]["fields"]["exclude"] = ["internal", "price"]
    definition_save(edited, actor="test", config=site)
    [feed] = ingest(sources=["catalog"], config=site).feeds
    assert (feed.outcome, feed.definition_version) == ("stored", 2)
    assert sum(r["updated"] for r in drain(site)) == 95
    assert all("price" not in r["data"] for r in listed(client, "source=catalog"))
    # A new schedule curates alike: nothing is stored again.
    definition_save(edited | {"schedule_minutes": 60}, actor="test", config=site)
    assert ingest(sources=["catalog"], config=site).feeds[0].outcome == "unchanged"

    # Rebuilding one lost record from the raw layer: each object is curated with the
    # version that fetched it, oldest first, so the record ends as version 2 made it.
    aws.dynamodb(site).delete_item(
        TableName=site.curated_table, Key={"id": {"S": "catalog-item-7"}}
    )
    result = replay(source="catalog", since=None, until=None, config=site)
    assert result.sent == 10 and not result.skipped
    outcomes = drain(site)
    assert sum(r["inserted"] for r in outcomes) == 1
    assert sum(r["updated"] for r in outcomes) == 1  # version 1 inserts it, version 2 edits it
    rebuilt = client.get("/api/records/catalog-item-7").json()
    assert "price" not in rebuilt["data"] and rebuilt["data"]["sku"] == ITEMS[6]["sku"]


def test_a_paused_source_is_not_fetched_by_the_schedule_or_a_default_run(site, sandbox):
    from pipeline.services.definitions import definition_set_enabled

    definition_save(catalog(sandbox.catalog_url), actor="test", config=site)
    definition_set_enabled("catalog", False, actor="test", config=site)
    for run in (ingest(trigger="local-schedule", config=site), ingest(config=site)):
        assert "catalog" not in {f.source for f in run.feeds}
    assert sandbox.stats()["requests"] == {}


def test_an_edit_hides_at_once_what_it_makes_personal_and_restarts_an_incremental_cursor(
    site, sandbox, client
):
    definition = catalog(sandbox.catalog_url, title="{owner.name}")
    definition["resources"][0]["incremental"] = {
        "cursor_path": "updated_at",
        "param": "updated_since",
    }
    definition["resources"][0]["fields"]["personal"] = ["owner"]
    definition_save(definition, actor="test", config=site)
    ingest(sources=["catalog"], config=site)
    drain(site)
    names = {i["owner"]["name"] for i in ITEMS}
    # The title stops reading the owner; until the next run, records keep their old titles,
    # which still name a person: anonymous readers get the neutral title for them.
    edited = json.loads(json.dumps(definition))
    edited["resources"][0]["title"] = "{sku}"
    edited["resources"][0]["fields"]["exclude"] = ["internal", "price"]
    definition_save(edited, actor="test", config=site)
    shown = listed(client, "source=catalog")
    assert not names & {r["title"] for r in shown}
    # New rules: the incremental source starts over, so every record takes them.
    [feed] = ingest(sources=["catalog"], config=site).feeds
    assert feed.item_count == 95
    drain(site)
    after = listed(client, "source=catalog")
    assert all("price" not in r["data"] for r in after)
    assert {r["title"] for r in after} == {i["sku"] for i in ITEMS}


def test_the_runs_api_says_why_a_fetch_stopped_without_its_internal_text():
    from pipeline.stores.ledger import FeedOutcome
    from records_api.serializers import FeedOutcomeSerializer

    failed = FeedOutcome(source="catalog", type="item", outcome="stored")
    failed.stopped = "stopped after page 1: page 2 failed: 500 for url: http://10.1.2.3/x?t=secret"
    shown = FeedOutcomeSerializer(failed).data["stopped"]
    assert shown.startswith("stopped early") and "10.1.2.3" not in shown
    bound = FeedOutcome(source="catalog", type="item", outcome="stored")
    bound.stopped = "stopped at the page bound (2 pages); 2 pages, 40 records kept"
    assert FeedOutcomeSerializer(bound).data["stopped"] == bound.stopped


def test_a_raw_item_is_read_by_its_fetching_version_and_a_deleted_sources_is_a_404(
    site, sandbox, personal_client
):
    from pipeline.services.definitions import definition_remove

    definition_save(catalog(sandbox.catalog_url), actor="test", config=site)
    ingest(sources=["catalog"], config=site)
    drain(site)
    # A new selector and endpoint: the old objects are still read with version 1.
    edited = catalog(sandbox.catalog_url)
    edited["resources"][0]["endpoint"] = {"path": "/single", "data_selector": ""}
    definition_save(edited, actor="test", config=site)
    raw = personal_client.get("/api/records/catalog-item-7/raw")
    assert raw.status_code == 200, raw.content[:300]
    assert raw.json()["item"]["sku"] == ITEMS[6]["sku"] and "internal" not in raw.json()["item"]
    definition_remove("catalog", actor="test", config=site)
    gone = personal_client.get("/api/records/catalog-item-7/raw")
    assert gone.status_code == 404 and gone.json()["error"] == "not_found"
