"""The seed project's API contract (``/api/seed/``), shaped from our own reads.

The seed's Next.js frontend works unchanged against these shapes; nothing here reads
the table another way: lists are ``record_list`` pages, analytics are the counters'
document, and every record passes the personal-data rule (``record_shown``) first.

A flat record, as the seed stored it:

- Core keys: ``id``, ``source``, ``type``, ``title``, ``captured_at``, ``processed_at``,
  ``fingerprint``, ``raw_s3_key`` (the seed stored it and its detail page shows it).
  Our own bookkeeping (``version``, ``run_id``, ``first_seen_at``, ``raw_index``,
  ``source_type``) stays at ``/api/records/{id}``.
- Times as JavaScript's ``toISOString`` writes them (milliseconds, ``Z``), the seed's
  format: every browser's ``new Date()`` reads it. Display only; paging never uses them.
- Every curated field (our ``data``) at top level. Core keys win a collision: a
  curated ``title`` (a post's) is the record's title anyway, and a curated field named
  like another core key is left out here (it stays under ``data`` at ``/api/records``).
- The seed's aliases, below core keys and curated fields in precedence: a post's
  ``userId`` and a comment's ``postId`` (as strings, as the seed stored ``userId``); a
  person's ``name`` (the full name, a string: React renders it as a child). A post's
  ``body`` and a person's ``email``, ``country`` and ``gender`` are curated fields by
  those names already. A JSONPlaceholder user needs none (its ``name`` and ``email``
  are curated). A comment's ``name`` is its subject line, as JSONPlaceholder names it.
- An alias exists only when its curated field is shown: a reader without the
  ``personal-data`` scope gets no personal field and no alias made from one.

Paging: ``lastKey`` is standard base64 of our signed cursor, so it is opaque, checked
(a forged or garbled one is a 400) and walks every record exactly once per filter.
An unknown ``source`` is an empty page, as the seed's Query on it was.

Analytics: the last 7 calendar days, oldest first (a line chart reads left to right),
zero-filled; ``by_date`` holds the same days in the same order. Counts are records by
capture day, as the seed counted. ``by_source`` and ``total_sources`` count the sources
that hold records, as the seed did, so the card and the chart agree.
"""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime
from typing import Any, Final

from pipeline.core.clock import parse_iso
from pipeline.core.config import PipelineConfig
from pipeline.core.errors import BadRequest, NotFound
from pipeline.selectors.access import record_shown
from pipeline.selectors.analytics import analytics_get
from pipeline.selectors.records import MAX_ID_LENGTH, record_detail, record_list
from pipeline.sources import SOURCES

DEFAULT_LIMIT: Final = 20
MAX_LIMIT: Final = 100
# Our cursors are at most 8,192 characters (as /api/records reads them); their base64.
LAST_KEY_MAX_CHARS: Final = 4 * -(-8192 // 3)
CORE_KEYS: Final = (
    "id",
    "source",
    "type",
    "title",
    "captured_at",
    "processed_at",
    "fingerprint",
    "raw_s3_key",
)
TIME_KEYS: Final = frozenset({"captured_at", "processed_at"})
# (source, type) -> {alias: curated field}; each value is given as a string.
ALIASES: Final[dict[tuple[str, str], dict[str, str]]] = {
    ("jsonplaceholder", "post"): {"userId": "user_id"},
    ("jsonplaceholder", "comment"): {"postId": "post_id"},
    ("randomuser", "user"): {"name": "full_name"},
}
NOT_FOUND_ERROR: Final = "Record not found"
# JavaScript's parseInt without a radix, decimal only: optional spaces and sign, digits.
_LEADING_INT = re.compile(r"\s*([+-]?)([0-9]+)")


def seed_limit(raw: str | None) -> int:
    """``limit`` as the seed read it (``parseInt(limit) || 20``), capped at 100.

    Leading digits count (``7.5`` is 7, as parseInt reads it); missing, not a number,
    zero or negative is 20. Hexadecimal (``0x10``) is not read: it counts as 0, so 20.
    """
    found = _LEADING_INT.match(raw or "")
    if found is None:
        return DEFAULT_LIMIT
    sign, digits = found.groups()
    digits = digits.lstrip("0")
    if sign == "-" or not digits:
        return DEFAULT_LIMIT
    # More than three digits is over the cap: no need to build a huge int.
    return MAX_LIMIT if len(digits) > 3 else min(int(digits), MAX_LIMIT)


def last_key_from(cursor: str | None) -> str | None:
    """Our cursor as the seed's ``lastKey``: standard base64 text, None at the end."""
    return None if cursor is None else base64.b64encode(cursor.encode()).decode("ascii")


def cursor_from(last_key: str | None) -> str | None:
    """The cursor inside a ``lastKey``; BadRequest when it is not base64 text.

    A space stands for ``+``: a client that puts the key in a URL unescaped has its
    ``+`` read as a space, and base64 never holds one. Empty means the first page.
    """
    if last_key and len(last_key) > LAST_KEY_MAX_CHARS:  # blank or not, as the schema says
        raise BadRequest(f"lastKey is over {LAST_KEY_MAX_CHARS} characters", field="lastKey")
    if not last_key or not last_key.strip():
        return None
    try:
        return base64.b64decode(last_key.replace(" ", "+").strip(), validate=True).decode()
    except ValueError:  # binascii.Error and UnicodeDecodeError both are
        raise BadRequest("lastKey is not valid; start again without one", field="lastKey") from None


def js_time(stamp: Any) -> Any:
    """A stored time as JavaScript's ``toISOString`` writes it; anything else as it is."""
    if not isinstance(stamp, str):
        return stamp
    try:
        moment = parse_iso(stamp)
    except ValueError:
        return stamp
    if moment.tzinfo is None:
        return stamp
    return _js_iso(moment)


def _js_iso(moment: datetime) -> str:
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def seed_record(shown: dict[str, Any]) -> dict[str, Any]:
    """A record as the seed stored it, from a record already passed through ``record_shown``."""
    data = shown.get("data")
    fields: dict[str, Any] = data if isinstance(data, dict) else {}
    aliases = ALIASES.get((str(shown.get("source")), str(shown.get("type"))), {})
    flat = {
        alias: None if fields[name] is None else str(fields[name])
        for alias, name in aliases.items()
        if name in fields
    }
    flat |= {k: v for k, v in fields.items() if k not in CORE_KEYS}
    flat |= {k: js_time(shown[k]) if k in TIME_KEYS else shown[k] for k in CORE_KEYS if k in shown}
    return flat


def seed_record_list(
    *,
    source: str | None,
    limit: int,
    last_key: str | None,
    personal: bool,
    config: PipelineConfig,
) -> dict[str, Any]:
    """``{"records", "count", "lastKey"}``: one page of ``record_list``, flat."""
    cursor = cursor_from(last_key)
    if source and source not in SOURCES:
        return {"records": [], "count": 0, "lastKey": None}
    try:
        page = record_list(source=source or None, limit=limit, cursor=cursor, config=config)
    except BadRequest as exc:
        if exc.field != "cursor":
            raise
        message = str(exc).replace("cursor", "lastKey")
        raise BadRequest(message, field="lastKey") from None
    records = [seed_record(record_shown(r, personal=personal)) for r in page.records]
    return {"records": records, "count": len(records), "lastKey": last_key_from(page.next_cursor)}


def seed_record_detail(
    record_id: str, *, personal: bool, config: PipelineConfig
) -> dict[str, Any] | None:
    """One flat record, or None when there is none (or the id is not one we accept)."""
    try:
        record = record_detail(record_id, config=config)
    except (BadRequest, NotFound):
        return None
    return seed_record(record_shown(record, personal=personal))


def seed_not_found(record_id: str) -> dict[str, str]:
    """The seed's 404 body, echoing at most MAX_ID_LENGTH characters of the id asked for."""
    return {
        "error": NOT_FOUND_ERROR,
        "id": record_id[:MAX_ID_LENGTH],
        "detail": "no record has this id",
    }


def seed_analytics(doc: dict[str, Any]) -> dict[str, Any]:
    """The seed's analytics shape from our analytics document (``analytics_get``)."""
    by_source = {row["source"]: row["count"] for row in doc["by_source"] if row["count"] > 0}
    days = doc["timeline"]
    summary = doc["summary"]
    return {
        "summary": {
            "total_records": summary["total_records"],
            "total_sources": len(by_source),
            "oldest_record": js_time(summary["oldest_captured_at"]),
            "newest_record": js_time(summary["newest_captured_at"]),
        },
        "by_source": by_source,
        "by_date": {day["date"]: day["records"] for day in days},
        "timeline": [{"date": day["date"], "count": day["records"]} for day in days],
    }


def seed_analytics_get(*, config: PipelineConfig, now: datetime | None = None) -> dict[str, Any]:
    """The seed's analytics, from the same counters as ``/api/analytics`` (no scan)."""
    return seed_analytics(analytics_get(config=config, now=now))
