"""Adding a source is one module under sources/ and its sandbox fake: nothing else names it.

A fourth-kind source ("todos") is registered the way discovery registers a module, and
flows through ingest, processing, the API, the analytics and the pages with no other
change to the code.
"""

from __future__ import annotations

import json
import sys
import types
from typing import Any

import pytest

from pipeline import sources as registry
from pipeline.core.config import PipelineConfig
from pipeline.handlers import process_sqs_event
from pipeline.local import sandbox
from pipeline.local.poller import drain
from pipeline.services.ingest import ingest
from pipeline.sources.base import Curated, Request, require, require_object

pytestmark = pytest.mark.django_db

TODOS = [{"id": i, "title": f"todo {i}", "completed": i % 2 == 0} for i in range(1, 4)]


class Todos:
    """A minimal source: one type, a JSON array, no secrets."""

    name = "todos"
    types = ("todo",)

    def request(self, type_: str, config: PipelineConfig) -> Request:
        return Request(url=config.base_url(self.name, "https://todos.invalid") + "/todos")

    def items(self, type_: str, payload: Any) -> list[Any]:
        return list(payload)

    def curate(self, type_: str, item: Any) -> Curated:
        todo = require_object(item)
        title = require(todo, "title", str)
        fields = {"title": title, "completed": require(todo, "completed", bool)}
        return Curated(natural_id=str(require(todo, "id", int)), title=title, fields=fields)

    def redact(self, type_: str, item: Any) -> Any:
        return item

    def expected_fields(self, type_: str) -> frozenset[str]:
        return frozenset({"id", "title", "completed"})

    def personal_fields(self, type_: str) -> frozenset[str]:
        return frozenset()

    def neutral_title(self, type_: str, natural_id: str) -> str | None:
        return None


def _fake_module() -> types.ModuleType:
    module = types.ModuleType("todos_fake")
    module.SOURCE, module.PREFIX = "todos", "/todos"  # type: ignore[attr-defined]

    def respond(path: str, query: dict[str, list[str]], base_url: str) -> tuple[int, bytes]:
        return (200, json.dumps(TODOS).encode()) if path == "/todos" else (404, b"{}")

    module.respond = respond  # type: ignore[attr-defined]
    return module


@pytest.fixture(autouse=True)
def todos(monkeypatch):
    """Register the source and its fake as discovery would (before the config is built)."""
    monkeypatch.setitem(registry.SOURCES, "todos", Todos())
    monkeypatch.setitem(sandbox.FAKES, "todos", _fake_module())


def test_discovery_registers_any_module_of_the_package_that_defines_source(tmp_path, monkeypatch):
    (tmp_path / "todos_source.py").write_text(
        "from tests.test_adding_a_source import Todos\nSOURCE = Todos()\n"
    )
    monkeypatch.setattr(registry, "__path__", [*registry.__path__, str(tmp_path)])
    monkeypatch.setattr(sys, "path", [*sys.path, str(tmp_path)])
    found = registry._discover()
    assert list(found) == sorted(found)
    assert {"jsonplaceholder", "randomuser", "todos"} <= set(found)
    assert isinstance(found["todos"], Todos)
    sys.modules.pop("pipeline.sources.todos_source", None)


def test_a_new_source_flows_through_ingest_processing_api_analytics_and_pages(
    stack, sources, client
):
    run = ingest(config=stack)
    by_feed = {(f.source, f.type): f for f in run.feeds}
    assert run.status == "succeeded"
    assert by_feed[("todos", "todo")].outcome == "stored"
    assert by_feed[("todos", "todo")].item_count == 3
    assert drain(process_sqs_event, config=stack).failed == 0

    listed = client.get("/api/records", {"source": "todos"})
    assert listed.status_code == 200, listed.content
    assert sorted(r["id"] for r in listed.json()["results"]) == [
        "todos-todo-1",
        "todos-todo-2",
        "todos-todo-3",
    ]
    analytics = client.get("/api/analytics").json()
    assert {"source": "todos", "count": 3} in analytics["by_source"]
    assert {"source": "todos", "type": "todo", "count": 3} in analytics["by_type"]
    assert "todos" in [row["source"] for row in analytics["summary"]["last_ingest"]]
    health = client.get("/api/health").json()
    assert "todos" in [row["source"] for row in health["sources"]]

    dashboard = client.get("/")
    assert dashboard.status_code == 200 and "todos" in dashboard.content.decode()
    page = client.get("/records/", {"source": "todos", "type": "todo"})
    assert page.status_code == 200 and "todos-todo-2" in page.content.decode()
