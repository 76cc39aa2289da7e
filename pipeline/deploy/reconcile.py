"""Compare-then-write, the mechanism every provisioning step shares.

Each resource lists its ``Setting``s with the desired and current value and how to
write the desired one; ``reconcile`` writes only what differs, or, when checking,
writes nothing and reports it. One code path both applies and detects drift.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from botocore.exceptions import ClientError

from pipeline.core.errors import PipelineError

Action = Literal["create", "update", "ok"]
_Reply = TypeVar("_Reply")


@dataclass(frozen=True)
class Change:
    """What provisioning did (or, when checking, would do) to one resource."""

    resource: str
    action: Action
    detail: str


class ProvisionError(PipelineError):
    """A resource differs in a way that cannot be fixed in place."""


@dataclass(frozen=True)
class Setting:
    """One setting of a resource: desired and current value, and how to write the desired one."""

    name: str
    desired: Any
    current: Any
    write: Callable[[], object]


def has_drift(changes: Iterable[Change]) -> bool:
    """True when any resource was (or would be) created or updated."""
    return any(c.action != "ok" for c in changes)


def reconcile(settings: Iterable[Setting], *, check_only: bool) -> list[str]:
    """Write each setting whose current value differs (unless checking); describe the diffs."""
    diffs = []
    for setting in settings:
        if setting.current == setting.desired:
            continue
        diffs.append(f"{setting.name}: {show(setting.current)} -> {show(setting.desired)}")
        if not check_only:
            setting.write()
    return diffs


def change_for(resource: str, diffs: list[str], *, check_only: bool) -> Change:
    """Summarise an existing resource's reconciliation as one Change."""
    if not diffs:
        return Change(resource, "ok", "up to date")
    prefix = "drift: " if check_only else "updated: "
    return Change(resource, "update", prefix + "; ".join(diffs))


def create_missing(
    resource: str, *, kind: str, create: Callable[[], object], check_only: bool
) -> Change:
    """Create a missing resource, or only report it when checking."""
    if check_only:
        return Change(resource, "create", f"{kind} missing; would be created")
    create()
    return Change(resource, "create", f"{kind} created")


def show(value: Any) -> str:
    """Render a setting value for a one-line report."""
    if value is None:
        return "missing"
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def or_none(call: Callable[..., _Reply], missing: frozenset[str], **kwargs: Any) -> _Reply | None:
    """Call an AWS read; None when it fails only because the thing read does not exist."""
    try:
        return call(**kwargs)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in missing:
            return None
        raise


def cannot_fix(message: str) -> None:
    """Writer for differences AWS cannot change in place."""
    raise ProvisionError(message)
