"""A declared source: a Definition behaving as ``base.Source``, so every step after fetching
is the one the built-in sources take.

Curation is total over hostile items: whatever JSON an API sends, ``curate`` returns a
Curated or raises InvalidItem (never another error), and no excluded field ever
leaves it — not in ``fields``, not in the title (validation refuses a title that reads
one), and not in ``redact`` (what /raw shows).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pipeline.core.config import PipelineConfig
from pipeline.core.errors import InvalidItem, SourceError
from pipeline.core.payloads import fingerprint
from pipeline.sources.base import Curated, Request, require_object, shown
from pipeline.sources.declared.checks import kind
from pipeline.sources.declared.model import Definition, Resource
from pipeline.sources.declared.paginators import first_request
from pipeline.sources.declared.paths import (
    MISSING,
    flatten,
    get_path,
    render_title,
    title_paths,
    under,
    under_any,
    value_text,
    without,
)

# Record ids are ``<source>-<type>-<natural id>`` and travel as URL path segments.
NATURAL_ID = re.compile(r"[A-Za-z0-9._:@~-]{1,128}")
_ID_MAX_BITS = 430  # 128 decimal digits and a bit


def natural_id(resource: Resource, item: Mapping[str, Any]) -> str:
    """The primary key's text; InvalidItem unless it is a short id-safe string or integer."""
    key = resource.primary_key
    value = get_path(item, key)
    if value is MISSING or value is None:
        raise InvalidItem(f"missing primary key {key!r}")
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise InvalidItem(
            f"primary key {key!r} has type {type(value).__name__}, not text or integer"
        )
    if isinstance(value, int) and value.bit_length() > _ID_MAX_BITS:
        raise InvalidItem(f"primary key {key!r} is {shown(value)}, longer than 128 characters")
    text = str(value)
    if not NATURAL_ID.fullmatch(text):
        rule = "1..128 of A-Z a-z 0-9 . _ : @ ~ -"
        raise InvalidItem(f"primary key {key!r} is {shown(text)}, not {rule}")
    return text


def kept(resource: Resource, key: str) -> bool:
    """Whether a flattened key survives ``include`` (null keeps all) and then ``exclude``."""
    included = resource.include is None or under_any(key, resource.include)
    return included and not under_any(key, resource.exclude)


def is_personal(resource: Resource, key: str) -> bool:
    return under_any(key, resource.personal)


def curated_fields(resource: Resource, item: Mapping[str, Any]) -> dict[str, Any]:
    """The item flattened, then narrowed by ``include`` and ``exclude``."""
    return {k: v for k, v in flatten(item).items() if kept(resource, k)}


class DeclaredSource:
    """One version of a declared source, ready for ingest, processing, replay and the preview."""

    def __init__(self, definition: Definition, version: int) -> None:
        self.definition = definition
        self.version = version
        self.name = definition.name
        self.types = tuple(r.name for r in definition.resources)
        self._resources = {r.name: r for r in definition.resources}

    def __repr__(self) -> str:
        return f"DeclaredSource({self.name!r}, version={self.version})"

    @property
    def schedule_minutes(self) -> int:
        return self.definition.schedule_minutes

    @property
    def enabled(self) -> bool:
        return self.definition.enabled

    def resource(self, type_: str) -> Resource:
        """The resource behind a type; PipelineError naming the known ones otherwise."""
        found = self._resources.get(type_)
        return found if found is not None else self.definition.resource(type_)

    def request(self, type_: str, config: PipelineConfig) -> Request:
        """The first page (no stored cursor); the fetching loop pages on from there."""
        page = first_request(self.definition, self.resource(type_), cursor_value=None)
        return Request(url=page.url, params=page.params_dict())

    def items(self, type_: str, payload: Any) -> list[Any]:
        selector = self.resource(type_).data_selector
        found = get_path(payload, selector)
        if not isinstance(found, list):
            where = f"data_selector {selector!r}" if selector else "the body (no data_selector)"
            what = "nothing" if found is MISSING else f"a JSON {kind(found)}"
            raise SourceError(f"{where} should lead to a list of {type_} items; found {what}")
        return found

    def curate(self, type_: str, item: Any) -> Curated:
        resource = self.resource(type_)
        obj = require_object(item)
        key = natural_id(resource, obj)
        fields = curated_fields(resource, obj)
        title = render_title(resource.title, obj) or f"{type_} {key}"
        return Curated(natural_id=key, title=title, fields=fields)

    def redact(self, type_: str, item: Any) -> Any:
        """The raw item without its excluded fields: /raw never shows them."""
        return without(item, self.resource(type_).exclude)

    def expected_fields(self, type_: str) -> frozenset[str]:
        return frozenset()  # an operator's API has no documented schema to drift from

    def personal_fields(self, type_: str) -> frozenset[str]:
        """Personal paths; the access policy withholds each and every key below it."""
        return frozenset(self.resource(type_).personal)

    def neutral_title(self, type_: str, natural_id: str) -> str | None:
        """``<source> <type> <id>`` when the title reads a personal field (or above or below
        one); None when it reads none, so a product's name stays its title for everyone.
        """
        resource = self.resource(type_)
        personal = resource.personal
        template = resource.title or resource.primary_key
        reads = title_paths(template)
        if not any(under(p, q) or under(q, p) for p in reads for q in personal):
            return None
        return f"{self.name} {type_} {natural_id}"

    def curation_digest(self, type_: str) -> str:
        """A hash of the rules that shape a curated record of ``type_`` (selector, key, title,
        include, exclude): equal across versions that curate alike (a new schedule, a pause).

        Processing folds it into each record's fingerprint, and ingest skips a page seen
        before only while it is unchanged, so an edit that changes what is kept reaches the
        records already stored on the next run, while replaying an old object with the
        version that fetched it still reproduces its record exactly.
        """
        r = self.resource(type_)
        rules = [r.data_selector, r.primary_key, r.title, r.include, r.exclude]
        return fingerprint(rules)

    def cursor_of(self, type_: str, item: Any) -> str | None:
        """The item's incremental cursor as text, or None (no cursor, or not a scalar)."""
        incremental = self.resource(type_).incremental
        if incremental is None:
            return None
        return value_text(get_path(item, incremental.cursor_path)) or None
