"""``manage.py runlocal``: the whole pipeline on loopback (what ``make run`` starts)."""

from __future__ import annotations

import signal
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from pipeline.local.admin_user import NotLocal, admin_user_from_env
from pipeline.local.deployed import DeployedOptions, DeployedStack
from pipeline.local.functions import PackageError
from pipeline.local.stack import LocalStack, StackOptions


class Command(BaseCommand):
    help = (
        "Start moto, the sandbox sources, the scheduler, the worker and the web app on 127.0.0.1. "
        "Refuses to run against anything not on this machine (an AWS endpoint or "
        "credentials, a remote database)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        defaults = StackOptions()
        parser.add_argument("--host", default=defaults.host)
        parser.add_argument("--aws-port", type=int, default=defaults.aws_port)
        parser.add_argument("--sources-port", type=int, default=defaults.sources_port)
        parser.add_argument("--web-port", type=int, default=defaults.web_port)
        parser.add_argument(
            "--interval",
            type=float,
            default=defaults.ingest_interval,
            help="seconds between ingests",
        )
        parser.add_argument(
            "--retry-delay",
            type=int,
            default=defaults.retry_delay_seconds,
            help="seconds before a failed message is received again",
        )
        parser.add_argument(
            "--live-sources", action="store_true", help="use the real public APIs (needs internet)"
        )
        parser.add_argument(
            "--deployed",
            action="store_true",
            help="run the packaged zips through Zappa's handler behind a local API Gateway, "
            "with the deployed stage's settings (docs/DEPLOY.md, 'The deployed shape')",
        )
        parser.add_argument(
            "--stage", default="dev", help="with --deployed: the zappa_settings.json stage"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["interval"] <= 0:
            raise CommandError("--interval must be positive")
        # What both shapes take from the command line.
        common: dict[str, Any] = {
            "host": options["host"],
            "aws_port": options["aws_port"],
            "sources_port": options["sources_port"],
            "web_port": options["web_port"],
            "ingest_interval": options["interval"],
            "retry_delay_seconds": options["retry_delay"],
        }
        stack: LocalStack | DeployedStack
        if options["deployed"]:
            if options["live_sources"]:
                raise CommandError("--deployed runs on the sandbox sources only")
            deployed = DeployedOptions(
                **common,
                stage=options["stage"],
                operator=admin_user_from_env(),
                # The stage needs a key (TWL_API_ACCESS=key): one to try the API with.
                api_key_name="run-deployed",
            )
            stack = DeployedStack(deployed, on_event=self.stdout.write)
        else:
            local = StackOptions(**common, live_sources=options["live_sources"])
            stack = LocalStack(local, on_event=self.stdout.write)
        try:
            stack.start()
        except (NotLocal, PackageError) as exc:
            raise CommandError(str(exc)) from exc
        except OSError as exc:
            raise CommandError(f"could not start the local stack: {exc}") from exc
        # SIGTERM (e.g. from a process manager) stops as cleanly as Ctrl-C.
        signal.signal(signal.SIGTERM, lambda *_: stack.stop())
        self.stdout.write("TWL Pipeline local stack is running:")
        self.stdout.write("\n".join(stack.describe()))
        self.stdout.write("Press Ctrl-C to stop.")
        try:
            stack.start_loops()
            stack.wait()
        except KeyboardInterrupt:
            self.stdout.write("\nStopping…")
        finally:
            stack.stop()
        self.stdout.write("Stopped.")
