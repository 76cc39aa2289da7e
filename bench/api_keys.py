"""Benchmark: what an API key costs per request, with the admin's database in S3 as in Lambda.

    .venv/bin/python bench/api_keys.py [-n 300] [--warmup 10] [--records 200] [--no-doc]

One process, one run: moto's server on loopback (``cold_child.start_aws``, stage
``dev``), the admin's database on the s3sqlite backend (``TWL_ADMIN_DB=s3``, migrated,
two keys issued), DEBUG off, and ``GET /api/records?limit=1`` sent straight to Django's
WSGI handler, as Zappa does. Not through Django's test ``Client``: it keeps the database
connection open across requests (it disconnects ``close_old_connections``), so a key
would cost its conditional GET once per run instead of once per request.

Each round sends one request of every configuration (the order rotating), so a shared
machine's changing load falls on all alike; after ``--warmup`` untimed rounds, ``-n``
rounds are timed. Two probes run in the same rounds and show where a key's time goes:
the s3sqlite ``store.fetch`` alone (read and hash the local copy, one conditional GET),
and a key lookup on a fresh connection (fetch, open SQLite, query, verify the SHA-512
hash, close). AWS calls are counted per request through botocore's ``after-call`` hook
on the clients of ``pipeline.stores.aws``; the s3sqlite backend uses that module's S3
client too (``store.fetch``/``store.upload`` call ``aws.s3(config)``).

The section "## API keys: what a key costs per request" of docs/PERFORMANCE.md is
replaced, or appended at the end when missing.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import platform
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast
from wsgiref.util import setup_testing_defaults

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from cold_child import SECRET, start_aws
from perfdoc import write_section

HEADING = "## API keys: what a key costs per request"
ROUNDS = 300
WARMUP = 10
RECORDS = 200
PATH, QUERY = "/api/records", "limit=1"
# High enough that no run is ever refused; the counters still run on every request.
HIGH_RATE = "1000000/minute"
UNKNOWN_KEY = "Zz9Zz9Zz." + "x" * 32  # well-formed, so it is looked up (the costly 401)
CLIENT_ADDRESS = "203.0.113.7"
TIMES, NONE = "\N{MULTIPLICATION SIGN}", "\N{EN DASH}"  # as the doc's other tables write them

ENVIRONMENT = {
    "TWL_ADMIN_DB": "s3",  # the Lambda default: one SQLite file in the raw bucket
    "DJANGO_DEBUG": "false",
    "DJANGO_SECRET_KEY": SECRET,
    "TWL_API_ACCESS": "key",
    "TWL_API_ANON_RATE": HIGH_RATE,
    "TWL_API_KEY_RATE": HIGH_RATE,
    "TWL_LOG_LEVEL": "WARNING",
}


@dataclass(frozen=True)
class Case:
    """One measured configuration: a request (or a probe) and the status it must get."""

    label: str
    call: Callable[[], int]
    expected: int


@dataclass
class Result:
    """Times and AWS calls of one configuration over the timed rounds."""

    times_ms: list[float] = field(default_factory=list)
    calls: Counter[str] = field(default_factory=Counter)
    all_calls: Counter[str] = field(default_factory=Counter)  # warm-up rounds included

    @property
    def median(self) -> float:
        return statistics.median(self.times_ms)

    @property
    def p90(self) -> float:
        return statistics.quantiles(self.times_ms, n=10)[-1]

    def mean_calls(self, service: str) -> float:
        total = sum(n for name, n in self.calls.items() if name.startswith(service + " "))
        return total / len(self.times_ms)


class AwsMeter:
    """AWS calls by service and operation; S3 GetObject also by HTTP status (304 or 200)."""

    def __init__(self, clients: list[Any]) -> None:
        self.calls: Counter[str] = Counter()
        for client in clients:
            client.meta.events.register("after-call.*.*", self._after)

    def _after(self, http_response: Any, model: Any, **kwargs: Any) -> None:
        name = f"{model.service_model.service_id} {model.name}"
        if model.name == "GetObject":
            name += f" ({http_response.status_code})"
        self.calls[name] += 1

    def take(self) -> Counter[str]:
        taken, self.calls = self.calls, Counter()
        return taken


# --- set-up --------------------------------------------------------------------------------


def set_up(records: int, local_copy: Path) -> tuple[Any, Path, dict[str, str]]:
    """moto, the stage, records, the migrated admin database in S3 and two keys."""
    os.environ.update(ENVIRONMENT)
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "DATABASE_URL", "LAMBDA_TASK_ROOT"):
        os.environ.pop(name, None)
    emulator, _ = start_aws()  # sets Django up with the environment above
    from django.conf import settings

    # Its own local copy, not the shared temp dir: other runs on this machine use stage
    # dev's default path with their own moto. Only the path differs from Lambda's.
    cast(dict, settings.DATABASES["default"])["NAME"] = str(local_copy)
    from django.core.management import call_command
    from django.db import connections
    from reads_seed import populate

    from pipeline.core.config import get_config
    from pipeline.services.apikeys import key_create

    populate(get_config(), records)
    call_command("migrate", verbosity=0)
    keys = {name: key_create(name, scopes=[])[1] for name in ("bench key", "bench key 2")}
    connections.close_all()  # uploads the database, as manage.py does when it ends
    return emulator, local_copy, keys


def wsgi_get(app: Any, headers: dict[str, str]) -> int:
    """One GET as a WSGI server sends it; the body read and closed (request_finished)."""
    environ: dict[str, Any] = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": PATH,
        "QUERY_STRING": QUERY,
        "HTTP_HOST": "localhost",
        "REMOTE_ADDR": CLIENT_ADDRESS,
        "wsgi.url_scheme": "https",  # DEBUG off redirects plain HTTP
        **headers,
    }
    setup_testing_defaults(environ)
    status: list[str] = []

    def start_response(line: str, _headers: Any, _exc_info: Any = None) -> Callable:
        status.append(line)
        return lambda _data: None

    reply = app(environ, start_response)
    try:
        b"".join(reply)
    finally:
        reply.close()  # Django's request_finished: closes the connection (CONN_MAX_AGE 0)
    return int(status[0].split()[0])


def cases(keys: dict[str, str], local_copy: Path) -> list[Case]:
    """The four configurations of the brief, two production-like extras and two probes."""
    from django.conf import settings
    from django.core.handlers.wsgi import WSGIHandler
    from django.db import connections

    from pipeline.core.config import get_config
    from pipeline.core.constants import ADMIN_DB_KEY
    from pipeline.models import ApiKey
    from pipeline.stores.s3sqlite import store
    from records_api.throttling import SharedAnonRateThrottle

    app = WSGIHandler()
    rates_on = dict(SharedAnonRateThrottle.THROTTLE_RATES)  # the settings' (HIGH_RATE)
    first, second = keys.values()
    config = get_config()
    location = store.Location(config.raw_bucket, str(settings.TWL_ADMIN_DB_KEY), local_copy)
    assert settings.TWL_ADMIN_DB_KEY == ADMIN_DB_KEY

    def request(access: str, key: str | None, *, throttles: bool) -> Callable[[], int]:
        headers = {"HTTP_X_API_KEY": key} if key else {}

        def call() -> int:
            settings.TWL_API_ACCESS = access
            # DRF binds the rates to the class at import; the tests swap them the same way.
            SharedAnonRateThrottle.THROTTLE_RATES = rates_on if throttles else {}
            return wsgi_get(app, headers)

        return call

    def fetch_alone() -> int:
        store.fetch(location=location, config=config)
        return 0

    def lookup_alone() -> int:
        ApiKey.objects.get_from_key(first)
        connections["default"].close()
        return 0

    return [
        Case("(a) public, no key (baseline)", request("public", None, throttles=False), 200),
        Case("(b) key mode, valid key", request("key", first, throttles=False), 200),
        Case("(c) valid key, throttles on", request("key", second, throttles=True), 200),
        Case("(d) invalid key (401)", request("key", UNKNOWN_KEY, throttles=False), 401),
        Case("(e) public, no key, throttles on", request("public", None, throttles=True), 200),
        Case("(f) invalid key, throttles on", request("key", UNKNOWN_KEY, throttles=True), 401),
        Case("probe: s3sqlite fetch alone", fetch_alone, 0),
        Case("probe: key lookup on a new connection", lookup_alone, 0),
    ]


# --- the run -------------------------------------------------------------------------------


def run(all_cases: list[Case], meter: AwsMeter, rounds: int, warmup: int) -> list[Result]:
    """``warmup`` untimed rounds, then ``rounds`` timed ones, each case once per round."""
    results = [Result() for _ in all_cases]
    for number in range(warmup + rounds):
        shift = number % len(all_cases)
        for index in [*range(shift, len(all_cases)), *range(shift)]:
            case, result = all_cases[index], results[index]
            meter.take()
            started = time.perf_counter()
            with contextlib.redirect_stdout(io.StringIO()):  # the API's EMF metric lines
                status = case.call()
            elapsed = (time.perf_counter() - started) * 1000
            calls = meter.take()
            if status != case.expected:
                raise RuntimeError(f"{case.label}: status {status}, expected {case.expected}")
            result.all_calls.update(calls)
            if number < warmup:
                continue
            result.times_ms.append(elapsed)
            result.calls.update(calls)
        if number and number % 50 == 0:
            log(f"round {number} of {warmup + rounds}")
    return results


# --- report --------------------------------------------------------------------------------


def _count(value: float) -> str:
    return f"{value:g}" if value == int(value) else f"{value:.3f}"


def _calls(result: Result) -> str:
    n = len(result.times_ms)
    parts = [f"{name} {TIMES}{_count(k / n)}" for name, k in sorted(result.calls.items())]
    return ", ".join(parts) or "none"


def stamps(results: list[Result], rounds: int) -> tuple[int, int]:
    """ "Last used" UpdateItems of (b) and (c) over every round: (c) also counts once a request."""
    updates = [r.all_calls["DynamoDB UpdateItem"] for r in results[1:3]]
    return updates[0], updates[1] - rounds


def table(all_cases: list[Case], results: list[Result]) -> str:
    baseline = results[0].median
    lines = [
        f"| configuration | status | median ms | p90 ms | {TIMES} baseline (median) "
        "| S3 calls / request | DynamoDB calls / request | AWS calls per request |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for case, result in zip(all_cases, results, strict=True):
        status = str(case.expected) if case.expected else NONE
        lines.append(
            f"| {case.label} | {status} | {result.median:.2f} | {result.p90:.2f} "
            f"| {result.median / baseline:.2f} | {_count(result.mean_calls('S3'))} "
            f"| {_count(result.mean_calls('DynamoDB'))} | {_calls(result)} |"
        )
    return "\n".join(lines)


@dataclass(frozen=True)
class RunInfo:
    """What the section says about the run itself."""

    rounds: int
    warmup: int
    records: int
    db_bytes: int
    seconds: float


def section(all_cases: list[Case], results: list[Result], run_info: RunInfo) -> str:
    machine = f"{os.cpu_count()} CPUs, Python {platform.python_version()}, {platform.system()}"
    base, keyed, throttled, _, anonymous, _, fetch, lookup = (r.median for r in results)
    stamped = stamps(results, run_info.warmup + run_info.rounds)
    info = run_info
    return f"""{HEADING}

Reproduce: `.venv/bin/python bench/api_keys.py` (rewrites this section).
Measured {time.strftime("%Y-%m-%d")} on the shared machine ({machine}; load average
{os.getloadavg()[0]:.1f} at the end). N = {info.rounds} timed rounds after {info.warmup}
untimed ones ({info.seconds:.0f} s in all), in one process: moto's server on loopback,
stage `dev` with {info.records} records, DEBUG off, and the admin's database on the
s3sqlite backend as in Lambda (`TWL_ADMIN_DB=s3`, migrated, two keys, the file
{info.db_bytes:,} bytes). Every request is `GET {PATH}?{QUERY}` handed to Django's WSGI
handler as Zappa hands it (not the test `Client`: it keeps the database connection open
between requests, so the s3sqlite GET would happen once, not once per request). Each
round sends one request of every configuration, the order rotating, so the machine's
load falls on all alike. Throttles "on": both DRF throttles, with a rate that never
refuses (the counters still run); "off": no rates. AWS calls are counted with
botocore's `after-call` hook on the clients of `pipeline.stores.aws`; the s3sqlite
backend uses that module's S3 client (`aws.s3(config)`), so its GETs are in the count.

{table(all_cases, results)}

- **On Lambda, count the calls, not these milliseconds.** Here S3 and DynamoDB are
  moto on loopback in the same process; on Lambda each call is a network round trip,
  so the ratios carry over only roughly and the absolute times not at all. A valid key
  adds **one S3 GetObject, answered 304** (the s3sqlite backend's conditional GET as
  the request's connection opens; nothing is downloaded) and **no DynamoDB call**. A
  request without a key opens no connection and makes no S3 call.
- Here a key costs {keyed - base:.1f} ms a request ({TIMES}{keyed / base:.2f}). The probes
  split it: {fetch:.1f} ms is `store.fetch` (read the local copy and SHA-256 it, to
  check it is still the download it records, then the conditional GET); the rest of
  the lookup (SQLite's connect, one query, the SHA-512 check, the close) is
  {lookup - fetch:.1f} ms.
- With throttles on, a keyed request is counted once, per key: the anonymous throttle
  skips a request that carries a valid key, so the two counters never both run on one
  request. A keyed request then makes the DynamoDB calls an anonymous one makes (rows
  c and e) and costs {TIMES}{throttled / anonymous:.2f} of it here: again, the S3 GET.
- "Last used" is at most one UpdateItem per key a minute per container, so it shows
  in the table only when the timed rounds pass a minute. Stamps in this run, warm-up
  included: {stamped[0]} for key (b), {stamped[1]} for key (c), the first at the key's first use.
- An invalid but well-formed key pays the same S3 GET (it must be looked up to be
  refused) and, with throttles on, is counted against its address's anonymous rate. A
  malformed key (no `.`, or over 128 characters) is refused before any lookup.
"""


def log(line: str) -> None:
    """Progress goes to stderr, so stdout holds only the section."""
    print(line, file=sys.stderr, flush=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--rounds", type=int, default=ROUNDS, help="timed rounds")
    parser.add_argument("--warmup", type=int, default=WARMUP, help="untimed rounds first")
    parser.add_argument("--records", type=int, default=RECORDS, help="curated records")
    parser.add_argument("--no-doc", action="store_true", help="print only")
    args = parser.parse_args(argv)
    if args.rounds < 2 or args.warmup < 0 or args.records < 1:
        parser.error("need at least 2 rounds, no negative warm-up and at least 1 record")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="twl-bench-keys-") as folder:
        emulator, local_copy, keys = set_up(args.records, Path(folder) / "db.sqlite3")
        try:
            from pipeline.core.config import get_config
            from pipeline.stores import aws

            config = get_config()
            clients = [aws.s3(config), aws.dynamodb(config), aws.sqs(config)]
            meter = AwsMeter(clients)
            started = time.perf_counter()
            all_cases = cases(keys, local_copy)
            results = run(all_cases, meter, args.rounds, args.warmup)
            seconds = time.perf_counter() - started
            size = local_copy.stat().st_size
            info = RunInfo(args.rounds, args.warmup, args.records, size, seconds)
            text = section(all_cases, results, info)
        finally:
            emulator.stop()
    print(text)
    if not args.no_doc:
        write_section(HEADING, text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
