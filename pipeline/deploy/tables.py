"""Provision the curated and ledger tables: on demand, KMS-encrypted, indexes, item TTL."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, Final

from pipeline.core.config import PipelineConfig
from pipeline.core.constants import (
    CURATED_PK,
    LEDGER_PK,
    LEDGER_SK,
    RUNS_INDEX,
    RUNS_INDEX_PK,
    RUNS_INDEX_SK,
    SOURCE_INDEX,
    SOURCE_INDEX_PK,
    SOURCE_INDEX_SK,
    TYPE_INDEX,
    TYPE_INDEX_PK,
    TYPE_INDEX_SK,
)
from pipeline.deploy.reconcile import (
    Change,
    Setting,
    cannot_fix,
    change_for,
    create_missing,
    or_none,
    reconcile,
)
from pipeline.stores import aws
from pipeline.stores.throttle import LEDGER_TTL_ATTRIBUTE

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import (
        AttributeDefinitionTypeDef,
        GlobalSecondaryIndexTypeDef,
        KeySchemaElementTypeDef,
        TableDescriptionTypeDef,
        WaiterConfigTypeDef,
    )

PAY_PER_REQUEST: Final = "PAY_PER_REQUEST"
# A table whose SSE is switching on is treated as encrypted; writing again would fail.
SSE_ON_STATUSES = frozenset({"ENABLED", "ENABLING", "UPDATING"})
# Table creation takes seconds on AWS; moto answers ACTIVE at the first poll.
TABLE_WAITER_CONFIG: WaiterConfigTypeDef = {"Delay": 2, "MaxAttempts": 150}
# TTL being switched on counts as on; asking again while it switches fails.
TTL_ON_STATUSES = frozenset({"ENABLED", "ENABLING"})


@dataclass(frozen=True)
class IndexSpec:
    """One global secondary index, projecting every attribute."""

    name: str
    pk: str
    sk: str

    def shape(self) -> dict[str, Any]:
        """The GSI's key schema and projection, as describe_table reports them."""
        return {"KeySchema": _key_schema(self.pk, self.sk), "Projection": "ALL"}

    def definition(self) -> GlobalSecondaryIndexTypeDef:
        """The GSI in create_table / update_table shape."""
        keys = _key_schema(self.pk, self.sk)
        return {"IndexName": self.name, "KeySchema": keys, "Projection": {"ProjectionType": "ALL"}}


@dataclass(frozen=True)
class TableSpec:
    """The shape of one DynamoDB table: keys, global secondary indexes, TTL attribute."""

    name: str
    pk: str
    sk: str | None
    indexes: tuple[IndexSpec, ...]
    # Items whose attribute (epoch seconds) has passed are deleted by DynamoDB.
    ttl_attribute: str | None = None

    def key_schema(self) -> list[KeySchemaElementTypeDef]:
        """Table key schema in DynamoDB's wire shape."""
        return _key_schema(self.pk, self.sk)

    def attribute_definitions(self) -> list[AttributeDefinitionTypeDef]:
        """String definitions for every key attribute of the table and its indexes."""
        keys = [self.pk, self.sk] + [k for i in self.indexes for k in (i.pk, i.sk)]
        names = dict.fromkeys(n for n in keys if n)
        return [{"AttributeName": n, "AttributeType": "S"} for n in names]


def table_specs(cfg: PipelineConfig) -> list[TableSpec]:
    """The curated and ledger table shapes under ``cfg``."""
    curated_indexes = (
        IndexSpec(SOURCE_INDEX, SOURCE_INDEX_PK, SOURCE_INDEX_SK),
        IndexSpec(TYPE_INDEX, TYPE_INDEX_PK, TYPE_INDEX_SK),
    )
    runs_index = (IndexSpec(RUNS_INDEX, RUNS_INDEX_PK, RUNS_INDEX_SK),)
    return [
        TableSpec(cfg.curated_table, CURATED_PK, None, curated_indexes),
        # TTL: the throttle's per-window counters expire on their own.
        TableSpec(cfg.ledger_table, LEDGER_PK, LEDGER_SK, runs_index, LEDGER_TTL_ATTRIBUTE),
    ]


def provision_table(cfg: PipelineConfig, spec: TableSpec, *, check_only: bool) -> Change:
    """Ensure one on-demand, KMS-encrypted table with its keys and GSI."""
    ddb = aws.dynamodb(cfg)
    resource = f"dynamodb:{spec.name}"
    table = _current_table(ddb, spec.name, check_only=check_only)
    if table is None:
        create = partial(_create_table, ddb, spec)
        return create_missing(resource, kind="table", create=create, check_only=check_only)
    diffs = reconcile(_table_settings(ddb, spec, table), check_only=check_only)
    return change_for(resource, diffs, check_only=check_only)


def _current_table(
    ddb: DynamoDBClient, name: str, *, check_only: bool
) -> TableDescriptionTypeDef | None:
    """describe_table's Table, or None; waits out a running update first unless checking."""
    missing = frozenset({"ResourceNotFoundException"})
    reply = or_none(ddb.describe_table, missing, TableName=name)
    if reply is None or check_only or reply["Table"]["TableStatus"] == "ACTIVE":
        return reply["Table"] if reply else None
    _wait_active(ddb, name)
    return ddb.describe_table(TableName=name)["Table"]


def _create_table(ddb: DynamoDBClient, spec: TableSpec) -> None:
    """Create the table with every desired setting and wait until it is usable."""
    ddb.create_table(
        TableName=spec.name,
        BillingMode=PAY_PER_REQUEST,
        AttributeDefinitions=spec.attribute_definitions(),
        KeySchema=spec.key_schema(),
        GlobalSecondaryIndexes=[i.definition() for i in spec.indexes],
        SSESpecification={"Enabled": True, "SSEType": "KMS"},
    )
    _wait_active(ddb, spec.name)
    if spec.ttl_attribute:
        _enable_ttl(ddb, spec.name, spec.ttl_attribute)


def _update_table(ddb: DynamoDBClient, name: str, **changes: Any) -> None:
    """Apply one update_table change and wait, since AWS allows one update at a time."""
    ddb.update_table(TableName=name, **changes)
    _wait_active(ddb, name)


def _wait_active(ddb: DynamoDBClient, name: str) -> None:
    """Block until the table is ACTIVE."""
    ddb.get_waiter("table_exists").wait(TableName=name, WaiterConfig=TABLE_WAITER_CONFIG)


def _table_settings(
    ddb: DynamoDBClient, spec: TableSpec, table: TableDescriptionTypeDef
) -> list[Setting]:
    """The table's settings, key schema first so an unfixable table fails before any write."""
    update = partial(_update_table, ddb, spec.name)
    return [
        Setting(
            "key schema",
            spec.key_schema(),
            table.get("KeySchema"),
            partial(cannot_fix, f"table {spec.name}: key schema differs; recreate the table"),
        ),
        Setting(
            "billing mode",
            PAY_PER_REQUEST,
            table.get("BillingModeSummary", {}).get("BillingMode", "PROVISIONED"),
            partial(update, BillingMode=PAY_PER_REQUEST),
        ),
        Setting(
            "encryption (KMS)",
            True,
            table.get("SSEDescription", {}).get("Status") in SSE_ON_STATUSES,
            partial(update, SSESpecification={"Enabled": True, "SSEType": "KMS"}),
        ),
        *_ttl_settings(ddb, spec),
        # Last: AWS keeps backfilling a new index after the table turns ACTIVE again.
        *(
            _index_setting(update, spec, index, _index_shape(table, index.name))
            for index in spec.indexes
        ),
    ]


def _ttl_settings(ddb: DynamoDBClient, spec: TableSpec) -> list[Setting]:
    """The TTL attribute when the spec has one: on, on that attribute."""
    if not spec.ttl_attribute:
        return []
    described = ddb.describe_time_to_live(TableName=spec.name)["TimeToLiveDescription"]
    on = described.get("TimeToLiveStatus") in TTL_ON_STATUSES
    current = described.get("AttributeName") if on else None
    if current is None:
        write: Callable[[], object] = partial(_enable_ttl, ddb, spec.name, spec.ttl_attribute)
    else:
        # AWS changes the attribute only by disabling TTL first, then waiting up to an hour.
        message = (
            f"table {spec.name}: TTL is on attribute {current!r}; disable it, then provision "
            "again (AWS allows re-enabling after about an hour)"
        )
        write = partial(cannot_fix, message)
    return [Setting("time to live", spec.ttl_attribute, current, write)]


def _enable_ttl(ddb: DynamoDBClient, name: str, attribute: str) -> None:
    ddb.update_time_to_live(
        TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": attribute}
    )


def _index_setting(
    update: Callable[..., None], spec: TableSpec, index: IndexSpec, current: dict[str, Any] | None
) -> Setting:
    return Setting(
        f"index {index.name}",
        index.shape(),
        current,
        _index_writer(update, spec, index, exists=current is not None),
    )


def _index_shape(table: TableDescriptionTypeDef, index: str) -> dict[str, Any] | None:
    """The named GSI's key schema and projection type, or None when it is absent."""
    found = [i for i in table.get("GlobalSecondaryIndexes", []) if i["IndexName"] == index]
    if not found:
        return None
    return {
        "KeySchema": found[0]["KeySchema"],
        "Projection": found[0]["Projection"]["ProjectionType"],
    }


def _index_writer(
    update: Callable[..., None], spec: TableSpec, index: IndexSpec, *, exists: bool
) -> Callable[[], object]:
    """Add a missing GSI; a differing one cannot be altered in place."""
    if exists:
        message = f"table {spec.name}: index {index.name} differs; delete it and provision again"
        return partial(cannot_fix, message)
    return partial(
        update,
        AttributeDefinitions=spec.attribute_definitions(),
        GlobalSecondaryIndexUpdates=[{"Create": index.definition()}],
    )


def _key_schema(pk: str, sk: str | None) -> list[KeySchemaElementTypeDef]:
    """HASH (and RANGE) key elements in DynamoDB's wire shape."""
    keys: list[KeySchemaElementTypeDef] = [{"AttributeName": pk, "KeyType": "HASH"}]
    return keys + ([{"AttributeName": sk, "KeyType": "RANGE"}] if sk else [])
