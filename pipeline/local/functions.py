"""The deployed functions on this machine: their zips built, their containers run.

``build_packages`` runs the documented ``make package`` per Zappa stage;
``FunctionProcess`` is one container: the unzipped package in a process of its own
through ``pipeline.local.lambda_runtime``, handed events one at a time;
``FunctionPool`` is a function's containers, scaled out as Lambda does.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, Any, Final

import requests

from pipeline.deploy import zappa_steps
from pipeline.local.gateway import FunctionFailed, FunctionTimeout

ROOT: Final = Path(__file__).resolve().parents[2]
RUNTIME: Final = Path(__file__).with_name("lambda_runtime.py")
# moto's account; zappa_settings.json's SQS ARNs name it as their placeholder too.
ACCOUNT_ID: Final = zappa_steps.PLACEHOLDER_ACCOUNT_ID
READY_SECONDS: Final = 60.0
# The SQLite Lambda's python3.11 runtime (Amazon Linux 2) links, older than Django's
# minimum: each function sees it, so the package's own SQLite must take over
# (pipeline/stores/s3sqlite/base.py), as it must in AWS.
LAMBDA_SQLITE_VERSION: Final = "3.7.17"
# Every AWS API the functions call, each pointed at the emulator by botocore's
# per-service variable; Lambda's own goes to ``LambdaApi``. A call to any other
# service would leave the machine and fail, which is the point.
EMULATED_SERVICES: Final = (
    "S3",
    "SQS",
    "DYNAMODB",
    "CLOUDWATCH",
    "CLOUDWATCH_LOGS",
    "STS",
    "SNS",
    "CLOUDFORMATION",
    "IAM",
    "XRAY",
)


class PackageError(RuntimeError):
    """``make package`` failed; the message ends with its output."""


def build_packages(stages: list[str], directory: Path) -> dict[str, Path]:
    """``make package STAGE=<s> OUTPUT=<dir>/<s>.zip`` for each stage."""
    directory.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
    # The worker's SQS ARN names the account; the emulator's is the placeholder one.
    env[zappa_steps.ACCOUNT_ENV] = ACCOUNT_ID
    env["AWS_EC2_METADATA_DISABLED"] = "true"
    outputs = {stage: directory / f"{stage}.zip" for stage in stages}
    # One after the other: each runs collectstatic into the same STATIC_ROOT first.
    for stage, zip_path in outputs.items():
        done = subprocess.run(
            ["make", "--no-print-directory", "package", f"STAGE={stage}", f"OUTPUT={zip_path}"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        if done.returncode != 0:
            output = done.stdout + done.stderr
            raise PackageError(f"make package STAGE={stage} failed:\n{output[-3000:]}")
    return outputs


@dataclass
class FunctionProcess:
    """One deployed function: its unzipped package in a process of its own (one container)."""

    name: str
    stage: str
    code: Path
    environ: dict[str, str]
    log_path: Path
    memory_mb: int = 512
    timeout_seconds: int = 30
    handler: str = "handler.lambda_handler"
    sqlite_version: str = ""
    _process: subprocess.Popen[str] | None = None
    _url: str = ""
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def for_stage(
        cls,
        zappa_stage: str,
        *,
        name: str,
        code: Path,
        work: Path,
        region: str,
        aws_url: str,
        lambda_url: str,
    ) -> FunctionProcess:
        """The function of a zappa_settings.json stage, with the environment Lambda gives."""
        memory = int(_setting(zappa_stage, "memory_size", 512))
        environ = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LANG": "C.UTF-8",
            "TZ": ":UTC",
            "HOME": str(work),
            "PYTHONUNBUFFERED": "1",
            "PYTHONDONTWRITEBYTECODE": "1",  # /var/task is read-only
            "LAMBDA_TASK_ROOT": str(code),
            "AWS_EXECUTION_ENV": "AWS_Lambda_python3.11",
            "AWS_LAMBDA_FUNCTION_NAME": name,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(memory),
            "AWS_REGION": region,
            "AWS_DEFAULT_REGION": region,
            # The function role's temporary credentials, as Lambda puts them here.
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing",
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_ENDPOINT_URL_LAMBDA": lambda_url,
            **{f"AWS_ENDPOINT_URL_{service}": aws_url for service in EMULATED_SERVICES},
        }
        return cls(
            name=name,
            stage=zappa_stage,
            code=code,
            environ=environ,
            log_path=work / f"{name}.log",
            memory_mb=memory,
            timeout_seconds=int(_setting(zappa_stage, "timeout_seconds", 30)),
            handler=str(_setting(zappa_stage, "lambda_handler", "handler.lambda_handler")),
            sqlite_version=LAMBDA_SQLITE_VERSION,
        )

    def start(self) -> FunctionProcess:
        """A new container: the next invocation is a cold start."""
        tmp = self.log_path.parent / f"tmp-{self.name}-{uuid.uuid4().hex[:8]}"
        tmp.mkdir(parents=True)
        env = {**self.environ, "TMPDIR": str(tmp)}
        command = [
            sys.executable,
            "-S",
            "-P",
            str(RUNTIME),
            "--code",
            str(self.code),
            "--function",
            self.name,
            "--memory",
            str(self.memory_mb),
            "--timeout",
            str(self.timeout_seconds),
            "--handler",
            self.handler,
            "--sqlite-version",
            self.sqlite_version,
        ]
        self._process = subprocess.Popen(
            command,
            cwd=self.code,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
        )
        assert self._process.stdout is not None
        first = _read_line(self._process.stdout, READY_SECONDS)
        if not first.startswith("READY "):
            rest = self._process.stdout.read() if self._process.poll() is not None else ""
            self.stop()
            raise RuntimeError(f"{self.name} did not start: {first}{rest}")
        self._url = f"http://127.0.0.1:{first.split()[1]}/invoke"
        threading.Thread(
            target=self._pump,
            args=(self._process.stdout,),
            name=f"twl-log-{self.name}",
            daemon=True,
        ).start()
        return self

    def _pump(self, stream: IO[str]) -> None:
        with self.log_path.open("a", encoding="utf-8") as out:
            for line in stream:
                out.write(line)
                out.flush()

    def invoke(self, event: Mapping[str, Any], *, timeout: float, request_id: str = "") -> Any:
        """Run one event; what the handler returned. One at a time, as one container."""
        with self._lock:
            return self.invoke_held(event, timeout=timeout, request_id=request_id)

    def invoke_held(self, event: Mapping[str, Any], *, timeout: float, request_id: str = "") -> Any:
        """``invoke`` for a caller that holds this container (its lock) already.

        As Lambda does, a container that died is replaced (the next event is a cold
        start) and one that overran is killed: FunctionFailed / FunctionTimeout.
        """
        if self._process is None or self._process.poll() is not None:
            self.restart()
        try:
            reply = requests.post(
                self._url,
                data=json.dumps(event),
                headers={"X-Request-Id": request_id or str(uuid.uuid4())},
                timeout=min(timeout, self.timeout_seconds),
            )
        except requests.Timeout as exc:
            self.restart()
            raise FunctionTimeout(f"{self.name}: no answer in {timeout:g} s") from exc
        except requests.ConnectionError as exc:
            self.stop()  # the next event starts a new container
            raise FunctionFailed(f"{self.name} died: {exc}") from exc
        body = reply.json()
        if "errorType" in body:
            raise FunctionFailed(f"{self.name}: {body['errorType']}: {body['errorMessage']}")
        return body["result"]

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
        self._process = None

    def restart(self) -> None:
        """Lambda recycles the container: a cold start, with only the package and S3 kept."""
        self.stop()
        self.start()


def _read_line(stream: IO[str], seconds: float) -> str:
    """The stream's next line, or '' if none comes in time."""
    box: list[str] = []
    reader = threading.Thread(target=lambda: box.append(stream.readline()), daemon=True)
    reader.start()
    reader.join(seconds)
    return box[0] if box else ""


def _setting(stage: str, key: str, default: Any) -> Any:
    value = zappa_steps.stage_setting(stage, key)
    return default if value is None else value


def scheduled_event(worker_stage: str, function: str, region: str) -> dict[str, Any]:
    """The event EventBridge sends for a worker stage's schedule, its rule named as Zappa
    names it (Zappa's handler finds the function to call from the rule's name)."""
    from zappa.core import Zappa

    events = zappa_steps.stage_setting(worker_stage, "events") or []
    [schedule] = [e for e in events if "expression" in e]
    namer = Zappa(load_credentials=False, aws_region=region)
    rule = namer.get_scheduled_event_name(schedule, schedule["function"], function)
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT_ID,
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "region": region,
        "resources": [f"arn:aws:events:{region}:{ACCOUNT_ID}:rule/{rule}"],
        "detail": {},
    }


@dataclass
class FunctionPool:
    """One function's containers, as Lambda scales it out: an event takes an idle
    container, else a new one (a cold start) while there are fewer than ``size``, else
    waits for one. Each container has its own /tmp; they share the function's log."""

    container: FunctionProcess
    size: int = 1
    _containers: list[FunctionProcess] = field(default_factory=list)
    _changed: threading.Condition = field(default_factory=threading.Condition)
    _closed: bool = False

    @property
    def name(self) -> str:
        return self.container.name

    @property
    def stage(self) -> str:
        return self.container.stage

    @property
    def log_path(self) -> Path:
        return self.container.log_path

    @property
    def timeout_seconds(self) -> int:
        return self.container.timeout_seconds

    @property
    def containers(self) -> int:
        """How many containers are running."""
        return sum(c.running for c in self._containers)

    def start(self) -> FunctionPool:
        """One container up (Lambda starts one for the first event)."""
        with self._changed:
            self._closed = False
            if not self._containers:
                self._containers.append(self._new().start())
        return self

    def _new(self) -> FunctionProcess:
        return replace(self.container, _process=None, _url="", _lock=threading.Lock())

    def invoke(self, event: Mapping[str, Any], *, timeout: float, request_id: str = "") -> Any:
        container = self._acquire()
        try:
            return container.invoke_held(event, timeout=timeout, request_id=request_id)
        finally:
            with self._changed:
                retired = container not in self._containers  # the pool stopped meanwhile
                container._lock.release()
                self._changed.notify()
            if retired:
                container.stop()

    def _acquire(self) -> FunctionProcess:
        with self._changed:
            while True:
                if self._closed:
                    raise FunctionFailed(f"{self.name} is stopped")
                for container in self._containers:
                    if container._lock.acquire(blocking=False):
                        return container
                if len(self._containers) < self.size:
                    fresh = self._new()  # started by its first event: a cold start
                    fresh._lock.acquire()
                    self._containers.append(fresh)
                    return fresh
                self._changed.wait()

    def restart(self) -> None:
        """Every container recycled: the next events are cold starts."""
        self.stop()
        self.start()

    def stop(self) -> None:
        """Stop the idle containers now; a busy one stops when its event ends."""
        with self._changed:
            self._closed = True
            containers, self._containers = self._containers, []
            self._changed.notify_all()
        for container in containers:
            if container._lock.acquire(blocking=False):
                try:
                    container.stop()
                finally:
                    container._lock.release()
