"""The admin's own tables in one SQLite file kept in S3: a Django database backend.

``ENGINE: "pipeline.stores.s3sqlite"`` (Django loads ``base.DatabaseWrapper``). Opening a
connection makes the local copy current with one conditional GET; a connection that
changed the database uploads it with a conditional PUT, so a write based on an old
copy fails loudly (``AdminDataConflict``) instead of overwriting another's. ``store``
holds the S3 side; docs/DEPLOY.md ("The admin's own data") the decision and its limits.
"""

from __future__ import annotations

ENGINE = __name__


def push_changes() -> int:
    """Upload every admin database this thread changed; how many were uploaded.

    Imports the backend only when a connection uses it, so a stage on PostgreSQL or a
    local file pays nothing here (and keeps the standard ``sqlite3`` module).
    """
    from django.db import connections

    ours = [
        c for c in connections.all(initialized_only=True) if c.settings_dict["ENGINE"] == ENGINE
    ]
    if not ours:
        return 0
    from pipeline.stores.s3sqlite.base import DatabaseWrapper

    return sum(1 for c in ours if isinstance(c, DatabaseWrapper) and c.push())
