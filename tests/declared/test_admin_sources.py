"""The admin's Sources pages: list both kinds, add/edit with field errors, Test, save, history.

A staff user drives the Django test client against in-process moto; Test fetches live
from the sandbox's catalog fake on 127.0.0.1 (the local stack's loopback rule).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.contrib.admin.models import ADDITION, CHANGE, DELETION, LogEntry
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType
from django.test import Client

from pipeline.core.constants import LEDGER_PK, LEDGER_SK
from pipeline.local.sandbox import catalog as catalog_fake
from pipeline.models import Source
from pipeline.services.definitions import definition_save
from pipeline.stores import aws, definitions
from pipeline.stores.declared_sources import definitions_cache_clear

pytestmark = pytest.mark.django_db

PAGES = "/admin/pipeline/source"
SECRET_ENV = "TWL_SOURCE_SECRET_CATALOG"


@pytest.fixture
def operator(client, django_user_model) -> Client:
    client.force_login(django_user_model.objects.create_superuser("ops", "o@x.test", "pw"))
    return client


def definition(base_url: str, **changes: Any) -> dict[str, Any]:
    """The catalog's page-numbered items: internal fields excluded, the owner's email personal."""
    data: dict[str, Any] = {
        "name": "catalog",
        "client": {
            "base_url": base_url,
            "paginator": {"type": "page_number", "total_path": "meta.pages"},
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
        ],
    }
    return data | changes


def form_data(url: str, /, **changes: str) -> dict[str, str]:
    """The add form filled in field by field (as an operator would)."""
    fields = {
        "name": "catalog",
        "base_url": url,
        "headers": '{"Accept-Language": "en"}',
        "auth_type": "",
        "auth_secret": "",
        "auth_name": "",
        "auth_username": "",
        "paginator": json.dumps({"type": "page_number", "total_path": "meta.pages"}),
        "resources": json.dumps(definition(url)["resources"]),
        "schedule_minutes": "10",
        "enabled": "on",
        "definition_json": "",
        "opened_version": "",
    }
    return fields | changes


def current(config) -> dict[str, definitions.StoredDefinition]:
    return {d.name: d for d in definitions.definitions_current(config=config)}


def log_entries() -> list[LogEntry]:
    content_type = ContentType.objects.get_for_model(Source)
    return list(LogEntry.objects.filter(content_type=content_type).order_by("action_time", "id"))


def page_messages(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def save(config, data: dict[str, Any], actor: str = "someone") -> int:
    return definition_save(data, actor=actor, config=config).version


# --- The list ------------------------------------------------------------------------


def test_the_list_shows_built_in_and_declared_sources_with_kind_schedule_and_version(
    operator, site, catalog_url
):
    save(site, definition(catalog_url, schedule_minutes=15))

    response = operator.get(f"{PAGES}/")

    rows = {row["name"]: row for row in response.context["sources"]}
    assert {rows[n]["kind"] for n in ("jsonplaceholder", "randomuser")} == {"built-in"}
    declared = rows["catalog"]
    assert (declared["kind"], declared["enabled"], declared["version"]) == ("declared", True, 1)
    assert (declared["schedule_minutes"], declared["count"]) == (15, 0)
    assert [f["type"] for f in declared["feeds"]] == ["item"]
    page = response.content.decode()
    assert "catalog — enabled — 0 records" in page
    assert "definition version 1" in page and "every 15 minutes" in page
    assert f'href="{PAGES}/catalog/change/"' in page and f'href="{PAGES}/add/"' in page
    assert f'href="{PAGES}/add/"' in operator.get("/admin/pipeline/").content.decode()
    add_page = operator.get(f"{PAGES}/add/")
    assert add_page.status_code == 200 and "Paste a whole definition" in add_page.content.decode()


def test_a_stored_definition_that_no_longer_validates_is_listed_apart_not_a_crash(
    operator, site, catalog_url
):
    save(site, definition(catalog_url))
    broken = definition(catalog_url) | {"name": "broken", "unknown_key": 1}
    # Written straight to the table, as an older format might have left it.
    item = {
        LEDGER_PK: {"S": "SOURCEDEF"},
        LEDGER_SK: {"S": "CURRENT#broken"},
        "name": {"S": "broken"},
        "version": {"N": "3"},
        "definition": {"S": json.dumps(broken)},
        "updated_at": {"S": "2026-11-28T09:00:00Z"},
        "updated_by": {"S": "old"},
        "change": {"S": "edited"},
    }
    aws.dynamodb(site).put_item(TableName=site.ledger_table, Item=item)
    definitions_cache_clear()

    response = operator.get(f"{PAGES}/")

    assert response.status_code == 200
    assert [d.name for d in response.context["unreadable"]] == ["broken"]
    assert "catalog" in {row["name"] for row in response.context["sources"]}


# --- Add: validation errors on their fields ------------------------------------------


@pytest.mark.parametrize(
    ("changes", "field", "expected"),
    [
        ({"name": "Bad Name"}, "name", "must"),
        ({"name": "jsonplaceholder"}, "name", "built-in"),
        ({"base_url": "ftp://example.test/x"}, "base_url", ""),
        ({"headers": '{"Authorization": "Bearer x"}'}, "headers", "client.headers"),
        ({"headers": "{not json"}, "headers", "is not JSON"),
        ({"auth_type": "bearer", "auth_secret": "plain-secret"}, "auth_secret", ""),
        ({"auth_secret": "env:TWL_SOURCE_SECRET_X"}, "auth_type", ""),
        ({"paginator": '{"type": "offset"}'}, "paginator", "client.paginator.limit"),
        ({"schedule_minutes": "2"}, "schedule_minutes", ""),
        ({"schedule_minutes": "soon"}, "schedule_minutes", ""),
        ({"resources": "[]"}, "resources", ""),
        ({"resources": "[{"}, "resources", "is not JSON"),
    ],
)
def test_each_validation_error_is_shown_on_its_field_and_nothing_is_stored(
    operator, site, catalog_url, changes, field, expected
):
    response = operator.post(f"{PAGES}/add/", form_data(catalog_url, **changes) | {"_save": "1"})

    assert response.status_code == 200
    errors = response.context["form"].errors
    assert field in errors, errors
    assert expected in " ".join(errors[field])
    assert current(site) == {}
    assert log_entries() == []


def test_errors_deep_in_the_resources_are_shown_on_the_resources_field_with_their_paths(
    operator, site, catalog_url
):
    resources = definition(catalog_url)["resources"]
    resources[0]["endpoint"]["paginator"] = {"type": "offset", "limit": 0}
    resources.append({"name": "item", "endpoint": {"path": "/x"}, "primary_key": "id"})

    response = operator.post(
        f"{PAGES}/add/",
        form_data(catalog_url, resources=json.dumps(resources), base_url="nope") | {"_save": "1"},
    )

    errors = response.context["form"].errors
    shown = " | ".join(errors["resources"])
    assert "resources[0].endpoint.paginator.limit:" in shown
    assert "resources[1].name:" in shown
    assert errors["base_url"]  # every error at once, each on its field
    assert "Traceback" not in response.content.decode()


def test_a_pasted_definition_replaces_the_fields_and_its_errors_carry_their_paths(
    operator, site, catalog_url
):
    pasted = definition(catalog_url, schedule_minutes=0)
    pasted["client"]["auth"] = {"type": "bearer", "secret": "env:DJANGO_SECRET_KEY"}

    bad = operator.post(
        f"{PAGES}/add/",
        {"definition_json": json.dumps(pasted), "resources": "ignored", "_save": "1"},
    )
    good = operator.post(
        f"{PAGES}/add/", {"definition_json": json.dumps(definition(catalog_url)), "_save": "1"}
    )

    shown = " | ".join(bad.context["form"].errors["definition_json"])
    assert "schedule_minutes:" in shown and "client.auth.secret:" in shown
    assert good.status_code == 302
    assert current(site)["catalog"].version == 1


def test_pasting_something_that_is_not_an_object_is_a_field_error(operator, site):
    response = operator.post(f"{PAGES}/add/", {"definition_json": "[1, 2]", "_save": "1"})

    assert response.context["form"].errors["definition_json"] == [
        "must be a JSON object (one definition)"
    ]


# --- Test: the live first page, curated, nothing stored ------------------------------


def test_test_shows_the_curated_preview_of_the_first_page_and_stores_nothing(
    operator, site, catalog_url, running_sandbox
):
    running_sandbox.reset_stats()

    response = operator.post(f"{PAGES}/add/", form_data(catalog_url) | {"_test": "1"})

    assert response.status_code == 200
    [test] = response.context["tests"]
    assert (test.type, test.error) == ("item", None)
    first = catalog_fake.catalog_items()[:20]
    assert test.preview.items == 20
    assert [r.id for r in test.preview.records] == [f"catalog-item-{i['id']}" for i in first]
    assert test.preview.records[0].title == f"{first[0]['name']} ({first[0]['sku']})"
    assert {"internal.cost", "internal.supplier_token"} <= set(test.preview.excluded)
    assert test.preview.personal == ["owner.email"]
    assert "owner.name" in test.preview.kept and "internal.cost" not in test.preview.kept
    page = response.content.decode()
    assert "catalog-item-1" in page and "owner.email" in page
    assert current(site) == {} and log_entries() == []
    assert running_sandbox.stats()["requests"] == {"/catalog/items": 1}  # one page, no more


def test_test_shows_rejections_with_their_reasons(operator, site, catalog_url):
    resources = definition(catalog_url)["resources"]
    resources[0]["primary_key"] = "owner"  # an object: no item has a usable id

    response = operator.post(
        f"{PAGES}/add/", form_data(catalog_url, resources=json.dumps(resources)) | {"_test": "1"}
    )

    [test] = response.context["tests"]
    assert test.preview.records == [] and len(test.preview.rejections) == 20
    assert test.preview.rejections[0][0] == 0
    assert "Rejected items" in response.content.decode()


def test_test_with_a_bearer_secret_fetches_the_private_page_and_never_shows_the_secret(
    operator, site, catalog_url, monkeypatch
):
    monkeypatch.setenv(SECRET_ENV, catalog_fake.BEARER_TOKEN)
    resources = definition(catalog_url)["resources"]
    resources[0]["endpoint"]["path"] = "/private/items"
    data = form_data(
        catalog_url,
        resources=json.dumps(resources),
        auth_type="bearer",
        auth_secret=f"env:{SECRET_ENV}",
    )

    response = operator.post(f"{PAGES}/add/", data | {"_test": "1"})

    [test] = response.context["tests"]
    assert test.error is None and test.preview.items == 20
    assert catalog_fake.BEARER_TOKEN not in response.content.decode()


@pytest.mark.parametrize(
    ("auth", "expected"),
    [
        ({}, "401"),  # no credentials
        (
            {"auth_type": "bearer", "auth_secret": "ssm:/twl-pipeline/test/sources/absent"},
            "ssm:/twl-pipeline/test/sources/absent",
        ),
    ],
)
def test_test_shows_the_fetch_error_instead_of_a_preview(
    operator, site, catalog_url, auth, expected
):
    resources = definition(catalog_url)["resources"]
    resources[0]["endpoint"]["path"] = "/private/items"
    data = form_data(catalog_url, resources=json.dumps(resources), **auth)

    response = operator.post(f"{PAGES}/add/", data | {"_test": "1"})

    assert response.status_code == 200
    [test] = response.context["tests"]
    assert test.preview is None and expected in test.error
    assert "could not be fetched" in response.content.decode()
    assert current(site) == {}


def test_test_refuses_a_private_address_when_loopback_is_not_allowed(
    operator, site, settings, catalog_url
):
    settings.TWL_SOURCES_ALLOW_LOOPBACK = False

    response = operator.post(
        f"{PAGES}/add/",
        form_data("https://10.0.0.5/catalog") | {"_test": "1"},
    )

    [test] = response.context["tests"]
    assert test.preview is None and "10.0.0.5" in test.error


# --- Save, edit, conflicts, history --------------------------------------------------


def test_save_stores_version_1_and_an_edit_version_2_each_logged(operator, site, catalog_url):
    added = operator.post(f"{PAGES}/add/", form_data(catalog_url) | {"_save": "1"}, follow=True)
    opened = operator.get(f"{PAGES}/catalog/change/")
    fields = {k: v for k, v in opened.context["form"].initial.items() if v is not None}
    fields = {k: ("on" if v is True else str(v)) for k, v in fields.items() if v is not False}
    fields["schedule_minutes"] = "30"
    edited = operator.post(f"{PAGES}/catalog/change/", fields | {"_save": "1"})

    assert "Created declared source catalog as version 1." in page_messages(added)[0]
    assert opened.context["form"].initial["opened_version"] == 1
    assert edited.status_code == 302
    stored = current(site)["catalog"]
    assert (stored.version, stored.definition["schedule_minutes"]) == (2, 30)
    assert stored.definition["client"]["headers"] == {"Accept-Language": "en"}
    assert [
        (v.version, v.change, v.updated_by)
        for v in definitions.definition_history("catalog", config=site)
    ] == [(2, "edited", "ops"), (1, "created", "ops")]
    entries = log_entries()
    assert [(e.action_flag, e.object_id) for e in entries] == [
        (ADDITION, "catalog"),
        (CHANGE, "catalog"),
    ]
    assert entries[1].change_message == "Saved declared source catalog as version 2."
    assert entries[0].get_admin_url() == f"{PAGES}/catalog/change/"


def test_saving_the_same_definition_again_writes_no_version_and_no_log(operator, site, catalog_url):
    save(site, definition(catalog_url))
    opened = operator.get(f"{PAGES}/catalog/change/")
    fields = {k: v for k, v in opened.context["form"].initial.items() if v not in (None, False)}
    fields = {k: ("on" if v is True else str(v)) for k, v in fields.items()}

    response = operator.post(f"{PAGES}/catalog/change/", fields | {"_save": "1"}, follow=True)

    assert page_messages(response) == ["Nothing changed: catalog is still version 1."]
    assert current(site)["catalog"].version == 1 and log_entries() == []


def test_a_save_over_a_newer_version_is_a_form_error_and_writes_nothing(
    operator, site, catalog_url
):
    save(site, definition(catalog_url))
    save(site, definition(catalog_url, schedule_minutes=20), actor="someone else")  # version 2

    response = operator.post(
        f"{PAGES}/catalog/change/",
        form_data(catalog_url, schedule_minutes="45", opened_version="1") | {"_save": "1"},
    )

    assert response.status_code == 200
    [error] = response.context["form"].non_field_errors()
    assert "changed since it was opened (now version 2)" in error
    assert current(site)["catalog"].definition["schedule_minutes"] == 20
    assert log_entries() == []


def test_adding_a_name_that_exists_is_a_conflict_not_an_overwrite(operator, site, catalog_url):
    save(site, definition(catalog_url))

    response = operator.post(
        f"{PAGES}/add/", form_data(catalog_url, schedule_minutes="45") | {"_save": "1"}
    )

    assert "changed since it was opened" in response.context["form"].non_field_errors()[0]
    assert current(site)["catalog"].version == 1


def test_the_edit_page_cannot_rename_the_source(operator, site, catalog_url):
    save(site, definition(catalog_url))
    pasted = definition(catalog_url) | {"name": "other"}

    response = operator.post(
        f"{PAGES}/catalog/change/",
        {"definition_json": json.dumps(pasted), "opened_version": "1", "_save": "1"},
    )

    assert "this page edits 'catalog'" in " ".join(
        response.context["form"].errors["definition_json"]
    )
    assert set(current(site)) == {"catalog"}


def test_the_history_page_lists_every_version_with_change_actor_time_and_json(
    operator, site, catalog_url
):
    save(site, definition(catalog_url), actor="alice")
    save(site, definition(catalog_url, schedule_minutes=60), actor="bob")

    response = operator.get(f"{PAGES}/catalog/history/")

    versions = [v for v, _ in response.context["versions"]]
    assert [(v.version, v.change, v.updated_by) for v in versions] == [
        (2, "edited", "bob"),
        (1, "created", "alice"),
    ]
    page = response.content.decode()
    assert "&quot;schedule_minutes&quot;: 60" in page and versions[0].updated_at in page


@pytest.mark.parametrize("name", ["jsonplaceholder", "nothing_here"])
def test_edit_and_history_of_a_source_that_is_not_declared_say_so(operator, site, name):
    for page in ("change", "history", "delete"):
        response = operator.get(f"{PAGES}/{name}/{page}/", follow=True)
        assert response.redirect_chain[-1][0] == f"{PAGES}/"
        [message] = page_messages(response)
        assert ("built-in" if name == "jsonplaceholder" else "no declared source") in message


# --- Pause, enable, delete -----------------------------------------------------------


def test_pause_and_enable_make_versions_and_log_entries(operator, site, catalog_url):
    save(site, definition(catalog_url))

    paused = operator.post(f"{PAGES}/catalog/pause/", follow=True)
    listed = {r["name"]: r for r in paused.context["sources"]}
    again = operator.post(f"{PAGES}/catalog/pause/", follow=True)
    operator.post(f"{PAGES}/catalog/enable/")

    assert listed["catalog"]["enabled"] is False
    assert "catalog — disabled" in paused.content.decode()
    assert page_messages(again) == ["catalog is paused already (version 2)."]
    stored = current(site)["catalog"]
    assert (stored.version, stored.definition["enabled"], stored.change) == (3, True, "enabled")
    assert [e.change_message for e in log_entries()] == [
        "Paused declared source catalog (version 2).",
        "Enabled declared source catalog (version 3).",
    ]


@pytest.mark.parametrize("action", ["pause", "enable"])
def test_pause_and_enable_refuse_a_get(operator, site, catalog_url, action):
    save(site, definition(catalog_url))

    response = operator.get(f"{PAGES}/catalog/{action}/")

    assert response.status_code == 405
    assert current(site)["catalog"].version == 1 and log_entries() == []


def test_delete_asks_first_then_removes_the_source_and_keeps_its_history(
    operator, site, catalog_url
):
    save(site, definition(catalog_url))

    asked = operator.get(f"{PAGES}/catalog/delete/")
    assert current(site)["catalog"].version == 1
    deleted = operator.post(f"{PAGES}/catalog/delete/", follow=True)
    history = operator.get(f"{PAGES}/catalog/history/")

    text = asked.content.decode()
    assert "raw objects" in text and "curated records" in text and "kept" in text
    assert current(site) == {}
    assert "catalog" not in {r["name"] for r in deleted.context["sources"]}
    assert "raw objects, curated records and history are kept" in page_messages(deleted)[0]
    assert [(v.version, v.change) for v, _ in history.context["versions"]] == [
        (2, "deleted"),
        (1, "created"),
    ]
    [entry] = log_entries()
    assert (entry.action_flag, entry.object_id) == (DELETION, "catalog")


def test_a_deleted_source_added_again_continues_its_version_numbers(operator, site, catalog_url):
    save(site, definition(catalog_url))
    operator.post(f"{PAGES}/catalog/delete/")

    operator.post(f"{PAGES}/add/", form_data(catalog_url) | {"_save": "1"})

    assert current(site)["catalog"].version == 3
    assert log_entries()[-1].action_flag == ADDITION


# --- Permissions ---------------------------------------------------------------------


def test_a_user_who_is_not_staff_is_sent_to_the_login(client, django_user_model, site):
    client.force_login(django_user_model.objects.create_user("visitor", password="pw"))

    for url in ("", "add/", "catalog/change/", "catalog/history/"):
        response = client.get(f"{PAGES}/{url}")
        assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_a_viewer_sees_the_list_and_history_but_cannot_add_test_change_or_delete(
    client, django_user_model, site, catalog_url
):
    save(site, definition(catalog_url))
    user = django_user_model.objects.create_user("viewer", password="pw", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_source"))
    client.force_login(user)

    listed = client.get(f"{PAGES}/")
    history = client.get(f"{PAGES}/catalog/history/")
    refused = [
        client.get(f"{PAGES}/add/"),
        client.post(f"{PAGES}/add/", form_data(catalog_url) | {"_test": "1"}),
        client.post(f"{PAGES}/add/", form_data(catalog_url, name="other") | {"_save": "1"}),
        client.get(f"{PAGES}/catalog/change/"),
        client.post(f"{PAGES}/catalog/pause/"),
        client.get(f"{PAGES}/catalog/delete/"),
        client.post(f"{PAGES}/catalog/delete/"),
    ]

    assert (listed.status_code, history.status_code) == (200, 200)
    page = listed.content.decode()
    assert "Add a declared source" not in page and "Pause</button>" not in page
    assert [r.status_code for r in refused] == [403] * len(refused)
    assert set(current(site)) == {"catalog"} and current(site)["catalog"].version == 1
    assert log_entries() == []


def test_actions_refuse_a_post_without_a_csrf_token(django_user_model, site, catalog_url):
    save(site, definition(catalog_url))
    client = Client(enforce_csrf_checks=True)
    client.force_login(django_user_model.objects.create_superuser("ops", "o@x.test", "pw"))

    responses = [
        client.post(f"{PAGES}/catalog/pause/"),
        client.post(f"{PAGES}/catalog/delete/"),
        client.post(f"{PAGES}/add/", form_data(catalog_url, name="other") | {"_save": "1"}),
    ]

    assert [r.status_code for r in responses] == [403, 403, 403]
    assert set(current(site)) == {"catalog"} and current(site)["catalog"].version == 1
