# ruff: noqa: E402  (imports follow the environment set-up above them)
"""Benchmark: cold start through Zappa's handler, and the Lambda package's size.

    .venv/bin/python bench/cold_start.py [--runs 5] [--package PATH] [--no-doc]
        [--compare OLD.zip [--compare-label TEXT]]

Cold init is a fresh ``python -S`` process whose sys.path holds only the unzipped
package, as Lambda's /var/task (read-only, hence PYTHONDONTWRITEBYTECODE), from process
start to the reply to one API Gateway (REST, v1) event ``GET /api/records?limit=5``
through ``handler.lambda_handler``: Zappa reads its settings and the remote_env secret
from S3, sets Django up, and the view queries DynamoDB (moto's server on loopback).
The baseline is the same kind of process doing only ``import django, rest_framework,
boto3`` and ``django.setup()``. Both are timed from spawning the process to the moment
the reply (or ``django.setup()``) is done, so interpreter exit is not counted. Each run
times every package in turn (handler, then baseline), so a shared machine's changing
load falls on all alike; medians and their ratio are reported for the package as
deployed, without its hash-based .pyc files (Zappa's default), and for two what-ifs
that show where the rest of the time goes: no psycopg in the package, and the secret in
the Lambda environment instead of Zappa's remote_env file. ``--compare`` times an earlier zip in
the same run (its row's ratio is the comparison; absolute times vary between runs).

Keep-warm: Zappa's keep-warm event on a fresh container (the cold init it pays for
when Lambda has replaced the container) and on the warm one (what each ping costs);
the monthly cost per web stage follows from the rule's rate, the stage's memory size
and Lambda's us-east-1 prices.

Package size is measured on ``make package STAGE=dev``'s zip; "trimmed" is what the
stage's ``exclude``/``exclude_glob`` and the settings callback's botocore trim kept out
of the project and the virtualenv.

The section "## Cold start and package size" of docs/PERFORMANCE.md is replaced, or
appended at the end when missing; other sections are left as they are.

This module holds the report and the command line; building and varying the package
is in cold_package.py, the timed child processes and moto's server in cold_child.py.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import re
import shlex
import sys
import tempfile
import time
import zipfile
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from cold_child import (
    KEEP_WARM_CALLS,
    KeepWarm,
    Timing,
    measure,
    measure_keep_warm,
    measure_phases,
    start_aws,
)
from cold_package import Variant, build_package, sizes, trimmed, unzip, variants
from perfdoc import write_section

from pipeline.deploy import zappa_steps

HEADING = "## Cold start and package size"
RUNS = 5
MiB = 1024 * 1024
ZIPPED_LIMIT = 50 * MiB
ZIPPED_BUDGET = 40 * MiB  # asserted in tests/test_zappa_handler.py
UNZIPPED_LIMIT = 250 * MiB
WEB_STAGES = ("dev", "prod")
# Lambda, us-east-1, x86_64, on demand; duration is billed in whole milliseconds.
PRICE_PER_REQUEST = 0.20 / 1_000_000
PRICE_PER_GB_SECOND = 0.0000166667
PRICE_PER_PROVISIONED_GB_SECOND = 0.0000041667  # provisioned concurrency, kept ready
HALF_GB = 0.5  # the dev web stage's (and the workers') memory_size, 512 MB
MONTH_MINUTES = 30 * 24 * 60


# --- report --------------------------------------------------------------------------------


def report(
    timings: list[tuple[Variant, Timing]],
    phases: list[tuple[str, float]],
    warmth: KeepWarm,
    package: Path,
    cut: Counter[str],
    runs: int,
    command: str = "",
    compare_label: str | None = None,
) -> str:
    zipped, unzipped = sizes(package)
    rows = "\n".join(_row(variant.label, timing) for variant, timing in timings)
    steps = "\n".join(f"| {name} | {seconds * 1000:.0f} |" for name, seconds in phases)
    top = "\n".join(f"| `{rule}` | {amount / MiB:.1f} |" for rule, amount in cut.most_common(12))
    parts = "\n".join(
        f"| `{name}` | {amount / MiB:.2f} |"
        for name, amount in _composition(package).most_common(10)
    )
    load = os.getloadavg()[0]
    return f"""{HEADING}

Measured by `bench/cold_start.py` ({time.strftime("%Y-%m-%d")}, {os.cpu_count()} CPUs,
load average {load:.1f} at the end, Python {platform.python_version()}, median of {runs}
runs each; each run times every package in turn, handler then baseline):
`.venv/bin/python bench/cold_start.py{command}`.

**Cold init**: a fresh `python -S` process with only the unzipped `make package STAGE=dev`
zip on `sys.path` (as Lambda's read-only `/var/task`), from spawning it to the reply
to one API Gateway REST event `GET /api/records?limit=5` through Zappa's
`handler.lambda_handler`: it reads `zappa_settings.py` and the `remote_env` secret
from S3, sets Django up, resolves the URLconf and the view queries DynamoDB (moto's
server on loopback). **Baseline**: the same kind of process doing only
`import django, rest_framework, boto3` and `django.setup()`.

| package | cold init | baseline | ratio (goal <= 1.5) | reply |
|---|---|---|---|---|
{rows}

Where the deployed package's cold start goes (the handler's steps replayed one at a
time, medians, milliseconds; interpreter start-up, about 20 ms, not included):

| step | ms |
|---|---|
{steps}

- **Bytecode.** Zappa dates every zip entry 1980-01-01, so ordinary (timestamp) `.pyc`
  files never match their sources in Lambda, and `/var/task` is read-only: every cold
  start would compile Django, DRF and botocore again (second row). The `zip` callback
  (`pipeline.deploy.zappa_callbacks.compile_bytecode`) adds unchecked-hash `.pyc` files
  (PEP 552) compiled from the zip's own sources (first row).
- **The rest of the gap** is work the baseline does not do (table above): Zappa's
  handler imports werkzeug and builds an S3 resource for `remote_env`; the URLconf
  imports DRF's serializers, whose `rest_framework.compat` imports
  `django.contrib.postgres` and with it psycopg, plus drf-spectacular's views and the
  admin; the view builds a DynamoDB client. The what-if rows measure two of these
  (psycopg, `remote_env`); neither is applied: PostgreSQL is the admin's production
  database, and `remote_env` keeps the secret out of zappa_settings.json.
- Absolute times on Lambda differ (its CPU share grows with `memory_size`); the
  ratios are what this measures.{_compared(timings, compare_label)}

{_keep_warm_text(warmth, timings[0][1].cold)}

**Package** (`make package STAGE=dev`, no `slim_handler`): **{zipped / MiB:.1f} MiB
zipped** (budget {ZIPPED_BUDGET // MiB} MiB; Lambda's limit for a direct upload is
{ZIPPED_LIMIT // MiB} MiB), **{unzipped / MiB:.1f} MiB unzipped** (limit
{UNZIPPED_LIMIT // MiB} MiB). The largest parts, compressed:

| top-level entry | MiB zipped |
|---|---|
{parts}

`exclude`/`exclude_glob` and the settings callback kept {sum(cut.values()) / MiB:.0f} MiB
of the project and virtualenv out (stale timestamp `.pyc` files included; sizes
unzipped); the largest rules:

| rule | MiB kept out |
|---|---|
{top}

Why each cut is safe: docs/DEPLOY.md, "The package". `tests/test_zappa_handler.py`
builds the same package in the test suite and asserts the budget and both limits, the
absence of tests and dev tools, that the unzipped package alone serves a request, the
API docs and their (gzipped) assets, and builds a client for every AWS service it keeps.
"""


def _compared(timings: list[tuple[Variant, Timing]], label: str | None) -> str:
    """A bullet comparing the ``--compare`` row's ratio with the deployed package's."""
    if label is None:
        return ""
    [earlier] = [timing for variant, timing in timings if variant.label == label]
    deployed = timings[0][1]
    return (
        f"\n- **Compared in this run**: {label}, ratio {earlier.ratio:.2f}; the package as"
        f"\n  deployed, {deployed.ratio:.2f}."
    )


def _composition(package: Path) -> Counter[str]:
    """Compressed bytes per top-level entry of the zip."""
    with zipfile.ZipFile(package) as archive:
        totals: Counter[str] = Counter()
        for info in archive.infolist():
            totals[info.filename.split("/")[0]] += info.compress_size
    return totals


def _keep_warm_text(warmth: KeepWarm, cold_init: float) -> str:
    """The keep-warm measurements and what they cost a month per web stage."""
    rows = []
    for stage in WEB_STAGES:
        expression = zappa_steps.stage_setting(stage, "keep_warm_expression")
        memory_gb = zappa_steps.stage_setting(stage, "memory_size") / 1024
        calls = MONTH_MINUTES // _minutes(expression)
        billed_s = math.ceil(warmth.warm * 1000) / 1000  # whole milliseconds, at least one
        gb_s = calls * billed_s * memory_gb
        dollars = calls * PRICE_PER_REQUEST + gb_s * PRICE_PER_GB_SECOND
        rows.append(
            f"| `{stage}` | `{expression}` | {calls:,} | {memory_gb * 1024:.0f} MB | "
            f"{billed_s * 1000:.0f} ms | {gb_s:.1f} | ${dollars:.4f} |"
        )
    table = "\n".join(rows)
    init = warmth.cold * HALF_GB * PRICE_PER_GB_SECOND
    provisioned = MONTH_MINUTES * 60 * HALF_GB * PRICE_PER_PROVISIONED_GB_SECOND
    return f"""**Keep-warm** (`keep_warm: true` on the web stages): Zappa's keep-warm event
through `handler.lambda_handler` takes **{warmth.warm * 1e6:.0f} µs** on a warm container
(median of {KEEP_WARM_CALLS} calls in each of the runs: the handler recognises the
rule's name and returns before any request, AWS call or query) and
**{warmth.cold:.2f} s** on a fresh one (process start to return: the cold init it
exists to pay before a user does). Lambda bills whole milliseconds, so each warm ping
bills 1 ms. A month (30 days) per web stage, at us-east-1 prices ($0.20 per 1M
requests, $0.0000166667 per GB-s):

| stage | rule | invocations | memory | billed each | GB-s | cost |
|---|---|---|---|---|---|---|
{table}

- The requests are the whole cost; all of it fits in Lambda's free tier (1M requests,
  400,000 GB-s a month). With active tracing on, each ping is also an X-Ray trace
  (10,800 a month: $0.05 past X-Ray's 100,000 free traces) and three log lines
  (START/END/REPORT, about 4 MB a month: $0.002).
- When Lambda has replaced the idle container (it does so from time to time, every few
  hours as observed, and after each deploy), the ping pays the cold init above
  ({warmth.cold:.2f} s here), billed as the init phase: at 512 MB ${init:.6f} each,
  ${init * 24 * 30:.4f} a month even at one an hour.
- A ping on a fresh container sets Django up (and reads `remote_env`) but serves no
  request: the first request after it still imports the URLconf and builds its
  DynamoDB client, about {cold_init - warmth.cold:.1f} s here (cold init less the
  fresh ping), against the whole {cold_init:.2f} s without keep-warm.
- It keeps **one** container warm. A user who arrives while that container is busy
  (another request in flight) gets a new one, with a cold start; a burst of N
  concurrent users meets up to N - 1 cold starts, and keep-warm does nothing for them.
  More pings do not help either: the scheduled event is one invocation at a time.
  For N warm containers Lambda offers provisioned concurrency (a fixed monthly price
  per container: ${provisioned:.2f} a month at 512 MB), not configured here."""


def _minutes(expression: str) -> int:
    """The period of a ``rate(N minutes)`` expression, in minutes."""
    found = re.fullmatch(r"rate\((\d+) minutes?\)", expression)
    if not found:
        raise ValueError(f"not a rate in minutes: {expression}")
    return int(found.group(1))


def _row(label: str, timing: Timing) -> str:
    seconds = f"{timing.cold:.2f} s | {timing.baseline:.2f} s"
    return f"| {label} | {seconds} | {timing.ratio:.2f} | {timing.status} |"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=RUNS, help="runs of each (median)")
    parser.add_argument("--package", type=Path, help="an existing zip (default: build one)")
    parser.add_argument("--no-doc", action="store_true", help="print only")
    parser.add_argument("--compare", type=Path, help="an earlier zip to time in the same run")
    parser.add_argument(
        "--compare-label", default="the `--compare` package", help="its row's label"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    settings = json.loads((ROOT / "zappa_settings.json").read_text())["base"]
    with tempfile.TemporaryDirectory(prefix="twl-cold-") as tmp:
        work = Path(tmp)
        package = args.package or build_package(work / "twl-pipeline-dev.zip")
        earlier = None
        if args.compare:
            earlier = (args.compare_label, unzip(args.compare, work / "earlier"))
        candidates = variants(unzip(package, work / "task"), work, earlier)
        emulator, endpoint = start_aws()
        try:
            timings = list(zip(candidates, measure(candidates, endpoint, args.runs), strict=True))
            phases = measure_phases(candidates[0], endpoint, args.runs)
            warmth = measure_keep_warm(candidates[0], endpoint, args.runs)
        finally:
            emulator.stop()
        arguments = argv if argv is not None else sys.argv[1:]
        command = "".join(f" {shlex.quote(arg)}" for arg in arguments)
        label = args.compare_label if args.compare else None
        cut = trimmed(settings)
        text = report(timings, phases, warmth, package, cut, args.runs, command, label)
    print(text)
    if not args.no_doc:
        write_section(HEADING, text)


if __name__ == "__main__":
    main()
