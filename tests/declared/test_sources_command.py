"""``manage.py sources list|export|import|test``: thin callers with clear output and errors.

Import is all or nothing and idempotent; test fetches live from the sandbox's catalog fake.
"""

from __future__ import annotations

import getpass
import json
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from pipeline.local.sandbox import catalog as catalog_fake
from pipeline.services.definitions import definition_save
from pipeline.stores import definitions

pytestmark = pytest.mark.django_db


def definition(base_url: str, name: str = "catalog", **changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": name,
        "client": {"base_url": base_url},
        "resources": [
            {
                "name": "item",
                "endpoint": {
                    "path": "/offset",
                    "data_selector": "results",
                    "paginator": {"type": "offset", "limit": 15, "total_path": "total"},
                },
                "primary_key": "id",
                "title": "name",
                "fields": {"exclude": ["internal"], "personal": ["owner"]},
            },
            {
                "name": "featured",
                "endpoint": {"path": "/single"},
                "primary_key": "sku",
            },
        ],
    }
    return data | changes


def run(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("sources", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def versions(config) -> dict[str, int]:
    return {d.name: d.version for d in definitions.definitions_current(config=config)}


def write(path: Path, data: Any) -> str:
    path.write_text(json.dumps(data))
    return str(path)


# --- list ----------------------------------------------------------------------------


def test_list_shows_built_in_and_declared_sources_with_kind_schedule_and_version(site, catalog_url):
    definition_save(definition(catalog_url, schedule_minutes=30), actor="a", config=site)
    definition_save(definition(catalog_url, name="shop", enabled=False), actor="a", config=site)

    out, _ = run("list")

    rows = {line.split()[0]: line.split() for line in out.splitlines()[1:-1]}
    assert out.splitlines()[0].split()[:5] == ["name", "kind", "enabled", "schedule", "version"]
    assert rows["jsonplaceholder"][1:6] == ["built-in", "yes", "5", "min", "-"]
    assert rows["catalog"][1:6] == ["declared", "yes", "30", "min", "1"]
    assert rows["shop"][1:3] == ["declared", "no"]
    assert rows["catalog"][-2:] == ["never", "0"]
    assert out.splitlines()[-1] == "4 source(s), 2 declared; times are UTC"


# --- export and import ---------------------------------------------------------------


def test_export_then_import_round_trips_and_a_second_import_changes_nothing(
    site, catalog_url, tmp_path
):
    definition_save(definition(catalog_url), actor="a", config=site)
    definition_save(definition(catalog_url, name="shop"), actor="a", config=site)
    exported, _ = run("export")
    file = tmp_path / "sources.json"
    file.write_text(exported)

    first, _ = run("import", str(file))
    second, _ = run("import", str(file))

    assert [d["name"] for d in json.loads(exported)["sources"]] == ["catalog", "shop"]
    assert first.splitlines()[-1] == "2 definition(s): 0 created, 0 updated, 2 unchanged"
    assert second == first
    assert versions(site) == {"catalog": 1, "shop": 1}


def test_import_creates_then_updates_then_leaves_alone_in_the_name_of_manage_py(
    site, catalog_url, tmp_path
):
    file = write(tmp_path / "one.json", [definition(catalog_url)])

    created, _ = run("import", file)
    write(tmp_path / "one.json", {"sources": [definition(catalog_url, schedule_minutes=60)]})
    updated, _ = run("import", file)
    again, _ = run("import", file)

    assert created.splitlines() == [
        "created (created): catalog",
        "1 definition(s): 1 created, 0 updated, 0 unchanged",
    ]
    assert updated.splitlines()[0] == "updated (updated): catalog"
    assert again.splitlines()[0] == "unchanged (left alone): catalog"
    history = definitions.definition_history("catalog", config=site)
    assert [(v.version, v.change) for v in history] == [(2, "imported"), (1, "imported")]
    assert history[0].updated_by == f"manage.py:{getpass.getuser()}"
    assert history[0].definition["schedule_minutes"] == 60


def test_import_of_a_file_with_several_errors_prints_every_one_and_writes_nothing(
    site, catalog_url, tmp_path
):
    bad = definition(catalog_url, name="second", schedule_minutes=1)
    bad["client"]["base_url"] = "ftp://nowhere"
    bad["resources"][0]["endpoint"]["paginator"]["limit"] = 0
    file = write(
        tmp_path / "bad.json",
        [definition(catalog_url), bad, definition(catalog_url)],  # the first one is fine
    )

    err = StringIO()
    with pytest.raises(CommandError, match=r"4 error\(s\); nothing was written"):
        call_command("sources", "import", file, stdout=StringIO(), stderr=err)

    printed = err.getvalue().splitlines()
    assert [line.split(": ")[0].strip() for line in printed] == [
        "[1].client.base_url",
        "[1].resources[0].endpoint.paginator.limit",
        "[1].schedule_minutes",
        "[2].name",
    ]
    assert printed[-1].strip() == "[2].name: 'catalog' is also definition [0]"
    assert versions(site) == {}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("{not json", "file: is not JSON"),
        ("[]", "file: holds no definition"),
        ('"catalog"', "file: holds no definition"),
    ],
)
def test_import_of_a_file_that_holds_no_definitions_says_why(site, tmp_path, text, expected):
    file = tmp_path / "bad.json"
    file.write_text(text)
    err = StringIO()

    with pytest.raises(CommandError, match="nothing was written"):
        call_command("sources", "import", str(file), stdout=StringIO(), stderr=err)

    assert err.getvalue().strip().startswith(expected)


def test_import_of_a_missing_file_is_a_clear_error(site, tmp_path):
    with pytest.raises(CommandError, match="cannot read"):
        run("import", str(tmp_path / "absent.json"))


def test_import_dry_run_reports_what_would_change_and_writes_nothing(site, catalog_url, tmp_path):
    definition_save(definition(catalog_url), actor="a", config=site)
    file = write(
        tmp_path / "two.json",
        [definition(catalog_url, schedule_minutes=20), definition(catalog_url, name="shop")],
    )

    out, _ = run("import", file, "--dry-run")

    assert out.splitlines() == [
        "created (would be created): shop",
        "updated (would be updated): catalog",
        "2 definition(s): 1 created, 1 updated, 0 unchanged (dry run: nothing was written)",
    ]
    assert versions(site) == {"catalog": 1}


def test_export_writes_a_file_import_reads_back(site, catalog_url, tmp_path):
    definition_save(definition(catalog_url), actor="a", config=site)
    file = tmp_path / "out.json"

    out, _ = run("export", "--output", str(file))

    assert out.strip() == f"wrote 1 definition(s) to {file}"
    assert json.loads(file.read_text())["sources"][0]["name"] == "catalog"


# --- test ----------------------------------------------------------------------------


def test_test_prints_each_resources_curated_preview(site, catalog_url):
    definition_save(definition(catalog_url), actor="a", config=site)
    items = catalog_fake.catalog_items()

    out, _ = run("test", "catalog")

    lines = out.splitlines()
    assert lines[0] == "catalog/item: 15 item(s) on the first page"
    assert lines[1].split() == ["id", "title"]
    assert lines[2].split()[0] == "catalog-item-1" and items[0]["name"] in lines[2]
    assert "  excluded: internal.cost, internal.supplier_token" in lines
    assert "  personal: owner.name, owner.email" in lines
    single = lines.index("catalog/featured: 10 item(s) on the first page")
    assert lines[single + 2].split()[0] == f"catalog-featured-{items[0]['sku']}"


def test_test_of_one_type_fetches_that_resource_only(site, catalog_url, running_sandbox):
    definition_save(definition(catalog_url), actor="a", config=site)
    running_sandbox.reset_stats()

    out, _ = run("test", "catalog", "--type", "featured")

    assert out.splitlines()[0] == "catalog/featured: 10 item(s) on the first page"
    assert running_sandbox.stats()["requests"] == {"/catalog/single": 1}


def test_test_exits_non_zero_when_a_resource_cannot_be_fetched(site, catalog_url):
    broken = definition(catalog_url)
    broken["resources"][1]["endpoint"]["path"] = "/private/items"  # no credentials: 401
    definition_save(broken, actor="a", config=site)
    out = StringIO()

    with pytest.raises(CommandError, match=r"1 of 2 failed: featured"):
        call_command("sources", "test", "catalog", stdout=out)

    assert "catalog/item: 15 item(s)" in out.getvalue()
    assert "catalog/featured: FAILED:" in out.getvalue() and "401" in out.getvalue()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("test", "nothing_here"), "no declared source called 'nothing_here'"),
        (("test", "jsonplaceholder"), "built-in source"),
        (("test", "catalog", "--type", "missing"), "no resource 'missing'"),
    ],
)
def test_test_refuses_what_it_cannot_test(site, catalog_url, args, message):
    definition_save(definition(catalog_url), actor="a", config=site)

    with pytest.raises(CommandError, match=message):
        run(*args)
