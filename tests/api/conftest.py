"""A provisioned in-process stack holding a known set of processed records."""

from __future__ import annotations

from collections import Counter

import pytest
from rest_framework.test import APIClient

from pipeline.services.process import process_message
from pipeline.stores import aws
from tests import factories
from tests.factories import put_raw


@pytest.fixture
def client() -> APIClient:
    return APIClient()


@pytest.fixture
def populated(stack):
    """30 posts, 25 comments, 5 users and 12 people, captured on different days."""
    batches = [
        ("jsonplaceholder", "post", factories.posts(30), "2026-11-20T10:00:00+00:00"),
        ("jsonplaceholder", "comment", factories.comments(25), "2026-11-24T11:00:00+00:00"),
        ("jsonplaceholder", "user", factories.users(5), "2026-11-26T12:00:00+00:00"),
        ("randomuser", "user", factories.people(12), "2026-11-27T13:00:00+00:00"),
    ]
    for source, type_, payload, captured in batches:
        process_message(put_raw(stack, source, type_, payload, captured_at=captured), config=stack)
    return stack


class DynamoCalls:
    """Records each DynamoDB operation and how many items it returned."""

    def __init__(self, client) -> None:
        self.operations: Counter[str] = Counter()
        self.items_read = 0
        client.meta.events.register("before-call.dynamodb.*", self._before)
        client.meta.events.register("after-call.dynamodb.*", self._after)

    def _before(self, model, **kwargs) -> None:
        self.operations[model.name] += 1

    def _after(self, parsed, **kwargs) -> None:
        self.items_read += len(parsed.get("Items", []))
        self.items_read += sum(len(v) for v in parsed.get("Responses", {}).values())
        self.items_read += 1 if "Item" in parsed else 0


@pytest.fixture
def dynamo_calls(stack) -> DynamoCalls:
    return DynamoCalls(aws.dynamodb(stack))
