"""Structured JSON logs with correlation fields (run id, source, type, S3 key, message id).

``log_context(...)`` adds fields to every line logged inside it, in this thread or
task; the formatter writes one JSON object per line. Values that identify a person
(emails, credentials) never go into a log call: log ids and counts, not payloads.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterator
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

_FIELDS: ContextVar[dict[str, Any] | None] = ContextVar("twl_log_fields", default=None)


@contextlib.contextmanager
def log_context(**fields: Any) -> Iterator[None]:
    """Add correlation fields to every log line written inside the block."""
    token = _FIELDS.set((_FIELDS.get() or {}) | {k: v for k, v in fields.items() if v is not None})
    try:
        yield
    finally:
        _FIELDS.reset(token)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, correlation fields."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "timestamp": datetime.fromtimestamp(record.created, UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **(_FIELDS.get() or {}),
            **getattr(record, "fields", {}),
        }
        if record.exc_info:
            payload["exception"] = self.formatException(record.exc_info)
        return json.dumps(payload, default=str, ensure_ascii=False)
