"""Bounded renderings of arbitrary JSON: never more than a fixed number of bytes.

Shared by the public pages, the browsable API and the admin's record page.

``json.dumps(item, indent=2)`` of a small item made of nested lists is quadratic in
its depth (a 61 KB item became a 49.5 MB page). Here the encoder's chunks are taken
one at a time and counted as they will be sent (HTML-escaped for pages), and the text
stops at the limit, so time and memory are bounded by the limit, not by the item.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from html import escape
from typing import Any


@dataclass(frozen=True)
class Preview:
    """Text of at most ``limit`` bytes, and whether it was cut to get there."""

    text: str
    truncated: bool
    limit: int

    @property
    def limit_kb(self) -> int:
        return self.limit // 1024


@dataclass(frozen=True)
class FieldsPreview:
    """Name/value rows, each bounded, and how many fields did not fit at all."""

    rows: list[tuple[Preview, Preview]] = field(default_factory=list)
    omitted: int = 0


def _cost(text: str, *, html: bool) -> int:
    return len((escape(text) if html else text).encode("utf-8"))


def _prefix_within(text: str, budget: int, *, html: bool) -> str:
    """The longest prefix of ``text`` whose cost is at most ``budget`` (binary search)."""
    low, high = 0, len(text)
    while low < high:
        middle = (low + high + 1) // 2
        if _cost(text[:middle], html=html) <= budget:
            low = middle
        else:
            high = middle - 1
    return text[:low]


def bounded_text(chunks: Iterable[str], *, limit: int, html: bool = True) -> Preview:
    """Join ``chunks`` until ``limit`` bytes; stop early (the rest is never produced)."""
    parts: list[str] = []
    used = 0
    try:
        for chunk in chunks:
            cost = _cost(chunk, html=html)
            if used + cost > limit:
                parts.append(_prefix_within(chunk, limit - used, html=html))
                return Preview("".join(parts), truncated=True, limit=limit)
            parts.append(chunk)
            used += cost
    except (RecursionError, TypeError, ValueError):
        # Nested deeper than the encoder can follow (or not JSON): show what was reached.
        return Preview("".join(parts), truncated=True, limit=limit)
    return Preview("".join(parts), truncated=False, limit=limit)


def json_preview(
    value: Any,
    *,
    limit: int,
    indent: int | None = 2,
    html: bool = True,
    sort_keys: bool = False,
    encoder: type[json.JSONEncoder] = json.JSONEncoder,
) -> Preview:
    """``value`` as (pretty) JSON, at most ``limit`` bytes; non-JSON values as ``str``."""
    kwargs: dict[str, Any] = {"indent": indent, "ensure_ascii": False, "sort_keys": sort_keys}
    if encoder is json.JSONEncoder:
        kwargs["default"] = str
    # iterencode (not encode) yields chunk by chunk: nothing past the limit is built.
    return bounded_text(encoder(**kwargs).iterencode(value), limit=limit, html=html)


def json_size(value: Any, *, encoder: type[json.JSONEncoder]) -> int:
    """UTF-8 bytes of ``value`` as compact JSON, as the API sends it.

    One-shot C encoding: linear in the item, which the caller already holds parsed
    (the iterative encoder is far slower on deep nesting, where it resumes one
    generator per level for every chunk).
    """
    text = json.dumps(value, cls=encoder, ensure_ascii=False, separators=(",", ":"))
    return len(text.encode("utf-8"))


def value_preview(value: Any, *, limit: int) -> Preview:
    """One field's value as a page shows it: text as is, anything else as compact JSON."""
    if value is None:
        return Preview("—", truncated=False, limit=limit)
    if isinstance(value, str):
        return bounded_text([value], limit=limit)
    return json_preview(value, limit=limit, indent=None)


def fields_preview(data: Mapping[str, Any], *, per_field: int, total: int) -> FieldsPreview:
    """Sorted name/value rows, each at most ``per_field`` bytes, all at most ``total``."""
    rows: list[tuple[Preview, Preview]] = []
    used = 0
    names = sorted(data, key=str)
    for shown, name in enumerate(names):
        key = value_preview(str(name), limit=per_field)
        value = value_preview(data[name], limit=per_field)
        cost = _cost(key.text, html=True) + _cost(value.text, html=True)
        if used + cost > total:
            return FieldsPreview(rows, omitted=len(names) - shown)
        rows.append((key, value))
        used += cost
    return FieldsPreview(rows)
