"""Zappa callbacks named in zappa_settings.json: stage checks, package bytecode, post-deploy.

Zappa calls each with the ``ZappaCLI`` instance: ``settings`` right after the stage
is loaded (every command; before a package is built it also collects the static files
and leaves unused botocore models out), ``zip`` after the package is built, ``post`` at
the end of ``deploy`` and ``update``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

# Zappa loads this file by path, as a top-level module, from a CLI whose sys.path does
# not hold the project root; without it ``import pipeline`` would fail.
_ROOT = str(Path(__file__).resolve().parents[2])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

import click  # noqa: E402  (Zappa's own CLI dependency; never imported inside Lambda)

from pipeline.deploy import zappa_steps  # noqa: E402


def prepare_stage(zappa_cli: Any) -> None:
    """Refuse template stages; put the deploying account id into placeholder SQS ARNs."""
    env = zappa_cli.stage_config.get("environment_variables", {})
    if not env.get("TWL_STAGE"):
        raise click.ClickException(
            f"stage {zappa_cli.api_stage!r} is a template (it sets no TWL_STAGE); "
            "use dev, dev_worker, prod or prod_worker"
        )
    events = zappa_cli.stage_config.get("events", [])
    if zappa_steps.has_placeholder(events):
        resolved = zappa_steps.with_account(events, _account_id(zappa_cli))
        zappa_cli.override_stage_config_setting("events", resolved)
    if getattr(zappa_cli, "command", None) in PACKAGING_COMMANDS:
        collected = zappa_steps.collect_static()
        click.echo(f"Collected {collected} static files into the package for whitenoise.")
        unused = unused_botocore_services()
        globs = [*zappa_cli.stage_config.get("exclude_glob", []), *botocore_data_globs(unused)]
        zappa_cli.override_stage_config_setting("exclude_glob", globs)
        click.echo(f"Left the models of {len(unused)} AWS services nothing in Lambda calls out.")


# Commands that build a package: the static files must be collected into it first.
PACKAGING_COMMANDS = frozenset({"deploy", "update", "package"})

# The AWS services whose botocore models go into the package; the other ~430 models
# (14 MiB of the zip) are left out, and boto3 cannot build a client for them in Lambda.
# Every client pipeline.stores.aws can build, and those Zappa builds at run time.
# Add a service here before code in the package calls it (tests/test_zappa_handler.py
# builds a client for each of these from the package alone).
PACKAGED_AWS_SERVICES = frozenset(
    {
        "dynamodb",  # the curated and ledger tables; zappa.asynchronous's response table
        "s3",  # raw objects; Zappa's handler reads remote_env from S3 at every cold start
        "sqs",  # the ingestion queue and its DLQ
        "lambda",  # the web function invokes the worker (pipeline.stores.worker)
        "sns",  # zappa.asynchronous builds an SNS client when it is imported
        "sts",  # zappa.asynchronous builds an STS client when it is imported
        "ssm",  # declared sources' secrets (ssm: references; pipeline.stores.parameters)
        # Only the operator tools (never packaged) call these today; kept (0.3 MiB) so
        # that every client pipeline.stores.aws offers works in Lambda too.
        "iam",
        "cloudformation",
        "cloudwatch",
    }
)


def unused_botocore_services(data_dir: Path | None = None) -> list[str]:
    """The botocore service models (directories of ``botocore/data``) not to package."""
    import botocore

    root = data_dir or Path(botocore.__file__).parent / "data"
    return sorted(
        p.name for p in root.iterdir() if p.is_dir() and p.name not in PACKAGED_AWS_SERVICES
    )


def botocore_data_globs(services: list[str]) -> list[str]:
    """``exclude_glob`` patterns (from the package root) for those services' models."""
    return [f"botocore/data/{service}" for service in services]


def compile_bytecode(zappa_cli: Any) -> None:
    """Add hash-based .pyc files to the package so cold starts skip compiling."""
    try:
        added = zappa_steps.compile_package_bytecode(Path(zappa_cli.zip_path))
    except zappa_steps.DeployError as exc:
        click.echo(f"Bytecode not added ({exc}); cold starts will compile every module.")
        return
    click.echo(f"Added {added} hash-based .pyc files to {zappa_cli.zip_path}.")


def post_deploy(zappa_cli: Any) -> None:
    """Turn on partial batch responses for each SQS event source, then enable it."""
    queues = zappa_steps.sqs_queue_arns(zappa_cli.stage_config.get("events", []))
    for queue_arn in queues:
        try:
            changes = zappa_steps.enable_partial_batch_responses(
                function_name=zappa_cli.lambda_name,
                queue_arn=queue_arn,
                # Zappa's own client: the deploy's credentials, profile and region.
                client=zappa_cli.zappa.lambda_client,
                enable=True,
            )
        except zappa_steps.DeployError as exc:
            raise click.ClickException(str(exc)) from exc
        for change in changes or ["partial batch responses already on"]:
            click.echo(f"SQS {queue_arn.rsplit(':', 1)[-1]}: {change}")


def _account_id(zappa_cli: Any) -> str:
    """TWL_AWS_ACCOUNT_ID, else the deploying credentials' account (STS)."""
    explicit = zappa_steps.explicit_account_id()
    if explicit:
        return explicit
    sts = getattr(zappa_cli.zappa, "sts_client", None)
    if sts is None:  # `zappa package` loads no credentials
        raise click.ClickException(
            f"the SQS ARN holds the placeholder account {zappa_steps.PLACEHOLDER_ACCOUNT_ID}: "
            f"set {zappa_steps.ACCOUNT_ENV} or write your account id into zappa_settings.json"
        )
    return zappa_steps.caller_account_id(sts)
