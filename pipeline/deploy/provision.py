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
from datetime import datetime
from typing import TYPE_CHECKING, Literal

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
        status = _wait_stack(cfn, name, since=None, say=say, poll_seconds=poll_seconds)
    if status == "ROLLBACK_COMPLETE" and not check_only:
        raise ProvisionError(
            f"stack {name} failed to create and rolled back; delete it "
            f"(aws cloudformation delete-stack --stack-name {name}) and provision again"
        )
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
    """The stack's status, or None when there is none (a deleted stack counts as none)."""
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
    set_name = f"{PRODUCT}-{datetime.now().strftime('%Y%m%d%H%M%S%f')}"
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
    changes = [
        _change(c["ResourceChange"]) for c in described.get("Changes", []) if "ResourceChange" in c
    ]
    if check_only:
        cfn.delete_change_set(StackName=name, ChangeSetName=set_name)
        return changes
    for change in changes:
        say(f"{change.action:<6}  {change.resource}  {change.detail}")
    started = datetime.now().astimezone()
    cfn.execute_change_set(StackName=name, ChangeSetName=set_name)
    status = _wait_stack(cfn, name, since=started, say=say, poll_seconds=poll_seconds)
    if status not in STABLE:
        raise ProvisionError(f"stack {name} ended {status}: {_failures(cfn, name, started)}")
    return changes


def _change(resource: object) -> Change:
    found = dict(resource)  # type: ignore[call-overload]
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
        if described["Status"] in ("CREATE_COMPLETE", "FAILED") or time.monotonic() > deadline:
            return described
        time.sleep(poll_seconds)


def _wait_stack(
    cfn: CloudFormationClient,
    name: str,
    *,
    since: datetime | None,
    say: Progress,
    poll_seconds: float,
) -> str | None:
    """Poll until the stack settles, printing each new event; return the final status."""
    seen: set[str] = set()
    deadline = time.monotonic() + WAIT_LIMIT_SECONDS
    while True:
        status = stack_status(cfn, name)
        for event in reversed(cfn.describe_stack_events(StackName=name)["StackEvents"]):
            if event["EventId"] in seen or (since and event["Timestamp"] < since):
                continue
            seen.add(event["EventId"])
            reason = event.get("ResourceStatusReason") or ""
            say(f"  {event['LogicalResourceId']}: {event['ResourceStatus']} {reason}".rstrip())
        if status is None or not status.endswith("_IN_PROGRESS") or time.monotonic() > deadline:
            return status
        time.sleep(poll_seconds)


def _failures(cfn: CloudFormationClient, name: str, since: datetime) -> str:
    events = cfn.describe_stack_events(StackName=name)["StackEvents"]
    failed = [
        f"{e['LogicalResourceId']}: {e.get('ResourceStatusReason', '')}"
        for e in events
        if e["Timestamp"] >= since and e["ResourceStatus"].endswith("_FAILED")
    ]
    return "; ".join(failed) or "see the stack's events"
