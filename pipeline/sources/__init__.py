"""The source registry: the built-in source modules, the declared sources, and their feeds.

Sources are pure: they say how to fetch a type and how to curate one item, and do no
I/O. They may import ``pipeline.core`` only. A module in this package that defines
``SOURCE`` (an object following ``base.Source``) is registered when the package is
imported, so adding a built-in source is one new module here (plus its sandbox fake
and tests).

Declared sources (``pipeline.sources.declared``: a definition an operator stored, no
code) live in the ledger table, which this package may not read: a *provider*
installed at startup (``pipeline.apps``, from ``pipeline.stores.definitions``) supplies
them. ``SOURCES`` is one live mapping of both: the built-ins first, in name order, then
the declared ones. A built-in name is answered without asking the provider, and a
declared source can never shadow a built-in one. Without a provider (a bare import,
a script) ``SOURCES`` holds the built-ins only.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import (
    Callable,
    ItemsView,
    Iterable,
    Iterator,
    KeysView,
    Mapping,
    MutableMapping,
    ValuesView,
)
from dataclasses import dataclass

from pipeline.core.config import PipelineConfig
from pipeline.core.constants import RAW_META_DEFINITION_VERSION
from pipeline.core.errors import PipelineError
from pipeline.sources.base import Source

# Modules of this package that are not built-in sources.
_NOT_SOURCES = frozenset({"base", "declared"})


def _discover() -> dict[str, Source]:
    found: dict[str, Source] = {}
    for module in pkgutil.iter_modules(__path__):
        if module.name in _NOT_SOURCES:
            continue
        source = getattr(importlib.import_module(f"{__name__}.{module.name}"), "SOURCE", None)
        if source is not None:
            found[source.name] = source
    return dict(sorted(found.items()))


@dataclass(frozen=True)
class DeclaredProvider:
    """Where the declared sources come from: the current ones, and one at a given version.

    ``current`` returns the declared sources by name (never a built-in name) and must be
    cheap (it is called on every lookup of a name that is not built in); ``at_version``
    returns None when the source never had that version.
    """

    current: Callable[[], Mapping[str, Source]]
    at_version: Callable[[str, int], Source | None]


class Registry(MutableMapping[str, Source]):
    """Every source by name: the built-ins, then what the declared provider supplies.

    Writes change the built-ins only (tests register a source as discovery would).
    """

    def __init__(self, builtins: dict[str, Source]) -> None:
        self._builtins = builtins
        self.provider: DeclaredProvider | None = None

    def declared(self) -> Mapping[str, Source]:
        """The declared sources now (empty without a provider)."""
        if self.provider is None:
            return {}
        return self.provider.current()

    def builtin_names(self) -> frozenset[str]:
        return frozenset(self._builtins)

    def snapshot(self) -> dict[str, Source]:
        """Every source now, in order: one call to the provider, so one consistent view."""
        declared = self.declared()
        extra = {n: declared[n] for n in sorted(declared) if n not in self._builtins}
        return self._builtins | extra

    # One snapshot each, so a refresh of the declared ones mid-loop cannot tear them.
    def keys(self) -> KeysView[str]:
        return self.snapshot().keys()

    def values(self) -> ValuesView[Source]:
        return self.snapshot().values()

    def items(self) -> ItemsView[str, Source]:
        return self.snapshot().items()

    def __getitem__(self, name: str) -> Source:
        found = self._builtins.get(name)
        if found is not None:
            return found
        return self.declared()[name]

    def __contains__(self, name: object) -> bool:
        return name in self._builtins or name in self.declared()

    def __iter__(self) -> Iterator[str]:
        return iter(self.snapshot())

    def __len__(self) -> int:
        return len(self.snapshot())

    def __setitem__(self, name: str, source: Source) -> None:
        self._builtins[name] = source

    def __delitem__(self, name: str) -> None:
        del self._builtins[name]

    def __repr__(self) -> str:
        return f"Registry({list(self)!r})"


SOURCES: Registry = Registry(_discover())


def declared_provider_set(
    current: Callable[[], Mapping[str, Source]],
    at_version: Callable[[str, int], Source | None],
) -> None:
    """Install where declared sources come from (``pipeline.apps`` does, at startup)."""
    SOURCES.provider = DeclaredProvider(current=current, at_version=at_version)


def declared_provider() -> DeclaredProvider | None:
    """The provider installed, if any (tests save and restore it)."""
    return SOURCES.provider


def declared_provider_clear() -> None:
    """No declared sources from now on: the built-ins only."""
    SOURCES.provider = None


def builtin_names() -> frozenset[str]:
    """The names of the built-in (code) sources: no declared source may take one."""
    return SOURCES.builtin_names()


def is_declared(name: str) -> bool:
    """Whether ``name`` is a declared source (a stored definition, not a module)."""
    return name not in SOURCES.builtin_names() and name in SOURCES.declared()


@dataclass(frozen=True, order=True)
class Feed:
    """One (source, type) pair: one request, one raw object, one message per run."""

    source: str
    type: str


def get_source(name: str, version: int | None = None) -> Source:
    """Return the source called ``name`` or raise a PipelineError naming the known ones.

    ``version`` names a declared source's definition version (what fetched a raw
    object), current or not, deleted since or not; built-in sources have no versions,
    and ignore it.
    """
    if version is not None and name not in SOURCES.builtin_names():
        return _declared_at(name, version)
    try:
        return SOURCES[name]
    except KeyError:
        known = ", ".join(SOURCES)
        raise PipelineError(f"unknown source {name!r} (known: {known})") from None


def _declared_at(name: str, version: int) -> Source:
    provider = SOURCES.provider
    found = provider.at_version(name, version) if provider is not None else None
    if found is None:
        raise PipelineError(f"unknown source {name!r} at definition version {version}")
    return found


def feeds(names: Iterable[str] | None = None) -> list[Feed]:
    """The feeds of the named sources (all sources when ``names`` is None)."""
    chosen = [get_source(n) for n in (names if names is not None else SOURCES)]
    return [Feed(s.name, t) for s in chosen for t in s.types]


def all_feeds() -> list[Feed]:
    """Every feed of every registered source."""
    return feeds(None)


def enabled_sources(config: PipelineConfig) -> list[str]:
    """The sources runs ingest: the built-ins TWL_ENABLED_SOURCES names (default all), then
    every declared source its definition enables (``"enabled": true``; paused ones are not).
    """
    found = SOURCES.snapshot()
    codes = builtin_names()
    built_in = [n for n in found if n in codes]
    if config.enabled_sources is not None:
        built_in = [n for n in config.enabled_sources if n in codes]
    declared = [n for n, s in found.items() if n not in codes and getattr(s, "enabled", False)]
    return built_in + declared


def is_known_feed(source: str, type_: str) -> bool:
    found = SOURCES.get(source)
    return found is not None and type_ in found.types


def builtin_types() -> list[str]:
    """Every type name a built-in source offers, sorted (read at import: asks no provider)."""
    return sorted({t for name in builtin_names() for t in SOURCES[name].types})


def known_types() -> list[str]:
    """Every type name any source offers, sorted."""
    return sorted({t for s in SOURCES.values() for t in s.types})


def object_source(name: str, metadata: Mapping[str, str]) -> Source:
    """The source that curates a raw object: for a declared one, the definition version that
    fetched it (the object's ``definition-version`` metadata), so a later edit never changes
    what replay rebuilds or what its raw item shows. PipelineError when it is not known.
    """
    version = metadata.get(RAW_META_DEFINITION_VERSION, "")
    if not version.isdigit():
        return get_source(name)
    return get_source(name, version=int(version))
