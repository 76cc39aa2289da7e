# ruff: noqa: E402  (imports follow the environment set-up above them)
"""Load and throughput on the embedded stack (issue: nothing lost; results in docs/PERFORMANCE.md).

1. The web app under gunicorn on loopback, 50 concurrent clients for 30 s (wrk) on
   /api/records and /api/analytics: errors, p50, p99, requests/s.
2. One RandomUser payload of 10,000 people processed completely by the worker
   (``manage.py process`` in its own process): records/s and the worker's peak memory.

Run: .venv/bin/python bench/load.py [--duration 30] [--connections 50] [--people 10000]
Needs wrk (Debian package `wrk`) and gunicorn in .venv (neither is in the
requirements files). Everything listens on 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "twl_site.settings")
os.environ.setdefault("TWL_METRICS_ENABLED", "false")
os.environ.setdefault("TWL_LOG_LEVEL", "WARNING")

import django

django.setup()

import requests
from benchstage import use_stage
from django.conf import settings

from pipeline.core.clock import iso, utc_now
from pipeline.core.config import get_config
from pipeline.core.payloads import content_hash
from pipeline.deploy.provision import provision
from pipeline.handlers import process_sqs_event
from pipeline.local.emulator import Emulator
from pipeline.local.poller import drain
from pipeline.local.sandbox import SandboxServer
from pipeline.services.ingest import ingest, new_run_id
from pipeline.stores import raw_store
from pipeline.stores.messages import message_build, message_send

STAGE = "bench"
GUNICORN = ROOT / ".venv" / "bin" / "gunicorn"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def configure(emulator: Emulator, sandbox: SandboxServer) -> dict[str, str]:
    """Point this process at the stack; return the same settings as environment variables."""
    env = use_stage(STAGE, emulator.url)
    settings.TWL_SOURCE_BASE_URLS = sandbox.source_urls()
    env |= {f"TWL_{name.upper()}_BASE_URL": url for name, url in sandbox.source_urls().items()}
    return env


def start_gunicorn(env: dict[str, str], port: int) -> subprocess.Popen:
    production = {
        "DJANGO_DEBUG": "false",
        "DJANGO_SECRET_KEY": "bench-only-" + "k" * 50,
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "TWL_SSL_REDIRECT": "false",
        "TWL_API_ANON_RATE": "",
        "TWL_PAGE_RATE": "",
        "TWL_HEALTH_RATE": "",
    }
    command = [
        str(GUNICORN),
        "twl_site.wsgi",
        "-b",
        f"127.0.0.1:{port}",
        "-w",
        "2",
        "--threads",
        "8",
    ]
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        env=os.environ | env | production,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            requests.get(f"http://127.0.0.1:{port}/api/health", timeout=2)
            return process
        except requests.ConnectionError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError("gunicorn did not start")


def wrk(url: str, connections: int, duration: int) -> dict[str, float | int]:
    out = subprocess.run(
        [
            "wrk",
            "-t",
            "2",
            "-c",
            str(connections),
            "-d",
            f"{duration}s",
            "--timeout",
            "30s",
            "--latency",
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout

    def latency(pct: str) -> float:
        value, unit = re.search(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s)", out, re.M).groups()
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    total = int(re.search(r"(\d+) requests in", out).group(1))
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out
    )
    errors = (int(non_2xx.group(1)) if non_2xx else 0) + (
        sum(map(int, socket_errors.groups())) if socket_errors else 0
    )
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    return {
        "requests": total,
        "errors": errors,
        "p50_ms": latency("50"),
        "p99_ms": latency("99"),
        "rps": rps,
    }


def big_payload(sandbox: SandboxServer, people: int) -> bytes:
    """``people`` RandomUser people in one body (the API serves at most 5,000 a call)."""
    results: list = []
    page = 1
    while len(results) < people:
        batch = min(5000, people - len(results))
        reply = requests.get(
            sandbox.randomuser_url + "/api/",
            params={"results": batch, "seed": "bench", "page": page},
            timeout=60,
        )
        results += reply.json()["results"]
        page += 1
    return json.dumps(
        {
            "results": results,
            "info": {"seed": "bench", "results": len(results), "page": 1, "version": "1.4"},
        }
    ).encode()


def process_in_worker(env: dict[str, str], body: bytes) -> dict[str, float]:
    """Enqueue one raw object and time ``manage.py process`` (its own process) draining it."""
    config = get_config()
    now = utc_now()
    digest = content_hash(body)
    key = raw_store.raw_key(source="randomuser", type_="user", captured_at=now, digest=digest)
    raw_store.raw_object_put(key=key, body=body, metadata={}, config=config)
    count = len(json.loads(body)["results"])
    message_send(
        message_build(
            source="randomuser",
            type_="user",
            bucket=config.raw_bucket,
            key=key,
            captured_at=iso(now),
            digest=digest,
            record_count=count,
            run_id=new_run_id(now),
        ),
        config=config,
    )
    started = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "manage.py", "process"],
        cwd=ROOT,
        env=os.environ | env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    elapsed = time.perf_counter() - started
    processing = float(re.search(r" in ([\d.]+) s", out).group(1))
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {
        "records": count,
        "process_wall_s": elapsed,
        "processing_s": processing,
        "records_per_s": count / processing,
        "records_per_s_incl_start": count / elapsed,
        "peak_mb": peak_mb,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=30)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--people", type=int, default=10_000)
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is missing: apt-get install wrk")
    if not GUNICORN.exists():
        sys.exit("gunicorn is missing: .venv/bin/python -m pip install gunicorn")
    with Emulator(port=0) as emulator, SandboxServer(port=0) as sandbox:
        env = configure(emulator, sandbox)
        config = get_config()
        provision(config=config)
        ingest(trigger="bench", config=config)
        drain(process_sqs_event, config=config)
        port = free_port()
        server = start_gunicorn(env, port)
        try:
            load = {
                path: wrk(f"http://127.0.0.1:{port}{path}", args.connections, args.duration)
                for path in ("/api/records", "/api/analytics")
            }
        finally:
            server.terminate()
            server.wait(timeout=30)
        throughput = process_in_worker(env, big_payload(sandbox, args.people))
    print(json.dumps({"load": load, "throughput": throughput, "nproc": os.cpu_count()}, indent=2))


if __name__ == "__main__":
    main()
