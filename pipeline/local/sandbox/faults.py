"""Switchable misbehaviours for the sandbox: ``Fault`` and the thread-safe ``FaultRegistry``.

A fault matches requests by path prefix and is consumed one use per matching request;
the server (``server.py``) decides what each kind does to the response.
"""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass
from typing import Any, Literal, get_args

DEFAULT_ERROR = (
    "Uh oh, something has gone wrong. Please tweet us @randomapi about the issue. Thank you."
)

FaultKind = Literal["latency", "status", "malformed", "error_body", "reset"]
FAULT_KINDS: tuple[str, ...] = get_args(FaultKind)


@dataclass
class Fault:
    """One switchable misbehaviour applied to requests whose path starts with ``path_prefix``."""

    path_prefix: str = ""
    kind: FaultKind = "status"
    status: int = 500
    retry_after: str | None = None
    delay: float = 0.0
    times: int | None = 1
    error: str = DEFAULT_ERROR

    def __post_init__(self) -> None:
        # Validate here so a bad POST to /_sandbox/faults becomes a 400, not a broken server.
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"kind must be one of {', '.join(FAULT_KINDS)}, got {self.kind!r}")
        if not 100 <= int(self.status) <= 599:
            raise ValueError(f"status must be an HTTP status code, got {self.status!r}")
        if float(self.delay) < 0:
            raise ValueError("delay must be >= 0")
        if self.times is not None and int(self.times) < 1:
            raise ValueError("times must be >= 1 or null (until cleared)")
        if self.retry_after is not None:
            self.retry_after = str(self.retry_after)


@dataclass
class _ActiveFault:
    fault: Fault
    remaining: int | None


class FaultRegistry:
    """Thread-safe set of active faults; each matching request consumes one use."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._active: list[_ActiveFault] = []
        self._hits = 0

    def add(self, fault: Fault) -> Fault:
        """Activate ``fault``; faults added earlier win when several match."""
        with self._lock:
            self._active.append(_ActiveFault(fault, fault.times))
        return fault

    def clear(self) -> int:
        """Deactivate all faults and reset the hit count; returns how many were active."""
        with self._lock:
            count = len(self._active)
            self._active.clear()
            self._hits = 0
        return count

    @property
    def hits(self) -> int:
        """How many requests have been faulted since the last clear."""
        with self._lock:
            return self._hits

    def active(self) -> list[dict[str, Any]]:
        """The active faults as JSON-ready dicts, with their remaining uses."""
        with self._lock:
            return [{**asdict(a.fault), "remaining": a.remaining} for a in self._active]

    def take(self, path: str) -> Fault | None:
        """The first fault matching ``path``, consuming one of its uses."""
        with self._lock:
            for entry in self._active:
                if path.startswith(entry.fault.path_prefix):
                    self._consume(entry)
                    return entry.fault
        return None

    def _consume(self, entry: _ActiveFault) -> None:
        self._hits += 1
        if entry.remaining is None:
            return
        entry.remaining -= 1
        if entry.remaining <= 0:
            self._active.remove(entry)
