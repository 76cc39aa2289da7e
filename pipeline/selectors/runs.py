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


def _check(feed: FeedOutcome, processed: dict[str, Any] | None) -> FeedCheck:
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
    if processed is None:
        check.state, check.note = "pending", "sent, not processed yet"
        return check
    check.processed = {k: int(processed.get(k, 0)) for k in ("items", *CLASSES)}
    accounted = sum(check.processed[k] for k in CLASSES)
    if check.processed["items"] != feed.item_count or accounted != feed.item_count:
        check.state = "mismatch"
        items = check.processed["items"]
        check.note = f"fetched {feed.item_count}, processed {items}, accounted {accounted}"
    return check


def run_check(run: RunRecord, *, config: PipelineConfig) -> RunCheck:
    """Follow one run's feeds through its processed entries in the ledger."""
    entries = [
        i for i in ledger.run_items(run.run_id, config=config) if i.get("kind") == "processed"
    ]
    processed = {(e["source"], e["type"]): e for e in entries}
    return RunCheck(run, [_check(f, processed.get((f.source, f.type))) for f in run.feeds])


def runs_check(*, limit: int = 20, config: PipelineConfig) -> list[RunCheck]:
    """The most recent runs, each followed through the pipeline."""
    cfg = config
    return [run_check(run, config=cfg) for run in ledger.run_list(limit=limit, config=cfg)]
