"""Declared sources as deployed: imported with make manage, refused by the worker, the admin's
Test and Save through API Gateway, exported again. The deployed shape only: its DEBUG-off
settings are what refuse the sandbox (http, on loopback), which ``make run`` lets through.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from pipeline.core.config import get_config
from pipeline.local.deployed import DeployedStack
from pipeline.stores.definitions import definition_history, definitions_current
from tests.stacks import Running, count_records

pytestmark = [pytest.mark.e2e, pytest.mark.django_db]
PASSWORD = "correct horse battery"
PAGES = "admin/pipeline/source/"
CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
REFUSED_REASON = "the source's address is not allowed on this stage"


def catalog_definition(base_url: str, name: str = "catalog") -> dict[str, Any]:
    return {
        "name": name,
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
                "fields": {"exclude": ["internal"], "personal": ["owner"]},
            }
        ],
    }


class Admin:
    """An operator's browser, reduced to requests: cookies, CSRF tokens, the Referer check."""

    def __init__(self, web: str) -> None:
        self.web = web
        self.session = requests.Session()

    def _kept(self, reply: requests.Response) -> requests.Response:
        """Keep the admin's Secure cookies for the front: API Gateway is https, its local
        stand-in http on 127.0.0.1, which browsers count as secure and requests does not."""
        for cookie in self.session.cookies:
            cookie.secure = False
        return reply

    def get(self, path: str) -> requests.Response:
        return self._kept(self.session.get(self.web + path, timeout=60, allow_redirects=False))

    def post_form(self, path: str, data: dict[str, str]) -> requests.Response:
        """GET the page for its token, then POST ``data`` as its form does."""
        page = self.get(path)
        assert page.status_code == 200, page.text[:500]
        token = CSRF.search(page.text)
        assert token, page.text[:500]
        reply = self.session.post(
            self.web + path,
            data={"csrfmiddlewaretoken": token.group(1), **data},
            headers={"Referer": self.web + path},  # Django's CSRF check over https needs it
            timeout=60,
            allow_redirects=False,
        )
        return self._kept(reply)

    def sign_in(self, username: str, password: str) -> None:
        prefix = "/" + self.web.split("/", 3)[3]  # "/dev/"
        reply = self.post_form(
            "admin/login/", {"username": username, "password": password, "next": prefix + "admin/"}
        )
        assert reply.status_code == 302, reply.text[:1000]
        assert reply.headers["Location"].endswith("/dev/admin/")


def scheduled_run_with(running: Running, source: str, timeout: float = 60.0) -> dict[str, Any]:
    """Invoke the worker's schedule (as EventBridge does) until its run has ``source``'s feed.

    A warm worker may hold the registry it read before the import for its cache's 15 s.
    """
    stack = running.stack
    assert isinstance(stack, DeployedStack)
    deadline = time.monotonic() + timeout
    reply: dict[str, Any] = {}
    while time.monotonic() < deadline:
        reply = stack.worker.invoke(stack.scheduled_event(), timeout=stack.worker.timeout_seconds)
        feeds = [f for f in reply.get("feeds", []) if f["source"] == source]
        if feeds:
            return {**reply, "feeds": feeds}
        time.sleep(2)
    raise AssertionError(f"no run fetched {source} in {timeout:g} s; the last: {reply}")


def sandbox_catalog_requests(running: Running) -> dict[str, int]:
    counts = running.stack.sandbox.stats()["requests"]
    return {path: n for path, n in counts.items() if path.startswith("/catalog")}


@pytest.mark.parametrize("running_stack", ["deployed"], indirect=True)
def test_a_declared_source_on_the_deployed_stage_is_managed_but_never_reaches_loopback(
    running_stack: Running, tmp_path: Path
) -> None:
    stack = running_stack.stack
    assert isinstance(stack, DeployedStack)
    config = get_config()  # the stage's, as the stack configured this process
    catalog_url = stack.sandbox.catalog_url  # http://127.0.0.1:<port>/catalog
    definition = catalog_definition(catalog_url)

    # (a) An operator imports a definition file from their machine, then lists the sources.
    source_file = tmp_path / "catalog.json"
    source_file.write_text(json.dumps(definition))
    imported = stack.make("manage", f"ARGS=sources import {source_file}")
    assert "created (created): catalog" in imported
    listed = stack.make("manage", "ARGS=sources list")
    [row] = [line.split() for line in listed.splitlines() if line.startswith("catalog ")]
    assert row[:3] == ["catalog", "declared", "yes"], listed
    assert stack.make("manage", f"ARGS=sources import {source_file}").count("unchanged") >= 1

    # (b) The worker's scheduled run tries it: refused before any connection is made.
    run = scheduled_run_with(running_stack, "catalog")
    [feed] = run["feeds"]
    assert (feed["type"], feed["outcome"], feed["definition_version"]) == ("item", "failed", 1)
    assert feed["reason"] == REFUSED_REASON
    assert "is not https; deployed stages require https" in feed["error"]
    assert catalog_url in feed["error"]
    assert run["status"] == "partial", run  # the built-in feeds ran as usual
    assert sandbox_catalog_requests(running_stack) == {}
    assert not {key for key in count_records(config) if key[0] == "catalog"}

    # (c) The deployed admin, through API Gateway: Test shows the refusal and stores nothing.
    running_stack.create_operator("operator", PASSWORD)
    admin = Admin(running_stack.web)
    admin.sign_in("operator", PASSWORD)
    loopback_https = catalog_definition(catalog_url.replace("http://", "https://", 1))
    for pasted, refusal in (
        (definition, "is not https; deployed stages require https"),
        (loopback_https, "is a loopback address"),  # https is not enough: the address counts
    ):
        tested = admin.post_form(
            PAGES + "add/", {"definition_json": json.dumps(pasted), "_test": "Test"}
        )
        assert tested.status_code == 200, tested.text[:1000]
        assert 'id="test-item"' in tested.text
        assert "The first page could not be fetched: refused: " in tested.text
        assert refusal in tested.text
    assert sandbox_catalog_requests(running_stack) == {}
    assert [(d.name, d.version) for d in definitions_current(config=config)] == [("catalog", 1)]
    assert len(definition_history("catalog", config=config)) == 1

    # Save writes a new definition (the web role's SOURCEDEF writes), logged as its operator.
    shelf = catalog_definition("https://shelf.example.org/api", name="shelf") | {"enabled": False}
    saved = admin.post_form(PAGES + "add/", {"definition_json": json.dumps(shelf), "_save": "Save"})
    assert saved.status_code == 302, saved.text[:2000]
    assert saved.headers["Location"].endswith("/dev/" + PAGES)
    assert "Created declared source shelf as version 1" in admin.get(PAGES).text
    [stored] = [d for d in definitions_current(config=config) if d.name == "shelf"]
    assert (stored.version, stored.updated_by, stored.change) == (1, "operator", "created")

    # And the operator's export has both, as stored.
    exported_file = tmp_path / "export.json"
    stack.make("manage", f"ARGS=sources export --output {exported_file}")
    exported = {d["name"]: d for d in json.loads(exported_file.read_text())["sources"]}
    assert set(exported) == {"catalog", "shelf"}
    assert exported["shelf"]["client"]["base_url"] == "https://shelf.example.org/api"
    assert exported["shelf"]["enabled"] is False
    assert exported["catalog"]["client"]["base_url"] == catalog_url
    assert exported["catalog"]["resources"][0]["fields"]["exclude"] == ["internal"]
