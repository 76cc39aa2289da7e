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
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from perfdoc import write_section

DOC = ROOT / "docs" / "PERFORMANCE.md"
HEADING = "## Cold start and package size"
STAGE = "dev"
RUNS = 5
MiB = 1024 * 1024
ZIPPED_LIMIT = 50 * MiB
UNZIPPED_LIMIT = 250 * MiB
HOST = "abc123.execute-api.us-east-1.amazonaws.com"
SECRET = "bench-secret-" + "x" * 40

COLD = """
import json, sys, time
sys.path.insert(0, {package!r})
import handler
reply = handler.lambda_handler(json.loads({event!r}), None)
print(time.time(), reply["statusCode"])
"""
BASELINE = """
import os, sys, time
sys.path.insert(0, {package!r})
os.environ["DJANGO_SETTINGS_MODULE"] = "twl_site.settings"
import django, rest_framework, boto3
django.setup()
print(time.time(), "ready")
"""
# The same steps as Zappa's LambdaHandler (import, remote_env, Django, first request),
# one at a time, each timed: where the cold start goes.
PHASES = """
import time
marks = [("start", time.perf_counter())]
def mark(name):
    marks.append((name, time.perf_counter()))
import importlib, json, os, sys
sys.path.insert(0, {package!r})
import werkzeug.wrappers; mark("import werkzeug (Zappa's handler)")
import boto3; mark("import boto3")
import handler; mark("import Zappa's handler module")
settings = importlib.import_module("zappa_settings")
bucket, key = handler.parse_s3_url(settings.REMOTE_ENV)
s3 = boto3.Session().resource("s3"); mark("remote_env: S3 resource")
secrets = json.loads(s3.Object(bucket, key).get()["Body"].read()); mark("remote_env: GET")
os.environ.update(secrets, **settings.ENVIRONMENT_VARIABLES)
os.environ["DJANGO_SETTINGS_MODULE"] = settings.DJANGO_SETTINGS
from zappa.ext.django_zappa import get_django_wsgi
app = get_django_wsgi(settings.DJANGO_SETTINGS); mark("Django setup and WSGI app")
import twl_site.urls; mark("URLconf (DRF serializers, psycopg, drf-spectacular, admin)")
from pipeline.core.config import get_config
from pipeline.stores import aws
aws.dynamodb(get_config()); mark("DynamoDB client")
instance = handler.LambdaHandler.__new__(handler.LambdaHandler)
instance.settings, instance.trailing_slash = settings, True
instance.wsgi_app = handler.ZappaWSGIMiddleware(app)
instance._text_mimetypes = handler.DEFAULT_TEXT_MIMETYPES
instance.handler(json.loads({event!r}), None); mark("the request")
print(json.dumps([(n, t - p) for (_, p), (n, t) in zip(marks, marks[1:])]))
"""
PSYCOPG = ("psycopg", "psycopg_binary", "psycopg_binary.libs", "psycopg-*", "psycopg_binary-*")


@dataclass(frozen=True)
class Timing:
    """Median seconds of the handler's cold start and of the bare baseline."""

    cold: float
    baseline: float
    status: str

    @property
    def ratio(self) -> float:
        return self.cold / self.baseline


# --- the package ---------------------------------------------------------------------------


def build_package(output: Path) -> Path:
    """``zappa package dev`` as a user runs it (-j: no PyPI version check, so offline)."""
    zappa = Path(sys.executable).parent / "zappa"
    env = {**os.environ, "VIRTUAL_ENV": sys.prefix}
    command = [str(zappa), "package", STAGE, "-j", "--disable_progress", "-o", str(output)]
    subprocess.run(command, cwd=ROOT, env=env, check=True, capture_output=True)
    return output


def unzip(package: Path, target: Path) -> Path:
    with zipfile.ZipFile(package) as archive:
        archive.extractall(target)
    return target


@dataclass(frozen=True)
class Variant:
    """One unzipped package to time, and whether the secret comes from the environment."""

    label: str
    path: Path
    secret_in_env: bool = False


def variants(unzipped: Path, work: Path) -> list[Variant]:
    """As deployed, Zappa's default (no .pyc), and two what-ifs."""
    no_pyc = _copy(unzipped, work / "no-pyc", "__pycache__")
    no_psycopg = _copy(unzipped, work / "no-psycopg", *PSYCOPG)
    env_secret = _copy(unzipped, work / "env-secret")
    settings = env_secret / "zappa_settings.py"
    lines = settings.read_text().splitlines(keepends=True)
    settings.write_text("".join(line for line in lines if not line.startswith("REMOTE_ENV")))
    return [
        Variant("as deployed: hash-based `.pyc`, secret from `remote_env`", unzipped),
        Variant("Zappa's default: no `.pyc` in the zip", no_pyc),
        Variant("what-if: no psycopg in the package", no_psycopg),
        Variant("what-if: secret in the Lambda environment", env_secret, secret_in_env=True),
    ]


def _copy(source: Path, target: Path, *ignore: str) -> Path:
    shutil.copytree(source, target, ignore=shutil.ignore_patterns(*ignore))
    return target


def sizes(package: Path) -> tuple[int, int]:
    """(zipped, unzipped) bytes."""
    with zipfile.ZipFile(package) as archive:
        return package.stat().st_size, sum(i.file_size for i in archive.infolist())


# --- what the exclusions trimmed -----------------------------------------------------------


def trimmed(settings: dict) -> Counter[str]:
    """Bytes kept out of the package per exclude / exclude_glob rule (first match wins)."""
    exclude, globs = settings["exclude"], settings["exclude_glob"]
    site = Path(sys.prefix) / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}"
    roots = [ROOT, site / "site-packages"]
    totals: Counter[str] = Counter()
    for root in roots:
        for path in _files(root):
            parts = path.relative_to(root).parts
            rule = _rule(parts, exclude, globs)
            if rule:
                totals[rule] += path.stat().st_size
    return totals


def _files(root: Path) -> Iterator[Path]:
    skip = {".git", ".venv"}
    for directory, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d not in skip]
        for name in files:
            yield Path(directory, name)


def _rule(parts: tuple[str, ...], exclude: list[str], globs: list[str]) -> str | None:
    for pattern in exclude:  # shutil.ignore_patterns: a name at any depth
        if any(fnmatch.fnmatch(part, pattern) for part in parts):
            return f"exclude {pattern}"
    for pattern in globs:  # Path.glob on the package root
        segments = pattern.split("/")
        if len(parts) >= len(segments) and all(
            fnmatch.fnmatch(part, seg) for part, seg in zip(parts, segments, strict=False)
        ):
            return f"exclude_glob {pattern}"
    return None


# --- cold start ----------------------------------------------------------------------------


def start_aws() -> tuple[object, str]:
    """moto's server with the dev stage provisioned and the remote_env secret stored."""
    os.environ.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="us-east-1",
        DJANGO_SETTINGS_MODULE="twl_site.settings",
        TWL_STAGE=STAGE,
        TWL_S3_REQUIRE_TLS="false",
        TWL_LOG_LEVEL="WARNING",
    )
    from pipeline.local.emulator import Emulator

    emulator = Emulator(port=0).start()
    os.environ["AWS_ENDPOINT_URL"] = emulator.url
    import django

    django.setup()
    import boto3

    from pipeline.core.config import get_config
    from pipeline.core.names import resource_names
    from pipeline.deploy.provision import provision

    provision(config=get_config())
    s3 = boto3.client("s3", endpoint_url=emulator.url)
    names = resource_names(STAGE)
    s3.create_bucket(Bucket=names.deployment_bucket)
    body = json.dumps({"DJANGO_SECRET_KEY": SECRET}).encode()
    s3.put_object(Bucket=names.deployment_bucket, Key=names.remote_env_key, Body=body)
    return emulator, emulator.url


def child_env(endpoint: str, *, secret: bool) -> dict[str, str]:
    from pipeline.core.names import resource_names

    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_LAMBDA_FUNCTION_NAME": resource_names(STAGE).web_function,
        "PYTHONDONTWRITEBYTECODE": "1",
        "TWL_LOG_LEVEL": "WARNING",
        "TWL_S3_REQUIRE_TLS": "false",
    }
    if secret:  # the handler's run gets it from remote_env; the baseline has no Zappa
        env["DJANGO_SECRET_KEY"] = SECRET
    return env


def api_event() -> dict:
    headers = {"Host": HOST, "X-Forwarded-Proto": "https", "X-Forwarded-Port": "443"}
    return {
        "path": "/api/records",
        "httpMethod": "GET",
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": {"limit": "5"},
        "multiValueQueryStringParameters": {"limit": ["5"]},
        "requestContext": {"stage": STAGE},
        "body": None,
        "isBase64Encoded": False,
    }


def run_child(code: str, package: Path, env: dict[str, str]) -> tuple[float, str]:
    """Seconds from spawning ``python -S`` to the time it prints, and what it printed after."""
    started = time.time()
    done = subprocess.run(
        [sys.executable, "-S", "-c", code],
        cwd=package,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    stamp, _, status = done.stdout.strip().splitlines()[-1].partition(" ")
    return float(stamp) - started, status


def measure(variant: Variant, endpoint: str, runs: int) -> Timing:
    """Alternate handler and baseline runs; medians of each."""
    package = variant.path
    cold_code = COLD.format(package=str(package), event=json.dumps(api_event()))
    base_code = BASELINE.format(package=str(package))
    cold_env = child_env(endpoint, secret=variant.secret_in_env)
    colds, bases, statuses = [], [], set()
    for _ in range(runs):
        seconds, status = run_child(cold_code, package, cold_env)
        colds.append(seconds)
        statuses.add(status)
        bases.append(run_child(base_code, package, child_env(endpoint, secret=True))[0])
    return Timing(statistics.median(colds), statistics.median(bases), ",".join(sorted(statuses)))


def measure_phases(variant: Variant, endpoint: str, runs: int) -> list[tuple[str, float]]:
    """Median seconds of each step of the handler's cold start."""
    code = PHASES.format(package=str(variant.path), event=json.dumps(api_event()))
    env = child_env(endpoint, secret=False)
    samples: dict[str, list[float]] = {}
    for _ in range(runs):
        done = subprocess.run(
            [sys.executable, "-S", "-c", code],
            cwd=variant.path,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        for name, seconds in json.loads(done.stdout.strip().splitlines()[-1]):
            samples.setdefault(name, []).append(seconds)
    return [(name, statistics.median(values)) for name, values in samples.items()]


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


def write_doc(text: str, path: Path = DOC) -> None:
    """Replace (or append) this benchmark's section of docs/PERFORMANCE.md."""
    write_section(HEADING, text, path)


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
        write_doc(text)


if __name__ == "__main__":
    main()
