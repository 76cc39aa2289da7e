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

This module holds the settings, the seed's Scan approach, the list of measured reads
and the command line; the call meter is in reads_meter.py, the synthetic data in
reads_seed.py and the markdown in reads_report.py.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import django
from benchstage import FAKE_AWS, use_stage
from moto import mock_aws
from perfdoc import write_section
from reads_meter import DynamoMeter, Row, SizeReport, Timing, measure
from reads_report import HEADING, SCAN, section
from reads_seed import populate

from pipeline.core.config import PipelineConfig, get_config
from pipeline.deploy.provision import provision
from pipeline.local.emulator import install_moto_extensions
from pipeline.selectors.analytics import analytics_get
from pipeline.selectors.records import record_list
from pipeline.services.recount import recount
from pipeline.stores import aws

SIZES = (1_000, 10_000, 100_000)
RUNS = 5
BUDGET_SECONDS = 60.0
LIMIT = 20
STAGE = "bench"


# --- settings -----------------------------------------------------------------------------


ENVIRONMENT = {
    **FAKE_AWS,  # in-process moto needs no endpoint
    "DJANGO_SETTINGS_MODULE": "twl_site.settings",
    "TWL_API_ANON_RATE": "",  # no throttle: many requests a second
    "TWL_PAGE_RATE": "",
    "TWL_HEALTH_RATE": "",
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

    settings.AWS_REGION = "us-east-1"
    use_stage(STAGE, None)
    return get_config()


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
    """Progress goes to stderr, so stdout holds only the section."""
    print(line, file=sys.stderr, flush=True)


# --- command line -------------------------------------------------------------------------


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
    install_moto_extensions()
    config = configure()
    started = time.perf_counter()
    timing = Timing(args.runs, args.budget)
    reports = [bench_size(size, timing, config) for size in sizes]
    seconds = time.perf_counter() - started
    text = section(reports, timing, command(timing, sizes), seconds)
    print(text)
    log(f"total {seconds:.0f} s")
    if not args.no_doc:
        write_section(HEADING, text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
