"""The source registry: every built-in source module, and the (source, type) feeds they offer.

Sources are pure: they say how to fetch a type and how to curate one item, and do no
I/O. They may import ``pipeline.core`` only. A module in this package that defines
``SOURCE`` (an object following ``base.Source``) is registered when the package is
imported, so adding a source is one new module here (plus its sandbox fake and tests).
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterable
from dataclasses import dataclass

from pipeline.core.config import PipelineConfig
from pipeline.core.errors import PipelineError
from pipeline.sources.base import Source


def _discover() -> dict[str, Source]:
    found: dict[str, Source] = {}
    for module in pkgutil.iter_modules(__path__):
        if module.name == "base":
            continue
        source = getattr(importlib.import_module(f"{__name__}.{module.name}"), "SOURCE", None)
        if source is not None:
            found[source.name] = source
    return dict(sorted(found.items()))


SOURCES: dict[str, Source] = _discover()


@dataclass(frozen=True, order=True)
class Feed:
    """One (source, type) pair: one request, one raw object, one message per run."""

    source: str
    type: str


def get_source(name: str) -> Source:
    """Return the source called ``name`` or raise a PipelineError naming the known ones."""
    try:
        return SOURCES[name]
    except KeyError:
        known = ", ".join(SOURCES)
        raise PipelineError(f"unknown source {name!r} (known: {known})") from None


def feeds(names: Iterable[str] | None = None) -> list[Feed]:
    """The feeds of the named sources (all sources when ``names`` is None)."""
    chosen = [get_source(n) for n in (names if names is not None else SOURCES)]
    return [Feed(s.name, t) for s in chosen for t in s.types]


def all_feeds() -> list[Feed]:
    """Every feed of every registered source."""
    return feeds(None)


def enabled_sources(config: PipelineConfig) -> list[str]:
    """The sources the schedule ingests: the configured ones, else every registered one."""
    if config.enabled_sources is None:
        return list(SOURCES)
    return list(config.enabled_sources)


def is_known_feed(source: str, type_: str) -> bool:
    return source in SOURCES and type_ in SOURCES[source].types


def known_types() -> list[str]:
    """Every type name any source offers, sorted."""
    return sorted({t for s in SOURCES.values() for t in s.types})
