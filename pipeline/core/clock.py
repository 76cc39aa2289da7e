"""Time as the pipeline writes it: UTC, fixed-width ISO 8601, so stored strings sort as times."""

from __future__ import annotations

from datetime import UTC, datetime


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    """Fixed-width ISO 8601 UTC with microseconds, so strings sort as times."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_iso(stamp: str) -> datetime:
    """The moment an ISO 8601 string names, as ``iso`` writes them (a trailing Z is UTC)."""
    # Python 3.11's fromisoformat reads the Z suffix itself.
    return datetime.fromisoformat(stamp)
