"""The whole pipeline on one machine: emulator, sandbox sources, scheduler, worker, web.

``LocalStack`` is what ``manage.py runlocal`` (and so ``make run``) starts. Every piece
listens on loopback; the pipeline code it drives is the same that runs in Lambda,
pointed at the emulator and the sandbox by configuration only.

It refuses to start (``NotLocal``, before anything is started or created) unless
everything it would touch is on this machine; ``local_only_problems`` says what counts.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import urlsplit

from django.conf import settings
from django.core.management import call_command
from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler
from django.db import DEFAULT_DB_ALIAS, connections

from pipeline.core.config import get_config
from pipeline.deploy.provision import provision
from pipeline.handlers import process_sqs_event
from pipeline.local.admin_user import NotLocal, database_not_local, is_loopback
from pipeline.local.emulator import Emulator
from pipeline.local.poller import Handler, poll_once
from pipeline.services.ingest import ingest
from pipeline.sources import builtin_names
from pipeline.stores import aws

log = logging.getLogger("pipeline.local")

# botocore reads these itself (the generic one and one per service, e.g. _S3).
ENDPOINT_VARIABLE: Final = "AWS_ENDPOINT_URL"
# What makes a shell act on a real AWS account: a named profile, a container or
# web-identity credential source, or an access key AWS issued (AKIA long-term, ASIA
# temporary). Test keys such as "testing" or "local" are not AWS-issued.
REAL_AWS_SOURCES: Final = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
)
AWS_ISSUED_KEY_ID: Final = re.compile(r"(AKIA|ASIA)[A-Z0-9]{16}")


def local_only_problems(
    *,
    host: str,
    environ: Mapping[str, str],
    endpoint_setting: str | None,
    database: Mapping[str, Any],
) -> list[str]:
    """Why the stack would reach beyond this machine; empty when it would not.

    - ``host``: every server it starts (the emulator, the sandbox, the web app with
      its default login) must listen on loopback.
    - AWS: no endpoint named in the environment or the settings other than a loopback
      one (the stack points every client at its own emulator), not inside Lambda, and
      no real-account credentials in the environment. Files in ~/.aws are not read
      here: every client the stack drives is pinned to the emulator, so they are never
      sent anywhere else.
    - the database (``DATABASE_URL``): on this machine (``database_not_local``).
    """
    problems = []
    if not is_loopback(host):
        problems.append(f"--host {host!r} is not a loopback address")
    if environ.get("AWS_LAMBDA_FUNCTION_NAME"):
        problems.append("running inside AWS Lambda")
    endpoints = {
        name: value
        for name, value in environ.items()
        if (name == ENDPOINT_VARIABLE or name.startswith(f"{ENDPOINT_VARIABLE}_")) and value
    }
    if endpoint_setting:
        endpoints.setdefault("settings.AWS_ENDPOINT_URL", endpoint_setting)
    for name, url in sorted(endpoints.items()):
        if not is_loopback(urlsplit(url).hostname or ""):
            problems.append(f"{name} names {url!r}, not an emulator on this machine")
    sources = [name for name in REAL_AWS_SOURCES if environ.get(name)]
    if AWS_ISSUED_KEY_ID.fullmatch(environ.get("AWS_ACCESS_KEY_ID", "")):
        sources.append("AWS_ACCESS_KEY_ID (an AWS-issued key)")
    if sources:
        problems.append(f"real AWS credentials are configured: {', '.join(sources)}")
    if reason := database_not_local(database, environ):
        problems.append(reason)
    return problems


def ensure_local_only(host: str) -> None:
    """Raise ``NotLocal`` listing every reason the stack would reach beyond this machine."""
    problems = local_only_problems(
        host=host,
        environ=os.environ,
        endpoint_setting=settings.AWS_ENDPOINT_URL,
        database=connections.settings[DEFAULT_DB_ALIAS],
    )
    if problems:
        raise NotLocal(
            "refusing to start the local stack, which only talks to its own emulator and "
            "a local database: " + "; ".join(problems)
        )


@dataclass
class StackOptions:
    """Where each piece listens and how often things happen."""

    host: str = "127.0.0.1"
    aws_port: int = 4566
    sources_port: int = 8765
    web_port: int = 8000
    ingest_interval: float = 300.0
    poll_wait_seconds: int = 1
    retry_delay_seconds: int = 5
    live_sources: bool = False
    serve_web: bool = True
    migrate: bool = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        log.debug("web: " + format, *args)


class EmbeddedServices:
    """What both local stacks (this one and ``pipeline.local.deployed``) run alike: the
    emulator, the sandbox sources, their threads, a queue poller and the way they stop."""

    on_event: Callable[[str], None]
    urls: dict[str, str]
    source_urls: dict[str, str]
    _stop: threading.Event
    _threads: list[threading.Thread]
    _closers: list[Callable[[], None]]

    def _start_emulator(self, host: str, port: int) -> None:
        emulator = Emulator(host, port).start()
        self._closers.append(emulator.stop)
        self.urls["aws"] = emulator.url

    def _start_sandbox(self, host: str, port: int) -> None:
        from pipeline.local.sandbox import SandboxServer

        sandbox = SandboxServer(host=host, port=port).start()
        self._closers.append(sandbox.stop)
        self.sandbox = sandbox
        self.source_urls = sandbox.source_urls()
        self.urls |= self.source_urls

    def _spawn(self, name: str, target: Callable[[], Any]) -> None:
        thread = threading.Thread(target=target, name=f"twl-{name}", daemon=True)
        thread.start()
        self._threads.append(thread)

    def _poll_loop(self, handler: Handler, *, wait_seconds: int, retry_delay_seconds: int) -> None:
        """Lambda's SQS event source: Lambda-shaped batches of up to 10 to ``handler``,
        only the failures it reports kept, until stopped."""
        while not self._stop.is_set():
            try:
                batch = poll_once(
                    handler,
                    config=get_config(),
                    wait_seconds=wait_seconds,
                    retry_delay_seconds=retry_delay_seconds,
                )
            except Exception as exc:
                if not self._stop.is_set():
                    log.warning("worker poll failed: %s", exc)
                self._stop.wait(1)
                continue
            if batch.received:
                self.on_event(
                    f"worker: {batch.succeeded} message(s) processed, {batch.failed} failed"
                )

    def wait(self) -> None:
        """Block until ``stop`` is called (or Ctrl-C in the caller)."""
        while not self._stop.wait(0.5):
            pass

    def _close(self) -> None:
        """Stop the loops first, then every server, last started first; safe twice."""
        self._stop.set()
        for thread in self._threads:
            if thread.name != "twl-web":
                thread.join(timeout=30)
        while self._closers:
            try:
                self._closers.pop()()
            except Exception:
                log.exception("error while stopping")
        self._threads.clear()


@dataclass
class LocalStack(EmbeddedServices):
    """Start, run and stop the embedded pipeline."""

    options: StackOptions = field(default_factory=StackOptions)
    on_event: Callable[[str], None] = print
    urls: dict[str, str] = field(default_factory=dict)
    # Per source, the sandbox fake's base URL (empty with --live-sources).
    source_urls: dict[str, str] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    _closers: list[Callable[[], None]] = field(default_factory=list)

    def start(self) -> LocalStack:
        """Bring up servers and resources (no loops yet); on failure, tear down.

        Refuses (``NotLocal``) before starting anything when not everything is local.
        """
        ensure_local_only(self.options.host)
        try:
            self._start_aws()
            self._start_sources()
            self._configure()
            self._prepare()
        except BaseException:
            self.stop()
            raise
        return self

    def _start_aws(self) -> None:
        self._start_emulator(self.options.host, self.options.aws_port)

    def _start_sources(self) -> None:
        if self.options.live_sources:
            return  # each source's own default base URL: the real public API
        self._start_sandbox(self.options.host, self.options.sources_port)

    def _configure(self) -> None:
        """Point the pipeline at the emulator and the sources: configuration only."""
        settings.AWS_ENDPOINT_URL = self.urls["aws"]
        settings.TWL_SOURCE_BASE_URLS = dict(self.source_urls)
        aws.reset_clients()

    def _prepare(self) -> None:
        for change in provision(config=get_config()):
            log.debug("provision %s %s %s", change.action, change.resource, change.detail)
        if self.options.migrate:
            call_command("migrate", interactive=False, verbosity=0)
            self._ensure_admin()
        if self.options.serve_web:
            self._start_web()

    def _ensure_admin(self) -> None:
        """Create the local-only admin from TWL_ADMIN_USERNAME / TWL_ADMIN_PASSWORD."""
        from pipeline.local.admin_user import admin_user_from_env, ensure_admin_user

        creds = admin_user_from_env()
        if creds:
            ensure_admin_user(username=creds[0], password=creds[1])
            self.admin_username = creds[0]

    def _start_web(self) -> None:
        from django.contrib.staticfiles.handlers import StaticFilesHandler
        from django.core.wsgi import get_wsgi_application

        server = ThreadedWSGIServer((self.options.host, self.options.web_port), _QuietHandler)
        server.set_app(StaticFilesHandler(get_wsgi_application()))
        self._spawn("web", server.serve_forever)
        self._closers.append(server.shutdown)
        self._closers.append(server.server_close)
        self.urls["web"] = f"http://{self.options.host}:{server.server_address[1]}/"

    def start_loops(self) -> LocalStack:
        """Start the scheduler (ingests at once) and the queue worker."""
        self._spawn("scheduler", self._schedule_loop)
        self._spawn("worker", self._worker_loop)
        return self

    def _schedule_loop(self) -> None:
        """Ingest at once, then every ``ingest_interval`` seconds, until stopped."""
        while not self._stop.is_set():
            try:
                run = ingest(trigger="local-schedule", config=get_config())
                summary = ", ".join(f"{f.source}/{f.type} {f.outcome}" for f in run.feeds)
                self.on_event(f"ingest {run.run_id}: {run.status} ({summary})")
            except Exception as exc:
                self.on_event(f"ingest failed: {type(exc).__name__}: {exc}")
            if self._stop.wait(self.options.ingest_interval):
                return

    def _worker_loop(self) -> None:
        """Feed Lambda-shaped SQS batches to the same handler Lambda runs."""
        self._poll_loop(
            process_sqs_event,
            wait_seconds=self.options.poll_wait_seconds,
            retry_delay_seconds=self.options.retry_delay_seconds,
        )

    def stop(self) -> None:
        """Stop loops first, then servers; safe to call twice."""
        self._close()

    def _catalog_line(self) -> list[str]:
        sandbox = getattr(self, "sandbox", None)
        if sandbox is None:
            return []
        return [f"  Catalog (for a declared source, README) {sandbox.catalog_url}"]

    def describe(self) -> list[str]:
        """What runs where, for the banner."""
        cfg = get_config()
        lines = [
            f"  AWS emulator (moto)  {self.urls.get('aws')}",
            *(
                f"  {name:<20} {cfg.base_url(name) or '(its public API)'}"
                for name in sorted(builtin_names())
            ),
            *self._catalog_line(),
            f"  Raw bucket           s3://{cfg.raw_bucket}",
            f"  Queue / DLQ          {cfg.queue_name} / {cfg.dlq_name}",
            f"  Curated table        {cfg.curated_table}",
            f"  Ingest               now, then every {self.options.ingest_interval:g} s",
            "  Worker               polling the queue, batches of up to 10",
        ]
        if "web" in self.urls:
            web = self.urls["web"]
            lines.append(f"  Web                  {web}  (admin: {web}admin/)")
        if "web" in self.urls and getattr(self, "admin_username", None):
            lines.append(
                f"  Admin sign-in        user '{self.admin_username}', password from "
                "TWL_ADMIN_PASSWORD (default 'admin'; local stack only)"
            )
        return lines
