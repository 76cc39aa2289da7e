"""Dotted paths over JSON items: reading one, flattening an item, the prefix rule, titles.

One home for what a dotted path means, so curation, redaction, the preview and the
access policy agree: a path walks nested *objects* only (never into lists); a flattened
key joins object keys with "."; ``under(key, path)`` is the prefix rule (``owner``
covers ``owner.email``). Every function here is total over JSON: a hostile item gives
MISSING, an empty text, or InvalidItem (key collisions), nothing else.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any, Final

from pipeline.core.errors import InvalidItem
from pipeline.sources.base import shown

FLATTEN_DEPTH: Final = 8
TITLE_MAX_CHARS: Final = 300
PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
# An int this long has no useful text (and str() refuses beyond 4,300 digits).
_MAX_TEXT_BITS = 1024


class _Missing:
    """The value at a path that leads nowhere (distinct from a JSON null)."""

    _instance: _Missing | None = None

    def __new__(cls) -> _Missing:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False


MISSING: Final = _Missing()


def get_path(obj: Any, path: str) -> Any:
    """The value at ``path`` ("" is ``obj`` itself), or MISSING if a step is not an object key."""
    if path == "":
        return obj
    for segment in path.split("."):
        if not isinstance(obj, Mapping) or segment not in obj:
            return MISSING
        obj = obj[segment]
    return obj


def under(key: str, path: str) -> bool:
    """The prefix rule: ``key`` is ``path`` itself or a key below it."""
    return key == path or key.startswith(path + ".")


def under_any(key: str, paths: Iterable[str]) -> bool:
    return any(under(key, p) for p in paths)


def flatten(obj: Mapping[str, Any], depth: int = FLATTEN_DEPTH) -> dict[str, Any]:
    """Nested objects' keys joined with "."; lists stay values; objects below ``depth`` too.

    Two ways to one key (``{"a.b": 1, "a": {"b": 2}}``) is InvalidItem: neither can win.
    """
    flat: dict[str, Any] = {}
    _flatten_into(flat, obj, "", depth)
    return flat


def _flatten_into(flat: dict[str, Any], obj: Mapping[str, Any], prefix: str, depth: int) -> None:
    for key, value in obj.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value and depth > 1:
            _flatten_into(flat, value, name + ".", depth - 1)
            continue
        if name in flat:
            raise InvalidItem(f"field {shown(name)} appears twice once nested keys are joined")
        flat[name] = value


def without(obj: Any, paths: Iterable[str]) -> Any:
    """``obj`` with every key under one of ``paths`` removed, by the same rule as ``flatten``.

    A key that itself holds dots (``{"a.b": 1}``) is removed by ``a`` and by ``a.b``, as
    its flattened key is; the input is never changed.
    """
    chosen = tuple(paths)
    if not chosen or not isinstance(obj, Mapping):
        return obj
    return _without(obj, "", chosen, FLATTEN_DEPTH)


def _without(obj: Mapping[str, Any], prefix: str, paths: tuple[str, ...], depth: int) -> Any:
    kept: dict[str, Any] = {}
    for key, value in obj.items():
        name = f"{prefix}{key}"
        if under_any(name, paths):
            continue
        below = isinstance(value, Mapping) and depth > 1
        if below and any(p.startswith(name + ".") for p in paths):
            value = _without(value, name + ".", paths, depth - 1)
        kept[key] = value
    return kept


def value_text(value: Any) -> str:
    """A scalar's text for titles and cursors: "" for missing, null and containers."""
    if value is None or value is MISSING or isinstance(value, (Mapping, list)):
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int) and value.bit_length() > _MAX_TEXT_BITS:
        return shown(value)
    return str(value)


def title_paths(template: str) -> tuple[str, ...]:
    """The dotted paths a title reads: its placeholders, or the whole string if it has none."""
    if "{" not in template and "}" not in template:
        return (template,)
    return tuple(m.group(1) for m in PLACEHOLDER.finditer(template))


def render_title(template: str, item: Any) -> str:
    """A title from a dotted path or a ``{a.b}`` template; whitespace collapsed, cut to 300.

    Missing values render as "" (the caller supplies a fallback for an empty title).
    """
    if "{" not in template and "}" not in template:
        text = value_text(get_path(item, template))
    else:
        text = PLACEHOLDER.sub(lambda m: value_text(get_path(item, m.group(1))), template)
    return " ".join(text.split())[:TITLE_MAX_CHARS]
