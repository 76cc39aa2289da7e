"""Declared sources as operators manage them: save, pause, delete, import, export, test.

The admin's Sources pages and ``manage.py sources`` are thin callers of these. Every write
validates the whole definition first (``parse_definition``: every error, with its field
path), stores its canonical form (``definition_dict``) as a new version, and leaves the
current one untouched when nothing changed, so saving or importing the same definition
twice writes nothing. ``definitions_import`` checks every definition of the file before it
writes any. Deleting a definition keeps its history, its raw objects and its curated
records (docs/SOURCES.md).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from pipeline.core.config import PipelineConfig
from pipeline.core.errors import PipelineError
from pipeline.services.ingest import failure_reason
from pipeline.services.source_fetch import test_source
from pipeline.sources import builtin_names
from pipeline.sources.declared import (
    MAX_DEFINITION_BYTES,
    DeclaredSource,
    DefinitionInvalid,
    FieldError,
    Preview,
    definition_dict,
    parse_definition,
)
from pipeline.stores import definitions
from pipeline.stores.definitions import StoredDefinition

# A file may hold one definition, a list of them, or {"sources": [...]} (what export writes).
EXPORT_KEY = "sources"


@dataclass(frozen=True)
class SaveResult:
    """What a save did: the version now current, and whether it is a new one."""

    name: str
    version: int
    changed: bool


@dataclass
class ImportReport:
    """Which definitions of a file were created, changed, or already as the file says."""

    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ResourceTest:
    """One resource's live first page: its curated preview, or why it could not be fetched."""

    type: str
    preview: Preview | None
    error: str | None


def definition_parse(data: Any) -> Any:
    """Validate a definition (a built-in source's name is taken); raise DefinitionInvalid."""
    return parse_definition(data, reserved=frozenset(builtin_names()))


def definition_save(
    data: Any,
    *,
    actor: str,
    config: PipelineConfig,
    change: str = "edited",
    expected_version: int | None = None,
    check_version: bool = False,
) -> SaveResult:
    """Store ``data`` as its source's next version; nothing is written when it is unchanged.

    With ``check_version`` the save is refused (DefinitionConflict) unless the current
    version is still ``expected_version`` (None: the source must not exist yet), so two
    operators editing at once never overwrite each other silently.
    """
    canonical = definition_dict(definition_parse(data))
    name = canonical["name"]
    current = _current(name, config)
    if check_version and (current.version if current else None) != expected_version:
        raise definitions.DefinitionConflict(
            f"source {name!r} changed since it was opened (now version "
            f"{current.version if current else 'none'}); reload it and apply the change again"
        )
    if current is not None and current.definition == canonical:
        return SaveResult(name, current.version, changed=False)
    version = definitions.definition_put(
        name,
        canonical,
        change=change if current is not None else "created",
        actor=actor,
        expected_version=current.version if current else None,
        config=config,
    )
    return SaveResult(name, version, changed=True)


def definition_set_enabled(
    name: str, enabled: bool, *, actor: str, config: PipelineConfig
) -> SaveResult:
    """Enable or pause a declared source (a new version, so the history shows who and when)."""
    current = _require(name, config)
    changed = dict(current.definition) | {"enabled": enabled}
    return definition_save(
        changed, actor=actor, config=config, change="enabled" if enabled else "paused"
    )


def definition_remove(name: str, *, actor: str, config: PipelineConfig) -> int:
    """Delete a declared source: it stops being fetched; history, raw and curated data stay."""
    current = _require(name, config)
    definitions.definition_delete(
        name, actor=actor, expected_version=current.version, config=config
    )
    return current.version


def definitions_export(*, config: PipelineConfig) -> dict[str, list[dict[str, Any]]]:
    """Every current definition, as ``definitions_import`` reads it back."""
    found = sorted(definitions.definitions_current(config=config), key=lambda d: d.name)
    return {EXPORT_KEY: [d.definition for d in found]}


def definitions_import(
    text: str, *, actor: str, config: PipelineConfig, dry_run: bool = False
) -> ImportReport:
    """Validate every definition in ``text``, then store those that differ; all or nothing.

    Raises DefinitionInvalid listing every error of every definition (paths prefixed with
    the definition's position) and writes nothing when there is one. ``dry_run``: the
    same report, nothing written.
    """
    entries = _entries(text)
    errors: list[FieldError] = []
    parsed: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    for index, entry in enumerate(entries):
        try:
            canonical = definition_dict(definition_parse(entry))
        except DefinitionInvalid as exc:
            errors += [FieldError(f"[{index}].{e.path}", e.message) for e in exc.errors]
            continue
        name = canonical["name"]
        stored = json.dumps(canonical, separators=(",", ":"), ensure_ascii=False).encode()
        if len(stored) > MAX_DEFINITION_BYTES:
            limit = f"{MAX_DEFINITION_BYTES:,} bytes"
            errors.append(FieldError(f"[{index}].definition", f"is over {limit} with defaults"))
        if name in seen:
            errors.append(
                FieldError(f"[{index}].name", f"{name!r} is also definition [{seen[name]}]")
            )
        seen[name] = index
        parsed.append(canonical)
    if errors:
        raise DefinitionInvalid(tuple(errors))
    report = ImportReport()
    current = {d.name: d for d in definitions.definitions_current(config=config)}
    for canonical in parsed:
        name = canonical["name"]
        before = current.get(name)
        if before is not None and before.definition == canonical:
            report.unchanged.append(name)
            continue
        (report.updated if before else report.created).append(name)
        if dry_run:
            continue
        definitions.definition_put(
            name,
            canonical,
            change="imported",
            actor=actor,
            expected_version=before.version if before else None,
            config=config,
        )
    return report


def definition_test(
    data: Any, *, config: PipelineConfig, type_: str | None = None
) -> list[ResourceTest]:
    """Fetch each resource's first page live (bounded) and curate it; nothing is stored.

    The definition is validated first (DefinitionInvalid). A resource that cannot be
    fetched says why; the others are still tested.
    """
    source = DeclaredSource(definition_parse(data), 0)
    chosen = [t for t in source.types if type_ is None or t == type_]
    if not chosen:
        raise PipelineError(f"source {source.name!r} has no resource {type_!r}")
    results = []
    for name in chosen:
        try:
            results.append(ResourceTest(name, test_source(source, name, config=config), None))
        except PipelineError as exc:
            results.append(ResourceTest(name, None, str(exc)))
        except Exception as exc:
            results.append(ResourceTest(name, None, failure_reason(exc)))
    return results


def definition_current(name: str, *, config: PipelineConfig) -> StoredDefinition | None:
    return _current(name, config)


def _current(name: str, config: PipelineConfig) -> StoredDefinition | None:
    return definitions.definition_get(name, config=config)


def _require(name: str, config: PipelineConfig) -> StoredDefinition:
    current = _current(name, config)
    if current is None:
        raise PipelineError(f"no declared source is called {name!r}")
    return current


def _entries(text: str) -> list[Any]:
    if len(text.encode()) > MAX_DEFINITION_BYTES * 100:
        raise DefinitionInvalid((FieldError("file", "is larger than 3.2 MB"),))
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise DefinitionInvalid((FieldError("file", f"is not JSON: {exc}"),)) from None
    except RecursionError:
        raise DefinitionInvalid((FieldError("file", "is nested too deeply"),)) from None
    if isinstance(data, dict) and set(data) == {EXPORT_KEY}:
        data = data[EXPORT_KEY]
    if isinstance(data, dict):
        return [data]
    if isinstance(data, list) and data:
        return data
    raise DefinitionInvalid(
        (FieldError("file", 'holds no definition: give an object, a list, or {"sources": [...]}'),)
    )
