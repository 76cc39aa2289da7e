"""zappa_settings.json loads with Zappa's own loader and names real event functions."""

from __future__ import annotations

import importlib
import inspect
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SETTINGS = ROOT / "zappa_settings.json"


@pytest.fixture
def stage_config(monkeypatch):
    from zappa.cli import ZappaCLI

    monkeypatch.chdir(ROOT)
    cli = ZappaCLI()
    cli.api_stage = "dev"
    cli.load_settings(str(SETTINGS))
    return cli.stage_config


def _function(dotted: str):
    module, _, name = dotted.rpartition(".")
    return getattr(importlib.import_module(module), name)


def test_zappa_loads_the_dev_stage_with_the_django_settings(stage_config):
    assert stage_config["django_settings"] == "twl_site.settings"
    assert stage_config["runtime"] == "python3.11"


def test_every_event_function_is_importable_and_takes_event_and_context(stage_config):
    functions = [event["function"] for event in stage_config["events"]]
    assert functions == [
        "pipeline.handlers.scheduled_ingest",
        "pipeline.handlers.process_sqs_event",
    ]
    for dotted in functions:
        params = list(inspect.signature(_function(dotted)).parameters)
        assert params == ["event", "context"], dotted


def test_schedule_runs_every_five_minutes(stage_config):
    [schedule] = [e for e in stage_config["events"] if "expression" in e]
    assert schedule["expression"] == "rate(5 minutes)"


def test_sqs_event_source_feeds_batches_of_ten_from_the_stage_queue(stage_config):
    [sqs] = [e for e in stage_config["events"] if "event_source" in e]
    source = sqs["event_source"]
    assert source["batch_size"] == 10
    assert source["arn"].startswith("arn:aws:sqs:")
    assert source["arn"].endswith(":twl-pipeline-ingestion-queue-dev")


def test_local_test_and_emulator_code_stays_out_of_the_package():
    exclude = set(json.loads(SETTINGS.read_text())["dev"]["exclude"])
    assert {"tests", "moto", "pytest", ".venv", "db.sqlite3"} <= exclude


def test_worker_timeout_times_six_fits_the_queue_visibility(stage_config, settings):
    timeout = stage_config["timeout_seconds"]
    env = stage_config["environment_variables"]
    assert int(env["TWL_WORKER_TIMEOUT_SECONDS"]) == timeout
