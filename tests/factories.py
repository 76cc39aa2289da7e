"""Small payload builders for tests (the sandbox serves full-size ones)."""

from __future__ import annotations

import copy
import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pipeline.core.clock import iso, utc_now
from pipeline.core.payloads import content_hash
from pipeline.services.ingest import new_run_id
from pipeline.stores import raw_store
from pipeline.stores.messages import RawObjectMessage, message_build

SAMPLES = Path(__file__).parent / "samples"


def posts(n: int = 3, *, title: str = "post") -> list[dict[str, Any]]:
    return [
        {"userId": 1 + i % 10, "id": i + 1, "title": f"{title} {i + 1}", "body": "b"}
        for i in range(n)
    ]


def comments(n: int = 5) -> list[dict[str, Any]]:
    return [
        {"postId": 1 + i // 5, "id": i + 1, "name": f"c{i + 1}", "email": "a@b.c", "body": "x"}
        for i in range(n)
    ]


def users(n: int = 2) -> list[dict[str, Any]]:
    base = json.loads((SAMPLES / "jsonplaceholder_user.json").read_text())
    return [base | {"id": i + 1, "name": f"User {i + 1}"} for i in range(n)]


def person(**overrides: Any) -> dict[str, Any]:
    data = json.loads((SAMPLES / "randomuser_person.json").read_text())
    data = copy.deepcopy(data)
    data["login"]["uuid"] = str(uuid.uuid4())
    data.update(overrides)
    return data


def people(n: int = 3) -> dict[str, Any]:
    return {
        "results": [person() for _ in range(n)],
        "info": {"seed": "abc", "results": n, "page": 1, "version": "1.4"},
    }


def put_raw(
    config, source: str, type_: str, payload, *, captured_at: str | None = None, write: bool = True
) -> RawObjectMessage:
    """Store a payload as ingestion would (unless ``write`` is off), and return its message.

    Key stamp, ``captured-at`` metadata and the message's ``capturedAt`` are one moment
    (``captured_at`` when given, else now), as ingest writes them.
    """
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    moment = datetime.fromisoformat(captured_at) if captured_at else utc_now()
    digest = content_hash(body)
    key = raw_store.raw_key(
        source=source, type_=type_, captured_at=moment.astimezone(UTC), digest=digest
    )
    run_id = new_run_id(moment)
    if write:
        metadata = raw_metadata(source, type_, moment, digest, run_id)
        raw_store.raw_object_put(key=key, body=body, metadata=metadata, config=config)
    items = json.loads(body)
    items = items.get("results", []) if isinstance(items, dict) else items
    return message_build(
        source=source,
        type_=type_,
        bucket=config.raw_bucket,
        key=key,
        captured_at=iso(moment),
        digest=digest,
        record_count=len(items) if isinstance(items, list) else 0,
        run_id=run_id,
    )


def raw_metadata(
    source: str, type_: str, moment: datetime, digest: str, run_id: str
) -> dict[str, str]:
    """The S3 metadata ingest writes on a raw object."""
    return {
        "source": source,
        "type": type_,
        "captured-at": iso(moment),
        "content-sha256": digest,
        "run-id": run_id,
    }
