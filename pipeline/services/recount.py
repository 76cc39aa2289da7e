"""Recount: rebuild the analytics counters from the curated table, or reset them for a replay.

A recount replays, record by record, the same counter rules the upsert applies
(``pipeline.stores.counters.Delta``): an insert at the record's first capture, then
one update per later version. Update counts per day cannot be rebuilt (only the latest
version of a record is kept), so ``upd#`` counters are checked and kept as stored.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from pipeline.core.config import PipelineConfig
from pipeline.core.constants import AGG_TOTAL_SK, LEDGER_PK, LEDGER_SK
from pipeline.stores import counters
from pipeline.stores.curated import curated_census

# Only these MONTH# counters can be rebuilt from the table.
_REBUILDABLE_MONTH_PREFIXES = ("d#", "ins#")
_KEPT_MONTH_PREFIX = "upd#"


@dataclass
class RecountReport:
    """What a recount found: records counted and each counter that had drifted."""

    records: int
    drift: list[str]


def expected_counters(census: Iterable[dict[str, Any]]) -> tuple[counters.Delta, int]:
    """The counters a table of these records implies, by the upsert's own rules; and how many."""
    delta, records = counters.Delta(), 0
    for records, record in enumerate(census, start=1):  # noqa: B007 (the count is returned)
        first_seen, captured = record["first_seen_at"], record["captured_at"]
        delta.insert(source=record["source"], type_=record["type"], captured_at=first_seen)
        previous = first_seen
        for _ in range(int(record["version"]) - 1):
            delta.update(old_captured_at=previous, captured_at=captured)
            previous = captured
    return delta, records


def recount(*, config: PipelineConfig, fix: bool = True) -> RecountReport:
    """Compare the counters with the curated table (a full Scan) and, with ``fix``, rewrite them."""
    delta, records = expected_counters(curated_census(config=config))
    expected = delta.items
    stored = counters.counter_items_list(config=config)
    drift: list[str] = []
    for sk in sorted(set(expected) | set(stored)):
        prefixes = None if sk == AGG_TOTAL_SK else _REBUILDABLE_MONTH_PREFIXES
        drift += _diff(sk, expected.get(sk, Counter()), stored.get(sk, {}), prefixes=prefixes)
    if fix and drift:
        _rewrite(expected, stored, config)
    return RecountReport(records=records, drift=drift)


def _diff(
    sk: str, expected: Counter[str], stored: dict[str, Any], *, prefixes: tuple[str, ...] | None
) -> list[str]:
    def counted(name: str) -> bool:
        if name in (LEDGER_PK, LEDGER_SK):
            return False
        return prefixes is None or name.startswith(prefixes)

    names = sorted({n for n in expected if counted(n)} | {n for n in stored if counted(n)})
    return [
        f"{sk} {name}: stored {int(stored.get(name, 0))}, table says {expected.get(name, 0)}"
        for name in names
        if int(stored.get(name, 0)) != expected.get(name, 0)
    ]


def _rewrite(
    expected: dict[str, Counter[str]], stored: dict[str, dict[str, Any]], config: PipelineConfig
) -> None:
    for sk in sorted(set(expected) | set(stored)):
        wanted = dict(expected.get(sk, Counter()))
        if sk != AGG_TOTAL_SK:
            # Drop the replayed upd# guesses; keep what processing really counted.
            wanted = {k: v for k, v in wanted.items() if not k.startswith(_KEPT_MONTH_PREFIX)}
            kept = stored.get(sk, {})
            wanted |= {k: int(v) for k, v in kept.items() if k.startswith(_KEPT_MONTH_PREFIX)}
        counters.counter_item_put(sk, wanted, config=config)


def counters_reset(*, config: PipelineConfig) -> int:
    """Delete every record counter, before replaying onto an emptied table.

    Replay then rebuilds them exactly, per-day update counts included, which a recount
    cannot. The feed-health item is not a counter and stays. Returns how many were deleted.
    """
    doomed = list(counters.counter_items_list(config=config))
    for sk in doomed:
        counters.counter_item_delete(sk, config=config)
    return len(doomed)
