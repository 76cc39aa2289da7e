"""The emulator's transaction speed fix keeps moto's all-or-nothing semantics."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from pipeline.deploy.provision import provision
from pipeline.stores import aws
from pipeline.stores.curated import record_get

pytestmark = pytest.mark.django_db


def put(table: str, record_id: str, version: int, condition: str | None = None) -> dict:
    op = {"TableName": table, "Item": {"id": {"S": record_id}, "version": {"N": str(version)}}}
    if condition:
        op["ConditionExpression"] = condition
    return {"Put": op}


def test_cancelled_transaction_leaves_every_item_as_it_was(config, moto_aws):
    provision(config=config)
    ddb, table = aws.dynamodb(config), config.curated_table
    ddb.transact_write_items(TransactItems=[put(table, "a", 1), put(table, "b", 1)])
    with pytest.raises(ClientError, match="TransactionCanceled"):
        ddb.transact_write_items(
            TransactItems=[
                put(table, "a", 2),  # would update
                put(table, "c", 1),  # would insert
                put(table, "b", 2, condition="attribute_not_exists(id)"),  # fails
            ]
        )
    assert record_get("a", config=config)["version"] == 1
    assert record_get("b", config=config)["version"] == 1
    assert record_get("c", config=config) is None


def test_committed_transaction_writes_every_item(config, moto_aws):
    provision(config=config)
    ddb, table = aws.dynamodb(config), config.curated_table
    ddb.transact_write_items(TransactItems=[put(table, f"r{i}", 1) for i in range(100)])
    assert record_get("r99", config=config)["version"] == 1
