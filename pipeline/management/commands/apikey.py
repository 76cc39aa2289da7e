"""``manage.py apikey create NAME [...] | list | revoke PREFIX``: clients' API keys.

``create`` prints the new key once, on stdout, and nowhere else (no log line holds it);
only its hash is stored. Deployed stages run this from the operator's machine
(``make manage STAGE=dev ARGS="apikey list"``), so nothing here prints a setting.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Final

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError

from pipeline.core.clock import utc_now
from pipeline.core.config import get_config
from pipeline.core.constants import API_KEY_SCOPES
from pipeline.core.errors import PipelineError
from pipeline.services.apikeys import KeyInfo, key_create, key_list, key_revoke
from pipeline.stores.s3sqlite import push_changes

MAX_EXPIRES_DAYS: Final = 3650
COLUMNS: Final = ("prefix", "name", "scopes", "created", "last used", "expires", "revoked")


def _when(moment: datetime | None, missing: str) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M") if moment else missing


def key_row(key: KeyInfo) -> tuple[str, ...]:
    """One key as table cells (times UTC); a name's line breaks would split the table."""
    expires = _when(key.expires, "never") + (" (expired)" if key.expired else "")
    last_used = "unknown" if key.last_used_unknown else _when(key.last_used, "never")
    return (
        key.prefix,
        " ".join(key.name.split()) or "-",
        ",".join(key.scopes) or "-",
        _when(key.created, "-"),
        last_used,
        expires,
        "yes" if key.revoked else "no",
    )


def table(rows: list[tuple[str, ...]]) -> list[str]:
    """Rows under ``COLUMNS``, each column as wide as its widest cell."""
    widths = [max(len(r[i]) for r in [COLUMNS, *rows]) for i in range(len(COLUMNS))]
    return [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in [COLUMNS, *rows]
    ]


def _saved() -> None:
    """Upload the stage's admin database now (s3sqlite), so what is printed is stored.

    A local file or PostgreSQL has nothing to upload. A lost race or an S3 failure
    raises here, before the command says a key exists or is revoked.
    """
    push_changes()


class Command(BaseCommand):
    help = "Create, list or revoke API keys (only a key's hash is stored)."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="create|list|revoke")
        create = actions.add_parser("create", help="make a key; it is printed once")
        create.add_argument("name", help="who or what the key is for (50 characters at most)")
        create.add_argument(
            "--scope",
            action="append",
            dest="scopes",
            default=[],
            metavar="SCOPE",
            help=f"repeatable; known: {', '.join(API_KEY_SCOPES)}. None: public fields only.",
        )
        create.add_argument("--expires-days", type=int, metavar="N", help="default: never")
        create.add_argument("--rate", default="", help="e.g. 100/minute; default: the stage's")
        actions.add_parser("list", help="every key, with when it was last used")
        revoke = actions.add_parser("revoke", help="revoke a key for good")
        revoke.add_argument("prefix", help="the key's prefix (the part before the dot)")

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        try:
            if action == "create":
                self._create(options)
            elif action == "list":
                self._list()
            else:
                key = key_revoke(options["prefix"])
                _saved()
                self.stdout.write(
                    f"API key {key.prefix} ({key.name}) is revoked: requests with it are "
                    "refused (401). This cannot be undone."
                )
        except PipelineError as exc:
            raise CommandError(f"apikey {action}: {exc}") from None
        except DatabaseError as exc:
            raise CommandError(f"apikey {action}: the admin's data was not saved: {exc}") from None

    def _create(self, options: dict[str, Any]) -> None:
        key, secret = key_create(
            options["name"],
            scopes=options["scopes"],
            expires=self._expiry(options["expires_days"]),
            rate=options["rate"],
        )
        _saved()  # on a stage, in S3, before the key is shown as made
        self.stdout.write(
            f"Created API key {key.prefix} ({key.name}); scopes: {key.scopes or 'none'}; "
            f"rate: {key.rate or 'the default'}; expires: {_when(key.expiry_date, 'never')}."
        )
        self.stdout.write(secret)
        self.stdout.write(
            "This is the only time the key is shown: it cannot be shown again (only its "
            "hash is stored). Give it to the client now; if it is lost, revoke it and "
            "create another."
        )

    def _expiry(self, days: int | None) -> datetime | None:
        if days is None:
            return None
        if not 1 <= days <= MAX_EXPIRES_DAYS:
            raise CommandError(f"--expires-days must be between 1 and {MAX_EXPIRES_DAYS}")
        return utc_now() + timedelta(days=days)

    def _list(self) -> None:
        keys = key_list(config=get_config())
        if not keys:
            self.stdout.write("no API keys")
            return
        self.stdout.write("\n".join(table([key_row(k) for k in keys])))
        self.stdout.write(f"{len(keys)} key(s); times are UTC")
        if any(k.last_used_unknown for k in keys):
            self.stderr.write(
                "When the keys were last used is unknown: DynamoDB did not answer "
                "(the keys themselves come from the admin database)."
            )
