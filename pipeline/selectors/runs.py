"""Run reconciliation: for each run and feed, fetch → S3 → SQS → processed must add up.

A run is complete only when every message it sent has been processed; it reconciles
when each processed raw object accounts for every fetched item exactly once
(inserted + updated + unchanged + stale + rejected = items fetched).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pipeline.core.config import PipelineConfig
from pipeline.stores import ledger
from pipeline.stores.ledger import FeedOutcome, RunRecord

CLASSES = ("inserted", "updated", "unchanged", "stale", "rejected")


@dataclass
class FeedCheck:
    """One feed of one run, followed through the pipeline."""

    source: str
    type: str
    outcome: str
    fetched: int
    stored: bool
    sent: bool
    processed: dict[str, int] | None
    state: str  # ok | pending | mismatch | failed
    note: str = ""


@dataclass
class RunCheck:
    """One run and its feeds; complete when nothing is pending, ok when nothing mismatches."""

    run: RunRecord
    feeds: list[FeedCheck] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return all(f.state != "pending" for f in self.feeds)

    @property
    def reconciles(self) -> bool:
        return all(f.state != "mismatch" for f in self.feeds)


def _check(feed: FeedOutcome, entries: list[dict[str, Any]]) -> FeedCheck:
    """A declared feed has one processed entry per stored page; a built-in feed has one."""
    check = FeedCheck(
        feed.source,
        feed.type,
        feed.outcome,
        feed.item_count,
        bool(feed.s3_key),
        bool(feed.message_id),
        None,
        "ok",
    )
    if feed.outcome == "failed":
        check.state = "pending" if check.stored and not check.sent else "failed"
        check.note = feed.error or ""
        return check
    if feed.outcome == "unchanged":
        check.note = "unchanged payload: nothing to process"
        return check
    objects = feed.pages_stored if feed.stored_items is not None else 1
    if len(entries) < objects:
        check.state = "pending"
        check.note = (
            f"sent, {len(entries)} of {objects} pages processed"
            if objects > 1
            else "sent, not processed yet"
        )
        return check
    check.processed = {k: sum(int(e.get(k, 0)) for e in entries) for k in ("items", *CLASSES)}
    accounted = sum(check.processed[k] for k in CLASSES)
    expected = feed.item_count if feed.stored_items is None else feed.stored_items
    if check.processed["items"] != expected or accounted != expected:
        check.state = "mismatch"
        items = check.processed["items"]
        check.note = f"fetched {expected}, processed {items}, accounted {accounted}"
    return check


def run_check(run: RunRecord, *, config: PipelineConfig) -> RunCheck:
    """Follow one run's feeds through its processed entries in the ledger."""
    entries = [
        i for i in ledger.run_items(run.run_id, config=config) if i.get("kind") == "processed"
    ]
    processed: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for entry in entries:
        processed.setdefault((entry["source"], entry["type"]), []).append(entry)
    return RunCheck(run, [_check(f, processed.get((f.source, f.type), [])) for f in run.feeds])


def runs_check(*, limit: int = 20, config: PipelineConfig) -> list[RunCheck]:
    """The most recent runs, each followed through the pipeline."""
    cfg = config
    return [run_check(run, config=cfg) for run in ledger.run_list(limit=limit, config=cfg)]
