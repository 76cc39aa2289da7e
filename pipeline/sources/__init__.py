"""The source registry: every source module, and the (source, type) feeds they offer."""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.errors import PipelineError
from pipeline.sources.base import Source
from pipeline.sources.jsonplaceholder import JsonPlaceholder
from pipeline.sources.randomuser import RandomUser

SOURCES: dict[str, Source] = {s.name: s for s in (JsonPlaceholder(), RandomUser())}


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
        known = ", ".join(sorted(SOURCES))
        raise PipelineError(f"unknown source {name!r} (known: {known})") from None


def feeds(names: list[str] | tuple[str, ...] | None = None) -> list[Feed]:
    """The feeds of the named sources (all sources when ``names`` is None)."""
    chosen = [get_source(n) for n in (names if names is not None else SOURCES)]
    return [Feed(s.name, t) for s in chosen for t in s.types]


def is_known_feed(source: str, type_: str) -> bool:
    return source in SOURCES and type_ in SOURCES[source].types
