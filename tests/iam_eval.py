"""A small IAM evaluator for identity policies, and a recorder of the AWS calls code makes.

``allowing_statement`` answers whether an identity policy of Allow statements lets one
request through, as IAM would: actions match case-insensitively with ``*`` and ``?``,
resources match per ARN segment (``*`` spans ``/`` and ``:`` only inside the resource
part), and conditions use the operators below. Anything it does not know (a Deny, a
NotAction, an unknown condition operator) never makes a request allowed: a Deny or a
Not* element is an error, an unknown operator makes its statement not apply.

``CallRecorder`` hooks ``provide-client-params`` on every client
``pipeline.stores.aws`` hands out (the only place clients are built) and, inside its
``window()``, keeps each call's (service, operation, params); ``IamMapper`` turns a
call into the IAM requests AWS authorises for it, with the resource ARN and the
condition keys (``s3:prefix``, ``dynamodb:LeadingKeys``) taken from its params.
"""

from __future__ import annotations

import copy
import re
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import pytest

from pipeline.stores import aws

# Keys an identity policy statement may hold that this evaluator understands.
STATEMENT_KEYS = frozenset({"Sid", "Effect", "Action", "Resource", "Condition"})
STRING_MATCHERS: dict[str, Callable[[str, str], bool]] = {
    "StringEquals": lambda value, pattern: value == pattern,
    "StringLike": lambda value, pattern: glob_match(pattern, value),
}
ARN_SEGMENTS = 6  # arn:partition:service:region:account:resource


class UnsupportedPolicy(ValueError):
    """The policy holds something this evaluator cannot judge (it refuses to guess)."""


class UnmappedCall(ValueError):
    """A recorded call whose IAM action or resource this module does not know."""


@dataclass(frozen=True)
class IamRequest:
    """One authorisation IAM makes: an action on a resource, with its condition keys."""

    action: str
    resource: str
    context: tuple[tuple[str, tuple[str, ...]], ...] = ()

    @classmethod
    def of(
        cls, action: str, resource: str, context: Mapping[str, Sequence[str]] | None = None
    ) -> IamRequest:
        """A request with its condition keys, e.g. ``{"s3:prefix": ["raw/"]}``."""
        keys = tuple(sorted((k, tuple(v)) for k, v in (context or {}).items()))
        return cls(action=action, resource=resource, context=keys)

    def values(self, key: str) -> tuple[str, ...] | None:
        """The request's values of a condition key (names are case-insensitive)."""
        for name, values in self.context:
            if name.lower() == key.lower():
                return values
        return None


def glob_match(pattern: str, value: str, *, ignore_case: bool = False) -> bool:
    """IAM's wildcards: ``*`` any run of characters, ``?`` one; nothing else is special."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    flags = re.DOTALL | (re.IGNORECASE if ignore_case else 0)
    return re.fullmatch(regex, value, flags) is not None


def _as_list(value: Any) -> list[Any]:
    return [value] if isinstance(value, str) else list(value)


def action_matches(pattern: str, action: str) -> bool:
    return glob_match(pattern, action, ignore_case=True)


def resource_matches(pattern: str, resource: str) -> bool:
    """Each ARN segment against its own; only the last (the resource) may hold ``:``."""
    if pattern == "*":
        return True
    wanted = pattern.split(":", ARN_SEGMENTS - 1)
    given = resource.split(":", ARN_SEGMENTS - 1)
    if len(wanted) != ARN_SEGMENTS or len(given) != ARN_SEGMENTS:
        return False
    return all(glob_match(w, g) for w, g in zip(wanted, given, strict=True))


def condition_matches(condition: Mapping[str, Any], request: IamRequest) -> bool:
    """Every operator holds (AND); within a key, any pattern may match (OR)."""
    return all(
        _operator_holds(operator, key, _as_list(patterns), request)
        for operator, keys in condition.items()
        for key, patterns in keys.items()
    )


def _operator_holds(operator: str, key: str, patterns: list[str], request: IamRequest) -> bool:
    qualifier, _, name = operator.rpartition(":")
    matcher = STRING_MATCHERS.get(name)
    if matcher is None or qualifier not in ("", "ForAllValues", "ForAnyValue"):
        return False  # an operator this evaluator does not know: fail closed
    values = request.values(key)

    def any_pattern(value: str) -> bool:
        return any(matcher(value, pattern) for pattern in patterns)

    if qualifier == "ForAllValues":
        # IAM: true when the request has no value for the key (an empty set).
        return all(any_pattern(v) for v in values or ())
    if qualifier == "ForAnyValue":
        return any(any_pattern(v) for v in values or ())
    # A single-valued operator: the key must be there, with exactly one value.
    return values is not None and len(values) == 1 and any_pattern(values[0])


def allowing_statement(policy: Mapping[str, Any], request: IamRequest) -> str | None:
    """The Sid (or index) of the first statement allowing ``request``; None: denied."""
    for index, statement in enumerate(policy["Statement"]):
        unknown = set(statement) - STATEMENT_KEYS
        if unknown or statement["Effect"] != "Allow":
            raise UnsupportedPolicy(f"statement {index}: {sorted(unknown) or statement['Effect']}")
        if (
            any(action_matches(a, request.action) for a in _as_list(statement["Action"]))
            and any(resource_matches(r, request.resource) for r in _as_list(statement["Resource"]))
            and condition_matches(statement.get("Condition", {}), request)
        ):
            return str(statement.get("Sid", index))
    return None


def allowed(policy: Mapping[str, Any], request: IamRequest) -> bool:
    return allowing_statement(policy, request) is not None


def resolve_subs(document: Any, *, region: str, account_id: str) -> Any:
    """A template's document with each ``Fn::Sub`` of the pseudo parameters filled in."""
    if isinstance(document, dict):
        if set(document) == {"Fn::Sub"}:
            text = document["Fn::Sub"]
            if not isinstance(text, str):
                raise UnsupportedPolicy(f"Fn::Sub with variables: {text!r}")
            resolved = text.replace("${AWS::AccountId}", account_id)
            resolved = resolved.replace("${AWS::Region}", region)
            if "${" in resolved:
                raise UnsupportedPolicy(f"unresolved substitution in {text!r}")
            return resolved
        if any(key.startswith("Fn::") or key == "Ref" for key in document):
            raise UnsupportedPolicy(f"intrinsic function in a policy: {document!r}")
        return {
            k: resolve_subs(v, region=region, account_id=account_id) for k, v in document.items()
        }
    if isinstance(document, list):
        return [resolve_subs(v, region=region, account_id=account_id) for v in document]
    return document


# --- What AWS authorises for each call -----------------------------------------------------


@dataclass(frozen=True)
class AwsCall:
    """One API call as the code made it."""

    service: str
    operation: str
    params: Mapping[str, Any]


@dataclass(frozen=True)
class TableKeys:
    """A table's partition key attribute, and each index's."""

    partition_key: str
    index_keys: Mapping[str, str] = field(default_factory=dict)


def table_keys_from_template(template: Mapping[str, Any]) -> dict[str, TableKeys]:
    """Each DynamoDB table of a template dict, by name, with its partition keys."""

    def hash_key(schema: list[dict[str, str]]) -> str:
        [name] = [k["AttributeName"] for k in schema if k["KeyType"] == "HASH"]
        return name

    tables = {}
    for resource in template["Resources"].values():
        if resource["Type"] != "AWS::DynamoDB::Table":
            continue
        props = resource["Properties"]
        indexes = {
            i["IndexName"]: hash_key(i["KeySchema"])
            for i in props.get("GlobalSecondaryIndexes", [])
            + props.get("LocalSecondaryIndexes", [])
        }
        tables[props["TableName"]] = TableKeys(hash_key(props["KeySchema"]), indexes)
    return tables


S3_OBJECT_ACTIONS = {
    "GetObject": "s3:GetObject",
    "HeadObject": "s3:GetObject",
    "PutObject": "s3:PutObject",
    "DeleteObject": "s3:DeleteObject",
}
S3_BUCKET_ACTIONS = {"ListObjectsV2": "s3:ListBucket", "ListObjects": "s3:ListBucket"}
SQS_ACTIONS = {
    "GetQueueAttributes": "sqs:GetQueueAttributes",
    "SendMessage": "sqs:SendMessage",
    "SendMessageBatch": "sqs:SendMessage",
    "ReceiveMessage": "sqs:ReceiveMessage",
    "DeleteMessage": "sqs:DeleteMessage",
    "DeleteMessageBatch": "sqs:DeleteMessage",
    "ChangeMessageVisibility": "sqs:ChangeMessageVisibility",
    "ChangeMessageVisibilityBatch": "sqs:ChangeMessageVisibility",
    "PurgeQueue": "sqs:PurgeQueue",
}
DYNAMODB_ITEM_ACTIONS = ("GetItem", "PutItem", "UpdateItem", "DeleteItem")
# Inside a transaction each item is authorised as its own single-item action.
TRANSACT_ACTIONS = {
    "Put": "dynamodb:PutItem",
    "Update": "dynamodb:UpdateItem",
    "Delete": "dynamodb:DeleteItem",
    "ConditionCheck": "dynamodb:ConditionCheckItem",
    "Get": "dynamodb:GetItem",
}
_KEY_EQUALS = re.compile(r"^\s*\(?\s*([#\w.]+)\s*=\s*(:\w+)\s*\)?\s*$")


@dataclass(frozen=True)
class IamMapper:
    """Turns recorded calls into the IAM requests AWS makes for them, in one account."""

    region: str
    account_id: str
    tables: Mapping[str, TableKeys]

    def requests(self, call: AwsCall) -> list[IamRequest]:
        mapper = {
            "s3": self._s3,
            "sqs": self._sqs,
            "dynamodb": self._dynamodb,
            "lambda": self._lambda,
            "ssm": self._ssm,
        }.get(call.service)
        if mapper is None:
            raise UnmappedCall(f"{call.service}:{call.operation}")
        return mapper(call.operation, call.params)

    def _s3(self, operation: str, params: Mapping[str, Any]) -> list[IamRequest]:
        bucket = f"arn:aws:s3:::{params['Bucket']}"
        if operation in S3_OBJECT_ACTIONS:
            return [IamRequest.of(S3_OBJECT_ACTIONS[operation], f"{bucket}/{params['Key']}")]
        if operation in S3_BUCKET_ACTIONS:
            prefix = {"s3:prefix": [params["Prefix"]]} if "Prefix" in params else {}
            return [IamRequest.of(S3_BUCKET_ACTIONS[operation], bucket, prefix)]
        raise UnmappedCall(f"s3:{operation}")

    def _queue_arn(self, params: Mapping[str, Any]) -> str:
        if "QueueUrl" in params:
            account, name = urlsplit(params["QueueUrl"]).path.strip("/").split("/")
        else:
            account, name = (
                params.get("QueueOwnerAWSAccountId", self.account_id),
                params["QueueName"],
            )
        return f"arn:aws:sqs:{self.region}:{account}:{name}"

    def _sqs(self, operation: str, params: Mapping[str, Any]) -> list[IamRequest]:
        if operation == "GetQueueUrl":
            return [IamRequest.of("sqs:GetQueueUrl", self._queue_arn(params))]
        if operation in SQS_ACTIONS:
            return [IamRequest.of(SQS_ACTIONS[operation], self._queue_arn(params))]
        raise UnmappedCall(f"sqs:{operation}")

    def _table_arn(self, table: str, index: str | None = None) -> str:
        arn = f"arn:aws:dynamodb:{self.region}:{self.account_id}:table/{table}"
        return f"{arn}/index/{index}" if index else arn

    def _leading(self, table: str, keys: list[Mapping[str, Any]]) -> dict[str, list[str]]:
        """``dynamodb:LeadingKeys``: the partition key values of the items touched."""
        name = self.tables[table].partition_key
        return {"dynamodb:LeadingKeys": sorted({_scalar(key[name]) for key in keys})}

    def _query_leading(self, params: Mapping[str, Any]) -> dict[str, list[str]]:
        """The partition key value a Query's key condition fixes (IAM's LeadingKeys)."""
        keys = self.tables[params["TableName"]]
        index = params.get("IndexName")
        partition = keys.index_keys[index] if index else keys.partition_key
        names = params.get("ExpressionAttributeNames", {})
        values = params.get("ExpressionAttributeValues", {})
        for clause in re.split(r"\s+AND\s+", params["KeyConditionExpression"], flags=re.I):
            match = _KEY_EQUALS.match(clause)
            if match and names.get(match[1], match[1]) == partition:
                return {"dynamodb:LeadingKeys": [_scalar(values[match[2]])]}
        raise UnmappedCall(f"Query without an equality on {partition}: {params!r}"[:300])

    def _dynamodb(self, operation: str, params: Mapping[str, Any]) -> list[IamRequest]:
        action = f"dynamodb:{operation}"
        if operation in DYNAMODB_ITEM_ACTIONS:
            table = params["TableName"]
            key = params["Item"] if operation == "PutItem" else params["Key"]
            return [IamRequest.of(action, self._table_arn(table), self._leading(table, [key]))]
        if operation == "Query":
            arn = self._table_arn(params["TableName"], params.get("IndexName"))
            return [IamRequest.of(action, arn, self._query_leading(params))]
        if operation in ("Scan", "DescribeTable"):
            return [
                IamRequest.of(action, self._table_arn(params["TableName"], params.get("IndexName")))
            ]
        if operation == "BatchGetItem":
            return [
                IamRequest.of(action, self._table_arn(t), self._leading(t, r["Keys"]))
                for t, r in params["RequestItems"].items()
            ]
        if operation == "BatchWriteItem":
            return [
                IamRequest.of(
                    action, self._table_arn(t), self._leading(t, [_write_key(w) for w in writes])
                )
                for t, writes in params["RequestItems"].items()
            ]
        if operation in ("TransactWriteItems", "TransactGetItems"):
            return [self._transact_item(item) for item in params["TransactItems"]]
        raise UnmappedCall(action)

    def _transact_item(self, item: Mapping[str, Any]) -> IamRequest:
        [(kind, body)] = item.items()
        table = body["TableName"]
        key = body["Item"] if kind == "Put" else body["Key"]
        return IamRequest.of(
            TRANSACT_ACTIONS[kind], self._table_arn(table), self._leading(table, [key])
        )

    def _lambda(self, operation: str, params: Mapping[str, Any]) -> list[IamRequest]:
        if operation not in ("Invoke", "InvokeAsync"):
            raise UnmappedCall(f"lambda:{operation}")
        name = params["FunctionName"]
        arn = (
            name
            if name.startswith("arn:")
            else (f"arn:aws:lambda:{self.region}:{self.account_id}:function:{name}")
        )
        if params.get("Qualifier"):
            arn = f"{arn}:{params['Qualifier']}"
        return [IamRequest.of("lambda:InvokeFunction", arn)]

    def _ssm(self, operation: str, params: Mapping[str, Any]) -> list[IamRequest]:
        if operation != "GetParameter":
            raise UnmappedCall(f"ssm:{operation}")
        # A hierarchical name's leading "/" is the ARN's separator: parameter/a/b.
        name = str(params["Name"]).removeprefix("/")
        arn = f"arn:aws:ssm:{self.region}:{self.account_id}:parameter/{name}"
        return [IamRequest.of("ssm:GetParameter", arn)]


def _scalar(value: Mapping[str, Any]) -> str:
    """A key attribute's value as IAM compares it (S, N or B)."""
    [(kind, raw)] = value.items()
    if kind not in ("S", "N", "B"):
        raise UnmappedCall(f"key attribute of type {kind}")
    return raw.decode() if isinstance(raw, bytes) else str(raw)


def _write_key(write: Mapping[str, Any]) -> Mapping[str, Any]:
    if "PutRequest" in write:
        return write["PutRequest"]["Item"]
    return write["DeleteRequest"]["Key"]


# --- Recording the calls -----------------------------------------------------------------


class CallRecorder:
    """Keeps every call made through ``pipeline.stores.aws``'s clients inside ``window()``."""

    HOOK_ID = "tests.iam_eval.CallRecorder"

    def __init__(self) -> None:
        self.calls: list[AwsCall] = []
        self._recording = False
        self._lock = threading.Lock()

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Hook each client ``pipeline.stores.aws`` hands out (cached ones included)."""
        original = aws._client

        def hooked(service: str, config: Any) -> Any:
            client = original(service, config)
            # unique_id: a cached client is hooked once however often it is handed out.
            client.meta.events.register(
                "provide-client-params.*.*", self._record, unique_id=self.HOOK_ID
            )
            return client

        monkeypatch.setattr(aws, "_client", hooked)

    @contextmanager
    def window(self) -> Iterator[None]:
        """Record while the body runs (the function's code, not the test's set-up).

        Windows add up: ``calls`` holds what every window so far recorded.
        """
        self._recording = True
        try:
            yield
        finally:
            self._recording = False

    def _record(self, params: Mapping[str, Any], model: Any, **_: Any) -> None:
        if not self._recording:
            return
        call = AwsCall(
            service=model.service_model.signing_name,
            operation=model.name,
            params=copy.deepcopy(dict(params)),
        )
        with self._lock:  # record pages query partitions from a thread pool
            self.calls.append(call)
