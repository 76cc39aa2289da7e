"""``manage.py dlq list|redrive [--id ID ...]|purge [--yes]``: the dead-letter queue."""

from __future__ import annotations

import sys
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from pipeline.core.config import get_config
from pipeline.services.dlq import DeadLetter, dlq_delete, dlq_list, dlq_redrive


def letter_line(letter: DeadLetter) -> str:
    feed = f"{letter.source}/{letter.type}" if letter.source else "(not a valid message)"
    reason = letter.reason or "(no failure recorded)"
    return f"{letter.message_id}  {letter.sent_at or '-'}  {letter.receive_count}  {feed}  {reason}"


class Command(BaseCommand):
    help = "List, redrive or purge the dead-letter queue."
    # Tests hand in a stand-in stdin (is it a terminal?); input() still reads sys.stdin.
    stealth_options = ("stdin",)

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="list|redrive|purge")
        listing = actions.add_parser("list", help="show messages and why they failed")
        listing.add_argument("--limit", type=int, default=100)
        redrive = actions.add_parser("redrive", help="move messages back to the main queue")
        redrive.add_argument(
            "--id", action="append", dest="ids", metavar="ID", help="repeatable; default: all"
        )
        purge = actions.add_parser("purge", help="delete every message, one by one")
        purge.add_argument("--yes", action="store_true", help="do not ask for confirmation")

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        try:
            if action == "list":
                self._list(options["limit"])
            elif action == "redrive":
                moved = dlq_redrive(options["ids"], config=get_config())
                self.stdout.write(f"redrove {moved} message(s) to the main queue")
                self._check_found(moved, options["ids"])
            else:
                self._purge(options)
        except (ClientError, BotoCoreError) as exc:
            raise CommandError(f"dlq {action} failed: {exc}") from exc

    def _list(self, limit: int) -> None:
        if limit < 1:
            raise CommandError("--limit must be at least 1")
        letters = dlq_list(limit=limit, config=get_config())
        for letter in letters:
            self.stdout.write(letter_line(letter))
        self.stdout.write(f"{len(letters)} message(s) in the dead-letter queue")

    def _check_found(self, count: int, ids: list[str] | None) -> None:
        if ids is not None and count < len(set(ids)):
            raise CommandError(f"{len(set(ids)) - count} of the named message(s) were not found")

    def _purge(self, options: dict[str, Any]) -> None:
        if not options["yes"] and not self._confirmed(options.get("stdin") or sys.stdin):
            self.stdout.write("purge cancelled; nothing deleted")
            return
        deleted = dlq_delete(None, config=get_config())
        self.stdout.write(f"deleted {deleted} message(s) from the dead-letter queue")

    def _confirmed(self, stdin: Any) -> bool:
        if not stdin.isatty():
            raise CommandError("refusing to purge without a terminal to confirm on; pass --yes")
        answer = input("Delete every message in the dead-letter queue for good? Type 'yes': ")
        return answer.strip().lower() == "yes"
