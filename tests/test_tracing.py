"""X-Ray tracing: off locally and in tests; on, the handlers, business steps and requests.

With tracing on, the X-Ray SDK's own recorder runs in this process with an emitter that
keeps what it would send to the daemon (nothing leaves the process), inside a segment
the test opens as Lambda's facade segment would be. Every patch it makes is undone.
"""

from __future__ import annotations

import copy
import fnmatch
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import metadata
from typing import Any

import botocore.client
import botocore.endpoint
import pytest
import requests
from django.test import Client

from pipeline import handlers
from pipeline.core import tracing
from pipeline.local.poller import LocalContext, lambda_event
from tests import factories
from tests.factories import put_raw
from tests.test_settings import ROOT, reloaded_settings

# What X-Ray's botocore and requests patches replace (wrapt), put back after each test.
PATCHED_ATTRIBUTES = [
    (botocore.client.BaseClient, "_make_api_call"),
    (botocore.endpoint.Endpoint, "prepare_request"),
    (requests.Session, "request"),
    (requests.Session, "prepare_request"),
]
DEPLOYED_STAGES = ["dev", "dev_worker", "prod", "prod_worker"]
FEEDS = {
    ("jsonplaceholder", "post"),
    ("jsonplaceholder", "comment"),
    ("jsonplaceholder", "user"),
    ("randomuser", "user"),
}


class Trace:
    """Everything the recorder sent, flattened: each (sub)segment once, with its parent id."""

    def __init__(self) -> None:
        self.entities: list[dict[str, Any]] = []

    def send_entity(self, entity: Any) -> None:  # the emitter's one method the recorder calls
        self._add(json.loads(entity.serialize()), parent_id=None)

    def _add(self, entity: dict[str, Any], parent_id: str | None) -> None:
        children = entity.pop("subsegments", [])
        entity.setdefault("parent_id", parent_id)
        self.entities.append(entity)
        for child in children:
            self._add(child, entity["id"])

    def named(self, name: str) -> list[dict[str, Any]]:
        return [e for e in self.entities if e["name"] == name]

    def one(self, name: str) -> dict[str, Any]:
        [entity] = self.named(name)
        return entity

    def children(self, entity: dict[str, Any]) -> list[dict[str, Any]]:
        return [e for e in self.entities if e.get("parent_id") == entity["id"]]

    def subsegments(self) -> list[dict[str, Any]]:
        return [e for e in self.entities if e.get("type") == "subsegment"]


class Recorder:
    """The X-Ray SDK's recorder, kept in memory; ``segment()`` stands for Lambda's."""

    def __init__(self, trace: Trace) -> None:
        from aws_xray_sdk.core import xray_recorder

        self.trace = trace
        self._recorder = xray_recorder

    @contextmanager
    def segment(self) -> Iterator[Trace]:
        self._recorder.begin_segment("twl-pipeline-test", sampling=1)
        try:
            yield self.trace
        finally:
            self._recorder.end_segment()


@pytest.fixture
def xray(monkeypatch) -> Recorder:
    """X-Ray in this process: a fresh context, an in-memory emitter, every patch undone."""
    from aws_lambda_powertools.tracing import Tracer
    from aws_xray_sdk.core import patcher, xray_recorder
    from aws_xray_sdk.core.context import Context
    from aws_xray_sdk.core.sampling.local.sampler import LocalSampler
    from aws_xray_sdk.core.streaming.default_streaming import DefaultStreaming

    trace = Trace()
    for owner, name in PATCHED_ATTRIBUTES:
        monkeypatch.setattr(owner, name, owner.__dict__[name])
    # Absent now, absent afterwards (botocore's patch refuses to run twice on this flag).
    monkeypatch.setattr(botocore.client, "_xray_enabled", True, raising=False)
    monkeypatch.delattr(botocore.client, "_xray_enabled")
    monkeypatch.setattr(patcher, "_PATCHED_MODULES", set())
    monkeypatch.setattr(xray_recorder, "_context", Context())
    monkeypatch.setattr(xray_recorder, "_emitter", trace)
    monkeypatch.setattr(xray_recorder, "_streaming", DefaultStreaming())
    # Lambda's sampler: the default one would build X-Ray clients each time it is configured.
    monkeypatch.setattr(xray_recorder, "_sampler", LocalSampler())
    monkeypatch.setattr(Tracer, "_config", copy.copy(Tracer._default_config))
    monkeypatch.setattr(tracing, "_tracer", None)
    monkeypatch.setattr(tracing, "_cold_start", True)
    return Recorder(trace)


def _annotations(entity: dict[str, Any]) -> dict[str, Any]:
    return entity.get("annotations", {})


def _sqs_event(*bodies: str) -> dict[str, Any]:
    messages = [
        {"MessageId": f"m{i}", "ReceiptHandle": f"r{i}", "Body": body}
        for i, body in enumerate(bodies)
    ]
    return lambda_event(
        messages, queue_arn="arn:aws:sqs:us-east-1:123456789012:q", region="us-east-1"
    )


# --- the switch ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, False),
        ({"LAMBDA_TASK_ROOT": "/var/task"}, True),
        ({"LAMBDA_TASK_ROOT": "/var/task", "TWL_TRACING": "false"}, False),
        ({"TWL_TRACING": "true"}, True),
    ],
    ids=["locally", "in-lambdas-runtime", "switched-off-in-lambda", "switched-on-locally"],
)
def test_tracing_is_on_by_default_only_in_lambdas_runtime_and_twl_tracing_decides(
    monkeypatch, env, expected
):
    unset = [name for name in ("LAMBDA_TASK_ROOT", "TWL_TRACING") if name not in env]
    with reloaded_settings(monkeypatch, unset=unset, **env) as site:
        assert site.TWL_TRACING is expected


def test_locally_nothing_of_xray_is_imported_or_patched_by_the_web_app_or_a_handler():
    """A fresh process, as `make run` starts one: the web app built, a handler's set-up run."""
    script = """
import os, sys
os.environ["DJANGO_SETTINGS_MODULE"] = "twl_site.settings"
from django.core.wsgi import get_wsgi_application
app = get_wsgi_application()
from pipeline import handlers
handlers._setup_django()
import botocore.client
from django.test import Client
from pipeline.core import tracing
print(
    tracing.is_enabled(),
    hasattr(botocore.client, "_xray_enabled"),
    sorted(m for m in sys.modules if m.split(".")[0] in ("aws_xray_sdk", "wrapt")),
    Client().get("/no/such/page").status_code,
)
"""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("TWL_", "LAMBDA_"))}
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "False False [] 404"


def test_off_a_handler_run_and_a_request_record_no_subsegment(xray, stack, sources, settings):
    settings.TWL_TRACING = False
    with xray.segment() as trace:
        handlers.scheduled_ingest({}, LocalContext())
        assert Client().get("/api/records").status_code == 200
    assert trace.subsegments() == []
    assert not tracing.is_enabled()
    assert not hasattr(botocore.client, "_xray_enabled")


def test_forced_on_with_no_segment_open_a_handler_and_a_request_still_work(
    xray, stack, sources, settings
):
    """TWL_TRACING=true outside Lambda, with no segment: X-Ray logs it, nothing fails."""
    settings.TWL_TRACING = True
    assert handlers.scheduled_ingest({}, LocalContext())["status"] == "succeeded"
    assert Client().get("/api/records").status_code == 200
    assert tracing.is_enabled()
    assert xray.trace.entities == []


# --- the worker ----------------------------------------------------------------------------


def test_a_scheduled_ingest_is_traced_feed_by_feed_down_to_each_aws_and_http_call(
    xray, stack, sources, settings
):
    settings.TWL_TRACING = True
    with xray.segment() as trace:
        reply = handlers.scheduled_ingest({}, LocalContext())
    handler = trace.one("## scheduled_ingest")
    assert _annotations(handler) == {
        "ColdStart": True,
        "Service": "twl-pipeline",
        "run_id": reply["runId"],
        "status": "succeeded",
    }
    feeds = trace.named("ingest.feed")
    assert {(_annotations(f)["source"], _annotations(f)["type"]) for f in feeds} == FEEDS
    assert {_annotations(f)["outcome"] for f in feeds} == {"stored"}
    assert all(f["parent_id"] == handler["id"] for f in feeds)
    for feed in feeds:
        calls = trace.children(feed)
        # The source's API (requests), the raw object (S3), the message (SQS), the ledger.
        assert {c["namespace"] for c in calls} == {"remote", "aws"}
        assert {"s3", "sqs", "dynamodb"} <= {c["name"] for c in calls}
        [fetch] = [c for c in calls if c["namespace"] == "remote"]
        assert fetch["name"] == f"{_annotations(feed)['source']}.test"
        assert fetch["http"]["response"]["status"] == 200
    # Only the first handler call of a process is a cold start.
    with xray.segment():
        handlers.scheduled_ingest({}, LocalContext())
    assert [_annotations(h)["ColdStart"] for h in trace.named("## scheduled_ingest")] == [
        True,
        False,
    ]


def test_a_failing_feed_is_annotated_with_its_outcome_and_public_reason(
    xray, stack, sources, settings
):
    settings.TWL_TRACING = True
    sources.replace("GET", f"{stack.base_url('jsonplaceholder')}/posts", status=503)
    with xray.segment() as trace:
        handlers.scheduled_ingest({}, LocalContext())
    [failed] = [f for f in trace.named("ingest.feed") if _annotations(f)["outcome"] == "failed"]
    assert _annotations(failed) == {
        "source": "jsonplaceholder",
        "type": "post",
        "outcome": "failed",
        "reason": "the source answered HTTP 503",
    }


def test_an_sqs_batch_traces_each_message_and_its_upsert_batches(xray, stack, settings):
    settings.TWL_TRACING = True
    good = put_raw(stack, "jsonplaceholder", "comment", factories.comments(100))
    with xray.segment() as trace:
        reply = handlers.process_sqs_event(_sqs_event(good.to_json(), "not json"), LocalContext())
    assert reply == {"batchItemFailures": [{"itemIdentifier": "m1"}]}
    handler = trace.one("## process_sqs_event")
    assert _annotations(handler) == {
        "ColdStart": True,
        "Service": "twl-pipeline",
        "messages": 2,
        "failed": 1,
    }
    processed, bad = sorted(trace.named("process.message"), key=lambda m: m["start_time"])
    assert {processed["parent_id"], bad["parent_id"]} == {handler["id"]}
    assert _annotations(processed) == {
        "source": "jsonplaceholder",
        "type": "comment",
        "run_id": good.runId,
    }
    # 100 records: one chunk of 96 and one of 4, each its own read and transaction.
    batches = [c for c in trace.children(processed) if c["name"] == "upsert.batch"]
    assert sorted(_annotations(b)["records"] for b in batches) == [4, 96]
    assert sum(_annotations(b)["inserted"] for b in batches) == 100
    assert all(_annotations(b)["updated"] == _annotations(b)["refused"] == 0 for b in batches)
    for batch in batches:
        assert {c["name"] for c in trace.children(batch)} == {"dynamodb"}
    # The body that is not a message: its exception marks its subsegment, no source named.
    assert bad.get("fault") is True
    assert bad["cause"]["exceptions"][0]["type"] == "InvalidMessage"
    assert "source" not in _annotations(bad)


def test_a_forged_messages_text_is_cut_before_it_is_indexed(xray, settings):
    settings.TWL_TRACING = True
    tracing.configure(enabled=True)
    with xray.segment() as trace, tracing.subsegment("x", source="s" * 10_000):
        pass
    assert _annotations(trace.one("x"))["source"] == "s" * tracing.ANNOTATION_CHARS


# --- the web function ----------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("method", "path", "name", "status"),
    [
        ("GET", "/api/records", "web.api-records", 200),
        ("GET", "/api/records?limit=0", "web.api-records", 400),
        ("GET", "/admin/", "web.admin:index", 302),
        ("GET", "/no/such/" + "x" * 5000, "web.unmatched", 404),
        ("X" * 5000, "/api/records", "web.api-records", 405),
    ],
    ids=["ok", "bad-limit", "namespaced", "unmatched-long-path", "long-method"],
)
def test_each_request_is_one_subsegment_named_after_its_url_with_method_and_status(
    xray, stack, settings, method, path, name, status
):
    settings.TWL_TRACING = True
    with xray.segment() as trace:
        assert Client().generic(method, path).status_code == status
    [request] = [e for e in trace.subsegments() if e["name"].startswith("web.")]
    assert request["name"] == name
    assert _annotations(request) == {
        "method": method[: tracing.ANNOTATION_CHARS],
        "status": status,
    }


def test_a_requests_dynamodb_calls_are_subsegments_of_it(xray, stack, settings):
    settings.TWL_TRACING = True
    with xray.segment() as trace:
        assert Client().get("/api/records").status_code == 200
    request = trace.one("web.api-records")
    assert {c["name"] for c in trace.children(request)} == {"dynamodb"}


# --- deployment ----------------------------------------------------------------------------


@pytest.mark.parametrize("stage", DEPLOYED_STAGES)
def test_every_deployed_stage_has_active_tracing(stage):
    """As Zappa reads the stage (``extends`` followed): it sets the function's TracingConfig."""
    from zappa.cli import ZappaCLI

    cli = ZappaCLI()
    cli.api_stage, cli.load_credentials = stage, False
    cli.load_settings(str(ROOT / "zappa_settings.json"))
    assert cli.stage_config["xray_tracing"] is True


@pytest.mark.parametrize("distribution", ["aws-xray-sdk", "wrapt"])
def test_the_tracers_dependencies_are_pinned_and_kept_in_the_zip(distribution):
    pins = (ROOT / "requirements.txt").read_text() + (ROOT / "constraints.txt").read_text()
    assert f"{distribution}=={metadata.version(distribution)}" in pins
    base = json.loads((ROOT / "zappa_settings.json").read_text())["base"]
    files = [str(f) for f in metadata.files(distribution) or []]
    dropped = [
        f
        for f in files
        if any(fnmatch.fnmatch(part, p) for part in f.split("/") for p in base["exclude"])
        or any(fnmatch.fnmatch(f.split("/")[0], p) for p in base["exclude_glob"])
    ]
    # Stale bytecode is replaced by the zip callback's; type stubs are never imported.
    kept_out = ("__pycache__/", "-stubs/")
    assert files and [f for f in dropped if not any(part in f for part in kept_out)] == []


def test_an_admin_job_on_the_worker_is_traced_with_its_name_and_outcome(xray, stack, settings):
    settings.TWL_TRACING = True
    event = {"command": "pipeline.handlers.run_job", "job": "ingest", "kwargs": {"bogus": 1}}
    with xray.segment() as trace:
        reply = handlers.run_job(event, LocalContext())
    handler = trace.one("## run_job")
    assert reply["status"] == "rejected"
    assert _annotations(handler) | {"ColdStart": None} == {
        "ColdStart": None,
        "Service": "twl-pipeline",
        "job": "ingest",
        "status": "rejected",
    }
