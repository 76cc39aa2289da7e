"""zappa_settings.json: every stage loads with Zappa's own loader and deploys what we mean."""

from __future__ import annotations

import fnmatch
import importlib
import importlib.metadata as metadata
import inspect
import json
import re
from dataclasses import replace
from pathlib import Path
from typing import Any
from unittest.mock import MagicMock

import pytest
import zappa
from packaging.requirements import Requirement

from pipeline.core.config import get_config
from pipeline.core.names import OVERRIDES, resource_names
from pipeline.deploy.zappa_callbacks import PACKAGED_AWS_SERVICES

ROOT = Path(__file__).resolve().parent.parent
SETTINGS = ROOT / "zappa_settings.json"
RAW = json.loads(SETTINGS.read_text())
STAGES = sorted(RAW)
DEPLOYABLE = ["dev", "dev_worker", "prod", "prod_worker"]
WORKERS = ["dev_worker", "prod_worker"]
WEB = ["dev", "prod"]
# Zappa's CLI needs these to build and deploy; the handler inside Lambda never imports them.
ZAPPA_CLI_ONLY = {
    "argcomplete",
    "cfn-flip",
    "click",
    "hjson",
    "pip",
    "placebo",
    "python-slugify",
    "setuptools",
    "text-unidecode",
    "toml",
    "tqdm",
    "troposphere",
    "wheel",
}

# Patterns that do drop runtime files, on purpose: browser source maps (7 MB unzipped)
# and the .gz copies collectstatic makes of them.
TRIMMED_ON_PURPOSE = {"*.map", "*.map.gz"}
# The function Zappa's keep-warm rule names (zappa.cli.ZappaCLI.schedule).
KEEP_WARM_FUNCTION = "handler.keep_warm_callback"


def load(stage: str):
    """The stage as Zappa sees it: ZappaCLI.load_settings, offline (no credentials loaded)."""
    from zappa.cli import ZappaCLI

    cli = ZappaCLI()
    cli.api_stage, cli.load_credentials = stage, False
    cli.load_settings(str(SETTINGS))
    return cli


@pytest.fixture(scope="module")
def stages() -> dict:
    return {stage: load(stage) for stage in STAGES}


def zappa_schedule(stage: str) -> list[dict[str, Any]]:
    """The rules ``zappa schedule <stage>`` creates, keep-warm included, by Zappa's own code.

    Zappa adds the keep-warm rule unless a stage says ``keep_warm: false`` (its default is
    on), so this asks ``ZappaCLI.schedule`` itself, with a stand-in for AWS.
    """
    cli = load(stage)
    cli.zappa = MagicMock()
    cli.schedule()
    calls = cli.zappa.schedule_events.call_args_list
    return [event for call in calls for event in call.kwargs["events"]]


def _function(dotted: str):
    module, _, name = dotted.rpartition(".")
    return getattr(importlib.import_module(module), name)


def test_zappas_loader_loads_every_stage_offline(stages):
    assert set(stages) == {"base", *DEPLOYABLE}
    for stage, cli in stages.items():
        assert cli.django_settings == "twl_site.settings", stage
        assert cli.runtime == "python3.11", stage
        assert cli.lambda_name.startswith("twl-pipeline-"), stage


def test_base_is_a_template_every_deployable_stage_extends(stages):
    assert "environment_variables" not in RAW["base"]
    assert "events" not in RAW["base"]
    for stage in DEPLOYABLE:
        chain, current = [], stage
        while current in RAW:
            chain.append(current)
            current = RAW[current].get("extends")
        assert chain[-1] == "base", stage


@pytest.mark.parametrize("stage", DEPLOYABLE)
def test_stage_runs_django_quietly_without_zappas_broad_defaults(stages, stage):
    config = stages[stage].stage_config
    assert config["debug"] is False  # Zappa puts tracebacks into 500 bodies when True
    assert config["log_level"] == "INFO"
    assert config["manage_roles"] is False
    assert config["use_precompiled_packages"] is False  # packaging stays offline
    assert not config.get("slim_handler")
    assert "attach_policy" not in config and "extra_permissions" not in config
    assert config["callbacks"] == {
        "settings": "pipeline.deploy.zappa_callbacks.prepare_stage",
        "zip": "pipeline.deploy.zappa_callbacks.compile_bytecode",
        "post": "pipeline.deploy.zappa_callbacks.post_deploy",
    }


def test_no_stage_uses_the_slim_handler():
    assert not any(stage.get("slim_handler") for stage in RAW.values())


@pytest.mark.parametrize("stage", DEPLOYABLE)
def test_resource_names_follow_the_stage(stages, stage):
    env = stages[stage].environment_variables
    assert stage.split("_")[0] == env["TWL_STAGE"]
    # No stage renames a resource: the one naming rule names them all (what IAM grants).
    assert not set(OVERRIDES.values()) & set(env)
    assert resource_names(env["TWL_STAGE"], env) == resource_names(stage.split("_")[0])
    assert env["DJANGO_DEBUG"] == "false"
    assert int(env["TWL_WORKER_TIMEOUT_SECONDS"]) > 0


@pytest.mark.parametrize("stage", DEPLOYABLE)
def test_each_stage_runs_as_its_least_privilege_role_and_is_named_in_its_policy(stages, stage):
    cli = stages[stage]
    twl_stage = cli.environment_variables["TWL_STAGE"]
    names = resource_names(twl_stage, cli.environment_variables)
    role = names.worker_role if stage.endswith("_worker") else names.web_role
    assert cli.stage_config["role_name"] == role
    assert cli.lambda_name in names.functions
    assert cli.s3_bucket_name == names.deployment_bucket
    assert cli.remote_env == f"s3://{names.deployment_bucket}/{names.remote_env_key}"


@pytest.mark.parametrize("stage", WEB)
def test_web_stages_serve_http_and_run_no_events(stages, stage):
    config = stages[stage].stage_config
    assert stages[stage].use_apigateway
    assert not config.get("events")
    assert config["timeout_seconds"] <= 30  # API Gateway gives up after 29 s anyway


@pytest.mark.parametrize("stage", [*WEB, *WORKERS])
def test_only_the_workers_lambda_handler_is_the_gate_and_it_passes_their_own_events(stages, stage):
    """The web keeps Zappa's handler; each worker's events are ones the gate lets through."""
    from pipeline.handlers import WORKER_SCHEDULES, worker_event_refusal

    cli = stages[stage]
    if stage in WEB:
        assert cli.lambda_handler == "handler.lambda_handler"
        return
    assert cli.lambda_handler == "pipeline.handlers.worker_lambda_handler"
    assert _function(cli.lambda_handler).__name__ == "worker_lambda_handler"
    schedules = {e["function"] for e in cli.stage_config["events"] if "expression" in e}
    assert schedules <= WORKER_SCHEDULES
    for function in schedules:
        rule = f"arn:aws:events:us-east-1:123456789012:rule/{cli.lambda_name}-{function}"
        assert worker_event_refusal({"detail-type": "Scheduled Event", "resources": [rule]}) is None


@pytest.mark.parametrize("stage", WORKERS)
def test_worker_stages_ingest_every_five_minutes_and_take_sqs_batches_of_ten(stages, stage):
    cli = stages[stage]
    env = cli.environment_variables
    [schedule, sqs] = cli.stage_config["events"]
    assert not cli.use_apigateway
    assert schedule == {
        "function": "pipeline.handlers.scheduled_ingest",
        "expression": "rate(5 minutes)",
    }
    assert sqs["function"] == "pipeline.handlers.process_sqs_event"
    source = sqs["event_source"]
    assert source["batch_size"] == 10
    queue = resource_names(env["TWL_STAGE"], env).queue
    assert source["arn"] == f"arn:aws:sqs:{cli.aws_region}:123456789012:{queue}"
    # Created disabled; the post-deploy callback enables it once partial batches are on.
    assert source["enabled"] is False


@pytest.mark.parametrize("stage", WEB)
def test_zappa_schedules_a_keep_warm_call_every_four_minutes_for_each_web_stage(stage):
    keep_warm = [e for e in zappa_schedule(stage) if e["function"] == KEEP_WARM_FUNCTION]
    assert [e["expression"] for e in keep_warm] == ["rate(4 minutes)"]


@pytest.mark.parametrize("stage", WORKERS)
def test_zappa_schedules_no_keep_warm_call_for_a_worker_its_ingest_schedule_keeps_warm(stage):
    """The worker extends its web stage, so it must say ``keep_warm: false`` itself."""
    functions = [e["function"] for e in zappa_schedule(stage)]
    assert functions == [
        "pipeline.handlers.scheduled_ingest",
        "pipeline.handlers.process_sqs_event",
    ]
    [ingest] = [e for e in zappa_schedule(stage) if "expression" in e]
    assert ingest["expression"] == "rate(5 minutes)"  # a call at least every 5 minutes


def test_the_package_keeps_the_model_of_every_aws_service_a_packaged_module_builds_a_client_for():
    """The settings callback packages only these botocore models (pipeline.deploy.zappa_callbacks).

    Ours: every service pipeline.stores.aws (the only place that builds clients) names.
    Zappa's: its handler (remote_env's S3 read) and zappa.asynchronous, which builds its
    clients when imported. Its CLI-only modules (cli, core, utilities) are not counted.
    """
    ours = re.findall(r'_client\("([a-z0-9-]+)"', (ROOT / "pipeline/stores/aws.py").read_text())
    zappa_dir = Path(zappa.__file__).parent
    pattern = r'\.(?:client|resource)\("([a-z0-9-]+)"'
    theirs = [
        service
        for module in ("handler.py", "asynchronous.py")
        for service in re.findall(pattern, (zappa_dir / module).read_text())
    ]
    assert {"s3", "lambda", "sns", "sts", "dynamodb"} <= set(theirs)  # the scan still finds them
    assert set(ours) | set(theirs) <= PACKAGED_AWS_SERVICES


def test_every_event_function_is_importable_and_takes_event_and_context(stages):
    functions = {
        e["function"] for cli in stages.values() for e in cli.stage_config.get("events", [])
    }
    assert functions == {
        "pipeline.handlers.scheduled_ingest",
        "pipeline.handlers.process_sqs_event",
    }
    for dotted in functions:
        params = list(inspect.signature(_function(dotted)).parameters)
        assert params == ["event", "context"], dotted


@pytest.mark.parametrize("stage", DEPLOYABLE)
def test_queue_visibility_is_at_least_six_times_the_worker_timeout(stages, stage):
    """Whichever stage provisions the queue, its visibility covers the worker's timeout."""
    env = stages[stage].environment_variables

    def queue(name: str) -> str:
        variables = stages[name].environment_variables
        return resource_names(variables["TWL_STAGE"], variables).queue

    consumers = [
        stages[s].stage_config["timeout_seconds"] for s in WORKERS if queue(s) == queue(stage)
    ]
    assert consumers, f"no worker stage consumes {queue(stage)}"
    provisioned = replace(
        get_config(), worker_timeout_seconds=int(env["TWL_WORKER_TIMEOUT_SECONDS"])
    )
    assert provisioned.visibility_timeout_seconds >= 6 * max(consumers)


def test_tests_docs_dev_tools_and_local_state_stay_out_of_the_package():
    excluded = set(RAW["base"]["exclude"]) | set(RAW["base"]["exclude_glob"])
    wanted = {"tests", "docs", "bench", "artifacts", "scripts", "pipeline/local", "pipeline/deploy"}
    wanted |= {"moto", "pytest", "_pytest", "playwright", "schemathesis", "hypothesis"}
    wanted |= {"responses", "db.sqlite3", "*.sqlite3", ".env", "__pycache__", "*.pyc"}
    wanted |= {".pytest_cache", ".ruff_cache", ".hypothesis"}
    assert wanted <= excluded


def test_exclude_patterns_never_drop_a_file_the_runtime_needs():
    """``exclude`` matches a name at any depth (botocore/docs once went missing that way)."""
    patterns = [p for p in RAW["base"]["exclude"] if p not in TRIMMED_ON_PURPOSE]
    needed = [
        d for d in _runtime_distributions() if _norm(d.metadata["Name"]) not in ZAPPA_CLI_ONLY
    ]
    dropped = [
        f"{d.metadata['Name']}: {f}"
        for d in needed
        for f in d.files or []
        if any(_matches(part, patterns) for part in str(f).split("/"))
    ]
    assert dropped == []


def test_exclude_glob_only_names_top_level_project_paths_or_dev_distributions():
    """exclude_glob runs on the package root (project and site-packages merged)."""
    for pattern in RAW["base"]["exclude_glob"]:
        assert not pattern.startswith(("/", "**")), pattern


def _matches(part: str, patterns: list[str]) -> bool:
    if part == "__pycache__" or part.endswith(".pyc"):
        return False  # stale timestamp bytecode; the zip callback adds hash-based .pyc files
    return any(fnmatch.fnmatch(part, p) for p in patterns)


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _runtime_distributions() -> list[metadata.Distribution]:
    """requirements.txt and everything it needs, as installed."""
    roots = [
        Requirement(line.split("#")[0].strip())
        for line in (ROOT / "requirements.txt").read_text().splitlines()
        if line.split("#")[0].strip()
    ]
    seen: dict[str, metadata.Distribution] = {}
    pending = [(r.name, set(r.extras)) for r in roots]
    while pending:
        name, extras = pending.pop()
        if _norm(name) in seen:
            continue
        dist = seen[_norm(name)] = metadata.distribution(name)
        for raw in dist.requires or []:
            req = Requirement(raw)
            if req.marker is None or any(req.marker.evaluate({"extra": e}) for e in extras or {""}):
                pending.append((req.name, set(req.extras)))
    return list(seen.values())


@pytest.mark.parametrize("stage", WEB)
def test_the_stacks_name_is_not_one_zappa_uses_for_its_own_stack(stages, stage):
    """Zappa keeps its API Gateway stack under the function's name (``lambda_name``)."""
    twl_stage = stages[stage].environment_variables["TWL_STAGE"]
    zappa_names = {stages[s].lambda_name for s in (stage, f"{stage}_worker")}
    assert resource_names(twl_stage).stack not in zappa_names
