"""Declared sources' definitions in the ledger table, each change kept as a version.

Layout: ``SOURCEDEF`` / ``CURRENT#<name>`` is each live source's pointer (its version
and definition); ``SOURCEDEF#<name>`` / ``V#<version, 6 digits>`` keeps every version
ever written, never changed afterwards (the history, and what a raw object fetched at
that version is curated and replayed with). The invariants:

- a change writes its version item and moves the pointer in ONE TransactWriteItems,
  conditioned on the version item being new and the pointer still being at the version
  the editor read: of two editors one wins, the other gets DefinitionConflict, and no
  pointer ever names a version that was not written;
- only definitions that parse are written, in their canonical form (``definition_dict``);
- delete removes the pointer and writes a ``deleted`` version: history stays, as do the
  source's raw objects and curated records.

The web role may write these keys (``SOURCEDEF*``, ``dynamodb:LeadingKeys``): the admin
edits definitions. ``pipeline.stores.declared_sources`` turns them into the registry's
declared sources, and re-reads them after any write this process makes (``writes_made``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from botocore.exceptions import ClientError

from pipeline.core.clock import iso, utc_now
from pipeline.core.config import PipelineConfig
from pipeline.core.constants import LEDGER_PK, LEDGER_SK
from pipeline.core.errors import PipelineError, error_code
from pipeline.sources import builtin_names
from pipeline.sources.declared.spec import (
    MAX_DEFINITION_BYTES,
    SOURCE_NAME,
    DefinitionInvalid,
    FieldError,
    definition_dict,
    parse_definition,
)
from pipeline.stores import aws
from pipeline.stores.dynamo import from_item, to_item

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef

SOURCEDEF_PK: Final = "SOURCEDEF"  # the pointers' partition; versions: SOURCEDEF#<name>
CURRENT_SK_PREFIX: Final = "CURRENT#"
VERSION_SK_PREFIX: Final = "V#"
CHANGES: Final = ("created", "edited", "enabled", "paused", "deleted", "imported")
DELETED: Final = "deleted"
HISTORY_LIMIT: Final = 50
MAX_ACTOR_CHARS: Final = 150
_CANCELLED = "TransactionCanceledException"


class DefinitionConflict(PipelineError):
    """The source changed since the caller read it (or exists already): nothing was written."""


@dataclass(frozen=True)
class StoredDefinition:
    """One version of a declared source's definition as the ledger keeps it."""

    name: str
    version: int
    definition: dict[str, Any]
    updated_at: str
    updated_by: str
    change: str


class _Writes:
    """How many definition writes this process has made (readers' caches watch it)."""

    count = 0


def writes_made() -> int:
    """A number that changes with every definition write this process makes."""
    return _Writes.count


# --- writes ----------------------------------------------------------------------------


def definition_put(
    name: str,
    definition: Mapping[str, Any],
    *,
    change: str,
    actor: str,
    expected_version: int | None,
    config: PipelineConfig,
) -> int:
    """Store a new version of ``name`` and make it current; returns its version number.

    ``expected_version`` is the version the caller read (None: the source is new).
    Raises DefinitionInvalid for a definition that does not parse (every error), and
    DefinitionConflict when the source is no longer at ``expected_version``.
    """
    if change not in CHANGES or change == DELETED:
        raise PipelineError(f"change {change!r} is not one of {', '.join(CHANGES[:-1])}")
    text = _canonical_text(name, definition)
    version = _next_version(name, expected_version, config)
    stored = StoredDefinition(name, version, {}, iso(utc_now()), actor[:MAX_ACTOR_CHARS], change)
    _transact(
        [_version_put(stored, text, config), _pointer_put(stored, text, expected_version, config)],
        name=name,
        expected_version=expected_version,
        config=config,
    )
    return version


def definition_delete(
    name: str, *, actor: str, expected_version: int, config: PipelineConfig
) -> int:
    """Remove ``name``'s pointer and record a ``deleted`` version (its number is returned).

    The history, the source's raw objects and its records stay. DefinitionConflict when
    the source is gone or no longer at ``expected_version``.
    """
    current = definition_get(name, config=config)
    if current is None or current.version != expected_version:
        raise _conflict(name, expected_version)
    text = json.dumps(current.definition, separators=(",", ":"), ensure_ascii=False)
    stored = StoredDefinition(
        name, expected_version + 1, {}, iso(utc_now()), actor[:MAX_ACTOR_CHARS], DELETED
    )
    pointer_delete: TransactWriteItemTypeDef = {
        "Delete": {
            "TableName": config.ledger_table,
            "Key": to_item(_pointer_key(name)),
            **_at_version(expected_version),  # type: ignore[typeddict-item]
        }
    }
    _transact(
        [_version_put(stored, text, config), pointer_delete],
        name=name,
        expected_version=expected_version,
        config=config,
    )
    return stored.version


def _canonical_text(name: str, definition: Mapping[str, Any]) -> str:
    parsed = parse_definition(definition, reserved=builtin_names())
    if parsed.name != name:
        raise DefinitionInvalid([FieldError("name", f"is not {name!r}, the source changed")])
    text = json.dumps(definition_dict(parsed), separators=(",", ":"), ensure_ascii=False)
    if len(text.encode()) > MAX_DEFINITION_BYTES:
        limit = f"{MAX_DEFINITION_BYTES:,} bytes"
        raise DefinitionInvalid([FieldError("definition", f"is over {limit} with defaults")])
    return text


def _next_version(name: str, expected: int | None, config: PipelineConfig) -> int:
    """One more than the version read; for a new source, one more than any it ever had."""
    if expected is not None:
        return expected + 1
    newest = definition_history(name, config=config, limit=1)
    return newest[0].version + 1 if newest else 1


def _version_put(
    stored: StoredDefinition, text: str, config: PipelineConfig
) -> TransactWriteItemTypeDef:
    key = {LEDGER_PK: _history_pk(stored.name), LEDGER_SK: _version_sk(stored.version)}
    return {
        "Put": {
            "TableName": config.ledger_table,
            "Item": to_item(key | _attributes(stored, text)),
            "ConditionExpression": "attribute_not_exists(#pk)",
            "ExpressionAttributeNames": {"#pk": LEDGER_PK},
        }
    }


def _pointer_put(
    stored: StoredDefinition, text: str, expected: int | None, config: PipelineConfig
) -> TransactWriteItemTypeDef:
    if expected is None:
        condition: dict[str, Any] = {
            "ConditionExpression": "attribute_not_exists(#pk)",
            "ExpressionAttributeNames": {"#pk": LEDGER_PK},
        }
    else:
        condition = _at_version(expected)
    item = to_item(_pointer_key(stored.name) | _attributes(stored, text))
    return {"Put": {"TableName": config.ledger_table, "Item": item, **condition}}  # type: ignore[typeddict-item]


def _at_version(version: int) -> dict[str, Any]:
    return {
        "ConditionExpression": "#v = :v",
        "ExpressionAttributeNames": {"#v": "version"},
        "ExpressionAttributeValues": {":v": {"N": str(version)}},
    }


def _attributes(stored: StoredDefinition, text: str) -> dict[str, Any]:
    return {
        "name": stored.name,
        "version": stored.version,
        "definition": text,
        "updated_at": stored.updated_at,
        "updated_by": stored.updated_by,
        "change": stored.change,
    }


def _transact(
    items: list[TransactWriteItemTypeDef],
    *,
    name: str,
    expected_version: int | None,
    config: PipelineConfig,
) -> None:
    try:
        aws.dynamodb(config).transact_write_items(TransactItems=items)
    except ClientError as exc:
        if error_code(exc) == _CANCELLED:
            raise _conflict(name, expected_version) from None
        raise
    finally:
        _Writes.count += 1  # even a lost race means the source changed: read it again


def _conflict(name: str, expected: int | None) -> DefinitionConflict:
    if expected is None:
        return DefinitionConflict(f"a source named {name!r} exists already")
    return DefinitionConflict(
        f"source {name!r} changed since version {expected} was read (or was deleted): "
        "nothing was written; read it again and make the change there"
    )


# --- reads -----------------------------------------------------------------------------


def definitions_current(*, config: PipelineConfig) -> list[StoredDefinition]:
    """Every declared source's current definition, by name (one Query, paginated)."""
    return _query(SOURCEDEF_PK, CURRENT_SK_PREFIX, config=config)


def definition_get(name: str, *, config: PipelineConfig) -> StoredDefinition | None:
    """``name``'s current definition (None: no such declared source, or deleted)."""
    return _get(_pointer_key(name), name, config) if SOURCE_NAME.fullmatch(name) else None


def definition_version_get(
    name: str, version: int, *, config: PipelineConfig
) -> StoredDefinition | None:
    """One version of ``name``'s definition, current, old or deleted (None: never written)."""
    if not SOURCE_NAME.fullmatch(name) or not 0 < version < 10**6:
        return None
    key = {LEDGER_PK: _history_pk(name), LEDGER_SK: _version_sk(version)}
    return _get(key, name, config)


def definition_history(
    name: str, *, config: PipelineConfig, limit: int = HISTORY_LIMIT
) -> list[StoredDefinition]:
    """``name``'s versions, newest first (at most ``limit``, one Query)."""
    if not SOURCE_NAME.fullmatch(name):
        return []
    return _query(
        _history_pk(name), VERSION_SK_PREFIX, config=config, newest_first=True, limit=limit
    )


def _get(key: dict[str, str], name: str, config: PipelineConfig) -> StoredDefinition | None:
    reply = aws.dynamodb(config).get_item(
        TableName=config.ledger_table, Key=to_item(key), ConsistentRead=True
    )
    return _stored(from_item(reply["Item"])) if "Item" in reply else None


def _query(
    pk: str,
    sk_prefix: str,
    *,
    config: PipelineConfig,
    newest_first: bool = False,
    limit: int | None = None,
) -> list[StoredDefinition]:
    request: dict[str, Any] = {
        "TableName": config.ledger_table,
        "KeyConditionExpression": "#pk = :pk AND begins_with(#sk, :sk)",
        "ExpressionAttributeNames": {"#pk": LEDGER_PK, "#sk": LEDGER_SK},
        "ExpressionAttributeValues": {":pk": {"S": pk}, ":sk": {"S": sk_prefix}},
        "ConsistentRead": True,
        "ScanIndexForward": not newest_first,
    }
    found: list[StoredDefinition] = []
    while True:
        if limit is not None:
            request["Limit"] = limit - len(found)
        reply = aws.dynamodb(config).query(**request)
        found += [_stored(from_item(item)) for item in reply.get("Items", [])]
        if "LastEvaluatedKey" not in reply or (limit is not None and len(found) >= limit):
            return found
        request["ExclusiveStartKey"] = reply["LastEvaluatedKey"]


def _stored(data: dict[str, Any]) -> StoredDefinition:
    try:
        definition = json.loads(data.get("definition", ""))
    except ValueError:
        definition = None  # never written so; parsing it reports what is wrong
    return StoredDefinition(
        name=str(data.get("name", "")),
        version=int(data.get("version", 0)),
        definition=definition if isinstance(definition, dict) else {},
        updated_at=str(data.get("updated_at", "")),
        updated_by=str(data.get("updated_by", "")),
        change=str(data.get("change", "")),
    )


def _pointer_key(name: str) -> dict[str, str]:
    return {LEDGER_PK: SOURCEDEF_PK, LEDGER_SK: f"{CURRENT_SK_PREFIX}{name}"}


def _history_pk(name: str) -> str:
    return f"{SOURCEDEF_PK}#{name}"


def _version_sk(version: int) -> str:
    return f"{VERSION_SK_PREFIX}{version:06d}"
