"""The deployed shape on one machine: the packaged zips, Zappa's handler, the stage's settings.

``manage.py runlocal --deployed`` (``make run-deployed``) and the tests' ``deployed``
mode start this instead of the quick local stack. What runs is what Lambda runs:

- the zips ``make package STAGE=<stage>`` and ``STAGE=<stage>_worker`` build (the
  documented command), unzipped, each function a process of its own with nothing but
  its package on ``sys.path`` (``pipeline.local.lambda_runtime``), started with the
  environment Lambda gives (no ``DJANGO_SECRET_KEY``, no endpoint but the emulator's
  per service, ``AWS_LAMBDA_FUNCTION_NAME``...); Zappa's handler then loads the stage's
  ``environment_variables`` from the packaged ``zappa_settings.py`` and its
  ``remote_env`` file from the emulator's S3, as in AWS;
- the stage's names (``twl-pipeline-*-dev``), its stack from the production template,
  DEBUG off and every secure setting on, the stage prefix (``/dev``) in every URL;
- API Gateway in front of the web function (``pipeline.local.gateway``), Lambda's
  Invoke API for the jobs the web hands to the worker, the worker's 5-minute schedule
  (Zappa's rule name) and its SQS event source (batches of 10, partial failures);
- the admin's data where the deployed stage keeps it (no DATABASE_URL), migrated and
  its operator created with the documented commands.

The only differences from AWS: the AWS APIs are moto's, the sources are the sandbox
(their base URLs ride in remote_env, as an operator would point a stage at a mirror),
and a function scales out to at most ``max_containers`` containers.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import re
import secrets
import shlex
import shutil
import subprocess
import tempfile
import threading
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from django.conf import settings

from pipeline.core.config import PipelineConfig, get_config
from pipeline.core.constants import PERSONAL_DATA_SCOPE
from pipeline.core.names import ResourceNames, resource_names
from pipeline.deploy import zappa_steps
from pipeline.deploy.provision import provision
from pipeline.deploy.stack.spec import spec_for_stage
from pipeline.local.functions import (
    ROOT,
    FunctionPool,
    FunctionProcess,
    build_packages,
    scheduled_event,
)
from pipeline.local.gateway import (
    ApiGatewayFront,
    LambdaApi,
    api_host,
)
from pipeline.local.stack import EmbeddedServices, ensure_local_only
from pipeline.stores import aws

log = logging.getLogger("pipeline.local")

API_ID: Final = "local00001"


# The line `apikey create` prints the key on: <8-character prefix>.<32 characters>.
API_KEY_LINE: Final = re.compile(r"[A-Za-z0-9]{8}\.[A-Za-z0-9]{32}")


@dataclass
class DeployedOptions:
    """Where the deployed-shape stack listens, and which packages it runs."""

    host: str = "127.0.0.1"
    aws_port: int = 4566
    sources_port: int = 8765
    web_port: int = 8000
    stage: str = "dev"
    ingest_interval: float = 300.0
    retry_delay_seconds: int = 5
    # Prebuilt zips per Zappa stage (tests build them once per session); else built here.
    packages: Mapping[str, Path] = field(default_factory=dict)
    work_dir: Path | None = None
    operator: tuple[str, str] | None = None
    # An API key with the personal-data scope made at start (the banner shows it).
    api_key_name: str | None = None
    # How often Lambda's Invoke API delivers each Event invocation (2: every time twice).
    async_deliveries: int = 1
    # Containers per function at most: Lambda starts another for an event that finds
    # them all busy (a cold start), each with its own /tmp.
    max_containers: int = 4


@dataclass
class DeployedStack(EmbeddedServices):
    """Start, run and stop the deployed shape (see the module's docstring)."""

    options: DeployedOptions = field(default_factory=DeployedOptions)
    on_event: Callable[[str], None] = print
    urls: dict[str, str] = field(default_factory=dict)
    functions: dict[str, FunctionPool] = field(default_factory=dict)
    source_urls: dict[str, str] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    _closers: list[Callable[[], None]] = field(default_factory=list)
    api_key: str | None = None

    @property
    def web(self) -> FunctionPool:
        return self.functions[self.names.web_function]

    @property
    def worker(self) -> FunctionPool:
        return self.functions[self.names.worker_function]

    @functools.cached_property
    def names(self) -> ResourceNames:
        """The stage's names, from zappa_settings.json: read once (the stage never changes)."""
        return resource_names(self.options.stage, zappa_steps.stage_environment(self.options.stage))

    @property
    def config(self) -> PipelineConfig:
        return get_config()

    def start(self) -> DeployedStack:
        """Bring everything up (no schedule or queue polling yet); on failure, tear down."""
        ensure_local_only(self.options.host)
        try:
            self._work = Path(self.options.work_dir or tempfile.mkdtemp(prefix="twl-deployed-"))
            self._work.mkdir(parents=True, exist_ok=True)
            self._start_emulator(self.options.host, self.options.aws_port)
            self._start_sandbox(self.options.host, self.options.sources_port)
            self._configure()
            provision(config=self.config, spec=spec_for_stage(self.options.stage))
            self._write_remote_env()
            self._admin_data()
            self._start_functions()
        except BaseException:
            self.stop()
            raise
        return self

    def _configure(self) -> None:
        """This process (provisioning, the poller, tests) sees the stage as deployed."""
        names = self.names
        settings.AWS_ENDPOINT_URL = self.urls["aws"]
        settings.TWL_SOURCE_BASE_URLS = dict(self.source_urls)
        settings.TWL_STAGE = self.options.stage
        settings.TWL_RAW_BUCKET = names.raw_bucket
        settings.TWL_QUEUE_NAME = names.queue
        settings.TWL_DLQ_NAME = names.dlq
        settings.TWL_CURATED_TABLE = names.curated_table
        settings.TWL_LEDGER_TABLE = names.ledger_table
        aws.reset_clients()

    def _write_remote_env(self) -> None:
        """The stage's secrets file in its Zappa bucket, as docs/DEPLOY.md has it written."""
        bucket, key = _remote_env(self.options.stage)
        values = {"DJANGO_SECRET_KEY": secrets.token_urlsafe(50)}
        values |= {f"TWL_{name.upper()}_BASE_URL": url for name, url in self.source_urls.items()}
        s3 = aws.s3(self.config)
        s3.create_bucket(Bucket=bucket)
        s3.put_object(Bucket=bucket, Key=key, Body=json.dumps(values).encode())

    def _admin_data(self) -> None:
        """Migrate the stage's admin data, create its operator and a key: documented commands."""
        self.make("migrate")
        if self.options.operator:
            self.create_operator(*self.options.operator)
        if self.options.api_key_name:
            # The stage answers TWL_API_ACCESS=key, as deployed: the API needs a key.
            self.api_key = self.create_api_key(self.options.api_key_name, PERSONAL_DATA_SCOPE)

    def make(self, target: str, *args: str, extra_env: Mapping[str, str] | None = None) -> str:
        """``make <target> STAGE=<stage>`` as docs/DEPLOY.md has operators run it, with this
        machine's emulator standing in for their AWS credentials."""
        env = {
            **os.environ,
            "AWS_ENDPOINT_URL": self.urls["aws"],
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            **(extra_env or {}),
        }
        for name in ("DATABASE_URL", "TWL_ADMIN_DB", "VIRTUAL_ENV"):
            env.pop(name, None)
        done = subprocess.run(
            ["make", "--no-print-directory", target, f"STAGE={self.options.stage}", *args],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if done.returncode != 0:
            raise RuntimeError(f"make {target} failed:\n{done.stdout}{done.stderr}")
        return done.stdout

    def create_operator(self, username: str, password: str) -> None:
        """``make operator``, the password from the environment (never on a command line)."""
        self.make(
            "operator",
            f"USERNAME={username}",
            f"EMAIL={username}@example.org",
            extra_env={"DJANGO_SUPERUSER_PASSWORD": password},
        )

    def create_api_key(self, name: str, *scopes: str) -> str:
        """``make manage ARGS="apikey create …"``, as operators make keys; returns the key.

        The command prints the key once, on a line of its own; nothing else keeps it.
        """
        words = ["apikey", "create", shlex.quote(name)]
        words += [f"--scope {shlex.quote(scope)}" for scope in scopes]
        printed = self.make("manage", f"ARGS={' '.join(words)}")
        for line in printed.splitlines():
            if API_KEY_LINE.fullmatch(line.strip()):
                return line.strip()
        raise RuntimeError("apikey create printed no key")

    def _packages(self) -> dict[str, Path]:
        stages = [self.options.stage, f"{self.options.stage}_worker"]
        given = dict(self.options.packages)
        missing = [s for s in stages if s not in given]
        if missing:
            self.on_event(f"building {', '.join(missing)} with make package (about 20 s each)...")
            given |= build_packages(missing, self._work / "packages")
        return given

    def _start_functions(self) -> None:
        packages = self._packages()
        lambda_api = LambdaApi(
            lambda: {f.name: f for f in self.functions.values()},
            deliveries=self.options.async_deliveries,
        ).start()
        # Closers run last-in first: the Invoke API stops before the functions it feeds.
        functions_closed_at = len(self._closers)
        self._closers.append(lambda_api.stop)
        self.urls["lambda"] = lambda_api.url
        for zappa_stage, function in (
            (self.options.stage, self.names.web_function),
            (f"{self.options.stage}_worker", self.names.worker_function),
        ):
            self.functions[function] = self._function(zappa_stage, function, packages[zappa_stage])
        for process in self.functions.values():
            process.start()
            self._closers.insert(functions_closed_at, process.stop)
        front = ApiGatewayFront(
            self.web,
            stage=self.options.stage,
            public_host=api_host(API_ID, self.config.aws_region),
            host=self.options.host,
            port=self.options.web_port,
        ).start()
        self._closers.append(front.stop)
        self.front = front
        self.urls["web"] = front.url

    def _function(self, zappa_stage: str, name: str, package: Path) -> FunctionPool:
        code = self._work / f"code-{zappa_stage}"
        shutil.rmtree(code, ignore_errors=True)
        with zipfile.ZipFile(package) as archive:
            archive.extractall(code)
        container = FunctionProcess.for_stage(
            zappa_stage,
            name=name,
            code=code,
            work=self._work,
            region=self.config.aws_region,
            aws_url=self.urls["aws"],
            lambda_url=self.urls["lambda"],
        )
        return FunctionPool(container, size=self.options.max_containers)

    # --- the worker's event sources -----------------------------------------------------

    def start_loops(self) -> DeployedStack:
        """The worker's schedule (ingests at once) and its SQS event source."""
        self._spawn("scheduler", self._schedule_loop)
        self._spawn("worker", self._queue_loop)
        return self

    def scheduled_event(self) -> dict[str, Any]:
        """The event EventBridge sends for the worker's schedule rule."""
        return scheduled_event(
            f"{self.options.stage}_worker", self.names.worker_function, self.config.aws_region
        )

    def _schedule_loop(self) -> None:
        while not self._stop.is_set():
            try:
                reply = self.worker.invoke(
                    self.scheduled_event(), timeout=self.worker.timeout_seconds
                )
                summary = ", ".join(
                    f"{f['source']}/{f['type']} {f['outcome']}"
                    for f in (reply or {}).get("feeds", [])
                )
                self.on_event(f"ingest {reply.get('runId')}: {reply.get('status')} ({summary})")
            except Exception as exc:
                self.on_event(f"scheduled ingest failed: {type(exc).__name__}: {exc}")
            if self._stop.wait(self.options.ingest_interval):
                return

    def _queue_loop(self) -> None:
        """Lambda's SQS event source: batches of up to 10, only the reported failures kept."""

        def handler(event: dict[str, Any], _context: Any) -> Any:
            return self.worker.invoke(event, timeout=self.worker.timeout_seconds)

        self._poll_loop(
            handler, wait_seconds=1, retry_delay_seconds=self.options.retry_delay_seconds
        )

    # --- lifecycle -----------------------------------------------------------------------

    def redeploy(self, packages: Mapping[str, Path] | None = None) -> None:
        """``zappa update``: new code in new containers; S3, the tables and queues stay."""
        chosen = dict(packages or self._packages())
        for name, process in list(self.functions.items()):
            process.stop()
            fresh = self._function(process.stage, name, chosen[process.stage])
            fresh.start()
            self.functions[name] = fresh
            self._closers.append(fresh.stop)
        self.front.web = self.web

    def stop(self) -> None:
        """Stop loops first, then functions and servers; safe to call twice."""
        self._close()
        work = getattr(self, "_work", None)
        if work is not None and self.options.work_dir is None:
            # Its own scratch folder: the unzipped code and zips go (~250 MB), the logs stay.
            for scratch in [*work.glob("code-*"), *work.glob("tmp-*"), work / "packages"]:
                shutil.rmtree(scratch, ignore_errors=True)

    def _key_line(self) -> str:
        if self.api_key:
            return f"  API key               {self.api_key}  (send as X-Api-Key; personal-data)"
        stage = self.options.stage
        return f'  API key               none: make manage STAGE={stage} ARGS="apikey create NAME"'

    def describe(self) -> list[str]:
        """What runs where, for the banner."""
        names, web = self.names, self.urls.get("web")
        return [
            f"  AWS emulator (moto)   {self.urls.get('aws')}",
            f"  Sources (sandbox)     {', '.join(self.source_urls.values())}",
            f"  Stage                 {self.options.stage} (DEBUG off, the packaged zips)",
            f"  Web ({names.web_function})  {web}  (admin: {web}admin/)",
            f"  Worker ({names.worker_function})  schedule every "
            f"{self.options.ingest_interval:g} s, SQS batches of up to 10",
            f"  Function logs         {self._work}/*.log",
            self._key_line(),
        ]


def _remote_env(stage: str) -> tuple[str, str]:
    """The (bucket, key) of the stage's ``remote_env`` in zappa_settings.json."""
    url = str(zappa_steps.stage_setting(stage, "remote_env") or "")
    bucket, _, key = url.removeprefix("s3://").partition("/")
    return bucket, key
