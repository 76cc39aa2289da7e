"""The S3 side of the admin's database: a local copy made current, uploads that never overwrite.

The local copy is a file; next to it a small record says which S3 version (ETag) it is
a download of, with the file's SHA-256. A copy whose bytes still match its record is
checked with one conditional GET (``IfNoneMatch``: 304, nothing transferred); any
other copy is downloaded again. Uploads are conditional writes: ``IfMatch`` the ETag
the copy was made from (``IfNoneMatch: *`` when the object did not exist), so a write
based on an old copy is refused by S3 and reported, never laid over a newer one. ETags
are opaque tokens here: nothing assumes one is an MD5.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import threading
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from typing import Any, Final

from botocore.exceptions import BotoCoreError, ClientError
from django.db.utils import OperationalError

from pipeline.core.config import PipelineConfig
from pipeline.core.constants import ADMIN_DB_MAX_BYTES
from pipeline.core.errors import error_code
from pipeline.stores import aws

log = logging.getLogger(__name__)

MISSING_CODE: Final = "NoSuchKey"
DENIED_CODE: Final = "AccessDenied"
# S3's answers to a conditional write that lost: If-Match no longer holds (412), another
# conditional write to the key is in flight (409), or the object was deleted meanwhile.
CONFLICT_CODES: Final = frozenset(
    {"PreconditionFailed", "ConditionalRequestConflict", MISSING_CODE}
)
ANY_VERSION: Final = "*"
CONTENT_TYPE: Final = "application/vnd.sqlite3"
# Every SQLite database file starts with these 16 bytes (sqlite.org/fileformat.html).
SQLITE_HEADER: Final = b"SQLite format 3\x00"
LOCAL_DIR: Final = "twl-admin-db"
RECORD_SUFFIX: Final = ".s3.json"
PRIVATE_DIR: Final = 0o700
# SQLite's side files: a hot journal left by a crashed write would be rolled back into
# a freshly downloaded copy, so they go whenever the copy is replaced or discarded.
SIDE_SUFFIXES: Final = ("-journal", "-wal", "-shm")

# One copy operation at a time in this process (a threaded server shares the file).
_lock = threading.RLock()


class AdminDataError(OperationalError):
    """The admin's database could not be read or saved (a Django ``OperationalError``)."""


class AdminDataUnavailable(AdminDataError):
    """Reading or writing the S3 object failed; nothing was guessed in its place."""


class AdminDataConflict(AdminDataError):
    """Another request or container saved the database first; this change was not saved."""


@dataclass(frozen=True)
class Location:
    """Where the database lives in S3, and where its local copy is kept."""

    bucket: str
    key: str
    path: Path

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    @property
    def record(self) -> Path:
        """Which S3 version the copy is, and the copy's digest (JSON)."""
        return self.path.with_name(self.path.name + RECORD_SUFFIX)

    @property
    def side_files(self) -> tuple[Path, ...]:
        return tuple(self.path.with_name(self.path.name + s) for s in SIDE_SUFFIXES)


def default_local_path(bucket: str, key: str) -> Path:
    """The local copy's path when none is configured: per bucket and key, under the temp dir."""
    return Path(tempfile.gettempdir()) / LOCAL_DIR / bucket / key


def fetch(*, location: Location, config: PipelineConfig) -> str | None:
    """Make the local copy current; the ETag it is a copy of, or None when there is no object.

    ``NoSuchKey`` means the database does not exist yet (a first deploy, before
    ``migrate``): the copy is removed and SQLite starts an empty one. Any other error
    raises ``AdminDataUnavailable`` and the copy is not used.
    """
    with _lock:
        # The copy holds password hashes: only this user may look into its directory.
        location.path.parent.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
        known = _known_etag(location)
        conditions: dict[str, Any] = {"IfNoneMatch": known} if known else {}
        try:
            reply = aws.s3(config).get_object(
                Bucket=location.bucket, Key=location.key, **conditions
            )
            if int(reply.get("ContentLength") or 0) > ADMIN_DB_MAX_BYTES:
                reply["Body"].close()
                raise AdminDataUnavailable(_read_failure(location, "over the size limit"))
            body = reply["Body"].read()
        except ClientError as exc:
            if known and _status(exc) == HTTPStatus.NOT_MODIFIED:
                return known
            if _code(exc) == MISSING_CODE:
                log.warning("%s does not exist yet: starting an empty database", location.uri)
                discard(location)
                return None
            raise AdminDataUnavailable(_read_failure(location, _code(exc))) from exc
        except BotoCoreError as exc:
            raise AdminDataUnavailable(_read_failure(location, type(exc).__name__)) from exc
        if not body.startswith(SQLITE_HEADER):
            # Someone else's upload: refuse it rather than use it (or save over it).
            raise AdminDataUnavailable(_read_failure(location, "not a SQLite database"))
        etag = str(reply["ETag"])
        _replace(location, body)
        _remember(location, etag=etag, body=body)
        return etag


def upload(*, location: Location, body: bytes, expected: str | None, config: PipelineConfig) -> str:
    """Store ``body`` as the new version if S3 still holds ``expected``; the new ETag.

    ``expected`` None: only if there is no object yet. A refused or failed write
    discards the local copy (the next connection reads S3 again) and raises.
    """
    conditions: dict[str, Any] = {"IfMatch": expected} if expected else {"IfNoneMatch": ANY_VERSION}
    with _lock:
        try:
            reply = aws.s3(config).put_object(
                Bucket=location.bucket,
                Key=location.key,
                Body=body,
                ContentType=CONTENT_TYPE,
                **conditions,
            )
        except ClientError as exc:
            discard(location)
            code = _code(exc)
            if code in CONFLICT_CODES:
                raise AdminDataConflict(
                    f"{location.uri} changed after this request read it ({code}); "
                    "its change was not saved"
                ) from exc
            raise AdminDataUnavailable(_write_failure(location, code)) from exc
        except BotoCoreError as exc:
            discard(location)
            raise AdminDataUnavailable(_write_failure(location, type(exc).__name__)) from exc
        etag = str(reply["ETag"])
        _remember(location, etag=etag, body=body)
        return etag


def discard(location: Location) -> None:
    """Forget the local copy: the next connection downloads the object again."""
    with _lock:
        for path in (location.record, location.path, *location.side_files):
            path.unlink(missing_ok=True)


def _known_etag(location: Location) -> str | None:
    """The ETag the copy was made from, if the copy is still exactly that download."""
    try:
        recorded: Any = json.loads(location.record.read_text())
        current = _digest(location.path.read_bytes())
    except (OSError, ValueError):
        return None
    if not isinstance(recorded, dict):
        return None
    same_object = (recorded.get("bucket"), recorded.get("key")) == (location.bucket, location.key)
    etag = recorded.get("etag")
    if same_object and recorded.get("sha256") == current and isinstance(etag, str) and etag:
        return etag
    return None


def _replace(location: Location, body: bytes) -> None:
    """Put the downloaded bytes in place atomically, with no record or journal left over."""
    for path in (location.record, *location.side_files):
        path.unlink(missing_ok=True)
    _write_atomically(location.path, body)


def _remember(location: Location, *, etag: str, body: bytes) -> None:
    record = {"bucket": location.bucket, "key": location.key, "etag": etag, "sha256": _digest(body)}
    _write_atomically(location.record, json.dumps(record).encode())


def _write_atomically(path: Path, data: bytes) -> None:
    """Write a private temporary file beside ``path``, then rename it over ``path``."""
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _code(exc: ClientError) -> str:
    return error_code(exc) or "unknown"


def _status(exc: ClientError) -> int | None:
    return exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")


def _read_failure(location: Location, why: str) -> str:
    message = f"could not read the admin's database {location.uri} ({why})"
    if why == DENIED_CODE:
        # A role that may not list the bucket is told AccessDenied for a missing key too.
        message += "; if it was never created, run `make migrate` for this stage"
    return message


def _write_failure(location: Location, why: str) -> str:
    return (
        f"could not save the admin's database {location.uri} ({why}); "
        "the change may not have been saved"
    )
