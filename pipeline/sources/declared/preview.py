"""What one fetched page would become, for an operator testing a definition before storing it.

It runs the very ``items`` and ``curate`` that processing runs, so the preview cannot
promise what ingest would not do. ``kept``/``excluded``/``personal`` list the flattened
keys seen in the page's items, in the order first seen, by the same prefix rules.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pipeline.core.errors import InvalidItem
from pipeline.sources.declared.paths import flatten
from pipeline.sources.declared.source import DeclaredSource, is_personal, kept

DEFAULT_LIMIT = 20


@dataclass(frozen=True)
class PreviewRecord:
    """One curated record as processing would store it (its id as the API would show it)."""

    id: str
    title: str
    fields: dict[str, Any]


@dataclass
class Preview:
    """A page's items curated: records (the first ``limit``), rejections and field fates."""

    items: int
    records: list[PreviewRecord] = field(default_factory=list)
    rejections: list[tuple[int, str]] = field(default_factory=list)  # (item index, reason)
    kept: list[str] = field(default_factory=list)
    excluded: list[str] = field(default_factory=list)
    personal: list[str] = field(default_factory=list)


def preview(
    source: DeclaredSource, type_: str, payload: Any, *, limit: int = DEFAULT_LIMIT
) -> Preview:
    """Curate a page as processing would; SourceError if its data_selector finds no list."""
    items = source.items(type_, payload)
    result = Preview(items=len(items))
    for index, item in enumerate(items):
        try:
            curated = source.curate(type_, item)
        except InvalidItem as exc:
            result.rejections.append((index, str(exc)))
            continue
        if len(result.records) < limit:
            record_id = f"{source.name}-{type_}-{curated.natural_id}"
            result.records.append(PreviewRecord(record_id, curated.title, curated.fields))
    _field_fates(source, type_, items, result)
    return result


def _field_fates(source: DeclaredSource, type_: str, items: list[Any], result: Preview) -> None:
    resource = source.resource(type_)
    seen: dict[str, None] = {}
    for item in items:
        if isinstance(item, Mapping):
            try:
                seen |= dict.fromkeys(flatten(item))
            except InvalidItem:
                continue  # already among the rejections
    for key in seen:
        if not kept(resource, key):
            result.excluded.append(key)
            continue
        result.kept.append(key)
        if is_personal(resource, key):
            result.personal.append(key)
