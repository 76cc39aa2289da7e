"""The DynamoDB call meter of bench/api_reads.py, and what one measured call yields.

``DynamoMeter`` counts requests and items read through botocore's event hooks;
``measure`` repeats one call under a ``Timing`` and checks the counts never vary;
``Row`` and ``SizeReport`` carry the results to the report (reads_report.py).
"""

from __future__ import annotations

import statistics
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


class DynamoMeter:
    """Counts DynamoDB requests and items read, as tests/api/conftest.py's DynamoCalls does.

    Items read are Items + Responses + Item; for a Scan or Query the larger of Items and
    ScannedCount, since a filtered Scan reads (and bills) every item it examines.
    """

    def __init__(self, client: Any) -> None:
        self.operations: Counter[str] = Counter()
        self.items_read = 0
        self.first_scan_page: int | None = None
        client.meta.events.register("before-call.dynamodb.*", self._before)
        client.meta.events.register("after-call.dynamodb.*", self._after)

    def reset(self) -> None:
        self.operations = Counter()
        self.items_read = 0

    @property
    def requests(self) -> int:
        return sum(self.operations.values())

    def _before(self, model: Any, **kwargs: Any) -> None:
        self.operations[model.name] += 1

    def _after(self, parsed: dict[str, Any], model: Any, **kwargs: Any) -> None:
        self.items_read += max(len(parsed.get("Items", [])), parsed.get("ScannedCount", 0))
        self.items_read += sum(len(v) for v in parsed.get("Responses", {}).values())
        self.items_read += 1 if "Item" in parsed else 0
        if model.name == "Scan" and self.first_scan_page is None:
            self.first_scan_page = parsed.get("ScannedCount", 0)


@dataclass(frozen=True)
class Timing:
    """How often to repeat each measured call."""

    runs: int
    budget_seconds: float  # stop repeating once a call has taken this long in total


@dataclass(frozen=True)
class Row:
    """One line of the result table."""

    size: int
    operation: str
    approach: str
    requests: int
    items_read: int
    median_ms: float
    runs: int


@dataclass
class SizeReport:
    """Everything measured at one table size."""

    size: int
    populate_seconds: float
    rows: list[Row]
    drift: int | None
    first_scan_page: int | None


def measure(
    meter: DynamoMeter, call: Callable[[], object], timing: Timing
) -> tuple[int, int, float, int]:
    """Requests and items read by one call (the same every run), median ms, and runs made."""
    seen: set[tuple[int, int]] = set()
    times: list[float] = []
    while len(times) < timing.runs and sum(times) < timing.budget_seconds * 1000:
        meter.reset()
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
        seen.add((meter.requests, meter.items_read))
    if len(seen) != 1:
        raise RuntimeError(f"reads differ between runs: {sorted(seen)}")
    requests, items = seen.pop()
    return requests, items, statistics.median(times), len(times)
