"""The timed processes of bench/cold_start.py, and the AWS they talk to.

Each measurement is a fresh ``python -S`` child whose sys.path holds only one unzipped
package (``COLD``: Zappa's handler serving one API Gateway event; ``BASELINE``: Django,
DRF and boto3 alone; ``PHASES``: the handler's steps one at a time; ``KEEP_WARM``:
Zappa's keep-warm event on a fresh container, then on the warm one), with an explicit,
minimal environment (``child_env``), against moto's server on loopback (``start_aws``).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchstage import FAKE_AWS, use_stage
from cold_package import STAGE, Variant

from pipeline.core.names import resource_names

if TYPE_CHECKING:
    from pipeline.local.emulator import Emulator

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
# The first keep-warm event finds a fresh container (the cold init happens); the later
# ones find it warm, and are each timed in-process (what Lambda bills).
KEEP_WARM = """
import json, statistics, sys, time
sys.path.insert(0, {package!r})
import handler
event = json.loads({event!r})
assert handler.lambda_handler(event, None) is None
cold = time.time()
laps = []
for _ in range({calls}):
    started = time.perf_counter()
    handler.lambda_handler(event, None)
    laps.append(time.perf_counter() - started)
print(cold, statistics.median(laps))
"""
KEEP_WARM_CALLS = 200
# The function of the rule Zappa's ``schedule`` adds when ``keep_warm`` is on.
KEEP_WARM_FUNCTION = "handler.keep_warm_callback"
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


@dataclass(frozen=True)
class Timing:
    """Median seconds of the handler's cold start and of the bare baseline."""

    cold: float
    baseline: float
    status: str

    @property
    def ratio(self) -> float:
        return self.cold / self.baseline


def start_aws() -> tuple[Emulator, str]:
    """moto's server with the dev stage provisioned and the remote_env secret stored."""
    os.environ.update(FAKE_AWS, DJANGO_SETTINGS_MODULE="twl_site.settings", TWL_LOG_LEVEL="WARNING")
    from pipeline.local.emulator import Emulator

    emulator = Emulator(port=0).start()
    import django

    django.setup()  # builds the settings from the environment set above
    use_stage(STAGE, emulator.url)
    import boto3

    from pipeline.core.config import get_config
    from pipeline.deploy.provision import provision

    provision(config=get_config())
    s3 = boto3.client("s3", endpoint_url=emulator.url)
    names = resource_names(STAGE)
    s3.create_bucket(Bucket=names.deployment_bucket)
    body = json.dumps({"DJANGO_SECRET_KEY": SECRET}).encode()
    s3.put_object(Bucket=names.deployment_bucket, Key=names.remote_env_key, Body=body)
    return emulator, emulator.url


def child_env(endpoint: str, *, secret: bool) -> dict[str, str]:
    """All a child sees: nothing of this process's environment leaks into the timing."""
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
    }
    if secret:  # the handler's run gets it from remote_env; the baseline has no Zappa
        env["DJANGO_SECRET_KEY"] = SECRET
    return env


def api_event() -> dict[str, Any]:
    """API Gateway's REST (v1) event for ``GET /api/records?limit=5``."""
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


@dataclass(frozen=True)
class KeepWarm:
    """Median seconds of a keep-warm event on a fresh container and on the warm one."""

    cold: float
    warm: float


def keep_warm_event() -> dict[str, Any]:
    """The scheduled event of the stage's keep-warm rule, named as Zappa names it."""
    from zappa.core import Zappa

    from pipeline.deploy import zappa_steps

    schedule = {
        "name": "zappa-keep-warm",
        "function": KEEP_WARM_FUNCTION,
        "expression": zappa_steps.stage_setting(STAGE, "keep_warm_expression"),
    }
    namer = Zappa(load_credentials=False, aws_region="us-east-1")
    rule = namer.get_scheduled_event_name(
        schedule, KEEP_WARM_FUNCTION, resource_names(STAGE).web_function
    )
    return {
        "version": "0",
        "id": "bench-keep-warm",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": "2026-12-01T00:00:00Z",
        "region": "us-east-1",
        "resources": [f"arn:aws:events:us-east-1:123456789012:rule/{rule}"],
        "detail": {},
    }


def measure_keep_warm(variant: Variant, endpoint: str, runs: int) -> KeepWarm:
    """Medians over ``runs`` fresh children; each times ``KEEP_WARM_CALLS`` warm calls."""
    code = KEEP_WARM.format(
        package=str(variant.path), event=json.dumps(keep_warm_event()), calls=KEEP_WARM_CALLS
    )
    env = child_env(endpoint, secret=False)
    colds, warms = [], []
    for _ in range(runs):
        seconds, warm = run_child(code, variant.path, env)
        colds.append(seconds)
        warms.append(float(warm))
    return KeepWarm(statistics.median(colds), statistics.median(warms))


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


def measure(variants: list[Variant], endpoint: str, runs: int) -> list[Timing]:
    """Medians per variant; each run times every variant in turn, handler then baseline.

    Interleaving spreads a shared machine's changing load over all the variants alike,
    so their ratios are comparable within the run.
    """
    colds: dict[int, list[float]] = {i: [] for i in range(len(variants))}
    bases: dict[int, list[float]] = {i: [] for i in range(len(variants))}
    statuses: dict[int, set[str]] = {i: set() for i in range(len(variants))}
    event = json.dumps(api_event())
    for _ in range(runs):
        for i, variant in enumerate(variants):
            package = variant.path
            cold_env = child_env(endpoint, secret=variant.secret_in_env)
            seconds, status = run_child(
                COLD.format(package=str(package), event=event), package, cold_env
            )
            colds[i].append(seconds)
            statuses[i].add(status)
            base_code = BASELINE.format(package=str(package))
            bases[i].append(run_child(base_code, package, child_env(endpoint, secret=True))[0])
    return [
        Timing(
            statistics.median(colds[i]), statistics.median(bases[i]), ",".join(sorted(statuses[i]))
        )
        for i in range(len(variants))
    ]


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
