"""The data of bench/api_reads.py: synthetic source items, curated and written directly.

Processing is exact but slow at 100k records, so ``populate`` builds what it would
store instead: items shaped as the sources send them (``source_item``), in captures of
the sources' real sizes (``captures``), curated by the sources' own ``curate`` and
``_curate_one``, made version-1 items by ``plan_upserts``, and written with
BatchWriteItem; the analytics counters come from ``Delta`` and each feed's last-success
stamp from the ledger, so every attribute is what processing stores.
"""

from __future__ import annotations

import copy
import json
import random
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pipeline.core.clock import iso
from pipeline.core.config import PipelineConfig
from pipeline.core.payloads import fingerprint
from pipeline.services.process import _curate_one
from pipeline.services.upsert import plan_upserts
from pipeline.sources import get_source
from pipeline.stores import aws
from pipeline.stores.counters import Delta
from pipeline.stores.curated import CuratedRecord
from pipeline.stores.ledger import feed_success_record
from pipeline.stores.messages import RawObjectMessage, message_build
from pipeline.stores.raw_store import raw_key

SAMPLES = Path(__file__).resolve().parents[1] / "tests" / "samples"
BATCH_WRITE = 25  # BatchWriteItem's limit of items per call
SEED = 20261128
DAYS_SPREAD = 10

# Share of records per feed, and items per capture (one raw object) as the sources
# send them: JSONPlaceholder's fixed arrays, RandomUser's 25 people an ingest.
FEED_MIX: dict[tuple[str, str], tuple[float, int]] = {
    ("jsonplaceholder", "post"): (0.16, 100),
    ("jsonplaceholder", "comment"): (0.40, 500),
    ("jsonplaceholder", "user"): (0.04, 10),
    ("randomuser", "user"): (0.40, 25),
}


# --- synthetic source items, curated as processing would ---------------------------------


def _sample(name: str) -> dict[str, Any]:
    return json.loads((SAMPLES / name).read_text())


def source_item(source: str, type_: str, n: int, rng: random.Random) -> dict[str, Any]:
    """The ``n``-th item of a feed, shaped as the source sends it."""
    if (source, type_) == ("jsonplaceholder", "post"):
        return {"userId": 1 + n % 10, "id": n, "title": f"post {n}", "body": "lorem " * 30}
    if (source, type_) == ("jsonplaceholder", "comment"):
        body = "comment text " * 12
        return {"postId": 1 + n // 5, "id": n, "name": f"c{n}", "email": "a@b.c", "body": body}
    if source == "jsonplaceholder":
        return _sample("jsonplaceholder_user.json") | {"id": n, "name": f"User {n}"}
    person = copy.deepcopy(_sample("randomuser_person.json"))
    person["login"]["uuid"] = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    person["login"]["username"] = f"user{n}"
    return person


@dataclass(frozen=True)
class Capture:
    """One raw object: a feed's items captured at one moment."""

    source: str
    type: str
    captured_at: datetime
    first: int
    count: int


def captures(size: int, now: datetime, rng: random.Random) -> list[Capture]:
    """Captures holding ``size`` records in FEED_MIX shares, spread over the last 10 days."""
    found = []
    feeds = list(FEED_MIX.items())
    left = size
    for index, ((source, type_), (share, per_capture)) in enumerate(feeds):
        total = left if index == len(feeds) - 1 else round(size * share)
        left -= total
        for first in range(1, total + 1, per_capture):
            moment = now - timedelta(seconds=rng.uniform(0, DAYS_SPREAD * 86400))
            count = min(per_capture, total - first + 1)
            found.append(Capture(source, type_, moment, first, count))
    return sorted(found, key=lambda c: c.captured_at)


def capture_message(capture: Capture, bucket: str) -> RawObjectMessage:
    """The queue message processing would have received for this capture's raw object."""
    digest = fingerprint([capture.source, capture.type, capture.first, iso(capture.captured_at)])
    return message_build(
        source=capture.source,
        type_=capture.type,
        bucket=bucket,
        key=raw_key(
            source=capture.source,
            type_=capture.type,
            captured_at=capture.captured_at,
            digest=digest,
        ),
        captured_at=iso(capture.captured_at),
        digest=digest,
        record_count=capture.count,
        run_id=capture.captured_at.strftime("%Y%m%dT%H%M%SZ-bench"),
    )


def curated_records(capture: Capture, bucket: str, rng: random.Random) -> list[CuratedRecord]:
    """The capture's items curated by the source and ``_curate_one``, with processed_at."""
    message = capture_message(capture, bucket)
    source = get_source(capture.source)
    processed_at = iso(capture.captured_at + timedelta(seconds=rng.uniform(1, 30)))
    records = []
    for index in range(capture.count):
        item = source_item(capture.source, capture.type, capture.first + index, rng)
        record = _curate_one(message, index, item, source.curate(capture.type, item))
        attributes = record.attributes | {"processed_at": processed_at}
        records.append(CuratedRecord(record.id, record.fingerprint, record.captured_at, attributes))
    return records


# --- populating the tables ----------------------------------------------------------------


def populate(config: PipelineConfig, size: int) -> float:
    """Write ``size`` curated records and their counters; return the seconds it took."""
    started = time.perf_counter()
    rng = random.Random(SEED + size)
    delta = Delta()
    batch: list[dict[str, Any]] = []
    newest: dict[tuple[str, str], str] = {}
    for capture in captures(size, datetime.now(UTC), rng):
        records = curated_records(capture, config.raw_bucket, rng)
        plan = plan_upserts(records, {}, config.curated_table)  # all new: version 1 inserts
        batch += [write["Put"]["Item"] for write in plan.writes]
        for record in records:
            delta.insert(source=capture.source, type_=capture.type, captured_at=record.captured_at)
        newest[(capture.source, capture.type)] = iso(capture.captured_at)
        batch = _write_full_batches(config, batch)
    _batch_write(config, batch)
    for update in delta.transact_items(config.ledger_table):
        aws.dynamodb(config).update_item(**update["Update"])
    for (source, type_), at in newest.items():
        feed_success_record(source=source, type_=type_, at=at, config=config)
    return time.perf_counter() - started


def _write_full_batches(config: PipelineConfig, items: list[dict[str, Any]]) -> list:
    """Write every whole chunk of 25 items; return what is left over."""
    whole = len(items) - len(items) % BATCH_WRITE
    for start in range(0, whole, BATCH_WRITE):
        _batch_write(config, items[start : start + BATCH_WRITE])
    return items[whole:]


def _batch_write(config: PipelineConfig, items: list[dict[str, Any]]) -> None:
    request = {config.curated_table: [{"PutRequest": {"Item": item}} for item in items]}
    # BatchWriteItem may leave items unprocessed under load; resend them until none is.
    while request and request.get(config.curated_table):
        reply = aws.dynamodb(config).batch_write_item(RequestItems=request)
        request = reply.get("UnprocessedItems") or {}
