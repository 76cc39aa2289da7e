"""The registry's declared sources: the stored definitions, parsed, cached per process.

``pipeline.sources`` may not read AWS; ``declared_provider_install`` (called by
``pipeline.apps`` at startup) hands it two functions of this module instead. The
current sources cost one Query per ledger table every ``CACHE_SECONDS`` per process and
nothing in between, and are read again after any definition write this process makes;
a version (immutable) costs one GetItem per process, none when it is the current one.

What may never happen: a page failing because of a declared source. A stored
definition that no longer parses (a built-in took its name, the format moved on) is
skipped with a warning; an unreadable table leaves the last sources read (none after
a cold start, so the built-ins only) and a warning at most once a minute.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from pipeline.core.config import PipelineConfig
from pipeline.core.errors import AWS_ERRORS, PipelineError, error_code
from pipeline.sources import builtin_names, declared_provider_set
from pipeline.sources.declared.source import DeclaredSource
from pipeline.sources.declared.spec import parse_definition
from pipeline.stores.definitions import (
    StoredDefinition,
    definition_version_get,
    definitions_current,
    writes_made,
)

log = logging.getLogger(__name__)

CACHE_SECONDS: Final = 15.0
UNREACHABLE_WARN_SECONDS: Final = 60.0


# Whose definitions: one ledger table (what else a config says changes nothing read).
_Table = tuple[str, str | None, str]


def _table(config: PipelineConfig) -> _Table:
    return (config.aws_region, config.aws_endpoint_url, config.ledger_table)


@dataclass(frozen=True)
class _Snapshot:
    read_at: float  # time.monotonic()
    writes: int  # writes_made() when read
    sources: dict[str, DeclaredSource]


class _Cache:
    """What this process read: the current sources per table, and versions (immutable)."""

    MAX_TABLES = 8
    MAX_VERSIONS = 256

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.current: dict[_Table, _Snapshot] = {}
        self.versions: OrderedDict[tuple[_Table, str, int], DeclaredSource] = OrderedDict()
        self.warned_at = -math.inf

    def fresh(self, config: PipelineConfig, moment: float) -> _Snapshot | None:
        found = self.current.get(_table(config))
        if found is None or found.writes != writes_made():
            return None
        return found if 0 <= moment - found.read_at < CACHE_SECONDS else None


_CACHE = _Cache()


def declared_sources(
    *, config: PipelineConfig, now: float | None = None
) -> dict[str, DeclaredSource]:
    """The declared sources that parse, by name; read at most every CACHE_SECONDS."""
    moment = time.monotonic() if now is None else now
    fresh = _CACHE.fresh(config, moment)
    if fresh is not None:
        return fresh.sources
    with _CACHE.lock:
        fresh = _CACHE.fresh(config, moment)
        if fresh is not None:
            return fresh.sources  # another thread read them meanwhile
        writes = writes_made()
        sources = _read(config, moment, _CACHE.current.get(_table(config)))
        if len(_CACHE.current) >= _CACHE.MAX_TABLES:
            _CACHE.current.clear()
        _CACHE.current[_table(config)] = _Snapshot(moment, writes, sources)
        return sources


def declared_source_at(name: str, version: int, *, config: PipelineConfig) -> DeclaredSource | None:
    """``name`` as defined at ``version`` (None: never written, or it does not parse).

    AWS errors propagate: a worker curating with a version must retry, never guess.
    """
    cached = _CACHE.current.get(_table(config))
    current = cached.sources.get(name) if cached is not None else None
    if current is not None and current.version == version:
        return current
    key = (_table(config), name, version)
    if key in _CACHE.versions:
        return _CACHE.versions[key]
    stored = definition_version_get(name, version, config=config)
    source = _source_of(stored) if stored is not None else None
    if source is not None:
        with _CACHE.lock:
            _CACHE.versions[key] = source
            while len(_CACHE.versions) > _CACHE.MAX_VERSIONS:
                _CACHE.versions.popitem(last=False)
    return source


def declared_provider_install(config: Callable[[], PipelineConfig]) -> None:
    """Give the registry the declared sources, read with the config ``config()`` returns."""
    declared_provider_set(
        current=lambda: declared_sources(config=config()),
        at_version=lambda name, version: declared_source_at(name, version, config=config()),
    )


def definitions_cache_clear() -> None:
    """Forget every definition read (tests: each starts from the table)."""
    with _CACHE.lock:
        _CACHE.current.clear()
        _CACHE.versions.clear()
        _CACHE.warned_at = -math.inf


def _read(
    config: PipelineConfig, moment: float, last: _Snapshot | None
) -> dict[str, DeclaredSource]:
    try:
        stored = definitions_current(config=config)
    except AWS_ERRORS as exc:
        if moment - _CACHE.warned_at >= UNREACHABLE_WARN_SECONDS:
            _CACHE.warned_at = moment
            log.warning(
                "declared sources unreadable (%s): serving %s",
                error_code(exc) or type(exc).__name__,
                "the last ones read" if last and last.sources else "the built-in sources only",
            )
        return last.sources if last is not None else {}
    found = (_source_of(s) for s in stored)
    return {s.name: s for s in found if s is not None}


def _source_of(stored: StoredDefinition) -> DeclaredSource | None:
    """The stored definition as a source; None (and a warning) when it no longer parses."""
    try:
        definition = parse_definition(stored.definition, reserved=builtin_names())
    except PipelineError as exc:
        log.warning(
            "declared source %r version %d no longer parses, skipped: %s",
            stored.name,
            stored.version,
            exc,
        )
        return None
    if definition.name != stored.name:
        log.warning("declared source %r holds a definition named otherwise, skipped", stored.name)
        return None
    return DeclaredSource(definition, stored.version)
