"""Typed readers for environment variables, so settings.py stays declarative."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str = "") -> str:
    """Return the variable's value, or ``default`` when it is unset."""
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    """Parse a boolean flag; an unrecognised value is a configuration error."""
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(f"{name}={raw!r} is not a boolean (use true/false)")


def env_int(name: str, default: int) -> int:
    """Parse an integer; a malformed value is a configuration error."""
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not an integer") from None


def env_list(name: str, default: list[str]) -> list[str]:
    """Parse a comma-separated list, dropping blanks."""
    raw = os.environ.get(name)
    if raw is None:
        return list(default)
    return [part.strip() for part in raw.split(",") if part.strip()]


def env_list_or_none(name: str) -> list[str] | None:
    """A comma-separated list, or None (meaning "all") when the variable is unset or blank."""
    return env_list(name, []) if os.environ.get(name, "").strip() else None


_BOUNDS = {"max_pages": int, "max_records": int, "max_bytes": int, "max_seconds": float}


def source_bounds(environ: Mapping[str, str]) -> dict[str, Any]:
    """Declared sources' per-run bounds set by TWL_SOURCE_MAX_PAGES, …_RECORDS, …_BYTES, …_SECONDS.

    Unset ones keep their defaults (``pipeline.core.config.SourceBounds``); each must be positive.
    """
    found: dict[str, Any] = {}
    for name, kind in _BOUNDS.items():
        variable = f"TWL_SOURCE_{name.upper()}"
        raw = environ.get(variable, "").strip()
        if not raw:
            continue
        try:
            value = kind(raw)
        except ValueError:
            raise ValueError(f"{variable}={raw!r} is not a number") from None
        if value <= 0:
            raise ValueError(f"{variable}={raw!r} must be positive")
        found[name] = value
    return found
