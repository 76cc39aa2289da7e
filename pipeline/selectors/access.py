"""Who sees what of a record: the personal-data rule, in one place.

Each source declares which curated fields of a type identify or locate a person
(``Source.personal_fields``). A reader with the ``personal-data`` scope (an API key
that holds it, or a signed-in staff user) gets records whole. Everyone else gets the
record without those fields, with a neutral title where the title is a name, and no
raw item for a type that has personal fields (the raw item holds them all).

A personal field is a dotted path (declared sources flatten nested objects to
``owner.email``): a data key is withheld when it is that path, below it (``owner``
withholds ``owner.email``) or above it (a key ``contacts`` holding a list, or an object
nested past the flattening depth, may hold ``contacts.email``). Built-in sources' keys
have no dots, so for them this is equality.

Callers decide who the reader is (``records_api.access``); this module only applies
the rule, to dicts as the record selectors return them.
"""

from __future__ import annotations

from typing import Any, Final

from pipeline.core.errors import Forbidden
from pipeline.sources import SOURCES
from pipeline.sources.base import Source
from pipeline.sources.declared.paths import under

WITHHELD_RAW: Final = (
    "the raw item of {record_id} holds personal data; it needs an API key with the "
    "personal-data scope, or a staff sign-in"
)


def _feed_source(source: str, type_: str) -> Source | None:
    """The source of a known feed (None: no source offers it); one registry lookup."""
    known = SOURCES.get(source)
    return known if known is not None and type_ in known.types else None


def is_known_feed(source: str, type_: str) -> bool:
    return _feed_source(source, type_) is not None


def personal_fields(source: str, type_: str) -> frozenset[str]:
    """The fields of ``source``/``type_`` only the personal-data scope receives."""
    known = _feed_source(source, type_)
    return known.personal_fields(type_) if known is not None else frozenset()


def withheld(key: str, personal: frozenset[str]) -> bool:
    """Whether a data key is kept from readers without the scope: the prefix rule."""
    return any(under(key, path) or under(path, key) for path in personal)


def natural_id(record: dict[str, Any]) -> str:
    """The source's own id of a record (``<source>-<type>-<natural id>``)."""
    prefix = f"{record['source']}-{record['type']}-"
    record_id = str(record["id"])
    return record_id[len(prefix) :] if record_id.startswith(prefix) else record_id


def record_shown(record: dict[str, Any], *, personal: bool) -> dict[str, Any]:
    """``record`` as this reader may see it: whole, or without its personal fields."""
    if personal:
        return record
    source = _feed_source(record["source"], record["type"])
    if source is None:
        # A feed no source declares (one removed since): nothing says which of its
        # fields are safe, so none of them is shown, nor its title.
        return dict(record) | {"data": {}, "title": f"{record['source']} {record['type']} record"}
    hidden = source.personal_fields(record["type"])
    if not hidden:
        return record
    shown = dict(record)
    data = record.get("data")
    if isinstance(data, dict):
        shown["data"] = {k: v for k, v in data.items() if not withheld(k, hidden)}
    neutral = source.neutral_title(record["type"], natural_id(record))
    if neutral is None and isinstance(data, dict) and _names_someone(record, data, hidden):
        # A title curated under an older definition can still read a personal field.
        neutral = f"{record['source']} {record['type']} {natural_id(record)}"
    if neutral is not None:
        shown["title"] = neutral
    return shown


# Shorter personal values ("NY", "1") are too common in titles to say anything.
_TELLING_CHARS = 3


def _names_someone(record: dict[str, Any], data: dict[str, Any], hidden: frozenset[str]) -> bool:
    """Whether the record's title shows the text of one of its withheld fields."""
    title = str(record.get("title") or "")
    values = (str(v) for k, v in data.items() if withheld(k, hidden) and isinstance(v, str | int))
    return any(len(v) >= _TELLING_CHARS and v in title for v in values)


def records_shown(records: list[dict[str, Any]], *, personal: bool) -> list[dict[str, Any]]:
    return [record_shown(r, personal=personal) for r in records]


def raw_allowed(record: dict[str, Any], *, personal: bool) -> bool:
    """Whether this reader may see the record's raw item."""
    if personal:
        return True
    source, type_ = record["source"], record["type"]
    return is_known_feed(source, type_) and not personal_fields(source, type_)


def require_raw_allowed(record: dict[str, Any], *, personal: bool) -> None:
    """Raise Forbidden (403) when the reader may not see the record's raw item."""
    if not raw_allowed(record, personal=personal):
        raise Forbidden(WITHHELD_RAW.format(record_id=record["id"]))
