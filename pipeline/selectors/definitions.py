"""Declared sources' stored definitions as the console and ``manage.py sources`` read them.

Reads only: the current definition of each declared source, and one source's versions
(newest first, bounded). A stored definition is shown as it was written (its secret is
a reference such as ``ssm:/…``, never a value), so these pages can show it whole.
"""

from __future__ import annotations

from pipeline.core.config import PipelineConfig
from pipeline.stores import definitions
from pipeline.stores.definitions import HISTORY_LIMIT, StoredDefinition


def definitions_stored(*, config: PipelineConfig) -> list[StoredDefinition]:
    """Every declared source's current definition, by name (parsing or not)."""
    return sorted(definitions.definitions_current(config=config), key=lambda d: d.name)


def definition_stored(name: str, *, config: PipelineConfig) -> StoredDefinition | None:
    """``name``'s current definition (None: no declared source of that name)."""
    return definitions.definition_get(name, config=config)


def definition_versions(name: str, *, config: PipelineConfig) -> list[StoredDefinition]:
    """``name``'s versions, newest first (the last ``HISTORY_LIMIT``), deleted ones too."""
    return definitions.definition_history(name, config=config, limit=HISTORY_LIMIT)
