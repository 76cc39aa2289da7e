"""Django's SQLite backend on a local copy of an S3 object (``ENGINE: "pipeline.stores.s3sqlite"``).

Opening a connection makes the copy current (``store.fetch``: one conditional GET).
A connection that changed the database (SQLite's ``total_changes``, or its schema
version for DDL) uploads it with a conditional PUT when ``push()`` is called (the
web's middleware does so before answering) and when it closes (a management command
closes its connections as it ends, so ``migrate`` and ``createsuperuser`` save their
work, and an error there exits non-zero). A write that lost to another writer raises
``AdminDataConflict``; a failed read or write raises ``AdminDataUnavailable``: both
subclass Django's ``OperationalError``, and neither is ever turned into an empty database.

Django builds this class itself from ``DATABASES``, so, like an entry point, it reads
the pipeline's configuration (the stage's raw bucket, region, endpoint) with
``get_config()`` when it first connects. Settings: ``KEY``, the object's key
(default ``admin/db.sqlite3``), and ``NAME``, the local copy (empty: under the temp
directory, per bucket and key). An in-memory ``NAME`` is plain SQLite, never in S3.
``CONN_MAX_AGE`` must stay 0 so each request reads S3's current version.
"""

from __future__ import annotations

import importlib
import logging
import sqlite3
import sys
from pathlib import Path
from typing import Any, Final

from pipeline.core.config import PipelineConfig, get_config
from pipeline.core.constants import ADMIN_DB_KEY
from pipeline.stores.s3sqlite import store

log = logging.getLogger(__name__)

# Django 5.2's oldest SQLite (django/db/backends/sqlite3/features.py). Lambda's python3.11
# runtime (Amazon Linux 2) links SQLite 3.7.17, so the packaged pysqlite3-binary, a
# current SQLite with the same DB-API, takes the standard module's place there; it
# must, before Django's backend imports ``sqlite3`` (its features read the version then).
MIN_SQLITE: Final = (3, 31)
CURRENT_SQLITE: Final = "pysqlite3.dbapi2"


def _use_a_current_sqlite() -> None:
    if sqlite3.sqlite_version_info >= MIN_SQLITE:
        return
    try:
        dbapi2 = importlib.import_module(CURRENT_SQLITE)
    except ImportError:
        return  # Django's backend then refuses to connect, naming the version it found
    sys.modules["sqlite3"] = sys.modules[CURRENT_SQLITE.partition(".")[0]]
    sys.modules["sqlite3.dbapi2"] = dbapi2


_use_a_current_sqlite()

from django.db import DEFAULT_DB_ALIAS  # noqa: E402
from django.db.backends.sqlite3 import base as sqlite_base  # noqa: E402

Mark = tuple[int, int]


class DatabaseWrapper(sqlite_base.DatabaseWrapper):
    """SQLite on a local copy of the S3 object: made current on connect, uploaded when changed."""

    def __init__(self, settings_dict: dict[str, Any], alias: str = DEFAULT_DB_ALIAS) -> None:
        super().__init__(settings_dict, alias)
        self._where: tuple[store.Location, PipelineConfig] | None = None
        # The S3 version the open connection's copy is of (None: no object yet), and the
        # connection's change counters when the copy last matched that version.
        self._etag: str | None = None
        self._mark: Mark | None = None

    def get_connection_params(self) -> dict[str, Any]:
        if not self.is_in_memory_db():
            location, _ = self._location()
            self.settings_dict = {**self.settings_dict, "NAME": str(location.path)}
        return super().get_connection_params()

    def get_new_connection(self, conn_params: dict[str, Any]) -> Any:
        if self.is_in_memory_db():
            return super().get_new_connection(conn_params)
        location, config = self._location()
        etag = store.fetch(location=location, config=config)
        connection = super().get_new_connection(conn_params)
        self._etag, self._mark = etag, _mark(connection)
        return connection

    def push(self) -> bool:
        """Upload the database if this connection changed it; True when it did.

        Only committed work is uploaded: inside a transaction this waits. On failure
        the local copy is discarded and the connection closed (the next query reads
        S3 again) before the error is raised.
        """
        raw = self.connection
        if raw is None or self._mark is None or self.in_atomic_block or raw.in_transaction:
            return False
        mark = _mark(raw)
        if mark == self._mark:
            return False
        location, config = self._location()
        body = _snapshot(raw, location.path)
        try:
            self._etag = store.upload(
                location=location, body=body, expected=self._etag, config=config
            )
        except store.AdminDataError:
            self._mark = None
            sqlite_base.DatabaseWrapper.close(self)
            raise
        self._mark = mark
        log.info("saved the admin's database to %s (%d bytes)", location.uri, len(body))
        return True

    def close(self) -> None:
        """Upload what this connection changed, then close it (also when the upload fails)."""
        try:
            self.push()
        finally:
            super().close()

    def _location(self) -> tuple[store.Location, PipelineConfig]:
        if self._where is None:
            config = get_config()
            key = str(self.settings_dict.get("KEY") or ADMIN_DB_KEY)
            name = str(self.settings_dict.get("NAME") or "")
            path = Path(name) if name else store.default_local_path(config.raw_bucket, key)
            self._where = (store.Location(config.raw_bucket, key, path), config)
        return self._where


def _mark(raw: Any) -> Mark:
    """Rows changed so far on this connection, and the schema version (DDL changes only it)."""
    (schema_version,) = raw.execute("PRAGMA schema_version").fetchone()
    return int(raw.total_changes), int(schema_version)


def _snapshot(raw: Any, path: Path) -> bytes:
    """The database file's bytes, read under a shared lock so no writer commits meanwhile.

    Rollback-journal mode (Django's default): after a commit the file is the database.
    """
    raw.execute("BEGIN")
    try:
        raw.execute("SELECT count(*) FROM sqlite_master").fetchone()
        return path.read_bytes()
    finally:
        raw.execute("ROLLBACK")
