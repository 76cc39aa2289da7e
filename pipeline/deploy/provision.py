"""Create, update or check a stage's CloudFormation stack (``manage.py provision``).

Every write goes through a change set: it says what will change before anything does,
and ``check_only`` stops there, deletes it, and adds the drift check
(``pipeline.deploy.stack.drift``): CloudFormation's own detection where the endpoint
offers it, and a read-back of each live resource against the template everywhere.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from botocore.exceptions import ClientError

from pipeline.core.config import PipelineConfig
from pipeline.core.constants import PRODUCT
from pipeline.core.errors import PipelineError
from pipeline.deploy.stack.spec import StackSpec, spec_from_config
from pipeline.deploy.stack.template import build_template, compact_body
from pipeline.stores import aws

if TYPE_CHECKING:
    from mypy_boto3_cloudformation import CloudFormationClient
    from mypy_boto3_cloudformation.type_defs import DescribeChangeSetOutputTypeDef

Action = Literal["create", "update", "delete", "drift", "ok", "note"]
Progress = Callable[[str], None]
CAPABILITIES: list[Literal["CAPABILITY_NAMED_IAM"]] = ["CAPABILITY_NAMED_IAM"]
# What CloudFormation (and moto) say when a change set would change nothing.
NO_CHANGES = ("didn't contain changes", "No updates are to be performed")
POLL_SECONDS = 5.0
WAIT_LIMIT_SECONDS = 3600.0
STABLE = frozenset({"CREATE_COMPLETE", "UPDATE_COMPLETE", "IMPORT_COMPLETE"})
EVENT_CLOCK_SLACK = timedelta(minutes=1)
_ACTIONS: dict[str, Action] = {"Add": "create", "Modify": "update", "Remove": "delete"}


@dataclass(frozen=True)
class Change:
    """What provisioning did (or, when checking, would do or found) for one resource."""

    resource: str
    action: Action
    detail: str


class ProvisionError(PipelineError):
    """The stack cannot be brought to the template (a failed update, a stuck stack)."""


def has_drift(changes: Iterable[Change]) -> bool:
    """True when any resource was (or would be) created, updated, deleted or has drifted."""
    return any(c.action not in ("ok", "note") for c in changes)


def provision(
    *,
    config: PipelineConfig,
    spec: StackSpec | None = None,
    check_only: bool = False,
    progress: Progress | None = None,
    poll_seconds: float = POLL_SECONDS,
) -> list[Change]:
    """Bring the stage's stack to its template; with ``check_only`` only say what differs."""
    from pipeline.deploy.stack.drift import stack_drift

    chosen = spec or spec_from_config(config)
    say = progress or (lambda _line: None)
    cfn = aws.cloudformation(config)
    name = chosen.names.stack
    status = stack_status(cfn, name)
    if status is not None and status.endswith("_IN_PROGRESS") and not check_only:
        say(f"stack {name} is {status}; waiting for it to settle")
        status = _settle(cfn, name, say=say, poll_seconds=poll_seconds)
    if status == "ROLLBACK_COMPLETE":
        message = (
            f"failed to create and rolled back; delete it (aws cloudformation delete-stack "
            f"--stack-name {name}) and provision again"
        )
        if check_only:
            return [Change(f"stack {name}", "update", message)]
        raise ProvisionError(f"stack {name} {message}")
    if status is None and check_only:
        count = len(build_template(chosen).resources)
        return [Change(f"stack {name}", "create", f"missing; would create {count} resources")]
    changes = _change_set(
        cfn,
        chosen,
        exists=status is not None,
        check_only=check_only,
        say=say,
        poll_seconds=poll_seconds,
    )
    if check_only:
        return changes + stack_drift(config=config, spec=chosen)
    return changes


def stack_status(cfn: CloudFormationClient, name: str) -> str | None:
    """The stack's status; None when there is none to update (deleted, or only reviewed)."""
    try:
        stacks = cfn.describe_stacks(StackName=name)["Stacks"]
    except ClientError as exc:
        if "does not exist" in str(exc.response.get("Error", {}).get("Message", "")):
            return None
        raise
    status = stacks[0]["StackStatus"] if stacks else None
    return None if status in (None, "DELETE_COMPLETE", "REVIEW_IN_PROGRESS") else status


def _change_set(
    cfn: CloudFormationClient,
    spec: StackSpec,
    *,
    exists: bool,
    check_only: bool,
    say: Progress,
    poll_seconds: float,
) -> list[Change]:
    """Create a change set, read it, then execute it (or, checking, delete it)."""
    name = spec.names.stack
    set_name = f"{PRODUCT}-{datetime.now(UTC).strftime('%Y%m%d%H%M%S%f')}"
    cfn.create_change_set(
        StackName=name,
        ChangeSetName=set_name,
        ChangeSetType="UPDATE" if exists else "CREATE",
        TemplateBody=compact_body(spec),
        Capabilities=CAPABILITIES,
        Description=f"manage.py provision{' --check' if check_only else ''}",
        Tags=[{"Key": "product", "Value": PRODUCT}, {"Key": "stage", "Value": spec.names.stage}],
    )
    described = _wait_change_set(cfn, name, set_name, poll_seconds)
    if described["Status"] == "FAILED":
        cfn.delete_change_set(StackName=name, ChangeSetName=set_name)
        reason = described.get("StatusReason", "")
        if any(marker in reason for marker in NO_CHANGES):
            return [Change(f"stack {name}", "ok", "up to date")]
        raise ProvisionError(f"change set for {name} failed: {reason}")
    changes = [_change(c) for c in _all_changes(cfn, name, set_name, described)]
    if check_only:
        cfn.delete_change_set(StackName=name, ChangeSetName=set_name)
        return changes
    for change in changes:
        say(f"{change.action:<6}  {change.resource}  {change.detail}")
    # Events are stamped by AWS's clock: a minute's slack for this machine's.
    since = datetime.now(UTC) - EVENT_CLOCK_SLACK
    cfn.execute_change_set(StackName=name, ChangeSetName=set_name)
    execution = _wait_execution(
        cfn, name, set_name, since=since, say=say, poll_seconds=poll_seconds
    )
    status = stack_status(cfn, name)
    if execution != "EXECUTE_COMPLETE" or status not in STABLE:
        raise ProvisionError(
            f"stack {name} ended {status} ({execution}): {_failures(cfn, name, since)}"
        )
    return changes


def _all_changes(
    cfn: CloudFormationClient, stack: str, set_name: str, first: DescribeChangeSetOutputTypeDef
) -> list[dict[str, Any]]:
    """Every resource change of the change set (CloudFormation pages them by 100)."""
    page: Any = first
    found = [dict(c["ResourceChange"]) for c in page.get("Changes", []) if "ResourceChange" in c]
    while page.get("NextToken"):
        page = cfn.describe_change_set(
            StackName=stack, ChangeSetName=set_name, NextToken=page["NextToken"]
        )
        found += [dict(c["ResourceChange"]) for c in page["Changes"] if "ResourceChange" in c]
    return found


def _change(found: dict[str, Any]) -> Change:
    action = _ACTIONS.get(str(found.get("Action")), "update")
    where = f"{found.get('LogicalResourceId')} ({found.get('ResourceType')})"
    replacement = found.get("Replacement")
    detail = {"create": "would be added", "delete": "would be removed"}.get(action, "would change")
    if replacement in ("True", "Conditional"):
        detail += f"; replacement: {replacement}"
    return Change(where, action, detail)


def _wait_change_set(
    cfn: CloudFormationClient, stack: str, set_name: str, poll_seconds: float
) -> DescribeChangeSetOutputTypeDef:
    deadline = time.monotonic() + WAIT_LIMIT_SECONDS
    while True:
        described = cfn.describe_change_set(StackName=stack, ChangeSetName=set_name)
        if described["Status"] in ("CREATE_COMPLETE", "FAILED"):
            return described
        if time.monotonic() > deadline:
            raise ProvisionError(f"change set {set_name} still {described['Status']} after an hour")
        time.sleep(poll_seconds)


def _wait_execution(
    cfn: CloudFormationClient,
    stack: str,
    set_name: str,
    *,
    since: datetime,
    say: Progress,
    poll_seconds: float,
) -> str:
    """Print the stack's events until the change set's execution ends; return how it ended.

    Execution is asynchronous: right after ExecuteChangeSet the stack may still show
    its previous status, so the change set's own ExecutionStatus decides.
    """
    seen: set[str] = set()
    deadline = time.monotonic() + WAIT_LIMIT_SECONDS
    while True:
        _print_events(cfn, stack, since=since, seen=seen, say=say)
        execution = cfn.describe_change_set(StackName=stack, ChangeSetName=set_name)
        state = str(execution.get("ExecutionStatus", ""))
        if state not in ("AVAILABLE", "EXECUTE_IN_PROGRESS") or time.monotonic() > deadline:
            _print_events(cfn, stack, since=since, seen=seen, say=say)
            return state
        time.sleep(poll_seconds)


def _settle(
    cfn: CloudFormationClient, name: str, *, say: Progress, poll_seconds: float
) -> str | None:
    """Wait for an operation someone else started on the stack to end."""
    seen: set[str] = set()
    since = datetime.now(UTC) - EVENT_CLOCK_SLACK
    deadline = time.monotonic() + WAIT_LIMIT_SECONDS
    while True:
        _print_events(cfn, name, since=since, seen=seen, say=say)
        status = stack_status(cfn, name)
        if status is None or not status.endswith("_IN_PROGRESS") or time.monotonic() > deadline:
            return status
        time.sleep(poll_seconds)


def _events_since(cfn: CloudFormationClient, name: str, since: datetime) -> list[Any]:
    """The stack's events from ``since`` on, oldest first (newest come first, in pages)."""
    found: list[Any] = []
    for page in cfn.get_paginator("describe_stack_events").paginate(StackName=name):
        recent = [e for e in page["StackEvents"] if e["Timestamp"] >= since]
        found += recent
        if len(recent) < len(page["StackEvents"]):
            break
    return list(reversed(found))


def _print_events(
    cfn: CloudFormationClient, name: str, *, since: datetime, seen: set[str], say: Progress
) -> None:
    for event in _events_since(cfn, name, since):
        if event["EventId"] in seen:
            continue
        seen.add(event["EventId"])
        reason = event.get("ResourceStatusReason") or ""
        say(f"  {event['LogicalResourceId']}: {event['ResourceStatus']} {reason}".rstrip())


def _failures(cfn: CloudFormationClient, name: str, since: datetime) -> str:
    failed = [
        f"{e['LogicalResourceId']}: {e.get('ResourceStatusReason', '')}"
        for e in _events_since(cfn, name, since)
        if e["ResourceStatus"].endswith("_FAILED")
    ]
    return "; ".join(failed) or "see the stack's events"
