"""The local stack's admin login: create a superuser from the environment if missing.

``TWL_ADMIN_USERNAME`` / ``TWL_ADMIN_PASSWORD`` default to ``admin`` / ``admin``. Those
defaults exist for the embedded local stack on 127.0.0.1 only; in a deployed stage
create users with ``manage.py createsuperuser``. ``ensure_admin_user`` refuses any
database that is not on this machine (``database_not_local``), so the default login
cannot land in production whatever ``DATABASE_URL`` names.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from typing import Any, Final

from django.contrib.auth import get_user_model
from django.db import DEFAULT_DB_ALIAS, connections

from pipeline.core.errors import PipelineError

ADMIN_USERNAME_ENV = "TWL_ADMIN_USERNAME"
ADMIN_PASSWORD_ENV = "TWL_ADMIN_PASSWORD"
LOCAL_DEFAULT_USERNAME = "admin"
LOCAL_DEFAULT_PASSWORD = "admin"  # local stack only: it listens on loopback


SQLITE_ENGINE: Final = "django.db.backends.sqlite3"
LOOPBACK_HOSTNAMES: Final = frozenset({"localhost", "localhost.localdomain"})


class NotLocal(PipelineError):
    """The local stack would touch something not on this machine, so it refuses."""


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1), bracketed or not."""
    name = host.strip().strip("[]").lower()
    if name in LOOPBACK_HOSTNAMES:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def database_not_local(
    database: Mapping[str, Any], environ: Mapping[str, str] = os.environ
) -> str | None:
    """Why a Django ``DATABASES`` entry is not on this machine; None when it is.

    Local: SQLite (a file or memory), or a server reached over a Unix socket (a socket
    directory, or no host at all) or on a loopback address. With no host, libpq falls
    back to ``OPTIONS``/``PGHOST`` and may use a named service, so those count too.
    Anything else may be production.
    """
    if database.get("ENGINE") == SQLITE_ENGINE:
        return None
    options = database.get("OPTIONS") or {}
    service = options.get("service") or environ.get("PGSERVICE") or environ.get("PGSERVICEFILE")
    if service:
        return f"the database is the named service {service!r} (DATABASE_URL, PGSERVICE)"
    # libpq connects to hostaddr when one is given, whatever the host name says.
    address = str(options.get("hostaddr") or environ.get("PGHOSTADDR") or "")
    if address and not is_loopback(address):
        return f"the database is at {address!r}, not this machine (hostaddr, PGHOSTADDR)"
    host = str(database.get("HOST") or options.get("host") or environ.get("PGHOST") or "")
    if not host or host.startswith("/") or is_loopback(host):
        return None
    return f"the database is on {host!r}, not this machine (DATABASE_URL)"


def ensure_local_database(alias: str = DEFAULT_DB_ALIAS) -> None:
    """Raise ``NotLocal`` unless the ``alias`` database is on this machine (no connection made)."""
    reason = database_not_local(connections.settings[alias])
    if reason:
        raise NotLocal(f"refusing to create the local admin login: {reason}")


def ensure_admin_user(*, username: str, password: str, email: str = "") -> bool:
    """Create a superuser called ``username`` unless one exists; True if it was created.

    An existing user is left as it is (its password is not reset). Only in a local
    database: anywhere else this raises ``NotLocal`` and creates nothing.
    """
    ensure_local_database()
    user_model = get_user_model()
    if user_model._default_manager.filter(**{user_model.USERNAME_FIELD: username}).exists():
        return False
    user_model._default_manager.create_superuser(
        **{user_model.USERNAME_FIELD: username}, email=email, password=password
    )
    return True


def admin_user_from_env() -> tuple[str, str] | None:
    """(username, password) for the local stack; None when either is set to empty."""
    username = os.environ.get(ADMIN_USERNAME_ENV, LOCAL_DEFAULT_USERNAME).strip()
    password = os.environ.get(ADMIN_PASSWORD_ENV, LOCAL_DEFAULT_PASSWORD)
    if not username or not password:
        return None
    return username, password
