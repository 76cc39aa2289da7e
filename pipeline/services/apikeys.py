"""API keys: issue one (its secret handed back once), list them, revoke one for good.

Invariants: a key's secret leaves this module only as the return value of
``key_create``/``key_issue``; it is never logged, stored (the library keeps its hash) or
put in an error message. Revoking cannot be undone (the library refuses it) and a key
is never deleted: a revoked key stays as the record of who could read what. When a
key was last used lives in DynamoDB (``pipeline.stores.throttle``); if DynamoDB does
not answer, the list still comes back, with those times marked unknown.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from django.core.exceptions import ValidationError

from pipeline.core.clock import parse_iso, utc_now
from pipeline.core.config import PipelineConfig
from pipeline.core.errors import AWS_ERRORS, BadRequest, NotFound
from pipeline.models import ApiKey, scope_list
from pipeline.stores.throttle import keys_last_used

log = logging.getLogger(__name__)

# A key is "<prefix>.<secret>"; the prefix (8 characters) names it and is not secret.
PREFIX_CHARS: Final = 8


@dataclass(frozen=True)
class KeyInfo:
    """One key as an operator sees it; never its secret or its hash."""

    prefix: str
    name: str
    scopes: tuple[str, ...]
    created: datetime
    last_used: datetime | None  # None: never used, or unknown (``last_used_unknown``)
    expires: datetime | None
    revoked: bool
    last_used_unknown: bool = False

    @property
    def expired(self) -> bool:
        return self.expires is not None and self.expires < utc_now()


def key_create(
    name: str, *, scopes: Iterable[str], expires: datetime | None = None, rate: str = ""
) -> tuple[ApiKey, str]:
    """A new key, saved; returns it and its secret, which cannot be had again.

    Raises ``BadRequest`` for an unknown scope, a malformed rate, a bad name or an
    expiry that is not in the future.
    """
    wanted = ",".join(dict.fromkeys(s.strip() for s in scopes if s.strip()))
    key = ApiKey(name=name.strip(), scopes=wanted, expiry_date=expires, rate=rate.strip())
    return key, key_issue(key)


def key_issue(key: ApiKey) -> str:
    """Give an unsaved key its secret, validate it with the model's rules and save it.

    The one path by which keys are made (the command and the admin's add form), so
    both check the same rules; the secret is returned, only its hash is stored.
    """
    if not key._state.adding:
        raise BadRequest("this key was issued already; its secret cannot be shown again")
    check_expiry(key.expiry_date)
    secret = ApiKey.objects.assign_key(key)
    try:
        key.full_clean()
    except ValidationError as exc:
        raise BadRequest(validation_message(exc)) from None
    key.save()
    log.info("API key %s (%r) created, scopes %r", key.prefix, key.name, key.scopes)
    return secret


def check_expiry(expires: datetime | None) -> None:
    """A new key's expiry is in the future (a key born expired is a mistake)."""
    if expires is not None and expires <= utc_now():
        raise BadRequest("the expiry must be in the future", field="expiry_date")


def validation_message(exc: ValidationError) -> str:
    """The model's complaints as one line, field by field."""
    if not hasattr(exc, "error_dict"):
        return "; ".join(exc.messages)
    return "; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in exc.message_dict.items())


def key_last_used(prefixes: list[str], *, config: PipelineConfig) -> dict[str, datetime] | None:
    """When each key was last used (absent: never), in one read; None if DynamoDB fails."""
    if not prefixes:
        return {}
    try:
        stamps = keys_last_used(prefixes, config=config)
    except AWS_ERRORS as exc:
        log.warning("could not read when API keys were last used: %s", exc)
        return None
    used: dict[str, datetime] = {}
    for prefix, stamp in stamps.items():
        try:
            used[prefix] = parse_iso(stamp)
        except ValueError:
            log.warning("API key %s: unreadable last-used time %r", prefix, stamp[:40])
    return used


def key_list(*, config: PipelineConfig) -> list[KeyInfo]:
    """Every key, newest first, with when it was last used (one DynamoDB read)."""
    keys = list(ApiKey.objects.order_by("-created"))
    used = key_last_used([k.prefix for k in keys], config=config)
    return [key_info(k, used) for k in keys]


def key_info(key: ApiKey, used: dict[str, datetime] | None) -> KeyInfo:
    """``key`` as listed; ``used`` from ``key_last_used`` (None: unknown)."""
    return KeyInfo(
        prefix=key.prefix,
        name=key.name,
        scopes=tuple(scope_list(key.scopes)),
        created=key.created,
        last_used=None if used is None else used.get(key.prefix),
        expires=key.expiry_date,
        revoked=key.revoked,
        last_used_unknown=used is None,
    )


def key_revoke(prefix: str) -> ApiKey:
    """Revoke the key named by ``prefix`` (a whole key works too); for good, and idempotent.

    Raises ``NotFound`` for an unknown prefix. The message repeats what was given only
    when it could be a prefix, so a pasted secret is never echoed.
    """
    wanted = prefix.strip().partition(".")[0]
    key = ApiKey.objects.filter(prefix=wanted).first() if wanted else None
    if key is None:
        shown = repr(wanted) if 0 < len(wanted) <= PREFIX_CHARS else "(not a key prefix)"
        raise NotFound(
            f"no API key has the prefix {shown}; `manage.py apikey list` shows the prefixes "
            f"({PREFIX_CHARS} characters, before the dot of a key)"
        )
    if not key.revoked:
        key.revoked = True
        key.save(update_fields=["revoked"])
        log.info("API key %s (%r) revoked", key.prefix, key.name)
    return key
