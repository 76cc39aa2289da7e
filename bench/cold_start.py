# ruff: noqa: E402  (imports follow the environment set-up above them)
"""Benchmark: cold start through Zappa's handler, and the Lambda package's size.

    .venv/bin/python bench/cold_start.py [--runs 5] [--package PATH] [--no-doc]

Cold init is a fresh ``python -S`` process whose sys.path holds only the unzipped
package, as Lambda's /var/task (read-only, hence PYTHONDONTWRITEBYTECODE), from process
start to the reply to one API Gateway (REST, v1) event ``GET /api/records?limit=5``
through ``handler.lambda_handler``: Zappa reads its settings and the remote_env secret
from S3, sets Django up, and the view queries DynamoDB (moto's server on loopback).
The baseline is the same kind of process doing only ``import django, rest_framework,
boto3`` and ``django.setup()``. Both are timed from spawning the process to the moment
the reply (or ``django.setup()``) is done, so interpreter exit is not counted. Runs
alternate; medians and their ratio are reported for the package as deployed, without
its hash-based .pyc files (Zappa's default), and for two what-ifs that show where the
rest of the time goes: no psycopg in the package, and the secret in the Lambda
environment instead of Zappa's remote_env file.

Package size is measured on ``zappa package dev``'s zip; "trimmed" is what the stage's
``exclude``/``exclude_glob`` kept out of the project and the virtualenv.

The section "## Cold start and package size" of docs/PERFORMANCE.md is replaced, or
appended at the end when missing; other sections are left as they are.

This module holds the report and the command line; building and varying the package
is in cold_package.py, the timed child processes and moto's server in cold_child.py.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from cold_child import Timing, measure, measure_phases, start_aws
from cold_package import Variant, build_package, sizes, trimmed, unzip, variants
from perfdoc import write_section

HEADING = "## Cold start and package size"
RUNS = 5
MiB = 1024 * 1024
ZIPPED_LIMIT = 50 * MiB
UNZIPPED_LIMIT = 250 * MiB


# --- report --------------------------------------------------------------------------------


def report(
    timings: list[tuple[Variant, Timing]],
    phases: list[tuple[str, float]],
    size: tuple[int, int],
    cut: Counter[str],
    runs: int,
) -> str:
    zipped, unzipped = size
    rows = "\n".join(_row(variant.label, timing) for variant, timing in timings)
    steps = "\n".join(f"| {name} | {seconds * 1000:.0f} |" for name, seconds in phases)
    top = "\n".join(f"| `{rule}` | {amount / MiB:.1f} |" for rule, amount in cut.most_common(12))
    load = os.getloadavg()[0]
    return f"""{HEADING}

Measured by `bench/cold_start.py` ({time.strftime("%Y-%m-%d")}, {os.cpu_count()} CPUs,
load average {load:.1f} at the end, Python {platform.python_version()}, median of {runs}
runs each, handler and baseline runs alternating): `.venv/bin/python bench/cold_start.py`.

**Cold init**: a fresh `python -S` process with only the unzipped `zappa package dev`
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
  ratios are what this measures.

**Package** (`zappa package dev`, no `slim_handler`): **{zipped / MiB:.1f} MiB zipped**
(limit {ZIPPED_LIMIT // MiB} MiB for a direct upload), **{unzipped / MiB:.1f} MiB
unzipped** (limit {UNZIPPED_LIMIT // MiB} MiB). `exclude`/`exclude_glob` kept
{sum(cut.values()) / MiB:.0f} MiB of the project and virtualenv out (stale timestamp
`.pyc` files included); the largest rules:

| rule | MiB kept out |
|---|---|
{top}

`tests/test_zappa_handler.py` builds the same package in the test suite and asserts
both limits, the absence of tests and dev tools, and that the unzipped package alone
serves a request.
"""


def _row(label: str, timing: Timing) -> str:
    seconds = f"{timing.cold:.2f} s | {timing.baseline:.2f} s"
    return f"| {label} | {seconds} | {timing.ratio:.2f} | {timing.status} |"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=RUNS, help="runs of each (median)")
    parser.add_argument("--package", type=Path, help="an existing zip (default: build one)")
    parser.add_argument("--no-doc", action="store_true", help="print only")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    settings = json.loads((ROOT / "zappa_settings.json").read_text())["base"]
    with tempfile.TemporaryDirectory(prefix="twl-cold-") as tmp:
        work = Path(tmp)
        package = args.package or build_package(work / "twl-pipeline-dev.zip")
        candidates = variants(unzip(package, work / "task"), work)
        emulator, endpoint = start_aws()
        try:
            timings = [(v, measure(v, endpoint, args.runs)) for v in candidates]
            phases = measure_phases(candidates[0], endpoint, args.runs)
        finally:
            emulator.stop()
        text = report(timings, phases, sizes(package), trimmed(settings), args.runs)
    print(text)
    if not args.no_doc:
        write_section(HEADING, text)


if __name__ == "__main__":
    main()
