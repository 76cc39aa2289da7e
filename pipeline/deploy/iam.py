"""Least-privilege IAM for a stage's Lambda functions: the policy, the trust, the role.

Zappa's default execution role allows ``s3:*``, ``sqs:*``, ``dynamodb:*``, ``logs:*`` and
more on every resource. The stages set ``"manage_roles": false`` and a ``role_name``
instead, and ``manage.py iam_role`` creates that role with exactly what the web and
worker functions call (``iam_policy``). Every resource is named after the stage; a
``*`` appears only where AWS generates the names (log streams) or where keys are data
(S3 objects under ``raw/`` and ``quarantine/``), never in an action.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from botocore.exceptions import ClientError

from pipeline.core.config import PipelineConfig, get_config
from pipeline.core.constants import (
    PRODUCT,
    QUARANTINE_PREFIX,
    RAW_PREFIX,
    RUNS_INDEX,
    SOURCE_INDEX,
    TYPE_INDEX,
)
from pipeline.core.names import ResourceNames, resource_names
from pipeline.deploy.zappa_steps import stage_environment
from pipeline.stores import aws

if TYPE_CHECKING:
    from mypy_boto3_iam import IAMClient
    from mypy_boto3_iam.type_defs import RoleTypeDef

POLICY_VERSION = "2012-10-17"
INLINE_POLICY_NAME = f"{PRODUCT}-access"
# lambda: the functions run as the role. apigateway: Zappa's REST API integration calls
# the function with this role as its credentials. events: Zappa passes the role to
# PutRule, which rejects a role that events.amazonaws.com cannot assume.
TRUSTED_SERVICES = ("apigateway.amazonaws.com", "events.amazonaws.com", "lambda.amazonaws.com")
ITEM_READS = ("dynamodb:BatchGetItem", "dynamodb:GetItem", "dynamodb:Query")
# TransactWriteItems has no IAM action of its own: each Put/Update in a transaction is
# authorised as PutItem/UpdateItem on its table.
ITEM_WRITES = ("dynamodb:PutItem", "dynamodb:UpdateItem")
QUEUE_ACTIONS = (
    "sqs:ChangeMessageVisibility",
    "sqs:DeleteMessage",
    "sqs:GetQueueAttributes",
    "sqs:GetQueueUrl",
    "sqs:ReceiveMessage",
    "sqs:SendMessage",
)
LOG_ACTIONS = ("logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents")


@dataclass(frozen=True)
class StageTarget:
    """A stage's resource names in one account and region (its ARNs)."""

    names: ResourceNames
    region: str
    account_id: str

    def arn(self, service: str, resource: str) -> str:
        return f"arn:aws:{service}:{self.region}:{self.account_id}:{resource}"


def role_name(stage: str) -> str:
    """The execution role the stage's functions run as (``role_name`` in zappa_settings)."""
    return resource_names(stage).role


def trust_policy() -> dict[str, Any]:
    """Who may assume the role: Lambda, and the two services Zappa wires to it."""
    return {
        "Version": POLICY_VERSION,
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": list(TRUSTED_SERVICES)},
                "Action": "sts:AssumeRole",
            }
        ],
    }


def iam_policy(
    *, stage: str, region: str, account_id: str, names: ResourceNames | None = None
) -> dict[str, Any]:
    """The inline policy document the stage's web and worker functions need, nothing more.

    ``names`` defaults to the names the deployed functions use: the naming rule with the
    ``TWL_*`` overrides of the stage's environment in zappa_settings.json.
    """
    chosen = names or resource_names(stage, stage_environment(stage))
    target = StageTarget(names=chosen, region=region, account_id=account_id)
    statements = [
        _raw_objects(target),
        _raw_listing(target),
        _queues(target),
        _table_items(target),
        _curated_scan(target),
        _counter_reset(target),
        _logs(target),
        _remote_env(target),
        _api_gateway_invoke(target),
    ]
    return {"Version": POLICY_VERSION, "Statement": statements}


def _statement(sid: str, actions: tuple[str, ...], resources: list[str], **extra: Any) -> dict:
    return {
        "Sid": sid,
        "Effect": "Allow",
        "Action": sorted(actions),
        "Resource": resources,
        **extra,
    }


def _raw_objects(target: StageTarget) -> dict[str, Any]:
    """Ingest writes raw and quarantined bodies; processing and the API read them."""
    bucket = f"arn:aws:s3:::{target.names.raw_bucket}"
    resources = [f"{bucket}/{RAW_PREFIX}/*", f"{bucket}/{QUARANTINE_PREFIX}/*"]
    return _statement("RawObjects", ("s3:GetObject", "s3:PutObject"), resources)


def _raw_listing(target: StageTarget) -> dict[str, Any]:
    """Replay lists raw keys; the condition keeps listing inside ``raw/``."""
    condition = {"StringLike": {"s3:prefix": [f"{RAW_PREFIX}/*"]}}
    bucket = [f"arn:aws:s3:::{target.names.raw_bucket}"]
    return _statement("RawListing", ("s3:ListBucket",), bucket, Condition=condition)


def _queues(target: StageTarget) -> dict[str, Any]:
    """Send (ingest, replay, redrive), receive and delete (event source, DLQ tools), depth."""
    queues = (target.names.queue, target.names.dlq)
    resources = [target.arn("sqs", queue) for queue in queues]
    return _statement("Queues", QUEUE_ACTIONS, resources)


def _table_items(target: StageTarget) -> dict[str, Any]:
    """Item reads and writes on both tables; Query also on their named indexes."""
    curated = target.arn("dynamodb", f"table/{target.names.curated_table}")
    ledger = target.arn("dynamodb", f"table/{target.names.ledger_table}")
    indexes = [f"{curated}/index/{SOURCE_INDEX}", f"{curated}/index/{TYPE_INDEX}"]
    resources = [curated, ledger, *indexes, f"{ledger}/index/{RUNS_INDEX}"]
    return _statement("TableItems", ITEM_READS + ITEM_WRITES, resources)


def _curated_scan(target: StageTarget) -> dict[str, Any]:
    """Only ``manage.py recount`` (run with ``zappa manage``) scans, and only this table."""
    table = target.arn("dynamodb", f"table/{target.names.curated_table}")
    return _statement("CuratedRecount", ("dynamodb:Scan",), [table])


def _counter_reset(target: StageTarget) -> dict[str, Any]:
    """Only ``manage.py recount --reset`` deletes items: the ledger's counter items."""
    table = target.arn("dynamodb", f"table/{target.names.ledger_table}")
    return _statement("CounterReset", ("dynamodb:DeleteItem",), [table])


def _logs(target: StageTarget) -> dict[str, Any]:
    """Each function's own log group; ``:*`` covers the streams Lambda names itself."""
    functions = target.names.functions
    groups = [target.arn("logs", f"log-group:/aws/lambda/{fn}") for fn in functions]
    resources = [resource for group in groups for resource in (group, f"{group}:*")]
    return _statement("FunctionLogs", LOG_ACTIONS, resources)


def _remote_env(target: StageTarget) -> dict[str, Any]:
    """Zappa's handler reads the stage's secrets file (``remote_env``) at every cold start."""
    names = target.names
    key = f"arn:aws:s3:::{names.deployment_bucket}/{names.remote_env_key}"
    return _statement("ZappaRemoteEnv", ("s3:GetObject",), [key])


def _api_gateway_invoke(target: StageTarget) -> dict[str, Any]:
    """API Gateway assumes the role (Zappa's integration credentials) to call the web function."""
    function = target.arn("lambda", f"function:{target.names.web_function}")
    return _statement("ApiGatewayInvoke", ("lambda:InvokeFunction",), [function])


# --- the role --------------------------------------------------------------------------


def role_ensure(
    *,
    stage: str,
    region: str,
    account_id: str,
    check_only: bool = False,
    config: PipelineConfig | None = None,
    client: IAMClient | None = None,
) -> list[str]:
    """Create or update the stage's role and inline policy; return what changed (or would)."""
    iam = client or aws.iam(config or get_config())
    name = role_name(stage)
    policy = iam_policy(stage=stage, region=region, account_id=account_id)
    role = _get_or_none(iam.get_role, RoleName=name)
    if role is None:
        return _create_role(iam, name, policy, check_only=check_only)
    changes = _sync_trust(iam, name, role["Role"], check_only=check_only)
    changes += _sync_policy(iam, name, policy, check_only=check_only)
    return changes + _foreign_policies(iam, name)


def _create_role(
    iam: IAMClient, name: str, policy: dict[str, Any], *, check_only: bool
) -> list[str]:
    if check_only:
        return [f"role {name} missing; would be created"]
    iam.create_role(
        RoleName=name,
        AssumeRolePolicyDocument=json.dumps(trust_policy()),
        Description=f"{PRODUCT}: least-privilege execution role (manage.py iam_role)",
    )
    iam.put_role_policy(
        RoleName=name, PolicyName=INLINE_POLICY_NAME, PolicyDocument=json.dumps(policy)
    )
    return [f"role {name} created", f"policy {INLINE_POLICY_NAME} put"]


def _sync_trust(iam: IAMClient, name: str, role: RoleTypeDef, *, check_only: bool) -> list[str]:
    current = _document(role.get("AssumeRolePolicyDocument"))
    if canonical(current) == canonical(trust_policy()):
        return []
    if not check_only:
        iam.update_assume_role_policy(RoleName=name, PolicyDocument=json.dumps(trust_policy()))
    return [f"role {name}: trust policy {'differs' if check_only else 'updated'}"]


def _sync_policy(
    iam: IAMClient, name: str, policy: dict[str, Any], *, check_only: bool
) -> list[str]:
    reply = _get_or_none(iam.get_role_policy, RoleName=name, PolicyName=INLINE_POLICY_NAME)
    if reply is not None and canonical(_document(reply["PolicyDocument"])) == canonical(policy):
        return []
    if not check_only:
        document = json.dumps(policy)
        iam.put_role_policy(RoleName=name, PolicyName=INLINE_POLICY_NAME, PolicyDocument=document)
    state = "missing" if reply is None else "differs"
    return [f"policy {INLINE_POLICY_NAME}: {state if check_only else 'put'}"]


def _foreign_policies(iam: IAMClient, name: str) -> list[str]:
    """Other policies on the role widen it; report them, never remove what we did not add."""
    inline = iam.list_role_policies(RoleName=name)["PolicyNames"]
    attached = iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]
    others = [p for p in inline if p != INLINE_POLICY_NAME] + [p["PolicyArn"] for p in attached]
    return [f"warning: role {name} also has {p}; remove it for least privilege" for p in others]


_Reply = TypeVar("_Reply")


def _get_or_none(call: Callable[..., _Reply], **kwargs: Any) -> _Reply | None:
    """An IAM read; None when what it reads does not exist."""
    try:
        return call(**kwargs)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "NoSuchEntity":
            return None
        raise


def _document(value: Any) -> dict[str, Any]:
    """IAM answers documents decoded by boto3, or as (URL-decoded) JSON text."""
    if isinstance(value, str):
        from urllib.parse import unquote

        return json.loads(unquote(value))
    return value or {}


def canonical(document: Any) -> Any:
    """A comparable form: single values as one-item lists, lists sorted, keys ordered."""
    if isinstance(document, dict):
        return {key: _as_list_if_value(key, canonical(v)) for key, v in sorted(document.items())}
    if isinstance(document, list):
        items = [canonical(v) for v in document]
        return sorted(items, key=lambda v: json.dumps(v, sort_keys=True))
    return document


_LISTY_KEYS = frozenset({"Action", "Resource", "Service", "NotAction", "NotResource"})


def _as_list_if_value(key: str, value: Any) -> Any:
    return [value] if key in _LISTY_KEYS and isinstance(value, str) else value
