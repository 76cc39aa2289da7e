"""Deployment steps Zappa cannot express: partial batches, the account id, package bytecode.

Zappa creates the SQS event source mapping without ``FunctionResponseTypes``, so Lambda
would ignore the handler's ``batchItemFailures`` and delete a whole batch, failed
messages included. The stages create the mapping disabled; the post-deploy callback
(``pipeline.deploy.zappa_callbacks.post_deploy``) turns partial batch responses on and only
then enables it. ``manage.py enable_batch_failures`` does the same by hand. The other
helpers resolve the placeholder account id in the SQS ARNs and add hash-based bytecode
to the package (both used by ``pipeline.deploy.zappa_callbacks``).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline.core.config import get_config
from pipeline.core.errors import PipelineError
from pipeline.stores import aws

if TYPE_CHECKING:
    from mypy_boto3_lambda import LambdaClient
    from mypy_boto3_lambda.type_defs import EventSourceMappingConfigurationTypeDef
    from mypy_boto3_sts import STSClient

REPORT_BATCH_ITEM_FAILURES = "ReportBatchItemFailures"
# The documented stand-in account id in zappa_settings.json's SQS ARNs; see docs/DEPLOY.md.
PLACEHOLDER_ACCOUNT_ID = "123456789012"
ACCOUNT_ENV = "TWL_AWS_ACCOUNT_ID"
SETTINGS_FILE = Path(__file__).resolve().parents[2] / "zappa_settings.json"
# A mapping in one of these states rejects updates until it settles.
TRANSITIONAL_STATES = frozenset({"Creating", "Enabling", "Disabling", "Updating"})
SETTLE_ATTEMPTS = 30
SETTLE_DELAY_SECONDS = 2.0


class DeployError(PipelineError):
    """A deployment step cannot be done (missing mapping, unknown stage, unknown account)."""


def enable_partial_batch_responses(
    *,
    function_name: str,
    queue_arn: str,
    client: LambdaClient | None = None,
    enable: bool = False,
    sleep: Callable[[float], None] = time.sleep,
) -> list[str]:
    """Turn on ReportBatchItemFailures where missing (and, with ``enable``, enable the mapping).

    Returns one line per change; an empty list means everything was already in place.
    Raises DeployError when no mapping joins the queue to the function.
    """
    lam = client or aws.lambda_(get_config())
    mappings = list(_mappings(lam, function_name=function_name, queue_arn=queue_arn))
    if not mappings:
        raise DeployError(
            f"no event source mapping from {queue_arn} to {function_name}; deploy the worker "
            f"stage first, and check the account id in the queue ARN (zappa_settings.json)"
        )
    changes: list[str] = []
    for mapping in mappings:
        current = _settled(lam, mapping, sleep=sleep)
        changes += _reconcile(lam, current, enable=enable)
    return changes


def sqs_queue_arns(events: list[dict[str, Any]]) -> list[str]:
    """The SQS queue ARNs among a Zappa stage's ``events``."""
    arns = [e.get("event_source", {}).get("arn", "") for e in events]
    return [arn for arn in arns if arn.startswith("arn:aws:sqs:")]


def with_account(events: list[dict[str, Any]], account_id: str) -> list[dict[str, Any]]:
    """``events`` with the placeholder account id in SQS ARNs replaced by ``account_id``."""
    placeholder = f":{PLACEHOLDER_ACCOUNT_ID}:"
    resolved = []
    for event in events:
        source = event.get("event_source")
        if source and placeholder in source.get("arn", ""):
            arn = source["arn"].replace(placeholder, f":{account_id}:")
            event = {**event, "event_source": {**source, "arn": arn}}
        resolved.append(event)
    return resolved


def has_placeholder(events: list[dict[str, Any]]) -> bool:
    """True when an SQS ARN still names the placeholder account."""
    return any(f":{PLACEHOLDER_ACCOUNT_ID}:" in arn for arn in sqs_queue_arns(events))


def explicit_account_id() -> str | None:
    """The account id set in TWL_AWS_ACCOUNT_ID, if any (an explicit value beats a lookup)."""
    return os.environ.get(ACCOUNT_ENV, "").strip() or None


def caller_account_id(client: STSClient | None = None) -> str:
    """The account id of the credentials in use."""
    sts = client or aws.sts(get_config())
    return str(sts.get_caller_identity()["Account"])


def stage_environment(stage: str, *, settings_file: Path = SETTINGS_FILE) -> dict[str, str]:
    """The environment variables zappa_settings.json gives Zappa stage ``stage`` (``{}`` if none).

    Follows ``extends`` as Zappa does, the stage's own values winning.
    """
    env: dict[str, str] = {}
    for entry in reversed(_chain(stage, settings_file)):
        env |= entry.get("environment_variables", {})
    return env


def stage_setting(stage: str, key: str, *, settings_file: Path = SETTINGS_FILE) -> Any:
    """One top-level setting of a Zappa stage (``aws_region``...), following ``extends``."""
    return next((entry[key] for entry in _chain(stage, settings_file) if key in entry), None)


def _chain(stage: str, settings_file: Path) -> list[dict[str, Any]]:
    """The stage, then the stage it extends, and so on (a loop stops at the stage count)."""
    stages = json.loads(settings_file.read_text())
    chain: list[dict[str, Any]] = []
    name: str | None = stage
    while name is not None and name in stages and len(chain) < len(stages):
        chain.append(stages[name])
        name = stages[name].get("extends")
    return chain


def stage_targets(stage: str, *, settings_file: Path = SETTINGS_FILE) -> tuple[str, list[str]]:
    """A Zappa stage's function name and SQS queue ARNs, read with Zappa's own loader.

    A placeholder account id is replaced as the settings callback does on deploy.
    """
    from click import ClickException
    from zappa.cli import ZappaCLI

    cli = ZappaCLI()
    cli.api_stage, cli.load_credentials = stage, False
    try:
        cli.load_settings(str(settings_file))
    except ClickException as exc:
        raise DeployError(exc.format_message()) from None
    events = cli.stage_config.get("events", [])
    if has_placeholder(events):
        events = with_account(events, explicit_account_id() or caller_account_id())
    return cli.lambda_name, sqs_queue_arns(events)


def _mappings(
    lam: LambdaClient, *, function_name: str, queue_arn: str
) -> Iterator[EventSourceMappingConfigurationTypeDef]:
    """The queue's mappings that invoke ``function_name`` (by name or ARN, any qualifier).

    Listed by queue only and matched here: a mapping created with the function's ARN is
    then found by its name too, on AWS and on moto alike.
    """
    wanted = _function_name(function_name)
    for page in lam.get_paginator("list_event_source_mappings").paginate(EventSourceArn=queue_arn):
        for mapping in page["EventSourceMappings"]:
            if _function_name(mapping["FunctionArn"]) == wanted:
                yield mapping


def _function_name(name_or_arn: str) -> str:
    """``arn:aws:lambda:r:a:function:NAME[:qualifier]`` or ``NAME`` -> ``NAME``."""
    parts = name_or_arn.split(":")
    return parts[6] if len(parts) >= 7 and parts[5] == "function" else name_or_arn


def _settled(
    lam: LambdaClient, mapping: Mapping[str, Any], *, sleep: Callable[[float], None]
) -> Mapping[str, Any]:
    """The mapping once it is out of a transitional state (AWS rejects updates until then)."""
    for _ in range(SETTLE_ATTEMPTS):
        if mapping.get("State") not in TRANSITIONAL_STATES:
            return mapping
        sleep(SETTLE_DELAY_SECONDS)
        mapping = lam.get_event_source_mapping(UUID=mapping["UUID"])
    raise DeployError(f"event source mapping {mapping['UUID']} stays {mapping.get('State')}")


def _reconcile(lam: LambdaClient, mapping: Mapping[str, Any], *, enable: bool) -> list[str]:
    """Update only what differs: response types first, the Enabled flag with them."""
    update: dict[str, Any] = {}
    changes: list[str] = []
    types = list(mapping.get("FunctionResponseTypes") or [])
    if REPORT_BATCH_ITEM_FAILURES not in types:
        update["FunctionResponseTypes"] = [*types, REPORT_BATCH_ITEM_FAILURES]
        changes.append(f"{mapping['UUID']}: FunctionResponseTypes += {REPORT_BATCH_ITEM_FAILURES}")
    if enable and mapping.get("State") == "Disabled":
        update["Enabled"] = True
        changes.append(f"{mapping['UUID']}: enabled")
    if update:
        lam.update_event_source_mapping(UUID=mapping["UUID"], **update)
    return changes


# --- package bytecode ------------------------------------------------------------------


def compile_package_bytecode(zip_path: Path, *, python_tag: str = "cpython-311") -> int:
    """Add unchecked-hash ``.pyc`` files for every module in the Lambda zip; return how many.

    Lambda cannot write to /var/task and Zappa's zip stamps every file 1980-01-01, so
    ordinary (timestamp) ``.pyc`` files never match and every cold start compiles all of
    Django, DRF and botocore again. Hash-based ``.pyc`` files (PEP 552) do not depend on
    mtimes; unchecked ones are not even compared with the source, which is safe because
    the zip is immutable and the ``.pyc`` files are compiled from the very same sources.
    """
    if sys.implementation.cache_tag != python_tag:
        raise DeployError(f"bytecode for {python_tag} needs that Python, not {sys.version}")
    with tempfile.TemporaryDirectory(prefix="twl-bytecode-") as tmp:
        root = Path(tmp)
        with zipfile.ZipFile(zip_path) as source:
            source.extractall(root)
        # A child process: compileall forks workers, which a threaded caller should not do.
        # Its exit status is ignored; a module that does not compile just gets no .pyc.
        command = [sys.executable, "-m", "compileall", "-q", "-j", "0", "-d", "/var/task"]
        subprocess.run(
            [*command, "--invalidation-mode", "unchecked-hash", str(root)],
            check=False,
            stdout=subprocess.DEVNULL,
        )
        return _zip_tree(root, zip_path)


def _zip_tree(root: Path, zip_path: Path) -> int:
    """Rewrite ``zip_path`` from ``root`` with Zappa's entry attributes; count new .pyc files."""
    with zipfile.ZipFile(zip_path) as before:
        existing = set(before.namelist())
    added = 0
    with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED) as target:
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            name = path.relative_to(root).as_posix()
            info = zipfile.ZipInfo(name)
            # As Zappa writes entries: Unix attributes, world-readable and executable.
            info.create_system, info.external_attr = 3, 0o755 << 16
            target.writestr(info, path.read_bytes(), zipfile.ZIP_DEFLATED)
            added += name not in existing
    return added


def collect_static() -> int:
    """Run collectstatic into STATIC_ROOT (packaged with the code; whitenoise serves it).

    In Lambda nothing runs collectstatic and /var/task is read-only, so the files must
    be collected, hashed and compressed before Zappa zips the project. It runs in its
    own process with production settings, so the manifest storage names the files
    exactly as the deployed function will look them up.
    """
    env = os.environ | {
        "DJANGO_SETTINGS_MODULE": "twl_site.settings",
        "DJANGO_DEBUG": "false",
        # collectstatic signs nothing; the real key never has to be on the build machine.
        "DJANGO_SECRET_KEY": os.environ.get("DJANGO_SECRET_KEY")
        or "collectstatic-only-" + "x" * 40,
    }
    done = subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "--clear"],
        cwd=Path(__file__).resolve().parents[2],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if done.returncode != 0:
        raise DeployError(f"collectstatic failed: {done.stderr[-1000:]}")
    found = re.search(r"(\d+) static files? copied", done.stdout)
    return int(found.group(1)) if found else 0
