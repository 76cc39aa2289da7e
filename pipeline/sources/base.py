"""What every source module provides: how to fetch a type and curate one item."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol

from pipeline.core.config import PipelineConfig
from pipeline.core.errors import InvalidItem


@dataclass(frozen=True)
class Request:
    """One HTTP GET a source needs for a type."""

    url: str
    params: Mapping[str, str | int] = field(default_factory=dict)


@dataclass(frozen=True)
class Curated:
    """One curated item before pipeline bookkeeping is added."""

    natural_id: str
    title: str
    fields: dict[str, Any]


class Source(Protocol):
    """A public HTTP API the pipeline ingests."""

    name: str
    types: tuple[str, ...]

    def request(self, type_: str, config: PipelineConfig) -> Request: ...

    def items(self, type_: str, payload: Any) -> list[Any]: ...

    def curate(self, type_: str, item: Any) -> Curated: ...

    def redact(self, type_: str, item: Any) -> Any:
        """The raw item as it may be shown outside the raw layer (secrets masked)."""
        ...

    def expected_fields(self, type_: str) -> frozenset[str]:
        """The documented top-level fields of an item, to report schema drift."""
        ...

    def personal_fields(self, type_: str) -> frozenset[str]:
        """The curated fields that identify or locate a person (the ``personal-data`` scope).

        A reader without that scope gets the record without them, a neutral title, and
        no raw item (``pipeline.selectors.access``).
        """
        ...

    def neutral_title(self, type_: str, natural_id: str) -> str | None:
        """A title naming no one, for readers without the ``personal-data`` scope.

        None when the type's titles name no one already (a post's title).
        """
        ...


REDACTED = "[redacted]"
# Rejection reasons show at most this much of a bad value.
_SHOWN_CHARS = 60
_SHOWN_BITS = 128


def require(item: Mapping[str, Any], key: str, kind: type | tuple[type, ...]) -> Any:
    """Return ``item[key]`` if present and of ``kind``, else raise InvalidItem."""
    if key not in item or item[key] is None:
        raise InvalidItem(f"missing field {key!r}")
    value = item[key]
    # bool is an int subclass; an id of True is not an id.
    if isinstance(value, bool) and bool not in _as_tuple(kind):
        raise InvalidItem(f"field {key!r} has type bool")
    if not isinstance(value, kind):
        raise InvalidItem(f"field {key!r} has type {type(value).__name__}")
    return value


def require_int(item: Mapping[str, Any], key: str, *, low: int, high: int) -> int:
    """Return ``item[key]`` if it is an int in [low, high], else raise InvalidItem."""
    value: int = require(item, key, int)
    if not low <= value <= high:
        raise InvalidItem(f"field {key!r} is {shown(value)}, outside {low}..{high}")
    return value


def section(item: Mapping[str, Any], key: str, *, path: str | None = None) -> Mapping[str, Any]:
    """A nested object; empty when missing or null, InvalidItem when it is anything else.

    Unlike ``block``, a value of the wrong shape is never silently read as empty.
    """
    value = item.get(key)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InvalidItem(f"field {path or key!r} has type {type(value).__name__}, not object")
    return value


def field_text(item: Mapping[str, Any], key: str, *, path: str | None = None) -> str | None:
    """A scalar field as text (numbers too); None when missing; InvalidItem for a container.

    Unlike ``text``, a list or object where text belongs is rejected, never nulled.
    """
    value = item.get(key)
    if isinstance(value, (Mapping, list)):
        raise InvalidItem(f"field {path or key!r} has type {type(value).__name__}, not text")
    return text(value)


def shown(value: Any) -> str:
    """A value for a rejection reason: short whatever its size (a huge number as 1.000e+40)."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > _SHOWN_BITS:
        return f"{Decimal(value):.3e}"
    rendered = repr(value)
    return rendered if len(rendered) <= _SHOWN_CHARS else rendered[:_SHOWN_CHARS] + "…"


def block(item: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    """Return a nested object, or an empty one when it is missing or not an object."""
    value = item.get(key)
    return value if isinstance(value, Mapping) else {}


def text(value: Any) -> str | None:
    """Render a scalar as text (numbers too); None and containers become None."""
    if value is None or isinstance(value, (dict, list)):
        return None
    return str(value)


def require_object(item: Any) -> Mapping[str, Any]:
    """Every item must be a JSON object."""
    if not isinstance(item, Mapping):
        raise InvalidItem(f"item is a {type(item).__name__}, not an object")
    return item


def _as_tuple(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)
