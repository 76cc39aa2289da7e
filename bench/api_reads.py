"""Benchmark: DynamoDB reads per API request, counters and index Queries against Scans.

For a curated table of 1k, 10k and 100k records (in-process moto), measure per
``GET /api/analytics`` and per ``GET /api/records`` page how many DynamoDB requests
are made and how many items DynamoDB reads, for the project's approach (aggregate
counters, index Queries) and for the seed's (a full Scan counted or sorted in
Python). Wall time (median of 5 runs; fewer once a call has taken 60 s in total) is a
secondary column. A full run takes about 35 minutes on 2 CPUs, nearly all of it moto
serialising Scan replies at 100k.

    .venv/bin/python bench/api_reads.py [--sizes 1000,10000,100000] [--runs 5] [--budget 60]
                                        [--no-doc]

The table is printed and written to docs/PERFORMANCE.md, replacing the section
"## API reads (issue: records and analytics without scans)".
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import io
import json
import os
import platform
import random
import statistics
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import django
from moto import mock_aws
from perfdoc import write_section

from pipeline.core.clock import iso
from pipeline.core.config import PipelineConfig, get_config
from pipeline.core.names import resource_names
from pipeline.core.payloads import fingerprint
from pipeline.deploy.provision import provision
from pipeline.local.emulator import install_moto_speedups
from pipeline.selectors.analytics import analytics_get
from pipeline.selectors.records import record_list
from pipeline.services.process import _curate_one
from pipeline.services.recount import recount
from pipeline.services.upsert import plan_upserts
from pipeline.sources import get_source
from pipeline.stores import aws
from pipeline.stores.counters import Delta
from pipeline.stores.curated import CuratedRecord
from pipeline.stores.ledger import feed_success_record
from pipeline.stores.messages import RawObjectMessage, message_build
from pipeline.stores.raw_store import raw_key

ROOT = Path(__file__).resolve().parents[1]
SIZES = (1_000, 10_000, 100_000)
RUNS = 5
BUDGET_SECONDS = 60.0
LIMIT = 20
STAGE = "bench"
BATCH_WRITE = 25
SEED = 20261128
DAYS_SPREAD = 10
SCAN = "seed: Scan"
DOC = ROOT / "docs" / "PERFORMANCE.md"
HEADING = "## API reads (issue: records and analytics without scans)"
SAMPLES = ROOT / "tests" / "samples"

# Share of records per feed, and items per capture (one raw object) as the sources
# send them: JSONPlaceholder's fixed arrays, RandomUser's 25 people an ingest.
FEED_MIX: dict[tuple[str, str], tuple[float, int]] = {
    ("jsonplaceholder", "post"): (0.16, 100),
    ("jsonplaceholder", "comment"): (0.40, 500),
    ("jsonplaceholder", "user"): (0.04, 10),
    ("randomuser", "user"): (0.40, 25),
}


# --- settings and counting -----------------------------------------------------------------


ENVIRONMENT = {
    # Fake credentials, so nothing can reach real AWS; in-process moto needs no endpoint.
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "DJANGO_SETTINGS_MODULE": "twl_site.settings",
    "TWL_S3_REQUIRE_TLS": "false",
    "TWL_API_ANON_RATE": "",  # no throttle: many requests a second
    "TWL_LOG_LEVEL": "WARNING",
    "TWL_SQLITE_PATH": ":memory:",
}


def configure() -> PipelineConfig:
    """Django settings for stage ``bench`` on in-process moto, as tests/conftest.py does."""
    os.environ.update(ENVIRONMENT)
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL"):
        os.environ.pop(name, None)
    django.setup()
    from django.conf import settings

    settings.AWS_ENDPOINT_URL = None
    settings.AWS_REGION = "us-east-1"
    names = resource_names(STAGE)
    settings.TWL_STAGE = STAGE
    settings.TWL_RAW_BUCKET = names.raw_bucket
    settings.TWL_QUEUE_NAME = names.queue
    settings.TWL_DLQ_NAME = names.dlq
    settings.TWL_CURATED_TABLE = names.curated_table
    settings.TWL_LEDGER_TABLE = names.ledger_table
    settings.TWL_S3_REQUIRE_TLS = False
    return get_config()


class DynamoMeter:
    """Counts DynamoDB requests and items read, as tests/api/conftest.py's DynamoCalls does.

    Items read are Items + Responses + Item; for a Scan or Query the larger of Items and
    ScannedCount, since a filtered Scan reads (and bills) every item it examines.
    """

    def __init__(self, client: Any) -> None:
        self.operations: Counter[str] = Counter()
        self.items_read = 0
        self.first_scan_page: int | None = None
        client.meta.events.register("before-call.dynamodb.*", self._before)
        client.meta.events.register("after-call.dynamodb.*", self._after)

    def reset(self) -> None:
        self.operations = Counter()
        self.items_read = 0

    @property
    def requests(self) -> int:
        return sum(self.operations.values())

    def _before(self, model: Any, **kwargs: Any) -> None:
        self.operations[model.name] += 1

    def _after(self, parsed: dict[str, Any], model: Any, **kwargs: Any) -> None:
        self.items_read += max(len(parsed.get("Items", [])), parsed.get("ScannedCount", 0))
        self.items_read += sum(len(v) for v in parsed.get("Responses", {}).values())
        self.items_read += 1 if "Item" in parsed else 0
        if model.name == "Scan" and self.first_scan_page is None:
            self.first_scan_page = parsed.get("ScannedCount", 0)


@dataclass(frozen=True)
class Timing:
    """How often to repeat each measured call."""

    runs: int
    budget_seconds: float  # stop repeating once a call has taken this long in total


@dataclass(frozen=True)
class Row:
    """One line of the result table."""

    size: int
    operation: str
    approach: str
    requests: int
    items_read: int
    median_ms: float
    runs: int


def measure(
    meter: DynamoMeter, call: Callable[[], object], timing: Timing
) -> tuple[int, int, float, int]:
    """Requests and items read by one call (the same every run), median ms, and runs made."""
    seen: set[tuple[int, int]] = set()
    times: list[float] = []
    while len(times) < timing.runs and sum(times) < timing.budget_seconds * 1000:
        meter.reset()
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
        seen.add((meter.requests, meter.items_read))
    if len(seen) != 1:
        raise RuntimeError(f"reads differ between runs: {sorted(seen)}")
    requests, items = seen.pop()
    return requests, items, statistics.median(times), len(times)


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
    while request and request.get(config.curated_table):
        reply = aws.dynamodb(config).batch_write_item(RequestItems=request)
        request = reply.get("UnprocessedItems") or {}


# --- the seed's approach: Scan the whole table --------------------------------------------


def scan_all(config: PipelineConfig, **kwargs: Any) -> Iterator[dict[str, Any]]:
    """Every item of the curated table, following LastEvaluatedKey page by page."""
    paginator = aws.dynamodb(config).get_paginator("scan")
    for page in paginator.paginate(TableName=config.curated_table, **kwargs):
        yield from page["Items"]


def seed_analytics(config: PipelineConfig) -> dict[str, Counter[str]]:
    """Counts by source, source/type and capture date from a full Scan."""
    names = {"#s": "source", "#t": "type", "#c": "captured_at"}
    counts: dict[str, Counter[str]] = {"source": Counter(), "type": Counter(), "date": Counter()}
    for item in scan_all(
        config, ProjectionExpression=", ".join(names), ExpressionAttributeNames=names
    ):
        source, type_ = item["source"]["S"], item["type"]["S"]
        counts["source"][source] += 1
        counts["type"][f"{source}#{type_}"] += 1
        counts["date"][item["captured_at"]["S"][:10]] += 1
    return counts


def seed_records_page(
    config: PipelineConfig, *, source: str | None = None, type_: str | None = None, page: int = 1
) -> list[dict[str, Any]]:
    """One page of records, newest first: Scan (filtered) everything, sort, slice."""
    kwargs: dict[str, Any] = {}
    conditions = {"#s": ("source", source), "#t": ("type", type_)}
    chosen = {k: v for k, v in conditions.items() if v[1] is not None}
    if chosen:
        kwargs["FilterExpression"] = " AND ".join(f"{k} = :{k[1]}" for k in chosen)
        kwargs["ExpressionAttributeNames"] = {k: name for k, (name, _) in chosen.items()}
        kwargs["ExpressionAttributeValues"] = {f":{k[1]}": {"S": v} for k, (_, v) in chosen.items()}
    items = sorted(
        scan_all(config, **kwargs),
        key=lambda i: (i["captured_at"]["S"], i["id"]["S"]),
        reverse=True,
    )
    return items[(page - 1) * LIMIT : page * LIMIT]


# --- one table size ---------------------------------------------------------------------


def _api_get(path: str) -> Callable[[], object]:
    """GET ``path`` through Django's test client (every middleware and DRF)."""
    from django.test import Client

    client = Client()

    def get() -> object:
        # The API's metrics middleware prints EMF lines; keep stdout for the table.
        with contextlib.redirect_stdout(io.StringIO()):
            reply = client.get(path)
        if reply.status_code != 200:
            raise RuntimeError(f"GET {path}: {reply.status_code} {reply.content[:200]!r}")
        return reply

    return get


def operations(config: PipelineConfig) -> list[tuple[str, str, Callable[[], object]]]:
    """(operation, approach, call) for every measured read."""
    cursor = record_list(limit=LIMIT, config=config).next_cursor
    counters, index, scan = "counters + 1-item Queries", "index Queries", SCAN + " + sort"

    def page(**kwargs: Any) -> Callable[[], object]:
        return lambda: record_list(limit=LIMIT, config=config, **kwargs)

    def seed_page(**kwargs: Any) -> Callable[[], object]:
        return lambda: seed_records_page(config, **kwargs)

    return [
        ("GET /api/analytics", counters, lambda: analytics_get(config=config)),
        ("GET /api/analytics (test client)", counters, _api_get("/api/analytics")),
        ("GET /api/analytics", SCAN, lambda: seed_analytics(config)),
        ("records page 1", index, page()),
        ("records page 1 (test client)", index, _api_get(f"/api/records?limit={LIMIT}")),
        ("records page 1", scan, seed_page()),
        ("records source=jsonplaceholder", index, page(source="jsonplaceholder")),
        ("records source=jsonplaceholder", scan, seed_page(source="jsonplaceholder")),
        ("records type=user", index, page(type_="user")),
        ("records type=user", scan, seed_page(type_="user")),
        ("records page 2 (next cursor)", index, page(cursor=cursor)),
        ("records page 2", scan, seed_page(page=2)),
    ]


@dataclass
class SizeReport:
    """Everything measured at one table size."""

    size: int
    populate_seconds: float
    rows: list[Row]
    drift: int | None
    first_scan_page: int | None


def bench_size(size: int, timing: Timing, config: PipelineConfig) -> SizeReport:
    """Provision, populate and measure one table size on a fresh in-process moto."""
    aws.reset_clients()
    with mock_aws():
        provision(config=config)
        seconds = populate(config, size)
        log(f"{size:>7,} records written in {seconds:.1f} s")
        drift = len(recount(config=config, fix=False).drift) if size == 1_000 else None
        meter = DynamoMeter(aws.dynamodb(config))
        rows = []
        for operation, approach, call in operations(config):
            row = Row(size, operation, approach, *measure(meter, call, timing))
            rows.append(row)
            log(f"{size:>7,} {operation} [{approach}]: {row.median_ms:,.1f} ms ({row.runs} runs)")
        report = SizeReport(size, seconds, rows, drift, meter.first_scan_page)
    aws.reset_clients()
    return report


def log(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


# --- output -------------------------------------------------------------------------------

TIMES = "\u00d7"  # the multiplication sign


def table(reports: list[SizeReport], timing: Timing) -> str:
    lines = [
        "| size | operation | approach | DynamoDB requests | items read | median ms |",
        "|---:|---|---|---:|---:|---:|",
    ]
    for report in reports:
        lines += [
            f"| {r.size:,} | {r.operation} | {r.approach} | {r.requests:,} | {r.items_read:,} "
            f"| {r.median_ms:,.1f}{_runs_mark(r.runs, timing)} |"
            for r in report.rows
        ]
    return "\n".join(lines)


def _runs_mark(runs: int, timing: Timing) -> str:
    if runs == timing.runs:
        return ""
    return f" ({runs} run{'s' if runs > 1 else ''})"


def _analytics_items(reports: list[SizeReport]) -> list[int]:
    return [
        r.items_read
        for report in reports
        for r in report.rows
        if r.operation.startswith("GET /api/analytics") and not r.approach.startswith(SCAN)
    ]


def speedups(report: SizeReport) -> list[float]:
    """Scan time over index time for each read both approaches make, at one size."""
    indexed: dict[str, Row] = {}
    for row in report.rows:
        if not row.approach.startswith(SCAN):
            indexed.setdefault(row.operation.split(" (")[0], row)
    return [
        row.median_ms / indexed[row.operation.split(" (")[0]].median_ms
        for row in report.rows
        if row.approach.startswith(SCAN)
    ]


def notes(reports: list[SizeReport], timing: Timing) -> str:
    worst = max(_analytics_items(reports))
    met = "met" if worst <= 10 else "NOT met"
    drift = [f"drift: {r.drift}" for r in reports if r.drift is not None]
    pages = ", ".join(
        f"{r.first_scan_page:,} of {r.size:,}" for r in reports if r.first_scan_page is not None
    )
    largest = reports[-1]
    ratios = speedups(largest)
    slowest_index = max(r.median_ms for r in largest.rows if not r.approach.startswith(SCAN))
    return "\n".join(
        [
            f"- Goal: analytics reads ≤ 10 items at every size: **{met}**, at most {worst} "
            "items at any size (one BatchGetItem of the TOTAL, SOURCES and month counter "
            "items, at most 4 as the 28-day window spans at most 2 months, plus two 1-item "
            "Queries per source for the oldest and newest capture).",
            f"- A records page reads at most partitions {TIMES} (limit + 1) items: "
            f"2 {TIMES} 21 = 42 unfiltered or `type=user` (2 partitions), 1 {TIMES} 21 = 21 "
            "for one source; page 2 (the `next` cursor) costs the same as page 1. None of it "
            "depends on the table's size.",
            "- The seed's Scan reads every item of the table on every request, so its items "
            "read (ScannedCount) and requests grow linearly with the table. The seed also "
            "made one Scan call without following `LastEvaluatedKey`, which is wrong past "
            f"1 MB per Scan page: one page held {pages} records here. The Scan rows above "
            "follow every page, the cheapest *correct* form of that approach.",
            "- Counters checked: `pipeline.services.recount.recount(fix=False)` on the "
            "1,000-record "
            f"table reports {', '.join(drift) or 'not run'}.",
            f"- Wall time: median of {timing.runs} runs (fewer where marked: a call stops "
            f"repeating once it has taken {timing.budget_seconds:.0f} s in total), in-process "
            "moto, shared machine: only ratios within one run mean anything. At "
            f"{largest.size:,} records the Scan approach took {min(ratios):.0f} to "
            f"{max(ratios):.0f}{TIMES} as long. Even the index path took up to "
            f"{slowest_index / 1000:.0f} s there, because moto answers every Query by walking "
            "and sorting the whole table (and spends most of a Scan serialising its reply); "
            "DynamoDB's Query reads only the items it returns. Read the counts, not the ms.",
        ]
    )


def duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min"


def machine() -> str:
    return (
        f"{datetime.now(UTC):%Y-%m-%d}, {os.cpu_count()} CPUs (nproc), "
        f"Python {platform.python_version()}, {platform.system()} {platform.machine()}"
    )


def command(timing: Timing, sizes: list[int]) -> str:
    """The command line that reproduces this run."""
    words = [".venv/bin/python bench/api_reads.py"]
    if sizes != list(SIZES):
        words.append("--sizes " + ",".join(str(s) for s in sizes))
    if timing.runs != RUNS:
        words.append(f"--runs {timing.runs}")
    if timing.budget_seconds != BUDGET_SECONDS:
        words.append(f"--budget {timing.budget_seconds:g}")
    return " ".join(words)


def section(reports: list[SizeReport], timing: Timing, sizes: list[int], seconds: float) -> str:
    populated = ", ".join(f"{r.size:,} in {r.populate_seconds:.0f} s" for r in reports)
    return "\n\n".join(
        [
            HEADING,
            f"Reproduce: `{command(timing, sizes)}` (rewrites this section; this run took "
            f"{duration(seconds)}). Measured {machine()}.",
            table(reports, timing),
            notes(reports, timing),
            HOW_POPULATED.format(populated=populated),
        ]
    )


HOW_POPULATED = """\
How the tables are filled (not through processing, which is exact but slow at 100k):
per size, a fresh in-process moto (`moto.mock_aws`, after `install_moto_speedups()`),
resources from `pipeline.deploy.provision.provision`. Records are synthetic source items
(JSONPlaceholder posts 16 %, comments 40 %, users 4 %; RandomUser people 40 %) in
captures of the sources' real sizes (100, 500, 10, 25 items) at random moments over the
last 10 days, curated by the sources' own `curate` and `pipeline.services.process._curate_one`
and made version-1 items by `pipeline.services.upsert.plan_upserts`, so every attribute is what
processing stores; they are written with BatchWriteItem, 25 a call, through boto3.
The analytics counters come from `pipeline.stores.counters.Delta` (`.insert()` per record),
written with the UpdateItem ops of its `transact_items()`, plus each feed's
last-success stamp. Raw objects are not written (no read here needs them). Requests
and items are counted by botocore event hooks on `aws.dynamodb(config)`, as
`tests/api/conftest.py::DynamoCalls` does.
Populating took {populated}: fast enough that moto's backend is not bypassed."""


def write_doc(text: str, path: Path = DOC) -> None:
    """Replace (or append) this benchmark's section of docs/PERFORMANCE.md."""
    write_section(HEADING, text, path)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=",".join(str(s) for s in SIZES))
    parser.add_argument("--runs", type=int, default=RUNS, help="runs per call (median)")
    parser.add_argument(
        "--budget", type=float, default=BUDGET_SECONDS, help="seconds per call before fewer runs"
    )
    parser.add_argument("--no-doc", action="store_true", help="print only")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    install_moto_speedups()
    config = configure()
    started = time.perf_counter()
    timing = Timing(args.runs, args.budget)
    reports = [bench_size(size, timing, config) for size in sizes]
    seconds = time.perf_counter() - started
    text = section(reports, timing, sizes, seconds)
    print(text)
    log(f"total {seconds:.0f} s")
    if not args.no_doc:
        write_doc(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
